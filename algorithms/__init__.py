"""Training algorithms (``diverse_marl.algorithms``): MAPPO on RLlib, plus policy export.

Imports are lazy: ``from diverse_marl.algorithms import load_policy`` does not import Ray.
"""
from __future__ import annotations

from typing import Any

_LAZY = {
    "MAPPOConfig": "diverse_marl.algorithms.mappo.config",
    "MAPPO": "diverse_marl.algorithms.mappo.config",
    "load_policy": "diverse_marl.algorithms.mappo.export",
    "TorchPolicy": "diverse_marl.algorithms.mappo.export",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'diverse_marl.algorithms' has no attribute {name!r}")


__all__ = list(_LAZY)
