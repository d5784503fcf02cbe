"""Zero-shot coordination statistics: best-response-normalized returns, aggregated with rliable.

The evaluation standard of ZSC-Eval (Wang et al., 2024) and of Agarwal et al. ("Deep RL at the
Edge of the Statistical Precipice", NeurIPS 2021), whose library ``rliable`` does the statistics:

1. **Normalize** each return by what a best response (BR) to that partner reaches with it:
   ``min(1, R / R_BR)`` (:func:`br_normalized`). 1 means "as good as an agent trained for this
   partner"; scores above 1 (an agent beating the BR) are clipped, so one partner cannot
   outweigh the others. A partner whose BR return is 0 or below cannot normalize anything: that
   is an error naming the partner, not a silent rule.
2. **Aggregate** a method's ``(runs, tasks)`` score matrix - runs = the agent's training seeds,
   tasks = every (evaluation partner, seat) pair - by the interquartile mean (the mean of the
   middle 50% of all runs x tasks scores) with a 95% *stratified* bootstrap confidence interval
   (runs resampled with replacement within each task; :func:`aggregate`).

    scores = br_normalized(returns, br_returns)          # returns (seeds, tasks), br_returns (tasks,)
    table = aggregate({"hsp": scores_hsp, "fcp": scores_fcp}, reps=2000, seed=0)
    table["hsp"]["iqm"], table["hsp"]["ci_low"], table["hsp"]["ci_high"]

Every method's bootstrap starts from the same ``seed``, so a method's interval does not depend on
which other methods are in the table, and the same numbers and seed give the same CIs (rliable 1.2
draws from NumPy's global RNG whatever ``random_state`` says; :func:`_seeded_interval_estimates`
seeds it and restores it).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from rliable import library as rly
from rliable import metrics

CONFIDENCE = 0.95  # coverage of the intervals (rliable's default)
BOOTSTRAP_REPS = 2000  # bootstrap replications; rliable's default of 50000 is slow and changes CIs by < 0.01


def br_normalized(
    returns: np.ndarray | Sequence, br_returns: np.ndarray | Sequence, tasks: Sequence[str] | None = None
) -> np.ndarray:
    """``min(1, R / R_BR)`` elementwise; ``br_returns`` broadcast over ``returns`` (e.g. ``(tasks,)`` against
    ``(runs, tasks)``). ``tasks`` (names of the last axis) only makes error messages name the partner.

    Raises ValueError for a non-positive or non-finite BR return (no meaningful scale) or a non-finite return.
    Negative returns stay negative (no lower clip): a partner made worse off shows as a score below 0.
    """
    r = np.asarray(returns, dtype=np.float64)
    br = np.asarray(br_returns, dtype=np.float64)
    bad = ~np.isfinite(br) | (br <= 0)
    if bad.any():
        where = np.flatnonzero(bad.reshape(-1)) if br.ndim else np.array([0])
        names = [tasks[i] if tasks is not None and i < len(tasks) else f"task {i}" for i in where.tolist()]
        raise ValueError(
            f"best-response returns must be finite and > 0 to normalize by; got {br.reshape(-1)[where].tolist()} "
            f"for {', '.join(names)}: a partner no best response scores with cannot be normalized (drop it, or "
            "report its raw returns)"
        )
    if not np.isfinite(r).all():
        raise ValueError("returns must be finite (a NaN or inf return means a missing evaluation)")
    try:
        return np.minimum(1.0, r / br)
    except ValueError as exc:
        raise ValueError(f"returns {r.shape} and best-response returns {br.shape} do not broadcast: {exc}") from None


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all entries (rliable's ``aggregate_iqm``: the 25%-trimmed mean)."""
    return float(metrics.aggregate_iqm(np.asarray(scores, dtype=np.float64)))


def _check_scores(name: str, scores: np.ndarray | Sequence) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(
            f"scores of {name!r} must be a (runs, tasks) matrix with a run and a task at least, got {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise ValueError(f"scores of {name!r} hold NaN or inf; every (run, task) cell needs a score")
    return arr


def aggregate(
    scores: Mapping[str, np.ndarray],
    reps: int = BOOTSTRAP_REPS,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> dict[str, dict[str, float]]:
    """Per method: ``iqm`` with its stratified-bootstrap CI (``ci_low``, ``ci_high``), the plain ``mean``,
    ``n_runs`` and ``n_tasks``. ``scores``: method -> (runs, tasks) matrix. Deterministic for a ``seed``."""
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    out: dict[str, dict[str, float]] = {}
    for name, raw in scores.items():
        arr = _check_scores(name, raw)
        point, low, high = interval_estimate(arr, metrics.aggregate_iqm, int(reps), confidence, seed)
        out[name] = {
            "iqm": point,
            "ci_low": float(low),
            "ci_high": float(high),
            "mean": float(arr.mean()),
            "n_runs": int(arr.shape[0]),
            "n_tasks": int(arr.shape[1]),
        }
    return out


def interval_estimate(
    scores: np.ndarray,
    statistic: Callable[[np.ndarray], float] = metrics.aggregate_iqm,
    reps: int = BOOTSTRAP_REPS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(point, ci_low, ci_high)`` of ``statistic`` (rliable's IQM by default; ``metrics.aggregate_mean``
    for a success rate) over a (runs, tasks) matrix, its stratified-bootstrap CI reproducible for ``seed``.

    rliable 1.2's ``StratifiedBootstrap.update_indices`` draws the resampled runs from NumPy's *global*
    RNG (``np.random.choice``), not from the ``random_state`` it is given, so the global RNG is seeded
    here and restored afterwards (the caller's random stream is left as it was)."""
    saved = np.random.get_state()
    np.random.seed(seed)
    try:
        with warnings.catch_warnings():  # rliable hands arch a RandomState, which arch 7 calls deprecated
            warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
            point, interval = rly.get_interval_estimates(
                {"x": np.asarray(scores, dtype=np.float64)},
                lambda x: np.array([statistic(x)]),
                reps=reps,
                confidence_interval_size=confidence,
                random_state=np.random.RandomState(seed),
            )
    finally:
        np.random.set_state(saved)
    return float(point["x"][0]), float(interval["x"][0, 0]), float(interval["x"][1, 0])


__all__ = ["br_normalized", "iqm", "aggregate", "interval_estimate", "CONFIDENCE", "BOOTSTRAP_REPS"]
