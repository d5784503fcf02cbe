"""Converted human trials (``tools/human_data.py``) -> featurized observations and actions.

A dataset file ``<data_dir>/<layout>_<split>.json.gz`` holds trials of states (overcooked_ai state
dicts) and joint actions. Every (state, player) gives one sample: that player's featurized view of
the state and the action the player took in it.
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from diverse_marl.envs.overcooked.core import NUM_PLAYERS, BatchState
from diverse_marl.envs.overcooked.features import Featurizer
from diverse_marl.envs.overcooked.layouts import get_layout
from diverse_marl.envs.overcooked.state_dict import state_from_dict
from diverse_marl.errors import ConfigError

SPLITS = ("train", "test")


def dataset_path(data_dir: str | os.PathLike, layout: str, split: str) -> Path:
    return Path(data_dir) / f"{layout}_{split}.json.gz"


@dataclass
class Samples:
    """``obs`` (n, feature_dim) float32, ``actions`` (n,) int64, ``trial`` (n,) trial index of each sample."""

    obs: np.ndarray
    actions: np.ndarray
    trial: np.ndarray

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    def take(self, rows: np.ndarray) -> Samples:
        return Samples(self.obs[rows], self.actions[rows], self.trial[rows])


def read_trials(data_dir: str | os.PathLike, layout: str, split: str) -> dict[str, Any]:
    """The JSON of one dataset file; ConfigError naming what is missing and how to get it."""
    path = dataset_path(data_dir, layout, split)
    if not path.is_file():
        have = sorted(p.name for p in Path(data_dir).glob("*.json.gz")) if Path(data_dir).is_dir() else []
        raise ConfigError(
            f"no human data for layout {layout!r} ({split} split) at {str(path)!r}; build it with "
            f"`make human-data` or point training.data_dir elsewhere" + (f" (found: {', '.join(have)})" if have else "")
        )
    try:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
        trials = data["trials"]
        if not isinstance(trials, list) or not all("states" in t and "actions" in t for t in trials):
            raise KeyError("trials")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{str(path)!r} is not a converted human-data file ({type(exc).__name__}: {exc}); "
            "rebuild it with `make human-data`"
        ) from None
    return data


def featurize_trials(trials: list[dict[str, Any]], layout: str) -> Samples:
    """Both players' (featurized observation, action) pairs of every step of every trial."""
    lay = get_layout(layout)
    states = [s for t in trials for s in t["states"]]
    actions = np.array([a for t in trials for a in t["actions"]], dtype=np.int64).reshape(-1, NUM_PLAYERS)
    trial_of = np.concatenate([np.full(len(t["states"]), k) for k, t in enumerate(trials)]) if trials else np.zeros(0)
    if len(states) != len(actions) or not states:
        raise ConfigError(f"human data for {layout!r}: {len(states)} states but {len(actions)} joint actions")
    batch = BatchState.initial(lay, len(states))
    for i, state in enumerate(states):
        state_from_dict(lay, state, batch, i)
    obs = Featurizer(lay).featurize(batch)  # (n, 2, 96)
    return Samples(
        obs=obs.reshape(-1, obs.shape[-1]).astype(np.float32),
        actions=actions.reshape(-1),
        trial=np.repeat(trial_of.astype(np.int64), NUM_PLAYERS),
    )


def load_samples(data_dir: str | os.PathLike, layout: str, split: str) -> Samples:
    return featurize_trials(read_trials(data_dir, layout, split)["trials"], layout)


def validation_split(samples: Samples, fraction: float, seed: int) -> tuple[Samples, Samples]:
    """(train, validation): a random ``fraction`` of the samples held out (seeded), at least one of each."""
    n = len(samples)
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(max(1, int(round(fraction * n))), n - 1)
    return samples.take(np.sort(order[n_val:])), samples.take(np.sort(order[:n_val]))
