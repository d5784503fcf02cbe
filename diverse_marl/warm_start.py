"""Warm start (``init_from: RUN_DIR``): a new run starts from another run's trained weights.

Only the learner's RLModule state comes over (actor, critic, value-normalizer statistics);
the optimizer state is fresh and the new run counts iterations and env steps from 0 in its
own run directory. The checks that need no Ray run while the config is validated; the
weights are loaded into the built algorithm, which hands them to its env runners before the
first sample.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from diverse_marl.algorithms.methods import best_run_dir
from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.run_dir import resolve_checkpoint


def resolve_init_from(path: str | os.PathLike, algorithm: str) -> Path:
    """``init_from`` -> the checkpoint to start from; ConfigError unless it is a run (or checkpoint)
    of the same algorithm family whose policy weights can be read safely. A method's run dir (RPG)
    gives its best run."""
    p = best_run_dir(path)
    if not p.exists():
        raise ConfigError(
            f"init_from {str(path)!r} does not exist; expected a run directory or its checkpoints/iter_* folder"
        )
    if (p / "population.json").exists():
        members = sorted(m.name for m in p.glob("member_*"))
        raise ConfigError(
            f"init_from {str(path)!r} is a population; warm-start from one member run dir "
            f"(one of: {', '.join(members) or 'none yet'})"
        )
    from diverse_marl.algorithms.safe_checkpoint import read_policies_meta  # imports torch

    try:
        meta = read_policies_meta(resolve_checkpoint(p))
    except CheckpointError as exc:
        raise ConfigError(f"init_from: {exc}") from None
    if meta.get("family") != algorithm:
        raise ConfigError(
            f"init_from {str(path)!r} was trained with algorithm {meta.get('family')!r}; "
            f"it cannot warm-start a {algorithm!r} run (same algorithm family needed)"
        )
    if not meta["policies"]:
        raise ConfigError(f"init_from {str(path)!r}: checkpoint {meta['checkpoint']} describes no policies")
    return Path(meta["checkpoint"])


def source_policy_ids(checkpoint: Path) -> list[str]:
    """Policy ids whose module state the checkpoint holds."""
    from diverse_marl.algorithms.safe_checkpoint import read_policies_meta  # imports torch

    return sorted(read_policies_meta(checkpoint)["policies"])


def check_policy_ids(checkpoint: Path, policy_ids: Iterable[str]) -> None:
    """The new run must train exactly the policies the checkpoint holds (e.g. same policy_mapping)."""
    have, want = source_policy_ids(checkpoint), sorted(policy_ids)
    if have != want:
        raise ConfigError(
            f"init_from {checkpoint}: it holds policies {have} but this run trains {want} "
            "(use the same policy_mapping and env agents as the source run)"
        )


def apply_warm_start(algo: Any, checkpoint: Path) -> None:
    """Load the checkpoint's module states into ``algo``'s learner and sync them to its env runners.

    The weights are read without unpickling (``safe_checkpoint``) and checked name by name and
    shape by shape against the new run's modules. Setting only the learner's ``rl_module``
    component copies the weights into the existing parameters, so the optimizers keep their
    fresh state.
    """
    from diverse_marl.algorithms.safe_checkpoint import learner_module_states, read_policies_meta, read_weights  # torch

    meta = read_policies_meta(checkpoint)
    target = learner_module_states(algo)
    source = {pid: read_weights(meta, pid) for pid in target}
    problems = [p for pid in sorted(target) for p in _mismatches(pid, source[pid], target[pid])]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        raise ConfigError(
            f"init_from {checkpoint}: its networks do not fit this run (different observation/action "
            f"spaces or model sizes): {'; '.join(problems[:3])}{more}"
        )
    algo.learner_group.set_state({"learner": {"rl_module": source}})
    algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group, inference_only=True)


def _mismatches(policy_id: str, source: Mapping[str, Any], target: Mapping[str, Any]) -> list[str]:
    missing, extra = sorted(set(target) - set(source)), sorted(set(source) - set(target))
    out = [f"{policy_id}: the source lacks {missing}"] if missing else []
    out += [f"{policy_id}: the source has unknown {extra}"] if extra else []
    for key in sorted(set(source) & set(target)):
        have, want = tuple(source[key].shape), tuple(np.shape(target[key]))
        if have != want:
            out.append(f"{policy_id}.{key} has shape {have} in the source, {want} here")
    return out
