"""A fast RLlib EnvRunner for batched multi-agent envs: one forward pass per module per step.

Why: RLlib's ``MultiAgentEnvRunner`` runs its connector pipelines, a module forward pass and
``MultiAgentEpisode.add_env_step`` per env copy and per step in Python; on small envs like
Overcooked that overhead dominates an iteration. This runner steps a batched env (see
``diverse_marl.envs.batched``), stacks the observations of *all* copies and agents mapped to a
module into one tensor, and only builds the ``MultiAgentEpisode`` objects the learner
connectors expect once per ``sample()`` call, in bulk from numpy arrays.

Use it with ``config.env_runners(env_runner_cls=VectorMultiAgentEnvRunner,
num_envs_per_env_runner=N)``. It supports ``num_env_runners`` 0 (local) and > 0.

Its parts, one job per module:
- ``runner_env.py``       which batched env the config describes; the module's observation layout
- ``runner_inference.py`` one forward pass over stacked rows
- ``runner_episodes.py``  per-copy episode bookkeeping; bulk building of the episodes
- ``runner_metrics.py``   RLlib's sampling metrics plus ``episode/<key>`` env totals
- ``runner_callbacks.py`` the RLlib callbacks it calls (``on_episode_end``, ``on_sample_end``)
- ``runner_partners.py``  frozen partners in some seats (``MAPPOConfig.partners``); their steps
  are left out of the episodes, so the learner only sees the trained module's seats

Recurrent modules (MAPPO's ``use_gru``): a state per (agent, module) and env copy, reset to the
module's initial state when that copy starts an episode; every step's ``state_out`` goes into
the episode's extra model outputs, and a chunk that continues an episode carries the state
before its first step in a one-step lookback - what RLlib's runner stores and its learner
connector ``AddStatesFromEpisodesToBatch`` reads.

Action masks: agents whose batched env reports masks (``has_action_mask``, see
``diverse_marl.envs.batched``) get ``"action_mask"`` in MAPPO's observation dicts - the module
masks the logits, so masked actions are never sampled - and random actions stay legal.

What it does not do (raises a ConfigError instead): custom env-to-module / module-to-env
connectors (the default pipelines are replaced by the code below), non-Discrete action spaces.
Callbacks: ``on_episode_end`` (with the episode's last chunk, whose ``infos`` are empty dicts)
and ``on_sample_end`` are called; ``on_episode_created/start/step`` are not.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Collection
from typing import Any

import gymnasium as gym
import numpy as np
import ray
import torch
import tree
from ray.rllib.core import COMPONENT_RL_MODULE
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModule
from ray.rllib.env.env_runner import EnvRunner
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.utils.checkpoints import Checkpointable
from ray.rllib.utils.metrics import (
    ENV_STEP_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    RLMODULE_INFERENCE_TIMER,
    SAMPLE_TIMER,
    WEIGHTS_SEQ_NO,
)
from ray.rllib.utils.typing import StateDict

from diverse_marl.algorithms.mappo.networks import MASK_KEY, OBS_KEY
from diverse_marl.algorithms.mappo.runner_callbacks import callback_objects, on_episode_end, on_sample_end
from diverse_marl.algorithms.mappo.runner_env import (
    DICT_STATE,
    JOINT_OBS,
    JointObsState,
    as_obs,
    as_state,
    check_module_spaces,
    critic_input_from_specs,
    layout_for,
    make_batched_env_from_config,
    module_input,
    module_obs_space,
    runner_spaces,
)
from diverse_marl.algorithms.mappo.runner_episodes import EpisodeAssembler, EpisodeMeta, Rollout
from diverse_marl.algorithms.mappo.runner_inference import (
    SAMPLER_TORCH_THREADS,
    module_outputs,
    random_legal_actions,
    rows_by_module,
    scatter_outputs,
    torch_threads,
)
from diverse_marl.algorithms.mappo.runner_metrics import (
    log_counts,
    log_env_episode_info,
    log_episode,
    log_partner_episodes,
    smoothing_window,
)
from diverse_marl.algorithms.mappo.runner_partners import SELF_PLAY_NAME, PartnerSeats
from diverse_marl.envs.reward import ORIGINAL_KEY
from diverse_marl.errors import ConfigError
from diverse_marl.partners import PartnerSpec


class VectorMultiAgentEnvRunner(EnvRunner, Checkpointable):
    """EnvRunner stepping a batched env with one RLModule forward pass per module per step."""

    supports_partners = True  # plays ``config.partners_spec`` (checked by MAPPOConfig.validate)
    supports_recurrent = True  # GRU state per env copy, reset at that copy's episode start
    supports_action_masks = True  # masks from the env's Dict observation or SyncBatchedEnv's infos

    def __init__(self, *, config: Any, **kwargs: Any) -> None:
        super().__init__(config=config, **kwargs)
        if not self.config.is_multi_agent:
            raise ConfigError(
                "VectorMultiAgentEnvRunner needs a multi-agent config "
                "(config.multi_agent(policies=..., policy_mapping_fn=...))"
            )
        if self.config._env_to_module_connector is not None or self.config._module_to_env_connector is not None:
            raise ConfigError(
                "VectorMultiAgentEnvRunner does not run custom env_to_module/module_to_env "
                "connectors; remove them or use RLlib's MultiAgentEnvRunner"
            )
        self.spaces = kwargs.get("spaces", {}) or {}
        self._callbacks = callback_objects(self.config)
        self.num_envs = int(self.config.num_envs_per_env_runner)
        self.env = None
        self._joint: JointObsState | None = None  # critic_input="joint_obs": states from observations
        if (
            self.worker_index is None
            or self.worker_index > 0
            or self.config.create_env_on_local_worker
            or self.config.num_env_runners == 0
        ):
            self.make_env()
        self.module: MultiRLModule | None = None
        self.make_module()
        self._weights_seq_no = 0
        self._needs_initial_reset = True
        self._seeded = False
        self._cur_obs: dict[str, np.ndarray] = {}
        self._cur_state: dict[str, np.ndarray] = {}
        self._cur_mask: dict[str, np.ndarray] = {}  # agents with action masks only
        self._cur_alive: dict[str, np.ndarray] = {}
        self._metas: list[EpisodeMeta] = []
        self._recurrent: dict[tuple[str, str], Any] = {}  # (agent, module) -> state, (N, ...) per entry

    # ---- construction ------------------------------------------------------------------
    def make_env(self) -> None:
        if self.env is not None and hasattr(self.env, "close"):
            self.env.close()
        self.env, critic_input = make_batched_env_from_config(self.config, self.num_envs, self.worker_index or 0)
        self.agents: list[str] = list(self.env.possible_agents)
        for a in self.agents:
            if not isinstance(self.env.action_space(a), gym.spaces.Discrete):
                raise ConfigError(
                    f"agent {a!r}: VectorMultiAgentEnvRunner supports Discrete actions only, "
                    f"got {self.env.action_space(a)}"
                )
        if critic_input is None:
            critic_input = critic_input_from_specs(self.config)
        self._layout = layout_for(critic_input)
        self._joint = JointObsState(self.env) if critic_input == JOINT_OBS else None
        self._episodes = EpisodeAssembler(
            self.agents,
            self._layout,
            self.config.policy_mapping_fn,
            obs_spaces={a: self._agent_obs_space(a) for a in self.agents},
            action_spaces={a: self.env.action_space(a) for a in self.agents},
        )
        spec = getattr(self.config, "partners_spec", None)
        self.partners: PartnerSeats | None = None
        if spec:
            self.partners = PartnerSeats(
                PartnerSpec.from_dict(spec),
                self.agents,
                self.num_envs,
                self.config.env_config,
                seed=int(self.config.seed or 0),
                worker_index=self.worker_index or 0,
            )
        # SIPO's connector reads the env's diversity_state (algorithms/diversity/states.py)
        self._records_diversity_state = bool(getattr(self.config, "diversity_spec", None)) and hasattr(
            self.env, "diversity_state"
        )
        self._needs_initial_reset = True

    def _agent_obs_space(self, agent: str) -> gym.Space:
        """The observation space the module sees for ``agent`` (see ``runner_env``)."""
        return module_obs_space(self.env, agent, self._layout, self._joint)

    def get_spaces(self) -> dict:
        if self.env is None:
            return self.spaces
        return runner_spaces(
            self.config,
            {a: self._agent_obs_space(a) for a in self.agents},
            {a: self.env.action_space(a) for a in self.agents},
        )

    def make_module(self) -> None:
        try:
            spec = self.config.get_multi_rl_module_spec(spaces=self.get_spaces(), inference_only=True)
            self.module = spec.build()
        except NotImplementedError:
            self.module = None
            return
        self.module.foreach_module(lambda mid, mod: mod.eval() if isinstance(mod, torch.nn.Module) else None)
        if self.env is not None:
            check_module_spaces(self.module, self.config, {a: self._agent_obs_space(a) for a in self.agents})
        self._recurrent = {}

    def assert_healthy(self) -> None:
        assert self.env is not None and self.module is not None

    # ---- sampling ----------------------------------------------------------------------
    def sample(
        self,
        *,
        num_timesteps: int | None = None,
        num_episodes: int | None = None,
        explore: bool | None = None,
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
        with self.metrics.log_time(SAMPLE_TIMER), torch_threads(SAMPLER_TORCH_THREADS):
            if num_episodes is not None:
                self._reset()
                episodes = self._run(explore, random_actions, max_steps=None, num_episodes=num_episodes)
                self._needs_initial_reset = True
            else:
                if force_reset or self._needs_initial_reset:
                    self._reset()
                per_step = self.num_envs * (len(self.agents) if self.config.count_steps_by == "agent_steps" else 1)
                episodes = self._run(explore, random_actions, max_steps=max(1, math.ceil(num_timesteps / per_step)))
            on_sample_end(self, self._callbacks, episodes)
        return episodes

    def _reset(self) -> None:
        seed = None if self._seeded else self._seed  # seed once; later resets continue the streams
        self._seeded = True
        obs, infos = self.env.reset(seed=seed)
        self._observe(obs, infos)
        self._metas = [self._episodes.new_meta() for _ in range(self.num_envs)]
        self._module_ids = {
            a: np.array([m.episode.module_for(a) for m in self._metas], dtype=object) for a in self.agents
        }
        self._recurrent = {}  # fresh initial states for every copy
        if self.partners is not None:
            self.partners.draw(np.arange(self.num_envs))
        self._needs_initial_reset = False

    def _module_acts(self, agent: str) -> np.ndarray:
        """(N,) bool: the trained module acts for ``agent`` now (alive, and no partner in its seat)."""
        alive = self._cur_alive[agent]
        return alive if self.partners is None else alive & self.partners.module_plays(agent)

    def _observe(self, obs: dict, infos: dict) -> None:
        """Keep what the next step acts on: observations, states (MAPPO critic), alive masks."""
        self._cur_obs = {a: as_obs(obs[a], self._layout) for a in self.agents}
        self._cur_state = self._states(self._cur_obs, self.env.state) if self._layout == DICT_STATE else {}
        self._cur_mask = {a: np.asarray(m, np.float32) for a, m in infos.get("action_mask", {}).items()}
        self._cur_alive = self._alive_from(infos)

    def _states(self, obs: dict[str, np.ndarray], env_states: Callable[[], dict]) -> dict[str, np.ndarray]:
        """The critic's (N, size) states: from all agents' observations (``joint_obs``) or the env's."""
        if self._joint is not None:
            return self._joint.states(obs)
        return {a: as_state(v) for a, v in env_states().items()}

    def _start_episode(self, i: int) -> EpisodeMeta:
        """New episode in copy ``i`` (its agent->module mapping applies from its first step on)."""
        meta = self._metas[i] = self._episodes.new_meta()
        for a in self.agents:
            self._module_ids[a][i] = meta.episode.module_for(a)
        for (_, mid), state in self._recurrent.items():  # recurrent states restart with the episode
            tree.map_structure(lambda buf, init: buf.__setitem__(i, init), state, self._initial_state(mid))
        return meta

    def _initial_state(self, mid: str) -> Any:
        return tree.map_structure(np.asarray, self.module[mid].get_initial_state())

    def _recurrent_state(self, agent: str, mid: str) -> Any:
        """The (N, ...) recurrent state of ``agent`` under module ``mid`` in every copy (created on first use)."""
        key = (agent, mid)
        if key not in self._recurrent:
            self._recurrent[key] = tree.map_structure(
                lambda s: np.repeat(s[None], self.num_envs, axis=0), self._initial_state(mid)
            )
        return self._recurrent[key]

    def _alive_from(self, infos: dict) -> dict[str, np.ndarray]:
        alive = infos.get("alive") if isinstance(infos, dict) else None
        if alive is None:
            return {a: np.ones(self.num_envs, bool) for a in self.agents}
        return {a: np.asarray(alive[a], bool) for a in self.agents}

    def _act(self, explore: bool, random_actions: bool, env_steps_before: int):
        """Actions (and extra model outputs) for every acting agent of every copy."""
        n = self.num_envs
        actions = {a: np.zeros(n, np.int64) for a in self.agents}
        extra: dict[str, dict[str, np.ndarray]] = {a: {} for a in self.agents}
        if self.partners is not None:
            for a in self.agents:
                obs = (
                    self._cur_obs[a]
                    if a not in self._cur_mask
                    else {OBS_KEY: self._cur_obs[a], MASK_KEY: self._cur_mask[a]}
                )
                self.partners.act(a, obs, self._cur_alive[a], actions[a], deterministic=not explore)
        if random_actions or self.module is None:
            self._recurrent = {}  # no module ran: recurrent states restart (the episodes' lookback says so too)
            for a in self.agents:
                rows = self._module_acts(a)
                actions[a][rows] = random_legal_actions(
                    int(self.env.action_space(a).n),
                    int(rows.sum()),
                    self._cur_mask[a][rows] if a in self._cur_mask else None,
                )
            return actions, extra
        groups = rows_by_module(self._module_ids, {a: self._module_acts(a) for a in self.agents})
        t = (self.num_env_steps_sampled_lifetime // (self.config.num_env_runners or 1) + env_steps_before) * (
            self.config.num_env_runners or 1
        )
        for mid, parts in groups.items():
            inputs = [
                module_input(
                    self._layout,
                    self._cur_obs[a][rows],
                    self._cur_state[a][rows] if self._layout == DICT_STATE else None,
                    self._cur_mask[a][rows] if a in self._cur_mask else None,
                )
                for a, rows in parts
            ]
            state_in = None
            if self.module[mid].is_stateful():
                states = [
                    tree.map_structure(lambda s, r=rows: s[r], self._recurrent_state(a, mid)) for a, rows in parts
                ]
                state_in = tree.map_structure(lambda *xs: np.concatenate(xs), *states)
            with self.metrics.log_time(RLMODULE_INFERENCE_TIMER):
                out = module_outputs(self.module[mid], inputs, explore, t=t, state_in=state_in)
            recurrent = {a: self._recurrent_state(a, mid) for a, _ in parts} if state_in is not None else None
            scatter_outputs(out, parts, actions, extra, n, recurrent)
        return actions, extra

    def _run(
        self, explore: bool, random_actions: bool, max_steps: int | None, num_episodes: int | None = None
    ) -> list[MultiAgentEpisode]:
        ro = Rollout(metas=[[m] for m in self._metas])
        self._record_obs(ro)
        episodes_done = 0
        env_steps = 0
        while (max_steps is not None and ro.num_steps < max_steps) or (
            num_episodes is not None and episodes_done < num_episodes
        ):
            actions, extra = self._act(explore, random_actions, env_steps)
            for a in self.agents:
                ro.acting[a].append(self._module_acts(a))  # partners' steps stay out of the episodes
                ro.actions[a].append(actions[a])
                ro.add_extra(a, extra[a])
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
            if self.partners is not None:  # partner returns are reported in the env's own reward
                self.partners.add_rewards(infos.get(ORIGINAL_KEY, rewards))
            if done.any():
                final_states = (
                    self._states(infos["final_obs"], lambda: infos["final_state"]) if self._layout == DICT_STATE else {}  # noqa: B023
                )
                for a in self.agents:
                    ro.final_obs[(t, a)] = as_obs(infos["final_obs"][a], self._layout)
                    if a in final_states:
                        ro.final_state[(t, a)] = final_states[a]
                    if a in self._cur_mask:
                        ro.final_mask[(t, a)] = np.asarray(infos["final_action_mask"][a], np.float32)
                    if self._records_diversity_state and a in infos.get("final_diversity_state", {}):
                        ro.final_diversity_state[(t, a)] = np.asarray(infos["final_diversity_state"][a], np.float32)
                episodes_done += int(done.sum())
                log_env_episode_info(self.metrics, infos.get("episode", {}), done, smoothing_window(self.config))
                for i in np.nonzero(done)[0]:
                    ro.metas[i].append(self._start_episode(int(i)))
                if self.partners is not None:
                    log_partner_episodes(
                        self.metrics, self.partners.finished(done), SELF_PLAY_NAME, smoothing_window(self.config)
                    )
                    self.partners.draw(np.nonzero(done)[0])
            self._observe(obs, infos)
            self._record_obs(ro)
        return self._build_episodes(ro, complete_only=num_episodes is not None, max_episodes=num_episodes)

    def _record_obs(self, ro: Rollout) -> None:
        for a in self.agents:
            ro.obs[a].append(self._cur_obs[a])
            if self._layout == DICT_STATE:
                ro.state[a].append(self._cur_state[a])
            if a in self._cur_mask:
                ro.mask[a].append(self._cur_mask[a])
        if self._records_diversity_state:
            for a, v in self.env.diversity_state().items():
                ro.diversity_state[a].append(np.asarray(v, np.float32))

    # ---- episodes ----------------------------------------------------------------------
    def _build_episodes(self, ro: Rollout, complete_only: bool, max_episodes: int | None) -> list[MultiAgentEpisode]:
        """Cut the rollout into per-copy episode chunks; log and call back for the finished ones."""
        finished: list[tuple[float, MultiAgentEpisode]] = []
        ongoing: list[MultiAgentEpisode] = []
        agent_steps: dict[str, int] = defaultdict(int)
        module_steps: dict[str, int] = defaultdict(int)
        now = time.perf_counter()
        window = smoothing_window(self.config)
        for i, meta, ep, is_done in self._episodes.chunks(ro, self.num_envs, self._weights_seq_no):
            for a, sa in ep.agent_episodes.items():
                agent_steps[a] += len(sa)
                module_steps[sa.module_id] += len(sa)
            if is_done:
                log_episode(self.metrics, meta, now, window)
                on_episode_end(self, self._callbacks, ep, i)
                finished.append((meta.start_time, ep))
            elif not complete_only:
                ongoing.append(ep)
        log_counts(self.metrics, ro.num_steps * self.num_envs, agent_steps, module_steps, len(finished))
        self.num_env_steps_sampled_lifetime += ro.num_steps * self.num_envs
        finished.sort(key=lambda x: x[0])
        episodes = [ep for _, ep in finished]
        if max_episodes is not None:
            episodes = episodes[:max_episodes]
        return episodes + ongoing

    def get_metrics(self) -> dict:
        return self.metrics.reduce()

    # ---- state -------------------------------------------------------------------------
    def get_state(
        self,
        components: str | Collection[str] | None = None,
        *,
        not_components: str | Collection[str] | None = None,
        **kwargs: Any,
    ) -> StateDict:
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
                if isinstance(module_state, ray.ObjectRef):
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


__all__ = ["VectorMultiAgentEnvRunner", "make_batched_env_from_config"]
