"""Hide-and-seek phases over self-play training: find them in a run's curves, plot them, one GIF each.

The rules (chasing, shelter, ramp) are ``diverse_marl.analysis.phases.detect_phases``; this script
reads a run's per-iteration episode statistics (``metrics.jsonl``), applies them and records the result.

Every series is a trailing mean over ``WINDOW`` iterations. Writes ``bench/results/hide_and_seek_phases/<name>.json``
(boundaries, per-phase means, the run's steps and wall time), ``<name>.png`` (the curves with the
phase boundaries) and ``<name>_<phase>.gif`` (an episode of the last checkpoint of each phase;
the run must keep its checkpoints: ``keep_checkpoints`` in the config).

    diverse-marl train examples/hide_and_seek/mappo_shelter.yaml --run-dir runs/shelter   # ~2 h on 2 cores
    .venv/bin/python -m bench.hide_and_seek_phases --run runs/shelter
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import bench_dir, machine_info
from diverse_marl.analysis.phases import DROP, ENCLOSED_ON, PHASES, RAMP_ON, RISE, WINDOW, detect_phases, trailing_mean
from diverse_marl.run_dir import RunDir, atomic_write_json

CURVES = {
    "hidden fraction / enclosed at prep end": ["hidden_fraction", "hiders_enclosed_prep_end"],
    "team return per agent": ["return_hiders", "return_seekers"],
    "preparation: box moves and locks": ["box_moves_prep", "locks_hiders_prep", "boxes_locked_hiders_end"],
    "ramp crossings": ["ramp_crossings_seekers"],
}


def load_rows(run: Path) -> list[dict[str, Any]]:
    rows = RunDir(run).read_metrics()
    if not rows:
        sys.exit(f"error: no metrics.jsonl in {run} (train it first: see this script's docstring)")
    return rows


def series(rows: list[dict[str, Any]], key: str) -> np.ndarray:
    return np.asarray([float(r.get(f"episode/{key}", np.nan)) for r in rows])


def phase_table(rows: list[dict[str, Any]], starts: dict[str, int]) -> list[dict[str, Any]]:
    """Per phase: where it starts and ends, and the means of the key statistics inside it."""
    order = [p for p in PHASES if p in starts]
    bounds = [starts[p] for p in order] + [len(rows)]
    out = []
    for p, lo, hi in zip(order, bounds, bounds[1:]):
        inside = rows[lo:hi]
        means = {
            k: round(float(np.nanmean(series(inside, k))), 3)
            for k in (
                "hidden_fraction",
                "hiders_enclosed_prep_end",
                "locks_hiders_prep",
                "box_moves_prep",
                "return_hiders",
                "return_seekers",
            )
        }
        out.append(
            {
                "phase": p,
                "first_iteration": int(rows[lo]["iteration"]),
                "last_iteration": int(rows[hi - 1]["iteration"]),
                "env_steps_start": int(rows[lo]["env_steps"]),
                "env_steps_end": int(rows[hi - 1]["env_steps"]),
                "means": means,
            }
        )
    return out


def plot(rows: list[dict[str, Any]], phases: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.asarray([r["env_steps"] for r in rows], dtype=np.float64) / 1e6
    curves = {
        t: ks
        for t, ks in CURVES.items()  # maps without ramps: no empty ramp panel
        if any(np.nansum(np.abs(series(rows, k))) > 0 for k in ks) or "ramp" not in t
    }
    fig, axes = plt.subplots(len(curves), 1, figsize=(8, 2.3 * len(curves)), sharex=True)
    shades = {"random": "#eeeeee", "chasing": "#fde0c5", "shelter": "#d4ecd4", "ramp": "#d6e4f5"}
    for ax, (title, keys) in zip(axes, curves.items()):
        for ph in phases:
            ax.axvspan(ph["env_steps_start"] / 1e6, ph["env_steps_end"] / 1e6, color=shades[ph["phase"]], lw=0)
            ax.axvline(ph["env_steps_start"] / 1e6, color="k", lw=0.8, ls="--")
        for k in keys:
            ax.plot(x, trailing_mean(np.nan_to_num(series(rows, k))), label=k)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
        ax.grid(alpha=0.3)
    for ph in phases:
        axes[0].text(
            ph["env_steps_start"] / 1e6,
            0.5,
            f" {ph['phase']}",
            transform=axes[0].get_xaxis_transform(),
            fontsize=9,
            fontweight="bold",
        )
    axes[-1].set_xlabel(f"env steps (millions); trailing mean over {WINDOW} iterations")
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def last_checkpoint(run: Path, first: int, last: int) -> Path | None:
    """The run's latest complete ``checkpoints/iter_*`` with an iteration in ``[first, last]``."""
    found = [p for p in RunDir(run).checkpoint_dirs() if first <= int(p.name.split("_")[1]) <= last]
    return found[-1] if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a hide-and-seek self-play run dir")
    parser.add_argument("--name", default="hide_and_seek_phases")
    parser.add_argument("--gif-seed", type=int, default=0)
    args = parser.parse_args()

    from diverse_marl.evaluation import record_episode_gif

    rows = load_rows(args.run)
    ramps = series(rows, "ramp_crossings_seekers")
    starts = detect_phases(
        series(rows, "hidden_fraction"),
        series(rows, "hiders_enclosed_prep_end"),
        None if np.all(np.isnan(ramps)) else np.nan_to_num(ramps),
    )
    phases = phase_table(rows, starts)
    out = bench_dir("hide_and_seek_phases")
    out.mkdir(parents=True, exist_ok=True)
    plot(rows, phases, out / f"{args.name}.png")
    for ph in phases:
        ckpt = last_checkpoint(args.run, ph["first_iteration"], ph["last_iteration"])
        gif = out / f"{args.name}_{ph['phase']}.gif"
        ph["gif"] = None
        if ckpt is not None and record_episode_gif(args.run, gif, seed=args.gif_seed, checkpoint=ckpt):
            ph["gif"], ph["gif_checkpoint"] = gif.name, ckpt.name
    result = {
        "name": args.name,
        "machine": machine_info(),
        "run": args.run.name,
        "iterations": len(rows),
        "env_steps": int(rows[-1]["env_steps"]),
        "wall_s": round(float(rows[-1].get("time_s", np.nan)), 1),
        "rules": {"window": WINDOW, "drop": DROP, "rise": RISE, "enclosed_on": ENCLOSED_ON, "ramp_on": RAMP_ON},
        "phases": phases,
    }
    atomic_write_json(out / f"{args.name}.json", result)
    print(
        f"{'phase':<9} {'iterations':>13} {'env steps (M)':>15} {'hidden':>7} {'enclosed':>9} {'locks prep':>10}  gif"
    )
    for ph in phases:
        m = ph["means"]
        print(
            f"{ph['phase']:<9} {ph['first_iteration']:>6}-{ph['last_iteration']:<6} "
            f"{ph['env_steps_start'] / 1e6:>7.2f}-{ph['env_steps_end'] / 1e6:<7.2f} {m['hidden_fraction']:>7.2f} "
            f"{m['hiders_enclosed_prep_end']:>9.2f} {m['locks_hiders_prep']:>10.2f}  {ph['gif']}"
        )
    missing = [p for p in PHASES[:3] if p not in starts]
    if missing:
        print(f"not (yet) seen: {', '.join(missing)}")
    print(f"results: {out / (args.name + '.json')}")


if __name__ == "__main__":
    main()
