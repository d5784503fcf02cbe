"""Plot a hide-and-seek self-play run: team returns and behaviour statistics over training.

Reads ``metrics.jsonl`` of a run made with ``examples/hide_and_seek/mappo.yaml`` (the batched env's
episode statistics are logged as ``episode/<key>`` means per iteration) and writes
``hide_and_seek_progress.png`` into the run directory (or ``--out``). Phase changes in Baker et
al.'s sense show up as shifts in these curves: box moves and locks in prep (fort building),
seeker ramp crossings (ramp use), ramps locked by hiders (ramp defense).

    .venv/bin/python examples/hide_and_seek/plot_progress.py runs/<run dir> [--out plot.png]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = {
    "team return (per agent, per episode)": ["episode/return_hiders", "episode/return_seekers"],
    "object moves": [
        "episode/box_moves_prep",
        "episode/box_moves_after",
        "episode/ramp_moves_prep",
        "episode/ramp_moves_after",
    ],
    "locks": [
        "episode/locks_hiders_prep",
        "episode/locks_hiders_after",
        "episode/locks_seekers_after",
        "episode/ramps_locked_hiders_end",
    ],
    "ramp crossings": ["episode/ramp_crossings_hiders", "episode/ramp_crossings_seekers"],
    "hiding": ["episode/hidden_fraction", "episode/hiders_enclosed_prep_end", "episode/hiders_enclosed_end"],
}


def load_rows(run_dir: Path) -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        sys.exit(f"no metrics.jsonl in {run_dir} (is it a run directory?)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def x_axis(rows: list[dict]) -> tuple[list[float], str]:
    for key, label in (("env_steps", "env steps"), ("num_env_steps_sampled_lifetime", "env steps")):
        if all(key in r for r in rows):
            return [float(r[key]) for r in rows], label
    return [float(r.get("iteration", i + 1)) for i, r in enumerate(rows)], "iteration"


def plot(rows: list[dict], out: Path) -> Path:
    xs, xlabel = x_axis(rows)
    fig, axes = plt.subplots(len(PANELS), 1, figsize=(8, 2.4 * len(PANELS)), sharex=True)
    for ax, (title, keys) in zip(axes, PANELS.items()):
        for key in keys:
            pts = [(x, r[key]) for x, r in zip(xs, rows) if isinstance(r.get(key), (int, float))]
            if pts:
                ax.plot(*zip(*pts), label=key.split("/", 1)[1])
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(xlabel)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = load_rows(args.run_dir)
    out = plot(rows, args.out or args.run_dir / "hide_and_seek_progress.png")
    print(f"{len(rows)} iterations -> {out}")


if __name__ == "__main__":
    main()
