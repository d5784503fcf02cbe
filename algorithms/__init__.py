"""Training algorithms (``diverse_marl.algorithms``): MAPPO on RLlib, plus policy export.

Imports are lazy: ``from diverse_marl.algorithms import load_policy`` does not import Ray.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    """MAPPO's public names, imported on first use (``load_policy`` must work without Ray)."""
    mappo = importlib.import_module("diverse_marl.algorithms.mappo")
    if name in mappo.__all__:
        return getattr(mappo, name)
    raise AttributeError(f"module 'diverse_marl.algorithms' has no attribute {name!r}")


__all__ = ["MAPPOConfig", "MAPPO", "load_policy", "TorchPolicy"]
