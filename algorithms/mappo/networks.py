"""Pure-torch building blocks of MAPPO's networks (no Ray import: ``load_policy`` uses them).

Parameter names (``actor.*``, ``critic.*``, ``value_norm.*``) are shared by the RLModule and
the exported ``TorchPolicy`` (which keeps only ``actor.*``), so checkpoints load into either.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

OBS_KEY = "obs"
STATE_KEY = "state"
MASK_KEY = "action_mask"
MASKED_LOGIT = -1e10  # MAPPO sets logits of unavailable actions to this value

# Model-config keys of MAPPOTorchRLModule with the MAPPO paper's defaults.
MODEL_DEFAULTS: dict[str, Any] = {
    "actor_hiddens": [64, 64],  # paper: 64 units (layer_N=1 -> two hidden layers)
    "critic_hiddens": [64, 64],
    "activation": "relu",  # paper: use_ReLU=True (else tanh)
    "feature_norm": True,  # paper: use_feature_normalization (LayerNorm on the input)
    "layer_norm": True,  # paper: LayerNorm after every hidden layer
    "orthogonal_init": True,  # paper: use_orthogonal
    "actor_head_gain": 0.01,  # paper: gain of the policy output layer
    "use_gru": False,  # paper: use_recurrent_policy (we default to MLP, cheaper)
    "gru_hidden": 64,
    "max_seq_len": 10,  # paper: data_chunk_length (GRU training chunks)
    "value_norm": True,  # paper: use_valuenorm
    "value_norm_beta": 0.99999,  # paper: ValueNorm beta (debiased EMA weight)
    "value_norm_eps": 1e-5,
}

CRITIC_HEAD_GAIN = 1.0
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
        self.register_buffer("running_mean", torch.zeros(1, dtype=torch.float64))
        self.register_buffer("running_mean_sq", torch.zeros(1, dtype=torch.float64))
        self.register_buffer("debiasing_term", torch.zeros(1, dtype=torch.float64))

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
            one = torch.ones(1, dtype=torch.float64, device=self.running_mean.device)
            return one * 0.0, one
        d = self.debiasing_term.clamp(min=self.eps)
        mean = self.running_mean / d
        var = (self.running_mean_sq / d - mean**2).clamp(min=self.VAR_FLOOR)
        return mean, var.sqrt()

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean_std()
        return (x - mean.to(x.dtype)) / std.to(x.dtype)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean_std()
        return x * std.to(x.dtype) + mean.to(x.dtype)


def init_linear(layer: nn.Linear, gain: float, orthogonal: bool) -> nn.Linear:
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
        layers += [init_linear(nn.Linear(d, int(h)), gain, cfg["orthogonal_init"]), ACTIVATIONS[act_name]()]
        if cfg["layer_norm"]:
            layers.append(nn.LayerNorm(int(h)))
        d = int(h)
    return nn.Sequential(*layers), d


class Torso(nn.Module):
    """MLP -> optional GRU -> linear head. Used for the actor (head = logits) and the critic (head = 1)."""

    def __init__(self, in_dim: int, hiddens: list[int], out_dim: int, head_gain: float, cfg: dict[str, Any]) -> None:
        super().__init__()
        cfg = {**MODEL_DEFAULTS, **cfg}
        self.use_gru = bool(cfg["use_gru"])
        self.base, d = build_mlp(in_dim, hiddens, cfg)
        if self.use_gru:
            self.gru = nn.GRU(d, int(cfg["gru_hidden"]), batch_first=True)
            d = int(cfg["gru_hidden"])
        self.head = init_linear(nn.Linear(d, out_dim), head_gain, cfg["orthogonal_init"])

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, D) or, with a GRU, (B, T, D) plus h0 (B, H); returns (output, new GRU state or None)."""
        z = self._base(x)
        h = None
        if self.use_gru:
            z, h = self.gru(z, h0.unsqueeze(0))
            h = h.squeeze(0)
        return self.head(z), h

    def _base(self, x: torch.Tensor) -> torch.Tensor:
        """``self.base(x)``, with the input LayerNorm (``feature_norm``) computed in a cheaper, equal way.

        LayerNorm(x) = x_hat * g + b with x_hat the row-standardized input; followed by the
        linear layer (W, c) it is x_hat @ (W * g)^T + (W @ b + c). The inputs (observations,
        states) need no gradient, so x_hat is computed without autograd and the affine is folded
        into the layer's weights: the same function and the same gradients for W, c, g, b, but
        no backward pass through the normalization and no gradient w.r.t. the (wide) input - the
        bulk of a centralized critic's cost on a large state. Inputs that require a gradient
        take the plain path.
        """
        layers = list(self.base)
        if (
            x.requires_grad
            or len(layers) < 2
            or not isinstance(layers[0], nn.LayerNorm)
            or not isinstance(layers[1], nn.Linear)
        ):
            return self.base(x)
        norm, linear = layers[0], layers[1]
        with torch.no_grad():
            x_hat = F.layer_norm(x, norm.normalized_shape, None, None, norm.eps)
        z = F.linear(x_hat, linear.weight * norm.weight, torch.addmv(linear.bias, linear.weight, norm.bias))
        for layer in layers[2:]:
            z = layer(z)
        return z


def make_actor(obs_dim: int, num_actions: int, cfg: dict[str, Any]) -> Torso:
    cfg = {**MODEL_DEFAULTS, **cfg}
    return Torso(obs_dim, cfg["actor_hiddens"], num_actions, cfg["actor_head_gain"], cfg)


def make_critic(state_dim: int, cfg: dict[str, Any]) -> Torso:
    cfg = {**MODEL_DEFAULTS, **cfg}
    return Torso(state_dim, cfg["critic_hiddens"], 1, CRITIC_HEAD_GAIN, cfg)


def mask_logits(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Unavailable actions (mask <= 0) get MASKED_LOGIT, as in MAPPO."""
    return logits if mask is None else logits.masked_fill(mask <= 0, MASKED_LOGIT)
