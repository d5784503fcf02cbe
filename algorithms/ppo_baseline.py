"""Stock RLlib PPO with one shared policy: the reference MAPPO is measured against.

It uses RLlib's default multi-agent env runner and default PPO RLModule (no centralized
critic, no value normalization), i.e. what an RLlib user gets out of the box.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.algorithms.ppo import PPO, PPOConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from diverse_marl import envs
from diverse_marl.algorithms.mappo.export import ACTIVATION_LAYERS, load_policy
from diverse_marl.algorithms.safe_checkpoint import learner_module_states, write_safe_checkpoint
from diverse_marl.errors import ConfigError, did_you_mean
from diverse_marl.rllib_env import rllib_env_name
from diverse_marl.space_codec import space_to_json

SHARED_POLICY = "shared"

_DEFAULTS: dict[str, Any] = {
    "lr": 5e-4,
    "gamma": 0.99,
    "lambda_": 0.95,
    "clip_param": 0.2,
    "vf_clip_param": 10.0,
    "vf_loss_coeff": 1.0,
    "entropy_coeff": 0.01,
    "num_epochs": 5,
    "minibatch_size": 1000,
    "train_batch_size": 4000,
    "grad_clip": 10.0,
    "hidden_sizes": [64, 64],
    "num_envs_per_env_runner": 1,
    "rollout_fragment_length": None,
}
_DOCS: dict[str, str] = {
    "lr": "Adam learning rate",
    "gamma": "discount factor",
    "lambda_": "GAE lambda",
    "clip_param": "PPO policy clip range",
    "vf_clip_param": "value-function clip range (absolute)",
    "vf_loss_coeff": "weight of the value loss",
    "entropy_coeff": "entropy bonus weight",
    "num_epochs": "passes over each train batch",
    "minibatch_size": "SGD minibatch size (rows of a module batch)",
    "train_batch_size": "env steps per training iteration",
    "grad_clip": "global gradient-norm clip",
    "hidden_sizes": "MLP hidden layer sizes of policy and value nets",
    "num_envs_per_env_runner": "vectorized envs per env runner",
    "rollout_fragment_length": "steps per env per sample call (null: derived from train_batch_size)",
}


class SharedPPOConfig(PPOConfig):
    """``PPOConfig`` built from diverse-marl options: every agent maps to one shared policy."""

    def __init__(self, algo_class: type | None = None) -> None:
        super().__init__(algo_class=algo_class or SharedPPO)

    @staticmethod
    def option_defaults() -> dict[str, Any]:
        return dict(_DEFAULTS)

    @staticmethod
    def option_docs() -> dict[str, str]:
        return dict(_DOCS)

    @classmethod
    def from_options(
        cls,
        env: str,
        env_config: dict[str, Any],
        options: dict[str, Any],
        seed: int,
        num_env_runners: int = 0,
    ) -> SharedPPOConfig:
        unknown = sorted(set(options) - set(_DEFAULTS))
        if unknown:
            raise ConfigError(
                f"unknown ppo option {unknown[0]!r}{did_you_mean(unknown[0], _DEFAULTS)}; "
                f"allowed: {', '.join(sorted(_DEFAULTS))}"
            )
        o = {**_DEFAULTS, **options}
        config = (
            cls()
            .environment(rllib_env_name(env, env_config), env_config=env_config)
            .env_runners(
                num_env_runners=num_env_runners,
                num_envs_per_env_runner=o["num_envs_per_env_runner"],
                rollout_fragment_length=o["rollout_fragment_length"] or "auto",
            )
            .multi_agent(policies={SHARED_POLICY}, policy_mapping_fn=_to_shared)
            .rl_module(
                rl_module_spec=MultiRLModuleSpec(
                    rl_module_specs={
                        SHARED_POLICY: RLModuleSpec(model_config={"fcnet_hiddens": list(o["hidden_sizes"])})
                    }
                )
            )
            .training(
                lr=o["lr"],
                gamma=o["gamma"],
                lambda_=o["lambda_"],
                clip_param=o["clip_param"],
                vf_clip_param=o["vf_clip_param"],
                vf_loss_coeff=o["vf_loss_coeff"],
                entropy_coeff=o["entropy_coeff"],
                num_epochs=o["num_epochs"],
                minibatch_size=o["minibatch_size"],
                train_batch_size_per_learner=o["train_batch_size"],
                grad_clip=o["grad_clip"],
            )
            .debugging(seed=seed)
        )
        config.agent_ids = env_agent_ids(env, env_config)  # agent -> policy map of the saved policy files
        return config


def _to_shared(agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
    return SHARED_POLICY


def env_agent_ids(env: str, env_config: dict[str, Any]) -> list[str]:
    probe = envs.make(env, **dict(env_config or {}))
    try:
        return [str(a) for a in probe.possible_agents]
    finally:
        probe.close()


class SharedPPO(PPO):
    """Stock PPO whose checkpoints also get pickle-free policy files (``load_policy`` reads those)."""

    def save_to_path(self, path: Any = None, **kwargs: Any) -> str:
        path = super().save_to_path(path, **kwargs)
        states = learner_module_states(self)
        policies = {pid: describe_stock_module(self.get_module(pid)) for pid in states}
        agents = {a: SHARED_POLICY for a in getattr(self.config, "agent_ids", [])}
        write_safe_checkpoint(path, "ppo", states, policies, agents=agents, policy_mapping="shared")
        return path


def describe_stock_module(module: Any) -> dict[str, Any]:
    """Spaces and the actor as a layer list (see ``LayerListActor``) of a stock PPO RLModule."""
    obs_space = module.observation_space
    return {
        "obs_shape": list(obs_space.shape),
        "num_actions": int(module.action_space.n),
        "has_mask": False,
        "obs_space": space_to_json(obs_space),
        "action_space": space_to_json(module.action_space),
        "actor_layers": _actor_layers(module),
    }


def _actor_layers(module: Any) -> list[dict[str, Any]] | None:
    """The layers that compute the logits (actor encoder, then the ``pi`` head), in forward order.

    Walks the module's own layers (RLlib's catalog decides them), so the list is exact; None if a
    layer is not an MLP part (e.g. a CNN encoder): ``load_policy`` then says it cannot rebuild it.
    """
    named = dict(module.named_modules())
    encoder = "encoder.actor_encoder" if "encoder.actor_encoder" in named else "encoder.encoder"
    layers: list[dict[str, Any]] = []
    for prefix in (encoder + ".", "pi."):
        for name, layer in named.items():
            if not name.startswith(prefix) or any(True for _ in layer.children()):
                continue
            kind = type(layer).__name__.lower()
            if kind == "linear":
                layers.append({"linear": name})
            elif kind == "layernorm":
                layers.append({"layer_norm": name, "eps": float(layer.eps)})
            elif kind in ACTIVATION_LAYERS:
                layers.append({"activation": kind})
            elif kind != "identity":
                return None
    return layers or None


def load_ppo_policy(checkpoint: Any, agent_or_policy: str | None = None, seed: int | None = None) -> Any:
    """The policy of a ``ppo`` run's checkpoint; the same as ``diverse_marl.load_policy`` (kept for callers)."""
    return load_policy(checkpoint, agent_or_policy, seed=seed)
