"""diverse-marl: find many good, different strategies in multi-agent games.

    import diverse_marl
    result = diverse_marl.train("examples/overcooked_cramped_room.yaml")
    policy = diverse_marl.load_policy(result.run_dir)

Heavy dependencies (Ray, torch) are imported on first use, so ``import diverse_marl`` is fast.
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def train(config: Any = None, **kwargs: Any):
    """Train an experiment config (YAML path, dict or ExperimentConfig); see :mod:`diverse_marl.experiment`."""
    from diverse_marl.experiment import train as _train

    return _train(config, **kwargs)


def load_config(source: Any, overrides: list[str] | None = None):
    """YAML path / dict -> validated :class:`~diverse_marl.config.ExperimentConfig`."""
    from diverse_marl.config import load_config as _load

    return _load(source, overrides)


def load_policy(path: Any, policy_id: str | None = None):
    """A run dir or checkpoint -> a plain torch policy callable on numpy batches (no Ray)."""
    from diverse_marl.algorithms import load_policy as _load_policy

    return _load_policy(path, policy_id)


__all__ = ["train", "load_config", "load_policy", "__version__"]
