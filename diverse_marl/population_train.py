"""Populations: ``population.size`` members of one config, each a Ray Tune trial.

Members differ by seed (``seed + i``); diversity methods later change more than the seed.
Running members as Tune trials is what lets a population spread over a Ray cluster: with
``ray.address`` set, trials are scheduled on every node with no other change.

    runs/<name>-<timestamp>/
        config.yaml
        population.json           one line of final metrics per member
        member_00/ member_01/ ... ordinary run directories (metrics, checkpoints)
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from diverse_marl.config import ExperimentConfig, PopulationConfig
from diverse_marl.progress import Progress
from diverse_marl.run_dir import RunDir, atomic_write_json, atomic_write_text, new_run_dir


def member_config(cfg: ExperimentConfig, index: int) -> ExperimentConfig:
    """The config of member ``index``: same experiment, seed ``seed + index``, no nested population."""
    return dataclasses.replace(
        cfg, name=f"{cfg.name}-member{index:02d}", seed=cfg.seed + index, population=PopulationConfig(size=1)
    )


def train_population(cfg: ExperimentConfig, quiet: bool = False, cpus_per_member: float = 1.0):
    """Train every member as a Tune trial; returns a TrainResult whose ``metrics`` are the members' finals."""
    from ray import tune

    from diverse_marl.ray_setup import init_ray
    from diverse_marl.training import TrainResult

    parent = new_run_dir(cfg.runs_dir, cfg.name)
    atomic_write_text(parent / "config.yaml", cfg.to_yaml())
    init_ray(cfg.ray)

    def member(params: dict[str, Any]) -> None:
        from ray import tune as _tune

        from diverse_marl.training import train

        i = int(params["member"])
        train(member_config(cfg, i), run_dir=parent / f"member_{i:02d}", quiet=True,
              on_iteration=lambda row: _tune.report({**row, "member": i}))

    tuner = tune.Tuner(
        tune.with_resources(member, {"cpu": cpus_per_member}),
        param_space={"member": tune.grid_search(list(range(cfg.population.size)))},
        tune_config=tune.TuneConfig(max_concurrent_trials=cfg.population.max_concurrent),
        run_config=tune.RunConfig(
            name="tune", storage_path=str(parent.resolve()), verbose=0,
            progress_reporter=None,
        ),
    )
    bar = Progress(total=cfg.population.size, desc=f"population {cfg.name}", unit="member", quiet=quiet)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # no Tune status tables; our bar says enough
    grid = tuner.fit()
    for res in grid:
        if res.error:
            raise RuntimeError(f"population member failed: {res.error}") from res.error
        bar.update(1)
    bar.close()
    finals = []
    for i in range(cfg.population.size):
        rows = RunDir(parent / f"member_{i:02d}").read_metrics()
        finals.append({"member": i, "seed": cfg.seed + i, **(rows[-1] if rows else {})})
    atomic_write_json(parent / "population.json", finals)
    result = TrainResult(run_dir=Path(parent), config=cfg, metrics=finals, checkpoint=None)
    result.members = sorted(parent.glob("member_*"))  # type: ignore[attr-defined]
    return result
