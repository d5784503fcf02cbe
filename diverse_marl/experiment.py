"""``diverse_marl.train``: run one experiment config end to end, a single run or a population.

    result = diverse_marl.train("examples/overcooked/mappo_cramped_room.yaml")
    result = diverse_marl.train(resume="runs/cramped-20260101-120000", overrides=["stop.iterations=40"])

A single run goes to :func:`diverse_marl.training.run_single`; a config with a population
(``population.size > 1``, ``members`` or ``sample``) to
:func:`diverse_marl.population_train.train_population`, which calls ``run_single`` per member;
a config with a ``method`` block (e.g. ``rpg``) to that method's ``run`` (``algorithms/methods/``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from diverse_marl.algorithms.methods import get_method
from diverse_marl.config import ExperimentConfig, load_config
from diverse_marl.errors import ConfigError
from diverse_marl.population_train import is_population_dir, train_population
from diverse_marl.run_dir import RunDir, new_run_dir
from diverse_marl.training import TrainHooks, TrainResult, run_single


def train(
    config: str | os.PathLike | Mapping[str, Any] | ExperimentConfig | None = None,
    *,
    overrides: list[str] | None = None,
    resume: str | os.PathLike | None = None,
    quiet: bool = False,
    run_dir: str | os.PathLike | None = None,
    hooks: TrainHooks | None = None,
) -> TrainResult:
    """Train an experiment (or continue ``resume``'s run or population) and return its result.

    ``config`` is a YAML path, a dict or an ExperimentConfig; with ``resume`` it may be omitted
    (the run's own ``config.yaml`` is used, with ``overrides`` applied, e.g. a larger stop).
    ``run_dir`` replaces ``runs_dir/<name>-<timestamp>`` as the run (or population parent) dir.
    For a population, the returned ``metrics`` hold one final row per member. ``hooks`` apply to
    a single run (a population's members run in Tune trials, which report to the driver's bar).
    """
    if resume is not None and run_dir is not None:
        raise ConfigError("resume continues a run (or population) in its own directory; drop run_dir / --run-dir")
    # absolute from here on: Tune runs each trial in its own working directory
    if resume is not None:
        target = Path(resume).resolve()
        if not RunDir(target).exists():
            raise ConfigError(f"--resume {resume}: not a run directory (no config.yaml)")
        cfg = load_config(config if config is not None else RunDir(target).config_path, overrides)
        if cfg.method:
            return get_method(cfg.method).run(cfg, target, resume=True, quiet=quiet)
        if is_population_dir(target) or cfg.population.enabled:
            return train_population(cfg, target, resume=True, quiet=quiet)
        return run_single(cfg, target, hooks, resume=True, quiet=quiet)
    if config is None:
        raise ConfigError("train needs a config (a YAML path, a dict or an ExperimentConfig)")
    cfg = load_config(config, overrides)
    if run_dir is not None and RunDir(run_dir).exists():
        raise ConfigError(
            f"run dir {str(run_dir)!r} already holds a run (config.yaml); continue it with "
            "--resume, or pick a new directory (nothing there is overwritten)"
        )
    target = (Path(run_dir) if run_dir is not None else new_run_dir(cfg.runs_dir, cfg.name)).resolve()
    if cfg.method:
        return get_method(cfg.method).run(cfg, target, quiet=quiet)
    if cfg.population.enabled:
        return train_population(cfg, target, quiet=quiet)
    return run_single(cfg, target, hooks, quiet=quiet)
