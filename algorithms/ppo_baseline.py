"""Stock RLlib PPO with one shared policy: the reference MAPPO is measured against.

It uses RLlib's default multi-agent env runner and default PPO RLModule (no centralized
critic, no value normalization), i.e. what an RLlib user gets out of the box.
"""
from __future__ import annotations

from typing import Any

from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from diverse_marl.errors import ConfigError
from diverse_marl.rllib_env import rllib_env_name

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
    ) -> "SharedPPOConfig":
        unknown = sorted(set(options) - set(_DEFAULTS))
        if unknown:
            raise ConfigError(f"unknown ppo option {unknown[0]!r}; allowed: {', '.join(sorted(_DEFAULTS))}")
        o = {**_DEFAULTS, **options}
        return (
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


def _to_shared(agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
    return SHARED_POLICY


class _PPOTorchPolicy:
    """Stock PPO module from a checkpoint as ``policy(obs_batch, deterministic) -> actions``."""

    def __init__(self, module: Any, seed: int | None = None):
        import numpy as np

        self.module = module
        self._rng = np.random.default_rng(seed)

    def seed(self, seed: int | None) -> None:
        import numpy as np

        self._rng = np.random.default_rng(seed)

    def reset(self) -> None:
        pass

    def __call__(self, obs: Any, deterministic: bool = False):
        import numpy as np
        import torch

        with torch.no_grad():
            out = self.module.forward_inference({"obs": torch.as_tensor(np.asarray(obs, dtype=np.float32))})
        logits = out["action_dist_inputs"].double()
        if deterministic:
            return logits.argmax(-1).numpy()
        probs = torch.softmax(logits, -1).numpy()
        u = self._rng.random((probs.shape[0], 1))
        return np.minimum((probs.cumsum(1) < u).sum(1), probs.shape[1] - 1)


def load_ppo_policy(checkpoint: Any, agent_or_policy: str | None = None, seed: int | None = None) -> _PPOTorchPolicy:
    """The shared policy of a ``ppo`` run's checkpoint (no Ray started)."""
    from pathlib import Path

    from ray.rllib.core.rl_module.rl_module import RLModule

    from diverse_marl.errors import CheckpointError

    path = Path(checkpoint) / "learner_group" / "learner" / "rl_module" / SHARED_POLICY
    if not path.is_dir():
        raise CheckpointError(f"{checkpoint} holds no '{SHARED_POLICY}' policy (expected {path})")
    try:
        module = RLModule.from_checkpoint(str(path))
    except Exception as exc:  # noqa: BLE001 - unreadable pickles / missing files
        raise CheckpointError(f"checkpoint {checkpoint} is corrupt: cannot load policy ({exc})") from None
    return _PPOTorchPolicy(module.eval() if hasattr(module, "eval") else module, seed)
