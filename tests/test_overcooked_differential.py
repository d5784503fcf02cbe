"""Differential test: our Overcooked dynamics against the reference implementation (PyPI ``overcooked==0.2.1``).

For every classic layout and both dynamics, our batched core and the reference's
``OvercookedGridworld.get_state_transition`` are stepped in lockstep on the same joint actions, from
random play and from scripted goal-directed play (which must cook and deliver soups). Every transition
compares the full next state (overcooked_ai's ``to_dict``), sparse and shaped reward by agent and the
reference's event log. A second test goes through the public env API: ``set_state(reference state)``,
one step, ``get_state()`` must equal the reference's next state.
"""

from __future__ import annotations

import numpy as np
import pytest

try:
    from overcooked.mdp.actions import Action
    from overcooked.mdp.overcooked_mdp import OvercookedGridworld, OvercookedState
except ImportError as exc:  # the reference is in the `test` extra
    pytest.skip(
        f"reference package overcooked==0.2.1 is not importable ({exc}); "
        "install the test extra: pip install -e .[test]",
        allow_module_level=True,
    )

from diverse_marl.envs.overcooked import OvercookedEnv
from diverse_marl.envs.overcooked.core import NUM_ACTIONS, BatchState, OvercookedDynamics
from diverse_marl.envs.overcooked.events import EVENT_INDEX, REFERENCE_EVENTS
from diverse_marl.envs.overcooked.layouts import get_layout, list_layouts
from diverse_marl.envs.overcooked.scripted import ScriptedCook
from diverse_marl.envs.overcooked.start_states import randomize_rows
from diverse_marl.envs.overcooked.state_dict import state_from_dict, state_to_dict

HORIZON = 400
PARALLEL = 4  # lockstep trajectories per run (our side is stepped as one batch)
RANDOM_TRANSITIONS = 4000  # per layout and dynamics
SCRIPTED_TRANSITIONS = 6000  # per layout and dynamics -> 10,000 transitions per (layout, dynamics)
INTERACT_BIASED = np.array([0.15, 0.15, 0.15, 0.15, 0.1, 0.3])  # random play that still fills pots
POTTING_KINDS = ("optimal", "viable", "catastrophic", "useless")

CASES = [(name, old) for name in list_layouts() for old in (False, True)]
CASE_IDS = [f"{name}-{'old' if old else 'new'}" for name, old in CASES]


def _reference_mdp(name: str, old_dynamics: bool) -> OvercookedGridworld:
    return OvercookedGridworld.from_layout_name(get_layout(name).reference_name, old_dynamics=old_dynamics)


def _canonical(state_dict: dict) -> dict:
    """Objects keyed by position (overcooked_ai lists them in creation order)."""
    out = dict(state_dict)
    out["objects"] = sorted(state_dict["objects"], key=lambda o: o["position"])
    return out


REFERENCE_KEYS = list(REFERENCE_EVENTS) + [f"{kind}_potting" for kind in POTTING_KINDS]
# our (2, n_events) counts @ OURS_TO_REFERENCE -> (2, len(REFERENCE_KEYS)) reference event flags
OURS_TO_REFERENCE = np.zeros((len(EVENT_INDEX), len(REFERENCE_KEYS)), dtype=np.int64)
for _k, _key in enumerate(REFERENCE_KEYS):
    for _name in REFERENCE_EVENTS.get(_key, (_key,)):
        OURS_TO_REFERENCE[EVENT_INDEX[_name], _k] = 1


def _reference_events(info: dict) -> list[list[int]]:
    ev = info["event_infos"]
    rows = []
    for p in range(2):
        row = [int(ev[k][p]) for k in REFERENCE_EVENTS]
        row += [int(ev[f"{kind}_onion_potting"][p] or ev[f"{kind}_tomato_potting"][p]) for kind in POTTING_KINDS]
        rows.append(row)
    return rows


def run_lockstep(
    name: str, old_dynamics: bool, n_transitions: int, policy, start_rng: np.random.Generator | None = None
) -> dict[str, int]:
    """Step ours and the reference on the same actions; assert equality at every transition.

    With ``start_rng`` every episode begins from one of our random start states (start_states.py),
    handed to the reference through its state dict.
    """
    layout = get_layout(name)
    mdp = _reference_mdp(name, old_dynamics)
    dynamics = OvercookedDynamics(layout, old_dynamics)
    ours = BatchState.initial(layout, PARALLEL)
    scalar = BatchState.initial(layout, PARALLEL)
    refs = [mdp.get_standard_start_state() for _ in range(PARALLEL)]

    def restart(rows: np.ndarray) -> None:
        if start_rng is not None:
            randomize_rows(ours, rows, layout, old_dynamics, start_rng)
            for f in vars(ours):
                getattr(scalar, f)[rows] = getattr(ours, f)[rows]
            for i in rows:
                refs[i] = OvercookedState.from_dict(state_to_dict(layout, ours, i))

    restart(np.arange(PARALLEL))
    stats = {"deliveries": 0, "cooking_starts": 0, "soup_pickups": 0, "shaped": 0}
    pot_y, pot_x = layout.pot_positions[:, 1], layout.pot_positions[:, 0]
    before = [r.to_dict() for r in refs]
    for _ in range(n_transitions // PARALLEL):
        actions = policy(ours)
        sparse, shaped, events = dynamics.step_vectorized(ours, actions)
        # the plain-Python path used for single envs must agree with the vectorized one exactly
        scalar_out = dynamics.step_scalar(scalar, actions)
        for name_, arr in vars(ours).items():
            np.testing.assert_array_equal(getattr(scalar, name_), arr, err_msg=f"scalar path differs: {name_}")
        for got, want in zip(scalar_out, (sparse, shaped, events)):
            np.testing.assert_array_equal(got, want, err_msg="scalar path rewards/events differ")
        ours_ref_events = (events @ OURS_TO_REFERENCE).tolist()
        for i in range(PARALLEL):
            joint = [Action.INDEX_TO_ACTION[int(a)] for a in actions[i]]
            nxt, info = mdp.get_state_transition(refs[i], joint)
            nxt_dict = nxt.to_dict()
            context = f"{name} old_dynamics={old_dynamics} state={before[i]} actions={actions[i].tolist()}"
            assert _canonical(state_to_dict(layout, ours, i)) == _canonical(nxt_dict), context
            assert sparse[i].tolist() == info["sparse_reward_by_agent"], context
            assert shaped[i].tolist() == info["shaped_reward_by_agent"], context
            assert ours_ref_events[i] == _reference_events(info), context
            refs[i], before[i] = nxt, nxt_dict
        stats["deliveries"] += int(events[:, :, EVENT_INDEX["soup_delivery"]].sum())
        stats["soup_pickups"] += int(events[:, :, EVENT_INDEX["soup_pickup_pot"]].sum())
        stats["shaped"] += int((shaped > 0).sum())
        # a pot that started cooking this step has cooked exactly one tick
        stats["cooking_starts"] += int((ours.soup_tick[:, pot_y, pot_x] == 1).sum())
        done = ours.timestep >= HORIZON
        if done.any():
            ours.reset_rows(done, layout)
            scalar.reset_rows(done, layout)
            for i in np.flatnonzero(done):
                refs[i] = mdp.get_standard_start_state()
            restart(np.flatnonzero(done))
            for i in np.flatnonzero(done):
                before[i] = refs[i].to_dict()
    return stats


def test_layouts_equal_reference():
    for name in list_layouts():
        layout = get_layout(name)
        mdp = _reference_mdp(name, False)
        assert layout.terrain_rows == ["".join(row) for row in mdp.terrain_mtx], name
        assert [tuple(p) for p in layout.start_positions] == [tuple(p) for p in mdp.start_player_positions], name
        assert [tuple(p) for p in layout.pot_positions.tolist()] == mdp.get_pot_locations(), name
        assert [tuple(p) for p in layout.counter_positions.tolist()] == mdp.get_counter_locations(), name
        start = mdp.get_standard_start_state().to_dict()
        assert [o["ingredients"] for o in start["all_orders"]] == [tuple(o) for o in layout.orders], name
        assert start["bonus_orders"] == [], name
        ours = state_to_dict(layout, BatchState.initial(layout, 1))
        assert _canonical(ours) == _canonical(start), name


@pytest.mark.parametrize("name,old_dynamics", CASES, ids=CASE_IDS)
def test_random_play_matches_reference(name, old_dynamics):
    rng = np.random.default_rng(1000 + CASES.index((name, old_dynamics)))
    policy = lambda s: rng.choice(NUM_ACTIONS, size=(s.num_envs, 2), p=INTERACT_BIASED)  # noqa: E731
    stats = run_lockstep(name, old_dynamics, RANDOM_TRANSITIONS, policy)
    assert stats["shaped"] > 0  # random play at least put something into a pot / picked a useful dish


@pytest.mark.parametrize("name,old_dynamics", CASES, ids=CASE_IDS)
def test_random_start_states_step_like_the_reference(name, old_dynamics):
    """random_start's states are states the reference accepts and steps exactly as we do."""
    rng = np.random.default_rng(2000 + CASES.index((name, old_dynamics)))
    policy = lambda s: rng.choice(NUM_ACTIONS, size=(s.num_envs, 2), p=INTERACT_BIASED)  # noqa: E731
    stats = run_lockstep(name, old_dynamics, RANDOM_TRANSITIONS // 2, policy, start_rng=np.random.default_rng(7))
    assert stats["shaped"] > 0


@pytest.mark.parametrize("name,old_dynamics", CASES, ids=CASE_IDS)
def test_scripted_play_matches_reference(name, old_dynamics):
    layout = get_layout(name)
    seed = 2000 + 10 * CASES.index((name, old_dynamics))
    epsilons = (0.05, 0.1, 0.2, 0.3)
    cooks = [
        [ScriptedCook(layout, p, old_dynamics, epsilon=epsilons[i], seed=seed + 2 * i + p) for p in range(2)]
        for i in range(PARALLEL)
    ]
    policy = lambda s: np.array([[c.act(s, i) for c in cooks[i]] for i in range(s.num_envs)])  # noqa: E731
    stats = run_lockstep(name, old_dynamics, SCRIPTED_TRANSITIONS, policy)
    # the scripted cooks really cook and deliver, so those code paths were compared too
    assert stats["cooking_starts"] >= 3, stats
    assert stats["soup_pickups"] >= 3, stats
    assert stats["deliveries"] >= 3, stats


FUZZ_STATES = 800  # random (rare) situations per layout and dynamics


def random_state(layout, rng, cook_time: int = 20) -> dict:
    """A random valid state: cooks anywhere with any item, pots in every phase (tomatoes too), counters
    loaded with onions/tomatoes/dishes/soups - situations scripted play rarely reaches."""
    floor = [tuple(c) for c in np.argwhere(layout.terrain == 0)[:, ::-1].tolist()]
    dirs = [(0, -1), (0, 1), (1, 0), (-1, 0)]

    def soup(pos, phase):
        n = int(rng.integers(1, 4))
        if rng.random() < 0.5:  # the paying 3-onion soup
            n = 3
        names = [str(x) for x in rng.choice(["onion", "tomato"], size=n, p=[0.85, 0.15])]
        tick = {"idle": -1, "cooking": int(rng.integers(0, cook_time)), "ready": cook_time}[phase]
        return {
            "name": "soup",
            "position": pos,
            "_ingredients": [{"name": x, "position": pos} for x in names],
            "cooking_tick": tick,
        }

    def item(pos):
        kind = str(rng.choice(["onion", "tomato", "dish", "soup"], p=[0.3, 0.1, 0.3, 0.3]))
        return soup(pos, "ready") if kind == "soup" else {"name": kind, "position": pos}

    # half of the cooks stand next to a pot / dispenser / serving window, facing it
    stations = [
        (x + dx, y + dy, d)
        for x, y in floor
        for d, (dx, dy) in enumerate(dirs)
        if layout.terrain[y + dy, x + dx] not in (0, 1)
    ]
    players, taken = [], set()
    while len(players) < 2:
        if rng.random() < 0.5:
            tx, ty, d = stations[int(rng.integers(len(stations)))]
            pos, orientation = (tx - dirs[d][0], ty - dirs[d][1]), dirs[d]
        else:
            pos, orientation = floor[int(rng.integers(len(floor)))], dirs[int(rng.integers(4))]
        if pos in taken:
            continue
        taken.add(pos)
        held = item(pos) if rng.random() < 0.6 else None
        players.append({"position": pos, "orientation": orientation, "held_object": held})
    objects = []
    for pos in map(tuple, layout.pot_positions.tolist()):
        phase = str(rng.choice(["empty", "idle", "cooking", "ready"]))
        if phase != "empty":
            objects.append(soup(pos, phase))
    for pos in map(tuple, layout.counter_positions.tolist()):
        if rng.random() < 0.3:
            objects.append(item(pos))
    return {
        "players": players,
        "objects": objects,
        "bonus_orders": [],
        "all_orders": [{"ingredients": ("onion", "onion", "onion")}],
        "timestep": int(rng.integers(0, HORIZON)),
    }


@pytest.mark.parametrize("name,old_dynamics", CASES, ids=CASE_IDS)
def test_random_situations_match_reference(name, old_dynamics):
    """One step from many random states (both our code paths at once) equals the reference's step."""
    layout = get_layout(name)
    mdp = _reference_mdp(name, old_dynamics)
    dynamics = OvercookedDynamics(layout, old_dynamics)
    rng = np.random.default_rng(3000 + CASES.index((name, old_dynamics)))
    states = [random_state(layout, rng) for _ in range(FUZZ_STATES)]
    actions = rng.choice(NUM_ACTIONS, size=(FUZZ_STATES, 2), p=[0.1, 0.1, 0.1, 0.1, 0.1, 0.5])
    ours = BatchState.initial(layout, FUZZ_STATES)
    for i, d in enumerate(states):
        state_from_dict(layout, d, ours, i)
    scalar = ours.copy()
    sparse, shaped, events = dynamics.step_vectorized(ours, actions)
    scalar_out = dynamics.step_scalar(scalar, actions)
    for field_name, arr in vars(ours).items():
        np.testing.assert_array_equal(getattr(scalar, field_name), arr, err_msg=field_name)
    for got, want in zip(scalar_out, (sparse, shaped, events)):
        np.testing.assert_array_equal(got, want)
    ref_events = (events @ OURS_TO_REFERENCE).tolist()
    for i, d in enumerate(states):
        nxt, info = mdp.get_state_transition(
            OvercookedState.from_dict(d), [Action.INDEX_TO_ACTION[int(a)] for a in actions[i]]
        )
        context = f"{name} old_dynamics={old_dynamics} state={d} actions={actions[i].tolist()}"
        assert _canonical(state_to_dict(layout, ours, i)) == _canonical(nxt.to_dict()), context
        assert sparse[i].tolist() == info["sparse_reward_by_agent"], context
        assert shaped[i].tolist() == info["shaped_reward_by_agent"], context
        assert ref_events[i] == _reference_events(info), context
    # the sample covered deliveries and shaping
    assert events[:, :, EVENT_INDEX["soup_delivery"]].any() and (shaped > 0).any()


@pytest.mark.parametrize("name", list_layouts())
def test_env_set_state_step_get_state_matches_reference(name):
    """Public API: set_state(reference state) + one joint action -> reference's next state and rewards."""
    for old_dynamics in (False, True):
        layout = get_layout(name)
        mdp = _reference_mdp(name, old_dynamics)
        env = OvercookedEnv(layout=name, old_dynamics=old_dynamics, horizon=HORIZON, obs="lossless")
        env.reset()
        cooks = [ScriptedCook(layout, p, old_dynamics, epsilon=0.3, seed=p) for p in range(2)]
        rng = np.random.default_rng(7)
        ref = mdp.get_standard_start_state()
        for t in range(300):
            env.set_state(ref.to_dict())
            assert _canonical(env.get_state()) == _canonical(ref.to_dict())
            actions = [c.act(env.batch_state, 0) for c in cooks]
            if t % 3 == 0:
                actions = rng.integers(NUM_ACTIONS, size=2).tolist()
            nxt, info = mdp.get_state_transition(ref, [Action.INDEX_TO_ACTION[a] for a in actions])
            _, rewards, _, _, infos = env.step({"agent_0": actions[0], "agent_1": actions[1]})
            assert _canonical(env.get_state()) == _canonical(nxt.to_dict()), (ref.to_dict(), actions)
            team = sum(info["sparse_reward_by_agent"])
            for p, agent in enumerate(env.possible_agents):
                assert infos[agent]["sparse_reward"] == team
                assert infos[agent]["shaped_reward"] == info["shaped_reward_by_agent"][p]
                assert rewards[agent] == team + info["shaped_reward_by_agent"][p]
            # round trip through the reference's own parser as well
            assert OvercookedState.from_dict(env.get_state()) == nxt
            ref = nxt


@pytest.mark.slow
@pytest.mark.parametrize("name,old_dynamics", CASES, ids=CASE_IDS)
def test_long_scripted_and_random_play_matches_reference(name, old_dynamics):
    layout = get_layout(name)
    cooks = [
        [ScriptedCook(layout, p, old_dynamics, epsilon=0.05 + 0.15 * i, seed=50 + 2 * i + p) for p in range(2)]
        for i in range(PARALLEL)
    ]
    policy = lambda s: np.array([[c.act(s, i) for c in cooks[i]] for i in range(s.num_envs)])  # noqa: E731
    run_lockstep(name, old_dynamics, 40_000, policy)
    rng = np.random.default_rng(5)
    run_lockstep(name, old_dynamics, 40_000, lambda s: rng.integers(NUM_ACTIONS, size=(s.num_envs, 2)))
