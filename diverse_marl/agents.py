"""The Agent interface used by evaluation, cross-play and mixed teams.

An agent turns one observation into one action. RL policies (loaded from checkpoints without
Ray), scripted and random agents — and later LLM-backed agents — all meet this interface,
so any of them can fill any seat of a team.
"""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

MASK_KEY = "action_mask"


@runtime_checkable
class Agent(Protocol):
    """``act(obs) -> action`` for one agent of one env; ``reset()`` at each episode start."""

    def reset(self, seed: int | None = None) -> None: ...

    def act(self, obs: Any) -> int: ...


class RandomAgent:
    """Uniform over legal actions (respects an ``action_mask`` in dict observations)."""

    def __init__(self, num_actions: int, seed: int | None = None):
        self.num_actions = num_actions
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            self.rng = np.random.default_rng(seed)

    def act(self, obs: Any) -> int:
        if isinstance(obs, dict) and MASK_KEY in obs:
            legal = np.flatnonzero(np.asarray(obs[MASK_KEY]) > 0)
            return int(self.rng.choice(legal))
        return int(self.rng.integers(self.num_actions))


class PolicyAgent:
    """Wraps a torch policy from :func:`diverse_marl.load_policy` (numpy batches in, actions out).

    Give every seat its own policy object: recurrent policies keep per-seat hidden state.
    """

    def __init__(self, policy: Any, deterministic: bool = False):
        self.policy = policy
        self.deterministic = deterministic

    def reset(self, seed: int | None = None) -> None:
        if hasattr(self.policy, "reset"):
            self.policy.reset()
        if seed is not None and hasattr(self.policy, "seed"):
            self.policy.seed(seed)

    def act(self, obs: Any) -> int:
        batch = {k: np.asarray(v)[None] for k, v in obs.items()} if isinstance(obs, dict) else np.asarray(obs)[None]
        return int(np.asarray(self.policy(batch, deterministic=self.deterministic)).reshape(-1)[0])
