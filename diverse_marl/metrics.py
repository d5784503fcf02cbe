"""Metric keys, and the one rule for which return is the headline.

Envs report per-episode totals (batched ``infos["episode"]``, rollout episodes); training rows
(``metrics.jsonl``, RLlib results) carry them as ``episode/<key>`` means. Every module that reads
or writes one of these keys imports it from here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

# ---- per-episode totals an env reports ----
SPARSE_RETURN = "sparse_return"  # team sparse (task) return, e.g. Overcooked's deliveries
# the sparse return of the episodes that began at the layout's start (Overcooked's random_start curriculum)
LAYOUT_START_SPARSE_RETURN = "sparse_return_from_layout_start"
ORIGINAL_RETURN = "original_return"  # team sum of the env's own rewards (before reward_weights)

# ---- evaluation summaries (eval.json, rollout summaries) ----
SPARSE_RETURN_MEAN = f"{SPARSE_RETURN}_mean"
SPARSE_RETURN_STD = f"{SPARSE_RETURN}_std"

# ---- training rows ----
EPISODE_PREFIX = "episode/"  # env episode statistics, averaged over an iteration's episodes
EPISODE_RETURN_MEAN = "episode_return_mean"  # RLlib's mean episode return: the trained (maybe reweighted) return


def episode_key(name: str) -> str:
    """The training-row key of an episode total: ``episode/<name>``."""
    return EPISODE_PREFIX + name


# The headline return is the task's own return, not a reshaped one: Overcooked's sparse (delivery)
# return where the env reports it (of the episodes that began at the layout's start, when a
# random_start curriculum runs), else the env's original return of a run with reward_weights,
# else the trained return. The first key a row holds wins.
HEADLINE_RETURN_KEYS = (
    episode_key(LAYOUT_START_SPARSE_RETURN),
    episode_key(SPARSE_RETURN),
    episode_key(ORIGINAL_RETURN),
    EPISODE_RETURN_MEAN,
)


def headline_return(row: Mapping[str, Any], default: float = math.nan) -> float:
    """The return progress bars, summaries and analyses show for a training row (see HEADLINE_RETURN_KEYS)."""
    for key in HEADLINE_RETURN_KEYS:
        if key in row:
            return row[key]
    return default


def headline_return_key(rows: Iterable[Mapping[str, Any]]) -> str:
    """The headline key of a series of rows: the first of HEADLINE_RETURN_KEYS any row holds."""
    rows = list(rows)
    return next((k for k in HEADLINE_RETURN_KEYS if any(k in r for r in rows)), EPISODE_RETURN_MEAN)
