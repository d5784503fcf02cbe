"""Diversity terms for a single run: intrinsic rewards that keep a policy away from earlier ones.

- ``spec.py``       the run's ``diversity:`` block
- ``states.py``     which state vector is measured (``diversity_state``, critic state, observation)
- ``archive.py``    seeded, bounded samples of a finished policy's states (``archive.npz``)
- ``distances.py``  SIPO's RBF and Wasserstein intrinsic rewards (the math)
- ``lagrange.py``   the multipliers' dual ascent
- ``terms.py``      SIPO and RSPO reward terms over a batch of episode chunks
- ``connector.py``  the learner connector applying them before advantage estimation
- ``learner.py``    MAPPO's learner with the connector and the terms' checkpointed state

The methods ``sipo`` and ``rspo`` (``algorithms/methods``) run the iterations and write the
``diversity:`` block of each.
"""

from __future__ import annotations

from typing import Any

from diverse_marl.algorithms.diversity.spec import DiversitySpec, parse_diversity
from diverse_marl.errors import ConfigError


def with_diversity(rllib_config: Any, block: dict, seed: int = 0) -> Any:
    """Give a MAPPO config the intrinsic terms of ``block`` (learner class + the spec the runners read)."""
    from diverse_marl.algorithms.diversity.learner import DiversityMAPPOLearner  # imports Ray: only when training
    from diverse_marl.algorithms.mappo.config import MAPPOConfig  # imports Ray

    if not isinstance(rllib_config, MAPPOConfig):
        raise ConfigError(f"diversity terms need algorithm mappo; got {type(rllib_config).__name__}")
    spec = parse_diversity({"seed": seed, **block})
    rllib_config.diversity_spec = spec.to_dict()
    rllib_config.training(learner_class=DiversityMAPPOLearner)
    return rllib_config


__all__ = ["DiversitySpec", "parse_diversity", "with_diversity"]
