"""``HideAndSeekEnv``: the PettingZoo ``ParallelEnv`` and the readable reference of the rules.

Every rule is written here once, plainly, one agent at a time. ``batched.py`` implements the
same rules vectorized over many envs and is tested step by step against this file.
The rules (see README.md for the full list):

* Agents act one after another in the fixed order ``hider_0.., seeker_0..``; each sees the
  effects of the agents before it. During the preparation phase (the first
  ``round(prep_fraction * horizon)`` steps) seekers are frozen: their actions are ignored.
* A move action turns the agent to that direction (unless it is holding an object) and tries
  to step. Walking into an unlocked box pushes it one cell if the cell beyond is free; walking
  onto a ramp climbs it; standing on a ramp and walking into a wall lands on the cell beyond
  the wall if it is free (a *ramp crossing*).
* ``grab`` toggles holding the unlocked object in front; a holding agent keeps its facing and
  moves the object with it (push forward, pull backward, or slide sideways), if both fit.
* ``lock``/``unlock`` act on the object in front. A locked object cannot be moved by anyone;
  only the team that locked it can unlock it.
* After the moves: a hider is *seen* if some seeker sees its cell (see ``geometry.py``).
  After the preparation phase, each hider gets -1 if any hider is seen else +1; each seeker
  gets the opposite.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from diverse_marl.envs.hide_and_seek import render as _render
from diverse_marl.envs.hide_and_seek import text as _text
from diverse_marl.envs.hide_and_seek.batched import HideAndSeekBatchedEnv
from diverse_marl.envs.hide_and_seek.config import (
    AGENT_STATE_FEATURES,
    BOX,
    DIRECTIONS,
    EVENT_FEATURES,
    FEATURE_NAMES,
    GRAB,
    HIDERS,
    LOCK,
    MOVE_N,
    MOVE_W,
    N_ACTIONS,
    OBS_CHANNELS,
    RAMP,
    RUNNING_KEYS,
    SEEKERS,
    STAT_KEYS,
    STATE_CHANNELS,
    UNLOCK,
    UNLOCKED,
    HideAndSeekConfig,
    check_action,
)
from diverse_marl.envs.hide_and_seek.fort import hiders_enclosed
from diverse_marl.envs.hide_and_seek.geometry import between, in_view
from diverse_marl.envs.hide_and_seek.maps import EpisodeInit, MapSpec
from diverse_marl.envs.options import keyword, options_signature, parse_options
from diverse_marl.envs.reward import DIVERSITY_STATE_KEY, FEATURES_KEY, ORIGINAL_KEY, WeightedReward
from diverse_marl.errors import ConfigError

Cell = tuple[int, int]


class HideAndSeekEnv(WeightedReward, ParallelEnv):
    """Grid hide-and-seek (Baker et al. 2019) for PettingZoo; options as in ``HideAndSeekConfig``.

    Observation: one flat float32 vector = egocentric window of (2r+1)^2 cells (row-major, north
    up, the agent in the centre; 8 values ``OBS_CHANNELS`` per cell) followed by ``OWN_FEATURES``.
    ``state()`` / ``state_space(agent)``: full map (``STATE_CHANNELS``) + every agent's
    features + time + the agent's own one-hot id and team.
    Reward features (``FEATURE_NAMES``, README.md): the step's outcome from the agent's team's view
    (``win``, ``lose``, ``hidden``, ``seen``, ``prep``) and its object events; ``reward_weights``
    over them replace the reward (the default is ``{win: 1, lose: -1}``).
    """

    FEATURE_NAMES = FEATURE_NAMES

    metadata = {"render_modes": ["ansi", "rgb_array"], "name": "hide_and_seek_v0", "is_parallelizable": True}

    def __init__(
        self, *, reward_weights: dict[str, float] | None = None, render_mode: str | None = None, **options: Any
    ) -> None:
        """``options``: the fields of :class:`HideAndSeekConfig` (the signature lists them)."""
        self.cfg = parse_options(HideAndSeekConfig, options, "hide_and_seek", also=ENV_KEYWORDS)
        self._init_weights(reward_weights)
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ConfigError(f"unknown render_mode {render_mode!r}; allowed: None, ansi, rgb_array")
        self.render_mode = render_mode
        self.map_spec = MapSpec(self.cfg)
        self.rows, self.cols = self.map_spec.shape
        self.possible_agents = self.cfg.agents
        self.agents: list[str] = []
        self._obs_space = spaces.Box(0.0, 1.0, (self.cfg.obs_size,), np.float32)
        self._state_space = spaces.Box(0.0, 1.0, (self.cfg.state_size(self.rows, self.cols),), np.float32)
        self._act_space = spaces.Discrete(N_ACTIONS)
        self._rng = np.random.default_rng()
        self.t = 0

    @classmethod
    def batched(cls, num_envs: int, **kwargs: Any):
        """The numpy batched version with the same options (used by the fast MAPPO sampler)."""
        kwargs.pop("render_mode", None)
        return HideAndSeekBatchedEnv(num_envs=num_envs, **kwargs)

    # ---- spaces ------------------------------------------------------------------------
    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_space

    def state_space(self, agent: str | None = None) -> spaces.Box:
        return self._state_space

    # ---- reset / step --------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.load(self.map_spec.sample(self._rng))
        ds = self.diversity_state()
        return self._all_obs(), {a: {DIVERSITY_STATE_KEY: ds} for a in self.agents}

    def load(self, init: EpisodeInit) -> None:
        """Start an episode from a given map and positions (tests build scenes this way)."""
        if init.walls.shape != (self.rows, self.cols) or len(init.agent_pos) != self.cfg.n_agents:
            raise ConfigError(
                f"scene has a {init.walls.shape} map and {len(init.agent_pos)} agents; this env "
                f"expects {(self.rows, self.cols)} and {self.cfg.n_agents}"
            )
        self.walls = init.walls.astype(bool).copy()
        self.obj_pos = [tuple(p) for p in init.obj_pos.tolist()]
        self.obj_kind = list(init.obj_kind.tolist())
        self.obj_lock = [UNLOCKED] * len(self.obj_pos)
        self.pos = [tuple(p) for p in init.agent_pos.tolist()]
        self.facing = list(init.facing.tolist())
        self.holding = [-1] * self.cfg.n_agents
        self.agents = list(self.possible_agents)
        self.t = 0
        self.stats = {k: 0.0 for k in STAT_KEYS}
        self._obj_start = list(self.obj_pos)
        self._obj_prep_end = list(self.obj_pos)
        if self.cfg.prep_steps == 0:
            self._end_of_prep()

    def step(self, actions: dict[str, Any]):
        cfg = self.cfg
        if not self.agents:
            raise ConfigError("step() called on a finished (or never reset) episode; call reset() first")
        acts = [check_action(a, actions.get(a, 0)) for a in self.possible_agents]
        prep = self.t < cfg.prep_steps
        events_before = [self.stats[k] for k in EVENT_FEATURES]
        for i, a in enumerate(acts):
            if prep and cfg.team_of(i) == SEEKERS:
                continue  # seekers are frozen during preparation
            self._act(i, a, prep)
        for i in range(cfg.n_agents):
            self._check_hold(i)
        self.t += 1
        seen = self.any_hider_seen()
        hider_r = 0.0 if prep else (-1.0 if seen else 1.0)
        if not prep:
            self.stats["seen_steps" if seen else "hidden_steps"] += 1
        self.stats["return_hiders"] += hider_r
        self.stats["return_seekers"] -= hider_r
        self.stats["length"] += 1
        if self.t == cfg.prep_steps:
            self._end_of_prep()
        events = {k: self.stats[k] - before for k, before in zip(EVENT_FEATURES, events_before)}
        hidden, seen_f = float(not prep and not seen), float(not prep and seen)
        done = self.t >= cfg.horizon
        obs = self._all_obs()
        running = {k: self.stats[k] for k in RUNNING_KEYS}
        info = {"hider_seen": seen, "prep": prep, "step": self.t, "stats": running}
        if done:
            info["episode_stats"] = self.episode_stats()
        rewards, infos = {}, {}
        info[DIVERSITY_STATE_KEY] = self.diversity_state()
        for i, a in enumerate(self.possible_agents):
            hider = cfg.team_of(i) == HIDERS
            features = {
                "win": hidden if hider else seen_f,
                "lose": seen_f if hider else hidden,
                "hidden": hidden,
                "seen": seen_f,
                "prep": float(prep),
                **events,
            }
            original = hider_r if hider else -hider_r
            rewards[a] = original if self.weights is None else self.weights.dot(features)
            infos[a] = {**info, FEATURES_KEY: features, ORIGINAL_KEY: original}
        terms = {a: False for a in self.possible_agents}
        truncs = {a: done for a in self.possible_agents}
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    # ---- rules -------------------------------------------------------------------------
    def _front(self, i: int) -> Cell:
        dr, dc = DIRECTIONS[self.facing[i]]
        return self.pos[i][0] + dr, self.pos[i][1] + dc

    def object_at(self, cell: Cell) -> int:
        for o, p in enumerate(self.obj_pos):
            if p == cell:
                return o
        return -1

    def agent_at(self, cell: Cell) -> int:
        for i, p in enumerate(self.pos):
            if p == cell:
                return i
        return -1

    def _inside(self, cell: Cell) -> bool:
        return 0 <= cell[0] < self.rows and 0 <= cell[1] < self.cols

    def _agent_can_enter(self, cell: Cell) -> bool:
        """Not a wall, no box (a ramp is fine), no agent."""
        if not self._inside(cell) or self.walls[cell]:
            return False
        o = self.object_at(cell)
        return (o < 0 or self.obj_kind[o] == RAMP) and self.agent_at(cell) < 0

    def _object_can_enter(self, cell: Cell) -> bool:
        """Not a wall, no object, no agent."""
        return self._inside(cell) and not self.walls[cell] and self.object_at(cell) < 0 and self.agent_at(cell) < 0

    def _check_hold(self, i: int) -> None:
        """A hold ends when the object is no longer in front of the agent or got locked."""
        o = self.holding[i]
        if o >= 0 and (self.obj_pos[o] != self._front(i) or self.obj_lock[o] != UNLOCKED):
            self.holding[i] = -1

    def _move_object(self, o: int, cell: Cell, prep: bool) -> None:
        self.obj_pos[o] = cell
        kind = "box" if self.obj_kind[o] == BOX else "ramp"
        self.stats[f"{kind}_moves_{'prep' if prep else 'after'}"] += 1

    def _act(self, i: int, a: int, prep: bool) -> None:
        team = self.cfg.team_of(i)
        team_name = "hiders" if team == HIDERS else "seekers"
        self._check_hold(i)
        if MOVE_N <= a <= MOVE_W:
            self._move(i, a - MOVE_N, prep, team_name)
        elif a == GRAB:
            if not self.cfg.allow_grab:
                return
            if self.holding[i] >= 0:
                self.holding[i] = -1
            else:
                o = self.object_at(self._front(i))
                if o >= 0 and self.obj_lock[o] == UNLOCKED:
                    self.holding[i] = o
        elif a == LOCK:
            o = self.object_at(self._front(i))
            if o >= 0 and self.obj_lock[o] == UNLOCKED:
                self.obj_lock[o] = team
                self.stats[f"locks_{team_name}_{'prep' if prep else 'after'}"] += 1
                self._check_hold(i)
        elif a == UNLOCK:
            o = self.object_at(self._front(i))
            if o >= 0 and self.obj_lock[o] == team:
                self.obj_lock[o] = UNLOCKED
                self.stats[f"unlocks_{team_name}"] += 1

    def _move(self, i: int, d: int, prep: bool, team_name: str) -> None:
        dr, dc = DIRECTIONS[d]
        r, c = self.pos[i]
        target = (r + dr, c + dc)
        o = self.holding[i]
        if o < 0:
            self.facing[i] = d
            if self.walls[target]:
                # ramp crossing: from a ramp, over the wall, onto the free cell beyond
                beyond = (target[0] + dr, target[1] + dc)
                on = self.object_at((r, c))
                if on >= 0 and self.obj_kind[on] == RAMP and self._agent_can_enter(beyond):
                    self.pos[i] = beyond
                    self.stats[f"ramp_crossings_{team_name}"] += 1
                return
            t_obj = self.object_at(target)
            if t_obj >= 0 and self.obj_kind[t_obj] == BOX:
                beyond = (target[0] + dr, target[1] + dc)
                if self.obj_lock[t_obj] == UNLOCKED and self._object_can_enter(beyond):
                    self._move_object(t_obj, beyond, prep)
                    self.pos[i] = target
                return
            if self.agent_at(target) < 0:
                self.pos[i] = target  # floor or climbing onto a ramp
            return
        # holding object o (it is in front of the agent; the facing stays)
        orow, ocol = self.obj_pos[o]
        if self.agent_at((orow, ocol)) >= 0:
            return  # someone stands on the held ramp
        fr, fc = DIRECTIONS[self.facing[i]]
        obj_target = (orow + dr, ocol + dc)
        if (dr, dc) == (fr, fc):  # push forward: agent takes the object's old cell
            if self._object_can_enter(obj_target):
                self._move_object(o, obj_target, prep)
                self.pos[i] = (orow, ocol)
        elif (dr, dc) == (-fr, -fc):  # pull backward: object takes the agent's old cell
            if self._agent_can_enter(target) and self.object_at((r, c)) < 0:
                self.pos[i] = target
                self._move_object(o, (r, c), prep)
        else:  # sideways: both slide
            if self._agent_can_enter(target) and self._object_can_enter(obj_target):
                self.pos[i] = target
                self._move_object(o, obj_target, prep)

    def _end_of_prep(self) -> None:
        self._obj_prep_end = list(self.obj_pos)
        self.stats["hiders_enclosed_prep_end"] = float(self.enclosed())

    # ---- vision ------------------------------------------------------------------------
    def _blocks_sight(self, cell: Cell) -> bool:
        if self.walls[cell]:
            return True
        o = self.object_at(cell)
        return o >= 0 and self.obj_kind[o] == BOX

    def sees(self, i: int, cell: Cell) -> bool:
        """Does agent i see ``cell``? (radius, cone, and Bresenham line of sight)."""
        if not self._inside(cell):
            return False
        dr, dc = cell[0] - self.pos[i][0], cell[1] - self.pos[i][1]
        if not in_view(dr, dc, self.facing[i], self.cfg.view_radius, self.cfg.cone_cos):
            return False
        r, c = self.pos[i]
        return not any(self._blocks_sight((r + br, c + bc)) for br, bc in between(dr, dc))

    def any_hider_seen(self) -> bool:
        nh = self.cfg.n_hiders
        return any(self.sees(s, self.pos[h]) for s in range(nh, self.cfg.n_agents) for h in range(nh))

    def enclosed(self) -> bool:
        """Are the hiders in a fort right now? (definition in ``fort.py``)"""
        return hiders_enclosed(
            self.walls,
            np.array(self.obj_pos),
            np.array(self.obj_kind, dtype=np.int64),
            np.array(self.obj_lock),
            np.array(self.pos),
            self.cfg.n_hiders,
        )

    # ---- observations / state ------------------------------------------------------------
    def _all_obs(self) -> dict[str, np.ndarray]:
        return {a: self.observe(i) for i, a in enumerate(self.possible_agents)}

    def observe(self, i: int) -> np.ndarray:
        cfg = self.cfg
        R, W = cfg.view_radius, cfg.window
        team = cfg.team_of(i)
        view = np.zeros((W, W, len(OBS_CHANNELS)), dtype=np.float32)
        r0, c0 = self.pos[i]
        for wr in range(W):
            for wc in range(W):
                cell = (r0 + wr - R, c0 + wc - R)
                if not self.sees(i, cell):
                    continue
                view[wr, wc, 0] = 1.0
                view[wr, wc, 1] = self.walls[cell]
                o = self.object_at(cell)
                if o >= 0:
                    view[wr, wc, 2 if self.obj_kind[o] == BOX else 3] = 1.0
                    if self.obj_lock[o] != UNLOCKED:
                        view[wr, wc, 4 if self.obj_lock[o] == team else 5] = 1.0
                j = self.agent_at(cell)
                if j >= 0 and j != i:
                    view[wr, wc, 6 if cfg.team_of(j) == team else 7] = 1.0
        return np.concatenate([view.ravel(), self._own_features(i)]).astype(np.float32)

    def _agent_features(self, i: int) -> list[float]:
        face = [0.0] * 4
        face[self.facing[i]] = 1.0
        return [self.pos[i][0] / (self.rows - 1), self.pos[i][1] / (self.cols - 1), *face, float(self.holding[i] >= 0)]

    def _own_features(self, i: int) -> np.ndarray:
        cfg = self.cfg
        return np.array(
            self._agent_features(i)
            + [float(self.t < cfg.prep_steps), self.t / cfg.horizon, float(cfg.team_of(i) == SEEKERS)],
            dtype=np.float32,
        )

    def state_of(self, i: int) -> np.ndarray:
        """Agent-specific global state for agent index i."""
        cfg = self.cfg
        grid = np.zeros((len(STATE_CHANNELS), self.rows, self.cols), dtype=np.float32)
        grid[0] = self.walls
        for (r, c), kind, lock in zip(self.obj_pos, self.obj_kind, self.obj_lock):
            grid[1 if kind == BOX else 2, r, c] = 1.0
            if lock != UNLOCKED:
                grid[3 + lock, r, c] = 1.0
        for j, (r, c) in enumerate(self.pos):
            grid[5 + cfg.team_of(j), r, c] = 1.0
        grid[7, self.pos[i][0], self.pos[i][1]] = 1.0
        feats = [f for j in range(cfg.n_agents) for f in self._agent_features(j)]
        assert len(feats) == cfg.n_agents * len(AGENT_STATE_FEATURES)
        ident = [0.0] * cfg.n_agents
        ident[i] = 1.0
        team = [0.0, 0.0]
        team[cfg.team_of(i)] = 1.0
        tail = feats + [float(self.t < cfg.prep_steps), self.t / cfg.horizon] + ident + team
        return np.concatenate([grid.ravel(), np.array(tail, dtype=np.float32)])

    def diversity_state(self) -> np.ndarray:
        """Compact state for state-distance diversity (SIPO): every agent's then every object's
        (row, col), scaled to [0, 1] (``infos[agent]["diversity_state"]``)."""
        cells = np.array([*self.pos, *self.obj_pos], dtype=np.float32).reshape(-1, 2)
        return (cells / np.array([self.rows - 1, self.cols - 1], dtype=np.float32)).reshape(-1)

    def state(self) -> dict[str, np.ndarray]:
        """Agent-specific global states, one per agent (see ``state_space``)."""
        return {a: self.state_of(i) for i, a in enumerate(self.possible_agents)}

    # ---- statistics ----------------------------------------------------------------------
    def episode_stats(self) -> dict[str, float]:
        """Behaviour statistics of the episode so far (definitions in README.md)."""
        s = dict(self.stats)
        for kind, name, plural in ((BOX, "box", "boxes"), (RAMP, "ramp", "ramps")):
            idx = [o for o, k in enumerate(self.obj_kind) if k == kind]
            s[f"{name}_displacement_prep"] = float(
                sum(_manhattan(self._obj_start[o], self._obj_prep_end[o]) for o in idx)
            )
            if self.t >= self.cfg.prep_steps:
                s[f"{name}_displacement_after"] = float(
                    sum(_manhattan(self._obj_prep_end[o], self.obj_pos[o]) for o in idx)
                )
            for team, tname in ((HIDERS, "hiders"), (SEEKERS, "seekers")):
                s[f"{plural}_locked_{tname}_end"] = float(sum(self.obj_lock[o] == team for o in idx))
        post = max(self.t - self.cfg.prep_steps, 0)
        s["hidden_fraction"] = s["hidden_steps"] / post if post else 0.0
        s["hiders_enclosed_end"] = float(self.enclosed())
        return {k: float(s[k]) for k in STAT_KEYS}

    # ---- rendering -----------------------------------------------------------------------
    def _snapshot(self) -> tuple:
        return (
            self.walls,
            np.array(self.obj_pos, dtype=np.int64).reshape(-1, 2),
            np.array(self.obj_kind),
            np.array(self.obj_lock),
            np.array(self.pos),
            np.array(self.facing),
            self.cfg.n_hiders,
        )

    def text_observation(self, agent: str, i: int = 0):
        """``agent``'s view as text, for agents that read (see ``text.py``)."""
        return _text.text_observation(_text.scene_of_env(self), self.cfg, list(self.possible_agents), agent)

    def render(self):
        if self.render_mode == "ansi":
            return _render.ansi(*self._snapshot())
        if self.render_mode == "rgb_array":
            return _render.rgb(*self._snapshot())
        return None

    def close(self) -> None:
        pass


ENV_KEYWORDS = ("reward_weights", "render_mode")
# the options, once (HideAndSeekConfig), as the class's signature: the registry reads it
HideAndSeekEnv.__signature__ = options_signature(
    HideAndSeekConfig,
    trailing=(
        keyword("reward_weights", None, "dict[str, float] | None"),
        keyword("render_mode", None, "str | None"),
    ),
)


def _manhattan(a: Cell, b: Cell) -> int:
    return abs(a[0] - b[0]) + abs(a[1] - b[1])
