"""Training jobs of the bench: train, resume or reuse one run directory; the machine's heavy-job lock.

A job is one ``diverse_marl.train`` call (a single run, a population or a method) into its own run
dir. Its state lives in the layout's ``state.json``: a job marked done there is reused as is; a job
whose run dir exists but is not marked done was interrupted and continues through ``--resume``
(from its latest complete checkpoint); otherwise it starts. Wall times add up across invocations.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import diverse_marl
from diverse_marl.run_dir import RunDir, atomic_write_json, read_checkpoint_meta

DEFAULT_LOCK = Path(tempfile.gettempdir()) / "diverse-marl-heavy-job.lock"  # machine-wide: one heavy job


class LockBusyError(RuntimeError):
    """Another heavy job holds the machine's lock."""


@contextmanager
def heavy_job_lock(path: Path = DEFAULT_LOCK, wait: bool = False) -> Iterator[None]:
    """One heavy job at a time on the machine: an exclusive ``flock`` on ``path`` for the whole run.

    The kernel drops the lock when the holder dies (a killed bench never leaves a stale lock). Busy and
    ``wait`` false: LockBusyError naming the holder's pid."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            raise LockBusyError(
                f"another heavy job holds {path} (pid {holder}); wait for it, or pass --wait-lock to queue"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            fcntl.flock(f, fcntl.LOCK_UN)


class LayoutState:
    """``<work>/<layout>/state.json``: done jobs, stage wall times (summed over invocations), outputs."""

    def __init__(self, root: Path) -> None:
        self.path = root / "state.json"
        root.mkdir(parents=True, exist_ok=True)
        self.data: dict[str, Any] = {"jobs": {}, "stage_wall_s": {}, "outputs": {}}
        if self.path.is_file():
            self.data.update(json.loads(self.path.read_text(encoding="utf-8")))

    def save(self) -> None:
        atomic_write_json(self.path, self.data)

    def job_done(self, name: str) -> bool:
        return bool(self.data["jobs"].get(name, {}).get("done"))

    def mark_job(self, name: str, stage: str, wall_s: float, done: bool, env_steps: int) -> None:
        entry = self.data["jobs"].setdefault(name, {"wall_s": 0.0})
        entry.update(stage=stage, done=done, wall_s=entry["wall_s"] + wall_s, env_steps=env_steps)
        self.save()

    def add_stage_wall(self, stage: str, wall_s: float) -> None:
        walls = self.data["stage_wall_s"]
        walls[stage] = walls.get(stage, 0.0) + wall_s
        self.save()

    def stage_env_steps(self, stage: str) -> int:
        return sum(int(j.get("env_steps", 0)) for j in self.data["jobs"].values() if j.get("stage") == stage)

    def output(self, key: str) -> Any:
        return self.data["outputs"].get(key)

    def set_output(self, key: str, value: Any) -> None:
        self.data["outputs"][key] = value
        self.save()


def env_steps_under(path: Path) -> int:
    """Env steps trained under ``path``: the last row of every run's metrics, summed (populations, methods)."""
    total = 0
    for metrics in Path(path).rglob("metrics.jsonl"):
        rows = RunDir(metrics.parent).read_metrics()
        if rows:
            total += int(rows[-1].get("env_steps", 0))
    return total


def run_job(state: LayoutState, stage: str, name: str, run_dir: Path, config: Mapping[str, Any], quiet: bool) -> Path:
    """Train ``config`` into ``run_dir``, resume it if interrupted, or reuse it if done; returns ``run_dir``."""
    if state.job_done(name) and RunDir(run_dir).exists():
        return run_dir
    t0 = time.time()
    try:
        if RunDir(run_dir).exists():
            diverse_marl.train(resume=run_dir, quiet=quiet)
        else:
            run_dir.parent.mkdir(parents=True, exist_ok=True)
            diverse_marl.train(dict(config), run_dir=run_dir, quiet=quiet)
    except BaseException:
        state.mark_job(name, stage, time.time() - t0, False, env_steps_under(run_dir))
        raise
    state.mark_job(name, stage, time.time() - t0, True, env_steps_under(run_dir))
    return run_dir


def checkpoint_at(run_dir: Path, env_steps: int) -> Path | None:
    """The run's last checkpoint at or before ``env_steps`` (None if it has none that early)."""
    found = None
    for c in RunDir(run_dir).checkpoint_dirs():
        if read_checkpoint_meta(c).get("env_steps", 0) <= env_steps:
            found = c
    return found
