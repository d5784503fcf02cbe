"""MAPPO (Yu et al. 2022) on RLlib's new API stack: config, RLModule, learner, connectors, export."""
from __future__ import annotations

from diverse_marl.algorithms.mappo.config import MAPPO, MAPPOConfig
from diverse_marl.algorithms.mappo.export import TorchPolicy, load_policy

__all__ = ["MAPPO", "MAPPOConfig", "TorchPolicy", "load_policy"]
