"""Is a behaviour clone a human proxy you can trust? The numbers of its validity report.

Human Overcooked players mostly wait (``stay`` is 50-72% of the 2019 actions), so action accuracy
alone rewards a model that always waits. A clone counts as a proxy when, on the held-out half
of the humans, its cross-entropy is clearly below the *marginal* baseline (the fit half's action
frequencies, the best state-blind predictor) and its accuracy is at least the *majority* baseline
(always the most frequent action); accuracy on the non-stay steps says whether it predicts the
moves, not the waits. Behaviour is checked separately: deliveries of proxy+proxy beside the
human pairs' own (``human_deliveries``; the rollouts live in ``diverse_marl.analysis.human_proxy``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from diverse_marl.algorithms.bc.data import trial_deliveries
from diverse_marl.envs.overcooked.core import ACTION_STAY, NUM_ACTIONS

MARGINAL_PSEUDOCOUNT = 1.0  # add-one smoothing: an action unseen in the fit half keeps a finite cost
PROB_FLOOR = 1e-12  # log(0) guard for a model's probabilities


def cross_entropy(probs: np.ndarray, actions: np.ndarray) -> float:
    """Mean negative log-likelihood (nats) of ``actions`` under row-wise ``probs``."""
    actions = np.asarray(actions, dtype=np.int64)
    picked = np.asarray(probs, dtype=np.float64)[np.arange(len(actions)), actions]
    return float(-np.mean(np.log(np.maximum(picked, PROB_FLOOR))))


def marginal_distribution(actions: np.ndarray) -> np.ndarray:
    """Action frequencies with add-one smoothing: (count + 1) / (n + NUM_ACTIONS)."""
    counts = np.bincount(np.asarray(actions, dtype=np.int64), minlength=NUM_ACTIONS).astype(np.float64)
    return (counts + MARGINAL_PSEUDOCOUNT) / (counts.sum() + MARGINAL_PSEUDOCOUNT * NUM_ACTIONS)


def baselines(fit_actions: np.ndarray, test_actions: np.ndarray) -> dict[str, Any]:
    """The two state-blind predictors, fitted on ``fit_actions`` and scored on ``test_actions``."""
    test_actions = np.asarray(test_actions, dtype=np.int64)
    marginal = marginal_distribution(fit_actions)
    majority = int(np.argmax(np.bincount(np.asarray(fit_actions, dtype=np.int64), minlength=NUM_ACTIONS)))
    return {
        "majority_action": majority,
        "majority_accuracy": float(np.mean(test_actions == majority)),
        "majority_non_stay_accuracy": float(np.mean(test_actions[test_actions != ACTION_STAY] == majority))
        if np.any(test_actions != ACTION_STAY)
        else float("nan"),
        "marginal": marginal.tolist(),
        "marginal_cross_entropy": cross_entropy(np.tile(marginal, (len(test_actions), 1)), test_actions),
    }


def prediction_metrics(probs: np.ndarray, actions: np.ndarray) -> dict[str, float]:
    """Accuracy (most likely action), cross-entropy, accuracy on the steps the human did not stay."""
    actions = np.asarray(actions, dtype=np.int64)
    predicted = np.asarray(probs).argmax(axis=1)
    moves = actions != ACTION_STAY
    return {
        "samples": int(len(actions)),
        "accuracy": float(np.mean(predicted == actions)),
        "cross_entropy": cross_entropy(probs, actions),
        "non_stay_accuracy": float(np.mean(predicted[moves] == actions[moves])) if moves.any() else float("nan"),
        "predicted_stay_share": float(np.mean(predicted == ACTION_STAY)),
    }


def human_deliveries(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """Soups per trial of the human pairs (list, mean, min, max) and their trial lengths."""
    per_trial = [trial_deliveries(t) for t in trials]
    lengths = [len(t["states"]) for t in trials]
    return {
        "trials": len(trials),
        "per_trial": per_trial,
        "mean": float(np.mean(per_trial)),
        "min": int(min(per_trial)),
        "max": int(max(per_trial)),
        "trial_length_median": int(np.median(lengths)),
    }
