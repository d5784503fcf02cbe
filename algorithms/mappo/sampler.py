"""A fast RLlib EnvRunner for batched multi-agent envs: one forward pass per module per step.

Why: RLlib's ``MultiAgentEnvRunner`` runs its connector pipelines, a module forward pass and
``MultiAgentEpisode.add_env_step`` per env copy and per step in Python; on small envs like
Overcooked that overhead dominates an iteration. This runner steps a batched env (see
``diverse_marl.envs.batched``), stacks the observations of *all* copies and agents mapped to a
module into one tensor, and only builds the ``MultiAgentEpisode`` objects the learner
connectors expect once per ``sample()`` call, in bulk from numpy arrays.

Use it with ``config.env_runners(env_runner_cls=VectorMultiAgentEnvRunner,
num_envs_per_env_runner=N)``. It supports ``num_env_runners`` 0 (local) and > 0.

What it does not do (raises a ConfigError instead): custom env-to-module / module-to-env
connectors (the default pipelines are replaced by the code below), recurrent modules (MAPPO's
``use_gru``), action masks (the batched env protocol has none), non-Discrete action spaces. Callbacks: ``on_episode_end`` (with the episode's last chunk,
whose ``infos`` are empty dicts) and ``on_sample_end`` are called; ``on_episode_created/start/step``
are not. Episode totals that the batched env reports in ``infos["episode"]``
(other than per-agent returns and length) are logged as ``episode/<key>`` means.

Observations handed to the module:
- plain: the env's per-agent observation (stock RLlib modules);
- MAPPO (the module's observation space is a Dict with ``"obs"``): ``{"obs": obs,
  "state": state}`` where ``state`` is the batched env's agent-specific global state (only if
  the Dict space has a ``"state"`` key), see ``diverse_marl.algorithms.mappo.module``.
"""
from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Optional, Union

import gymnasium as gym
import numpy as np
import torch

from ray.rllib.callbacks.utils import make_callback
from ray.rllib.core import COMPONENT_RL_MODULE
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.env import INPUT_ENV_SINGLE_SPACES, INPUT_ENV_SPACES
from ray.rllib.env.env_context import EnvContext
from ray.rllib.env.env_runner import EnvRunner
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.env.single_agent_episode import SingleAgentEpisode
from ray.rllib.utils.checkpoints import Checkpointable
from ray.rllib.utils.metrics import (
    EPISODE_AGENT_RETURN_MEAN,
    EPISODE_AGENT_STEPS,
    EPISODE_DURATION_SEC_MEAN,
    EPISODE_LEN_MAX,
    EPISODE_LEN_MEAN,
    EPISODE_LEN_MIN,
    EPISODE_MODULE_RETURN_MEAN,
    EPISODE_RETURN_MAX,
    EPISODE_RETURN_MEAN,
    EPISODE_RETURN_MIN,
    ENV_STEP_TIMER,
    NUM_AGENT_STEPS_SAMPLED,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES,
    NUM_EPISODES_LIFETIME,
    NUM_MODULE_STEPS_SAMPLED,
    NUM_MODULE_STEPS_SAMPLED_LIFETIME,
    RLMODULE_INFERENCE_TIMER,
    SAMPLE_TIMER,
    WEIGHTS_SEQ_NO,
)
from ray.rllib.utils.typing import StateDict

from diverse_marl.envs.batched import (
    KNOWN_BATCHED,
    SyncBatchedEnv,
    make_batched,
    native_batched_factory,
)
from diverse_marl.errors import ConfigError

OBS_KEY = "obs"      # keys of MAPPO's dict observations (diverse_marl.algorithms.mappo.module)
STATE_KEY = "state"
# Batched-env episode totals that are already logged under RLlib's own keys.
_EPISODE_KEYS_LOGGED_ELSEWHERE = ("length",)
_EPISODE_RETURN_PREFIX = "return/"
EPISODE_INFO_PREFIX = "episode/"
# Per-step inference on a few hundred rows is latency-bound: extra torch threads only add
# synchronization (10x slower on a busy 2-core machine). Restored after each sample() call.
SAMPLER_TORCH_THREADS = 1


# ------------------------------------------------------------------------------------------
# Env construction
# ------------------------------------------------------------------------------------------
def _unwrap_parallel_env(env: Any) -> Any:
    """The PettingZoo env inside RLlib's ``ParallelPettingZooEnv`` (or ``env`` itself)."""
    return getattr(env, "par_env", env)


def _class_path(obj: Any) -> str:
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}:{cls.__qualname__}"


def make_batched_env_from_config(config: Any, num_envs: int, worker_index: int = 0) -> tuple[Any, Optional[str]]:
    """Build the batched env an AlgorithmConfig describes; also return MAPPO's ``critic_input``.

    ``config.env`` may be a diverse-marl env name / import path, or a name registered with
    ``ray.tune.registry.register_env`` whose creator returns a PettingZoo ParallelEnv, possibly
    wrapped (RLlib's ``ParallelPettingZooEnv`` or MAPPO's ``MAPPOEnv``, both keep it in
    ``.par_env``). The native batched class of the underlying env is used when it exists;
    otherwise the creator is called ``num_envs`` times. ``critic_input`` is ``"state"`` or
    ``"obs"`` when the creator builds MAPPO's dict observations (``MAPPOEnv.adapter``), else None.
    """
    from ray.tune.registry import ENV_CREATOR, _global_registry

    from diverse_marl import envs as registry

    env_id = config.env
    env_config = dict(config.env_config or {})
    if isinstance(env_id, str) and (env_id in registry.list_envs() or (":" in env_id and "/" not in env_id)):
        return make_batched(env_id, num_envs, **env_config), None
    if isinstance(env_id, str) and _global_registry.contains(ENV_CREATOR, env_id):
        creator = _global_registry.get(ENV_CREATOR, env_id)
        ctx = EnvContext(env_config, worker_index=worker_index, num_workers=config.num_env_runners)
        wrapped = creator(ctx)
        critic_input = getattr(getattr(wrapped, "adapter", None), "critic_input", None)
        first = _unwrap_parallel_env(wrapped)
        native = _native_for_instance(first)
        if native is not None:
            return native(num_envs=num_envs, **env_config), critic_input
        rest = [_unwrap_parallel_env(creator(ctx)) for _ in range(num_envs - 1)]
        envs = [first, *rest]
        return SyncBatchedEnv([lambda e=e: e for e in envs]), critic_input
    if isinstance(env_id, type):
        native = getattr(env_id, "batched", None)
        if callable(native):
            return native(num_envs=num_envs, **env_config), None
        return SyncBatchedEnv([lambda: env_id(**env_config) for _ in range(num_envs)]), None
    raise ConfigError(
        f"VectorMultiAgentEnvRunner cannot build env {env_id!r}; allowed: a registered diverse-marl env "
        f"({', '.join(registry.list_envs())}), 'package.module:factory', a Tune-registered PettingZoo env, "
        "or a ParallelEnv class"
    )


def _native_for_instance(env: Any) -> Optional[Callable[..., Any]]:
    batched = getattr(type(env), "batched", None)
    if callable(batched):
        return batched
    path = _class_path(env)
    if path in KNOWN_BATCHED:
        return native_batched_factory(path)
    return None


# ------------------------------------------------------------------------------------------
# Per-copy episode bookkeeping
# ------------------------------------------------------------------------------------------
@dataclass
class _EpisodeMeta:
    """What must survive between sample() calls for the episode running in one env copy."""

    episode: MultiAgentEpisode               # id_ and agent->module mapping of this episode
    env_t: int = 0                           # env steps done in this episode
    agent_t: dict = field(default_factory=lambda: defaultdict(int))
    sa_ids: dict = field(default_factory=dict)
    returns: dict = field(default_factory=lambda: defaultdict(float))
    start_time: float = field(default_factory=time.perf_counter)


@dataclass
class _Rollout:
    """Numpy buffers of one sample() call; t indexes steps, first axis after t is the copy."""

    obs: dict = field(default_factory=lambda: defaultdict(list))        # agent -> [T+1 x (N,...)]
    state: dict = field(default_factory=lambda: defaultdict(list))      # agent -> [T+1 x (N,...)]
    acting: dict = field(default_factory=lambda: defaultdict(list))     # agent -> [T x (N,)]
    actions: dict = field(default_factory=lambda: defaultdict(list))
    rewards: dict = field(default_factory=lambda: defaultdict(list))
    terms: dict = field(default_factory=lambda: defaultdict(list))
    truncs: dict = field(default_factory=lambda: defaultdict(list))
    extra: dict = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))  # agent -> col -> [T x (N,...)]
    done: list = field(default_factory=list)                            # [T x (N,)]
    final_obs: dict = field(default_factory=dict)                       # (t, agent) -> (N,...)
    final_state: dict = field(default_factory=dict)
    metas: list = field(default_factory=list)  # copy -> metas of the episodes it ran, in order

    @property
    def num_steps(self) -> int:
        return len(self.done)

    def stack(self, agents: list[str], with_state: bool) -> "_Stacked":
        """(N, T(+1), ...) arrays, so that the slices of one copy are contiguous."""
        T = self.num_steps
        per_agent = lambda buf: {a: np.stack(buf[a], axis=1) for a in agents}  # noqa: E731
        return _Stacked(
            obs=per_agent(self.obs), state=per_agent(self.state) if with_state else {},
            acting=per_agent(self.acting), actions=per_agent(self.actions), rewards=per_agent(self.rewards),
            terms=per_agent(self.terms), truncs=per_agent(self.truncs),
            extra={a: {c: _stack_filled(v, T) for c, v in self.extra[a].items()} for a in agents},
            done=np.stack(self.done, axis=1),
        )


@dataclass
class _Stacked:
    """A rollout's buffers stacked per agent: obs/state (N, T+1, ...), the rest (N, T, ...)."""

    obs: dict
    state: dict
    acting: dict
    actions: dict
    rewards: dict
    terms: dict
    truncs: dict
    extra: dict
    done: np.ndarray


class VectorMultiAgentEnvRunner(EnvRunner, Checkpointable):
    """EnvRunner stepping a batched env with one RLModule forward pass per module per step."""

    def __init__(self, *, config: Any, **kwargs: Any) -> None:
        super().__init__(config=config, **kwargs)
        if not self.config.is_multi_agent:
            raise ConfigError("VectorMultiAgentEnvRunner needs a multi-agent config "
                              "(config.multi_agent(policies=..., policy_mapping_fn=...))")
        if self.config._env_to_module_connector is not None or self.config._module_to_env_connector is not None:
            raise ConfigError("VectorMultiAgentEnvRunner does not run custom env_to_module/module_to_env "
                              "connectors; remove them or use RLlib's MultiAgentEnvRunner")
        self.spaces = kwargs.get("spaces", {}) or {}
        self._callbacks = [cls() for cls in _force_list(self.config.callbacks_class)]
        self.num_envs = int(self.config.num_envs_per_env_runner)
        self.env = None
        if (self.worker_index is None or self.worker_index > 0 or self.config.create_env_on_local_worker
                or self.config.num_env_runners == 0):
            self.make_env()
        self.module: Optional[MultiRLModule] = None
        self.make_module()
        self._weights_seq_no = 0
        self._needs_initial_reset = True
        self._seeded = False
        self._cur_obs: dict[str, np.ndarray] = {}
        self._cur_state: dict[str, np.ndarray] = {}
        self._cur_alive: dict[str, np.ndarray] = {}
        self._metas: list[_EpisodeMeta] = []

    # ---- construction ------------------------------------------------------------------
    def make_env(self) -> None:
        if self.env is not None and hasattr(self.env, "close"):
            self.env.close()
        self.env, critic_input = make_batched_env_from_config(self.config, self.num_envs, self.worker_index or 0)
        self.agents: list[str] = list(self.env.possible_agents)
        for a in self.agents:
            if not isinstance(self.env.action_space(a), gym.spaces.Discrete):
                raise ConfigError(f"agent {a!r}: VectorMultiAgentEnvRunner supports Discrete actions only, "
                                  f"got {self.env.action_space(a)}")
        if critic_input is None:
            critic_input = _critic_input_from_specs(self.config)
        # "plain": the env's observation; "dict": {"obs"}; "dict_state": {"obs", "state"} (MAPPO)
        self._layout = "plain" if critic_input is None else ("dict_state" if critic_input == STATE_KEY else "dict")
        self._needs_initial_reset = True

    def _agent_obs_space(self, agent: str) -> gym.Space:
        """The observation space the module sees for ``agent`` (MAPPO: a Dict, see module docstring)."""
        if self._layout == "plain":
            return self.env.observation_space(agent)
        spaces = {OBS_KEY: gym.spaces.Box(-np.inf, np.inf, self.env.observation_space(agent).shape, np.float32)}
        if self._layout == "dict_state":
            size = int(np.prod(self.env.state_space(agent).shape))
            spaces[STATE_KEY] = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)
        return gym.spaces.Dict(spaces)

    def get_spaces(self) -> dict:
        if self.env is None:
            return self.spaces
        obs = gym.spaces.Dict({a: self._agent_obs_space(a) for a in self.agents})
        act = gym.spaces.Dict({a: self.env.action_space(a) for a in self.agents})
        out: dict[str, Any] = {INPUT_ENV_SPACES: (obs, act), INPUT_ENV_SINGLE_SPACES: (obs, act)}
        dummy = MultiAgentEpisode(agent_to_module_mapping_fn=self.config.policy_mapping_fn)
        for a in self.agents:
            mid = self.config.policy_mapping_fn(a, dummy)
            out.setdefault(mid, (obs[a], act[a]))
        for mid in self.config.policies:
            if mid not in out and self.agents:  # module not mapped by the dummy episode: use agent 0's spaces
                out[mid] = (obs[self.agents[0]], act[self.agents[0]])
        return out

    def make_module(self) -> None:
        try:
            spec = self.config.get_multi_rl_module_spec(spaces=self.get_spaces(), inference_only=True)
            self.module = spec.build()
        except NotImplementedError:
            self.module = None
            return
        self.module.foreach_module(lambda mid, mod: mod.eval() if isinstance(mod, torch.nn.Module) else None)
        if self.env is not None:
            self._check_module_spaces()
        for mid, mod in self.module._rl_modules.items():
            if mod.is_stateful():
                raise ConfigError(f"module {mid!r} is recurrent; VectorMultiAgentEnvRunner supports "
                                  "feed-forward modules only (use RLlib's MultiAgentEnvRunner)")

    def _check_module_spaces(self) -> None:
        """Fail early (with names) if a module expects other observations than this runner builds."""
        dummy = MultiAgentEpisode(agent_to_module_mapping_fn=self.config.policy_mapping_fn)
        for a in self.agents:
            mid = dummy.module_for(a)
            if mid not in self.module:
                continue
            expected, ours = self.module[mid].observation_space, self._agent_obs_space(a)
            if expected is not None and expected != ours:
                raise ConfigError(
                    f"module {mid!r} expects observations {expected} for agent {a!r}, but the batched env "
                    f"gives {ours}; check that the batched env's observation/state spaces match the env's"
                )

    def assert_healthy(self) -> None:
        assert self.env is not None and self.module is not None

    # ---- sampling ----------------------------------------------------------------------
    def sample(
        self,
        *,
        num_timesteps: Optional[int] = None,
        num_episodes: Optional[int] = None,
        explore: Optional[bool] = None,
        random_actions: bool = False,
        force_reset: bool = False,
    ) -> list[MultiAgentEpisode]:
        """Step all copies; return finished episodes and chunks of the running ones.

        ``num_timesteps`` counts env steps of all copies (or agent steps if
        ``config.count_steps_by == "agent_steps"``); ``num_episodes`` returns that many
        complete episodes, starting from fresh resets.
        """
        if self.env is None:
            raise ValueError(f"{self} has no env; cannot sample")
        if num_timesteps is not None and num_episodes is not None:
            raise ValueError("give num_timesteps or num_episodes, not both")
        explore = self.config.explore if explore is None else explore
        if num_timesteps is None and num_episodes is None:
            if self.config.batch_mode == "truncate_episodes":
                num_timesteps = self.config.get_rollout_fragment_length(self.worker_index or 0) * self.num_envs
            else:
                num_episodes = self.num_envs
        with self.metrics.log_time(SAMPLE_TIMER), _torch_threads(SAMPLER_TORCH_THREADS):
            if num_episodes is not None:
                self._reset(explore)
                episodes = self._run(explore, random_actions, max_steps=None, num_episodes=num_episodes)
                self._needs_initial_reset = True
            else:
                if force_reset or self._needs_initial_reset:
                    self._reset(explore)
                per_step = self.num_envs * (len(self.agents) if self.config.count_steps_by == "agent_steps" else 1)
                episodes = self._run(explore, random_actions, max_steps=max(1, math.ceil(num_timesteps / per_step)))
            make_callback("on_sample_end", callbacks_objects=self._callbacks,
                          callbacks_functions=self.config.callbacks_on_sample_end,
                          kwargs=dict(env_runner=self, metrics_logger=self.metrics, samples=episodes))
        return episodes

    def _reset(self, explore: bool) -> None:
        seed = None if self._seeded else self._seed  # seed once; later resets continue the streams
        self._seeded = True
        obs, infos = self.env.reset(seed=seed)
        self._cur_obs = {a: self._as_obs(obs[a]) for a in self.agents}
        self._cur_state = ({a: _as_state(v) for a, v in self.env.state().items()}
                           if self._layout == "dict_state" else {})
        self._cur_alive = self._alive_from(infos)
        self._metas = [self._new_meta() for _ in range(self.num_envs)]
        self._module_ids = {a: np.array([m.episode.module_for(a) for m in self._metas], dtype=object)
                            for a in self.agents}
        self._needs_initial_reset = False

    def _start_episode(self, i: int) -> _EpisodeMeta:
        """New episode in copy ``i`` (its agent->module mapping applies from its first step on)."""
        meta = self._metas[i] = self._new_meta()
        for a in self.agents:
            self._module_ids[a][i] = meta.episode.module_for(a)
        return meta

    def _new_meta(self) -> _EpisodeMeta:
        ep = MultiAgentEpisode(
            observation_space={a: self._agent_obs_space(a) for a in self.agents},
            action_space={a: self.env.action_space(a) for a in self.agents},
            agent_to_module_mapping_fn=self.config.policy_mapping_fn,
        )
        meta = _EpisodeMeta(episode=ep)
        for a in self.agents:
            ep.module_for(a)  # fix the agent->module mapping for the whole episode
            meta.sa_ids[a] = uuid.uuid4().hex
        return meta

    def _alive_from(self, infos: dict) -> dict[str, np.ndarray]:
        alive = infos.get("alive") if isinstance(infos, dict) else None
        if alive is None:
            return {a: np.ones(self.num_envs, bool) for a in self.agents}
        return {a: np.asarray(alive[a], bool) for a in self.agents}

    def _as_obs(self, x: Any) -> np.ndarray:
        """MAPPO's actor input is float32 (its adapter casts); stock modules get the env's dtype."""
        return np.asarray(x, np.float32) if self._layout != "plain" else np.asarray(x)

    def _module_input(self, agent: str, rows: np.ndarray, obs: dict, state: dict) -> Any:
        layout = self._layout
        if layout == "plain":
            return obs[agent][rows]
        out = {OBS_KEY: obs[agent][rows]}
        if layout == "dict_state":
            out[STATE_KEY] = state[agent][rows]
        return out

    def _act(self, explore: bool, random_actions: bool, env_steps_before: int):
        """Actions (and extra model outputs) for every acting agent of every copy."""
        n = self.num_envs
        actions = {a: np.zeros(n, np.int64) for a in self.agents}
        extra: dict[str, dict[str, np.ndarray]] = {a: {} for a in self.agents}
        if random_actions or self.module is None:
            for a in self.agents:
                actions[a][:] = np.random.randint(0, int(self.env.action_space(a).n), size=n)
            return actions, extra
        # Group (agent, rows) by module: rows = copies where the agent acts and maps to the module.
        groups: dict[str, list[tuple[str, np.ndarray]]] = defaultdict(list)
        for a in self.agents:
            mids = self._module_ids[a]
            alive = self._cur_alive[a]
            for mid in set(mids[alive].tolist()) if alive.any() else ():
                rows = np.nonzero(alive & (mids == mid))[0]
                groups[mid].append((a, rows))
        t = (self.num_env_steps_sampled_lifetime // (self.config.num_env_runners or 1)
             + env_steps_before) * (self.config.num_env_runners or 1)
        for mid, parts in groups.items():
            module = self.module[mid]
            inputs = [self._module_input(a, rows, self._cur_obs, self._cur_state) for a, rows in parts]
            batch = {Columns.OBS: _to_tensor(_concat(inputs))}
            with torch.no_grad(), self.metrics.log_time(RLMODULE_INFERENCE_TIMER):
                if explore:
                    out = _forward(module, "exploration", batch, t=t)
                    dist_cls = module.get_exploration_action_dist_cls()
                else:
                    out = _forward(module, "inference", batch)
                    dist_cls = module.get_inference_action_dist_cls()
                if Columns.ACTIONS not in out:
                    dist = dist_cls.from_logits(out[Columns.ACTION_DIST_INPUTS])
                    if not explore:
                        dist = dist.to_deterministic()
                    out[Columns.ACTIONS] = dist.sample()
                    if Columns.ACTION_LOGP not in out:
                        out[Columns.ACTION_LOGP] = dist.logp(out[Columns.ACTIONS])
            out = {k: v.detach().cpu().numpy() for k, v in out.items()
                   if isinstance(v, torch.Tensor) and v.dim() >= 1 and v.shape[0] == batch_len(batch)}
            start = 0
            for a, rows in parts:
                end = start + len(rows)
                actions[a][rows] = out[Columns.ACTIONS][start:end]
                for col, val in out.items():
                    if col == Columns.ACTIONS:
                        continue
                    buf = extra[a].get(col)
                    if buf is None:
                        buf = extra[a][col] = np.zeros((n, *val.shape[1:]), val.dtype)
                    buf[rows] = val[start:end]
                start = end
        return actions, extra

    def _run(self, explore: bool, random_actions: bool, max_steps: Optional[int],
             num_episodes: Optional[int] = None) -> list[MultiAgentEpisode]:
        ro = _Rollout(metas=[[m] for m in self._metas])
        self._record_obs(ro)
        episodes_done = 0
        env_steps = 0
        while (max_steps is not None and ro.num_steps < max_steps) or (
                num_episodes is not None and episodes_done < num_episodes):
            actions, extra = self._act(explore, random_actions, env_steps)
            for a in self.agents:
                ro.acting[a].append(self._cur_alive[a])
                ro.actions[a].append(actions[a])
                for col in set(extra[a]) | set(ro.extra[a]):
                    col_steps = ro.extra[a][col]
                    col_steps.extend([None] * (ro.num_steps - len(col_steps)))  # column seen first now
                    col_steps.append(extra[a].get(col))  # None: the agent acted in no copy
            with self.metrics.log_time(ENV_STEP_TIMER):
                obs, rewards, terms, truncs, infos = self.env.step(actions)
            t = ro.num_steps
            done = np.asarray(infos.get("done", np.zeros(self.num_envs, bool)), bool)
            for a in self.agents:
                ro.rewards[a].append(np.asarray(rewards[a], np.float32))
                ro.terms[a].append(np.asarray(terms[a], bool))
                ro.truncs[a].append(np.asarray(truncs[a], bool))
            ro.done.append(done)
            env_steps += self.num_envs
            if done.any():
                for a in self.agents:
                    ro.final_obs[(t, a)] = self._as_obs(infos["final_obs"][a])
                    if self._layout == "dict_state":
                        ro.final_state[(t, a)] = _as_state(infos["final_state"][a])
                episodes_done += int(done.sum())
                self._log_env_episode_info(infos.get("episode", {}), done)
                for i in np.nonzero(done)[0]:
                    ro.metas[i].append(self._start_episode(int(i)))
            self._cur_obs = {a: self._as_obs(obs[a]) for a in self.agents}
            if self._layout == "dict_state":
                self._cur_state = {a: _as_state(v) for a, v in self.env.state().items()}
            self._cur_alive = self._alive_from(infos)
            self._record_obs(ro)
        return self._build_episodes(ro, complete_only=num_episodes is not None, max_episodes=num_episodes)

    def _record_obs(self, ro: _Rollout) -> None:
        for a in self.agents:
            ro.obs[a].append(self._cur_obs[a])
            if self._layout == "dict_state":
                ro.state[a].append(self._cur_state[a])

    # ---- episodes ----------------------------------------------------------------------
    def _build_episodes(self, ro: _Rollout, complete_only: bool, max_episodes: Optional[int]
                        ) -> list[MultiAgentEpisode]:
        """Cut the rollout into per-copy episode chunks and wrap them as MultiAgentEpisodes."""
        T = ro.num_steps
        arr = ro.stack(self.agents, with_state=self._layout == "dict_state")
        finished: list[tuple[float, MultiAgentEpisode]] = []
        ongoing: list[MultiAgentEpisode] = []
        agent_steps: dict[str, int] = defaultdict(int)
        module_steps: dict[str, int] = defaultdict(int)
        now = time.perf_counter()
        for i in range(self.num_envs):
            ends = (np.nonzero(arr.done[i])[0] + 1).tolist()
            starts = [0] + ends
            stops = ends + ([T] if starts[-1] < T else [])
            for s, e, meta in zip(starts, stops, ro.metas[i]):
                is_done = bool(arr.done[i, e - 1])
                ep = self._make_chunk(i, s, e, is_done, meta, arr, ro)
                for a, sa in ep.agent_episodes.items():
                    agent_steps[a] += len(sa)
                    module_steps[sa.module_id] += len(sa)
                if is_done:
                    self._log_episode(meta, now)
                    self._on_episode_end(ep, i)
                    finished.append((meta.start_time, ep))
                elif not complete_only:
                    ongoing.append(ep)
        self._log_counts(T * self.num_envs, agent_steps, module_steps, len(finished))
        finished.sort(key=lambda x: x[0])
        episodes = [ep for _, ep in finished]
        if max_episodes is not None:
            episodes = episodes[:max_episodes]
        return episodes + ongoing

    def _make_chunk(self, i: int, s: int, e: int, is_done: bool, meta: _EpisodeMeta, arr: _Stacked,
                    ro: _Rollout) -> MultiAgentEpisode:
        """One MultiAgentEpisode chunk: copy ``i``, rollout steps ``s..e-1`` of episode ``meta``."""
        ep = MultiAgentEpisode(
            id_=meta.episode.id_,
            observation_space=meta.episode.observation_space,
            action_space=meta.episode.action_space,
            agent_to_module_mapping_fn=self.config.policy_mapping_fn,
            agent_module_ids=dict(meta.episode._agent_to_module_mapping),
            env_t_started=meta.env_t,
        )
        ep.env_t = meta.env_t + (e - s)
        for a in self.agents:
            act_mask = arr.acting[a][i, s:e]
            if not act_mask.any():
                continue  # the agent left the episode before this chunk
            steps = np.arange(s, e) if act_mask.all() else np.nonzero(act_mask)[0] + s
            k = len(steps)
            last = int(steps[-1])
            # the observation before each acted step, plus the one after the last acted step
            obs_idx = np.append(steps, last + 1)
            ended_here = bool(ro.done[last][i])  # then the obs after `last` is the env's final_obs
            o = arr.obs[a][i, obs_idx]
            if ended_here:
                o[-1] = ro.final_obs[(last, a)][i]
            observations: Any = o
            if self._layout != "plain":
                observations = {OBS_KEY: o}
                if self._layout == "dict_state":
                    st = arr.state[a][i, obs_idx]
                    if ended_here:
                        st[-1] = ro.final_state[(last, a)][i]
                    observations[STATE_KEY] = st
            term = bool(arr.terms[a][i, last])
            trunc = bool(arr.truncs[a][i, last]) and not term
            if is_done and last == e - 1 and not (term or trunc):
                trunc = True  # the env ended the episode for everyone
            rewards = arr.rewards[a][i, steps]
            extra = {c: v[i, steps] for c, v in arr.extra[a].items()}
            extra[WEIGHTS_SEQ_NO] = np.full(k, self._weights_seq_no, np.int64)
            ep.agent_episodes[a] = SingleAgentEpisode(
                id_=meta.sa_ids[a],
                observations=observations,
                observation_space=ep.observation_space[a],
                infos=[{} for _ in range(k + 1)],
                actions=arr.actions[a][i, steps],
                action_space=ep.action_space[a],
                rewards=rewards,
                terminated=term,
                truncated=trunc,
                extra_model_outputs=extra,
                t_started=meta.agent_t[a],
                len_lookback_buffer=0,
                agent_id=a,
                module_id=ep.module_for(a),
                multi_agent_episode_id=ep.id_,
            )
            ep.agent_t_started[a] = meta.agent_t[a]
            ep.env_t_to_agent_t[a].data = list(range(k + 1)) if act_mask.all() else _env_to_agent_t(obs_idx - s, e - s)
            meta.agent_t[a] += k
            meta.returns[a] += float(rewards.sum())
        meta.env_t += e - s
        ep.is_terminated = is_done and all(sa.is_terminated for sa in ep.agent_episodes.values())
        ep.is_truncated = is_done and not ep.is_terminated
        ep._start_time, ep._last_step_time = meta.start_time, time.perf_counter()
        return ep

    def _on_episode_end(self, episode: MultiAgentEpisode, env_index: int) -> None:
        """RLlib's ``on_episode_end`` callbacks, once per finished episode (with its last chunk)."""
        if not self._callbacks and not self.config.callbacks_on_episode_end:
            return
        make_callback("on_episode_end", callbacks_objects=self._callbacks,
                      callbacks_functions=self.config.callbacks_on_episode_end,
                      kwargs=dict(episode=episode, env_runner=self, metrics_logger=self.metrics, env=self.env,
                                  rl_module=self.module, env_index=env_index, prev_episode_chunks=[]))

    # ---- metrics -----------------------------------------------------------------------
    def _log_counts(self, env_steps: int, agent_steps: dict, module_steps: dict, num_episodes: int) -> None:
        m = self.metrics
        m.log_value(NUM_ENV_STEPS_SAMPLED, env_steps, reduce="sum")
        m.log_value(NUM_ENV_STEPS_SAMPLED_LIFETIME, env_steps, reduce="lifetime_sum", with_throughput=True)
        self.num_env_steps_sampled_lifetime += env_steps
        for a, k in agent_steps.items():
            m.log_value((NUM_AGENT_STEPS_SAMPLED, str(a)), k, reduce="sum")
            m.log_value((NUM_AGENT_STEPS_SAMPLED_LIFETIME, str(a)), k, reduce="lifetime_sum")
        for mid, k in module_steps.items():
            m.log_value((NUM_MODULE_STEPS_SAMPLED, mid), k, reduce="sum")
            m.log_value((NUM_MODULE_STEPS_SAMPLED_LIFETIME, mid), k, reduce="lifetime_sum")
        m.log_value(NUM_EPISODES, num_episodes, reduce="sum")
        m.log_value(NUM_EPISODES_LIFETIME, num_episodes, reduce="lifetime_sum")

    def _window(self) -> int:
        return max(1, math.ceil(self.config.metrics_num_episodes_for_smoothing / (self.config.num_env_runners or 1)))

    def _log_episode(self, meta: _EpisodeMeta, now: float) -> None:
        length = meta.env_t
        ret = float(sum(meta.returns.values()))
        agents = {str(a): float(v) for a, v in meta.returns.items()}
        modules: dict[str, float] = defaultdict(float)
        for a, v in meta.returns.items():
            modules[meta.episode.module_for(a)] += float(v)
        win = self._window()
        self.metrics.log_dict({
            EPISODE_LEN_MEAN: length, EPISODE_RETURN_MEAN: ret, EPISODE_DURATION_SEC_MEAN: now - meta.start_time,
            EPISODE_AGENT_RETURN_MEAN: agents, EPISODE_AGENT_STEPS: {str(a): int(v) for a, v in meta.agent_t.items()},
            EPISODE_MODULE_RETURN_MEAN: dict(modules),
        }, window=win)
        self.metrics.log_dict({EPISODE_LEN_MIN: length, EPISODE_RETURN_MIN: ret}, reduce="min", window=win)
        self.metrics.log_dict({EPISODE_LEN_MAX: length, EPISODE_RETURN_MAX: ret}, reduce="max", window=win)

    def _log_env_episode_info(self, episode_info: dict, done: np.ndarray) -> None:
        """Env-reported episode totals (e.g. Overcooked's sparse return) as ``episode/<key>``."""
        win = self._window()
        for key, values in (episode_info or {}).items():
            if key in _EPISODE_KEYS_LOGGED_ELSEWHERE or key.startswith(_EPISODE_RETURN_PREFIX):
                continue
            arr = np.asarray(values)
            if arr.shape != done.shape or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
                continue  # per-agent or per-event arrays: not a scalar episode figure
            for v in arr[done]:
                self.metrics.log_value(EPISODE_INFO_PREFIX + key, float(v), reduce="mean", window=win)

    def get_metrics(self) -> dict:
        return self.metrics.reduce()

    # ---- state -------------------------------------------------------------------------
    def get_state(self, components: Optional[Union[str, Collection[str]]] = None, *,
                  not_components: Optional[Union[str, Collection[str]]] = None, **kwargs: Any) -> StateDict:
        state: dict[str, Any] = {NUM_ENV_STEPS_SAMPLED_LIFETIME: self.num_env_steps_sampled_lifetime}
        if self._check_component(COMPONENT_RL_MODULE, components, not_components):
            state[COMPONENT_RL_MODULE] = self.module.get_state(
                components=self._get_subcomponents(COMPONENT_RL_MODULE, components),
                not_components=self._get_subcomponents(COMPONENT_RL_MODULE, not_components),
                **kwargs,
            )
            state[WEIGHTS_SEQ_NO] = self._weights_seq_no
        return state

    def set_state(self, state: StateDict) -> None:
        if COMPONENT_RL_MODULE in state:
            seq = state.get(WEIGHTS_SEQ_NO, 0)
            if seq == 0 or self._weights_seq_no < seq:
                module_state = state[COMPONENT_RL_MODULE]
                if _is_object_ref(module_state):
                    import ray

                    module_state = ray.get(module_state)
                self.module.set_state(module_state)
            if seq > 0:
                self._weights_seq_no = seq
        if NUM_ENV_STEPS_SAMPLED_LIFETIME in state:
            self.num_env_steps_sampled_lifetime = state[NUM_ENV_STEPS_SAMPLED_LIFETIME]

    def get_ctor_args_and_kwargs(self):
        return (), {"config": self.config}

    def get_checkpointable_components(self):
        return [(COMPONENT_RL_MODULE, self.module)]

    def stop(self) -> None:
        if self.env is not None and hasattr(self.env, "close"):
            self.env.close()


# ------------------------------------------------------------------------------------------
# small helpers
# ------------------------------------------------------------------------------------------
@contextlib.contextmanager
def _torch_threads(n: int):
    """Temporarily cap torch's intra-op threads (cheap to toggle; no-op if already <= n)."""
    before = torch.get_num_threads()
    if before > n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if before > n:
            torch.set_num_threads(before)


def _forward(module: Any, kind: str, batch: dict, **kwargs: Any) -> dict:
    """``module.forward_<kind>`` without its per-call train/eval toggling (a recursive walk over
    all submodules, ~15% of sampling time). Our modules stay in eval mode (set in make_module),
    so calling the documented ``_forward_<kind>`` hook directly computes the same thing."""
    if isinstance(module, TorchRLModule) and not module.training:
        return getattr(module, f"_forward_{kind}")(batch, **kwargs)
    return getattr(module, f"forward_{kind}")(batch, **kwargs)


def _force_list(x: Any) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _is_object_ref(x: Any) -> bool:
    try:
        import ray

        return isinstance(x, ray.ObjectRef)
    except ImportError:  # pragma: no cover
        return False


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], dict):
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return np.concatenate(parts)


def _to_tensor(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _to_tensor(v) for k, v in x.items()}
    return torch.from_numpy(np.ascontiguousarray(x))


def batch_len(batch: dict) -> int:
    obs = batch[Columns.OBS]
    while isinstance(obs, dict):
        obs = next(iter(obs.values()))
    return int(obs.shape[0])


def _as_state(x: Any) -> np.ndarray:
    """(N, *state_shape) -> (N, state_size) float32, the critic's flat input."""
    x = np.asarray(x, np.float32)
    return x.reshape(x.shape[0], -1)


def _critic_input_from_specs(config: Any) -> Optional[str]:
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


def _stack_filled(steps: list, num_steps: int) -> np.ndarray:
    """Stack per-step (N, ...) arrays along axis 1; missing steps (None) become zeros."""
    template = next(v for v in steps if v is not None)
    steps = steps + [None] * (num_steps - len(steps))
    return np.stack([np.zeros_like(template) if v is None else v for v in steps], axis=1)


def _env_to_agent_t(obs_times: np.ndarray, chunk_len: int) -> list:
    """Env-step -> agent-step map of a chunk (RLlib's "S" = the agent has no obs at that env step)."""
    out: list = [MultiAgentEpisode.SKIP_ENV_TS_TAG] * (chunk_len + 1)
    for k, t in enumerate(obs_times.tolist()):
        out[t] = k
    return out


__all__ = ["VectorMultiAgentEnvRunner", "make_batched_env_from_config"]
