"""The bench's two figures: IQM bars with 95% CIs (layout x partner kind) and an agents x partners heatmap."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench.zsc.evaluation import KINDS, SEATS  # noqa: E402

COLORS = {
    "SP": "#999999",
    "FCP": "#4c72b0",
    "HSP": "#dd8452",
    "HSP@SP-steps": "#f0b27a",
    "MEP": "#55a868",
    "BCP": "#8172b2",
}


def save(fig: Any, path: Path) -> None:
    """Write the figure atomically (temp file + rename)."""
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def bar_chart(layouts: Mapping[str, Mapping[str, Any]], path: Path, metric: str = "br_normalized") -> None:
    """One panel per (layout, partner kind): each method's IQM with its 95% bootstrap CI."""
    fig, axes = plt.subplots(
        len(layouts), len(KINDS), figsize=(3.4 * len(KINDS), 2.8 * max(1, len(layouts))), squeeze=False
    )
    for row, (layout, result) in enumerate(layouts.items()):
        for col, kind in enumerate(KINDS):
            ax = axes[row][col]
            agg = result.get("aggregates", {}).get(kind, {}).get(metric, {})
            methods = list(agg)
            iqm = np.array([agg[m]["iqm"] for m in methods])
            err = np.array(
                [
                    [agg[m]["iqm"] - agg[m]["ci_low"] for m in methods],
                    [agg[m]["ci_high"] - agg[m]["iqm"] for m in methods],
                ]
            )
            ax.bar(
                methods,
                iqm,
                yerr=err if methods else None,
                capsize=4,
                color=[COLORS.get(m, "#333333") for m in methods],
            )
            ax.set_title(f"{layout}: {kind} partners", fontsize=9)
            if metric == "br_normalized":
                ax.set_ylim(0, 1.05)
            if col == 0:
                ax.set_ylabel("IQM BR-normalized" if metric == "br_normalized" else "IQM sparse return")
            if not methods:
                ax.set_xticks([])
                ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    save(fig, path)


def heatmap(layouts: Mapping[str, Mapping[str, Any]], path: Path) -> None:
    """Per layout: rows = agents (method, seed), columns = evaluation partners; BR-normalized score, mean of seats."""
    fig, axes = plt.subplots(len(layouts), 1, figsize=(12, 3.0 + 2.2 * max(1, len(layouts))), squeeze=False)
    for row, (layout, result) in enumerate(layouts.items()):
        ax = axes[row][0]
        cells = result.get("cells", [])
        agents = list(dict.fromkeys((c["method"], c["seed"]) for c in cells))
        partners = list(dict.fromkeys(c["partner"] for c in cells))
        grid = np.full((len(agents), len(partners)), np.nan)
        for i, a in enumerate(agents):
            for j, p in enumerate(partners):
                vals = [
                    c["br_normalized"]
                    for c in cells
                    if (c["method"], c["seed"]) == a and c["partner"] == p and c["br_normalized"] is not None
                ]
                if len(vals) == len(SEATS):
                    grid[i, j] = float(np.mean(vals))
        im = ax.imshow(grid, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_yticks(range(len(agents)), [f"{m} s{s}" for m, s in agents], fontsize=7)
        ax.set_xticks(range(len(partners)), partners, rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{layout}: BR-normalized return (mean of both seats; blank = no BR score)", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.025)
    fig.tight_layout()
    save(fig, path)
