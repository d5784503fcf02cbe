"""Trained policies as plain torch objects: ``load_policy(run_dir_or_checkpoint)``.

Neither Ray nor pickle: the checkpoint's pickle-free files (see ``safe_checkpoint``) describe
every policy and hold its weights. The description's ``family`` picks how the actor is rebuilt
(``ACTOR_BUILDERS``): MAPPO's actor from its model config, the stock-PPO baseline's MLP from the
layer list written at save time. Both become a :class:`TorchPolicy`.

    policy = load_policy("runs/cramped-mappo")          # latest checkpoint of a run dir
    actions = policy(obs_batch)                          # (B,) int64, sampled
    greedy = policy(obs_batch, deterministic=True)
    probs = policy.action_probs(obs_batch)               # (B, num_actions)
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from diverse_marl.algorithms.mappo.networks import MASK_KEY, MODEL_DEFAULTS, OBS_KEY, STATE_KEY, make_actor, mask_logits
from diverse_marl.algorithms.safe_checkpoint import (
    read_policies_meta,
    read_weights,
    resolve_policy_id,
    write_safe_checkpoint,
)
from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.space_codec import space_from_json, space_to_json

ACTOR_PREFIX = "actor."


class TorchPolicy:
    """A trained actor, callable on numpy observation batches.

    ``actor(x)`` maps a float batch ``(B, D)`` to ``(logits, None)`` (with ``use_gru``: ``(B, T, D)``
    plus a hidden state to ``(logits, new state)``), as MAPPO's ``Torso`` and :class:`LayerListActor` do.

    Observations are what the env gives the agent: an array ``(B, *obs_shape)`` (or one
    observation without the batch axis), a dict of batched arrays for Dict observations
    with ``action_mask`` (``{"observation": ..., "action_mask": ...}``), MAPPO's own dict
    (``{"obs": ..., "action_mask": ...}``), or a list of single observations.
    Recurrent (GRU) policies keep one hidden state per row: by default row ``i`` of the batch
    (a new batch size starts fresh states); with ``rows=`` the given row keys (e.g. env copy
    indices), so any subset of copies can act at each step. ``reset()`` forgets every state,
    ``reset(rows)`` only those rows' states (their episodes start anew).
    """

    def __init__(
        self,
        actor: nn.Module,
        *,
        policy_id: str,
        obs_shape: tuple[int, ...],
        num_actions: int,
        has_mask: bool = False,
        raw_space: Any = None,
        gru_hidden: int = 0,
        seed: int | None = None,
    ) -> None:
        self.actor = actor.eval()
        self.policy_id = policy_id
        self.obs_shape = tuple(obs_shape)
        self.num_actions = int(num_actions)
        self.has_mask = bool(has_mask)
        self.raw_space = raw_space
        self.gru_hidden = int(gru_hidden) if actor.use_gru else 0
        self._h: torch.Tensor | None = None
        self._rng = np.random.default_rng(seed)

    # ---- public API ----
    def seed(self, seed: int | None) -> None:
        self._rng = np.random.default_rng(seed)

    def reset(self, rows: Sequence[int] | np.ndarray | None = None) -> None:
        """Forget the GRU state of every row, or only of ``rows`` (no-op for MLP policies)."""
        if rows is None:
            self._h = None
        elif self._h is not None:
            idx = np.asarray(rows, np.int64)
            self._h[idx[idx < self._h.shape[0]]] = 0.0

    def logits(self, obs: Any, rows: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        logits, single = self._logits(obs, rows)
        out = logits.numpy()
        return out[0] if single else out

    def action_probs(self, obs: Any, rows: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        logits, single = self._logits(obs, rows)
        out = torch.softmax(logits, dim=-1).numpy()
        return out[0] if single else out

    def __call__(
        self, obs: Any, deterministic: bool = False, rows: Sequence[int] | np.ndarray | None = None
    ) -> np.ndarray:
        logits, single = self._logits(obs, rows)
        if deterministic:
            actions = logits.argmax(dim=-1).numpy()
        else:
            probs = torch.softmax(logits.double(), dim=-1).numpy()
            u = self._rng.random((probs.shape[0], 1))
            actions = np.minimum((probs.cumsum(axis=1) < u).sum(axis=1), self.num_actions - 1)
        actions = actions.astype(np.int64)
        return actions[0] if single else actions

    # ---- internals ----
    @torch.no_grad()
    def _logits(self, obs: Any, rows: Sequence[int] | np.ndarray | None = None) -> tuple[torch.Tensor, bool]:
        x, mask, single = self._prepare(obs)
        if not self.gru_hidden:
            logits, _ = self.actor(x)
            return mask_logits(logits, mask), single
        if rows is None:  # row i of the batch; a new batch size starts fresh states
            if self._h is None or self._h.shape[0] != x.shape[0]:
                self._h = torch.zeros(x.shape[0], self.gru_hidden)
            idx = torch.arange(x.shape[0])
        else:
            idx = torch.as_tensor(np.asarray(rows, np.int64).reshape(-1))
            if len(idx) != x.shape[0]:
                raise ConfigError(f"rows names {len(idx)} rows for a batch of {x.shape[0]} observations")
            self._grow_state(int(idx.max()) + 1 if len(idx) else 0)
        logits, h = self.actor(x.unsqueeze(1), self._h[idx])
        self._h[idx] = h
        return mask_logits(logits.squeeze(1), mask), single

    def _grow_state(self, size: int) -> None:
        """Room for GRU states of rows 0..size-1 (new rows start at zero)."""
        have = 0 if self._h is None else self._h.shape[0]
        if size > have:
            new = torch.zeros(size, self.gru_hidden)
            if have:
                new[:have] = self._h
            self._h = new

    def _prepare(self, obs: Any) -> tuple[torch.Tensor, torch.Tensor | None, bool]:
        """-> (actor input (B, D), action mask (B, A) or None, whether ``obs`` was a single observation)."""
        if isinstance(obs, (list, tuple)):  # a list of single observations
            parts = [self._prepare(o) for o in obs]
            mask = torch.cat([p[1] for p in parts]) if parts[0][1] is not None else None
            return torch.cat([p[0] for p in parts]), mask, False
        mask = None
        if isinstance(obs, dict):
            mask = obs.get(MASK_KEY)
            obs = self._actor_part(obs)
        if self.has_mask and mask is None:
            raise ConfigError(
                f"policy {self.policy_id!r} was trained with an action mask; pass observations "
                f"as dicts with an {MASK_KEY!r} entry"
            )
        mask = None if mask is None else np.asarray(mask, dtype=np.float32)
        if self.raw_space is not None:  # non-Box observations (Discrete, Tuple, ...): one at a time
            flat = np.asarray(spaces.flatten(self.raw_space, obs), dtype=np.float32)[None]
            return torch.from_numpy(flat), _mask_tensor(None if mask is None else mask.reshape(1, -1)), True
        arr = np.asarray(obs, dtype=np.float32)
        single = arr.shape == self.obs_shape
        if single:
            arr = arr[None]
            mask = None if mask is None else mask.reshape(1, -1)
        elif arr.shape[1:] != self.obs_shape:
            raise ConfigError(
                f"observation of shape {arr.shape} does not fit policy {self.policy_id!r}; "
                f"expected {self.obs_shape} or (batch, {', '.join(map(str, self.obs_shape))})"
            )
        return torch.from_numpy(arr.reshape(arr.shape[0], -1)), _mask_tensor(mask), single

    def _actor_part(self, obs: dict) -> Any:
        """The actor's share of a dict observation (env-style or MAPPO-style)."""
        if OBS_KEY in obs:
            return obs[OBS_KEY]
        rest = {k: v for k, v in obs.items() if k not in (MASK_KEY, STATE_KEY)}
        if len(rest) == 1:
            return next(iter(rest.values()))
        if self.raw_space is not None:
            return rest
        raise ConfigError(
            f"cannot read observation dict with keys {sorted(obs)}; expected {OBS_KEY!r} or a "
            f"single observation key plus {MASK_KEY!r}"
        )


def _mask_tensor(mask: np.ndarray | None) -> torch.Tensor | None:
    return None if mask is None else torch.from_numpy(np.asarray(mask, dtype=np.float32))


# ---------------------------------------------------------------------------------------
# actors rebuilt from pickle-free checkpoint files, one builder per algorithm family
# ---------------------------------------------------------------------------------------
# activations a layer list may name (class names, lower-cased, as torch spells them)
ACTIVATION_LAYERS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "silu": nn.SiLU,
    "gelu": nn.GELU,
}


class LayerListActor(nn.Module):
    """An MLP given as a list of layers, e.g. ``[{"linear": "pi.net.mlp.0"}, {"activation": "tanh"}]``.

    ``linear`` / ``layer_norm`` entries name the parameter prefix their weights have in the saved
    module state, so an RLlib catalog model (stock PPO) is rebuilt without RLlib.
    """

    use_gru = False

    def __init__(self, layers: list[Mapping[str, Any]], state: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        mods: list[nn.Module] = []
        for entry in layers:
            if not isinstance(entry, Mapping):
                raise ValueError(f"layer {entry!r} is not a mapping")
            if "linear" in entry:
                w = state[f"{entry['linear']}.weight"]
                lin = nn.Linear(w.shape[1], w.shape[0], bias=f"{entry['linear']}.bias" in state)
                lin.weight.data.copy_(w)
                if lin.bias is not None:
                    lin.bias.data.copy_(state[f"{entry['linear']}.bias"])
                mods.append(lin)
            elif "layer_norm" in entry:
                w = state[f"{entry['layer_norm']}.weight"]
                ln = nn.LayerNorm(w.shape[0], eps=float(entry.get("eps", 1e-5)))
                ln.weight.data.copy_(w)
                ln.bias.data.copy_(state[f"{entry['layer_norm']}.bias"])
                mods.append(ln)
            elif entry.get("activation") in ACTIVATION_LAYERS:
                mods.append(ACTIVATION_LAYERS[entry["activation"]]())
            else:
                raise ValueError(
                    f"unknown layer {dict(entry)!r}; allowed: linear, layer_norm, "
                    f"activation ({', '.join(ACTIVATION_LAYERS)})"
                )
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> tuple[torch.Tensor, None]:
        return self.net(x), None


def _mappo_actor(desc: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> nn.Module:
    cfg = {**MODEL_DEFAULTS, **desc.get("model_config", {})}
    actor = make_actor(int(np.prod(desc["obs_shape"])), int(desc["num_actions"]), cfg)
    actor.load_state_dict(
        {k[len(ACTOR_PREFIX) :]: v for k, v in state.items() if k.startswith(ACTOR_PREFIX)}, strict=True
    )
    return actor


def _layer_list_actor(desc: Mapping[str, Any], state: Mapping[str, torch.Tensor]) -> nn.Module:
    if not desc.get("actor_layers"):
        raise CheckpointError(
            "this policy's network is not a plain MLP (e.g. a CNN encoder), so it cannot be "
            "rebuilt without RLlib; load it with RLlib's RLModule.from_checkpoint instead"
        )
    return LayerListActor(list(desc["actor_layers"]), state)


# family (``policies.json`` "family") -> actor builder(policy description, module state)
ACTOR_BUILDERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, torch.Tensor]], nn.Module]] = {
    "mappo": _mappo_actor,
    "ppo": _layer_list_actor,
    "bc": _layer_list_actor,
}
# family -> "module:function(policy, description, seed)" wrapping the loaded policy (bc: its anti-stuck rule)
POLICY_WRAPPERS: dict[str, str] = {"bc": "diverse_marl.algorithms.bc.policy:with_stuck_rule"}


def load_policy(
    run_dir_or_checkpoint: str | os.PathLike, policy_id: str | None = None, seed: int | None = None
) -> TorchPolicy:
    """Load one trained policy (any family) as a :class:`TorchPolicy`; no Ray, no unpickling.

    ``policy_id``: a policy id ("shared", a team name, an agent name under "agent" mapping)
    or an agent name (mapped through the run's policy mapping). ``None`` picks the only
    policy, or "shared".
    """
    meta = read_policies_meta(run_dir_or_checkpoint)
    pid = resolve_policy_id(meta, policy_id)
    family = meta.get("family")
    if family not in ACTOR_BUILDERS:
        raise CheckpointError(
            f"checkpoint {meta['checkpoint']!r} has unknown algorithm family {family!r}; "
            f"this diverse-marl loads: {', '.join(ACTOR_BUILDERS)}"
        )
    desc = meta["policies"][pid]
    state = read_weights(meta, pid)
    try:
        actor = ACTOR_BUILDERS[family](desc, state)
        obs_shape = tuple(int(s) for s in desc["obs_shape"])
        num_actions = int(desc["num_actions"])
        raw = desc.get("flatten_space")
        raw_space = None if raw is None else space_from_json(raw)
    except CheckpointError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:  # missing/mismatched entries or weights
        raise CheckpointError(
            f"checkpoint {meta['checkpoint']!r}: policy {pid!r} does not match its description in policies.json ({exc})"
        ) from None
    policy = TorchPolicy(
        actor,
        policy_id=pid,
        obs_shape=obs_shape,
        num_actions=num_actions,
        has_mask=bool(desc.get("has_mask", False)),
        raw_space=raw_space,
        gru_hidden=int(desc.get("model_config", {}).get("gru_hidden", 0)),
        seed=seed,
    )
    if family in POLICY_WRAPPERS:
        module, _, fn = POLICY_WRAPPERS[family].partition(":")
        return getattr(importlib.import_module(module), fn)(policy, desc, seed)
    return policy


# ---------------------------------------------------------------------------------------
# writing MAPPO's files (called by MAPPO.save_to_path)
# ---------------------------------------------------------------------------------------
def write_mappo_policies(
    checkpoint_dir: str | os.PathLike, export_info: Mapping[str, Any], states: Mapping[str, Mapping[str, Any]]
) -> None:
    """Pickle-free policy files for a MAPPO checkpoint from ``MAPPOConfig``'s export info."""
    agents = dict(export_info.get("agents") or {})
    raw_spaces = export_info.get("raw_spaces") or {}
    policies = {}
    for pid, info in export_info["policies"].items():
        # the env-side actor space load_policy must flatten itself (non-Box observations only)
        raw = next((raw_spaces[a] for a, p in agents.items() if p == pid and a in raw_spaces), None)
        policies[pid] = {
            "obs_shape": [int(s) for s in info["obs_shape"]],
            "num_actions": int(info["num_actions"]),
            "has_mask": bool(info["has_mask"]),
            "model_config": dict(info["model_config"]),
            "action_space": {"type": "Discrete", "n": int(info["num_actions"]), "start": 0},
            "flatten_space": None if raw is None else space_to_json(raw),
        }
    write_safe_checkpoint(
        checkpoint_dir,
        "mappo",
        states,
        policies,
        agents=agents,
        policy_mapping=export_info.get("policy_mapping"),
        critic_input=export_info.get("critic_input"),
    )
