"""diverse-marl: find many good, different strategies in multi-agent games.

    import diverse_marl
    result = diverse_marl.train("examples/overcooked/mappo_cramped_room.yaml")
    policy = diverse_marl.load_policy(result.run_dir)
    population = diverse_marl.load_population("runs/my-population")   # no Ray, no unpickling

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


def load_policy(path: Any, policy_id: str | None = None, seed: int | None = None):
    """A run dir or checkpoint -> a plain torch policy callable on numpy batches (no Ray, no unpickling).

    ``policy_id``: a policy id or an agent name (mapped through the run's policy mapping).
    A method's run dir (e.g. RPG's) gives its best run's policy.
    """
    from diverse_marl.algorithms import load_policy as _load_policy
    from diverse_marl.algorithms.methods import best_run_dir

    return _load_policy(best_run_dir(path), policy_id, seed=seed)


def load_module_state(path: Any, policy_id: str | None = None):
    """A policy's full module state ``{name: tensor}`` (actor, critic, value-norm stats) for warm starts (no Ray)."""
    from diverse_marl.algorithms.safe_checkpoint import load_module_state as _load_module_state

    return _load_module_state(path, policy_id)


def load_population(path_or_paths: Any):
    """Run dirs / population folders -> a :class:`~diverse_marl.population.Population` (no Ray)."""
    from diverse_marl.population import load_population as _load_population

    return _load_population(path_or_paths)


__all__ = ["train", "load_config", "load_policy", "load_module_state", "load_population", "__version__"]
