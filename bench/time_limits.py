"""MAPPO on Overcooked with and without proper time limits: two learning curves, same seed.

Overcooked ends every episode at its 400-step horizon, and its observations do not show the
time left. ``use_proper_time_limits=True`` bootstraps the value target of the last step from
V(final state); ``False`` (the MAPPO paper code's default) treats the horizon as a terminal.
Both runs use the settings of ``bench/mappo_overcooked.py`` (vector env runner, shaping
annealed over ``--shaping-anneal-steps``). The reference is the run without proper time
limits, measured in the same invocation; the ratio is env steps to reach the sparse-return
threshold, without / with (above 1: proper time limits learn faster).

Writes ``bench/results/time_limits/time_limits_<layout>.{json,png}`` (rewritten after every iteration).

Run alone on a quiet machine: ``.venv/bin/python -m bench.time_limits --minutes 6``
"""

from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from bench.harness import bench_dir, machine_info
from bench.mappo_overcooked import HORIZON, _write_json, train_layout
from diverse_marl.metrics import SPARSE_RETURN

VARIANTS = {"proper_time_limits": True, "time_limit_as_terminal": False}
REFERENCE = "time_limit_as_terminal"
THRESHOLDS = (100.0, 200.0)  # sparse return (20 per soup); cramped_room's target is 200
LAST_STEPS_WINDOW = 64_000  # env steps averaged for the equal-budget comparison


def steps_to(curve: list[dict[str, Any]], threshold: float) -> int | None:
    """First env-step count whose mean sparse return reaches ``threshold`` (None: never)."""
    return next(
        (p["env_steps"] for p in curve if math.isfinite(p[SPARSE_RETURN]) and p[SPARSE_RETURN] >= threshold), None
    )


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for name, rec in results["variants"].items():
        pts = [p for p in rec.get("curve", []) if math.isfinite(p[SPARSE_RETURN])]
        ax.plot(
            [p["env_steps"] / 1e6 for p in pts],
            [p[SPARSE_RETURN] for p in pts],
            marker=".",
            lw=1.2,
            label=f"use_proper_time_limits={VARIANTS[name]}",
        )
    ax.set_xlabel("env steps (M)")
    ax.set_ylabel("mean sparse return / episode")
    ax.set_title(f"MAPPO self-play, {results['layout']} (horizon {HORIZON}, seed {results['args']['seed']})")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summarize(results: dict[str, Any]) -> None:
    """Print the table; add steps-to-threshold ratios and the equal-budget comparison to ``results``."""
    ref = results["variants"][REFERENCE]
    results["ratios"] = {}
    print(
        f"\n{'variant':24s} {'env steps':>10s} {'wall s':>7s} {'best':>6s} {'final':>6s} "
        + " ".join(f"{'@' + str(int(t)):>9s}" for t in THRESHOLDS)
        + "  load(start/end)"
    )
    for name, rec in results["variants"].items():
        at = [rec["steps_to"][str(t)] for t in THRESHOLDS]
        print(
            f"{name:24s} {rec['env_steps']:>10,d} {rec['wall_s']:7.0f} {rec['best_sparse_return'] or 0:6.1f} "
            f"{rec['final_sparse_return'] or 0:6.1f} "
            + " ".join(f"{a if a else '-':>9}" for a in at)
            + f"  {rec['load_avg_start'][0]:.2f}/{rec['load_avg_end'][0]:.2f}"
        )
    proper = results["variants"]["proper_time_limits"]
    for t in THRESHOLDS:
        mine, theirs = proper["steps_to"][str(t)], ref["steps_to"][str(t)]
        ratio = theirs / mine if mine and theirs else None
        results["ratios"][f"steps_to_{int(t)}_terminal_over_proper"] = ratio
        print(f"steps to {t:.0f}: terminal / proper = {ratio if ratio is None else round(ratio, 2)}")
    # the time limit may stop the two runs at different step counts: compare where both got to
    common = min(proper["env_steps"], ref["env_steps"])
    late = {
        name: [p[SPARSE_RETURN] for p in rec["curve"] if common - LAST_STEPS_WINDOW < p["env_steps"] <= common]
        for name, rec in results["variants"].items()
    }
    means = {name: float(np.mean(v)) if v else None for name, v in late.items()}
    results["common_env_steps"] = common
    results["sparse_return_near_common_steps"] = means
    if means[REFERENCE]:
        ratio = means["proper_time_limits"] / means[REFERENCE]
        results["ratios"]["sparse_return_near_common_steps_proper_over_terminal"] = ratio
        print(
            f"mean sparse return over the last {LAST_STEPS_WINDOW:,d} steps before {common:,d}: "
            + ", ".join(f"{k} {v:.1f}" for k, v in means.items())
            + f"; proper / terminal = {ratio:.2f}"
        )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layout", default="cramped_room")
    p.add_argument("--env-steps", type=int, default=1_000_000, help="env-step budget per variant")
    p.add_argument("--minutes", type=float, default=6.0, help="wall-clock limit per variant")
    p.add_argument("--num-envs", type=int, default=32)
    p.add_argument("--rollout", type=int, default=HORIZON)
    p.add_argument(
        "--shaping-anneal-steps", type=int, default=2_500_000, help="as in bench/mappo_overcooked.py's 5M-step runs"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--summarize-only", action="store_true", help="recompute the summary of the results file and exit")
    args = p.parse_args(argv)
    stem = f"time_limits_{args.layout}"
    out = bench_dir("time_limits")
    json_path, png_path = out / f"{stem}.json", out / f"{stem}.png"
    if args.summarize_only:
        results = json.loads(json_path.read_text(encoding="utf-8"))
        summarize(results)
        _write_json(json_path, results)
        plot(results, png_path)
        return

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    results: dict[str, Any] = {
        "name": stem,
        "layout": args.layout,
        "machine": machine_info(),
        "args": vars(args),
        "reference": REFERENCE,
        "variants": {},
    }

    def save() -> None:
        _write_json(json_path, results)
        plot(results, png_path)

    for name, proper in VARIANTS.items():
        results["variants"][name] = rec = {"load_avg_start": os.getloadavg()}
        train_layout(args.layout, args, rec, save, extra_options={"use_proper_time_limits": proper})
        rec["load_avg_end"] = os.getloadavg()
        rec["steps_to"] = {str(t): steps_to(rec["curve"], t) for t in THRESHOLDS}
        save()
    ray.shutdown()

    summarize(results)
    save()
    print(f"results: {json_path}\nplot: {png_path}")


if __name__ == "__main__":
    main()
