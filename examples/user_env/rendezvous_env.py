"""A user's own env for ``examples/user_env/rpg.yaml``: a PettingZoo ParallelEnv, not registered anywhere.

Two friends pick where to meet, every step, without talking: the cafe (+1 whatever the other
does), the park (+3 if both go, else 0) or the museum (+5 if both go, -4 alone). Meeting at the
museum pays most but is risky, the cafe is safe: the kind of game where reward randomization
helps. All an env needs for ``method: rpg`` is to report per-step reward features in
``infos[agent]["reward_features"]``; ``episode_stats`` on the last step become the report's
behaviour descriptors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

PLACES = ("cafe", "park", "museum")
CAFE, PARK, MUSEUM = range(len(PLACES))
FEATURES = ("cafe", "met_at_park", "met_at_museum", "alone_at_museum")
PAYOFFS = {"cafe": 1.0, "met_at_park": 3.0, "met_at_museum": 5.0, "alone_at_museum": -4.0}


class RendezvousEnv(ParallelEnv):
    """Observation: one-hot of both agents' last places (own first), then t / horizon."""

    metadata = {"name": "rendezvous_v0"}

    def __init__(self, horizon: int = 10) -> None:
        self.horizon = int(horizon)
        self.possible_agents = ["agent_0", "agent_1"]
        self.agents: list[str] = []
        self._obs_space = spaces.Box(0.0, 1.0, (2 * len(PLACES) + 1,), np.float32)
        self._act_space = spaces.Discrete(len(PLACES))
        self._last: dict[str, int | None] = {}
        self._t = 0
        self._totals: dict[str, dict[str, float]] = {}

    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_space

    def _obs(self) -> dict[str, np.ndarray]:
        out = {}
        for i, agent in enumerate(self.possible_agents):
            other = self.possible_agents[1 - i]
            vec = np.zeros(self._obs_space.shape, np.float32)
            for slot, who in enumerate((agent, other)):
                if self._last[who] is not None:
                    vec[slot * len(PLACES) + self._last[who]] = 1.0
            vec[-1] = self._t / self.horizon
            out[agent] = vec
        return out

    def reset(self, seed: int | None = None, options: dict | None = None):
        self.agents = list(self.possible_agents)
        self._t = 0
        self._last = {a: None for a in self.agents}
        self._totals = {a: {f: 0.0 for f in FEATURES} for a in self.agents}
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        acts = {a: int(actions[a]) for a in self.agents}
        self._t += 1
        rewards, infos = {}, {}
        for i, agent in enumerate(self.possible_agents):
            mine, theirs = acts[agent], acts[self.possible_agents[1 - i]]
            features = {
                "cafe": float(mine == CAFE),
                "met_at_park": float(mine == theirs == PARK),
                "met_at_museum": float(mine == theirs == MUSEUM),
                "alone_at_museum": float(mine == MUSEUM != theirs),
            }
            rewards[agent] = sum(PAYOFFS[f] * v for f, v in features.items())
            for f, v in features.items():
                self._totals[agent][f] += v
            infos[agent] = {"reward_features": features}
        self._last = acts
        done = self._t >= self.horizon
        if done:
            for agent in self.possible_agents:
                infos[agent]["episode_stats"] = dict(self._totals[agent])
        obs = self._obs()
        terminations = {a: False for a in self.agents}
        truncations = {a: done for a in self.agents}
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos
