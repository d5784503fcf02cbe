"""Per-seed figures as the evaluation standard asks: interquartile mean with a 95% stratified bootstrap
confidence interval (``rliable``, Agarwal et al., NeurIPS 2021), and success rates with theirs.

One scalar per training seed in, a JSON-ready dict out; the demonstrations (``sipo_multigoal``,
``sipo_overcooked``, ``rpg_demos``) report every method's figure this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from rliable import metrics

from diverse_marl.analysis.zsc_stats import interval_estimate


def _interval(values: Sequence[float], statistic: Any, seed: int) -> tuple[float, float, float]:
    """One value per seed as a (runs, 1 task) matrix through the package's rliable estimate."""
    return interval_estimate(np.asarray(values, dtype=np.float64).reshape(-1, 1), statistic, seed=seed)


def iqm(values: Sequence[float], seed: int = 0) -> dict[str, Any]:
    """``{"iqm", "ci95": [lo, hi], "mean", "n", "values"}`` of one value per seed (n >= 1)."""
    values = [float(v) for v in values]
    if not values:
        return {"iqm": None, "ci95": None, "mean": None, "n": 0, "values": []}
    point, lo, hi = _interval(values, metrics.aggregate_iqm, seed)
    return {"iqm": point, "ci95": [lo, hi], "mean": float(np.mean(values)), "n": len(values), "values": values}


def success_rate(flags: Sequence[bool], seed: int = 0) -> dict[str, Any]:
    """``{"rate", "ci95", "successes", "n"}`` of one pass/fail per seed (bootstrap over seeds)."""
    x = [float(bool(f)) for f in flags]
    if not x:
        return {"rate": None, "ci95": None, "successes": 0, "n": 0}
    point, lo, hi = _interval(x, metrics.aggregate_mean, seed)
    return {"rate": point, "ci95": [lo, hi], "successes": int(sum(x)), "n": len(x)}


def fmt(summary: dict[str, Any]) -> str:
    """``"3.0 [2.5, 3.5]"`` (IQM or rate, then the 95% CI) for tables and notes."""
    value = summary.get("iqm", summary.get("rate"))
    if value is None:
        return "n/a"
    lo, hi = summary["ci95"]
    return f"{value:.3g} [{lo:.3g}, {hi:.3g}]"
