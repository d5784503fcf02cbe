"""Cross-play heatmap: the N x N matrix a paper shows (annotated cells, policy names on both axes)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from diverse_marl.metrics import SPARSE_RETURN  # noqa: E402

CELL_INCHES = 0.55  # figure grows with N so that annotations stay legible
MIN_SIDE_INCHES = 4.0
MAX_ANNOTATED = 24  # beyond this many policies, cells are left unannotated
DPI = 200
METRIC_LABELS = {
    SPARSE_RETURN: "mean sparse team return",
    "return": "mean team return (original reward)",
    "seat0_return": "mean return of seat 0 (original reward)",
}


def crossplay_figure(
    result: Any, title: str | None = None, order: Sequence[int] | None = None, boundaries: Sequence[int] = ()
) -> Any:
    """The heatmap of ``result.value_mean`` as a matplotlib figure (the caller saves and closes it).

    ``order``: the policies' display order (e.g. grouped by strategy cluster); ``boundaries``:
    positions in that order where a new group starts, drawn as white lines.
    """
    order = list(range(len(result.names))) if order is None else list(order)
    values = np.asarray(result.value_mean, dtype=float)[np.ix_(order, order)]
    names = [result.names[i] for i in order]
    n = len(names)
    side = max(MIN_SIDE_INCHES, CELL_INCHES * n + 2.0)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    im = ax.imshow(values, cmap="viridis", aspect="equal")
    seat0, seat1 = ("+".join(s) for s in result.seats)
    ax.set_xticks(range(n), labels=names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), labels=names)
    ax.set_xlabel(f"seat 1 ({seat1})")
    ax.set_ylabel(f"seat 0 ({seat0})")
    if n <= MAX_ANNOTATED:
        lo, hi = np.nanmin(values), np.nanmax(values)
        mid = (lo + hi) / 2
        size = max(5, min(10, int(140 / max(n, 1))))
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    f"{values[i, j]:.1f}",
                    ha="center",
                    va="center",
                    fontsize=size,
                    color="black" if values[i, j] > mid else "white",
                )
    for b in boundaries:
        ax.axhline(b - 0.5, color="white", lw=2)
        ax.axvline(b - 0.5, color="white", lw=2)
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label(METRIC_LABELS.get(result.metric, result.metric))
    mode = "greedy" if result.deterministic else "sampled"
    ax.set_title(title or f"cross-play: {result.env}, {result.episodes} episodes per cell ({mode})")
    fig.tight_layout()
    return fig


def plot_crossplay(result: Any, path: str | os.PathLike, title: str | None = None) -> Path:
    """Draw ``result.value_mean`` (a :class:`~diverse_marl.crossplay.CrossplayResult`) to ``path``.

    Rows: the policy in seat 0; columns: the policy in seat 1; the diagonal is self-play.
    Written to a temp file, then renamed.
    """
    fig = crossplay_figure(result, title)
    out = Path(path)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    fig.savefig(tmp, dpi=DPI)
    plt.close(fig)
    os.replace(tmp, out)
    return out
