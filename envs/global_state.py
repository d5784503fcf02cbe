"""The one rule for an agent-specific global state (MAPPO's centralized critic input).

Written once here so that every sampling path feeds the critic identical inputs: MAPPO's
observation adapter (``diverse_marl.algorithms.mappo.env``) and the generic batched env
(:class:`diverse_marl.envs.batched.SyncBatchedEnv`). In order of preference:

1. ``env_agent``: the env's own per-agent state -- ``state_space(agent)`` is a method;
   ``state()`` returns ``{agent: array}`` or an array stacked over agents in
   ``possible_agents`` order, or ``state(agent)`` returns one agent's array;
2. ``env_global``: PettingZoo's global ``state()`` (``state_space`` is a Space), followed by the
   agent's one-hot id;
3. ``concat``: all agents' flattened observations (``possible_agents`` order, zeros for agents
   without an observation), followed by the agent's one-hot id.

``concat`` can also be chosen over an env's own state (``source=CONCAT``): MAPPO's
``critic_input: joint_obs``, the MAPPO paper's "CL" state, far smaller than some env states
(Overcooked's lossless grid).

States are flat float32 vectors. Native batched envs (Overcooked, hide-and-seek) compute theirs
in vectorized numpy; their ``state_space(agent)`` agrees with rule 1 on the single env.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from diverse_marl.errors import ConfigError

ENV_AGENT, ENV_GLOBAL, CONCAT = "env_agent", "env_global", "concat"


class GlobalStateRule:
    """Where one env's agent-specific global state comes from, its size, and how to read it.

    ``obs_sizes``: agent -> size of the agent's flattened (actor) observation, used by ``concat``.
    ``source``: None = the first branch of the rule the env supports; ``CONCAT`` = always concat.
    """

    def __init__(self, env: Any, obs_sizes: Mapping[str, int], source: str | None = None) -> None:
        if source not in (None, CONCAT):
            raise ConfigError(f"unknown global-state source {source!r}; allowed: None (the rule), {CONCAT!r}")
        self.agents: list[str] = list(env.possible_agents)
        self.obs_sizes = {a: int(obs_sizes[a]) for a in self.agents}
        space = None if source == CONCAT else getattr(env, "state_space", None)
        n = len(self.agents)
        if callable(space) and not isinstance(space, gym.Space):
            self.source = ENV_AGENT
            self.sizes = {a: int(np.prod(space(a).shape)) for a in self.agents}
        elif isinstance(space, gym.Space):
            self.source = ENV_GLOBAL
            self.sizes = {a: int(gym.spaces.flatdim(space)) + n for a in self.agents}
        else:
            self.source = CONCAT
            total = sum(self.obs_sizes.values())
            self.sizes = {a: total + n for a in self.agents}

    def space(self, agent: str) -> gym.spaces.Box:
        return gym.spaces.Box(-np.inf, np.inf, (self.sizes[agent],), np.float32)

    def states(
        self, env: Any, flat_obs: Mapping[str, np.ndarray], agents: Sequence[str], lead: tuple[int, ...] = ()
    ) -> dict[str, np.ndarray]:
        """States ``(*lead, size)`` of ``agents``; ``flat_obs``: agent -> ``(*lead, obs_size)``
        float32 for the agents that have an observation (only read by ``concat``)."""
        if self.source == ENV_AGENT:
            per_agent = self._env_agent_states(env)
            return {a: np.asarray(per_agent[a], np.float32).reshape(*lead, -1) for a in agents}
        if self.source == ENV_GLOBAL:
            shared = np.asarray(env.state(), np.float32).reshape(*lead, -1)
        else:
            shared = np.concatenate(
                [
                    np.asarray(flat_obs[a], np.float32).reshape(*lead, self.obs_sizes[a])
                    if a in flat_obs
                    else np.zeros((*lead, self.obs_sizes[a]), np.float32)
                    for a in self.agents
                ],
                axis=-1,
            )
        return {a: np.concatenate([shared, self._one_hot(a, lead)], axis=-1) for a in agents}

    def _env_agent_states(self, env: Any) -> Mapping[str, Any]:
        try:
            st = env.state()
        except TypeError:  # state(agent) with a required agent argument
            return {a: env.state(a) for a in self.agents}
        if isinstance(st, Mapping):
            return st
        arr = np.asarray(st)
        if arr.ndim == 0 or arr.shape[0] != len(self.agents):
            raise ConfigError(
                f"env.state() returned shape {arr.shape}; expected a dict agent -> state or one row "
                f"per agent ({len(self.agents)} rows, in possible_agents order)"
            )
        return {a: arr[k] for k, a in enumerate(self.agents)}

    def _one_hot(self, agent: str, lead: tuple[int, ...]) -> np.ndarray:
        oh = np.zeros((*lead, len(self.agents)), np.float32)
        oh[..., self.agents.index(agent)] = 1.0
        return oh
