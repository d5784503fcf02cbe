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
    """Wraps a torch policy from :func:`diverse_marl.load_policy` (numpy batches in, actions out)."""

    def __init__(self, policy: Any, deterministic: bool = False):
        self.policy = policy
        self.deterministic = deterministic

    def reset(self, seed: int | None = None) -> None:
        if seed is not None:
            import torch

            torch.manual_seed(seed)

    def act(self, obs: Any) -> int:
        mask = None
        if isinstance(obs, dict) and MASK_KEY in obs:
            mask = np.asarray(obs[MASK_KEY], dtype=np.float32)[None]
            rest = [v for k, v in obs.items() if k != MASK_KEY]
            obs = rest[0] if len(rest) == 1 else np.concatenate([np.ravel(v) for v in rest])
        batch = np.asarray(obs, dtype=np.float32)[None]
        kwargs: dict[str, Any] = {"deterministic": self.deterministic}
        if mask is not None:
            kwargs["action_mask"] = mask
        return int(np.asarray(self.policy(batch, **kwargs)).reshape(-1)[0])
