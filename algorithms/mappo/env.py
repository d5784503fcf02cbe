"""PettingZoo ParallelEnv -> RLlib MultiAgentEnv whose observations also carry the critic's input.

Every agent's observation becomes a dict (see ``MAPPOObservationAdapter``)::

    {"obs": actor observation (float32; Box shapes kept, other spaces flattened),
     "state": agent-specific global state (float32, 1-D)      # unless critic_input="obs"
     "action_mask": (num_actions,) float32                    # only if the env provides one}

The global state follows the one rule in ``diverse_marl.envs.global_state`` (the env's
per-agent state, else its global state + the agent's one-hot id, else all agents' observations
+ one-hot id), the same rule the generic batched env uses. ``critic_input``:

- ``state``: that rule (MAPPO's agent-specific global state where the env has one);
- ``joint_obs``: always all agents' (actor) observations + one-hot id (the MAPPO paper's
  concatenated local observations, "CL"): cheaper when the env's state is large, e.g.
  Overcooked's lossless grid (520 values in cramped_room) vs 2 x 96 featurized + 2;
- ``obs``: no state; the critic reads the agent's own observation (independent PPO).

A custom (vectorized) env runner can reuse ``MAPPOObservationAdapter`` directly: for Box
observation spaces it works on batched arrays ``(N, *shape)`` as well.
"""

from __future__ import annotations

import hashlib
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from ray.rllib.env.multi_agent_env import MultiAgentEnv
from ray.tune.registry import register_env

from diverse_marl import envs
from diverse_marl.algorithms.mappo.connectors import TIME_LIMIT_KEY
from diverse_marl.algorithms.mappo.module import MASK_KEY, OBS_KEY, STATE_KEY
from diverse_marl.algorithms.mappo.runner_env import JOINT_OBS
from diverse_marl.envs.global_state import CONCAT, GlobalStateRule
from diverse_marl.errors import ConfigError

CRITIC_INPUTS = ("state", JOINT_OBS, "obs")
MASK_KEY_ALIASES = (MASK_KEY,)
OBS_KEY_ALIASES = ("observation", "observations", "obs")


def _actor_space(space: gym.Space) -> gym.Space:
    """The part of an env observation the actor reads (the action mask removed)."""
    if isinstance(space, spaces.Dict) and MASK_KEY in space.spaces:
        rest = {k: v for k, v in space.spaces.items() if k != MASK_KEY}
        if len(rest) == 1:
            space = next(iter(rest.values()))
        else:
            space = spaces.Dict(rest)
    return space


def _as_box(space: gym.Space) -> spaces.Box:
    if isinstance(space, spaces.Box):
        return spaces.Box(-np.inf, np.inf, shape=space.shape, dtype=np.float32)
    flat = spaces.flatten_space(space)
    return spaces.Box(-np.inf, np.inf, shape=flat.shape, dtype=np.float32)


class MAPPOObservationAdapter:
    """Turns raw per-agent observations (+ the env's global state) into MAPPO observation dicts."""

    def __init__(self, env: Any, critic_input: str = "state") -> None:
        if critic_input not in CRITIC_INPUTS:
            raise ConfigError(f"unknown critic_input {critic_input!r}; allowed: {', '.join(CRITIC_INPUTS)}")
        self.critic_input = critic_input
        self.agents = list(env.possible_agents)
        self.raw_spaces = {a: env.observation_space(a) for a in self.agents}
        self.actor_spaces = {a: _actor_space(s) for a, s in self.raw_spaces.items()}
        self.boxed = {a: _as_box(s) for a, s in self.actor_spaces.items()}
        self.has_mask = {a: isinstance(s, spaces.Dict) and MASK_KEY in s.spaces for a, s in self.raw_spaces.items()}
        self.num_actions = {a: int(getattr(env.action_space(a), "n", 0)) for a in self.agents}
        self.state_rule = GlobalStateRule(
            env,
            {a: int(np.prod(b.shape)) for a, b in self.boxed.items()},
            source=CONCAT if critic_input == JOINT_OBS else None,
        )

    @property
    def has_state(self) -> bool:
        """Whether observations carry a critic state (every critic input but ``obs``)."""
        return self.critic_input != "obs"

    @property
    def state_source(self) -> str:
        """Which branch of the global-state rule this env uses (``env_agent``, ``env_global``, ``concat``)."""
        return self.state_rule.source

    def observation_space(self, agent: str) -> spaces.Dict:
        d: dict[str, gym.Space] = {OBS_KEY: self.boxed[agent]}
        if self.has_state:
            d[STATE_KEY] = spaces.Box(-np.inf, np.inf, shape=(self.state_rule.sizes[agent],), dtype=np.float32)
        if self.has_mask[agent]:
            d[MASK_KEY] = spaces.Box(0.0, 1.0, shape=(self.num_actions[agent],), dtype=np.float32)
        return spaces.Dict(d)

    def actor_obs(self, agent: str, raw: Any) -> np.ndarray:
        if self.has_mask[agent]:
            rest = {k: v for k, v in raw.items() if k != MASK_KEY}
            raw = next(iter(rest.values())) if len(rest) == 1 else rest
        space = self.actor_spaces[agent]
        if isinstance(space, spaces.Box):
            return np.asarray(raw, dtype=np.float32)
        return np.asarray(spaces.flatten(space, raw), dtype=np.float32)

    def global_states(self, env: Any, actor_obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Agent-specific global state for every agent in ``actor_obs``."""
        any_agent = next(iter(actor_obs))
        return self.state_rule.states(env, actor_obs, list(actor_obs), self._lead(any_agent, actor_obs[any_agent]))

    def _lead(self, agent: str, actor_obs: np.ndarray) -> tuple[int, ...]:
        nd = len(self.boxed[agent].shape)
        return tuple(actor_obs.shape[: actor_obs.ndim - nd])

    def __call__(self, env: Any, raw_obs: dict[str, Any]) -> dict[str, dict[str, np.ndarray]]:
        actor = {a: self.actor_obs(a, o) for a, o in raw_obs.items()}
        states = self.global_states(env, actor) if self.has_state and actor else {}
        out = {}
        for a, o in actor.items():
            d = {OBS_KEY: o}
            if a in states:
                d[STATE_KEY] = states[a]
            if self.has_mask[a]:
                d[MASK_KEY] = np.asarray(raw_obs[a][MASK_KEY], dtype=np.float32)
            out[a] = d
        return out


class MAPPOEnv(MultiAgentEnv):
    """RLlib view of a PettingZoo ParallelEnv with MAPPO observation dicts.

    Agents that terminate early simply stop appearing (RLlib's multi-agent episodes handle
    that); the episode ends (``__all__``) once the PettingZoo env has no live agents.
    """

    def __init__(self, par_env: Any, critic_input: str = "state") -> None:
        self.par_env = par_env
        self.adapter = MAPPOObservationAdapter(par_env, critic_input)
        self.possible_agents = list(par_env.possible_agents)
        self.agents = []
        super().__init__()
        self.observation_spaces = {a: self.adapter.observation_space(a) for a in self.possible_agents}
        self.action_spaces = {a: par_env.action_space(a) for a in self.possible_agents}
        self.observation_space = spaces.Dict(self.observation_spaces)
        self.action_space = spaces.Dict(self.action_spaces)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        obs, infos = self.par_env.reset(seed=seed, options=options)
        self.agents = list(self.par_env.agents)
        infos = infos or {}
        return self.adapter(self.par_env, obs), {a: infos.get(a, {}) for a in obs}

    def step(self, action_dict: dict[str, Any]):
        obs, rewards, terms, truncs, infos = self.par_env.step(action_dict)
        self.agents = list(self.par_env.agents)
        infos = infos or {}
        done = len(self.agents) == 0
        all_terminated = done and all(bool(terms.get(a, False)) for a in obs)
        terminateds = {a: bool(terms.get(a, False)) for a in obs}
        truncateds = {a: bool(truncs.get(a, False)) and not terminateds[a] for a in obs}
        terminateds["__all__"] = all_terminated
        truncateds["__all__"] = done and not all_terminated
        # RLlib's episodes lose which agents the time limit cut (see connectors.TimeLimitBootstrap)
        out_infos = {a: {**infos.get(a, {}), TIME_LIMIT_KEY: True} if truncateds[a] else infos.get(a, {}) for a in obs}
        return (
            self.adapter(self.par_env, obs),
            {a: float(rewards.get(a, 0.0)) for a in obs},
            terminateds,
            truncateds,
            out_infos,
        )

    def close(self) -> None:
        self.par_env.close()


def make_pettingzoo_env(env: str, env_config: dict[str, Any] | None = None) -> Any:
    """Build the user's ParallelEnv from a registered name or an import path."""
    return envs.make(env, **dict(env_config or {}))


def register_mappo_env(env: str, critic_input: str = "state") -> str:
    """Register an RLlib env creator for ``env`` and return the (derived) registry name."""
    if critic_input not in CRITIC_INPUTS:
        raise ConfigError(f"unknown critic_input {critic_input!r}; allowed: {', '.join(CRITIC_INPUTS)}")

    def creator(rllib_env_config: dict[str, Any]) -> MAPPOEnv:
        return MAPPOEnv(make_pettingzoo_env(env, dict(rllib_env_config)), critic_input)

    digest = hashlib.sha1(f"{env}|{critic_input}".encode()).hexdigest()[:8]
    name = f"diverse_marl_mappo/{env.replace(':', '.')}-{critic_input}-{digest}"
    register_env(name, creator)
    return name
