"""Distances between population members: on descriptors, between state distributions, by cross-play.

All return a symmetric (n, n) matrix with a zero diagonal, ready for clustering
(``metric="precomputed"``) and MDS.

- :func:`descriptor_distances`: Euclidean, cosine or standardized (z-scored columns, then
  Euclidean) distances between descriptor rows (scipy ``pdist``, scikit-learn ``StandardScaler``).
- :func:`mmd_rbf`, :func:`wasserstein`: distances between two sets of visited states: the
  maximum mean discrepancy with an RBF kernel (scikit-learn ``rbf_kernel``) and the earth mover's
  distance (POT's exact ``ot.emd2``, or ``ot.sliced_wasserstein_distance`` for many states);
  :func:`state_distances` applies one to every member pair.
- :func:`crossplay_distance`: how much worse a pair does together than each does with itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from diverse_marl.analysis.rollouts import MemberRollouts
from diverse_marl.errors import ConfigError

DESCRIPTOR_METRICS = ("euclidean", "cosine", "standardized")
STATE_METRICS = ("mmd", "wasserstein", "sliced_wasserstein")
DEFAULT_STATE_SAMPLES = 500  # states per member compared (seeded subsample); exact OT is cubic in this
SLICED_PROJECTIONS = 64


def descriptor_distances(X: np.ndarray, metric: str = "standardized") -> np.ndarray:
    """(n, n) distances between the rows of ``X`` (members x descriptors); see :data:`DESCRIPTOR_METRICS`.

    ``standardized`` z-scores every column first (constant columns drop out), so event counts
    in the hundreds do not drown action frequencies below one. Cosine distance of an all-zero
    row to anything is 1 (0 to another all-zero row).
    """
    from scipy.spatial.distance import pdist, squareform  # scipy: slow to import, loaded on first use

    if metric not in DESCRIPTOR_METRICS:
        raise ConfigError(f"unknown descriptor metric {metric!r}; allowed: {', '.join(DESCRIPTOR_METRICS)}")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ConfigError(f"descriptors must be a (members, features) array, got shape {X.shape}")
    if len(X) < 2:
        return np.zeros((len(X), len(X)))
    if metric == "standardized":
        from sklearn.preprocessing import StandardScaler  # scikit-learn: slow to import, loaded on first use

        X = StandardScaler().fit_transform(X)
        metric = "euclidean"
    if metric == "cosine":
        zero = ~X.any(axis=1)
        D = squareform(pdist(np.where(zero[:, None], 1.0, X), "cosine"))
        D[zero] = D[:, zero] = 1.0
        D[np.ix_(zero, zero)] = 0.0
    else:
        D = squareform(pdist(X, metric))
    np.fill_diagonal(D, 0.0)
    return D


def _median_gamma(pooled: np.ndarray) -> float:
    """The median heuristic: 1 / (2 median squared pairwise distance) of the states."""
    from sklearn.metrics import pairwise_distances  # scikit-learn: slow to import, loaded on first use

    d2 = pairwise_distances(pooled, metric="sqeuclidean")
    med = np.median(d2[np.triu_indices(len(pooled), k=1)]) if len(pooled) > 1 else 0.0
    return 1.0 / (2.0 * med) if med > 0 else 1.0


def mmd_rbf(A: np.ndarray, B: np.ndarray, gamma: float | None = None) -> float:
    """Maximum mean discrepancy (biased estimate, its square root) with kernel exp(-gamma ||a - b||^2).

    ``gamma=None``: the median heuristic over both sets. 0 for identical sets.
    """
    from sklearn.metrics.pairwise import rbf_kernel  # scikit-learn: slow to import, loaded on first use

    A, B = np.atleast_2d(np.asarray(A, np.float64)), np.atleast_2d(np.asarray(B, np.float64))
    g = _median_gamma(np.concatenate([A, B])) if gamma is None else float(gamma)
    mmd2 = rbf_kernel(A, A, gamma=g).mean() + rbf_kernel(B, B, gamma=g).mean() - 2 * rbf_kernel(A, B, gamma=g).mean()
    return float(np.sqrt(max(mmd2, 0.0)))


def wasserstein(A: np.ndarray, B: np.ndarray, sliced: bool = False, random_state: int = 0) -> float:
    """Earth mover's distance (W1, Euclidean ground cost) between two uniform sets of states (POT)."""
    import ot  # POT: slow to import, only for Wasserstein distances

    A, B = np.atleast_2d(np.asarray(A, np.float64)), np.atleast_2d(np.asarray(B, np.float64))
    if sliced:
        return float(ot.sliced_wasserstein_distance(A, B, n_projections=SLICED_PROJECTIONS, seed=random_state))
    cost = ot.dist(A, B, metric="euclidean")
    return float(ot.emd2(ot.unif(len(A)), ot.unif(len(B)), cost))


def state_distances(
    rollouts: Mapping[str, MemberRollouts],
    metric: str = "mmd",
    max_states: int = DEFAULT_STATE_SAMPLES,
    gamma: float | None = None,
    random_state: int = 0,
) -> np.ndarray:
    """(n, n) distances between members' visited-state distributions (:data:`STATE_METRICS`).

    Each member contributes a seeded subsample of at most ``max_states`` of its visited states.
    For MMD, ``gamma=None`` uses one median-heuristic bandwidth over all members' states, so
    every pair is measured with the same kernel.
    """
    if metric not in STATE_METRICS:
        raise ConfigError(f"unknown state metric {metric!r}; allowed: {', '.join(STATE_METRICS)}")
    samples = [r.visited_states(max_states, random_state) for r in rollouts.values()]
    n = len(samples)
    if metric == "mmd" and gamma is None and n:
        pooled = np.concatenate(samples)
        pick = np.random.default_rng(random_state).choice(len(pooled), min(len(pooled), max_states), replace=False)
        gamma = _median_gamma(pooled[pick])
    D = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            if metric == "mmd":
                d = mmd_rbf(samples[i], samples[j], gamma)
            else:
                d = wasserstein(
                    samples[i], samples[j], sliced=metric == "sliced_wasserstein", random_state=random_state
                )
            D[i, j] = D[j, i] = d
    return D


def crossplay_distance(values: Any, relative: bool = False) -> np.ndarray:
    """d(i, j) = max(0, (V_ii + V_jj) / 2 - (V_ij + V_ji) / 2) from a cross-play value matrix.

    ``V[i][j]``: the return of member i (seat 0) with member j (seat 1), e.g.
    ``CrossplayResult.value_mean``; ``values`` may also be a CrossplayResult. The loss a pair
    suffers by not playing with itself; 0 on the diagonal and for members that play alike.
    ``relative=True`` divides by the pair's mean self-play value (when it is positive).
    """
    V = np.asarray(getattr(values, "value_mean", values), dtype=np.float64)
    if V.ndim != 2 or V.shape[0] != V.shape[1]:
        raise ConfigError(f"a cross-play matrix must be square, got shape {V.shape}")
    self_play = np.diag(V)
    pair_self = (self_play[:, None] + self_play[None, :]) / 2
    D = np.maximum(pair_self - (V + V.T) / 2, 0.0)
    if relative:
        D = np.where(pair_self > 0, D / np.where(pair_self > 0, pair_self, 1.0), D)
    np.fill_diagonal(D, 0.0)
    return D
