"""Repeated 2-player matrix games where equilibrium selection matters (Stag Hunt).

In Stag Hunt both hunting the stag pays most, but hunting it alone is punished, so plain
policy gradient tends to the safe "hare" equilibrium — the classic motivating case for RPG.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from diverse_marl.envs.reward import FEATURES_KEY, ORIGINAL_KEY, WeightedReward
from diverse_marl.errors import ConfigError

STAG, HARE = 0, 1
ACTION_NAMES = ("stag", "hare")
# reward features: one-hot joint outcome as the agent sees it (own action first)
FEATURE_NAMES = tuple(f"{mine}_{other}" for mine in ACTION_NAMES for other in ACTION_NAMES)


class StagHuntEnv(WeightedReward, ParallelEnv):
    """Iterated Stag Hunt for ``agent_0`` and ``agent_1``.

    Payoffs (row player first): (stag, stag) -> (a, a); (stag, hare) -> (c, b);
    (hare, stag) -> (b, c); (hare, hare) -> (d, d), with a > b >= d > c.
    Observation: one-hot of the previous joint action (4) + "first step" flag + time fraction.
    Reward features: ``stag_stag``, ``stag_hare``, ``hare_stag``, ``hare_hare`` (one-hot of the joint
    outcome, own action first); ``reward_weights`` over them replace the payoffs (RPG's randomized games).
    """

    FEATURE_NAMES = FEATURE_NAMES

    metadata = {"name": "stag_hunt_v0", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(
        self,
        horizon: int = 10,
        stag_reward: float = 4.0,
        hare_reward: float = 3.0,
        both_hare_reward: float = 1.0,
        alone_penalty: float = -10.0,
        reward_weights: dict[str, float] | None = None,
        render_mode: str | None = None,
    ):
        a, b, d, c = stag_reward, hare_reward, both_hare_reward, alone_penalty
        if not (a > b >= d > c):
            raise ConfigError(
                f"stag hunt payoffs need stag_reward > hare_reward >= both_hare_reward > alone_penalty, "
                f"got {a}, {b}, {d}, {c}"
            )
        if horizon < 1:
            raise ConfigError(f"horizon must be >= 1, got {horizon}")
        if render_mode not in (None, "ansi"):
            raise ConfigError(f"unknown render_mode {render_mode!r}; allowed: None, 'ansi'")
        self.horizon = horizon
        self.render_mode = render_mode
        # payoff[a0, a1] -> (r0, r1)
        self.payoff = np.array([[[a, a], [c, b]], [[b, c], [d, d]]], dtype=np.float32)
        self._init_weights(reward_weights)
        self.possible_agents = ["agent_0", "agent_1"]
        self.agents: list[str] = []
        self._obs_space = spaces.Box(0.0, 1.0, shape=(6,), dtype=np.float32)
        self._act_space = spaces.Discrete(2)
        self._t = 0
        self._last: tuple[int, int] | None = None

    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_space

    def _obs(self) -> dict[str, np.ndarray]:
        out = {}
        for i, agent in enumerate(self.possible_agents):
            o = np.zeros(6, dtype=np.float32)
            if self._last is None:
                o[4] = 1.0
            else:
                mine, other = self._last[i], self._last[1 - i]
                o[2 * mine + other] = 1.0
            o[5] = self._t / self.horizon
            out[agent] = o
        return out

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.agents = list(self.possible_agents)
        self._t = 0
        self._last = None
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        acts = []
        for agent in self.possible_agents:
            a = actions.get(agent)
            if a is None or int(a) not in (0, 1):
                raise ConfigError(f"illegal action {a!r} for {agent}; allowed: 0 (stag), 1 (hare)")
            acts.append(int(a))
        r = self.payoff[acts[0], acts[1]]
        self._t += 1
        self._last = (acts[0], acts[1])
        done = self._t >= self.horizon
        rewards, infos = {}, {}
        for i, agent in enumerate(self.possible_agents):
            mine, other = acts[i], acts[1 - i]
            features = {name: 0.0 for name in FEATURE_NAMES}
            features[FEATURE_NAMES[2 * mine + other]] = 1.0
            original = float(r[i])
            rewards[agent] = original if self.weights is None else self.weights.dot(features)
            infos[agent] = {"joint_action": tuple(ACTION_NAMES[x] for x in acts), FEATURES_KEY: features,
                            ORIGINAL_KEY: original}
        obs = self._obs()
        terms = {a: False for a in self.possible_agents}
        truncs = {a: done for a in self.possible_agents}
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        last = "-" if self._last is None else "/".join(ACTION_NAMES[x] for x in self._last)
        return f"t={self._t}/{self.horizon} last={last}"
