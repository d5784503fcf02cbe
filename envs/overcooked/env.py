"""PettingZoo ParallelEnv and batched env for Overcooked, on the numpy core in ``core.py``.

Reward of agent i at a step = team sparse reward (20 per delivered soup, summed over both cooks)
+ shaping_factor * (agent i's shaped reward: overcooked_ai's PLACEMENT_IN_POT_REW / DISH_PICKUP_REWARD /
SOUP_PICKUP_REWARD). The trainer may change ``shaping_factor`` during training (``set_reward_params``,
driven by the config's ``reward_schedule`` on the global env-step count; see diverse_marl/reward_schedule.py).

Reward features (``FEATURE_NAMES``, per agent and step): the agent's event counts (``EVENT_NAMES``),
``sparse`` (team sparse reward) and ``shaped`` (the agent's unscaled shaped reward). With
``reward_weights`` the reward is ``w . features`` instead (the default reward is
``{sparse: 1, shaped: shaping_factor}``); the env's own reward stays in ``original_reward``.

Global state for centralized critics (``state(agent)`` / ``state_space(agent)``): overcooked_ai's lossless
grid encoding from that agent's perspective, flattened (it holds both cooks, held items, pots, counter
objects and the time-to-horizon "urgency" layer).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from diverse_marl.envs.options import num_envs_parameter, options_signature, parse_options
from diverse_marl.envs.overcooked import render as _render
from diverse_marl.envs.overcooked.core import (
    ACTION_NAMES,
    NUM_ACTIONS,
    NUM_PLAYERS,
    BatchState,
    OvercookedDynamics,
)
from diverse_marl.envs.overcooked.events import EVENT_NAMES, NUM_EVENTS, ROLE_EVENTS
from diverse_marl.envs.overcooked.features import Featurizer
from diverse_marl.envs.overcooked.layouts import Layout, get_layout
from diverse_marl.envs.overcooked.potential import DEFAULT_POTENTIAL_GAMMA, SoupPotential
from diverse_marl.envs.overcooked.start_states import check_random_start, randomize_rows
from diverse_marl.envs.overcooked.state_dict import state_from_dict, state_to_dict
from diverse_marl.envs.overcooked.text import text_observation
from diverse_marl.envs.reward import (
    DIVERSITY_STATE_KEY,
    FEATURES_KEY,
    ORIGINAL_KEY,
    ORIGINAL_RETURN_KEY,
    WeightedReward,
)
from diverse_marl.errors import ConfigError
from diverse_marl.metrics import LAYOUT_START_SPARSE_RETURN, SPARSE_RETURN

AGENTS = ("agent_0", "agent_1")
# overcooked_ai's event shaping, potential-based shaping (potential.py), or the sum of both
SHAPING_KINDS = ("events", "potential", "events+potential")
NUM_OBJECTS = 5  # held object codes 0 nothing, 1 onion, 2 tomato, 3 dish, 4 soup (core.py)
NUM_ORIENTATIONS = 4


@functools.lru_cache(maxsize=64)
def _scaled_positions(width: int, height: int) -> tuple[list[float], list[float]]:
    """x -> x / (width - 1) and y -> y / (height - 1) as float32 values (computed in float32, as the
    batched path does), kept as Python floats for the one-env path of ``diversity_state``."""
    scale = np.array([max(width - 1, 1), max(height - 1, 1)], dtype=np.float32)
    xs = (np.arange(width, dtype=np.float32) / scale[0]).tolist()
    ys = (np.arange(height, dtype=np.float32) / scale[1]).tolist()
    return xs, ys


def diversity_state(s: BatchState, layout: Layout) -> np.ndarray:
    """(N, 22) compact state for state-distance diversity (SIPO): per cook its (x, y) scaled to
    [0, 1], one-hot orientation and one-hot held object; the same vector for both agents."""
    n = s.pos.shape[0]
    if n == 1:  # one env: Python lists (numpy's per-call overhead dominates); same float32 values
        xs, ys = _scaled_positions(layout.width, layout.height)
        row: list[float] = []
        for (x, y), o, h in zip(s.pos[0].tolist(), s.ori[0].tolist(), s.held[0].tolist()):
            block = [xs[x], ys[y]] + [0.0] * (NUM_ORIENTATIONS + NUM_OBJECTS)
            block[2 + o] = 1.0
            block[2 + NUM_ORIENTATIONS + min(max(h, 0), NUM_OBJECTS - 1)] = 1.0
            row += block
        return np.array([row], dtype=np.float32)
    scale = np.array([max(layout.width - 1, 1), max(layout.height - 1, 1)], dtype=np.float32)
    pos = s.pos.astype(np.float32) / scale  # (N, 2, 2)
    ori = np.eye(NUM_ORIENTATIONS, dtype=np.float32)[s.ori]  # (N, 2, 4)
    held = np.eye(NUM_OBJECTS, dtype=np.float32)[np.clip(s.held, 0, NUM_OBJECTS - 1)]  # (N, 2, 5)
    return np.concatenate([pos, ori, held], axis=2).reshape(n, -1)


OBS_TYPES = ("featurized", "lossless")
RENDER_MODES = ("ansi", "rgb_array")
DEFAULT_HORIZON = 400
FEATURE_NAMES: tuple[str, ...] = (*EVENT_NAMES, "sparse", "shaped")
SPARSE_FEATURE, SHAPED_FEATURE = NUM_EVENTS, NUM_EVENTS + 1  # indices in FEATURE_NAMES


# ---- observations (encodings live in features.py, written against BatchState) ----------------------
def make_encoders(obs: str, layout: Layout, horizon: int) -> tuple[Callable, tuple, Callable, tuple]:
    """``(encode_obs, obs_shape, encode_state, state_shape)`` sharing one Featurizer (features.py).

    encode_obs(state) -> (N, 2, *obs_shape) float32; encode_state(state) -> (N, 2, state_size) float32,
    the lossless encoding from each agent's view, flattened (agent-specific global state).
    """
    featurizer = Featurizer(layout, horizon=horizon)
    if obs == "featurized":
        encode_obs, obs_shape = featurizer.featurize, (featurizer.feature_dim,)
    elif obs == "lossless":
        encode_obs, obs_shape = featurizer.lossless, tuple(featurizer.lossless_shape)
    else:
        raise ConfigError(f"unknown obs {obs!r}; allowed: {', '.join(OBS_TYPES)}")
    size = int(np.prod(featurizer.lossless_shape))

    def encode_state(s: BatchState) -> np.ndarray:
        return featurizer.lossless(s).reshape(s.num_envs, NUM_PLAYERS, size)

    return encode_obs, obs_shape, encode_state, (size,)


def weighted_rewards(
    weights: np.ndarray, events: np.ndarray, team_sparse: np.ndarray, shaped: np.ndarray
) -> np.ndarray:
    """(N, 2) rewards ``w . features`` from the feature parts: events (N, 2, E), team sparse (N,), shaped (N, 2).

    ``weights``: (F,) for both cooks or (2, F), one row per cook (``RewardWeights.matrix``). One matrix
    product per cook over the events, no per-copy Python (the batched env calls it every step).
    """
    w = np.broadcast_to(np.asarray(weights, dtype=np.float64), (NUM_PLAYERS, len(FEATURE_NAMES)))
    # a float matrix-vector product runs in BLAS; int32 @ float64 would take numpy's slow mixed-type loop
    ev = events.astype(np.float64)
    per_event = np.stack([ev[:, p] @ w[p, :NUM_EVENTS] for p in range(NUM_PLAYERS)], axis=1)
    return per_event + team_sparse[:, None] * w[:, SPARSE_FEATURE] + shaped * w[:, SHAPED_FEATURE]


@dataclass(frozen=True)
class OvercookedOptions:
    """Every option of the Overcooked env, single and batched (documented on :class:`OvercookedEnv`)."""

    layout: str | Layout = "cramped_room"
    horizon: int = DEFAULT_HORIZON
    old_dynamics: bool = False
    obs: str = "featurized"
    reward_shaping: dict[str, float] | None = None
    shaping_factor: float = 1.0
    reward_weights: dict[str, float] | None = None
    render_mode: str | None = None
    shaping: str = "events"
    potential_gamma: float = DEFAULT_POTENTIAL_GAMMA
    random_start: float = 0.0


class _OvercookedReward(WeightedReward):
    """What both Overcooked classes share: features, shaping factor, weights and the reward rule."""

    FEATURE_NAMES = FEATURE_NAMES
    REWARD_PARAMS = ("shaping_factor", "random_start")  # what a reward_schedule may change during training
    WEIGHT_AGENTS = AGENTS  # reward_weights may pay one cook: {"agent_0/potting_onion": 3}
    ACTION_NAMES = ACTION_NAMES  # what the analysis calls the actions
    ROLE_EVENTS = ROLE_EVENTS  # events whose per-cook shares say who does what (analysis descriptors, report)

    def _init_kitchen(self, o: OvercookedOptions) -> None:
        """What both classes build from the options: layout, dynamics, reward rule, encoders, spaces."""
        self.layout = get_layout(o.layout)
        self.horizon = int(o.horizon)
        self.old_dynamics = bool(o.old_dynamics)
        self.render_mode = o.render_mode
        self.dynamics = OvercookedDynamics(self.layout, o.old_dynamics, o.reward_shaping)
        self.shaping_factor = float(o.shaping_factor)
        self._init_weights(o.reward_weights)
        self._init_shaping(o.shaping, o.potential_gamma, o.reward_shaping)
        self._init_random_start(o.random_start)
        self.possible_agents = list(AGENTS)
        self._encode, obs_shape, self._encode_state, state_shape = make_encoders(o.obs, self.layout, self.horizon)
        self._obs_space = gym.spaces.Box(-np.inf, np.inf, obs_shape, np.float32)
        self._state_space = gym.spaces.Box(-np.inf, np.inf, state_shape, np.float32)

    def _init_shaping(self, shaping: str, potential_gamma: float, reward_shaping: dict | None) -> None:
        if shaping not in SHAPING_KINDS:
            raise ConfigError(f"unknown shaping {shaping!r}; allowed: {', '.join(SHAPING_KINDS)}")
        if shaping == "potential" and reward_shaping:
            raise ConfigError(
                "reward_shaping sets overcooked_ai's event shaping; it has no effect with "
                "shaping: potential (remove one of them)"
            )
        if not isinstance(potential_gamma, (int, float)) or not 0.0 < potential_gamma <= 1.0:
            raise ConfigError(f"potential_gamma must be a number in (0, 1], got {potential_gamma!r}")
        self.shaping = shaping
        self._potential = SoupPotential(self.layout, float(potential_gamma)) if shaping != "events" else None
        self._phi: np.ndarray | None = None

    def _potential_shaping(self, s: BatchState, shaped: np.ndarray) -> np.ndarray:
        """The step's (N, 2) shaped reward: the events' one, gamma * phi(s') - phi(s) for both cooks, or their sum.

        Call right after the dynamics' step, before any reset; ``_phi`` holds phi of the state the step
        started from and is updated here (``_reset_phi`` refreshes it for kitchens that restart).
        """
        if self._potential is None:
            return shaped
        phi_after = self._potential(s)
        team = self._potential.shaped_reward(self._phi, phi_after)
        self._phi = phi_after
        both = np.repeat(team[:, None], NUM_PLAYERS, axis=1)
        return both if self.shaping == "potential" else shaped + both

    def set_reward_params(self, **values: Any) -> None:
        if "random_start" in values:  # a schedule's points are checked like the env option
            values["random_start"] = check_random_start(values["random_start"])
        super().set_reward_params(**values)

    def _init_random_start(self, random_start: float) -> None:
        self.random_start = check_random_start(random_start)
        self._rng = np.random.default_rng(0)

    def _start_states(self, s: BatchState, rows: np.ndarray, seed: int | None = None) -> np.ndarray:
        """Turn each kitchen in ``rows`` (bool mask of kitchens at their layout start) into a random start
        with probability ``random_start``; returns the (N,) mask of kitchens that now start at random."""
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        chosen = np.zeros(s.num_envs, dtype=bool)
        if self.random_start > 0.0:
            chosen = rows & (self._rng.random(s.num_envs) < self.random_start)
            randomize_rows(s, np.flatnonzero(chosen), self.layout, self.old_dynamics, self._rng)
        return chosen

    def _reset_phi(self, s: BatchState, rows: np.ndarray | None = None) -> None:
        if self._potential is None:
            return
        if rows is None or self._phi is None:
            self._phi = self._potential(s)
        else:
            self._phi[rows] = self._potential(s.select(rows))

    def _rewards(self, events: np.ndarray, team: np.ndarray, shaped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rewards, original rewards), both (N, 2)."""
        original = team[:, None] + self.shaping_factor * shaped
        if self.weights is None:
            return original, original
        return weighted_rewards(self.weights.matrix, events, team, shaped), original


def _check_common(horizon: int, obs: str, render_mode: str | None) -> None:
    if not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ConfigError(f"horizon must be a positive int, got {horizon!r}")
    if obs not in OBS_TYPES:
        raise ConfigError(f"unknown obs {obs!r}; allowed: {', '.join(OBS_TYPES)}")
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ConfigError(f"unknown render_mode {render_mode!r}; allowed: {', '.join(RENDER_MODES)} or None")


def _check_actions(actions: np.ndarray, agent: str) -> None:
    bad = (actions < 0) | (actions >= NUM_ACTIONS)
    if bad.any():
        value = actions[bad][0].item()
        raise ConfigError(
            f"illegal action {value!r} for {agent}; allowed: integers 0..{NUM_ACTIONS - 1} "
            "(0 north, 1 south, 2 east, 3 west, 4 stay, 5 interact)"
        )


def _single_action(actions: dict, agent: str) -> int:
    """One agent's action as an int, validated (fast path for plain ints)."""
    try:
        value = actions[agent]
    except KeyError:
        raise ConfigError(f"missing action for {agent}; give one action per agent in {', '.join(AGENTS)}") from None
    if type(value) is int or isinstance(value, np.integer):
        if 0 <= value < NUM_ACTIONS:
            return int(value)
        raise ConfigError(
            f"illegal action {int(value)!r} for {agent}; allowed: integers 0..{NUM_ACTIONS - 1} "
            "(0 north, 1 south, 2 east, 3 west, 4 stay, 5 interact)"
        )
    return int(_as_action_array(value, agent, 1)[0])


def _as_action_array(value: Any, agent: str, n: int) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        if arr.dtype.kind == "f" and np.all(np.mod(arr, 1) == 0):
            arr = arr.astype(np.int64)
        else:
            raise ConfigError(f"illegal action {value!r} for {agent}; allowed: integers 0..{NUM_ACTIONS - 1}")
    arr = arr.astype(np.int64).reshape(-1)
    if arr.size != n:
        raise ConfigError(f"actions for {agent} must have {n} entries, got shape {np.shape(value)}")
    _check_actions(arr, agent)
    return arr


class OvercookedEnv(_OvercookedReward, ParallelEnv):
    """Two cooks in an overcooked_ai kitchen (PettingZoo ``ParallelEnv``).

    Args:
        layout: a classic layout name (``list_layouts()``), a text grid, or a ``Layout``.
        horizon: episode length (episodes are truncated, never terminated).
        old_dynamics: True = pots start cooking by themselves at 3 ingredients (2019 paper);
            False = a cook starts a non-empty pot by interacting with it.
        obs: "featurized" (overcooked_ai's 96 features per agent) or "lossless" (grid encoding).
        reward_shaping: overrides of overcooked_ai's shaping params (PLACEMENT_IN_POT_REW, DISH_PICKUP_REWARD,
            SOUP_PICKUP_REWARD).
        shaping: "events" (overcooked_ai's event shaping, the default), "potential": the shaped reward is
            ``potential_gamma * phi(s') - phi(s)`` for both cooks, phi = discounted value of the soups on
            their way to delivery (potential.py); it cannot be farmed with worthless soups; or
            "events+potential", the sum of both (events to find the first stages, phi to carry soups to the window).
        potential_gamma: discount of the potential (set it to the trainer's gamma).
        shaping_factor: weight of the shaped reward (a ``reward_schedule`` can anneal it during training).
        reward_weights: ``{feature: w}`` over ``FEATURE_NAMES``; the reward becomes ``w . features``
            (``agent_1/soup_delivery: 5``: a weight for one cook only).
        render_mode: None, "ansi" or "rgb_array".
        random_start: probability that an episode starts from a random state (cooks anywhere, objects in
            hands and pots; ``start_states.py``) instead of the layout's start: an exploration curriculum
            that a ``reward_schedule`` anneals to 0. The random draws follow ``reset(seed)``.

    ``infos[agent]`` at every step: "sparse_reward" (team), "shaped_reward" (this agent, unscaled),
    "shaping_factor", "events" ((len(EVENT_NAMES),) int counts of this step), "reward_features"
    (dict over ``FEATURE_NAMES``), "original_reward" and, at the last step, "episode_events"
    (episode totals as a dict event name -> count).
    """

    metadata = {"name": "overcooked", "render_modes": list(RENDER_MODES), "is_parallelizable": True, "render_fps": 5}

    def __init__(self, **options: Any):
        """``options``: the fields of :class:`OvercookedOptions` (the signature lists them)."""
        o = parse_options(OvercookedOptions, options, "overcooked")
        _check_common(o.horizon, o.obs, o.render_mode)
        self._init_kitchen(o)
        self.obs_type = o.obs
        self.agents: list[str] = []
        self._act_space = gym.spaces.Discrete(NUM_ACTIONS)
        self._s = BatchState.initial(self.layout, 1)
        self._episode_events = np.zeros((NUM_PLAYERS, NUM_EVENTS), dtype=np.int64)

    @classmethod
    def batched(cls, num_envs: int, **kwargs: Any) -> OvercookedBatchedEnv:
        return OvercookedBatchedEnv(num_envs, **kwargs)

    # ---- spaces --------------------------------------------------------------------------------------

    def observation_space(self, agent: str) -> gym.spaces.Box:
        self._check_agent(agent)
        return self._obs_space

    def action_space(self, agent: str) -> gym.spaces.Discrete:
        self._check_agent(agent)
        return self._act_space

    def state_space(self, agent: str) -> gym.spaces.Box:
        self._check_agent(agent)
        return self._state_space

    def _check_agent(self, agent: str) -> None:
        if agent not in AGENTS:
            raise ConfigError(f"unknown agent {agent!r}; allowed: {', '.join(AGENTS)}")

    # ---- episode -------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start state of the layout (or, with ``random_start``, a random one drawn from ``seed``'s stream)."""
        self._s = BatchState.initial(self.layout, 1)
        self._start_states(self._s, np.ones(1, dtype=bool), seed)
        self._reset_phi(self._s)
        self._episode_events[:] = 0
        self.agents = list(AGENTS)
        ds = diversity_state(self._s, self.layout)[0]
        return self._observations(), {a: {DIVERSITY_STATE_KEY: ds} for a in AGENTS}

    def step(self, actions: dict[str, int]):
        if not self.agents:
            raise ConfigError("step() called on a finished episode; call reset() first")
        joint = [_single_action(actions, agent) for agent in AGENTS]
        if len(actions) != NUM_PLAYERS:
            unknown = sorted(set(actions) - set(AGENTS))
            raise ConfigError(f"actions for unknown agent(s) {unknown}; agents: {', '.join(AGENTS)}")
        sparse, shaped, events = self.dynamics.step_scalar(self._s, [joint])
        shaped = self._potential_shaping(self._s, shaped)
        ev = events[0]
        self._episode_events += ev
        sp, sh = sparse[0].tolist(), shaped[0].tolist()
        team_sparse, factor = sp[0] + sp[1], self.shaping_factor
        original = [team_sparse + factor * sh[0], team_sparse + factor * sh[1]]  # plain floats: fast for N = 1
        rew = (
            original
            if self.weights is None
            else weighted_rewards(self.weights.matrix, events, sparse.sum(1), shaped)[0].tolist()
        )
        done = int(self._s.timestep[0]) >= self.horizon
        ev_float = ev.astype(np.float64).tolist()
        rewards, infos = {}, {}
        ds = diversity_state(self._s, self.layout)[0]
        for p, agent in enumerate(AGENTS):
            rewards[agent] = rew[p]
            ev_float[p] += (team_sparse, sh[p])
            features = dict(zip(FEATURE_NAMES, ev_float[p]))
            infos[agent] = {
                "sparse_reward": team_sparse,
                "shaped_reward": sh[p],
                "shaping_factor": factor,
                "events": ev[p],
                FEATURES_KEY: features,
                ORIGINAL_KEY: original[p],
                DIVERSITY_STATE_KEY: ds,
            }
            if done:
                # episode totals by name: what metrics, eval reports and descriptors read
                infos[agent]["episode_events"] = dict(zip(EVENT_NAMES, self._episode_events[p].tolist()))
        terminations = {a: False for a in AGENTS}
        truncations = {a: done for a in AGENTS}
        obs = self._observations()
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def _observations(self) -> dict[str, np.ndarray]:
        o = self._encode(self._s)
        return {a: o[0, p] for p, a in enumerate(AGENTS)}

    def state(self, agent: str | None = None) -> np.ndarray:
        """Agent-specific global state of ``agent`` (flat float32); without an agent, both stacked (2, size)."""
        st = self._encode_state(self._s)[0]
        if agent is None:
            return st
        self._check_agent(agent)
        return st[AGENTS.index(agent)]

    # ---- overcooked_ai state exchange ------------------------------------------------------------------
    def get_state(self) -> dict[str, Any]:
        """The current state as overcooked_ai's ``OvercookedState.to_dict()``."""
        return state_to_dict(self.layout, self._s, 0)

    def set_state(self, state: dict[str, Any]) -> None:
        """Load an overcooked_ai state dict (e.g. from ``get_state`` or ``OvercookedState.to_dict()``)."""
        state_from_dict(self.layout, state, self._s, 0)
        self._reset_phi(self._s)
        self.agents = list(AGENTS) if self._s.timestep[0] < self.horizon else []

    @property
    def batch_state(self) -> BatchState:
        """The raw arrays (N = 1), e.g. for features or analysis."""
        return self._s

    def text_observation(self, agent: str, i: int = 0):
        """``agent``'s view of the kitchen as text, for agents that read (see ``text.py``)."""
        self._check_agent(agent)
        return text_observation(self.layout, self._s, 0, agent, list(AGENTS), self.horizon)

    # ---- rendering -----------------------------------------------------------------------------------
    def render(self):
        if self.render_mode == "ansi":
            return _render.render_text(self.layout, self._s, 0)
        if self.render_mode == "rgb_array":
            return _render.render_rgb(self.layout, self._s, 0)
        return None

    def close(self) -> None:
        pass


# the options, once (OvercookedOptions), as the class's signature: the registry reads it
OvercookedEnv.__signature__ = options_signature(OvercookedOptions)


class OvercookedBatchedEnv(_OvercookedReward):
    """N Overcooked kitchens stepped together with vectorized numpy (the BatchedEnv protocol, envs/batched.py).

    Same options as :class:`OvercookedEnv`. Per-step infos: "sparse_reward" (N,), "shaped_reward" (N, 2),
    "events" (N, 2, len(EVENT_NAMES)) (these three are the reward features), "shaping_factor",
    "original_reward" ({agent: (N,)}); on episode end (same-step auto-reset) "final_obs",
    "final_state", "done" and "episode" with "return/<agent>", "original_return" (team), "sparse_return",
    "shaped_return/<agent>", "length" and "events" ((N, 2, len(EVENT_NAMES)) episode totals), valid where ``done``.
    """

    def __init__(self, num_envs: int, **options: Any):
        """``options``: the fields of :class:`OvercookedOptions` (the signature lists them)."""
        if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ConfigError(f"num_envs must be a positive int, got {num_envs!r}")
        o = parse_options(OvercookedOptions, options, "overcooked")
        _check_common(o.horizon, o.obs, o.render_mode)
        self.num_envs = int(num_envs)
        self._init_kitchen(o)
        self.s = BatchState.initial(self.layout, self.num_envs)
        self._random = np.zeros(self.num_envs, dtype=bool)  # kitchens whose episode began at a random start
        self._reset_phi(self.s)
        self._reset_totals()

    def _reset_totals(self) -> None:
        n = self.num_envs
        self._ret = np.zeros((n, NUM_PLAYERS))
        self._original_ret = np.zeros(n)
        self._sparse_ret = np.zeros(n)
        self._shaped_ret = np.zeros((n, NUM_PLAYERS))
        self._ep_events = np.zeros((n, NUM_PLAYERS, NUM_EVENTS), dtype=np.int64)

    def observation_space(self, agent: str) -> gym.spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> gym.spaces.Discrete:
        return gym.spaces.Discrete(NUM_ACTIONS)

    def state_space(self, agent: str) -> gym.spaces.Box:
        return self._state_space

    def reset(self, seed: int | None = None) -> tuple[dict[str, np.ndarray], dict]:
        """All envs to the layout's start state (with ``random_start``, some to random ones from ``seed``'s stream)."""
        self.s = BatchState.initial(self.layout, self.num_envs)
        self._random = self._start_states(self.s, np.ones(self.num_envs, dtype=bool), seed)
        self._reset_phi(self.s)
        self._reset_totals()
        return self._obs_dict(self._encode(self.s)), {}

    def _obs_dict(self, o: np.ndarray) -> dict[str, np.ndarray]:
        return {a: o[:, p] for p, a in enumerate(AGENTS)}

    def step(self, actions: dict[str, np.ndarray]):
        joint = np.stack(
            [_as_action_array(actions[a] if a in actions else _missing(a), a, self.num_envs) for a in AGENTS], axis=1
        )
        sparse, shaped, events = self.dynamics.step(self.s, joint)
        shaped = self._potential_shaping(self.s, shaped)
        team = sparse.sum(1)
        rew, original = self._rewards(events, team, shaped)
        self._ret += rew
        self._original_ret += original.sum(1)
        self._sparse_ret += team
        self._shaped_ret += shaped
        self._ep_events += events
        done = self.s.timestep >= self.horizon
        infos: dict[str, Any] = {
            "sparse_reward": team,
            "shaped_reward": shaped,
            "events": events,
            "shaping_factor": self.shaping_factor,
            "done": done,
            ORIGINAL_KEY: {a: original[:, p] for p, a in enumerate(AGENTS)},
        }
        if done.any():
            infos["final_obs"] = self._obs_dict(self._encode(self.s))
            infos["final_state"] = self._obs_dict(self._encode_state(self.s))
            ep: dict[str, np.ndarray] = {
                "length": self.s.timestep.copy(),
                SPARSE_RETURN: self._sparse_ret.copy(),
                ORIGINAL_RETURN_KEY: self._original_ret.copy(),
                "events": self._ep_events.copy(),
                # NaN for random starts: the runner's mean skips them (runner_metrics.py)
                LAYOUT_START_SPARSE_RETURN: np.where(self._random, np.nan, self._sparse_ret),
            }
            for p, a in enumerate(AGENTS):
                ep[f"return/{a}"] = self._ret[:, p].copy()
                ep[f"shaped_return/{a}"] = self._shaped_ret[:, p].copy()
                # each event total as its own (N,) array, named like the single env's episode_events
                for e, name in enumerate(EVENT_NAMES):
                    ep[f"{a}/{name}"] = self._ep_events[:, p, e].copy()
            infos["episode"] = ep
            self.s.reset_rows(done, self.layout)
            self._random[done] = self._start_states(self.s, done)[done]
            self._reset_phi(self.s, done)
            self._ret[done] = 0
            self._original_ret[done] = 0
            self._sparse_ret[done] = 0
            self._shaped_ret[done] = 0
            self._ep_events[done] = 0
        obs = self._obs_dict(self._encode(self.s))
        rewards = {a: rew[:, p] for p, a in enumerate(AGENTS)}
        terminations = {a: np.zeros(self.num_envs, dtype=bool) for a in AGENTS}
        truncations = {a: done.copy() for a in AGENTS}
        return obs, rewards, terminations, truncations, infos

    def state(self) -> dict[str, np.ndarray]:
        return self._obs_dict(self._encode_state(self.s))

    def diversity_state(self) -> dict[str, np.ndarray]:
        """(N, 22) per agent: the compact state SIPO measures (:func:`diversity_state`), current step."""
        ds = diversity_state(self.s, self.layout)
        return {a: ds for a in AGENTS}

    def get_state(self, i: int = 0) -> dict[str, Any]:
        return state_to_dict(self.layout, self.s, i)

    def set_state(self, state: dict[str, Any], i: int = 0) -> None:
        state_from_dict(self.layout, state, self.s, i)
        self._reset_phi(self.s, np.array([i]))

    def text_observation(self, agent: str, i: int = 0):
        """``agent``'s view of kitchen ``i`` as text, for agents that read (see ``text.py``)."""
        if agent not in AGENTS:
            raise ConfigError(f"unknown agent {agent!r}; allowed: {', '.join(AGENTS)}")
        return text_observation(self.layout, self.s, i, agent, list(AGENTS), self.horizon)

    def render(self, i: int = 0):
        if self.render_mode == "ansi":
            return _render.render_text(self.layout, self.s, i)
        if self.render_mode == "rgb_array":
            return _render.render_rgb(self.layout, self.s, i)
        return None

    def close(self) -> None:
        pass


OvercookedBatchedEnv.__signature__ = options_signature(OvercookedOptions, leading=(num_envs_parameter(),))


def _missing(agent: str):
    raise ConfigError(f"missing actions for {agent}; give an (N,) int array per agent in {', '.join(AGENTS)}")
