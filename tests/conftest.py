"""Shared fixtures: a local Ray for the whole session, small configs, quiet progress bars."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("CI", "true")  # no progress bars in test output
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray (2 CPUs, no dashboard). Started on first use and kept running; started again
    if a test module shut it down (init_ray is a no-op while Ray runs)."""
    import ray

    from diverse_marl.config import RayConfig
    from diverse_marl.ray_setup import init_ray

    init_ray(RayConfig(num_cpus=2))
    yield ray


@pytest.fixture
def python_exe() -> str:
    return sys.executable
