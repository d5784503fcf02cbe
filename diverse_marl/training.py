"""One training run: ``run_single(cfg, run_dir, hooks)`` trains one config into one run directory.

    result = run_single(load_config("examples/overcooked/mappo_cramped_room.yaml"), "runs/cramped")
    result.run_dir, result.metrics[-1]["episode_return_mean"], result.checkpoint

The loop is plain: build the RLlib algorithm, load a warm start (``init_from``) or resume
from the run's latest complete checkpoint, call ``algo.train()`` until a stop limit, log a
metrics row per iteration (CSV, JSONL, TensorBoard), checkpoint atomically every
``checkpoint_every`` iterations and at the end. ``diverse_marl.experiment.train`` is the
entry point that also handles populations (which call ``run_single`` once per member).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diverse_marl.algorithms.fault_tolerance import lost_runner_ids, restore_lost_runners
from diverse_marl.config import ExperimentConfig
from diverse_marl.envs.user_code import UserEnvError, find_user_env_error, pop_reported_error
from diverse_marl.metrics import EPISODE_RETURN_MEAN, headline_return
from diverse_marl.progress import Progress
from diverse_marl.ray_setup import init_ray
from diverse_marl.run_dir import RunDir, atomic_write_text, flatten, read_checkpoint_meta
from diverse_marl.warm_start import apply_warm_start, check_policy_ids, resolve_init_from

# RLlib waits 60 s (its default) before a failed env runner exits and Ray restarts it; the
# toolkit's envs fail fast and a user's env error ends the run, so a short delay is enough
RUNNER_RESTART_DELAY_S = 1.0


@dataclass
class TrainResult:
    """What a training run (or a population of them) leaves behind."""

    run_dir: Path
    config: ExperimentConfig
    metrics: list[dict[str, Any]] = field(default_factory=list)  # a population: one final row per member
    checkpoint: Path | None = None
    members: list[Path] = field(default_factory=list)  # a population's member run dirs

    @property
    def final(self) -> dict[str, Any]:
        return self.metrics[-1] if self.metrics else {}


@dataclass
class TrainHooks:
    """Where a caller plugs into one run (a population's Tune trial reports through ``on_iteration``)."""

    on_start: Callable[[Any], None] | None = None  # the built algorithm, weights loaded, before the first iteration
    on_iteration: Callable[[dict[str, Any]], None] | None = None  # every metrics row


def summarize(
    result: Mapping[str, Any], iteration: int, env_steps: int, elapsed: float, steps_per_s: float | None = None
) -> dict[str, Any]:
    """One RLlib result dict -> a flat metrics row.

    The front columns come first; then every numeric env-runner statistic (episode returns,
    ``episode/<stat>`` totals, ...) under its own flattened name and every numeric learner
    diagnostic as ``learner/<module>/<name>``. Nested dicts are joined with ``/``;
    non-numbers, NaN and RLlib's profiling timers (``timers/``, ``*_timer``) are left out.
    """
    runners = dict(result.get("env_runners", {}) or {})
    front = {  # the columns users look at first
        "iteration": iteration,
        "env_steps": env_steps,
        "time_s": round(elapsed, 3),
        EPISODE_RETURN_MEAN: runners.get(EPISODE_RETURN_MEAN),
        "episode_len_mean": runners.get("episode_len_mean"),
        "iteration_time_s": result.get("time_this_iter_s"),
        "steps_per_s": steps_per_s,
    }
    row = flatten({k: v for k, v in front.items() if v is not None})
    row.update(flatten(runners))
    for module, stats in (result.get("learners", {}) or {}).items():
        if isinstance(stats, Mapping):
            row.update(flatten(dict(stats), f"learner/{module}/"))
    row.update(flatten(dict(result.get("reward_schedule") or {}), "reward_schedule/"))  # callbacks.RESULT_KEY
    return {
        k: v
        for k, v in row.items()
        if not (isinstance(v, float) and not math.isfinite(v)) and not _is_profiling_timer(k)
    }


def _is_profiling_timer(key: str) -> bool:
    """RLlib's timers measure the framework, not the env or the learning; they stay out of the rows."""
    return any(part == "timers" or part.endswith("_timer") for part in key.split("/"))


def _env_steps_of(result: Mapping[str, Any]) -> int:
    runners = result.get("env_runners", {}) or {}
    try:
        return int(runners.get("num_env_steps_sampled", 0))
    except (TypeError, ValueError):
        return 0


def run_single(
    cfg: ExperimentConfig,
    run_dir: str | os.PathLike,
    hooks: TrainHooks | None = None,
    *,
    resume: bool = False,
    quiet: bool = False,
) -> TrainResult:
    """Train ``cfg`` into ``run_dir`` (created if needed) and return its :class:`TrainResult`.

    ``resume=True`` continues from the run dir's latest complete checkpoint (from scratch, or
    from ``init_from``, if it has none yet). ``cfg.init_from`` is only used for a run that has
    no checkpoint of its own.
    """
    own_loop = getattr(cfg.family(), "run_single", None)
    if own_loop is not None:  # a family that trains without RLlib (bc) runs its own loop
        return own_loop(cfg, run_dir, hooks, resume=resume, quiet=quiet)
    rllib_config = cfg.to_rllib()  # validates algorithm options before Ray starts
    rd = RunDir(run_dir)
    rd.path.mkdir(parents=True, exist_ok=True)
    atomic_write_text(rd.config_path, cfg.to_yaml())
    checkpoint = rd.latest_checkpoint() if resume else None
    warm = None
    if checkpoint is None and cfg.init_from is not None:
        warm = resolve_init_from(cfg.init_from, cfg.algorithm)
        check_policy_ids(warm, rllib_config.policies)
    # a lost env runner is restarted and the run goes on (see overlapped_sampling.py for async_sampling)
    rllib_config.fault_tolerance(
        restart_failed_env_runners=True, delay_between_env_runner_restarts_s=RUNNER_RESTART_DELAY_S
    )
    rllib_config.debugging(log_level="ERROR")  # RLlib resets its loggers to this level (init_ray: quiet logs)
    init_ray(cfg.ray)
    started = time.time()
    try:
        algo = rllib_config.build_algo()
    except Exception as exc:
        failure = user_env_failure(exc, rd, started)
        if failure is None:
            raise
        raise failure from None
    failure = None
    try:
        if warm is not None:
            apply_warm_start(algo, warm)
        return _train_loop(algo, cfg, rd, checkpoint, quiet, hooks or TrainHooks(), started)
    except Exception as exc:
        failure = user_env_failure(exc, rd, started)
        if failure is None:
            raise
    finally:
        algo.stop()
    raise failure from None  # after stop(): RLlib's shutdown logs would otherwise print it as "handled"


RUN_DIR_HINT = "run dir "  # how a user env error's hint begins (a population member's report drops it)


def user_env_failure(exc: BaseException | None, rd: RunDir, since: float) -> UserEnvError | None:
    """The error of a user's env behind ``exc`` (or reported by an env runner since ``since``), saying
    where the run's checkpoints are and how to continue; None if the failure is not the user's env."""
    reported = pop_reported_error(since)  # popped either way: a stale report must not fail a later run
    found = find_user_env_error(exc) or reported
    if found is None:
        return None
    latest = rd.latest_checkpoint()
    kept = (
        f"{RUN_DIR_HINT}{rd.path} keeps its checkpoints (latest: iteration {read_checkpoint_meta(latest)['iteration']})"
        if latest is not None
        else f"{RUN_DIR_HINT}{rd.path} has no checkpoint yet"
    )
    return found.with_hint(f"{kept}; after fixing the env, continue with: diverse-marl train --resume {rd.path}")


def _train_loop(
    algo: Any,
    cfg: ExperimentConfig,
    rd: RunDir,
    resume_from: Path | None,
    quiet: bool,
    hooks: TrainHooks,
    started: float = 0.0,
) -> TrainResult:
    from tensorboardX import SummaryWriter  # tensorboardX: only when a run writes its event file

    iteration, env_steps, elapsed_before = 0, 0, 0.0
    metrics: list[dict[str, Any]] = []
    checkpoint = resume_from
    if resume_from is not None:
        meta = read_checkpoint_meta(resume_from)
        algo.load_checkpoint(str(resume_from.resolve()))  # restore + on_checkpoint_loaded (reward schedule)
        iteration = int(meta["iteration"])
        env_steps = int(meta.get("env_steps", 0))
        elapsed_before = float(meta.get("time_s", 0.0))
        metrics = [r for r in rd.read_metrics() if r.get("iteration", 0) <= iteration]
    if hooks.on_start is not None:
        hooks.on_start(algo)

    stop = cfg.stop
    writer = SummaryWriter(str(rd.path / "tb"), purge_step=iteration + 1 if resume_from is not None else None)
    start = time.time()
    bar = Progress(total=stop.iterations, desc=f"train {cfg.name}", unit="iter", quiet=quiet, initial=iteration)

    def save(it: int, steps: int, elapsed: float) -> Path:
        meta = {"env_steps": steps, "time_s": elapsed, "algorithm": cfg.algorithm, "env": cfg.env}
        return rd.save_checkpoint(it, algo.save_to_path, meta, keep=cfg.keep_checkpoints)

    try:
        while not should_stop(stop, iteration, env_steps, elapsed_before + time.time() - start):
            t0 = time.time()
            result = _train_iteration(algo, rd, started)
            iteration += 1
            iteration_steps = _env_steps_of(result)
            env_steps += iteration_steps
            steps_per_s = round(iteration_steps / max(time.time() - t0, 1e-9), 1)
            row = summarize(result, iteration, env_steps, elapsed_before + time.time() - start, steps_per_s)
            metrics.append(row)
            rd.write_metrics(metrics)
            for key, value in row.items():
                if key != "iteration":
                    writer.add_scalar(key, value, iteration)
            writer.flush()
            if iteration % cfg.checkpoint_every == 0:
                checkpoint = save(iteration, env_steps, row["time_s"])
            if hooks.on_iteration is not None:
                hooks.on_iteration(row)
            bar.update(1, env_steps=env_steps, steps_s=steps_per_s, ret=headline_return(row))
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


def _train_iteration(algo: Any, rd: RunDir, started: float) -> dict[str, Any]:
    """``algo.train()``, surviving lost env runners: they are waited for before the iteration, and
    an iteration in which every runner was lost (nothing sampled, so nothing trained: RLlib's
    PPO returns early) is trained again once they are back, so no iteration is lost. A runner
    killed by an error in the user's env ends the run with that error."""
    while True:
        if lost_runner_ids(algo.env_runner_group):
            restore_lost_runners(algo)
        result = algo.train()
        failure = user_env_failure(None, rd, started)
        if failure is not None:
            raise failure
        if _env_steps_of(result) > 0 or not lost_runner_ids(algo.env_runner_group):
            return result


def should_stop(stop: Any, iteration: int, env_steps: int, elapsed: float) -> bool:
    """Whether any limit of a ``stop`` block (StopConfig) is reached."""
    if stop.iterations is not None and iteration >= stop.iterations:
        return True
    if stop.env_steps is not None and env_steps >= stop.env_steps:
        return True
    if stop.time_s is not None and elapsed >= stop.time_s:
        return True
    return False


def reached_stop(cfg: ExperimentConfig, run_dir: str | os.PathLike) -> bool:
    """Whether the run dir's latest complete checkpoint already meets ``cfg.stop``."""
    checkpoint = RunDir(run_dir).latest_checkpoint()
    if checkpoint is None:
        return False
    meta = read_checkpoint_meta(checkpoint)
    return should_stop(cfg.stop, int(meta["iteration"]), int(meta.get("env_steps", 0)), float(meta.get("time_s", 0.0)))
