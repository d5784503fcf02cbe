"""Memory task: a cue seen once must be recalled later - the smallest test that a policy remembers.

Every agent sees its own random cue (one-hot) at the first step only; then ``delay`` blank
steps follow (or a number drawn per episode from ``delay..max_delay``, so that env copies
end their episodes at different times); at the query step (its observation's last entry is 1) the agent answers. A
right answer earns 1, a wrong one 0, and the episode ends (terminated). A feed-forward
policy sees the same blank query observation whatever the cue, so it answers right with
probability ``1 / num_cues`` at best; a recurrent policy can carry the cue and answer right
every time.

Actions: 0 = wait, ``1 + c`` = answer cue ``c``. Answers before the query are ignored
(wait), waiting at the query is a wrong answer. With ``action_masking`` observations are
``{"observation": Box, "action_mask": Box}`` (PettingZoo's convention): only wait is legal
before the query and only answers at it; an illegal action raises.

The centralized critic's state (``state()``) shows the agent's cue, the query flag and the
agent's id at every step: only the actor has to remember.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from diverse_marl.envs.testbeds import check_actions
from diverse_marl.errors import ConfigError

WAIT = 0


class MemoryTaskEnv(ParallelEnv):
    """Recall the first step's cue at the query step (see the module docstring).

    Options:
        num_agents: agents, each with its own cue and reward.
        num_cues: distinct cues; a memoryless policy scores ``1 / num_cues`` per episode.
        delay: blank steps between the cue and the query (episode length ``delay + 2``).
        max_delay: if set, each episode's delay is drawn uniformly from ``delay..max_delay``.
        action_masking: expose the legal actions as an ``action_mask`` (see above).
    """

    metadata = {"name": "memory_task_v0", "render_modes": []}

    def __init__(
        self,
        num_agents: int = 2,
        num_cues: int = 2,
        delay: int = 2,
        max_delay: int | None = None,
        action_masking: bool = False,
    ) -> None:
        if int(num_agents) < 1:
            raise ConfigError(f"num_agents must be >= 1, got {num_agents!r}")
        if int(num_cues) < 2:
            raise ConfigError(f"num_cues must be >= 2, got {num_cues!r}")
        if int(delay) < 0:
            raise ConfigError(f"delay must be >= 0, got {delay!r}")
        if max_delay is not None and int(max_delay) < int(delay):
            raise ConfigError(f"max_delay must be >= delay ({delay}), got {max_delay!r}")
        self.num_cues = int(num_cues)
        self.min_delay = int(delay)
        self.max_delay = self.min_delay if max_delay is None else int(max_delay)
        self.delay = self.min_delay  # this episode's delay
        self.action_masking = bool(action_masking)
        self.possible_agents = [f"agent_{i}" for i in range(int(num_agents))]
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        self.agents: list[str] = []
        self._rng = np.random.default_rng()
        self._cues = np.zeros(len(self.possible_agents), np.int64)
        self._t = 0

    @property
    def query_step(self) -> int:
        return self.delay + 1

    # ---- spaces ----
    @functools.cache
    def observation_space(self, agent: str) -> spaces.Space:
        box = spaces.Box(0.0, 1.0, shape=(self.num_cues + 1,), dtype=np.float32)
        if not self.action_masking:
            return box
        mask = spaces.Box(0, 1, shape=(self.num_cues + 1,), dtype=np.int8)
        return spaces.Dict({"observation": box, "action_mask": mask})

    @functools.cache
    def action_space(self, agent: str) -> spaces.Discrete:
        return spaces.Discrete(self.num_cues + 1)

    @functools.cache
    def state_space(self, agent: str) -> spaces.Box:
        return spaces.Box(0.0, 1.0, shape=(self.num_cues + 1 + len(self.possible_agents),), dtype=np.float32)

    # ---- dynamics ----
    def _obs(self, agent: str) -> Any:
        o = np.zeros(self.num_cues + 1, np.float32)
        if self._t == 0:
            o[self._cues[self._index[agent]]] = 1.0
        if self._t == self.query_step:
            o[-1] = 1.0
        if not self.action_masking:
            return o
        return {"observation": o, "action_mask": self._mask()}

    def _mask(self) -> np.ndarray:
        mask = np.zeros(self.num_cues + 1, np.int8)
        if self._t == self.query_step:
            mask[1:] = 1
        else:
            mask[WAIT] = 1
        return mask

    def state(self) -> dict[str, np.ndarray]:
        """Per agent: its cue (one-hot), the query flag, its one-hot id."""
        out = {}
        for a, i in self._index.items():
            s = np.zeros(self.num_cues + 1 + len(self.possible_agents), np.float32)
            s[self._cues[i]] = 1.0
            s[self.num_cues] = float(self._t == self.query_step)
            s[self.num_cues + 1 + i] = 1.0
            out[a] = s
        return out

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self._t = 0
        self._cues = self._rng.integers(0, self.num_cues, size=len(self.possible_agents))
        self.delay = int(self._rng.integers(self.min_delay, self.max_delay + 1))
        return {a: self._obs(a) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions: dict[str, Any]):
        check_actions(
            actions, self.agents, self.num_cues + 1, mask=(lambda a: self._mask()) if self.action_masking else None
        )
        query = self._t == self.query_step
        rewards = {a: float(query and int(actions[a]) == 1 + self._cues[self._index[a]]) for a in self.agents}
        self._t += 1
        terms = {a: query for a in self.agents}
        truncs = {a: False for a in self.agents}
        obs = {a: self._obs(a) for a in self.agents}
        infos = {a: {} for a in self.agents}
        if query:
            self.agents = []
        return obs, rewards, terms, truncs, infos
