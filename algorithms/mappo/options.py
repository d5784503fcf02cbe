"""MAPPO's options: every ``training:`` option with its default and one line of documentation.

``OPTIONS`` is the table ``diverse-marl options`` prints and ``MAPPOConfig`` reads; defaults follow
the MAPPO paper (Yu et al. 2022) where it has one. Also here: where each option lives on the
RLlib config, and the policy mapping (``policy_mapping``: shared, team or agent).
"""

from __future__ import annotations

from typing import Any

from diverse_marl.errors import ConfigError

POLICY_MAPPINGS = ("shared", "team", "agent")
SHARED_POLICY_ID = "shared"

# option -> (default, one-line doc). Defaults follow the MAPPO paper where it has one.
OPTIONS: dict[str, tuple[Any, str]] = {
    # --- PPO / optimization ---
    "lr": (
        5e-4,
        "actor Adam learning rate (MAPPO: 5e-4); or a schedule [[env_step, lr], ...] (MAPPO: use_linear_lr_decay)",
    ),
    "critic_lr": (5e-4, "critic Adam learning rate or schedule (MAPPO: 5e-4); null = same as lr"),
    "adam_eps": (1e-5, "Adam epsilon (MAPPO: 1e-5)"),
    "gamma": (0.99, "discount factor"),
    "lambda_": (0.95, "GAE lambda"),
    "clip_param": (0.2, "PPO ratio clip range"),
    "vf_clip_param": (
        0.2,
        "value clip range around the sampling-time value, in normalized units (MAPPO reuses clip_param)",
    ),
    "use_clipped_value_loss": (True, "max(unclipped, clipped) value loss (MAPPO: True)"),
    "use_huber_loss": (True, "Huber instead of squared value error (MAPPO: True)"),
    "huber_delta": (10.0, "Huber loss delta (MAPPO: 10)"),
    "vf_loss_coeff": (1.0, "weight of the value loss (MAPPO: 1)"),
    "entropy_coeff": (0.01, "entropy bonus weight (MAPPO: 0.01); or a schedule [[env_step, coeff], ...]"),
    "normalize_advantages": (True, "standardize advantages over each train batch"),
    "use_proper_time_limits": (
        True,
        "at a time-limit truncation bootstrap from V(final state) instead of ending the "
        "return (MAPPO's flag; its default False). True: observations seldom show the time left",
    ),
    "num_epochs": (5, "passes over each train batch (MAPPO: ppo_epoch, 5-15 by env)"),
    "num_minibatches": (1, "minibatches per epoch, each module's batch cut evenly (MAPPO: num_mini_batch=1)"),
    "minibatch_size": (
        None,
        "if set, use RLlib's fixed-size cyclic minibatches (agent steps) instead of num_minibatches",
    ),
    "train_batch_size": (4000, "env steps sampled per training iteration"),
    "grad_clip": (10.0, "max global gradient norm, applied to actor and critic separately (MAPPO: 10)"),
    # --- model ---
    "hidden_sizes": ([64, 64], "actor MLP hidden layer sizes (MAPPO: 64 units)"),
    "critic_hidden_sizes": (None, "critic MLP hidden sizes; null = same as hidden_sizes"),
    "activation": ("relu", "hidden activation: relu | tanh (MAPPO: relu)"),
    "feature_norm": (True, "LayerNorm on network inputs (MAPPO: use_feature_normalization)"),
    "layer_norm": (True, "LayerNorm after each hidden layer (MAPPO MLP layers)"),
    "orthogonal_init": (True, "orthogonal weight init, zero biases (MAPPO: use_orthogonal)"),
    "actor_head_gain": (0.01, "init gain of the policy output layer (MAPPO: 0.01)"),
    "use_gru": (False, "GRU after the MLP in actor and critic (MAPPO: use_recurrent_policy)"),
    "gru_hidden": (64, "GRU hidden size"),
    "max_seq_len": (10, "GRU training chunk length (MAPPO: data_chunk_length=10)"),
    "value_norm": (True, "normalize value targets with running mean/std (MAPPO: use_valuenorm)"),
    "value_norm_beta": (0.99999, "ValueNorm EMA weight (MAPPO: 0.99999)"),
    # --- multi-agent ---
    "policy_mapping": ("shared", "shared (one policy) | team (prefix before last '_') | agent (one per agent)"),
    "critic_input": (
        "state",
        "state (centralized: the env's agent-specific/global state, else all observations) | "
        "joint_obs (all agents' observations + agent id, the paper's CL state: cheaper than a large "
        "env state such as Overcooked's lossless grid) | obs (local, i.e. IPPO)",
    ),
    # --- sampling ---
    "num_envs_per_env_runner": (
        8,
        "env copies stepped together by each env runner (one forward pass for all of them in the fast runner)",
    ),
    "rollout_fragment_length": ("auto", "steps per env per sample call; 'auto' derives it from train_batch_size"),
    "torch_num_threads": (
        1,
        "torch intra-op threads in the driver (local env runner + learner); null = torch default. "
        "1 avoids thread thrashing with tiny MLPs",
    ),
    "async_sampling": (
        False,
        "sample the next batch in a remote env runner while the learner updates on this one "
        "(uses 2 cores; batches are one policy version stale, see overlapped_sampling.py); "
        "num_env_runners 0 becomes 1",
    ),
    "env_runner_cls": (
        "auto",
        "auto = the fast batched VectorMultiAgentEnvRunner wherever it applies (else RLlib's); "
        "null = RLlib's MultiAgentEnvRunner; or 'pkg.mod:Class'",
    ),
}
AUTO_RUNNER = "auto"

# Where each option lives on the config. Options not listed here are kept in
# ``MAPPOConfig.mappo_build`` and read by ``resolve()`` (they shape the modules and the runner).
OPTION_ATTRIBUTES = {
    "lr": "lr",
    "critic_lr": "critic_lr",
    "adam_eps": "adam_eps",
    "gamma": "gamma",
    "lambda_": "lambda_",
    "clip_param": "clip_param",
    "vf_clip_param": "vf_clip_param",
    "use_clipped_value_loss": "use_clipped_value_loss",
    "use_huber_loss": "use_huber_loss",
    "huber_delta": "huber_delta",
    "vf_loss_coeff": "vf_loss_coeff",
    "entropy_coeff": "entropy_coeff",
    "normalize_advantages": "normalize_advantages",
    "num_epochs": "num_epochs",
    "num_minibatches": "num_minibatches",
    "minibatch_size": "minibatch_size",
    "train_batch_size": "train_batch_size_per_learner",  # MAPPO trains on one local learner
    "grad_clip": "grad_clip",
    "num_envs_per_env_runner": "num_envs_per_env_runner",
    "rollout_fragment_length": "rollout_fragment_length",
    "torch_num_threads": "torch_num_threads",
    "use_proper_time_limits": "use_proper_time_limits",
    "async_sampling": "async_sampling",
}
BUILD_KEYS = tuple(k for k in OPTIONS if k not in OPTION_ATTRIBUTES)
# options that go straight into the RLModule's model_config under the same name
MODEL_KEYS = (
    "activation",
    "feature_norm",
    "layer_norm",
    "orthogonal_init",
    "actor_head_gain",
    "use_gru",
    "gru_hidden",
    "max_seq_len",
    "value_norm",
    "value_norm_beta",
)


def policy_id_for(agent: str, mode: str) -> str:
    """Module id an agent maps to: 'shared', its team prefix (``hider_0 -> hider``), or itself."""
    if mode == "shared":
        return SHARED_POLICY_ID
    if mode == "team":
        return agent.rsplit("_", 1)[0] if "_" in agent else agent
    if mode == "agent":
        return agent
    raise ConfigError(f"unknown policy_mapping {mode!r}; allowed: {', '.join(POLICY_MAPPINGS)}")


class PolicyMapper:
    """Picklable ``policy_mapping_fn`` (remote env runners receive it by value)."""

    def __init__(self, mode: str) -> None:
        policy_id_for("x_0", mode)  # validates
        self.mode = mode

    def __call__(self, agent_id: Any, episode: Any = None, **kwargs: Any) -> str:
        return policy_id_for(str(agent_id), self.mode)
