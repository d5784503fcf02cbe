"""diverse-marl: find many good, different strategies in multi-agent games.

    import diverse_marl
    result = diverse_marl.train("examples/overcooked/mappo_cramped_room.yaml")
    policy = diverse_marl.load_policy(result.run_dir)
    population = diverse_marl.load_population("runs/my-population")   # no Ray, no unpickling

Heavy dependencies (Ray, torch) are imported on first use, so ``import diverse_marl`` is fast.
This facade only re-exports; modules inside the package import from the modules themselves
(``diverse_marl.loading``, ``diverse_marl.population``, ...), never from here.
"""

from __future__ import annotations

from typing import Any

from diverse_marl.loading import load_module_state, load_policy  # light: torch is imported on the first load

__version__ = "0.1.0"


def train(config: Any = None, **kwargs: Any):
    """Train an experiment config (YAML path, dict or ExperimentConfig); see :mod:`diverse_marl.experiment`."""
    from diverse_marl.experiment import train as _train  # imports Ray: only when training

    return _train(config, **kwargs)


def load_config(source: Any, overrides: list[str] | None = None):
    """YAML path / dict -> validated :class:`~diverse_marl.config.ExperimentConfig`."""
    from diverse_marl.config import load_config as _load  # envs and algorithm registries: on use

    return _load(source, overrides)


def load_population(path_or_paths: Any):
    """Run dirs / population folders -> a :class:`~diverse_marl.population.Population` (no Ray)."""
    from diverse_marl.population import load_population as _load_population  # envs, config, cross-play: on use

    return _load_population(path_or_paths)


__all__ = ["train", "load_config", "load_policy", "load_module_state", "load_population", "__version__"]
