"""The vector runner's env side: which batched env an AlgorithmConfig describes, and what the
module sees of it (the observation layout).

Observation layouts handed to the module:
- ``plain``: the env's per-agent observation (stock RLlib modules);
- ``dict``: ``{"obs": obs}`` (MAPPO with ``critic_input="obs"``);
- ``dict_state``: ``{"obs": obs, "state": state}`` where ``state`` is the batched env's
  agent-specific global state (MAPPO's centralized critic), see
  ``diverse_marl.algorithms.mappo.module``; with ``critic_input="joint_obs"`` the runner builds
  it from all agents' observations instead (``JointObsState``) and never asks the env for one.
MAPPO layouts add ``"action_mask"`` for agents whose batched env reports masks
(``has_action_mask(agent)``); stock modules cannot read masks, so the plain layout refuses them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from ray.rllib.env import INPUT_ENV_SINGLE_SPACES, INPUT_ENV_SPACES
from ray.rllib.env.env_context import EnvContext
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.tune.registry import ENV_CREATOR, _global_registry

from diverse_marl import envs
from diverse_marl.algorithms.mappo.networks import MASK_KEY, OBS_KEY, STATE_KEY
from diverse_marl.envs.batched import SyncBatchedEnv, make_batched
from diverse_marl.envs.global_state import CONCAT, GlobalStateRule
from diverse_marl.errors import ConfigError

PLAIN, DICT, DICT_STATE = "plain", "dict", "dict_state"
JOINT_OBS = "joint_obs"  # MAPPO's critic_input reading all agents' observations (see env.py)


def names_diverse_marl_env(env: Any) -> bool:
    """Whether ``env`` is a diverse-marl env reference (registered name or ``pkg.module:factory``)
    rather than an RLlib one (a Tune-registered name, a class, a gym id)."""
    return isinstance(env, str) and (env in envs.list_envs() or (":" in env and "/" not in env))


def make_batched_env_from_config(config: Any, num_envs: int, worker_index: int = 0) -> tuple[Any, str | None]:
    """Build the batched env an AlgorithmConfig describes; also return MAPPO's ``critic_input``.

    ``config.env`` may be a diverse-marl env name / import path, or a name registered with
    ``ray.tune.registry.register_env`` whose creator returns a PettingZoo ParallelEnv, possibly
    wrapped (RLlib's ``ParallelPettingZooEnv`` or MAPPO's ``MAPPOEnv``, both keep it in
    ``.par_env``). The native batched class of the underlying env (its ``batched`` attribute)
    is used when it exists; otherwise the creator is called ``num_envs`` times.
    ``critic_input`` is ``"state"`` or ``"obs"`` when the creator builds MAPPO's dict
    observations (``MAPPOEnv.adapter``), else None.
    """
    env_id = config.env
    env_config = dict(config.env_config or {})
    if names_diverse_marl_env(env_id):
        return make_batched(env_id, num_envs, **env_config), None
    if isinstance(env_id, str) and _global_registry.contains(ENV_CREATOR, env_id):
        creator = _global_registry.get(ENV_CREATOR, env_id)
        ctx = EnvContext(env_config, worker_index=worker_index, num_workers=config.num_env_runners)
        wrapped = creator(ctx)
        critic_input = getattr(getattr(wrapped, "adapter", None), "critic_input", None)
        first = _unwrap_parallel_env(wrapped)
        native = _native_batched(type(first))
        if native is not None:
            return native(num_envs=num_envs, **env_config), critic_input
        rest = [_unwrap_parallel_env(creator(ctx)) for _ in range(num_envs - 1)]
        envs = [first, *rest]
        return SyncBatchedEnv([lambda e=e: e for e in envs]), critic_input
    if isinstance(env_id, type):
        native = _native_batched(env_id)
        if native is not None:
            return native(num_envs=num_envs, **env_config), None
        return SyncBatchedEnv([lambda: env_id(**env_config) for _ in range(num_envs)]), None
    raise ConfigError(
        f"VectorMultiAgentEnvRunner cannot build env {env_id!r}; allowed: a registered diverse-marl env "
        f"({', '.join(envs.list_envs())}), 'package.module:factory', a Tune-registered PettingZoo env, "
        "or a ParallelEnv class"
    )


def _unwrap_parallel_env(env: Any) -> Any:
    """The PettingZoo env inside RLlib's ``ParallelPettingZooEnv`` (or ``env`` itself)."""
    return getattr(env, "par_env", env)


def _native_batched(env_cls: type) -> Callable[..., Any] | None:
    batched = getattr(env_cls, "batched", None)
    return batched if callable(batched) else None


def critic_input_from_specs(config: Any) -> str | None:
    """MAPPO's critic input if the configured module specs declare MAPPO dict observations."""
    spec = config.rl_module_spec
    specs = getattr(spec, "rl_module_specs", None)
    if not isinstance(specs, dict):
        return None
    for sub in specs.values():
        space = getattr(sub, "observation_space", None)
        if isinstance(space, gym.spaces.Dict) and OBS_KEY in space.spaces:
            return STATE_KEY if STATE_KEY in space.spaces else OBS_KEY
    return None


def layout_for(critic_input: str | None) -> str:
    """The observation layout for MAPPO's ``critic_input`` (None: a stock module)."""
    if critic_input is None:
        return PLAIN
    return DICT_STATE if critic_input in (STATE_KEY, JOINT_OBS) else DICT


class JointObsState:
    """``critic_input="joint_obs"`` on batched arrays: every agent's state is all agents'
    flattened observations + its one-hot id (``GlobalStateRule``'s concat branch, the rule
    ``MAPPOObservationAdapter`` applies to single envs)."""

    def __init__(self, env: Any) -> None:
        sizes = {a: int(np.prod(env.observation_space(a).shape)) for a in env.possible_agents}
        self.rule = GlobalStateRule(env, sizes, source=CONCAT)

    def size(self, agent: str) -> int:
        return self.rule.sizes[agent]

    def states(self, obs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """agent -> (N, state size) float32 from agent -> (N, *obs shape) for every agent."""
        n = len(next(iter(obs.values())))
        flat = {a: np.asarray(o, np.float32).reshape(n, -1) for a, o in obs.items()}
        return self.rule.states(None, flat, self.rule.agents, (n,))


def has_action_mask(env: Any, agent: str) -> bool:
    """Whether the batched env reports action masks for ``agent`` (an optional protocol method)."""
    check = getattr(env, "has_action_mask", None)
    return bool(check(agent)) if callable(check) else False


def module_obs_space(env: Any, agent: str, layout: str, joint: JointObsState | None = None) -> gym.Space:
    """The observation space the module sees for ``agent`` under ``layout`` (``joint``: the
    state is built from observations, not read from the env)."""
    masked = has_action_mask(env, agent)
    if layout == PLAIN:
        if masked:
            raise ConfigError(
                f"agent {agent!r} has action masks, which only MAPPO's module reads; "
                "train with MAPPO (or RLlib's MultiAgentEnvRunner and a module that masks)"
            )
        return env.observation_space(agent)
    spaces = {OBS_KEY: gym.spaces.Box(-np.inf, np.inf, env.observation_space(agent).shape, np.float32)}
    if layout == DICT_STATE:
        size = joint.size(agent) if joint is not None else int(np.prod(env.state_space(agent).shape))
        spaces[STATE_KEY] = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)
    if masked:
        spaces[MASK_KEY] = gym.spaces.Box(0.0, 1.0, (int(env.action_space(agent).n),), np.float32)
    return gym.spaces.Dict(spaces)


def as_obs(x: Any, layout: str) -> np.ndarray:
    """MAPPO's actor input is float32 (its adapter casts); stock modules get the env's dtype."""
    return np.asarray(x, np.float32) if layout != PLAIN else np.asarray(x)


def as_state(x: Any) -> np.ndarray:
    """(N, *state_shape) -> (N, state_size) float32, the critic's flat input."""
    x = np.asarray(x, np.float32)
    return x.reshape(x.shape[0], -1)


def module_input(layout: str, obs: np.ndarray, state: np.ndarray | None, mask: np.ndarray | None = None) -> Any:
    """The module's observation for some rows: the array, or MAPPO's dict of obs (+ state, + action mask)."""
    if layout == PLAIN:
        return obs
    out = {OBS_KEY: obs}
    if layout == DICT_STATE:
        out[STATE_KEY] = state
    if mask is not None:
        out[MASK_KEY] = mask
    return out


def runner_spaces(config: Any, obs_spaces: dict[str, gym.Space], action_spaces: dict[str, gym.Space]) -> dict:
    """``EnvRunner.get_spaces()``: the env's Dict spaces, and (obs, action) space per module id."""
    obs, act = gym.spaces.Dict(obs_spaces), gym.spaces.Dict(action_spaces)
    out: dict[str, Any] = {INPUT_ENV_SPACES: (obs, act), INPUT_ENV_SINGLE_SPACES: (obs, act)}
    agents = list(obs_spaces)
    dummy = MultiAgentEpisode(agent_to_module_mapping_fn=config.policy_mapping_fn)
    for a in agents:
        mid = config.policy_mapping_fn(a, dummy)
        out.setdefault(mid, (obs[a], act[a]))
    for mid in config.policies:
        if mid not in out and agents:  # module not mapped by the dummy episode: use agent 0's spaces
            out[mid] = (obs[agents[0]], act[agents[0]])
    return out


def check_module_spaces(module: Any, config: Any, obs_spaces: dict[str, gym.Space]) -> None:
    """Fail early (with names) if a module expects other observations than the runner builds."""
    dummy = MultiAgentEpisode(agent_to_module_mapping_fn=config.policy_mapping_fn)
    for a, ours in obs_spaces.items():
        mid = dummy.module_for(a)
        if mid not in module:
            continue
        expected = module[mid].observation_space
        if expected is not None and expected != ours:
            raise ConfigError(
                f"module {mid!r} expects observations {expected} for agent {a!r}, but the batched env "
                f"gives {ours}; check that the batched env's observation/state spaces match the env's"
            )
