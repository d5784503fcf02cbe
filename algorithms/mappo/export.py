"""Trained MAPPO policies as plain torch objects: ``load_policy(run_dir_or_checkpoint)``.

No Ray is started (and, for checkpoints written by ``MAPPO.save_to_path``, Ray is not even
imported): the checkpoint's ``mappo_policies.json`` sidecar describes every policy (obs
shape, action count, action mask, model config, agent -> policy mapping) and the weights
come from ``learner_group/learner/rl_module/<policy_id>/module_state.pkl``.

    policy = load_policy("runs/cramped-mappo")          # latest checkpoint of a run dir
    actions = policy(obs_batch)                          # (B,) int64, sampled
    greedy = policy(obs_batch, deterministic=True)
    probs = policy.action_probs(obs_batch)               # (B, num_actions)
"""
from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diverse_marl.algorithms.mappo.networks import MASK_KEY, MODEL_DEFAULTS, OBS_KEY, STATE_KEY, Torso, make_actor, mask_logits
from diverse_marl.errors import CheckpointError, ConfigError

SIDECAR = "mappo_policies.json"
RAW_SPACES_FILE = "mappo_raw_spaces.pkl"
MODULES_DIR = Path("learner_group") / "learner" / "rl_module"
STATE_FILE = "module_state.pkl"
ACTOR_PREFIX = "actor."
FORMAT_VERSION = 1


class TorchPolicy:
    """A trained MAPPO actor, callable on numpy observation batches.

    Observations are what the env gives the agent: an array ``(B, *obs_shape)`` (or one
    observation without the batch axis), a dict of batched arrays for Dict observations
    with ``action_mask`` (``{"observation": ..., "action_mask": ...}``), MAPPO's own dict
    (``{"obs": ..., "action_mask": ...}``), or a list of single observations.
    Recurrent (GRU) policies keep one hidden state per batch row; call ``reset()`` at
    episode starts.
    """

    def __init__(
        self,
        actor: Torso,
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

    def reset(self) -> None:
        """Forget the GRU state (no-op for MLP policies)."""
        self._h = None

    def logits(self, obs: Any) -> np.ndarray:
        logits, single = self._logits(obs)
        out = logits.numpy()
        return out[0] if single else out

    def action_probs(self, obs: Any) -> np.ndarray:
        logits, single = self._logits(obs)
        out = torch.softmax(logits, dim=-1).numpy()
        return out[0] if single else out

    def __call__(self, obs: Any, deterministic: bool = False) -> np.ndarray:
        logits, single = self._logits(obs)
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
    def _logits(self, obs: Any) -> tuple[torch.Tensor, bool]:
        x, mask, single = self._prepare(obs)
        if self.gru_hidden:
            b = x.shape[0]
            if self._h is None or self._h.shape[0] != b:
                self._h = torch.zeros(b, self.gru_hidden)
            logits, self._h = self.actor(x.unsqueeze(1), self._h)
            logits = logits.squeeze(1)
        else:
            logits, _ = self.actor(x)
        return mask_logits(logits, mask), single

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
            raise ConfigError(f"policy {self.policy_id!r} was trained with an action mask; pass observations "
                              f"as dicts with an {MASK_KEY!r} entry")
        mask = None if mask is None else np.asarray(mask, dtype=np.float32)
        if self.raw_space is not None:  # non-Box observations (Discrete, Tuple, ...): one at a time
            from gymnasium import spaces

            flat = np.asarray(spaces.flatten(self.raw_space, obs), dtype=np.float32)[None]
            return torch.from_numpy(flat), _mask_tensor(None if mask is None else mask.reshape(1, -1)), True
        arr = np.asarray(obs, dtype=np.float32)
        single = arr.shape == self.obs_shape
        if single:
            arr = arr[None]
            mask = None if mask is None else mask.reshape(1, -1)
        elif arr.shape[1:] != self.obs_shape:
            raise ConfigError(f"observation of shape {arr.shape} does not fit policy {self.policy_id!r}; "
                              f"expected {self.obs_shape} or (batch, {', '.join(map(str, self.obs_shape))})")
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
        raise ConfigError(f"cannot read observation dict with keys {sorted(obs)}; expected {OBS_KEY!r} or a "
                          f"single observation key plus {MASK_KEY!r}")


def _mask_tensor(mask: np.ndarray | None) -> torch.Tensor | None:
    return None if mask is None else torch.from_numpy(np.asarray(mask, dtype=np.float32))


# ---------------------------------------------------------------------------------------
# writing the sidecar (called by MAPPO.save_to_path) and reading checkpoints
# ---------------------------------------------------------------------------------------
def write_sidecar(checkpoint_dir: str | os.PathLike, export_info: dict[str, Any]) -> None:
    """Write ``mappo_policies.json`` (+ raw obs spaces) next to an RLlib checkpoint."""
    d = Path(checkpoint_dir)
    info = {k: v for k, v in export_info.items() if k != "raw_spaces"}
    tmp = d / (SIDECAR + ".tmp")
    tmp.write_text(json.dumps({"format": FORMAT_VERSION, **info}, indent=1, default=_json_default))
    os.replace(tmp, d / SIDECAR)
    raw = export_info.get("raw_spaces")
    if raw:
        tmp = d / (RAW_SPACES_FILE + ".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(raw, f)
        os.replace(tmp, d / RAW_SPACES_FILE)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (tuple, set)):
        return list(o)
    return str(o)


def resolve_checkpoint_dir(path: str | os.PathLike) -> Path:
    """A checkpoint dir -> itself; a run dir -> its newest ``checkpoints/iter_*`` with weights."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"checkpoint path {str(p)!r} does not exist")
    if (p / "learner_group").is_dir():
        return p
    ckpts = p / "checkpoints"
    if ckpts.is_dir():
        found = sorted(c for c in ckpts.iterdir() if c.is_dir() and not c.name.startswith(".") and (c / "learner_group").is_dir())
        if found:
            return found[-1]
        raise CheckpointError(f"run directory {str(p)!r} holds no complete checkpoint under checkpoints/ "
                              f"(expected checkpoints/iter_*/learner_group)")
    raise CheckpointError(f"{str(p)!r} is neither an RLlib checkpoint (no learner_group/) nor a run directory "
                          f"(no checkpoints/)")


def _read_sidecar(ckpt: Path) -> dict[str, Any] | None:
    f = ckpt / SIDECAR
    if not f.exists():
        return None
    try:
        return json.loads(f.read_text())
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {str(ckpt)!r} is corrupt: cannot read {SIDECAR} ({exc})") from None


def _policy_info_from_ctor_args(ckpt: Path, pid: str) -> dict[str, Any]:
    """Fallback for checkpoints without the sidecar: read RLlib's pickled ctor args (imports ray.rllib)."""
    f = ckpt / MODULES_DIR / pid / "class_and_ctor_args.pkl"
    try:
        with open(f, "rb") as fh:
            ctor = pickle.load(fh)
        kwargs = ctor["ctor_args_and_kwargs"][1]
        obs_space, act_space = kwargs["observation_space"], kwargs["action_space"]
        return {
            "obs_shape": list(obs_space[OBS_KEY].shape),
            "num_actions": int(act_space.n),
            "has_mask": MASK_KEY in obs_space.spaces,
            "model_config": dict(kwargs.get("model_config") or {}),
        }
    except Exception as exc:  # noqa: BLE001 - any failure here means an unreadable checkpoint
        raise CheckpointError(f"checkpoint {str(ckpt)!r}: cannot read policy {pid!r} description ({exc})") from None


def load_policy(run_dir_or_checkpoint: str | os.PathLike, policy_id: str | None = None, seed: int | None = None) -> TorchPolicy:
    """Load one trained policy as a :class:`TorchPolicy` (no Ray started).

    ``policy_id``: a policy id ("shared", a team name, an agent name under "agent" mapping)
    or an agent name (mapped through the run's policy mapping). ``None`` picks the only
    policy, or "shared".
    """
    ckpt = resolve_checkpoint_dir(run_dir_or_checkpoint)
    modules_dir = ckpt / MODULES_DIR
    ids = sorted(d.name for d in modules_dir.iterdir() if (d / STATE_FILE).exists()) if modules_dir.is_dir() else []
    if not ids:
        raise CheckpointError(f"checkpoint {str(ckpt)!r} holds no policy weights (expected {MODULES_DIR}/<policy>/{STATE_FILE})")
    meta = _read_sidecar(ckpt)
    agents = (meta or {}).get("agents", {})
    if policy_id is None:
        if len(ids) == 1:
            policy_id = ids[0]
        elif "shared" in ids:
            policy_id = "shared"
        else:
            raise ConfigError(f"checkpoint has several policies; pass policy_id, one of: {', '.join(ids)}")
    elif policy_id not in ids and policy_id in agents:
        policy_id = agents[policy_id]
    if policy_id not in ids:
        allowed = ids + sorted(a for a in agents if a not in ids)
        raise ConfigError(f"unknown policy_id {policy_id!r}; allowed: {', '.join(allowed)}")

    info = (meta or {}).get("policies", {}).get(policy_id) or _policy_info_from_ctor_args(ckpt, policy_id)
    try:
        with open(modules_dir / policy_id / STATE_FILE, "rb") as fh:
            state = pickle.load(fh)
    except Exception as exc:  # noqa: BLE001 - truncated/garbled pickle
        raise CheckpointError(f"checkpoint {str(ckpt)!r} is corrupt: cannot read weights of policy {policy_id!r} ({exc})") from None
    cfg = {**MODEL_DEFAULTS, **info.get("model_config", {})}
    obs_shape = tuple(int(s) for s in info["obs_shape"])
    actor = make_actor(int(np.prod(obs_shape)), int(info["num_actions"]), cfg)
    actor_state = {k[len(ACTOR_PREFIX):]: torch.as_tensor(np.asarray(v)) for k, v in dict(state).items() if k.startswith(ACTOR_PREFIX)}
    try:
        actor.load_state_dict(actor_state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {str(ckpt)!r}: weights of policy {policy_id!r} do not match its "
                              f"description ({exc})") from None

    raw_space = None
    raw_file = ckpt / RAW_SPACES_FILE
    if raw_file.exists():
        agent = next((a for a, p in agents.items() if p == policy_id), None)
        try:
            with open(raw_file, "rb") as fh:
                raw_space = pickle.load(fh).get(agent)
        except Exception:  # noqa: BLE001 - only needed for non-Box observations
            raw_space = None
    return TorchPolicy(
        actor, policy_id=policy_id, obs_shape=obs_shape, num_actions=int(info["num_actions"]),
        has_mask=bool(info.get("has_mask", False)), raw_space=raw_space,
        gru_hidden=int(cfg["gru_hidden"]), seed=seed,
    )
