"""Strategy clusters: which members of a population play alike.

:class:`StrategyClusters` follows scikit-learn (``fit``, ``fit_predict``, ``predict``, ``labels_``,
``random_state``) over three methods, all library code:

- ``hierarchical``: scipy's ``linkage`` (kept as ``linkage_`` for the dendrogram) cut by ``fcluster``;
- ``kmeans``: scikit-learn ``KMeans`` (needs descriptor vectors, not a distance matrix);
- ``hdbscan``: scikit-learn ``HDBSCAN`` (finds its own number of clusters; noise is label -1).

With ``n_clusters="auto"`` the number of clusters is the k in 2..max_clusters with the best mean
silhouette (scikit-learn ``silhouette_score``). Given the rollout noise (``fit(D, noise_scale)``,
as the analysis pipeline does), one cluster means no two members differ beyond it; otherwise the
best-silhouette k stands even when singleton clusters (which silhouette scores 0) pull it low, and
n members are n clusters when the nearest two differ beyond the noise and by at least 3/4 of the median
pairwise distance (silhouette is undefined for k = n, so without this rule four members at four
different goals read as two or three strategies).
Without it, when no k reaches ``min_silhouette`` (0.5, from
which Kaufman & Rousseeuw call structure "reasonable") the population is one cluster. Silhouettes
of a structureless population can still reach 0.5 when it is small (tested: 12-30 Gaussian
points, 1 in 4 samples), so read a two-cluster answer on few members with its silhouette.
``X`` is a (members, descriptors) array, or with ``metric="precomputed"`` an (n, n) distance matrix.
:func:`cluster_stability` compares labelings from different rollout seeds (adjusted Rand index).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from diverse_marl.errors import ConfigError

METHODS = ("hierarchical", "kmeans", "hdbscan")
LINKAGES = ("average", "complete", "single", "ward")
MIN_SILHOUETTE = 0.5
DEFAULT_MAX_CLUSTERS = 8
KMEANS_INITS = 10
# with the rollout noise known, n members are n strategies when even the nearest two are this far apart
# relative to the median pair (silhouette cannot score k = n, so it alone would merge two of them). 0.75:
# four policies at four goals measure 0.82-0.93; the demo's three pairs of seeds on every descriptor 0.64
# (pairs, weakly: not six strategies)
ALL_APART_FRACTION = 0.75


def _relabel(labels: np.ndarray) -> np.ndarray:
    """Cluster ids 0, 1, ... in order of first appearance (noise stays -1): stable names in reports."""
    order = {}
    for lab in labels.tolist():
        if lab >= 0 and lab not in order:
            order[lab] = len(order)
    return np.array([order.get(lab, -1) for lab in labels.tolist()], dtype=np.int64)


class StrategyClusters:
    """Cluster members by behaviour; see the module docstring.

    After ``fit``: ``labels_`` (n,), ``n_clusters_``, ``silhouette_`` ({k: mean silhouette} of the
    candidates tried), ``distances_`` (the (n, n) matrix used), ``linkage_`` (hierarchical only),
    ``centroids_`` ((k, d) cluster means of the descriptors; None for precomputed distances).
    """

    def __init__(
        self,
        method: str = "hierarchical",
        n_clusters: int | str = "auto",
        max_clusters: int = DEFAULT_MAX_CLUSTERS,
        linkage: str = "average",
        metric: str = "euclidean",
        min_silhouette: float = MIN_SILHOUETTE,
        min_cluster_size: int = 2,
        random_state: int = 0,
    ) -> None:
        if method not in METHODS:
            raise ConfigError(f"unknown clustering method {method!r}; allowed: {', '.join(METHODS)}")
        if linkage not in LINKAGES:
            raise ConfigError(f"unknown linkage {linkage!r}; allowed: {', '.join(LINKAGES)}")
        if n_clusters != "auto" and (not isinstance(n_clusters, (int, np.integer)) or n_clusters < 1):
            raise ConfigError(f"n_clusters must be 'auto' or an int >= 1, got {n_clusters!r}")
        if method == "kmeans" and metric == "precomputed":
            raise ConfigError(
                "kmeans needs descriptor vectors, not a precomputed distance matrix; "
                "use method 'hierarchical' or 'hdbscan'"
            )
        if linkage == "ward" and metric == "precomputed":
            raise ConfigError("ward linkage needs descriptor vectors; use 'average' or 'complete' with distances")
        self.method, self.n_clusters, self.max_clusters = method, n_clusters, max_clusters
        self.linkage, self.metric, self.min_silhouette = linkage, metric, min_silhouette
        self.min_cluster_size, self.random_state = min_cluster_size, random_state

    # ---- fitting ---------------------------------------------------------------------------
    def fit(self, X: np.ndarray, noise_scale: float | None = None) -> StrategyClusters:
        """``noise_scale``: the distance two rollouts of one member show (e.g. between halves of its
        episodes). With it, ``n_clusters="auto"`` is one cluster when no two members are farther apart
        than that, else the best-silhouette k with no threshold (singleton clusters welcome)."""
        from scipy.spatial.distance import pdist, squareform  # scipy: slow to import, loaded on first use

        X = np.asarray(X, dtype=np.float64)
        if self.metric == "precomputed":
            if X.ndim != 2 or X.shape[0] != X.shape[1]:
                raise ConfigError(f"a precomputed distance matrix must be square, got shape {X.shape}")
            D, self._X = X, None
        else:
            if X.ndim != 2:
                raise ConfigError(f"descriptors must be a (members, features) array, got shape {X.shape}")
            D, self._X = squareform(pdist(X, self.metric)) if len(X) > 1 else np.zeros((len(X), len(X))), X
        self.distances_ = D
        n = len(D)
        if n == 0:
            raise ConfigError("cannot cluster an empty population")
        if self.method == "hierarchical":
            from scipy.cluster.hierarchy import linkage  # scipy: slow to import, loaded on first use

            self.linkage_ = (
                linkage(self._X if self.linkage == "ward" else squareform(D, checks=False), method=self.linkage)
                if n > 1
                else None
            )
        self.silhouette_: dict[int, float] = {}
        self.noise_scale_ = noise_scale
        if self.method == "hdbscan":
            labels = self._hdbscan(D)
        elif self.n_clusters != "auto":
            labels = self._labels(D, min(int(self.n_clusters), n))
        else:
            labels = self._auto(D)
        self.labels_ = _relabel(labels)
        self.n_clusters_ = int(self.labels_.max() + 1) if (self.labels_ >= 0).any() else 0
        self.centroids_ = (
            None
            if self._X is None
            else np.array([self._X[self.labels_ == c].mean(axis=0) for c in range(self.n_clusters_)])
        )
        return self

    def fit_predict(self, X: np.ndarray) -> np.ndarray:
        return self.fit(X).labels_

    def _labels(self, D: np.ndarray, k: int) -> np.ndarray:
        if k <= 1 or len(D) <= 1:
            return np.zeros(len(D), dtype=np.int64)
        if self.method == "kmeans":
            from sklearn.cluster import KMeans  # scikit-learn: slow to import, loaded on first use

            return KMeans(n_clusters=k, n_init=KMEANS_INITS, random_state=self.random_state).fit_predict(self._X)
        from scipy.cluster.hierarchy import fcluster  # scipy: slow to import, loaded on first use

        return fcluster(self.linkage_, t=k, criterion="maxclust") - 1

    def _auto(self, D: np.ndarray) -> np.ndarray:
        from sklearn.metrics import silhouette_score  # scikit-learn: slow to import, loaded on first use

        n = len(D)
        if self.noise_scale_ is not None and (n < 2 or D.max() <= self.noise_scale_):
            return self._labels(D, 1)  # members differ no more than a member from itself
        best_k, best = 1, -np.inf
        for k in range(2, min(self.max_clusters, n - 1) + 1):
            labels = self._labels(D, k)
            if len(np.unique(labels)) < 2:
                continue
            score = float(silhouette_score(D, labels, metric="precomputed"))
            self.silhouette_[k] = score
            if score > best:
                best_k, best = k, score
        structured = best >= self.min_silhouette or self.noise_scale_ is not None
        if (
            self.noise_scale_ is not None and n <= self.max_clusters and self._all_apart(D)
        ):  # silhouette has no k = n: each its own
            return np.arange(n, dtype=np.int64)
        return self._labels(D, best_k if structured else 1)

    def _all_apart(self, D: np.ndarray) -> bool:
        """Every member its own strategy: the nearest two differ beyond the rollout noise and by at least
        ``ALL_APART_FRACTION`` of the median pairwise distance (no pair stands out as one strategy).
        Two members beyond noise always are: their one distance is its own median."""
        pairs = D[np.triu_indices(len(D), k=1)]
        nearest = float(pairs.min())
        return nearest > self.noise_scale_ and nearest >= ALL_APART_FRACTION * float(np.median(pairs))

    def _hdbscan(self, D: np.ndarray) -> np.ndarray:
        from sklearn.cluster import HDBSCAN  # scikit-learn: slow to import, loaded on first use

        if len(D) < max(self.min_cluster_size, 2):
            return np.zeros(len(D), dtype=np.int64)
        return HDBSCAN(min_cluster_size=self.min_cluster_size, metric="precomputed", copy=True).fit_predict(D)

    # ---- new members -----------------------------------------------------------------------
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Clusters of new members: the nearest centroid (descriptor vectors), or, with precomputed
        distances, the cluster with the smallest mean distance (``X``: (m, n_fitted) distances)."""
        if not hasattr(self, "labels_"):
            raise ConfigError("StrategyClusters is not fitted; call fit(X) first")
        X = np.asarray(X, dtype=np.float64)
        if self.n_clusters_ == 0:
            return np.full(len(X), -1, dtype=np.int64)
        if self.centroids_ is None:
            if X.ndim != 2 or X.shape[1] != len(self.labels_):
                raise ConfigError(f"predict needs distances to the {len(self.labels_)} fitted members, got {X.shape}")
            scores = np.stack([X[:, self.labels_ == c].mean(axis=1) for c in range(self.n_clusters_)], axis=1)
        else:
            from scipy.spatial.distance import cdist  # scipy: slow to import, loaded on first use

            scores = cdist(np.atleast_2d(X), self.centroids_, self.metric)
        return scores.argmin(axis=1).astype(np.int64)


def cluster_stability(labelings: Sequence[Sequence[int]]) -> tuple[float, np.ndarray]:
    """Mean pairwise adjusted Rand index of labelings of the same members (e.g. from several rollout
    seeds) and the (m, m) ARI matrix; 1 = the same partition every time."""
    from sklearn.metrics import adjusted_rand_score  # scikit-learn: slow to import, loaded on first use

    m = len(labelings)
    if m < 2:
        raise ConfigError("stability needs at least two labelings (e.g. two rollout seeds)")
    ari = np.eye(m)
    for a, b in combinations(range(m), 2):
        ari[a, b] = ari[b, a] = adjusted_rand_score(labelings[a], labelings[b])
    return float(ari[np.triu_indices(m, k=1)].mean()), ari
