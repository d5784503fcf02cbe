"""MAPPO's RLModule: a decentralized actor and a centralized critic in one torch module.

Batch format (what env runners - stock or custom - must put into episodes, and what the
learner connectors turn into train batches): every observation is a dict

    {"obs":         actor input, any Box shape (flattened here), float32,
     "state":       the agent-specific global state (critic input), 1-D float32 Box,
                    absent if the critic reads the local observation (``critic_input="obs"``),
     "action_mask": optional, 1 = allowed, shape (num_actions,)}

as built by :class:`diverse_marl.algorithms.mappo.env.MAPPOObservationAdapter`. Train batches
hold the usual RLlib columns (``obs``, ``actions``, ``action_logp``, ``action_dist_inputs``,
``loss_mask``, ``rewards``, ``terminateds``, ``truncateds``) plus the ones written by
:class:`~diverse_marl.algorithms.mappo.connectors.MAPPOGeneralAdvantageEstimation`:
``advantages``, ``value_targets`` (raw returns) and ``vf_preds`` (the critic's *normalized*
output at sampling time, used for the clipped value loss). With ``use_gru`` every tensor
has a time axis ``(B, T, ...)`` and ``state_in`` = ``{"actor": (B, H), "critic": (B, H)}``.

Every architecture choice of the MAPPO paper (Yu et al. 2022, appendix) is a model-config
key with the paper's default, see ``MODEL_DEFAULTS``.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override

OBS_KEY = "obs"
STATE_KEY = "state"
MASK_KEY = "action_mask"
MASKED_LOGIT = -1e10  # MAPPO sets logits of unavailable actions to this value

# Model-config keys of MAPPOTorchRLModule with the MAPPO paper's defaults.
MODEL_DEFAULTS: dict[str, Any] = {
    "actor_hiddens": [64, 64],     # paper: 64 units (layer_N=1 -> two hidden layers)
    "critic_hiddens": [64, 64],
    "activation": "relu",          # paper: use_ReLU=True (else tanh)
    "feature_norm": True,          # paper: use_feature_normalization (LayerNorm on the input)
    "layer_norm": True,            # paper: LayerNorm after every hidden layer
    "orthogonal_init": True,       # paper: use_orthogonal
    "actor_head_gain": 0.01,       # paper: gain of the policy output layer
    "use_gru": False,              # paper: use_recurrent_policy (we default to MLP, cheaper)
    "gru_hidden": 64,
    "max_seq_len": 10,             # paper: data_chunk_length (GRU training chunks)
    "value_norm": True,            # paper: use_valuenorm
    "value_norm_beta": 0.99999,    # paper: ValueNorm beta (debiased EMA weight)
    "value_norm_eps": 1e-5,
}

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh}


class ValueNorm(nn.Module):
    """Running mean/std of value targets (MAPPO's ValueNorm: a debiased EMA).

    The critic learns normalized targets; ``denormalize`` turns its output back into
    returns for GAE. Stats live in buffers, so checkpoints and weight syncs carry them.
    Until the first ``update`` the transform is the identity.
    """

    VAR_FLOOR = 1e-2  # as in MAPPO: keeps early, tiny-variance batches from exploding

    def __init__(self, beta: float = 0.99999, eps: float = 1e-5) -> None:
        super().__init__()
        self.beta = float(beta)
        self.eps = float(eps)
        self.register_buffer("running_mean", torch.zeros((), dtype=torch.float64))
        self.register_buffer("running_mean_sq", torch.zeros((), dtype=torch.float64))
        self.register_buffer("debiasing_term", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, targets: torch.Tensor) -> None:
        x = targets.detach().reshape(-1).to(torch.float64)
        if x.numel() == 0:
            return
        b = self.beta
        self.running_mean.mul_(b).add_(x.mean() * (1.0 - b))
        self.running_mean_sq.mul_(b).add_((x**2).mean() * (1.0 - b))
        self.debiasing_term.mul_(b).add_(1.0 - b)

    def mean_std(self) -> tuple[torch.Tensor, torch.Tensor]:
        if float(self.debiasing_term) <= 0.0:
            one = torch.ones((), dtype=torch.float64, device=self.running_mean.device)
            return one * 0.0, one
        d = self.debiasing_term.clamp(min=self.eps)
        mean = self.running_mean / d
        var = (self.running_mean_sq / d - mean**2).clamp(min=self.VAR_FLOOR)
        return mean, var.sqrt()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean_std()
        return ((x - mean.to(x.dtype)) / std.to(x.dtype))

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean_std()
        return x * std.to(x.dtype) + mean.to(x.dtype)


def _init_linear(layer: nn.Linear, gain: float, orthogonal: bool) -> nn.Linear:
    if orthogonal:
        nn.init.orthogonal_(layer.weight, gain=gain)
        nn.init.zeros_(layer.bias)
    return layer


def build_mlp(in_dim: int, hiddens: list[int], cfg: dict[str, Any]) -> tuple[nn.Sequential, int]:
    """MAPPO's MLPBase: [LayerNorm(input)] -> (Linear -> act -> [LayerNorm]) per hidden layer."""
    act_name = cfg["activation"]
    if act_name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {act_name!r}; allowed: {', '.join(ACTIVATIONS)}")
    gain = nn.init.calculate_gain(act_name)
    layers: list[nn.Module] = []
    if cfg["feature_norm"]:
        layers.append(nn.LayerNorm(in_dim))
    d = in_dim
    for h in hiddens:
        layers += [_init_linear(nn.Linear(d, int(h)), gain, cfg["orthogonal_init"]), ACTIVATIONS[act_name]()]
        if cfg["layer_norm"]:
            layers.append(nn.LayerNorm(int(h)))
        d = int(h)
    return nn.Sequential(*layers), d


def flat_dim(space: gym.Space) -> int:
    return int(np.prod(space.shape))


class MAPPOTorchRLModule(TorchRLModule, ValueFunctionAPI, InferenceOnlyAPI):
    """Actor pi(a | obs) and centralized critic V(state), separate networks (as in MAPPO).

    ``compute_values`` returns *denormalized* values (what GAE needs);
    ``compute_normalized_values`` returns the critic head's raw output (what the value
    loss compares with normalized targets).
    """

    @override(RLModule)
    def setup(self) -> None:
        cfg = {**MODEL_DEFAULTS, **(self.model_config or {})}
        self.cfg = cfg
        space = self.observation_space
        if not isinstance(space, gym.spaces.Dict) or OBS_KEY not in space.spaces:
            raise ValueError(
                f"MAPPOTorchRLModule needs a Dict observation space with key {OBS_KEY!r} "
                f"(built by MAPPOObservationAdapter), got {space}"
            )
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise ValueError(f"MAPPO supports Discrete action spaces only, got {self.action_space}")
        self.num_actions = int(self.action_space.n)
        self.has_state = STATE_KEY in space.spaces
        self.critic_key = STATE_KEY if self.has_state else OBS_KEY
        self.use_gru = bool(cfg["use_gru"])
        if self.use_gru:
            # critic GRU state must be carried through sampling -> runners need the critic
            self.inference_only = False
        ortho = cfg["orthogonal_init"]

        self.actor_base, d = build_mlp(flat_dim(space[OBS_KEY]), cfg["actor_hiddens"], cfg)
        if self.use_gru:
            self.actor_gru = nn.GRU(d, int(cfg["gru_hidden"]), batch_first=True)
            d = int(cfg["gru_hidden"])
        self.pi = _init_linear(nn.Linear(d, self.num_actions), cfg["actor_head_gain"], ortho)

        if not self.inference_only:
            self.critic_base, d = build_mlp(flat_dim(space[self.critic_key]), cfg["critic_hiddens"], cfg)
            if self.use_gru:
                self.critic_gru = nn.GRU(d, int(cfg["gru_hidden"]), batch_first=True)
                d = int(cfg["gru_hidden"])
            self.vf = _init_linear(nn.Linear(d, 1), 1.0, ortho)
            self.value_norm = ValueNorm(cfg["value_norm_beta"], cfg["value_norm_eps"])

    # ---- RLlib plumbing ----
    @override(RLModule)
    def get_initial_state(self) -> dict:
        if not self.use_gru:
            return {}
        h = np.zeros(int(self.cfg["gru_hidden"]), dtype=np.float32)
        return {"actor": h, "critic": h.copy()}

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> list[str]:
        return ["critic_base", "critic_gru", "vf", "value_norm"]

    # ---- networks ----
    def _flat(self, x: torch.Tensor, space: gym.Space) -> torch.Tensor:
        lead = x.shape[: x.dim() - len(space.shape)]
        return x.reshape(*lead, -1).float()

    def _torso(self, x: torch.Tensor, base: nn.Module, gru: nn.Module | None, h0: torch.Tensor | None):
        z = base(x)
        if gru is None:
            return z, None
        z, h = gru(z, h0.unsqueeze(0))
        return z, h.squeeze(0)

    def actor_logits(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Masked policy logits (and the new actor GRU state, if any)."""
        obs = batch[Columns.OBS]
        x = self._flat(obs[OBS_KEY], self.observation_space[OBS_KEY])
        h0 = batch[Columns.STATE_IN]["actor"] if self.use_gru else None
        z, h = self._torso(x, self.actor_base, getattr(self, "actor_gru", None), h0)
        logits = self.pi(z)
        if MASK_KEY in obs:
            logits = logits.masked_fill(obs[MASK_KEY] <= 0, MASKED_LOGIT)
        return logits, h

    def _critic(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        x = self._flat(batch[Columns.OBS][self.critic_key], self.observation_space[self.critic_key])
        h0 = batch[Columns.STATE_IN]["critic"] if self.use_gru else None
        z, h = self._torso(x, self.critic_base, getattr(self, "critic_gru", None), h0)
        return self.vf(z).squeeze(-1), h

    def compute_normalized_values(self, batch: dict[str, Any]) -> torch.Tensor:
        """Raw critic output: values in the normalized space when ``value_norm`` is on."""
        return self._critic(batch)[0]

    @override(ValueFunctionAPI)
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        v = self.compute_normalized_values(batch)
        return self.value_norm.denormalize(v) if self.cfg["value_norm"] else v

    # ---- forward passes ----
    def _forward(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        logits, h_actor = self.actor_logits(batch)
        out = {Columns.ACTION_DIST_INPUTS: logits}
        if self.use_gru:
            _, h_critic = self._critic(batch)
            out[Columns.STATE_OUT] = {"actor": h_actor, "critic": h_critic}
        return out

    def _forward_train(self, batch: dict[str, Any], **kwargs) -> dict[str, Any]:
        return self._forward(batch, **kwargs)


def critic_input_dim(module: MAPPOTorchRLModule) -> int:
    """Input width of the critic's first linear layer (tests: it must be the state width)."""
    for layer in module.critic_base:
        if isinstance(layer, nn.Linear):
            return layer.in_features
    raise AssertionError("critic has no linear layer")


__all__ = ["MAPPOTorchRLModule", "ValueNorm", "MODEL_DEFAULTS", "OBS_KEY", "STATE_KEY", "MASK_KEY", "critic_input_dim"]
