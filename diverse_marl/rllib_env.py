"""Expose any diverse-marl env (registered name or import path) to RLlib as a MultiAgentEnv."""

from __future__ import annotations

import hashlib
from typing import Any

from diverse_marl import envs


def rllib_env_name(env: str, env_config: dict[str, Any] | None = None) -> str:
    """Register ``env`` with Ray Tune's env registry and return the name RLlib should use.

    The RLlib env wraps ``diverse_marl.envs.make(env, **env_config)`` in RLlib's
    ``ParallelPettingZooEnv``. The name is derived from ``env`` so repeated calls are idempotent.
    """
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv  # Ray: only when an env is registered
    from ray.tune.registry import register_env

    def creator(rllib_env_config: dict[str, Any]):
        kwargs = {k: v for k, v in dict(rllib_env_config).items()}
        return ParallelPettingZooEnv(envs.make(env, **kwargs))

    digest = hashlib.sha1(env.encode()).hexdigest()[:8]
    name = f"diverse_marl/{env.replace(':', '.')}-{digest}"
    register_env(name, creator)
    return name
