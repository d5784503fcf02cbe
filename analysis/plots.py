"""Figures of a population analysis, readable at paper size; each saved as PNG and SVG.

Every ``plot_*`` returns the matplotlib figure, so notebooks show it inline; pass ``out`` (a path
without suffix) to also write ``out.png`` and ``out.svg`` (temp file, then rename). Colours are
one per strategy cluster, the same in every figure (:func:`cluster_colors`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from diverse_marl.analysis.crossplay_plot import crossplay_figure

FORMATS = ("png", "svg")
DPI = 200
PAPER_RC = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
}
SINGLE_COLUMN, DOUBLE_COLUMN = 3.5, 7.0  # inches: a paper's column / page width
NOISE_COLOR = "#999999"
MAX_PROFILE_DESCRIPTORS = 12


def cluster_colors(n_clusters: int) -> list[Any]:
    """One colour per cluster (tab10, then tab20)."""
    cmap = plt.get_cmap("tab10" if n_clusters <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(max(n_clusters, 1))]


def _color(label: int, colors: list[Any]) -> Any:
    return NOISE_COLOR if label < 0 else colors[label]


def save_figure(fig: Any, out: str | os.PathLike, formats: Sequence[str] = FORMATS) -> list[Path]:
    """Write ``out.<fmt>`` for each format (atomically); returns the paths."""
    stem = Path(out)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        tmp = stem.with_name(f".{stem.name}.tmp.{fmt}")
        fig.savefig(tmp, dpi=DPI, bbox_inches="tight")
        os.replace(tmp, path)
        paths.append(path)
    return paths


def _finish(fig: Any, out: str | os.PathLike | None) -> Any:
    if out is not None:
        save_figure(fig, out)
    return fig


def embed(distances: np.ndarray, random_state: int = 0) -> np.ndarray:
    """2-D metric MDS of a distance matrix (scikit-learn), for the population map."""
    from sklearn.manifold import MDS  # scikit-learn: slow to import, loaded on first use

    D = np.asarray(distances, dtype=np.float64)
    if len(D) < 3:
        return np.column_stack([np.arange(len(D), dtype=float), np.zeros(len(D))])
    if "metric_mds" in inspect.signature(MDS).parameters:  # scikit-learn >= 1.8 renamed the options
        mds = MDS(n_components=2, metric="precomputed", init="classical_mds", random_state=random_state)
    else:
        mds = MDS(n_components=2, dissimilarity="precomputed", random_state=random_state, n_init=4)
    return mds.fit_transform(D)


def pca_embed(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2-D PCA (scikit-learn) of standardized descriptors and the explained variance ratios."""
    from sklearn.decomposition import PCA  # scikit-learn: slow to import, loaded on first use
    from sklearn.preprocessing import StandardScaler  # scikit-learn: slow to import, loaded on first use

    Z = StandardScaler().fit_transform(np.asarray(X, dtype=np.float64))
    k = min(2, *Z.shape)
    pca = PCA(n_components=k).fit(Z)
    points = pca.transform(Z)
    if k < 2:
        points = np.column_stack([points, np.zeros((len(points), 2 - k))])
    return points, pca.explained_variance_ratio_


def plot_embedding(
    points: np.ndarray,
    labels: Sequence[int],
    names: Sequence[str],
    title: str = "",
    xlabel: str = "MDS 1",
    ylabel: str = "MDS 2",
    out: str | os.PathLike | None = None,
) -> Any:
    """Members as points (e.g. :func:`embed` of distances, or PCA of descriptors) coloured by cluster."""
    labels = np.asarray(labels)
    colors = cluster_colors(int(labels.max(initial=-1)) + 1)
    with plt.rc_context(PAPER_RC):
        fig, ax = plt.subplots(figsize=(SINGLE_COLUMN * 1.4, SINGLE_COLUMN * 1.2))
        for c in sorted(set(labels.tolist())):
            pick = labels == c
            ax.scatter(
                points[pick, 0],
                points[pick, 1],
                s=40,
                color=_color(c, colors),
                edgecolor="black",
                lw=0.5,
                label="noise" if c < 0 else f"cluster {c + 1}",
            )
        if len(names) <= 30:
            for (x, y), name in zip(points, names):
                ax.annotate(name, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)
        ax.set(xlabel=xlabel, ylabel=ylabel, title=title or "population map")
        ax.legend(loc="best", frameon=False)
        fig.tight_layout()
    return _finish(fig, out)


def plot_dendrogram(
    linkage_matrix: np.ndarray,
    names: Sequence[str],
    labels: Sequence[int],
    out: str | os.PathLike | None = None,
    title: str = "",
) -> Any:
    """scipy's dendrogram of the hierarchical clustering, leaf names coloured by cluster."""
    from scipy.cluster.hierarchy import dendrogram  # scipy: slow to import, loaded on first use

    labels = np.asarray(labels)
    colors = cluster_colors(int(labels.max(initial=-1)) + 1)
    with plt.rc_context(PAPER_RC):
        fig, ax = plt.subplots(figsize=(max(SINGLE_COLUMN, 0.3 * len(names) + 1.5), SINGLE_COLUMN))
        dendrogram(
            linkage_matrix,
            labels=list(names),
            ax=ax,
            color_threshold=0,
            above_threshold_color="black",
            leaf_rotation=60,
            leaf_font_size=PAPER_RC["xtick.labelsize"],
        )
        index = {n: i for i, n in enumerate(names)}
        for tick in ax.get_xticklabels():
            tick.set_color(_color(int(labels[index[tick.get_text()]]), colors))
            tick.set_ha("right")
        ax.set(ylabel="distance", title=title or "strategy dendrogram")
        fig.tight_layout()
    return _finish(fig, out)


def cluster_order(labels: Sequence[int]) -> tuple[list[int], list[int]]:
    """Member order grouped by cluster (noise last) and the positions where a new cluster starts."""
    labels = np.asarray(labels)
    keys = [(lab if lab >= 0 else labels.max(initial=0) + 1, i) for i, lab in enumerate(labels.tolist())]
    order = [i for _, i in sorted(keys)]
    starts = [k for k in range(1, len(order)) if labels[order[k]] != labels[order[k - 1]]]
    return order, starts


def plot_crossplay_clusters(
    result: Any, labels: Sequence[int], out: str | os.PathLike | None = None, title: str | None = None
) -> Any:
    """The cross-play heatmap with members grouped by cluster (white lines between clusters)."""
    order, starts = cluster_order(labels)
    with plt.rc_context(PAPER_RC):
        fig = crossplay_figure(result, title or "cross-play, grouped by strategy cluster", order, starts)
    return _finish(fig, out)


def distinguishing(
    X: np.ndarray, labels: Sequence[int], names: Sequence[str], top: int = MAX_PROFILE_DESCRIPTORS
) -> tuple[list[int], np.ndarray]:
    """Descriptors that best tell clusters apart: columns ranked by between-cluster spread of the
    standardized cluster means; returns (column indices, (k, len(columns)) z-scored cluster means)."""
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    clusters = sorted(c for c in set(labels.tolist()) if c >= 0)
    std = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    means = np.array([Z[labels == c].mean(axis=0) for c in clusters]) if clusters else np.zeros((0, X.shape[1]))
    spread = means.max(axis=0) - means.min(axis=0) if len(clusters) else np.zeros(X.shape[1])
    cols = [int(j) for j in np.argsort(-spread, kind="stable")[:top] if spread[j] > 0]
    return cols, means[:, cols]


def plot_profiles(
    X: np.ndarray,
    labels: Sequence[int],
    names: Sequence[str],
    out: str | os.PathLike | None = None,
    top: int = MAX_PROFILE_DESCRIPTORS,
    title: str = "",
) -> Any:
    """Per-cluster descriptor profiles: z-scored cluster means of the most distinguishing descriptors."""
    cols, means = distinguishing(X, labels, names, top)
    with plt.rc_context(PAPER_RC):
        fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN, 0.45 * max(len(means), 1) + 2.2))
        if cols:
            lim = max(float(np.abs(means).max()), 1e-9)
            im = ax.imshow(means, cmap="coolwarm", vmin=-lim, vmax=lim, aspect="auto")
            ax.set_xticks(
                range(len(cols)), labels=[names[j] for j in cols], rotation=40, ha="right", rotation_mode="anchor"
            )
            ax.set_yticks(range(len(means)), labels=[f"cluster {c + 1}" for c in range(len(means))])
            for i in range(means.shape[0]):
                for j in range(means.shape[1]):
                    ax.text(j, i, f"{means[i, j]:+.1f}", ha="center", va="center", fontsize=7)
            fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02).set_label("cluster mean (z-score)")
        else:
            ax.text(
                0.5,
                0.5,
                "no descriptor differs between clusters",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="gray",
            )
        ax.set_title(title or "what sets the clusters apart")
        fig.tight_layout()
    return _finish(fig, out)


def plot_learning_curves(
    curves: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    labels: Mapping[str, int],
    ylabel: str = "return",
    out: str | os.PathLike | None = None,
    title: str = "",
) -> Any:
    """Training curves ``{member: (env steps, return)}`` coloured by the member's cluster."""
    n_clusters = max(labels.values(), default=-1) + 1
    colors = cluster_colors(n_clusters)
    with plt.rc_context(PAPER_RC):
        fig, ax = plt.subplots(figsize=(DOUBLE_COLUMN * 0.7, SINGLE_COLUMN))
        seen = set()
        for name, (xs, ys) in curves.items():
            c = labels.get(name, -1)
            ax.plot(
                xs,
                ys,
                color=_color(c, colors),
                lw=1.2,
                alpha=0.85,
                label=None if c in seen else ("noise" if c < 0 else f"cluster {c + 1}"),
            )
            seen.add(c)
        if not curves:
            ax.text(
                0.5,
                0.5,
                "no training curves (members without metrics)",
                ha="center",
                va="center",
                transform=ax.transAxes,
                color="gray",
            )
        ax.set(xlabel="env steps", ylabel=ylabel, title=title or "learning curves by cluster")
        if curves:
            ax.legend(frameon=False)
        fig.tight_layout()
    return _finish(fig, out)


def plot_silhouette(scores: Mapping[int, float], chosen: int, out: str | os.PathLike | None = None) -> Any:
    """Mean silhouette of each candidate number of clusters (how k was chosen)."""
    with plt.rc_context(PAPER_RC):
        fig, ax = plt.subplots(figsize=(SINGLE_COLUMN, SINGLE_COLUMN * 0.75))
        ks = sorted(scores)
        ax.plot(ks, [scores[k] for k in ks], marker="o", color="black")
        if chosen in scores:
            ax.scatter([chosen], [scores[chosen]], s=80, facecolor="none", edgecolor="red", lw=1.5, zorder=3)
        ax.set(xlabel="number of clusters k", ylabel="mean silhouette", title=f"choice of k (chosen: {chosen})")
        fig.tight_layout()
    return _finish(fig, out)
