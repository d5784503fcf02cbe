"""Self-play MAPPO on the classic Overcooked layouts: learning curves of the sparse return.

Trains one MAPPO policy (shared by both cooks, centralized critic, vectorized env runner) per
layout with the shaped reward annealed linearly to zero, and records the mean *sparse*
episode return (20 per delivered soup, per 400-step episode) against env steps. Results go to
``bench/results/mappo_overcooked.json`` (rewritten after every iteration, so a stopped run
keeps its curve) and ``bench/results/mappo_overcooked.png``.

Targets: cramped_room >= 200 within 5M env steps; every layout >= 150 within the budget.
A layout stops at ``--env-steps`` or ``--minutes``, whichever comes first; when the time limit
stops it early, the JSON records the steps reached and the wall time 5M steps would take at
the measured rate.

Run: ``.venv/bin/python bench/mappo_overcooked.py --layouts cramped_room --env-steps 5000000 --minutes 25``
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import RESULTS_DIR, machine_info  # noqa: E402

CLASSIC_LAYOUTS = ["cramped_room", "asymmetric_advantages", "coordination_ring", "forced_coordination",
                   "counter_circuit"]
HORIZON = 400
TARGETS = {"cramped_room": 200.0}
DEFAULT_TARGET = 150.0
TARGET_BUDGET = 5_000_000
SPARSE_KEY = "episode/sparse_return"  # logged by the vectorized runner from the env's episode totals
RUNNER = "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner"

# MAPPO hyperparameters for Overcooked (close to the MAPPO/HSP Overcooked runs: lr 5e-4,
# entropy 0.01, gamma 0.99, GAE 0.95, 64-unit MLPs, whole 400-step episodes per rollout).
MAPPO_OPTIONS: dict[str, Any] = {
    "lr": 5e-4,
    "critic_lr": 5e-4,
    "entropy_coeff": 0.01,
    "gamma": 0.99,
    "lambda_": 0.95,
    "num_epochs": 5,
    "num_minibatches": 2,
    "hidden_sizes": [64, 64],
}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _val(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def train_layout(layout: str, args: argparse.Namespace, record: dict[str, Any], save: Any,
                 extra_options: dict[str, Any] | None = None) -> None:
    """Train on one layout, appending curve points to ``record`` and calling ``save()`` often.

    ``extra_options`` override MAPPO options (other benchmarks compare one option's values)."""
    from diverse_marl.algorithms.mappo.config import MAPPOConfig
    from diverse_marl.callbacks import with_reward_schedule
    from diverse_marl.reward_schedule import RewardSchedule

    anneal = int(args.shaping_anneal_steps if args.shaping_anneal_steps is not None else args.env_steps // 2)
    env_config = {"layout": layout, "horizon": HORIZON, "shaping_factor": 1.0}
    schedule = {"shaping_factor": [[0, 1.0], [anneal, 0.0]]}  # over the trainer's global env steps
    options = {**MAPPO_OPTIONS, "num_envs_per_env_runner": args.num_envs,
               "train_batch_size": args.num_envs * args.rollout, "env_runner_cls": RUNNER, **(extra_options or {})}
    config = MAPPOConfig.from_options("overcooked", env_config, options, args.seed)
    algo = with_reward_schedule(config, RewardSchedule.parse(schedule)).build_algo()
    record.update({"env_config": env_config, "reward_schedule": schedule, "options": options, "curve": [],
                   "status": "running"})
    start = time.perf_counter()
    steps = 0
    try:
        while steps < args.env_steps:
            res = algo.train()
            er = res["env_runners"]
            steps = int(_val(er.get("num_env_steps_sampled_lifetime", steps)))
            point = {"env_steps": steps, "wall_s": round(time.perf_counter() - start, 1),
                     "sparse_return": _val(er.get(SPARSE_KEY)), "shaped_return": _val(er.get("episode_return_mean"))}
            record["curve"].append(point)
            print(f"{layout:22s} steps {steps:>9,d} wall {point['wall_s']:7.1f}s "
                  f"sparse {point['sparse_return']:6.1f} shaped(2 agents) {point['shaped_return']:7.1f}", flush=True)
            save()
            if args.minutes and time.perf_counter() - start > 60 * args.minutes:
                record["status"] = "stopped early (time limit)"
                break
        else:
            record["status"] = "budget reached"
    finally:
        algo.stop()
    wall = time.perf_counter() - start
    finite = [p["sparse_return"] for p in record["curve"] if math.isfinite(p["sparse_return"])]
    target = TARGETS.get(layout, DEFAULT_TARGET)
    reached = next((p for p in record["curve"] if math.isfinite(p["sparse_return"]) and p["sparse_return"] >= target), None)
    record.update({
        "wall_s": round(wall, 1), "env_steps": steps, "env_steps_per_s": round(steps / wall, 1),
        "final_sparse_return": finite[-1] if finite else None, "best_sparse_return": max(finite) if finite else None,
        "target": target, "target_reached_at_env_steps": reached["env_steps"] if reached else None,
        "est_wall_s_for_5M_steps": round(TARGET_BUDGET / (steps / wall), 0) if steps else None,
    })
    save()


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layouts = list(results["layouts"])
    fig, axes = plt.subplots(1, len(layouts), figsize=(max(6.0, 4.2 * len(layouts)), 3.6), squeeze=False)
    for ax, layout in zip(axes[0], layouts):
        curve = results["layouts"][layout].get("curve", [])
        xs = [p["env_steps"] / 1e6 for p in curve if math.isfinite(p["sparse_return"])]
        ys = [p["sparse_return"] for p in curve if math.isfinite(p["sparse_return"])]
        ax.plot(xs, ys, marker=".", lw=1.2)
        ax.axhline(TARGETS.get(layout, DEFAULT_TARGET), color="gray", ls="--", lw=0.8, label="target")
        ax.set_title(layout)
        ax.set_xlabel("env steps (M)")
        ax.set_ylabel("mean sparse return / episode")
        ax.grid(alpha=0.3)
    fig.suptitle("MAPPO self-play, Overcooked (shaping annealed)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layouts", nargs="+", default=CLASSIC_LAYOUTS, help=f"default: {' '.join(CLASSIC_LAYOUTS)}")
    p.add_argument("--env-steps", type=int, default=TARGET_BUDGET, help="env-step budget per layout")
    p.add_argument("--minutes", type=float, default=None, help="wall-clock limit per layout (stops early)")
    p.add_argument("--num-envs", type=int, default=32, help="kitchens stepped together")
    p.add_argument("--rollout", type=int, default=HORIZON, help="steps per kitchen per iteration")
    p.add_argument("--shaping-anneal-steps", type=int, default=None, help="default: half the env-step budget")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="mappo_overcooked", help="results file stem in bench/results/")
    p.add_argument("--append", action="store_true", help="keep other layouts already in the results file")
    p.add_argument("--plot-only", action="store_true", help="redraw the plot from the results file and exit")
    args = p.parse_args(argv)
    if args.plot_only:
        path = RESULTS_DIR / f"{args.name}.json"
        plot(json.loads(path.read_text(encoding="utf-8")), path.with_suffix(".png"))
        return

    from diverse_marl.envs.overcooked.layouts import list_layouts
    from diverse_marl.errors import ConfigError

    for layout in args.layouts:
        if layout not in list_layouts():
            raise ConfigError(f"unknown layout {layout!r}; allowed: {', '.join(list_layouts())}")

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    json_path, png_path = RESULTS_DIR / f"{args.name}.json", RESULTS_DIR / f"{args.name}.png"
    results: dict[str, Any] = {"name": args.name, "machine": machine_info(), "args": vars(args), "layouts": {}}
    if args.append and json_path.exists():  # keep the curves of layouts run earlier (other invocations)
        earlier = json.loads(json_path.read_text(encoding="utf-8"))
        results["earlier_runs"] = earlier.get("earlier_runs", []) + [
            {"args": earlier.get("args"), "machine": earlier.get("machine")}]
        results["layouts"] = {k: v for k, v in earlier.get("layouts", {}).items() if k not in args.layouts}

    def save() -> None:
        _write_json(json_path, results)
        plot(results, png_path)

    for layout in args.layouts:
        results["layouts"][layout] = {}
        train_layout(layout, args, results["layouts"][layout], save)
    ray.shutdown()
    print("\nlayout                  env steps   wall s   best sparse  final sparse  target  reached@")
    for layout, r in results["layouts"].items():
        if "env_steps" not in r:
            continue
        best, final = (float("nan") if r[k] is None else r[k] for k in ("best_sparse_return", "final_sparse_return"))
        print(f"{layout:22s} {r['env_steps']:>10,d} {r['wall_s']:8.0f} {best:12.1f} {final:13.1f} "
              f"{r['target']:7.0f}  {r['target_reached_at_env_steps']}")
    print(f"results: {json_path}\nplot: {png_path}")


if __name__ == "__main__":
    main()
