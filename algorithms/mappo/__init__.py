"""MAPPO (Yu et al. 2022) on RLlib's new API stack.

- ``config.py``     MAPPOConfig (options, defaults, from_options) and the MAPPO Algorithm
- ``module.py``     MAPPOTorchRLModule: actor on the local obs, critic on the global state
- ``learner.py``    MAPPOTorchLearner: the loss, optimizers, minibatching
- ``connectors.py`` GAE + value-normalizer update (learner pipeline)
- ``env.py``        PettingZoo -> RLlib env with the critic's state in every observation
- ``networks.py``   pure-torch networks; ``export.py`` load_policy / TorchPolicy (no Ray)
- ``sampler.py``    VectorMultiAgentEnvRunner, the fast runner for batched envs (parts in ``runner_*.py``)

Usage::

    from diverse_marl.algorithms import MAPPOConfig, load_policy
    config = MAPPOConfig.from_options("hide_and_seek", {}, {"policy_mapping": "team"}, seed=0)
    algo = config.build_algo()
    algo.train(); path = algo.save_to_path("ckpt")
    hider = load_policy(path, "hider_0")          # plain torch, no Ray
    actions = hider(obs_batch, deterministic=True)

``MAPPOConfig.option_docs()`` lists every option with its MAPPO-paper default. To plug in a
custom env runner, pass ``env_runner_cls`` (it must fill episodes with the observation dicts
described in ``module.py``). Imports are lazy so that ``load_policy`` works without Ray.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "MAPPOConfig": "diverse_marl.algorithms.mappo.config",
    "MAPPO": "diverse_marl.algorithms.mappo.config",
    "load_policy": "diverse_marl.algorithms.mappo.export",
    "TorchPolicy": "diverse_marl.algorithms.mappo.export",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'diverse_marl.algorithms.mappo' has no attribute {name!r}")


__all__ = list(_LAZY)
