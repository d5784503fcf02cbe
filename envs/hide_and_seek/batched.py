"""``HideAndSeekBatchedEnv``: N copies of the game stepped at once with numpy.

Same rules as ``env.py`` (the reference), vectorized over envs: agents are still processed one
after another (a handful), but each agent's move, push, pull, grab and lock is computed for all
N envs with array masks. Grids are flat arrays indexed by ``env * cells + row * cols + col``.
Vision uses precomputed ray cell lists: per facing, the window cells inside the view cone and,
for each, the offsets of the cells strictly between the agent and it (Bresenham), looked up in a
padded "blocks sight" grid; a cell's contents are one byte of bits, remapped per team into the
observation channels and unpacked.
Only rare events run per env in Python: resets (map generation) and fort detection at the end
of the preparation phase and of the episode.

Follows the batched env protocol of diverse-marl (auto-reset in the same step; ``final_obs``,
``final_state``, ``done`` and ``episode`` in infos; env i seeded from (seed, i) — see
``env_seed``, which also seeds a single ``HideAndSeekEnv`` identically).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from diverse_marl.envs.hide_and_seek import render as _render
from diverse_marl.envs.hide_and_seek import text as _text
from diverse_marl.envs.hide_and_seek.config import (
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
    OUTCOME_FEATURES,
    RAMP,
    SEEKERS,
    STAT_INDEX,
    STAT_KEYS,
    STATE_CHANNELS,
    UNLOCK,
    UNLOCKED,
    HideAndSeekConfig,
)
from diverse_marl.envs.hide_and_seek.fort import hiders_enclosed_batch
from diverse_marl.envs.hide_and_seek.geometry import between, in_view
from diverse_marl.envs.hide_and_seek.maps import EpisodeInit, MapSpec
from diverse_marl.envs.options import keyword, num_envs_parameter, options_signature, parse_options
from diverse_marl.envs.reward import ORIGINAL_KEY, ORIGINAL_RETURN_KEY, WeightedReward
from diverse_marl.errors import ConfigError

EVENT_COLUMNS = np.array([STAT_INDEX[k] for k in EVENT_FEATURES])  # stats columns of the event features
WIN, LOSE, HIDDEN, SEEN, PREP = (OUTCOME_FEATURES.index(k) for k in ("win", "lose", "hidden", "seen", "prep"))

# bits of the per-cell code grid
WALL_BIT, BOX_BIT, RAMP_BIT, LOCK_H_BIT, LOCK_S_BIT, HIDER_BIT, SEEKER_BIT, VISIBLE_BIT = (1 << k for k in range(8))


def _channel_code_table(team: int) -> np.ndarray:
    """(256,) uint8: cell code -> code whose bit k is observation channel k as seen by ``team``."""
    own_lock, other_lock = (LOCK_H_BIT, LOCK_S_BIT) if team == HIDERS else (LOCK_S_BIT, LOCK_H_BIT)
    mate, opp = (HIDER_BIT, SEEKER_BIT) if team == HIDERS else (SEEKER_BIT, HIDER_BIT)
    bits = (VISIBLE_BIT, WALL_BIT, BOX_BIT, RAMP_BIT, own_lock, other_lock, mate, opp)
    assert len(bits) == len(OBS_CHANNELS)
    codes = np.arange(256)
    out = np.zeros(256, dtype=np.int64)
    for k, bit in enumerate(bits):
        out |= ((codes & bit) != 0).astype(np.int64) << k
    return out.astype(np.uint8)


OPPOSITE = np.array([1, 0, 3, 2])  # N<->S, E<->W


def env_seed(seed: int, index: int) -> int:
    """Seed of env ``index`` in a batch reset with ``seed`` (use it to reproduce one env alone)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint64)[0])


class HideAndSeekBatchedEnv(WeightedReward):
    """``num_envs`` independent hide-and-seek games in numpy arrays (options as ``HideAndSeekEnv``).

    With ``reward_weights`` the rewards are ``w . features`` (the single env's features, computed as
    arrays); ``infos["original_reward"][agent]`` holds the game's own rewards and
    ``infos["episode"]["original_return"]`` their episode sum over all agents.
    """

    copy_seed = staticmethod(env_seed)  # copy i of reset(seed) plays as HideAndSeekEnv reset with this seed

    FEATURE_NAMES = FEATURE_NAMES

    def __init__(self, num_envs: int = 64, *, reward_weights: dict[str, float] | None = None, **options: Any) -> None:
        """``options``: the fields of :class:`HideAndSeekConfig` (the signature lists them)."""
        self._init_weights(reward_weights)
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ConfigError(f"num_envs={num_envs!r} must be an integer >= 1")
        self.cfg = cfg = parse_options(HideAndSeekConfig, options, "hide_and_seek", also=("reward_weights",))
        self.num_envs = N = int(num_envs)
        self.map_spec = MapSpec(cfg)
        self.rows, self.cols = H, W = self.map_spec.shape
        self.possible_agents = cfg.agents
        self.n_agents = A = cfg.n_agents
        self.obj_kind = self.map_spec.obj_kind
        self.n_objects = O = len(self.obj_kind)  # noqa: E741 (N, A, O: the shape letters used below)
        self.kind_lut = np.append(self.obj_kind, -1)  # kind_lut[-1] = -1: "no object" (safe with 0 objects)
        self._obs_space = spaces.Box(0.0, 1.0, (cfg.obs_size,), np.float32)
        self._state_space = spaces.Box(0.0, 1.0, (cfg.state_size(H, W),), np.float32)
        self._act_space = spaces.Discrete(N_ACTIONS)
        self.cells = H * W
        self.env_ids = np.arange(N)
        self.base = self.env_ids * self.cells
        self.delta = np.array([dr * W + dc for dr, dc in DIRECTIONS])
        self.dir_row = np.array([dr for dr, _ in DIRECTIONS])
        self.dir_col = np.array([dc for _, dc in DIRECTIONS])
        self.team = np.array([cfg.team_of(i) for i in range(A)])
        # state arrays (filled by reset/load)
        self.walls = np.zeros(N * self.cells, dtype=bool)
        self.obj_grid = np.full(N * self.cells, -1, dtype=np.int64)
        self.agent_grid = np.full(N * self.cells, -1, dtype=np.int64)
        self.obj_pos = np.zeros((N, O), dtype=np.int64)
        self.obj_lock = np.full((N, O), UNLOCKED, dtype=np.int64)
        self.pos = np.zeros((N, A), dtype=np.int64)
        self.facing = np.zeros((N, A), dtype=np.int64)
        self.holding = np.full((N, A), -1, dtype=np.int64)
        self.t = np.zeros(N, dtype=np.int64)
        self.stats = np.zeros((N, len(STAT_KEYS)), dtype=np.float64)
        self.returns = np.zeros((N, A), dtype=np.float64)  # of the rewards given (weighted or not)
        self.obj_start = np.zeros((N, O), dtype=np.int64)
        self.obj_prep_end = np.zeros((N, O), dtype=np.int64)
        self.rngs = [np.random.default_rng(env_seed(0, i)) for i in range(N)]
        self._build_vision_tables()
        self._zero_state = np.zeros((N, self._state_space.shape[0]), dtype=np.float32)
        self._zero_state.flags.writeable = False
        self._no_episode = {
            k: np.zeros(N) for k in [*STAT_KEYS, *(f"return/{a}" for a in self.possible_agents), ORIGINAL_RETURN_KEY]
        }
        for v in self._no_episode.values():
            v.flags.writeable = False

    # ---- spaces ------------------------------------------------------------------------
    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_space

    def state_space(self, agent: str | None = None) -> spaces.Box:
        return self._state_space

    # ---- precomputation ------------------------------------------------------------------
    def _build_vision_tables(self) -> None:
        """Window offsets, and per facing the in-cone window cells with their ray cell lists."""
        cfg = self.cfg
        R = cfg.view_radius
        self.pad = P = R
        self.prow, self.pcol = self.rows + 2 * P, self.cols + 2 * P
        self.pcells = self.prow * self.pcol
        offs = [(dr, dc) for dr in range(-R, R + 1) for dc in range(-R, R + 1)]
        self.center_k = (len(offs) - 1) // 2
        win_off = np.array([dr * self.pcol + dc for dr, dc in offs])
        cone_cells = [[k for k, (dr, dc) in enumerate(offs) if in_view(dr, dc, f, R, cfg.cone_cos)] for f in range(4)]
        n_cone = max(len(c) for c in cone_cells)
        # pad every facing's list to the same length with the centre cell (seen, empty ray)
        self.cone_k = np.array([c + [self.center_k] * (n_cone - len(c)) for c in cone_cells])  # (4, Kc)
        self.cone_off = win_off[self.cone_k]  # (4, Kc)
        rays = [[br * self.pcol + bc for br, bc in between(*offs[k])] for k in range(len(offs))]
        longest = max(1, max(len(r) for r in rays))
        # ray length padded to 4 or a multiple of 8 so that "any cell blocks" is one integer test
        self.ray_len = 4 if longest <= 4 else 8 * -(-longest // 8)
        self.ray_word = np.uint32 if self.ray_len == 4 else np.uint64
        # pad rays with offset 0 (the agent's own cell, which never blocks sight)
        ray_off = np.array([r + [0] * (self.ray_len - len(r)) for r in rays])  # (K, L)
        self.cone_rays = ray_off[self.cone_k]  # (4, Kc, L)
        self.pad_base = self.env_ids * self.pcells
        rr, cc = np.divmod(np.arange(self.cells), self.cols)
        self.cell_to_pad = (rr + P) * self.pcol + (cc + P)
        self.code_pad = np.zeros(self.num_envs * self.pcells, dtype=np.uint8)
        self.channel_code = np.stack([_channel_code_table(HIDERS), _channel_code_table(SEEKERS)])

    # ---- reset ---------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict[str, np.ndarray], dict]:
        if seed is None:
            seed = int(np.random.SeedSequence().generate_state(1)[0])
        self.rngs = [np.random.default_rng(env_seed(seed, i)) for i in range(self.num_envs)]
        for i in range(self.num_envs):
            self._load_row(i, self.map_spec.sample(self.rngs[i]))
        return self._observe(), {}

    def load(self, inits: list[EpisodeInit]) -> tuple[dict[str, np.ndarray], dict]:
        """Start every env from a given scene (one ``EpisodeInit`` per env); for tests and demos."""
        if len(inits) != self.num_envs:
            raise ConfigError(f"load() needs {self.num_envs} scenes, got {len(inits)}")
        for i, init in enumerate(inits):
            self._load_row(i, init)
        return self._observe(), {}

    def _load_row(self, i: int, init: EpisodeInit) -> None:
        W, sl = self.cols, slice(i * self.cells, (i + 1) * self.cells)
        if init.walls.shape != (self.rows, self.cols):
            raise ConfigError(f"scene has shape {init.walls.shape}, env expects {(self.rows, self.cols)}")
        self.walls[sl] = init.walls.ravel()
        self.obj_grid[sl] = -1
        self.agent_grid[sl] = -1
        obj = init.obj_pos[:, 0] * W + init.obj_pos[:, 1]
        ag = init.agent_pos[:, 0] * W + init.agent_pos[:, 1]
        self.obj_pos[i] = obj
        self.obj_lock[i] = UNLOCKED
        self.pos[i] = ag
        self.facing[i] = init.facing
        self.holding[i] = -1
        self.obj_grid[i * self.cells + obj] = np.arange(self.n_objects)
        self.agent_grid[i * self.cells + ag] = np.arange(self.n_agents)
        self.t[i] = 0
        self.stats[i] = 0.0
        self.returns[i] = 0.0
        self.obj_start[i] = obj
        self.obj_prep_end[i] = obj
        if self.cfg.prep_steps == 0:
            self._end_of_prep(np.array([i]))

    # ---- step ----------------------------------------------------------------------------
    def step(self, actions: dict[str, np.ndarray]):
        cfg, N = self.cfg, self.num_envs
        acts = np.zeros((N, self.n_agents), dtype=np.int64)
        for a, name in enumerate(self.possible_agents):
            if name in actions:
                acts[:, a] = self._check_actions(name, actions[name])
        prep = self.t < cfg.prep_steps
        events_before = self.stats[:, EVENT_COLUMNS]
        for a in range(self.n_agents):
            active = ~prep if self.team[a] == SEEKERS else np.ones(N, dtype=bool)
            self._act(a, acts[:, a], active, prep)
        self._check_holds_all()
        self.t += 1
        obs, visible = self._observe(return_visible=True)
        seen = self._hider_seen(visible)
        hider_r = np.where(prep, 0.0, np.where(seen, -1.0, 1.0))
        st, ix = self.stats, STAT_INDEX
        st[:, ix["seen_steps"]] += ~prep & seen
        st[:, ix["hidden_steps"]] += ~prep & ~seen
        st[:, ix["return_hiders"]] += hider_r
        st[:, ix["return_seekers"]] -= hider_r
        st[:, ix["length"]] += 1
        prep_end = np.nonzero(self.t == cfg.prep_steps)[0]
        if len(prep_end):
            self._end_of_prep(prep_end)
        original = {
            name: (hider_r if self.team[a] == HIDERS else -hider_r).astype(np.float32)
            for a, name in enumerate(self.possible_agents)
        }
        rewards = (
            original
            if self.weights is None
            else self._weighted_rewards(prep, seen, st[:, EVENT_COLUMNS] - events_before)
        )
        for a, name in enumerate(self.possible_agents):
            self.returns[:, a] += rewards[name]
        done = self.t >= cfg.horizon
        infos: dict[str, Any] = {"hider_seen": seen, "prep": prep, "done": done, ORIGINAL_KEY: original}
        final_obs = obs
        rows = np.nonzero(done)[0]
        episode = self._episode_stats(rows) if len(rows) else self._no_episode
        if len(rows):
            final_state = self.state()
            for i in rows:
                self._load_row(int(i), self.map_spec.sample(self.rngs[i]))
            obs = self._observe()
        else:  # nothing finished: a shared read-only zero block (valid only where done anyway)
            final_state = {name: self._zero_state for name in self.possible_agents}
        infos.update(final_obs=final_obs, final_state=final_state, episode=episode)
        terms = {name: np.zeros(N, dtype=bool) for name in self.possible_agents}
        truncs = {name: done.copy() for name in self.possible_agents}
        return obs, rewards, terms, truncs, infos

    def _weighted_rewards(self, prep: np.ndarray, seen: np.ndarray, events: np.ndarray) -> dict[str, np.ndarray]:
        """``w . features`` per agent from the step's outcome and object events (N, len(EVENT_FEATURES))."""
        w = self.weights.vector
        hidden, seen = (~prep & ~seen).astype(np.float64), (~prep & seen).astype(np.float64)
        shared = hidden * w[HIDDEN] + seen * w[SEEN] + prep * w[PREP] + events @ w[len(OUTCOME_FEATURES) :]
        by_team = {
            HIDERS: shared + hidden * w[WIN] + seen * w[LOSE],
            SEEKERS: shared + seen * w[WIN] + hidden * w[LOSE],
        }
        return {name: by_team[int(self.team[a])].astype(np.float32) for a, name in enumerate(self.possible_agents)}

    def _check_actions(self, agent: str, a: Any) -> np.ndarray:
        arr = np.asarray(a)
        if arr.shape != (self.num_envs,):
            raise ConfigError(f"actions for agent {agent!r} must have shape ({self.num_envs},), got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.mod(arr, 1) == 0):
                raise ConfigError(
                    f"illegal action for agent {agent!r}: non-integer values; allowed: integers 0..{N_ACTIONS - 1}"
                )
            arr = arr.astype(np.int64)
        bad = (arr < 0) | (arr >= N_ACTIONS)
        if bad.any():
            i = int(np.argmax(bad))
            raise ConfigError(
                f"illegal action {arr[i]!r} for agent {agent!r} in env {i}; allowed: integers 0..{N_ACTIONS - 1}"
            )
        return arr

    # ---- rules (vectorized over envs, one agent at a time) --------------------------------
    def _agent_can_enter(self, g: np.ndarray) -> np.ndarray:
        o = self.obj_grid[g]
        return ~self.walls[g] & ((o < 0) | (self.kind_lut[o] == RAMP)) & (self.agent_grid[g] < 0)

    def _object_can_enter(self, g: np.ndarray) -> np.ndarray:
        return ~self.walls[g] & (self.obj_grid[g] < 0) & (self.agent_grid[g] < 0)

    def _front(self, a: int) -> np.ndarray:
        return self.pos[:, a] + self.delta[self.facing[:, a]]

    def _check_hold(self, a: int) -> None:
        if not self.n_objects:
            return
        h = self.holding[:, a]
        hc = np.maximum(h, 0)
        ok = (self.obj_pos[self.env_ids, hc] == self._front(a)) & (self.obj_lock[self.env_ids, hc] == UNLOCKED)
        self.holding[:, a] = np.where((h >= 0) & ~ok, -1, h)

    def _check_holds_all(self) -> None:
        for a in range(self.n_agents):
            self._check_hold(a)

    def _count(self, key: str, mask: np.ndarray) -> None:
        self.stats[:, STAT_INDEX[key]] += mask

    def _count_object_moves(self, kinds: np.ndarray, moved: np.ndarray, prep: np.ndarray) -> None:
        box = moved & (kinds == BOX)
        ramp = moved & (kinds == RAMP)
        self._count("box_moves_prep", box & prep)
        self._count("box_moves_after", box & ~prep)
        self._count("ramp_moves_prep", ramp & prep)
        self._count("ramp_moves_after", ramp & ~prep)

    def _act(self, a: int, act: np.ndarray, active: np.ndarray, prep: np.ndarray) -> None:
        E, base = self.env_ids, self.base
        team = int(self.team[a])
        tname = "hiders" if team == HIDERS else "seekers"
        self._check_hold(a)
        moving = active & (act >= MOVE_N) & (act <= MOVE_W)
        if moving.any():
            self._move(a, act, moving, prep, tname)
        if not self.n_objects:
            return  # grab / lock / unlock have nothing to act on
        front_g = base + self._front(a)
        fo = self.obj_grid[front_g]
        foc = np.maximum(fo, 0)
        flock = self.obj_lock[E, foc]
        if self.cfg.allow_grab:
            grab = active & (act == GRAB)
            if grab.any():
                h = self.holding[:, a]
                take = grab & (h < 0) & (fo >= 0) & (flock == UNLOCKED)
                self.holding[:, a] = np.where(grab & (h >= 0), -1, np.where(take, fo, h))
        lock = active & (act == LOCK) & (fo >= 0) & (flock == UNLOCKED)
        if lock.any():
            self.obj_lock[E[lock], fo[lock]] = team
            self._count(f"locks_{tname}_prep", lock & prep)
            self._count(f"locks_{tname}_after", lock & ~prep)
            self._check_hold(a)
        unlock = active & (act == UNLOCK) & (fo >= 0) & (flock == team)
        if unlock.any():
            self.obj_lock[E[unlock], fo[unlock]] = UNLOCKED
            self._count(f"unlocks_{tname}", unlock)

    def _move(self, a: int, act: np.ndarray, moving: np.ndarray, prep: np.ndarray, tname: str) -> None:
        E, base, W = self.env_ids, self.base, self.cols
        d = np.clip(act - MOVE_N, 0, 3)
        delta = self.delta[d]
        p = self.pos[:, a]
        tgt = p + delta
        tg = base + tgt
        h = self.holding[:, a]
        free = moving & (h < 0)
        held = moving & (h >= 0)
        self.facing[:, a] = np.where(free, d, self.facing[:, a])

        new_pos = p.copy()
        agent_moves = np.zeros_like(moving)
        obj_idx = np.full_like(p, -1)  # object moved by this agent (per env) or -1
        obj_new = np.zeros_like(p)

        # -- not holding: ramp crossing, push a box, or walk/climb
        t_wall = self.walls[tg]
        t_obj = self.obj_grid[tg]
        t_objc = np.maximum(t_obj, 0)
        t_box = self.kind_lut[t_obj] == BOX
        on_ramp = self.obj_grid[base + p] >= 0  # the only object an agent can stand on is a ramp
        rr, cc = np.divmod(tgt, W)
        br, bc = rr + self.dir_row[d], cc + self.dir_col[d]
        b_in = (br >= 0) & (br < self.rows) & (bc >= 0) & (bc < W)
        beyond = np.where(b_in, tgt + delta, p)
        bg = base + beyond
        cross = free & t_wall & on_ramp & b_in & self._agent_can_enter(bg)
        unlocked = (self.obj_lock[E, t_objc] == UNLOCKED) if self.n_objects else np.zeros_like(moving)
        push_ok = unlocked & self._object_can_enter(np.where(b_in, bg, tg))
        push = free & ~t_wall & t_box & b_in & push_ok
        walk = free & ~t_wall & ~t_box & (self.agent_grid[tg] < 0)
        new_pos = np.where(cross, beyond, np.where(push | walk, tgt, new_pos))
        agent_moves |= cross | push | walk
        obj_idx = np.where(push, t_obj, obj_idx)
        obj_new = np.where(push, beyond, obj_new)
        self._count(f"ramp_crossings_{tname}", cross)

        # -- holding object o in front: push forward, pull backward, or slide sideways
        if held.any():
            hc = np.maximum(h, 0)
            op = self.obj_pos[E, hc]
            ok = held & (self.agent_grid[base + op] < 0)
            f = self.facing[:, a]
            otgt = op + delta
            fwd = ok & (d == f) & self._object_can_enter(base + otgt)
            back = ok & (d == OPPOSITE[f]) & self._agent_can_enter(tg) & (self.obj_grid[base + p] < 0)
            side = ok & (d != f) & (d != OPPOSITE[f]) & self._agent_can_enter(tg) & self._object_can_enter(base + otgt)
            new_pos = np.where(fwd, op, np.where(back | side, tgt, new_pos))
            agent_moves |= fwd | back | side
            obj_idx = np.where(fwd | back | side, h, obj_idx)
            obj_new = np.where(fwd | side, otgt, np.where(back, p, obj_new))

        # -- apply: objects first (grids are separate, so order only matters within a grid)
        om = obj_idx >= 0
        if om.any():
            e, o = E[om], obj_idx[om]
            old = self.obj_pos[e, o]
            self.obj_grid[e * self.cells + old] = -1
            self.obj_grid[e * self.cells + obj_new[om]] = o
            self.obj_pos[e, o] = obj_new[om]
            self._count_object_moves(self.kind_lut[obj_idx], om, prep)
        if agent_moves.any():
            e = E[agent_moves]
            self.agent_grid[e * self.cells + p[agent_moves]] = -1
            self.agent_grid[e * self.cells + new_pos[agent_moves]] = a
            self.pos[:, a] = new_pos

    def _end_of_prep(self, rows: np.ndarray) -> None:
        self.obj_prep_end[rows] = self.obj_pos[rows]
        self.stats[rows, STAT_INDEX["hiders_enclosed_prep_end"]] = self._enclosed(rows)

    def _enclosed(self, rows: np.ndarray) -> np.ndarray:
        """Fort detection (``fort.py``) for the given envs, vectorized flood fill."""
        W = self.cols
        walls = self.walls.reshape(self.num_envs, self.rows, W)[rows]
        obj = np.stack(np.divmod(self.obj_pos[rows], W), axis=-1)
        ag = np.stack(np.divmod(self.pos[rows], W), axis=-1)
        return hiders_enclosed_batch(walls, obj, self.obj_kind, self.obj_lock[rows], ag, self.cfg.n_hiders)

    # ---- vision and observations -----------------------------------------------------------
    def _fill_codes(self) -> np.ndarray:
        """Per-cell bit codes in the padded grid (padding: nothing, cells there are never visible)."""
        N, pc = self.num_envs, self.pcells
        code = self.code_pad
        code[:] = 0
        view = code.reshape(N, pc)
        view[:, self.cell_to_pad] = self.walls.reshape(N, self.cells) * WALL_BIT
        og = self.pad_base[:, None] + self.cell_to_pad[self.obj_pos]
        kind_bits = np.where(self.obj_kind == BOX, BOX_BIT, RAMP_BIT)[None, :]
        lock_bits = np.where(self.obj_lock == HIDERS, LOCK_H_BIT, np.where(self.obj_lock == SEEKERS, LOCK_S_BIT, 0))
        code[og] |= (kind_bits | lock_bits).astype(np.uint8)
        ag = self.pad_base[:, None] + self.cell_to_pad[self.pos]
        code[ag] |= np.where(self.team == HIDERS, HIDER_BIT, SEEKER_BIT).astype(np.uint8)[None, :]
        return code

    def _observe(self, return_visible: bool = False):
        """Observations of all agents; arrays are laid out (agent, env, ...) so each agent's block is contiguous.

        Only in-cone cells are ray-traced. Each seen cell's code is remapped so that bit k is
        observation channel k for the viewer's team, then unpacked into 8 floats per cell.
        """
        cfg, A, N = self.cfg, self.n_agents, self.num_envs
        code = self._fill_codes()
        blocks = ((code & (WALL_BIT | BOX_BIT)) != 0).view(np.uint8)
        facing = self.facing.T  # (A, N)
        center = (self.pad_base[:, None] + self.cell_to_pad[self.pos]).T  # (A, N)
        rays = blocks[center[:, :, None, None] + self.cone_rays[facing]]  # (A, N, Kc, L)
        blocked = rays.view(self.ray_word).reshape(rays.shape[:3] + (-1,)).any(-1)  # (A, N, Kc)
        seen_code = code[center[:, :, None] + self.cone_off[facing]] | VISIBLE_BIT
        seen_code[blocked] = 0
        K = cfg.window**2
        full = np.zeros((A, N, K), dtype=np.uint8)
        for a in range(A):
            np.put_along_axis(full[a], self.cone_k[facing[a]], self.channel_code[self.team[a]][seen_code[a]], axis=1)
        n_ch = len(OBS_CHANNELS)
        out = np.empty((A, N, cfg.obs_size), dtype=np.float32)
        win = out[:, :, : n_ch * K].reshape(A, N, K, n_ch)
        win[:] = np.unpackbits(full[..., None], axis=-1, bitorder="little")
        win[:, :, self.center_k, OBS_CHANNELS.index("teammate")] = 0.0  # the agent itself is not a teammate
        out[:, :, n_ch * K :] = self._own_features().transpose(1, 0, 2)
        obs = {name: out[a] for a, name in enumerate(self.possible_agents)}
        return (obs, (full & 1) != 0) if return_visible else obs

    def _agent_features(self) -> np.ndarray:
        """(N, A, 7): row, col (scaled to [0, 1]), facing one-hot, holding."""
        N, A = self.num_envs, self.n_agents
        f = np.zeros((N, A, 7), dtype=np.float32)
        r, c = np.divmod(self.pos, self.cols)
        f[..., 0] = r / (self.rows - 1)
        f[..., 1] = c / (self.cols - 1)
        np.put_along_axis(f[..., 2:6], self.facing[..., None], 1.0, axis=-1)
        f[..., 6] = self.holding >= 0
        return f

    def _own_features(self) -> np.ndarray:
        cfg = self.cfg
        f = self._agent_features()
        tail = np.empty(f.shape[:2] + (3,), dtype=np.float32)
        tail[..., 0] = (self.t < cfg.prep_steps)[:, None]
        tail[..., 1] = (self.t / cfg.horizon)[:, None]
        tail[..., 2] = (self.team == SEEKERS)[None, :]
        return np.concatenate([f, tail], axis=-1)

    def _hider_seen(self, visible: np.ndarray) -> np.ndarray:
        cfg = self.cfg
        R, Wn, nh = cfg.view_radius, cfg.window, cfg.n_hiders
        hr, hc = np.divmod(self.pos[:, :nh], self.cols)  # (N, H)
        sr, sc = np.divmod(self.pos[:, nh:], self.cols)  # (N, S)
        dr = hr[:, None, :] - sr[:, :, None]  # (N, S, H)
        dc = hc[:, None, :] - sc[:, :, None]
        inwin = (np.abs(dr) <= R) & (np.abs(dc) <= R)
        k = np.where(inwin, (dr + R) * Wn + (dc + R), 0)
        vis = np.take_along_axis(visible[nh:].transpose(1, 0, 2), k, axis=2)
        return (vis & inwin).any(axis=(1, 2))

    # ---- global state ------------------------------------------------------------------------
    def diversity_state(self) -> dict[str, np.ndarray]:
        """(N, 2 (agents + objects)) per agent: the single env's ``diversity_state`` of every copy."""
        flat = np.concatenate([self.pos, self.obj_pos], axis=1)  # (N, A + O) cell indices
        rc = np.stack([flat // self.cols, flat % self.cols], axis=2).astype(np.float32)
        ds = (rc / np.array([self.rows - 1, self.cols - 1], dtype=np.float32)).reshape(self.num_envs, -1)
        return {a: ds for a in self.possible_agents}

    def state(self) -> dict[str, np.ndarray]:
        """Agent-specific global state, (N, state_size) per agent; same layout as ``HideAndSeekEnv``."""
        cfg, N, A, C = self.cfg, self.num_envs, self.n_agents, self.cells
        code = self._fill_codes().reshape(N, self.pcells)[:, self.cell_to_pad]  # (N, cells)
        n_map = len(STATE_CHANNELS) - 1  # the last grid channel ("self") is per agent
        common = np.zeros((N, cfg.state_size(self.rows, C // self.rows)), dtype=np.float32)
        grid = common[:, : n_map * C].reshape(N, n_map, C)
        grid[:] = np.unpackbits(code[:, None, :], axis=1, count=n_map, bitorder="little")
        tail = len(STATE_CHANNELS) * C
        feats = self._agent_features().reshape(N, -1)
        common[:, tail : tail + feats.shape[1]] = feats
        tail += feats.shape[1]
        common[:, tail] = self.t < cfg.prep_steps
        common[:, tail + 1] = self.t / cfg.horizon
        tail += 2
        out = {}
        for a, name in enumerate(self.possible_agents):
            s = common.copy()
            s[self.env_ids, n_map * C + self.pos[:, a]] = 1.0
            s[:, tail + a] = 1.0
            s[:, tail + A + int(self.team[a])] = 1.0
            out[name] = s
        return out

    # ---- episode statistics ---------------------------------------------------------------------
    def _episode_stats(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Per-env arrays of episode totals (valid where ``done``), same keys as the single env."""
        cfg, W = self.cfg, self.cols
        st = self.stats.copy()
        ix = STAT_INDEX

        def manhattan(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            (xr, xc), (yr, yc) = np.divmod(x, W), np.divmod(y, W)
            return np.abs(xr - yr) + np.abs(xc - yc)

        for kind, name, plural in ((BOX, "box", "boxes"), (RAMP, "ramp", "ramps")):
            sel = self.obj_kind == kind
            st[:, ix[f"{name}_displacement_prep"]] = manhattan(self.obj_start, self.obj_prep_end)[:, sel].sum(1)
            after = manhattan(self.obj_prep_end, self.obj_pos)[:, sel].sum(1)
            st[:, ix[f"{name}_displacement_after"]] = np.where(self.t >= cfg.prep_steps, after, 0)
            for team, tname in ((HIDERS, "hiders"), (SEEKERS, "seekers")):
                st[:, ix[f"{plural}_locked_{tname}_end"]] = (self.obj_lock[:, sel] == team).sum(1)
        post = np.maximum(self.t - cfg.prep_steps, 0)
        st[:, ix["hidden_fraction"]] = np.where(post > 0, st[:, ix["hidden_steps"]] / np.maximum(post, 1), 0.0)
        if len(rows):
            st[rows, ix["hiders_enclosed_end"]] = self._enclosed(rows)
        episode = {k: st[:, ix[k]].copy() for k in STAT_KEYS}
        team_returns = {HIDERS: st[:, ix["return_hiders"]], SEEKERS: st[:, ix["return_seekers"]]}
        episode[ORIGINAL_RETURN_KEY] = sum(team_returns[int(t)] for t in self.team)
        for a, name in enumerate(self.possible_agents):
            episode[f"return/{name}"] = self.returns[:, a].copy()
        return episode

    def text_observation(self, agent: str, i: int = 0):
        """``agent``'s view of env ``i`` as text, for agents that read (see ``text.py``)."""
        return _text.text_observation(_text.scene_of_batched(self, i), self.cfg, list(self.possible_agents), agent)

    def render(self, index: int = 0, mode: str = "ansi"):
        """Picture of env ``index`` (``ansi`` text or ``rgb_array``)."""
        W, sl = self.cols, slice(index * self.cells, (index + 1) * self.cells)
        snap = (
            self.walls[sl].reshape(self.rows, W),
            np.stack(np.divmod(self.obj_pos[index], W), 1),
            self.obj_kind,
            self.obj_lock[index],
            np.stack(np.divmod(self.pos[index], W), 1),
            self.facing[index],
            self.cfg.n_hiders,
        )
        if mode == "ansi":
            return _render.ansi(*snap)
        if mode == "rgb_array":
            return _render.rgb(*snap)
        raise ConfigError(f"unknown render mode {mode!r}; allowed: ansi, rgb_array")


# the options, once (HideAndSeekConfig), as the class's signature: the registry reads it
HideAndSeekBatchedEnv.__signature__ = options_signature(
    HideAndSeekConfig,
    leading=(num_envs_parameter(64),),
    trailing=(keyword("reward_weights", None, "dict[str, float] | None"),),
)
