"""Tiny testbeds for checking that MARL algorithms do what they claim.

``CreditAssignmentEnv`` is a cooperative matching game built so that a *centralized* critic
matters: every step each agent privately sees a cue and must answer it; the team is paid
only when everyone answers correctly, scaled by a per-step "stakes" multiplier that no
actor sees. The global state (all cues + stakes) explains the reward almost entirely, while
an agent's own observation explains little of it - a decentralized critic is left with
high-variance advantages, a centralized one with clean ones. Honest caveat: the critic only
changes the variance of the policy gradient, so independent PPO learns this game too; with the
defaults both reach the optimum at the tests' budget. With 3 agents and rare high stakes
(``num_agents=3, stakes=(0, 0, 0, 0, 10)``) and 3k env steps, ``bench/mappo_credit_assignment.py``
measured MAPPO 21.0 vs IPPO 18.4 mean greedy return (5 seeds; one IPPO seed stuck at 5.6).

``MultiGoalEnv`` is the strategy-diversity testbed of SIPO (Fu et al. 2023): two agents on a
grid with a goal in every corner; every goal pays the same, so there are four equally good
strategies and the question is how many of them a method finds.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from diverse_marl.envs.reward import DIVERSITY_STATE_KEY, FEATURES_KEY, ORIGINAL_KEY, WeightedReward
from diverse_marl.errors import ConfigError

# reward features of each agent and step: the team reward, whether the whole team matched
# (unscaled by the hidden stakes), and whether this agent matched its own cue (individual credit)
FEATURE_NAMES = ("team_reward", "team_success", "own_match")
DEFAULT_STAKES = (0.0, 0.5, 1.0, 2.0, 4.0)
EXTRA_OBS_DIMS_HETEROGENEOUS = 3  # the "scout" team sees a few extra (uninformative) features


def check_actions(
    actions: dict[str, Any], live_agents: list[str], num_actions: int, mask: Callable[[str], np.ndarray] | None = None
) -> None:
    """The small testbeds' step-time check: every live agent acts, in range, and (given ``mask(agent)``,
    1 = allowed) never a masked-out action; one ConfigError naming the agent and the allowed values."""
    for a in live_agents:
        if a not in actions:
            raise ConfigError(f"missing action for live agent {a!r}; live agents: {', '.join(live_agents)}")
        act = int(actions[a])
        if not 0 <= act < num_actions:
            raise ConfigError(f"illegal action {act} for agent {a!r}; allowed: 0..{num_actions - 1}")
        if mask is not None and mask(a)[act] <= 0:
            allowed = [int(c) for c in np.flatnonzero(mask(a))]
            raise ConfigError(f"illegal action {act} for agent {a!r}: masked out; allowed now: {allowed}")


class CreditAssignmentEnv(WeightedReward, ParallelEnv):
    """Cooperative cue-matching game; team reward = stakes * [every agent matched its cue].

    Observation of agent i (Box float32): one-hot of its own cue (``num_cues``) and the
    episode progress ``t / episode_length``. Action: ``Discrete(num_cues)``.
    Reward (shared by all live agents): ``stakes_t * 1[a_i == cue_i for every live agent i]``.
    ``state()`` gives each agent the global state: all cues (one-hot, dead agents zero),
    the stakes, the progress and the agent's own one-hot id.

    Options:
        num_agents: team size.
        num_cues: cues/actions per agent; a random team succeeds with prob num_cues**-num_agents.
        episode_length: steps per episode (truncation).
        stakes: values the hidden per-step multiplier is drawn from, uniformly.
        early_termination: if True every agent except the first leaves (terminates) halfway
            through the episode - exercises agents that finish before the episode does.
        heterogeneous: if True agents form two teams ``scout_*`` / ``worker_*`` and scouts
            get ``EXTRA_OBS_DIMS_HETEROGENEOUS`` extra noise features (different obs spaces).
        action_masking: if True observations are ``{"observation": Box, "action_mask": Box}``
            and each step one wrong action per agent is unavailable; taking it raises.
        reward_weights: ``{feature: w}`` over ``FEATURE_NAMES`` (``team_reward``, ``team_success``,
            ``own_match``); the reward becomes ``w . features``.
    """

    FEATURE_NAMES = FEATURE_NAMES

    metadata = {"name": "credit_assignment_v0", "render_modes": []}

    def __init__(
        self,
        num_agents: int = 2,
        num_cues: int = 3,
        episode_length: int = 10,
        stakes: tuple[float, ...] | list[float] = DEFAULT_STAKES,
        early_termination: bool = False,
        heterogeneous: bool = False,
        action_masking: bool = False,
        reward_weights: dict[str, float] | None = None,
    ) -> None:
        if int(num_agents) < 1:
            raise ConfigError(f"num_agents must be >= 1, got {num_agents!r}")
        if int(num_cues) < 2:
            raise ConfigError(f"num_cues must be >= 2, got {num_cues!r}")
        if int(episode_length) < 1:
            raise ConfigError(f"episode_length must be >= 1, got {episode_length!r}")
        if len(stakes) == 0:
            raise ConfigError("stakes must list at least one value")
        self.n = int(num_agents)
        self.num_cues = int(num_cues)
        self.episode_length = int(episode_length)
        self.stakes = np.asarray(stakes, dtype=np.float32)
        self.early_termination = bool(early_termination)
        self.heterogeneous = bool(heterogeneous)
        self.action_masking = bool(action_masking)
        self._init_weights(reward_weights)
        self._masks = np.ones((self.n, self.num_cues), dtype=np.float32)
        if self.heterogeneous:
            half = (self.n + 1) // 2
            self.possible_agents = [f"scout_{i}" for i in range(half)] + [f"worker_{i}" for i in range(self.n - half)]
        else:
            self.possible_agents = [f"agent_{i}" for i in range(self.n)]
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        self.agents: list[str] = []
        self._rng = np.random.default_rng()
        self._t = 0
        self._cues = np.zeros(self.n, dtype=np.int64)
        self._stake = 0.0

    # ---- spaces ----
    def _obs_dim(self, agent: str) -> int:
        extra = EXTRA_OBS_DIMS_HETEROGENEOUS if agent.startswith("scout") else 0
        return self.num_cues + 1 + extra

    @functools.cache
    def observation_space(self, agent: str) -> spaces.Space:
        box = spaces.Box(0.0, 1.0, shape=(self._obs_dim(agent),), dtype=np.float32)
        if not self.action_masking:
            return box
        mask = spaces.Box(0, 1, shape=(self.num_cues,), dtype=np.int8)  # PettingZoo's convention
        return spaces.Dict({"observation": box, "action_mask": mask})

    @functools.cache
    def action_space(self, agent: str) -> spaces.Discrete:
        return spaces.Discrete(self.num_cues)

    def _state_dim(self) -> int:
        return self.n * self.num_cues + 2 + self.n

    @functools.cache
    def state_space(self, agent: str) -> spaces.Box:
        high = max(1.0, float(self.stakes.max()))
        return spaces.Box(0.0, high, shape=(self._state_dim(),), dtype=np.float32)

    # ---- dynamics ----
    def _draw(self) -> None:
        self._cues = self._rng.integers(0, self.num_cues, size=self.n)
        self._stake = float(self._rng.choice(self.stakes))
        self._masks[:] = 1.0
        if self.action_masking:
            for i in range(self.n):  # block one wrong action per agent
                wrong = [c for c in range(self.num_cues) if c != self._cues[i]]
                self._masks[i, wrong[int(self._rng.integers(len(wrong)))]] = 0.0

    def _obs(self, agent: str) -> Any:
        o = np.zeros(self._obs_dim(agent), dtype=np.float32)
        o[self._cues[self._index[agent]]] = 1.0
        o[self.num_cues] = self._t / self.episode_length
        if agent.startswith("scout"):
            o[self.num_cues + 1 :] = self._rng.random(EXTRA_OBS_DIMS_HETEROGENEOUS)
        if self.action_masking:
            return {"observation": o, "action_mask": self._masks[self._index[agent]].astype(np.int8)}
        return o

    def state(self) -> dict[str, np.ndarray]:
        """Agent-specific global state: every live agent's cue, the stakes, progress, own id."""
        base = np.zeros(self._state_dim(), dtype=np.float32)
        for a in self.agents:
            i = self._index[a]
            base[i * self.num_cues + self._cues[i]] = 1.0
        base[self.n * self.num_cues] = self._stake
        base[self.n * self.num_cues + 1] = self._t / self.episode_length
        out = {}
        for a in self.possible_agents:
            s = base.copy()
            s[self.n * self.num_cues + 2 + self._index[a]] = 1.0
            out[a] = s
        return out

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self._t = 0
        self._draw()
        return {a: self._obs(a) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        check_actions(actions, self.agents, self.num_cues, mask=lambda a: self._masks[self._index[a]])
        matched = {a: int(actions[a]) == self._cues[self._index[a]] for a in self.agents}
        success = all(matched.values())
        reward = self._stake * float(success)
        features = {
            a: {"team_reward": reward, "team_success": float(success), "own_match": float(matched[a])}
            for a in self.agents
        }
        rewards = {a: reward if self.weights is None else self.weights.dot(features[a]) for a in self.agents}
        self._t += 1
        truncated = self._t >= self.episode_length
        leaving = self.early_termination and self._t == self.episode_length // 2
        terms = {a: bool(leaving and self._index[a] > 0) for a in self.agents}
        truncs = {a: truncated for a in self.agents}
        self._draw()
        obs = {a: self._obs(a) for a in self.agents}
        infos = {a: {FEATURES_KEY: features[a], ORIGINAL_KEY: reward} for a in self.agents}
        self.agents = [a for a in self.agents if not (terms[a] or truncs[a])]
        return obs, rewards, terms, truncs, infos


def random_team_return(env: CreditAssignmentEnv) -> float:
    """Expected episode return of uniformly random actions (closed form, for tests)."""
    p_all = env.num_cues**-env.n
    mean_stake = float(env.stakes.mean())
    if not env.early_termination:
        return env.episode_length * mean_stake * p_all
    half = env.episode_length // 2
    return mean_stake * (half * p_all + (env.episode_length - half) / env.num_cues)


# ---------------------------------------------------------------------------------------
# multi-goal grid: four equally good strategies
# ---------------------------------------------------------------------------------------
MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]], dtype=np.int64)  # stay, up, down, left, right
GOAL_COLOURS = np.array([[120, 200, 120], [230, 200, 90], [150, 170, 230], [220, 150, 200]], dtype=np.uint8)
AGENT_COLOURS = np.array([[200, 40, 40], [40, 60, 200]], dtype=np.uint8)
RENDER_CELL = 32  # pixels per grid cell


# the terminal multi-goal testbed (``env: multi_goal`` with these options): episodes end at a goal
TERMINAL_MULTI_GOAL = {"size": 7, "horizon": 40, "end_at_goal": True}


class MultiGoalEnv(WeightedReward, ParallelEnv):
    """Two agents, a ``size`` x ``size`` grid, one goal in each corner (goal k: top-left, top-right,
    bottom-left, bottom-right). Both start in the centre.

    Each step both agents move (stay / up / down / left / right; off-grid moves stay). Whenever
    both stand on the same goal, each is paid ``goal_reward``: the best strategies walk to one
    corner together and stay, and all four corners pay the same. Episodes truncate after
    ``horizon`` steps.

    With ``end_at_goal=True`` the goal is *terminal*, as in most goal-reaching tasks: the episode
    ends (terminated) the first time both stand on the same goal, paid ``goal_reward`` once, so an
    episode's return is ``goal_reward`` or 0 and a method that pays per step for anything else can
    make not finishing worth more than finishing (the case SIPO's per-episode budget is built for,
    ``algorithms/diversity/terms.py``). :data:`TERMINAL_MULTI_GOAL` is the larger terminal testbed
    the SIPO / RSPO demonstrations use (a 7 x 7 grid, 40 steps).

    Observation of agent i (float32 in [0, 1]): own (row, col), partner's (row, col), both divided by
    ``size - 1``, then ``t / horizon``. ``state()`` is both positions and the progress (global;
    MAPPO adds the agent's one-hot id). ``infos[agent]["diversity_state"]`` (at reset and every
    step) is both scaled positions, the compact state SIPO measures distances on; with
    ``diversity_state="own"`` only the agent's own position (the archive then pools cells, and
    one agent parked on an earlier strategy's path while the other wanders is not "far").
    Reward features per agent and step: ``goal_k`` = 1 while both stand on goal k. Episode
    statistics on the last step: ``goal`` (the first goal both reached, -1 for none) and
    ``goal_k`` (1 if goal k was reached together).
    """

    FEATURE_NAMES = ("goal_0", "goal_1", "goal_2", "goal_3")
    metadata = {"name": "multi_goal_v0", "render_modes": ["rgb_array"]}
    possible_agents = ["agent_0", "agent_1"]

    DIVERSITY_STATES = ("joint", "own")

    def __init__(
        self,
        size: int = 5,
        horizon: int = 16,
        goal_reward: float = 1.0,
        reward_weights: dict[str, float] | None = None,
        render_mode: str | None = None,
        diversity_state: str = "joint",
        end_at_goal: bool = False,
    ) -> None:
        if diversity_state not in self.DIVERSITY_STATES:
            raise ConfigError(
                f"unknown diversity_state {diversity_state!r}; allowed: {', '.join(self.DIVERSITY_STATES)}"
            )
        self.diversity_state_kind = diversity_state
        if int(size) < 3:
            raise ConfigError(f"size must be >= 3, got {size!r}")
        if int(horizon) < 1:
            raise ConfigError(f"horizon must be >= 1, got {horizon!r}")
        self.size = int(size)
        self.horizon = int(horizon)
        self.goal_reward = float(goal_reward)
        self.end_at_goal = bool(end_at_goal)
        if render_mode not in (None, "rgb_array"):
            raise ConfigError(f"unknown render_mode {render_mode!r}; allowed: rgb_array (or none)")
        self.render_mode = render_mode
        self._init_weights(reward_weights)
        last = self.size - 1
        self.goals = np.array([[0, 0], [0, last], [last, 0], [last, last]], dtype=np.int64)
        self.agents: list[str] = []
        self._pos = np.zeros((2, 2), dtype=np.int64)
        self._t = 0
        self._first_goal = -1
        self._reached = np.zeros(4, dtype=bool)

    @functools.cache
    def observation_space(self, agent: str) -> spaces.Box:
        return spaces.Box(0.0, 1.0, shape=(5,), dtype=np.float32)

    @functools.cache
    def action_space(self, agent: str) -> spaces.Discrete:
        return spaces.Discrete(len(MOVES))

    @property
    def state_space(self) -> spaces.Box:
        return spaces.Box(0.0, 1.0, shape=(5,), dtype=np.float32)

    def diversity_state(self) -> np.ndarray:
        """Both agents' (row, col), scaled to [0, 1]."""
        return (self._pos.reshape(-1) / (self.size - 1)).astype(np.float32)

    def state(self) -> np.ndarray:
        return np.append(self.diversity_state(), np.float32(self._t / self.horizon)).astype(np.float32)

    def _obs(self, i: int) -> np.ndarray:
        pos = self._pos[[i, 1 - i]].reshape(-1) / (self.size - 1)
        return np.append(pos, self._t / self.horizon).astype(np.float32)

    def _infos(self) -> dict[str, dict]:
        if self.diversity_state_kind == "own":
            state = self.diversity_state()
            return {a: {DIVERSITY_STATE_KEY: state[2 * i : 2 * i + 2]} for i, a in enumerate(self.agents)}
        return {a: {DIVERSITY_STATE_KEY: self.diversity_state()} for a in self.agents}

    def render(self) -> np.ndarray | None:
        """RGB frame (``render_mode="rgb_array"``): goals in their colours, agent_0 red, agent_1 blue."""
        if self.render_mode != "rgb_array":
            return None
        grid = np.full((self.size, self.size, 3), 235, dtype=np.uint8)
        grid[self.goals[:, 0], self.goals[:, 1]] = GOAL_COLOURS
        img = np.repeat(np.repeat(grid, RENDER_CELL, 0), RENDER_CELL, 1)
        q, h = RENDER_CELL // 4, RENDER_CELL // 2
        for i, (r, c) in enumerate(self._pos):  # each agent fills half of its cell: both visible when together
            left = c * RENDER_CELL + i * h
            img[r * RENDER_CELL + q : (r + 1) * RENDER_CELL - q, left : left + h] = AGENT_COLOURS[i]
        return img

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.agents = list(self.possible_agents)
        self._pos[:] = self.size // 2
        self._t = 0
        self._first_goal = -1
        self._reached[:] = False
        return {a: self._obs(i) for i, a in enumerate(self.agents)}, self._infos()

    def step(self, actions: dict[str, Any]):
        for i, a in enumerate(self.possible_agents):
            if a not in actions:
                raise ConfigError(f"missing action for agent {a!r}; agents: {', '.join(self.possible_agents)}")
            act = int(actions[a])
            if not 0 <= act < len(MOVES):
                raise ConfigError(f"illegal action {act} for agent {a!r}; allowed: 0..{len(MOVES) - 1}")
            self._pos[i] = np.clip(self._pos[i] + MOVES[act], 0, self.size - 1)
        self._t += 1
        together = bool((self._pos[0] == self._pos[1]).all())
        on_goal = np.flatnonzero((self.goals == self._pos[0]).all(axis=1)) if together else []
        features = {f"goal_{k}": 0.0 for k in range(len(self.goals))}
        if len(on_goal):
            k = int(on_goal[0])
            features[f"goal_{k}"] = 1.0
            self._reached[k] = True
            if self._first_goal < 0:
                self._first_goal = k
        original = self.goal_reward * float(len(on_goal) > 0)
        reward = original if self.weights is None else self.weights.dot(features)
        terminated = self.end_at_goal and len(on_goal) > 0
        truncated = self._t >= self.horizon and not terminated
        obs = {a: self._obs(i) for i, a in enumerate(self.agents)}
        infos = self._infos()
        for a in self.agents:
            infos[a].update({FEATURES_KEY: dict(features), ORIGINAL_KEY: original})
            if terminated or truncated:
                infos[a]["episode_stats"] = {
                    "goal": float(self._first_goal),
                    **{f"goal_{k}": float(r) for k, r in enumerate(self._reached)},
                }
        agents = list(self.agents)
        if terminated or truncated:
            self.agents = []
        return (
            obs,
            {a: reward for a in agents},
            {a: terminated for a in agents},
            {a: truncated for a in agents},
            infos,
        )
