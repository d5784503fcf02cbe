"""Batched envs: N independent copies of a multi-agent env stepped with one call on numpy arrays.

Why: the fast MAPPO sampler does one network forward pass per step for *all* copies, so it
needs every copy's data stacked along a leading axis. Envs with a native batched class
(Overcooked, hide-and-seek; found through the env class's ``batched`` attribute) step all
copies in vectorized numpy; any other PettingZoo ``ParallelEnv`` is wrapped by
:class:`SyncBatchedEnv`, which loops over N copies in Python. Both follow :class:`BatchedEnv`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym
import numpy as np

from diverse_marl import envs as registry
from diverse_marl.agents import MASK_KEY
from diverse_marl.envs.global_state import GlobalStateRule
from diverse_marl.envs.reward import DIVERSITY_STATE_KEY, ORIGINAL_KEY, ORIGINAL_RETURN_KEY
from diverse_marl.episode_info import episode_stats
from diverse_marl.errors import ConfigError


@runtime_checkable
class BatchedEnv(Protocol):
    """N copies of a multi-agent env behind one call; every per-agent value is an (N, ...) array.

    - ``reset(seed=None) -> (obs, infos)``: ``obs[agent]`` is (N, *obs_shape). With a seed, copy
      ``i`` is seeded from ``derive_seed(seed, i)``; without one, copies continue their streams.
    - ``step(actions) -> (obs, rewards, terminations, truncations, infos)``: ``actions[agent]`` is
      (N,) ints (Discrete actions only); rewards (N,) float, terminations/truncations (N,) bool.
    - Same-step auto-reset: a copy whose episode ended in this step is reset within the call and
      returns the *first* observation of its next episode. Then ``infos["done"]`` (N,) bool marks
      it, ``infos["final_obs"][agent]`` / ``infos["final_state"][agent]`` hold the episode's last
      observation / global state (valid where done), and ``infos["episode"]`` holds per-copy
      episode totals valid where done: ``"return/<agent>"``, ``"length"``, ``"original_return"``
      (team sum of the env's own rewards) and any scalar statistics (``"<agent>/<name>"``,
      ``"sparse_return"``, ...), each an (N,) array. Envs that report a ``diversity_state`` (SIPO)
      also give ``infos["final_diversity_state"][agent]`` (N, D), the finished episode's last one.
    - ``infos["original_reward"][agent]`` (N,): the env's own reward of the step (equal to the
      reward unless ``reward_weights`` replaced it, see ``diverse_marl.envs.reward``).
    - Optional ``infos["alive"][agent]`` (N,) bool: whether the agent acts at the next step in
      that copy (agents that left an episode early); absent means everyone always acts.
    - Optional action masks: agents for which ``has_action_mask(agent)`` is true get
      ``infos["action_mask"][agent]`` (N, num_actions) float32, 1 = legal, for the observations
      returned (on reset and every step), and ``infos["final_action_mask"][agent]`` for the final
      observations; ``observation_space(agent)`` is then the observation without the mask.
    - ``state() -> {agent: (N, *state_shape)}``: the agent-specific global state for a
      centralized critic, following ``diverse_marl.envs.global_state``; ``state_space(agent)``,
      ``observation_space(agent)``, ``action_space(agent)`` describe one copy.
    """

    num_envs: int
    possible_agents: list[str]

    def reset(self, seed: int | None = None) -> tuple[dict[str, np.ndarray], dict]: ...

    def step(self, actions: dict[str, np.ndarray]) -> tuple[dict, dict, dict, dict, dict]: ...

    def state(self) -> dict[str, np.ndarray]: ...

    def observation_space(self, agent: str) -> gym.Space: ...

    def action_space(self, agent: str) -> gym.spaces.Discrete: ...

    def state_space(self, agent: str) -> gym.spaces.Box: ...


# Sub-seeds of copy i are derived from (seed, i) so that copies never share a random stream.
_SEED_BITS = 31


def derive_seed(seed: int, index: int) -> int:
    """Seed of copy ``index`` given the batch seed; same inputs -> same number."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0] % (2**_SEED_BITS))


def make_batched(name: str, num_envs: int, **env_config: Any):
    """Build ``num_envs`` copies of env ``name`` (registered name or ``"pkg.module:factory"``).

    Uses the env's native batched class when there is one (a ``batched(num_envs, **env_config)``
    classmethod/attribute on the env class); otherwise wraps ``num_envs`` PettingZoo envs in :class:`SyncBatchedEnv`.
    """
    if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise ConfigError(f"num_envs must be a positive integer, got {num_envs!r}")
    native = native_batched_factory(name)
    if native is not None:
        # Validate options (layout names etc.) the same way `make` does, on one plain env.
        _validate_options(name, env_config)
        return native(num_envs=int(num_envs), **env_config)
    return SyncBatchedEnv([lambda: registry.make(name, **env_config) for _ in range(int(num_envs))])


def native_batched_factory(name: str) -> Callable[..., Any] | None:
    """The native batched constructor for env ``name``, or None if it has none."""
    if ":" in name and name not in registry.list_envs():
        factory = registry.resolve_factory(name)
    else:
        factory = registry.env_spec(name).load()
    batched = getattr(factory, "batched", None)
    return batched if callable(batched) else None


def _validate_options(name: str, env_config: dict[str, Any]) -> None:
    """Raise ConfigError for unknown options or choices, without building the env (the checks of ``make``)."""
    if name not in registry.list_envs():
        return
    spec = registry.env_spec(name)
    spec.check_choices(env_config)
    registry.check_kwargs(spec.load(), env_config, name)


def _flat_size(space: gym.Space) -> int:
    return int(gym.spaces.flatdim(space))


class SyncBatchedEnv:
    """N PettingZoo ``ParallelEnv`` copies behind the :class:`BatchedEnv` protocol (Python loop).

    Agents that left an episode early are not ``infos["alive"]``: they get zero observations and
    states, zero rewards and ``terminations=True``; their actions are ignored. Numeric totals an
    env reports on an episode's last step in ``infos[agent]["episode_stats"]`` /
    ``["episode_events"]`` reach ``infos["episode"]["<agent>/<name>"]`` (NaN for copies that did
    not report that name), like a native batched env's totals. The global state follows
    ``diverse_marl.envs.global_state`` (``state_space(agent)`` is a flat Box).
    """

    def __init__(self, env_fns: Sequence[Callable[[], Any]]) -> None:
        if len(env_fns) < 1:
            raise ConfigError("SyncBatchedEnv needs at least one env factory")
        self.envs = [fn() for fn in env_fns]
        self.num_envs = len(self.envs)
        first = self.envs[0]
        self.possible_agents: list[str] = list(first.possible_agents)
        self._act_spaces = {a: first.action_space(a) for a in self.possible_agents}
        for a, sp in self._act_spaces.items():
            if not isinstance(sp, gym.spaces.Discrete):
                raise ConfigError(f"agent {a!r} has action space {sp}; batched envs support Discrete only")
        # Dict observations {key: Box, "action_mask": Box}: the Box is the observation, the mask goes to infos
        self._obs_keys = {a: _masked_obs_key(a, first.observation_space(a)) for a in self.possible_agents}
        self._obs_spaces = {
            a: first.observation_space(a) if k is None else first.observation_space(a)[k]
            for a, k in self._obs_keys.items()
        }
        self._masks = {
            a: np.ones((self.num_envs, int(self._act_spaces[a].n)), np.float32)
            for a, k in self._obs_keys.items()
            if k is not None
        }
        self._state_rule = GlobalStateRule(first, {a: _flat_size(self._obs_spaces[a]) for a in self.possible_agents})
        self._state_spaces = {a: self._state_rule.space(a) for a in self.possible_agents}
        self._obs = {
            a: np.zeros((self.num_envs, *self._obs_spaces[a].shape), self._obs_spaces[a].dtype)
            for a in self.possible_agents
        }
        self._alive = {a: np.zeros(self.num_envs, bool) for a in self.possible_agents}
        self._returns = {a: np.zeros(self.num_envs, np.float64) for a in self.possible_agents}
        self._original_return = np.zeros(self.num_envs, np.float64)
        self._lengths = np.zeros(self.num_envs, np.int64)
        self._last_env_infos: list[dict] = [{} for _ in range(self.num_envs)]

    # ---- spaces -------------------------------------------------------------------------
    def observation_space(self, agent: str) -> gym.Space:
        return self._obs_spaces[agent]

    def action_space(self, agent: str) -> gym.spaces.Discrete:
        return self._act_spaces[agent]

    def state_space(self, agent: str) -> gym.spaces.Box:
        return self._state_spaces[agent]

    def has_action_mask(self, agent: str) -> bool:
        return agent in self._masks

    # ---- protocol -----------------------------------------------------------------------
    def reset(self, seed: int | None = None) -> tuple[dict[str, np.ndarray], dict]:
        """Reset every copy; copy i gets seed ``derive_seed(seed, i)`` when a seed is given."""
        for i, env in enumerate(self.envs):
            obs, info = env.reset(seed=None if seed is None else derive_seed(seed, i))
            self._write_obs(i, obs, env)
            self._last_env_infos[i] = info
        for a in self.possible_agents:
            self._returns[a][:] = 0.0
        self._original_return[:] = 0.0
        self._lengths[:] = 0
        infos = {"alive": self._copy_alive(), "env_infos": list(self._last_env_infos)}
        if self._masks:
            infos["action_mask"] = self._copy_masks()
        return self._copy_obs(), infos

    def step(self, actions: dict[str, np.ndarray]):
        """Step every copy; finished copies are reset in the same call (see module docstring)."""
        n = self.num_envs
        rewards = {a: np.zeros(n, np.float32) for a in self.possible_agents}
        terms = {a: np.ones(n, bool) for a in self.possible_agents}
        truncs = {a: np.zeros(n, bool) for a in self.possible_agents}
        done = np.zeros(n, bool)
        final_obs = {a: np.zeros_like(self._obs[a]) for a in self.possible_agents}
        final_state = {a: np.zeros((n, *self._state_spaces[a].shape), np.float32) for a in self.possible_agents}
        episode = {f"return/{a}": np.zeros(n, np.float64) for a in self.possible_agents}
        episode["length"] = np.zeros(n, np.int64)
        episode[ORIGINAL_RETURN_KEY] = np.zeros(n, np.float64)
        original = {a: np.zeros(n, np.float32) for a in self.possible_agents}
        final_mask = {a: np.ones_like(m) for a, m in self._masks.items()}
        final_env_infos: list[dict | None] = [None] * n  # a finished copy's last-step infos (env_infos has its reset's)
        for i, env in enumerate(self.envs):
            acting = [a for a in self.possible_agents if self._alive[a][i]]
            env_actions = {a: self._check_action(a, actions, i) for a in acting}
            obs, rew, term, trunc, info = env.step(env_actions)
            self._lengths[i] += 1
            for a in acting:
                rewards[a][i] = float(rew.get(a, 0.0))
                agent_info = info.get(a) if isinstance(info, dict) else None
                original[a][i] = (
                    float(agent_info[ORIGINAL_KEY])
                    if isinstance(agent_info, dict) and ORIGINAL_KEY in agent_info
                    else rewards[a][i]
                )
                self._original_return[i] += original[a][i]
                terms[a][i] = bool(term.get(a, False))
                truncs[a][i] = bool(trunc.get(a, False))
                self._returns[a][i] += rewards[a][i]
            self._write_obs(i, obs, env)  # stepped agents' last obs; alive = still in env.agents
            self._last_env_infos[i] = info
            if not env.agents or all(terms[a][i] or truncs[a][i] for a in acting):
                done[i] = True
                for a in self.possible_agents:
                    final_obs[a][i] = self._obs[a][i]
                for a, m in self._masks.items():
                    final_mask[a][i] = m[i]
                states = self._states_of(i, env)
                for a in self.possible_agents:
                    final_state[a][i] = states[a]
                    episode[f"return/{a}"][i] = self._returns[a][i]
                    self._returns[a][i] = 0.0
                episode["length"][i] = self._lengths[i]
                episode[ORIGINAL_RETURN_KEY][i] = self._original_return[i]
                self._original_return[i] = 0.0
                self._lengths[i] = 0
                for key, value in episode_stats(info or {}).items():
                    episode.setdefault(key, np.full(n, np.nan))[i] = value
                final_env_infos[i] = info
                new_obs, new_info = env.reset()
                self._write_obs(i, new_obs, env)
                self._last_env_infos[i] = new_info
        infos = {
            "final_obs": final_obs,
            "final_state": final_state,
            "done": done,
            "episode": episode,
            ORIGINAL_KEY: original,
            "alive": self._copy_alive(),
            "env_infos": list(self._last_env_infos),
            "final_env_infos": final_env_infos,
        }
        if self._masks:
            infos["action_mask"], infos["final_action_mask"] = self._copy_masks(), final_mask
        if done.any():
            final_diversity = self._diversity_states([f or {} for f in final_env_infos])
            if final_diversity:
                infos["final_diversity_state"] = final_diversity
        return self._copy_obs(), rewards, terms, truncs, infos

    def state(self) -> dict[str, np.ndarray]:
        """Agent-specific global state of every copy, (N, *state_shape) per agent."""
        out = {a: np.zeros((self.num_envs, *self._state_spaces[a].shape), np.float32) for a in self.possible_agents}
        for i, env in enumerate(self.envs):
            for a, s in self._states_of(i, env).items():
                out[a][i] = s
        return out

    def diversity_state(self) -> dict[str, np.ndarray]:
        """(N, D) per agent: each copy's latest ``infos[agent]["diversity_state"]`` (SIPO's state);
        {} when the env reports none (agents without one in a copy get zeros)."""
        return self._diversity_states(self._last_env_infos)

    def _diversity_states(self, env_infos: list[dict]) -> dict[str, np.ndarray]:
        found = [
            {
                a: i[a][DIVERSITY_STATE_KEY]
                for a in self.possible_agents
                if isinstance(i.get(a), dict) and DIVERSITY_STATE_KEY in i[a]
            }
            for i in env_infos
        ]
        template = next((v for f in found for v in f.values()), None)
        if template is None:
            return {}
        shape = np.shape(template)
        return {
            a: np.stack([np.asarray(f.get(a, np.zeros(shape)), np.float32) for f in found])
            for a in self.possible_agents
        }

    def close(self) -> None:
        for env in self.envs:
            env.close()

    # ---- helpers ------------------------------------------------------------------------
    def _check_action(self, agent: str, actions: dict[str, np.ndarray], i: int) -> int:
        if agent not in actions:
            raise ConfigError(f"missing actions for agent {agent!r}; expected keys: {', '.join(self.possible_agents)}")
        act = int(actions[agent][i])
        n = int(self._act_spaces[agent].n)
        if not 0 <= act < n:
            raise ConfigError(f"illegal action {act} for agent {agent!r} in env {i}; allowed: 0..{n - 1}")
        return act

    def _write_obs(self, i: int, obs: dict[str, Any], env: Any) -> None:
        live = set(env.agents)
        for a in self.possible_agents:
            key = self._obs_keys[a]
            if a in obs:
                self._obs[a][i] = obs[a] if key is None else obs[a][key]
                if key is not None:
                    self._masks[a][i] = obs[a][MASK_KEY]
            elif a not in live:
                self._obs[a][i] = 0
                if key is not None:
                    self._masks[a][i] = 1.0  # no legal-action information for an agent that left
            self._alive[a][i] = a in live

    def _states_of(self, i: int, env: Any) -> dict[str, np.ndarray]:
        flat = {a: self._obs[a][i].reshape(-1) for a in self.possible_agents}
        return self._state_rule.states(env, flat, self.possible_agents)

    def _copy_obs(self) -> dict[str, np.ndarray]:
        return {a: v.copy() for a, v in self._obs.items()}

    def _copy_alive(self) -> dict[str, np.ndarray]:
        return {a: v.copy() for a, v in self._alive.items()}

    def _copy_masks(self) -> dict[str, np.ndarray]:
        return {a: v.copy() for a, v in self._masks.items()}


def _masked_obs_key(agent: str, space: gym.Space) -> str | None:
    """The observation's key in a ``{key: Box, "action_mask": Box}`` space; None for other spaces."""
    if not (isinstance(space, gym.spaces.Dict) and MASK_KEY in space.spaces):
        return None
    rest = [k for k in space.spaces if k != MASK_KEY]
    if len(rest) != 1 or not isinstance(space[rest[0]], gym.spaces.Box):
        raise ConfigError(
            f"agent {agent!r}: batched envs read Dict observations of one Box plus {MASK_KEY!r}, "
            f"got keys {sorted(space.spaces)}"
        )
    return rest[0]
