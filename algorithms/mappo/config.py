"""``MAPPOConfig``: RLlib's PPOConfig turned into MAPPO (Yu et al. 2022), new API stack.

Two ways in, one config:
- RLlib style::

      config = (MAPPOConfig()
                .environment("overcooked", env_config={"layout": "cramped_room"})
                .training(lr=5e-4, hidden_sizes=[64, 64], num_envs_per_env_runner=8))
      algo = config.build_algo()                   # or tune.Tuner(MAPPO, param_space=config)

  ``environment`` takes a registered diverse-marl env or ``"package.module:factory"`` (a
  PettingZoo ParallelEnv); ``training`` takes every option of ``OPTIONS`` besides RLlib's own.
  A Tune-registered RLlib env works too if it produces MAPPO's dict observations (wrap a
  PettingZoo env in ``env.MAPPOEnv``).
- diverse-marl style (YAML/CLI): ``MAPPOConfig.from_options(env, env_config, options, seed)``
  with the flat option names of ``OPTIONS`` (``option_defaults()`` / ``option_docs()``).

Either way, ``resolve()`` (run by ``validate()``, so by ``build_algo()`` and in every Tune trial)
turns the env name into MAPPO's RLlib env, one RLModule spec per policy, the policy mapping and
the env runner: the fast batched ``VectorMultiAgentEnvRunner`` wherever it applies.

What makes it MAPPO (each item is an option below): parameter sharing via
``policy_mapping``; a centralized critic on the agent-specific global state
(``critic_input``); value normalization (``value_norm``); GAE; clipped policy and value
losses with a Huber value loss; entropy bonus; per-network gradient clipping; orthogonal
init with a small policy-head gain; LayerNorm on inputs and hidden layers; action masking
(automatic when the env's Dict observation has ``action_mask``); optional GRU torso.
"""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym
import torch
from gymnasium import spaces
from ray.rllib.algorithms.algorithm_config import NotProvided
from ray.rllib.algorithms.ppo import PPO, PPOConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from diverse_marl.algorithms.mappo.env import (
    CRITIC_INPUTS,
    MAPPOObservationAdapter,
    make_pettingzoo_env,
    register_mappo_env,
)
from diverse_marl.algorithms.mappo.export import write_mappo_policies
from diverse_marl.algorithms.mappo.learner import MAPPOTorchLearner
from diverse_marl.algorithms.mappo.module import ACTIVATIONS, MASK_KEY, MODEL_DEFAULTS, OBS_KEY, MAPPOTorchRLModule
from diverse_marl.algorithms.mappo.options import (
    AUTO_RUNNER,
    BUILD_KEYS,
    MODEL_KEYS,
    OPTION_ATTRIBUTES,
    OPTIONS,
    POLICY_MAPPINGS,
    PolicyMapper,
    policy_id_for,
)
from diverse_marl.algorithms.mappo.overlapped_sampling import OverlappedSampler, overlapped_training_step
from diverse_marl.algorithms.mappo.runner_env import names_diverse_marl_env
from diverse_marl.algorithms.mappo.sampler import VectorMultiAgentEnvRunner
from diverse_marl.algorithms.safe_checkpoint import learner_module_states
from diverse_marl.errors import ConfigError, did_you_mean
from diverse_marl.partners import PartnerSpec


def _import_path(path: str, what: str) -> Any:
    module_name, _, attr = str(path).partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"cannot import {what} {path!r} (expected 'package.module:Name'): {exc}") from None


def fast_runner_obstacle(env: Any, adapter: MAPPOObservationAdapter, o: dict[str, Any]) -> str | None:
    """Why ``VectorMultiAgentEnvRunner`` cannot sample this env/options, or None if it can.

    The runner declares what it handles beyond feed-forward modules on Box observations
    (``supports_recurrent``, ``supports_action_masks``); an env with a native batched class
    builds its own arrays, any other goes through ``SyncBatchedEnv`` and needs Box observations.
    """
    runner = VectorMultiAgentEnvRunner
    if o["use_gru"] and not getattr(runner, "supports_recurrent", False):
        return "use_gru (recurrent modules)"
    if any(adapter.has_mask.values()) and not getattr(runner, "supports_action_masks", False):
        return "action masks"
    if not callable(getattr(type(env), "batched", None)):
        for agent in env.possible_agents:
            if not isinstance(env.observation_space(agent), gym.spaces.Box):
                return f"agent {agent!r} observes {type(env.observation_space(agent)).__name__}, not a Box"
    return None


class MAPPOConfig(PPOConfig):
    """PPOConfig with MAPPO's module, learner, loss options and defaults."""

    SCHEDULE_OPTIONS = ("lr", "entropy_coeff")  # RLlib takes [[env_step, value], ...] for these
    ALGORITHM = "mappo"  # the algorithm's name in YAML configs and in "unknown option" messages

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or MAPPO)
        d = self.option_defaults()
        for key, attr in OPTION_ATTRIBUTES.items():
            setattr(self, attr, d[key])
        self.grad_clip_by = "global_norm"
        self.use_kl_loss = False  # MAPPO has no KL penalty
        self.num_env_runners = 0
        # RLlib's runner re-converts every finished episode to numpy after *each* env step
        # (quadratic in episodes per sample call); we convert once, first thing in the learner.
        self.episodes_to_numpy = False
        # RLlib's env checker steps the env with unmasked random actions, which envs with
        # action masks rightly reject; PettingZoo's parallel_api_test is the check to run.
        self.disable_env_checking = True
        self.mappo_build: dict[str, Any] = {k: d[k] for k in BUILD_KEYS}  # read by resolve()
        self.partners_spec: dict[str, Any] | None = None  # frozen partners, see partners()
        # set by resolve(): the env the user named, what load_policy needs, the runner picked
        self.mappo_env: dict[str, Any] | None = None
        self.mappo_export: dict[str, Any] | None = None
        self.mappo_runner: str | None = None

    # ---- RLlib hooks ----
    def get_default_rl_module_spec(self) -> RLModuleSpec:
        return RLModuleSpec(module_class=MAPPOTorchRLModule)

    def get_default_learner_class(self) -> type:
        return MAPPOTorchLearner

    def training(self, **kwargs: Any) -> MAPPOConfig:
        """PPOConfig.training plus every MAPPO option of ``OPTIONS`` (model, mapping, runner ones too).

        ``train_batch_size`` sets ``train_batch_size_per_learner`` (MAPPO trains on one local
        learner). Values may be Tune search spaces; they are checked when the env is resolved.
        """
        rest = {}
        for key, value in kwargs.items():
            if value is NotProvided:
                continue
            if key in BUILD_KEYS:
                self.mappo_build[key] = value
            elif key in OPTION_ATTRIBUTES:
                setattr(self, OPTION_ATTRIBUTES[key], value)
            else:
                rest[key] = value
        try:
            super().training(**rest)
        except TypeError as exc:  # an unknown keyword
            raise ConfigError(f"MAPPOConfig.training: {exc}; MAPPO options: {', '.join(sorted(OPTIONS))}") from None
        return self

    def partners(self, spec: dict[str, Any] | None) -> MAPPOConfig:
        """Frozen partners in some seats, drawn per episode (``diverse_marl.partners`` documents the
        block: ``{from, seats, sample, self_play}``); ``None`` removes them. Needs
        ``env_runner_cls=VectorMultiAgentEnvRunner`` (checked by ``validate``)."""
        self.partners_spec = PartnerSpec.from_dict(spec).to_dict() if spec else None
        return self

    def option_values(self) -> dict[str, Any]:
        """The current value of every option of ``OPTIONS`` (flat, as in YAML)."""
        return {
            k: (getattr(self, OPTION_ATTRIBUTES[k]) if k in OPTION_ATTRIBUTES else self.mappo_build[k]) for k in OPTIONS
        }

    def resolve(self) -> MAPPOConfig:
        """Turn a diverse-marl env into MAPPO's RLlib env, modules, policy mapping and env runner.

        Does nothing for an env RLlib knows by itself. Idempotent: once resolved, it only
        registers the env creator again (a fresh process - a Tune trial, ``from_checkpoint`` -
        lacks it). Raises ConfigError for bad options.
        """
        if self.mappo_env is not None:
            register_mappo_env(self.mappo_env["env"], self.mappo_env["critic_input"])
            return self
        if not names_diverse_marl_env(self.env):
            return self
        env = self.env
        o = self.option_values()
        _check_options(o)
        env_config = dict(self.env_config or {})
        probe = make_pettingzoo_env(env, env_config)
        try:
            adapter = MAPPOObservationAdapter(probe, o["critic_input"])
            specs = _module_specs(probe, adapter, o)
            export_info = _export_info(probe, adapter, specs, o)
            runner = _runner_class(probe, adapter, o)
        finally:
            try:
                probe.close()
            except Exception:  # noqa: BLE001 - closing a probe env must never mask the real error
                pass
        self.environment(register_mappo_env(env, o["critic_input"]), env_config=env_config)
        self.multi_agent(policies=list(specs), policy_mapping_fn=PolicyMapper(o["policy_mapping"]))
        self.rl_module(rl_module_spec=MultiRLModuleSpec(rl_module_specs=specs))
        if runner is not None:
            self.env_runners(env_runner_cls=runner)
        self.mappo_runner = getattr(self.env_runner_cls, "__name__", "MultiAgentEnvRunner")
        self.mappo_export = export_info
        self.mappo_env = {
            "env": env,
            "critic_input": o["critic_input"],
        }  # what the user asked for, kept for run metadata
        return self

    def validate(self) -> None:
        self.resolve()
        if self.async_sampling:
            self._overlap_sampling()
        super().validate()
        if self.partners_spec and not getattr(self.env_runner_cls, "supports_partners", False):
            runner = getattr(self.env_runner_cls, "__name__", "RLlib's default MultiAgentEnvRunner")
            raise ConfigError(
                f"partners need env_runner_cls=VectorMultiAgentEnvRunner "
                f"(diverse_marl.algorithms.mappo.sampler); {runner} cannot play frozen partners"
            )

    def _overlap_sampling(self) -> None:
        """Settings ``async_sampling`` needs: a remote env runner to sample in, and no blocking
        env-runner state sync after each iteration (it would wait for the batch in flight; the
        fast runner has no connector states to merge)."""
        if not self.num_env_runners:
            self.num_env_runners = 1
        self.merge_env_runner_states = False
        self.broadcast_env_runner_states = False

    # ---- diverse-marl contract ----
    @staticmethod
    def option_defaults() -> dict[str, Any]:
        """Every YAML-settable option -> default (fresh copies of mutable defaults)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, (v, _) in OPTIONS.items()}

    @staticmethod
    def option_docs() -> dict[str, str]:
        return {k: doc for k, (_, doc) in OPTIONS.items()}

    @classmethod
    def from_options(
        cls,
        env: str,
        env_config: dict[str, Any],
        options: dict[str, Any],
        seed: int,
        num_env_runners: int = 0,
    ) -> MAPPOConfig:
        """Build a ready-to-``build_algo()`` config from flat diverse-marl options (resolved here,
        so bad options fail before Ray starts); a subclass takes the options of its ``option_defaults``."""
        allowed = cls.option_defaults()
        unknown = [k for k in options if k not in allowed]
        if unknown:
            raise ConfigError(
                f"unknown {cls.ALGORITHM} option {unknown[0]!r}{did_you_mean(unknown[0], allowed)}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        return (
            cls()
            .environment(env, env_config=dict(env_config or {}))
            .training(**options)
            .env_runners(num_env_runners=num_env_runners)
            .debugging(seed=seed)
            .resolve()
        )


def _check_options(o: dict[str, Any]) -> None:
    """Choices, positive integers and layer sizes of resolved option values (ConfigError)."""
    _check_choice("policy_mapping", o["policy_mapping"], POLICY_MAPPINGS)
    _check_choice("critic_input", o["critic_input"], CRITIC_INPUTS)
    _check_choice("activation", o["activation"], tuple(ACTIVATIONS))
    for key in ("num_epochs", "num_minibatches", "train_batch_size", "num_envs_per_env_runner"):
        if not isinstance(o[key], int) or isinstance(o[key], bool) or o[key] < 1:
            raise ConfigError(f"option {key!r} must be a positive integer, got {o[key]!r}")
    for key in ("hidden_sizes", "critic_hidden_sizes"):
        sizes = o[key]
        if sizes is None and key == "critic_hidden_sizes":
            continue
        if not isinstance(sizes, (list, tuple)) or not sizes or not all(isinstance(h, int) and h > 0 for h in sizes):
            raise ConfigError(f"option {key!r} must be a non-empty list of positive integers, got {sizes!r}")
    runner = o["env_runner_cls"]
    if runner is not None and not isinstance(runner, (str, type)):
        raise ConfigError(f"option 'env_runner_cls' must be {AUTO_RUNNER!r}, null or 'pkg.mod:Class', got {runner!r}")


def _runner_class(env: Any, adapter: MAPPOObservationAdapter, o: dict[str, Any]) -> type | None:
    """The env runner class the ``env_runner_cls`` option asks for (None: RLlib's default)."""
    runner = o["env_runner_cls"]
    if runner == AUTO_RUNNER:
        return VectorMultiAgentEnvRunner if fast_runner_obstacle(env, adapter, o) is None else None
    if isinstance(runner, str):
        return _import_path(runner, "env_runner_cls")
    return runner


def _check_choice(key: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"unknown {key} {value!r}{did_you_mean(value, allowed)}; allowed: {', '.join(allowed)}")


def model_config_from_options(o: dict[str, Any]) -> dict[str, Any]:
    model = {k: o[k] for k in MODEL_KEYS}
    model["actor_hiddens"] = list(o["hidden_sizes"])
    model["critic_hiddens"] = list(o["critic_hidden_sizes"] or o["hidden_sizes"])
    return {**MODEL_DEFAULTS, **model}


def _module_specs(env: Any, adapter: MAPPOObservationAdapter, o: dict[str, Any]) -> dict[str, RLModuleSpec]:
    """One RLModuleSpec per policy id; agents sharing a policy must share spaces."""
    model = model_config_from_options(o)
    first: dict[str, str] = {}
    specs: dict[str, RLModuleSpec] = {}
    for agent in env.possible_agents:
        pid = policy_id_for(agent, o["policy_mapping"])
        obs_space, act_space = adapter.observation_space(agent), env.action_space(agent)
        if not isinstance(act_space, gym.spaces.Discrete):
            raise ConfigError(f"MAPPO supports Discrete action spaces only; agent {agent!r} has {act_space}")
        if pid in specs:
            other = first[pid]
            if obs_space != specs[pid].observation_space or act_space != specs[pid].action_space:
                raise ConfigError(
                    f"agents {other!r} and {agent!r} map to policy {pid!r} (policy_mapping="
                    f"{o['policy_mapping']!r}) but have different observation/action spaces "
                    f"({specs[pid].observation_space} vs {obs_space}); use policy_mapping 'team' or 'agent'"
                )
            continue
        first[pid] = agent
        specs[pid] = RLModuleSpec(
            module_class=MAPPOTorchRLModule,
            observation_space=obs_space,
            action_space=act_space,
            model_config=dict(model),
        )
    return specs


def _export_info(
    env: Any, adapter: MAPPOObservationAdapter, specs: dict[str, RLModuleSpec], o: dict[str, Any]
) -> dict[str, Any]:
    """What ``load_policy`` needs to rebuild actors without Ray (written next to checkpoints)."""
    agents = {a: policy_id_for(a, o["policy_mapping"]) for a in env.possible_agents}
    policies = {}
    for pid, spec in specs.items():
        policies[pid] = {
            "obs_shape": list(spec.observation_space[OBS_KEY].shape),
            "num_actions": int(spec.action_space.n),
            "has_mask": MASK_KEY in spec.observation_space.spaces,
            "model_config": dict(spec.model_config),
        }
    # actor spaces load_policy must flatten itself (Discrete, Tuple, Dict without a mask, ...)
    raw = {
        a: adapter.actor_spaces[a] for a in env.possible_agents if not isinstance(adapter.actor_spaces[a], spaces.Box)
    }
    return {
        "policy_mapping": o["policy_mapping"],
        "critic_input": o["critic_input"],
        "agents": agents,
        "policies": policies,
        "raw_spaces": raw,
    }


def _export_info_from_algo(algo: Any) -> dict[str, Any]:
    """Fallback for configs not built by ``from_options``: describe the env runner's modules."""
    policies = {}
    for pid in sorted(algo.config.policies):
        module = algo.get_module(pid)
        if module is None:
            continue
        policies[pid] = {
            "obs_shape": list(module.observation_space[OBS_KEY].shape),
            "num_actions": int(module.action_space.n),
            "has_mask": MASK_KEY in module.observation_space.spaces,
            "model_config": dict(module.model_config or {}),
        }
    return {"policy_mapping": None, "agents": {}, "policies": policies}


class MAPPO(PPO):
    """PPO's training loop; everything MAPPO-specific lives in the module, learner and connector."""

    def setup(self, config: Any) -> None:
        threads = getattr(config, "torch_num_threads", None)
        if threads:
            torch.set_num_threads(int(threads))
        super().setup(config)  # the env creator was (re-)registered by config.validate() -> resolve()
        self._overlapped = OverlappedSampler() if getattr(self.config, "async_sampling", False) else None

    def training_step(self) -> None:
        """PPO's iteration, or with ``async_sampling`` the overlapped one (``overlapped_sampling.py``)."""
        if self._overlapped is None:
            return super().training_step()
        overlapped_training_step(self, self._overlapped)
        return None

    def learner_module(self, policy_id: str) -> MAPPOTorchRLModule:
        """The training copy of a policy (with critic and value normalizer); local learner only.

        ``get_module`` returns the env runner's inference-only copy, which has no critic.
        """
        learner = getattr(self.learner_group, "_learner", None)
        if learner is None:
            raise RuntimeError("learner_module needs a local learner (num_learners=0)")
        return learner.module[policy_id].unwrapped()

    def save_to_path(self, path: Any = None, **kwargs: Any) -> str:
        """RLlib checkpoint + pickle-free policy files, so ``load_policy`` needs neither Ray nor unpickling."""
        path = super().save_to_path(path, **kwargs)
        info = getattr(self.config, "mappo_export", None) or _export_info_from_algo(self)
        write_mappo_policies(path, info, learner_module_states(self))
        return path

    @classmethod
    def get_default_config(cls) -> MAPPOConfig:
        return MAPPOConfig()
