"""Users' own envs, written the ways users write them: a PettingZoo ParallelEnv class that knows
nothing about reward weights, reached through a ``**kwargs`` factory, a plain function, the class
itself or a class with ``**kwargs``; an option makes it raise in construction, ``reset`` or ``step``.

A two-agent signalling game: every step each agent picks 0 or 1, reward 1 for picking 1
(feature ``one``), so learning shows as a return above random (0.5 per agent and step).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

FEATURES = ("one", "zero")


class PickOneEnv(ParallelEnv):
    metadata = {"name": "pick_one_v0"}

    def __init__(self, horizon: int = 5, fail_in: str | None = None, fail_after: int = 0, pid_file: str = "") -> None:
        if fail_in == "construction":
            raise ValueError("horizon must be even")
        self.horizon, self.fail_in, self.fail_after = int(horizon), fail_in, int(fail_after)
        self.possible_agents = ["a", "b"]
        self.agents: list[str] = []
        self.steps_taken = 0  # over all episodes of this instance
        self._obs_space, self._act_space = spaces.Box(0.0, 1.0, (1,), np.float32), spaces.Discrete(2)
        if pid_file:  # the env runner process that built this env (for tests that kill it)
            with open(pid_file, "a") as f:
                f.write(f"{os.getpid()}\n")

    def observation_space(self, agent: str) -> spaces.Box:
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        return self._act_space

    def reset(self, seed: int | None = None, options: dict | None = None):
        if self.fail_in == "reset":
            self.load_spawn_points()
        self.agents, self.t = list(self.possible_agents), 0
        return {a: np.zeros(1, np.float32) for a in self.agents}, {a: {} for a in self.agents}

    def load_spawn_points(self) -> None:
        raise KeyError("spawn_points")

    def step(self, actions: dict[str, Any]):
        self.t += 1
        self.steps_taken += 1
        if self.fail_in == "step" and self.steps_taken > self.fail_after:
            self.score(actions)
        rewards = {a: float(actions[a] == 1) for a in self.agents}
        infos = {
            a: {"reward_features": {"one": float(actions[a] == 1), "zero": float(actions[a] == 0)}} for a in self.agents
        }
        done = self.t >= self.horizon
        obs = {a: np.full(1, self.t / self.horizon, np.float32) for a in self.agents}
        out = obs, rewards, {a: False for a in self.agents}, {a: done for a in self.agents}, infos
        if done:
            self.agents = []
        return out

    def score(self, actions: dict[str, Any]) -> dict[str, float]:
        return {a: 1.0 / (actions[a] - actions[a]) for a in self.agents}  # the user's bug


def make_env(**kwargs: Any) -> PickOneEnv:
    """The usual PettingZoo factory: every option goes to the class."""
    return PickOneEnv(**kwargs)


def make_env_plain(horizon: int = 5) -> PickOneEnv:
    """A plain function with named options (no reward_weights)."""
    return PickOneEnv(horizon=horizon)


class KwargsEnv(PickOneEnv):
    """A class taking ``**kwargs`` it forwards (and would choke on reward_weights)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)


def make_weighted_env(reward_weights: dict[str, float] | None = None, **kwargs: Any) -> PickOneEnv:
    """A factory that names reward_weights: it gets them and applies them itself."""
    env = PickOneEnv(**kwargs)
    env.own_weights = reward_weights
    return env
