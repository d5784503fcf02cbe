"""`diverse-marl train` as a real subprocess, for the SIGKILL-and-resume tests: start a run, kill it
once it reached a given point, resume it from its run directory."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest


def train_cli(args: list[str], env: dict | None = None, **kwargs) -> subprocess.Popen:
    """Start `diverse-marl train ARGS --quiet` in its own process group (so a kill reaches its Ray workers)."""
    return subprocess.Popen(
        [sys.executable, "-m", "diverse_marl", "train", *args, "--quiet"],
        env={**os.environ, "CI": "true", **(env or {})},
        start_new_session=True,
        **kwargs,
    )


def train_until_then_kill(args: list[str], reached: Callable[[], object], timeout: float, waiting_for: str) -> None:
    """Run `diverse-marl train ARGS` until ``reached()`` holds, then SIGKILL its whole process group.

    Fails the test with the run's stderr if it exits first, or with "no WAITING_FOR within TIMEOUT s".
    Returns after a 2 s pause that lets Ray's orphaned workers notice their raylet is gone."""
    with tempfile.TemporaryFile() as stderr:  # a file, not a pipe: a chatty run cannot block on a full pipe
        proc = train_cli(args, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            deadline = time.time() + timeout
            while time.time() < deadline and not reached():
                if proc.poll() is not None:
                    stderr.seek(0)
                    pytest.fail(f"training exited early: {stderr.read().decode()[-3000:]}")
                time.sleep(0.05)
            assert reached(), f"no {waiting_for} within {timeout:g} s"
        finally:
            with contextlib.suppress(ProcessLookupError):  # the group is gone if the run exited early
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    time.sleep(2)


def resume_cli(run_dir: Path, setting: str) -> subprocess.CompletedProcess:
    """`diverse-marl train --resume RUN_DIR --set SETTING`, asserted to exit 0 (stderr's tail shown if not)."""
    out = subprocess.run(
        [sys.executable, "-m", "diverse_marl", "train", "--resume", str(run_dir), "--set", setting, "--quiet"],
        capture_output=True,
        text=True,
        env={**os.environ, "CI": "true"},
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out
