"""Reading what envs report in ``infos`` (no Ray): shared by training metrics and evaluation.

Envs report per-step ``"sparse_reward"`` (Overcooked's team reward without shaping, repeated
for every agent) and, on an episode's last step, dicts of totals under ``"episode_events"`` /
``"episode_stats"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

EPISODE_DICT_KEYS = ("episode_events", "episode_stats")


def team_sparse_reward(infos: Mapping[str, Any]) -> float | None:
    """The team's sparse reward of one step, read once (every agent repeats it); None if absent."""
    for info in infos.values():
        if isinstance(info, Mapping) and "sparse_reward" in info:
            return float(info["sparse_reward"])
    return None


def episode_stats(infos: Mapping[str, Any]) -> dict[str, float]:
    """Numeric episode totals in the agents' infos, as ``{"<agent>/<name>": value}``."""
    out: dict[str, float] = {}
    for agent, info in infos.items():
        if not isinstance(info, Mapping):
            continue
        for key in EPISODE_DICT_KEYS:
            totals = info.get(key)
            if not isinstance(totals, Mapping):
                continue
            for name, value in totals.items():
                if isinstance(value, (int, float, bool, np.number)) or getattr(value, "ndim", None) == 0:
                    out[f"{agent}/{name}"] = float(value)
    return out
