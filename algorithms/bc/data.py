"""Converted human trials (``tools/human_data.py``) -> featurized observations, actions and the two halves.

A dataset file ``<data_dir>/<layout>_<split>.json.gz`` holds trials of states (overcooked_ai state
dicts) and joint actions. Every (state, player) gives one sample: that player's featurized view of
the state, optionally followed by its own last ``history`` actions (one-hot), and the action the
player took in it.

The two halves (Carroll et al. 2019): overcooked-ai 1.1.0 ships the 2019 trials already split into
``clean_train_trials`` and ``clean_test_trials``, disjoint pairs of people. ``BC`` (the partner an
agent trains with, BCP / PPO_BC) is fitted on the train file and ``H_proxy`` (the evaluation
partner only) on the test file, as in the authors' code; each model's held-out data is the other
half. Using the published split keeps our proxies comparable with every paper that used them.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from diverse_marl.envs.overcooked.core import ACTION_STAY, NUM_ACTIONS, NUM_PLAYERS, BatchState
from diverse_marl.envs.overcooked.features import Featurizer
from diverse_marl.envs.overcooked.layouts import get_layout
from diverse_marl.envs.overcooked.state_dict import state_from_dict
from diverse_marl.errors import ConfigError

SPLITS = ("train", "test")
# half -> (split it is fitted on, split it is judged on)
HALVES: dict[str, tuple[str, str]] = {"bc": ("train", "test"), "proxy": ("test", "train")}
OLD_SOUP_REWARD = 5.0  # the 2019 web game scored 5 per delivered soup (our env, like overcooked_ai today: 20)


def dataset_path(data_dir: str | os.PathLike, layout: str, split: str) -> Path:
    return Path(data_dir) / f"{layout}_{split}.json.gz"


def half_splits(half: str) -> tuple[str, str]:
    """(fit split, held-out split) of a half; ConfigError naming the allowed halves."""
    if half not in HALVES:
        raise ConfigError(f"unknown training.half {half!r}; allowed: {', '.join(HALVES)}")
    return HALVES[half]


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


def action_history(actions: np.ndarray, history: int) -> np.ndarray:
    """(T, players, history * NUM_ACTIONS): each player's own last ``history`` actions, one-hot, most
    recent first; "stay" before the trial starts (what a policy that has not acted yet remembers)."""
    actions = np.asarray(actions, dtype=np.int64).reshape(len(actions), -1)
    steps, players = actions.shape
    out = np.zeros((steps, players, history, NUM_ACTIONS), dtype=np.float32)
    for lag in range(1, history + 1):
        prev = np.full((steps, players), ACTION_STAY, dtype=np.int64)
        if lag < steps:
            prev[lag:] = actions[:-lag]
        out[np.arange(steps)[:, None], np.arange(players)[None, :], lag - 1, prev] = 1.0
    return out.reshape(steps, players, history * NUM_ACTIONS)


def featurize_trials(trials: list[dict[str, Any]], layout: str, history: int = 0) -> Samples:
    """Both players' (featurized observation [+ own last ``history`` actions], action) of every step."""
    lay = get_layout(layout)
    states = [s for t in trials for s in t["states"]]
    actions = np.array([a for t in trials for a in t["actions"]], dtype=np.int64).reshape(-1, NUM_PLAYERS)
    trial_of = np.concatenate([np.full(len(t["states"]), k) for k, t in enumerate(trials)]) if trials else np.zeros(0)
    if len(states) != len(actions) or not states or any(len(t["states"]) != len(t["actions"]) for t in trials):
        raise ConfigError(f"human data for {layout!r}: {len(states)} states but {len(actions)} joint actions")
    batch = BatchState.initial(lay, len(states))
    for i, state in enumerate(states):
        state_from_dict(lay, state, batch, i)
    obs = Featurizer(lay).featurize(batch)  # (n, 2, 96)
    if history:
        past = np.concatenate([action_history(t["actions"], history) for t in trials])
        obs = np.concatenate([obs, past], axis=-1)
    return Samples(
        obs=obs.reshape(-1, obs.shape[-1]).astype(np.float32),
        actions=actions.reshape(-1),
        trial=np.repeat(trial_of.astype(np.int64), NUM_PLAYERS),
    )


def load_samples(data_dir: str | os.PathLike, layout: str, split: str, history: int = 0) -> Samples:
    return featurize_trials(read_trials(data_dir, layout, split)["trials"], layout, history)


def validation_split(samples: Samples, fraction: float, seed: int) -> tuple[Samples, Samples]:
    """(train, validation): a seeded ``fraction`` of the *trials* held out (at least one; at least one kept).

    Whole trials, not random samples: consecutive steps of one trial are near copies, so a random
    sample slice validates on steps the model has in effect seen and early stopping stops late.
    A single trial falls back to its last ``fraction`` of steps.
    """
    trials = np.unique(samples.trial)
    if len(trials) < 2:
        n = len(samples)
        n_val = min(max(1, int(round(fraction * n))), n - 1)
        return samples.take(np.arange(n - n_val)), samples.take(np.arange(n - n_val, n))
    n_val = min(max(1, int(round(fraction * len(trials)))), len(trials) - 1)
    held = np.random.default_rng(seed).choice(trials, n_val, replace=False)
    in_val = np.isin(samples.trial, held)
    return samples.take(np.flatnonzero(~in_val)), samples.take(np.flatnonzero(in_val))


def trial_fingerprint(trial: dict[str, Any]) -> str:
    """A hash of a trial's content (states and joint actions): equal for the same recorded game."""
    body = json.dumps([trial["states"], trial["actions"]], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def trial_deliveries(trial: dict[str, Any]) -> int:
    """Soups the human pair delivered in a trial (recorded rewards / the 2019 game's 5 per soup)."""
    return int(round(sum(float(r) for r in trial.get("rewards", [])) / OLD_SOUP_REWARD))
