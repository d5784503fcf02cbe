"""Checkpoint files that can be read without running code from them (no pickle, no Ray).

RLlib's own checkpoint files are pickles: unpickling a file from someone else can run any code.
Every diverse-marl algorithm therefore writes, beside RLlib's files, on each save::

    <checkpoint>/policies.json          family, agent -> policy mapping, one description per policy
                                        (spaces as JSON, model config, weights file + sha256)
    <checkpoint>/weights/<policy>.pt    the policy's full module state (actor, critic, value-norm
                                        statistics) as a plain ``{name: tensor}`` dict

``torch.load(weights_only=True)`` reads tensors and plain containers only, and the JSON is
decoded by :mod:`diverse_marl.space_codec`, so loading builds nothing but tensors, numbers and
gymnasium spaces. The weights are written first and ``policies.json`` last, each atomically
(temp file + rename): a checkpoint with a ``policies.json`` has all its weights.

    state = load_module_state("runs/cramped-mappo", "shared")    # warm starts: {name: tensor}
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.run_dir import RunDir, atomic_write_json

POLICIES_FILE = "policies.json"
WEIGHTS_DIR = "weights"
FORMAT = "diverse-marl-policies"
FORMAT_VERSION = 2
LEARNER_MODULES = "learner/rl_module"  # RLlib component path of the learner's MultiRLModule
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


# ---------------------------------------------------------------------------------------
# writing (called by the algorithms' save_to_path)
# ---------------------------------------------------------------------------------------
def learner_module_states(algo: Any) -> dict[str, dict[str, Any]]:
    """Every policy's full training-side module state (numpy arrays), via RLlib's public get_state.

    The env runners hold inference-only copies without the critic; the learner holds the full module.
    """
    state = algo.learner_group.get_state(components=LEARNER_MODULES)
    return dict(state["learner"]["rl_module"])


def write_safe_checkpoint(
    checkpoint_dir: str | os.PathLike,
    family: str,
    states: Mapping[str, Mapping[str, Any]],
    policies: Mapping[str, Mapping[str, Any]],
    **info: Any,
) -> Path:
    """Write ``weights/<policy>.pt`` per policy, then ``policies.json``; returns the latter's path.

    ``states``: policy id -> {parameter name: array/tensor}; ``policies``: policy id -> a JSON-able
    description (spaces already JSON); ``info``: JSON-able extras (``agents`` mapping, ...).
    """
    d = Path(checkpoint_dir)
    (d / WEIGHTS_DIR).mkdir(parents=True, exist_ok=True)
    described: dict[str, Any] = {}
    for i, (pid, state) in enumerate(sorted(states.items())):
        if pid not in policies:
            continue  # a module without a description (e.g. a frozen partner) is not exported
        name = f"{i:02d}_{_SAFE_NAME.sub('_', pid)}.pt"
        tensors = {str(k): _to_tensor(k, v) for k, v in state.items()}
        path = d / WEIGHTS_DIR / name
        tmp = path.with_name(f".{name}.tmp-{os.getpid()}")
        with open(tmp, "wb") as f:
            torch.save(tensors, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        described[pid] = {**policies[pid], "weights": f"{WEIGHTS_DIR}/{name}", "sha256": _sha256(path)}
    meta = {"format": FORMAT, "version": FORMAT_VERSION, "family": family, **info, "policies": described}
    atomic_write_json(d / POLICIES_FILE, meta)
    return d / POLICIES_FILE


def _to_tensor(key: Any, value: Any) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    arr = np.asarray(value)
    if arr.dtype == object:
        raise ConfigError(f"module state entry {key!r} is not numeric ({type(value).__name__}); cannot save it safely")
    return torch.from_numpy(np.array(arr))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------
def resolve_checkpoint_dir(path: str | os.PathLike) -> Path:
    """A checkpoint dir -> itself; a run dir -> its latest complete ``checkpoints/iter_*``."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"checkpoint path {str(p)!r} does not exist")
    if (p / POLICIES_FILE).exists() or (p / "learner_group").is_dir():
        return p
    latest = RunDir(p).latest_checkpoint()
    if latest is not None:
        return latest
    if RunDir(p).checkpoints.is_dir():
        raise CheckpointError(
            f"run directory {str(p)!r} holds no complete checkpoint under checkpoints/ "
            f"(expected checkpoints/iter_*/ with {POLICIES_FILE} and meta.json)"
        )
    raise CheckpointError(
        f"{str(p)!r} is neither a checkpoint (no {POLICIES_FILE}) nor a run directory (no checkpoints/)"
    )


def read_policies_meta(checkpoint: str | os.PathLike) -> dict[str, Any]:
    """``policies.json`` of a checkpoint (or of a run dir's latest checkpoint), checked for shape."""
    ckpt = resolve_checkpoint_dir(checkpoint)
    f = ckpt / POLICIES_FILE
    if not f.exists():
        raise CheckpointError(
            f"checkpoint {str(ckpt)!r} has no {POLICIES_FILE}: it was written by an older diverse-marl "
            f"that saved weights only as pickles, which are not loaded because unpickling a file can "
            f"run code from it. If you trust where it came from, add the safe files once with "
            f"`python -m diverse_marl.algorithms.legacy_checkpoint {ckpt}` (this unpickles it); "
            f"otherwise retrain"
        )
    try:
        meta = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {str(ckpt)!r} is corrupt: cannot read {POLICIES_FILE} ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("policies"), dict):
        raise CheckpointError(f"checkpoint {str(ckpt)!r}: {POLICIES_FILE} is not a diverse-marl policies file")
    if meta.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(ckpt)!r}: {POLICIES_FILE} has version {meta.get('version')!r}; "
            f"this diverse-marl reads version {FORMAT_VERSION}"
        )
    meta["checkpoint"] = str(ckpt)
    return meta


def resolve_policy_id(meta: Mapping[str, Any], policy_id: str | None) -> str:
    """A policy id, an agent name (through the run's mapping) or None (the only / shared policy)."""
    ids = sorted(meta["policies"])
    agents = meta.get("agents") if isinstance(meta.get("agents"), dict) else {}
    if not ids:
        raise CheckpointError(f"checkpoint {meta.get('checkpoint')!r} describes no policies")
    if policy_id is None:
        if len(ids) == 1:
            return ids[0]
        if "shared" in ids:
            return "shared"
        raise ConfigError(f"checkpoint has several policies; pass policy_id, one of: {', '.join(ids)}")
    if policy_id not in ids and agents.get(policy_id) in ids:
        return agents[policy_id]
    if policy_id not in ids:
        allowed = ids + sorted(a for a in agents if a not in ids)
        raise ConfigError(f"unknown policy_id {policy_id!r}; allowed: {', '.join(allowed)}")
    return policy_id


def read_weights(meta: Mapping[str, Any], policy_id: str) -> dict[str, torch.Tensor]:
    """The ``{name: tensor}`` state of ``policy_id``, checksum-verified, via ``weights_only`` loading."""
    ckpt = Path(meta["checkpoint"])
    desc = meta["policies"][policy_id]
    rel = desc.get("weights") if isinstance(desc, dict) else None
    if (
        not isinstance(rel, str)
        or Path(rel).parts[:1] != (WEIGHTS_DIR,)
        or ".." in Path(rel).parts
        or len(Path(rel).parts) != 2
    ):
        raise CheckpointError(f"checkpoint {str(ckpt)!r}: policy {policy_id!r} names no valid weights file ({rel!r})")
    path = ckpt / rel
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(ckpt)!r} is incomplete: {rel} is missing")
    if desc.get("sha256") != _sha256(path):
        raise CheckpointError(
            f"checkpoint {str(ckpt)!r} is corrupt: {rel} does not match its sha256 in {POLICIES_FILE}"
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files; all mean corrupt
        raise CheckpointError(f"checkpoint {str(ckpt)!r} is corrupt: cannot read {rel} ({exc})") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise CheckpointError(f"checkpoint {str(ckpt)!r}: {rel} does not hold a {{name: tensor}} dict")
    return state


def load_module_state(path: str | os.PathLike, policy_id: str | None = None) -> dict[str, torch.Tensor]:
    """A policy's full module state (actor, critic, value-norm statistics) from a run dir or checkpoint.

    Ray-free and pickle-free; keys are the RLModule's ``state_dict`` names, so
    ``module.load_state_dict(state)`` (or RLlib's ``module.set_state``) restores it for warm starts.
    """
    meta = read_policies_meta(path)
    return read_weights(meta, resolve_policy_id(meta, policy_id))
