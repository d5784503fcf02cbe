"""FCP, fictitious co-play (Strouse et al., NeurIPS 2021), as a pipeline of ordinary runs.

A partner pool of self-play agents at different skill levels: several self-play seeds, each
contributing checkpoints from the start, the middle and the end of its training. One agent is
then trained against the frozen pool (a partner per episode). The baseline HSP is measured
against (``algorithms/methods/hsp.py``): skill diversity without preference diversity.

    method:
      name: fcp
      seeds: 4                        # self-play runs (seeds seed, seed+1, ...)
      checkpoints: [0.0, 0.5, 1.0]    # where in each seed's training its pool checkpoints are taken
      seed_stop: {env_steps: 1000000} # the seeds' stop ({}: the config's stop)
      seeds_from: []                  # or: self-play run dirs you already have (then no seeds are trained)
      self_play: 0.0                  # share of episodes the agent plays with itself

Stages, each resumable (``diverse-marl train --resume FCP_DIR``)::

    FCP_DIR/seeds/      1. a population of self-play runs; every one keeps all its checkpoints
    FCP_DIR/pool.json      the pool: per seed, the checkpoints nearest to each fraction of its last iteration
                           (0.0: its first checkpoint, after ``checkpoint_every`` iterations)
    FCP_DIR/agent/      2. one MAPPO run on the config's own reward with the pool frozen in seat agent_1
    FCP_DIR/fcp.json       the pool and the agent; ``best_run_dir`` = agent/
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diverse_marl.algorithms.methods import BEST_KEY
from diverse_marl.algorithms.methods.hsp import (
    _base,
    _stop_dict,
    adaptive_config,
    check_base,
    open_method_dir,
    stage_stop,
)
from diverse_marl.config import ExperimentConfig, StopConfig, _build, load_config
from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.population_train import train_stage
from diverse_marl.run_dir import RunDir, atomic_write_json, atomic_write_text, read_checkpoint_meta
from diverse_marl.training import TrainResult, run_single

__all__ = ["FCPSpec", "parse_spec", "seeds_config", "pool_checkpoints", "validate", "run"]

RESULT_FILE, POOL_FILE, REPORT_FILE = "fcp.json", "pool.json", "report.md"
SEEDS_DIR, AGENT_DIR = "seeds", "agent"
KEEP_ALL_CHECKPOINTS = 1_000_000  # the seeds keep every checkpoint: the pool picks among them


@dataclass
class FCPSpec:
    """The ``method:`` block of an FCP config (module docstring)."""

    name: str = "fcp"
    seeds: int = 4
    checkpoints: list = field(default_factory=lambda: [0.0, 0.5, 1.0])
    seed_stop: dict = field(default_factory=dict)
    seeds_from: list = field(default_factory=list)
    self_play: float = 0.0


def parse_spec(cfg: ExperimentConfig) -> FCPSpec:
    spec = _build(FCPSpec, cfg.method, "method")
    if spec.seeds < 1:
        raise ConfigError(f"method.seeds must be >= 1, got {spec.seeds}")
    if not spec.checkpoints or not all(isinstance(f, (int, float)) and 0.0 <= f <= 1.0 for f in spec.checkpoints):
        raise ConfigError(
            f"method.checkpoints: expected fractions in [0, 1] of a seed's training, got {spec.checkpoints}"
        )
    if not 0.0 <= spec.self_play < 1.0:
        raise ConfigError(f"method.self_play must be in [0, 1), got {spec.self_play}")
    stage_stop(cfg, spec.seed_stop, "method.seed_stop")
    for d in spec.seeds_from:
        if not RunDir(d).exists() or RunDir(d).latest_checkpoint() is None:
            raise ConfigError(f"method.seeds_from: {d!r} is not a run directory with checkpoints")
    return spec


def seeds_config(cfg: ExperimentConfig, spec: FCPSpec, stop: StopConfig) -> ExperimentConfig:
    """Stage 1: ``spec.seeds`` self-play runs that keep every checkpoint."""
    data = _base(cfg)
    data["stop"] = _stop_dict(stop)
    data["keep_checkpoints"] = KEEP_ALL_CHECKPOINTS
    data["population"] = {"members": [{} for _ in range(spec.seeds)], "max_concurrent": cfg.population.max_concurrent}
    return load_config(data)


def pool_checkpoints(run_dir: Path, fractions: Sequence[float]) -> list[Path]:
    """Per fraction, the run's checkpoint whose iteration is nearest ``fraction * last iteration`` (distinct,
    in order; ties to the earlier one). Fraction 0 is the first checkpoint the run kept."""
    dirs = RunDir(run_dir).checkpoint_dirs()
    if not dirs:
        raise CheckpointError(f"{run_dir} holds no checkpoint for the FCP pool")
    its = [int(read_checkpoint_meta(d)["iteration"]) for d in dirs]
    picked: list[Path] = []
    for f in fractions:
        target = f * its[-1]
        k = min(range(len(its)), key=lambda i: (abs(its[i] - target), i))
        if dirs[k] not in picked:
            picked.append(dirs[k])
    return picked


def validate(cfg: ExperimentConfig) -> None:
    spec = parse_spec(cfg)
    check_base(cfg, "fcp")
    seeds_config(cfg, spec, stage_stop(cfg, spec.seed_stop, "method.seed_stop"))


def run(cfg: ExperimentConfig, run_dir: str | os.PathLike, *, resume: bool = False, quiet: bool = False) -> TrainResult:
    """Self-play seeds, the pool, the agent against it, results; with ``resume`` what is done is kept."""
    spec = parse_spec(cfg)
    root = open_method_dir(cfg, run_dir)
    atomic_write_json(root / RESULT_FILE, {"method": "fcp", "stage": "seeds", BEST_KEY: None})
    if spec.seeds_from:
        seed_dirs, seed_rows = [Path(d).resolve() for d in spec.seeds_from], []
    else:
        scfg = seeds_config(cfg, spec, stage_stop(cfg, spec.seed_stop, "method.seed_stop"))
        seeds = train_stage(scfg, root, SEEDS_DIR, "fcp", resume, quiet)
        seed_dirs, seed_rows = seeds.members, seeds.metrics
    pool = [c for d in seed_dirs for c in pool_checkpoints(d, spec.checkpoints)]
    entries = [{"checkpoint": _rel(c, root), "iteration": int(read_checkpoint_meta(c)["iteration"])} for c in pool]
    atomic_write_json(root / POOL_FILE, entries)
    atomic_write_json(root / RESULT_FILE, {"method": "fcp", "stage": "agent", BEST_KEY: None})
    agent = run_single(adaptive_config(cfg, pool, spec.self_play), root / AGENT_DIR, resume=resume, quiet=quiet)
    result: dict[str, Any] = {
        "method": "fcp",
        "stage": "done",
        "env": cfg.env,
        "env_config": cfg.env_config,
        "seed": cfg.seed,
        "seeds": [_rel(d, root) for d in seed_dirs],
        "pool": entries,
        "agent_final": agent.final,
        BEST_KEY: AGENT_DIR,
    }
    atomic_write_text(root / REPORT_FILE, report_markdown(cfg.name, result))
    atomic_write_json(root / RESULT_FILE, result)
    return TrainResult(
        run_dir=root, config=cfg, metrics=seed_rows, members=list(seed_dirs), checkpoint=agent.checkpoint
    )


def _rel(path: Path, root: Path) -> str:
    """``path`` relative to the FCP dir when inside it (seeds it trained), else absolute (``seeds_from``)."""
    path = Path(path).resolve()
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def report_markdown(name: str, result: dict[str, Any]) -> str:
    final = result.get("agent_final") or {}
    lines = [
        f"# FCP report: {name}",
        "",
        f"env `{result['env']}` {result['env_config']}, seed {result['seed']}; "
        f"{len(result['seeds'])} self-play seeds, a pool of {len(result['pool'])} checkpoints; the agent "
        f"(`{AGENT_DIR}/`) ends with training sparse return {final.get('episode/sparse_return', float('nan')):.1f}.",
        "",
        "| pool checkpoint | iteration |",
        "|---|---|",
    ]
    lines += [f"| {e['checkpoint']} | {e['iteration']} |" for e in result["pool"]]
    return "\n".join(lines + [""])
