"""Warm start (``init_from: RUN_DIR``): a new run starts from another run's trained weights.

Only the learner's RLModule state comes over (actor, critic, value-normalizer statistics);
the optimizer state is fresh and the new run counts iterations and env steps from 0 in its
own run directory. The checks that need no Ray run while the config is validated; the
weights are loaded into the built algorithm, which hands them to its env runners before the
first sample.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import yaml

from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.run_dir import read_checkpoint_meta, resolve_checkpoint

# where an RLlib checkpoint keeps the learner's modules, one subfolder per policy id
MODULES_COMPONENT = "learner_group/learner/rl_module"


def resolve_init_from(path: str | os.PathLike, algorithm: str) -> Path:
    """``init_from`` -> the checkpoint to start from; ConfigError unless it is a run (or checkpoint)
    of the same algorithm family with learner module state."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"init_from {str(path)!r} does not exist; expected a run directory or its checkpoints/iter_* folder")
    if (p / "population.json").exists():
        members = sorted(m.name for m in p.glob("member_*"))
        raise ConfigError(f"init_from {str(path)!r} is a population; warm-start from one member run dir "
                          f"(one of: {', '.join(members) or 'none yet'})")
    try:
        checkpoint = resolve_checkpoint(p)
        meta = read_checkpoint_meta(checkpoint)
    except CheckpointError as exc:
        raise ConfigError(f"init_from: {exc}") from None
    source = meta.get("algorithm") or _run_config_algorithm(checkpoint)
    if source != algorithm:
        raise ConfigError(f"init_from {str(path)!r} was trained with algorithm {source!r}; "
                          f"it cannot warm-start a {algorithm!r} run (same algorithm family needed)")
    if not source_policy_ids(checkpoint):
        raise ConfigError(f"init_from {str(path)!r}: checkpoint {checkpoint} holds no learner module state "
                          f"(expected {MODULES_COMPONENT}/<policy_id>/)")
    return checkpoint


def source_policy_ids(checkpoint: Path) -> list[str]:
    """Policy ids whose module state the checkpoint holds."""
    modules = checkpoint / MODULES_COMPONENT
    return sorted(p.name for p in modules.iterdir() if p.is_dir()) if modules.is_dir() else []


def check_policy_ids(checkpoint: Path, policy_ids: Iterable[str]) -> None:
    """The new run must train exactly the policies the checkpoint holds (e.g. same policy_mapping)."""
    have, want = source_policy_ids(checkpoint), sorted(policy_ids)
    if have != want:
        raise ConfigError(f"init_from {checkpoint}: it holds policies {have} but this run trains {want} "
                          "(use the same policy_mapping and env agents as the source run)")


def apply_warm_start(algo: Any, checkpoint: Path) -> None:
    """Load the checkpoint's learner modules into ``algo`` and sync them to its env runners.

    RLlib's component restore replaces the module weights in place, so the optimizers (built
    on the same parameters) keep their fresh state; ``Algorithm.restore_from_path`` then
    pushes the weights to every env runner.
    """
    try:
        algo.restore_from_path(str((checkpoint / MODULES_COMPONENT).resolve()), component=MODULES_COMPONENT)
    except (RuntimeError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"init_from {checkpoint}: its networks do not fit this run "
                          f"(different observation/action spaces or model sizes): {first}") from None


def _run_config_algorithm(checkpoint: Path) -> str | None:
    """The algorithm named in the run's config.yaml (checkpoints/iter_N -> the run dir)."""
    config = checkpoint.parent.parent / "config.yaml"
    try:
        return (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("algorithm")
    except (OSError, yaml.YAMLError, AttributeError):
        return None
