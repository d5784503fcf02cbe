"""``diverse_marl.train``: run one experiment config end to end into a run directory.

    result = diverse_marl.train("examples/overcooked_cramped_room.yaml")
    result.run_dir, result.metrics[-1]["episode_return_mean"], result.checkpoint

The loop is plain: build the RLlib algorithm, call ``algo.train()`` until a stop limit,
log a metrics row per iteration (CSV, JSONL, TensorBoard), checkpoint atomically every
``checkpoint_every`` iterations and at the end. ``resume=RUN_DIR`` continues from the
latest complete checkpoint of that run.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from diverse_marl.config import ExperimentConfig, load_config
from diverse_marl.errors import ConfigError
from diverse_marl.progress import Progress
from diverse_marl.run_dir import RunDir, atomic_write_text, flatten, new_run_dir, read_checkpoint_meta

# learner stats copied into the metrics row (per module), beside every env_runners episode metric
LEARNER_KEYS = ("policy_loss", "vf_loss", "entropy", "mean_kl_loss", "vf_explained_var", "total_loss")


@dataclass
class TrainResult:
    """What a training run leaves behind."""

    run_dir: Path
    config: ExperimentConfig
    metrics: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: Path | None = None

    @property
    def final(self) -> dict[str, Any]:
        return self.metrics[-1] if self.metrics else {}


def summarize(result: Mapping[str, Any], iteration: int, env_steps: int, elapsed: float) -> dict[str, Any]:
    """One RLlib result dict -> a flat metrics row with the numbers users look at first."""
    runners = dict(result.get("env_runners", {}) or {})
    row: dict[str, Any] = {
        "iteration": iteration,
        "env_steps": env_steps,
        "time_s": round(elapsed, 3),
        "episode_return_mean": _num(runners.get("episode_return_mean")),
        "episode_len_mean": _num(runners.get("episode_len_mean")),
        "iteration_time_s": _num(result.get("time_this_iter_s")),
    }
    flat_runners = flatten(runners)
    for key, value in flat_runners.items():
        if key.startswith(("agent_episode_returns_mean/", "module_episode_returns_mean/", "episode/")):
            row[key] = value
    for module, stats in (result.get("learners", {}) or {}).items():
        if module.startswith("__") or not isinstance(stats, Mapping):
            continue
        for key in LEARNER_KEYS:
            if key in stats:
                row[f"learner/{module}/{key}"] = _num(stats[key])
    return {k: v for k, v in row.items() if v is not None}


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f  # drop NaN


def _env_steps_of(result: Mapping[str, Any]) -> int:
    runners = result.get("env_runners", {}) or {}
    try:
        return int(runners.get("num_env_steps_sampled", 0))
    except (TypeError, ValueError):
        return 0


def train(
    config: "str | os.PathLike | Mapping[str, Any] | ExperimentConfig | None" = None,
    *,
    overrides: list[str] | None = None,
    resume: "str | os.PathLike | None" = None,
    quiet: bool = False,
    run_dir: "str | os.PathLike | None" = None,
    on_iteration: "Callable[[dict[str, Any]], None] | None" = None,
) -> TrainResult:
    """Train one experiment (or continue ``resume``'s run) and return its :class:`TrainResult`.

    ``config`` is a YAML path, a dict or an ExperimentConfig; with ``resume`` it may be omitted
    (the run's own ``config.yaml`` is used, with ``overrides`` applied, e.g. a larger stop).
    A config with ``population.size > 1`` trains one member per Ray Tune trial instead.
    ``on_iteration(row)`` is called with every metrics row (Tune trials report through it).
    """
    from diverse_marl.ray_setup import init_ray

    if resume is not None:
        rd = RunDir(resume)
        if not rd.exists():
            raise ConfigError(f"--resume {resume}: not a run directory (no config.yaml)")
        cfg = load_config(config if config is not None else rd.config_path, overrides)
    else:
        if config is None:
            raise ConfigError("train needs a config (a YAML path, a dict or an ExperimentConfig)")
        cfg = load_config(config, overrides)
        if cfg.population.size > 1:
            from diverse_marl.population_train import train_population

            return train_population(cfg, quiet=quiet)
        rd = RunDir(run_dir) if run_dir is not None else RunDir(new_run_dir(cfg.runs_dir, cfg.name))
        rd.path.mkdir(parents=True, exist_ok=True)
    atomic_write_text(rd.config_path, cfg.to_yaml())

    rllib_config = cfg.to_rllib()  # validates algorithm options before Ray starts
    init_ray(cfg.ray)
    algo = rllib_config.build_algo()
    try:
        return _train_loop(algo, cfg, rd, resume is not None, quiet, on_iteration)
    finally:
        algo.stop()


def _train_loop(
    algo: Any,
    cfg: ExperimentConfig,
    rd: RunDir,
    resuming: bool,
    quiet: bool,
    on_iteration: "Callable[[dict[str, Any]], None] | None" = None,
) -> TrainResult:
    from tensorboardX import SummaryWriter

    iteration, env_steps, elapsed_before = 0, 0, 0.0
    metrics: list[dict[str, Any]] = []
    checkpoint = None
    if resuming:
        checkpoint = rd.latest_checkpoint()
        if checkpoint is not None:
            meta = read_checkpoint_meta(checkpoint)
            algo.load_checkpoint(str(checkpoint.resolve()))  # restore + on_checkpoint_loaded (reward schedule)
            iteration = int(meta["iteration"])
            env_steps = int(meta.get("env_steps", 0))
            elapsed_before = float(meta.get("time_s", 0.0))
        metrics = [r for r in rd.read_metrics() if r.get("iteration", 0) <= iteration]

    stop = cfg.stop
    writer = SummaryWriter(str(rd.path / "tb"), purge_step=iteration + 1 if resuming else None)
    total = stop.iterations if stop.iterations is not None else None
    start = time.time()
    bar = Progress(total=total, desc=f"train {cfg.name}", unit="iter", quiet=quiet, initial=iteration)

    def save(it: int, steps: int, elapsed: float) -> Path:
        meta = {"env_steps": steps, "time_s": elapsed, "algorithm": cfg.algorithm, "env": cfg.env}
        return rd.save_checkpoint(it, algo.save_to_path, meta, keep=cfg.keep_checkpoints)

    try:
        while not _should_stop(stop, iteration, env_steps, elapsed_before + time.time() - start):
            t0 = time.time()
            result = algo.train()
            iteration += 1
            iteration_steps = _env_steps_of(result)
            env_steps += iteration_steps
            elapsed = elapsed_before + time.time() - start
            row = summarize(result, iteration, env_steps, elapsed)
            row["steps_per_s"] = round(iteration_steps / max(time.time() - t0, 1e-9), 1)
            metrics.append(row)
            rd.write_metrics(metrics)
            for key, value in row.items():
                if key != "iteration":
                    writer.add_scalar(key, value, iteration)
            writer.flush()
            if iteration % cfg.checkpoint_every == 0:
                checkpoint = save(iteration, env_steps, elapsed)
            if on_iteration is not None:
                on_iteration(row)
            bar.update(
                1,
                env_steps=env_steps,
                steps_s=row["steps_per_s"],
                ret=row.get("episode/sparse_return", row.get("episode_return_mean", float("nan"))),
            )
        if checkpoint is None or read_checkpoint_meta(checkpoint)["iteration"] != iteration:
            checkpoint = save(iteration, env_steps, elapsed_before + time.time() - start)
    except KeyboardInterrupt:
        # keep what was learned: a last checkpoint, then let the interrupt through
        if iteration > 0:
            save(iteration, env_steps, elapsed_before + time.time() - start)
        raise
    finally:
        bar.close()
        writer.close()
    return TrainResult(run_dir=rd.path, config=cfg, metrics=metrics, checkpoint=checkpoint)


def _should_stop(stop: Any, iteration: int, env_steps: int, elapsed: float) -> bool:
    if stop.iterations is not None and iteration >= stop.iterations:
        return True
    if stop.env_steps is not None and env_steps >= stop.env_steps:
        return True
    if stop.time_s is not None and elapsed >= stop.time_s:
        return True
    return False
