"""Generate reference fixtures for the Overcooked observation encodings (run in a SEPARATE venv).

The reference is upstream ``overcooked-ai==1.1.0`` (module ``overcooked_ai_py``), which needs
numpy<2 and scipy, so it cannot live in the project venv. Create its own venv once (git-ignored, beside .venv)::

    make ref-venv
    # = python3 -m venv .venv-ocai && .venv-ocai/bin/pip install "overcooked-ai==1.1.0" "numpy<2" scipy
    # (resolved here to numpy 1.26.4, scipy 1.17.1, gym 0.26.2; nothing else needed pinning)

then, from the repo root::

    .venv-ocai/bin/python tools/make_overcooked_fixtures.py [--out tests/fixtures/overcooked] [--states 240]

For each classic layout and each dynamics ("new": cooking starts when an empty-handed player
interacts with the pot, overcooked-ai 1.1.0's rule; "old": a pot starts cooking by itself once it
holds 3 ingredients and interacting does not start it, the ``old_dynamics=True`` rule of later
overcooked_ai releases, emulated by a subclass below) it plays episodes with a mix of goal-directed
scripted cooks (fetch onions, fill pots, start them, fetch dishes, pick up and deliver soups,
now and then park objects on counters - needed in forced_coordination) and random actions, plus
random start states with random held objects / pot contents (tomato soups included), and keeps a
few hundred diverse states. It writes per (layout, dynamics):

* ``<layout>__<dyn>.json.gz``: ``{"layout", "dynamics", "horizon", "num_pots", "states",
  "next_states"}``, states as ``OvercookedState.to_dict()``.
* ``<layout>__<dyn>.npz``: ``featurized`` (n, 2, 96) float32 = ``env.featurize_state_mdp`` (the env's
  default MediumLevelActionManager, NO_COUNTERS_PARAMS), ``featurized_counters`` (n, 2, 96) = the same
  featurization with a motion planner whose counter goals are all counters, ``lossless``
  (n, 2, W, H, 26) int8 = ``env.lossless_state_encoding_mdp`` with horizon 400; and one transition
  per state for an end-to-end check of dynamics + encoders: ``actions`` (n, 2) action indices (random,
  interacts over-sampled), the reference's rewards ``sparse`` / ``shaped`` (n, 2) and the encodings
  ``next_featurized`` / ``next_lossless`` of the next state (``next_states`` in the JSON).

and per layout ``<layout>__planner.npz``: ``default`` / ``all_counters`` (H*W*4, H*W) int32, the
reference motion planner's ``min_cost_to_feature`` from every floor (position, orientation) state
(index ``(y * W + x) * 4 + orientation``) to every single cell, -1 where there is none, for
``counter_goals=[]`` and for all counters as goals.

Objects in each saved state are put in row-major (y, x) order before encoding: overcooked_ai
breaks ties between equidistant counter objects by the order of ``state.objects``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
from collections import deque
from types import SimpleNamespace

import numpy as np

try:
    from overcooked_ai_py.mdp.actions import Action, Direction
    from overcooked_ai_py.mdp.overcooked_env import OvercookedEnv
    from overcooked_ai_py.mdp.overcooked_mdp import OvercookedGridworld, OvercookedState
    from overcooked_ai_py.planning.planners import MotionPlanner
except ImportError:  # pragma: no cover - explains how to get the reference
    sys.exit("overcooked_ai_py not importable: run this script with the reference venv, see the docstring")

LAYOUTS = [
    "cramped_room",
    "asymmetric_advantages",
    "coordination_ring",
    "forced_coordination",
    "counter_circuit_o_1order",
]
DYNAMICS = ["new", "old"]
HORIZON = 400
EPSILON = 0.15  # probability a scripted cook takes a random action
PARK_PROB = 0.04  # probability a cook decides to put its object on a counter
RANDOM_START_OBJ_PROB = 0.6
DIRS = Direction.ALL_DIRECTIONS
MOTIONS = DIRS + [Action.STAY]


class OldDynamicsGridworld(OvercookedGridworld):
    """1.1.0 gridworld with the old cooking rule: auto-start at 3 ingredients, no start by interact."""

    def resolve_interacts(self, new_state, joint_action, events_infos):
        joint_action = list(joint_action)
        for i, (player, action) in enumerate(zip(new_state.players, joint_action)):
            if action == Action.INTERACT and not player.has_object():
                facing = Action.move_in_direction(player.position, player.orientation)
                if self.get_terrain_type_at_pos(facing) == "P":
                    joint_action[i] = Action.STAY  # empty-handed pot interact has no other effect
        return super().resolve_interacts(new_state, joint_action, events_infos)

    def step_environment_effects(self, state):
        for obj in state.objects.values():
            if obj.name == "soup" and obj.is_idle and len(obj.ingredients) == 3:
                obj.begin_cooking()
        super().step_environment_effects(state)


def make_mdp(layout: str, dynamics: str) -> OvercookedGridworld:
    mdp = OvercookedGridworld.from_layout_name(layout)
    if dynamics == "old":
        mdp.__class__ = OldDynamicsGridworld
    return mdp


# ------------------------------------------------------------------------------------------------
# scripted cook
# ------------------------------------------------------------------------------------------------
class ScriptedCook:
    """Greedy cook: picks a target tile from what it holds and walks there by BFS (other cook = wall)."""

    def __init__(self, mdp: OvercookedGridworld, idx: int, rng: random.Random, dynamics: str):
        self.mdp, self.idx, self.rng, self.dynamics = mdp, idx, rng, dynamics
        self.floor = set(mdp.get_valid_player_positions())
        self.park = False

    def targets(self, state: OvercookedState) -> list:
        mdp, me = self.mdp, state.players[self.idx]
        pots = mdp.get_pot_states(state)
        empty_counters = mdp.get_empty_counter_locations(state)
        counter_objs = mdp.get_counter_objects_dict(state)
        if me.has_object() and (self.park or self.rng.random() < PARK_PROB):
            self.park = True
            return empty_counters
        held = me.get_object().name if me.has_object() else None
        if held in ("onion", "tomato"):
            ok = pots["empty"] + [p for k in ("1_items", "2_items") for p in pots[k]]
            return ok or empty_counters
        if held == "dish":
            return pots["ready"] or pots["cooking"] or empty_counters
        if held == "soup":
            return mdp.get_serving_locations()
        # empty hands
        ready_or_cooking = pots["ready"] + pots["cooking"]
        startable = [p for k in ("3_items", "2_items", "1_items") for p in pots[k]] if self.dynamics == "new" else []
        if startable and (pots["3_items"] or self.rng.random() < 0.1):
            return pots["3_items"] or startable
        other = state.players[1 - self.idx]
        other_dish = other.has_object() and other.get_object().name == "dish"
        if ready_or_cooking and not other_dish:
            return mdp.get_dish_dispenser_locations() + counter_objs["dish"]
        if counter_objs["soup"] and self.rng.random() < 0.5:
            return counter_objs["soup"]
        return mdp.get_onion_dispenser_locations() + counter_objs["onion"]

    def act(self, state: OvercookedState):
        if self.rng.random() < EPSILON:
            return self.rng.choice(Action.ALL_ACTIONS)
        me = state.players[self.idx]
        goals = {}
        for t in self.targets(state):
            for d in DIRS:
                cell = Action.move_in_direction(t, d)
                if cell in self.floor:
                    goals.setdefault(cell, []).append(Direction.OPPOSITE_DIRECTIONS[d])
        if not goals:
            return self.rng.choice(MOTIONS)
        if me.position in goals:
            faces = goals[me.position]
            if me.orientation in faces:
                if self.park and me.has_object():
                    self.park = False
                return Action.INTERACT
            return faces[0]
        step = self._first_step(me.position, set(goals), state.players[1 - self.idx].position)
        return step if step is not None else self.rng.choice(MOTIONS)

    def _first_step(self, start, goals, blocked):
        queue = deque([(start, None)])
        seen = {start}
        while queue:
            cell, first = queue.popleft()
            if cell in goals:
                return first
            dirs = list(DIRS)
            self.rng.shuffle(dirs)
            for d in dirs:
                nxt = Action.move_in_direction(cell, d)
                if nxt in self.floor and nxt not in seen and nxt != blocked:
                    seen.add(nxt)
                    queue.append((nxt, first if first is not None else d))
        return None


# ------------------------------------------------------------------------------------------------
# state collection
# ------------------------------------------------------------------------------------------------
def play(mdp, start: OvercookedState, steps: int, policy: str, rng: random.Random, dynamics: str) -> list:
    cooks = [ScriptedCook(mdp, i, rng, dynamics) for i in range(2)]
    state, out = start, [start]
    for _ in range(steps):
        if policy == "random":
            joint = tuple(rng.choice(Action.ALL_ACTIONS) for _ in range(2))
        else:
            joint = tuple(c.act(state) for c in cooks)
        state, _ = mdp.get_state_transition(state, joint)
        out.append(state)
    return out


def canonical(state: OvercookedState) -> dict:
    d = state.to_dict()
    d["objects"] = sorted(d["objects"], key=lambda o: (o["position"][1], o["position"][0]))
    return json.loads(json.dumps(d))  # tuples -> lists, exactly what the JSON file holds


def collect(mdp, dynamics: str, n_states: int, rng: random.Random) -> list[dict]:
    np.random.seed(rng.randrange(2**31))  # get_random_start_state_fn draws from np.random
    pool: list[OvercookedState] = []
    # scripted full episodes (pots cook, soups are delivered; late timesteps -> urgency layer)
    for _ in range(2):
        pool += play(mdp, mdp.get_standard_start_state(), HORIZON - 1, "scripted", rng, dynamics)
    # random play
    pool += play(mdp, mdp.get_standard_start_state(), 150, "random", rng, dynamics)
    # random starts with random held objects / pot contents, then some scripted steps
    start_fn = mdp.get_random_start_state_fn(random_start_pos=True, rnd_obj_prob_thresh=RANDOM_START_OBJ_PROB)
    for _ in range(12):
        pool += play(mdp, start_fn(), 40, "scripted", rng, dynamics)
    # unique states, then an even sample
    seen, unique = set(), []
    for s in pool:
        key = json.dumps(canonical(s), sort_keys=True)
        if key not in seen:
            seen.add(key)
            unique.append(s)
    picked = rng.sample(unique, min(n_states, len(unique)))
    return [canonical(s) for s in picked]


def encode(layout: str, states: list[dict], mdp) -> dict[str, np.ndarray]:
    env = OvercookedEnv.from_mdp(mdp, horizon=HORIZON, info_level=0)
    counters_mlam = SimpleNamespace(motion_planner=MotionPlanner(mdp, counter_goals=mdp.get_counter_locations()))
    feats, feats_c, lossless = [], [], []
    for d in states:
        s = OvercookedState.from_dict(d)
        feats.append(np.stack(env.featurize_state_mdp(s)))
        feats_c.append(np.stack(mdp.featurize_state(s, counters_mlam, num_pots=2)))
        lossless.append(np.stack(env.lossless_state_encoding_mdp(s)))
    lossless = np.stack(lossless)
    assert lossless.min() >= -128 and lossless.max() <= 127
    return {
        "featurized": np.stack(feats).astype(np.float32),
        "featurized_counters": np.stack(feats_c).astype(np.float32),
        "lossless": lossless.astype(np.int8),
    }


def transitions(mdp, states: list[dict], rng: random.Random) -> tuple[np.ndarray, list[dict], np.ndarray, np.ndarray]:
    """One random joint action per state (interacts over-sampled) and the reference's next state and
    rewards: (actions (n, 2) action indices, next state dicts, sparse (n, 2), shaped (n, 2))."""
    actions, nexts, sparse, shaped = [], [], [], []
    for d in states:
        joint = [rng.randrange(len(Action.ALL_ACTIONS)) for _ in range(2)]
        if rng.random() < 0.5:
            joint[rng.randrange(2)] = Action.ACTION_TO_INDEX[Action.INTERACT]
        nxt, info = mdp.get_state_transition(
            OvercookedState.from_dict(d), tuple(Action.INDEX_TO_ACTION[a] for a in joint)
        )
        actions.append(joint)
        nexts.append(canonical(nxt))
        sparse.append(info["sparse_reward_by_agent"])
        shaped.append(info["shaped_reward_by_agent"])
    return np.array(actions, dtype=np.int8), nexts, np.array(sparse, np.float32), np.array(shaped, np.float32)


def planner_costs(mdp, counter_goals: list) -> np.ndarray:
    """(H*W*4, H*W) ``MotionPlanner.min_cost_to_feature`` from every floor (pos, orientation) to every
    single cell (-1 = unreachable / not a motion goal / start not on floor)."""
    mp = MotionPlanner(mdp, counter_goals=counter_goals)
    w, h = mdp.shape
    out = np.full((h * w * 4, h * w), -1, dtype=np.int32)
    features = [(x, y) for y in range(h) for x in range(w) if mdp.get_terrain_type_at_pos((x, y)) != " "]
    for (x, y), orientation in mdp.get_valid_player_positions_and_orientations():
        s = (y * w + x) * 4 + Direction.DIRECTION_TO_INDEX[orientation]
        for fx, fy in features:
            cost = mp.min_cost_to_feature(((x, y), orientation), [(fx, fy)])
            if np.isfinite(cost):
                out[s, fy * w + fx] = int(cost)
    return out


def summarize(states: list[dict]) -> str:
    held = sum(p["held_object"] is not None for d in states for p in d["players"])
    objs = [o for d in states for o in d["objects"]]
    cooking = sum(o["name"] == "soup" and o["is_cooking"] for o in objs)
    ready = sum(o["name"] == "soup" and o["is_ready"] for o in objs)
    return (
        f"held={held} objects={len(objs)} cooking={cooking} ready={ready} "
        f"late={sum(d['timestep'] > HORIZON - 40 for d in states)}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join("tests", "fixtures", "overcooked"))
    parser.add_argument("--states", type=int, default=240, help="states per layout and dynamics")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for li, layout in enumerate(LAYOUTS):
        mdp = make_mdp(layout, "new")
        stem = os.path.join(args.out, f"{layout}__planner")
        np.savez_compressed(
            stem + ".tmp.npz",
            default=planner_costs(mdp, []),
            all_counters=planner_costs(mdp, mdp.get_counter_locations()),
        )
        os.replace(stem + ".tmp.npz", stem + ".npz")
        for di, dynamics in enumerate(DYNAMICS):
            rng = random.Random(args.seed * 1000 + li * 10 + di)
            mdp = make_mdp(layout, dynamics)
            states = collect(mdp, dynamics, args.states, rng)
            arrays = encode(layout, states, mdp)
            actions, nexts, sparse, shaped = transitions(mdp, states, rng)
            after = encode(layout, nexts, mdp)
            arrays.update(
                actions=actions,
                sparse=sparse,
                shaped=shaped,
                next_featurized=after["featurized"],
                next_lossless=after["lossless"],
            )
            stem = os.path.join(args.out, f"{layout}__{dynamics}")
            meta = {
                "layout": layout,
                "dynamics": dynamics,
                "horizon": HORIZON,
                "num_pots": 2,
                "reference": "overcooked-ai==1.1.0",
                "states": states,
                "next_states": nexts,
            }
            with open(stem + ".json.gz.tmp", "wb") as raw:  # mtime=0: same states -> same bytes
                with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as f:
                    f.write(json.dumps(meta, separators=(",", ":")).encode("utf-8"))
            os.replace(stem + ".json.gz.tmp", stem + ".json.gz")
            np.savez_compressed(stem + ".tmp.npz", **arrays)
            os.replace(stem + ".tmp.npz", stem + ".npz")
            print(f"{layout:26s} {dynamics}: {len(states)} states  {summarize(states)}", flush=True)


if __name__ == "__main__":
    main()
