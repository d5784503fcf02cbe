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
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, ValueFunctionAPI
from ray.rllib.core.rl_module.rl_module import RLModule
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override
from torch import nn

from diverse_marl.algorithms.mappo.networks import (  # noqa: F401  (re-exported)
    ACTIVATIONS,
    MASK_KEY,
    MODEL_DEFAULTS,
    OBS_KEY,
    STATE_KEY,
    ValueNorm,
    make_actor,
    make_critic,
    mask_logits,
)


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
        self.critic_key = STATE_KEY if STATE_KEY in space.spaces else OBS_KEY
        self.use_gru = bool(cfg["use_gru"])
        if self.use_gru:
            # the critic's GRU state must be carried through sampling -> runners need the critic
            self.inference_only = False
        self.actor = make_actor(flat_dim(space[OBS_KEY]), int(self.action_space.n), cfg)
        if not self.inference_only:
            self.critic = make_critic(flat_dim(space[self.critic_key]), cfg)
            self.value_norm = ValueNorm(cfg["value_norm_beta"], cfg["value_norm_eps"])

    @override(RLModule)
    def get_initial_state(self) -> dict:
        if not self.use_gru:
            return {}
        h = np.zeros(int(self.cfg["gru_hidden"]), dtype=np.float32)
        return {"actor": h, "critic": h.copy()}

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> list[str]:
        return ["critic", "value_norm"]

    # ---- networks ----
    def _flat(self, batch: dict[str, Any], key: str) -> torch.Tensor:
        x = batch[Columns.OBS][key]
        lead = x.shape[: x.dim() - len(self.observation_space[key].shape)]
        return x.reshape(*lead, -1).float()

    def actor_logits(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Masked policy logits (and the new actor GRU state, if any)."""
        h0 = batch[Columns.STATE_IN]["actor"] if self.use_gru else None
        logits, h = self.actor(self._flat(batch, OBS_KEY), h0)
        return mask_logits(logits, batch[Columns.OBS].get(MASK_KEY)), h

    def _critic(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor | None]:
        h0 = batch[Columns.STATE_IN]["critic"] if self.use_gru else None
        v, h = self.critic(self._flat(batch, self.critic_key), h0)
        return v.squeeze(-1), h

    def compute_normalized_values(self, batch: dict[str, Any]) -> torch.Tensor:
        """Raw critic output: values in the normalized space when ``value_norm`` is on."""
        return self._critic(batch)[0]

    @override(ValueFunctionAPI)
    def compute_values(self, batch: dict[str, Any], embeddings: Any = None) -> torch.Tensor:
        v = self.compute_normalized_values(batch)
        return self.value_norm.denormalize(v) if self.cfg["value_norm"] else v

    # ---- forward passes ----
    def _forward(self, batch: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        logits, h_actor = self.actor_logits(batch)
        out = {Columns.ACTION_DIST_INPUTS: logits}
        if self.use_gru:
            _, h_critic = self._critic(batch)
            out[Columns.STATE_OUT] = {"actor": h_actor, "critic": h_critic}
        return out


def critic_input_dim(module: MAPPOTorchRLModule) -> int:
    """Input width of the critic's first linear layer (tests: it must be the state width)."""
    for layer in module.critic.base:
        if isinstance(layer, nn.Linear):
            return layer.in_features
    raise AssertionError("critic has no linear layer")
