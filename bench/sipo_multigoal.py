"""SIPO / RSPO demonstration on the terminal multi-goal grid: how many of the four equally good corners each finds.

The testbed: ``multi_goal`` with ``size: 7, horizon: 40, end_at_goal: true`` (the episode *ends*, paid 1,
when both agents stand on the same corner). Per seed: SIPO (``examples/multi_goal/sipo.yaml``, K=4,
SIPO's default settings), RSPO (``examples/multi_goal/rspo.yaml``, K=4) and 4 independent MAPPO
seeds, every run with the same budget per policy. A policy's goal is the corner its sampled
self-play (as trained) reaches in at least half of the episodes (-1: none); the figure is the
number of distinct corners among a method's 4 policies. Targets (issue 25): SIPO finds >= 3 corners
in >= 4 of 5 seeds; RSPO's mean >= 3.0, at least the restarts'.

Reported per method over the seeds: distinct corners as IQM with a 95% stratified bootstrap CI
(``rliable``, ``bench/seed_stats.py``) and mean; the success rates (>= 3 corners, all 4) with CIs;
every policy's task success (episodes that reach a goal); and, with ``--analyze`` (default), the
strategy count and mean descriptor distance of ``diverse-marl analyze`` on each method's 4
policies with its stability (mean adjusted Rand index of the clustering over further rollout seeds).

Shared work, stated plainly: iteration 0 of SIPO and of RSPO is plain MAPPO with the seed's own
seed, i.e. exactly the MAPPO baseline's first run (same config, same seed, same numbers), so that
run is trained once and copied into both. Overhead: the learner's time in the diversity terms
(``learner/diversity/time_s``) over the iterations' wall time, SIPO iterations 1..3.

    .venv/bin/python -m bench.sipo_multigoal --seeds 0 1 2 3 4 --out runs/bench/sipo_multigoal
    .venv/bin/python -m bench.sipo_multigoal --seeds 0 1 2 3 4 --out runs/bench/sipo_multigoal --summarize-only

Finished runs in ``--out`` are kept, so an interrupted demo continues where it stopped. Writes
``bench/results/sipo_multigoal/sipo_multigoal.json``, ``sipo_multigoal.png`` and one GIF per SIPO
policy of the first seed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.harness import REPO_ROOT, Bench, bench_dir
from bench.seed_stats import fmt, iqm, success_rate
from diverse_marl.algorithms.methods import get_method
from diverse_marl.config import RayConfig, load_config
from diverse_marl.evaluation import evaluate_run, record_episode_gif
from diverse_marl.ray_setup import init_ray
from diverse_marl.run_dir import RunDir
from diverse_marl.training import reached_stop, run_single

GOALS = 4
EVAL_EPISODES = 20
REACHED = 0.5  # a policy "goes to" corner k if its sampled episodes reach k at least this often
METHODS = ("sipo", "rspo")
LABELS = {"mappo": "MAPPO x4", "rspo": "RSPO K=4", "sipo": "SIPO K=4"}
ANALYZE_EPISODES = 10
STABILITY_SEEDS = (1, 2)


def _method_config(name: str, seed: int) -> dict[str, Any]:
    data = yaml.safe_load((REPO_ROOT / "examples" / "multi_goal" / f"{name}.yaml").read_text())
    data["seed"] = seed
    data["evaluation"] = {"episodes": EVAL_EPISODES, "deterministic": False}
    return data


def _mappo_config(seed: int) -> dict[str, Any]:
    data = _method_config("sipo", seed)
    data["method"] = {}
    return data


def goal_of(run_dir: Path) -> tuple[int, float]:
    """The corner the run's policy reaches (sampled actions, as trained; -1: none in most episodes), and the
    share of its episodes that reach any goal (task success).

    Greedy play is no good judge here: both agents start with the same observation, and a policy
    trained stochastically can loop when both take its argmax (seen in both directions)."""
    stats = evaluate_run(run_dir, EVAL_EPISODES, False, 0, quiet=True)["stats_mean"]
    rates = [stats.get(f"agent_0/goal_{k}", 0.0) for k in range(GOALS)]
    return (int(np.argmax(rates)) if max(rates) >= REACHED else -1), float(sum(rates))


def mappo_dirs(seed: int, out: Path) -> list[Path]:
    return [out / f"seed{seed}" / "mappo" / f"seed_{seed + i}" for i in range(GOALS)]


def train_seed(seed: int, out: Path) -> None:
    """Train (or continue) one seed's MAPPO runs, SIPO and RSPO."""
    for i, d in enumerate(mappo_dirs(seed, out)):
        cfg = load_config(_mappo_config(seed + i))
        if not reached_stop(cfg, d):
            run_single(cfg, d, resume=RunDir(d).latest_checkpoint() is not None, quiet=True)
    for name in METHODS:
        root = out / f"seed{seed}" / name
        if not (root / "iteration_00").exists():  # identical to the first MAPPO run (same config and seed)
            shutil.copytree(mappo_dirs(seed, out)[0], root / "iteration_00")
        cfg = load_config(_method_config(name, seed))
        get_method(cfg.method).run(cfg, root, resume=True, quiet=True)


def training_seconds(dirs: list[Path]) -> float:
    """Training wall time of runs, read from their metrics (so a summary of finished runs has it too)."""
    return float(sum(max((r.get("time_s", 0.0) for r in RunDir(d).read_metrics()), default=0.0) for d in dirs))


def finished(seed: int, out: Path) -> bool:
    return all(
        (out / f"seed{seed}" / name / f"{name}.json").is_file()
        and json.loads((out / f"seed{seed}" / name / f"{name}.json").read_text())["best_run_dir"] is not None
        for name in METHODS
    )


def method_dirs(name: str, seed: int, out: Path) -> list[Path]:
    if name == "mappo":
        return mappo_dirs(seed, out)
    return [out / f"seed{seed}" / name / f"iteration_{k:02d}" for k in range(GOALS)]


def analyze(dirs: list[Path]) -> dict[str, Any]:
    """``diverse-marl analyze`` on a method's policies: strategy count, mean distance, stability (ARI)."""
    from diverse_marl import load_population
    from diverse_marl.analysis.pipeline import analyze_population

    result = analyze_population(
        load_population(dirs),
        episodes=ANALYZE_EPISODES,
        crossplay_episodes=0,
        stability_seeds=STABILITY_SEEDS,
        gifs=False,
        deterministic=False,
    )
    d = np.asarray(result.distances)
    pairs = d[np.triu_indices(len(d), k=1)]
    return {
        "strategies": int(result.clusters.n_clusters_),
        "mean_distance": float(pairs.mean()) if len(pairs) else 0.0,
        "stability_ari": result.stability,
    }


def summarize_seed(seed: int, out: Path, with_analysis: bool) -> dict[str, Any]:
    """Goals and task success of every policy of a finished seed, SIPO's overhead, the method settings used."""
    result: dict[str, Any] = {"seed": seed}
    for name in ("mappo", *METHODS):
        dirs = method_dirs(name, seed, out)
        found = [goal_of(d) for d in dirs]
        result[f"{name}_goals"] = [g for g, _ in found]
        result[f"{name}_success"] = [round(s, 3) for _, s in found]
        result[f"{name}_training_s"] = training_seconds(dirs if name == "mappo" else dirs[1:])
        if with_analysis:
            try:
                result[f"{name}_analysis"] = analyze(dirs)
            except Exception as exc:  # the analysis is an extra: a failure there must not lose the trained seeds
                result[f"{name}_analysis_error"] = f"{type(exc).__name__}: {exc}"
        if name == "mappo":
            continue
        root = out / f"seed{seed}" / name
        result[f"{name}_settings"] = json.loads((root / f"{name}.json").read_text())["settings"]
        if name == "sipo":
            rows = [r for d in dirs[1:] for r in RunDir(d).read_metrics()]
            div = sum(r.get("learner/diversity/time_s", 0.0) for r in rows)
            wall = sum(r.get("iteration_time_s", 0.0) for r in rows)
            result["sipo_overhead"] = div / wall if wall else float("nan")
    return result


def distinct(goals: list[int]) -> int:
    return len({g for g in goals if g >= 0})


def plot(results: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = ["MAPPO x4", "RSPO K=4", "SIPO K=4"]
    keys = ["mappo_goals", "rspo_goals", "sipo_goals"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    x = np.arange(len(results))
    for j, (label, key) in enumerate(zip(labels, keys)):
        axes[0].bar(x + (j - 1) * 0.27, [distinct(r[key]) for r in results], 0.27, label=label)
    axes[0].set_xticks(x, [f"seed {r['seed']}" for r in results])
    axes[0].set_ylabel("distinct corners found (of 4)")
    axes[0].set_ylim(0, 4.5)
    axes[0].legend(loc="lower right", fontsize=8)
    grid = np.full((len(results) * 3, GOALS), np.nan)
    for i, r in enumerate(results):
        for j, key in enumerate(keys):
            grid[i * 3 + j] = r[key]
    axes[1].imshow(grid, cmap="tab10", vmin=-1, vmax=8, aspect="auto")
    for (i, k), g in np.ndenumerate(grid):
        axes[1].text(k, i, "-" if g < 0 else f"goal {int(g)}", ha="center", va="center", fontsize=7)
    axes[1].set_yticks(
        range(len(grid)), [f"s{r['seed']} {name}" for r in results for name in ("MAPPO", "RSPO", "SIPO")], fontsize=7
    )
    axes[1].set_xticks(range(GOALS), ["policy 1", "policy 2", "policy 3", "policy 4"])
    axes[1].set_title("corner reached by each policy")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_method_rows(bench: Bench, results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per method: distinct corners (IQM, 95% CI), success rates, task success, analysis figures."""
    n = len(results)
    summary: dict[str, Any] = {}
    for name in ("mappo", "rspo", "sipo"):
        label = LABELS[name]
        corners = [distinct(r[f"{name}_goals"]) for r in results]
        s = {
            "distinct_corners": iqm(corners),
            "seeds_with_3_or_more": success_rate([c >= 3 for c in corners]),
            "seeds_with_all_4": success_rate([c == GOALS for c in corners]),
            "task_success": iqm([float(np.mean(r[f"{name}_success"])) for r in results]),
        }
        bench.add(
            f"{label}: distinct corners (IQM over {n} seeds)",
            s["distinct_corners"]["iqm"],
            "corners",
            ref=None if name == "mappo" else f"{LABELS['mappo']}: distinct corners (IQM over {n} seeds)",
            note=f"95% CI {fmt(s['distinct_corners'])}, mean {s['distinct_corners']['mean']:.2f}",
            per_seed=corners,
        )
        bench.add(
            f"{label}: seeds with >= 3 corners",
            s["seeds_with_3_or_more"]["successes"],
            f"seeds of {n}",
            note=f"rate {fmt(s['seeds_with_3_or_more'])}",
        )
        bench.add(f"{label}: seeds with all 4 corners", s["seeds_with_all_4"]["successes"], f"seeds of {n}")
        bench.add(
            f"{label}: task success of its policies (IQM over seeds)",
            s["task_success"]["iqm"],
            "episodes reaching a goal",
            note=f"95% CI {fmt(s['task_success'])}",
        )
        seconds = [r[f"{name}_training_s"] for r in results]
        s["training_s"] = {"mean": float(np.mean(seconds)) if seconds else float("nan"), "values": seconds}
        what = "its 4 runs" if name == "mappo" else "iterations 1-3"
        bench.add(
            f"{label}: training wall per seed ({what}, mean)", s["training_s"]["mean"], "s", higher_is_better=False
        )
        if all(f"{name}_analysis" in r for r in results):
            for key, unit in (("strategies", "clusters"), ("mean_distance", "descriptor distance")):
                s[key] = iqm([r[f"{name}_analysis"][key] for r in results])
                bench.add(f"{label}: analyze {key} (IQM over seeds)", s[key]["iqm"], unit, note=fmt(s[key]))
            ari = [r[f"{name}_analysis"]["stability_ari"] for r in results]
            s["stability_ari"] = iqm([a for a in ari if a is not None])
            bench.add(
                f"{label}: clustering stability (ARI over rollout seeds {list(STABILITY_SEEDS)})",
                s["stability_ari"]["iqm"] if s["stability_ari"]["n"] else float("nan"),
                "ARI",
                note=fmt(s["stability_ari"]),
            )
        summary[name] = s
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default="runs/bench/sipo_multigoal")
    parser.add_argument("--summarize-only", action="store_true", help="use the finished runs only")
    parser.add_argument("--no-analyze", action="store_true", help="skip diverse-marl analyze on each method's policies")
    parser.add_argument("--note", default="", help="how the runs in --out were made (kept in the JSON)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    load_before = os.getloadavg()
    init_ray(RayConfig(num_cpus=2))
    results = []
    for seed in args.seeds:
        if not args.summarize_only:
            train_seed(seed, out)
        if not finished(seed, out):
            print(f"seed {seed}: not finished, left out", flush=True)
            continue
        results.append(summarize_seed(seed, out, not args.no_analyze))
        print(f"seed {seed}: {results[-1]}", flush=True)
    bench = Bench("sipo_multigoal")
    summary = add_method_rows(bench, results)
    overhead = [r["sipo_overhead"] for r in results if np.isfinite(r.get("sipo_overhead", np.nan))]
    bench.add(
        "SIPO diversity terms / iteration wall time",
        100 * float(np.mean(overhead)) if overhead else float("nan"),
        "%",
        higher_is_better=False,
        note="target <= 15%",
    )
    bench.meta = {
        "command": "python -m bench.sipo_multigoal --seeds " + " ".join(map(str, args.seeds)),
        "seeds": args.seeds,
        "summary": summary,
        "results": results,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "configs": ["examples/multi_goal/sipo.yaml", "examples/multi_goal/rspo.yaml"],
        "note": args.note,
    }
    out = bench_dir("sipo_multigoal")
    out.mkdir(parents=True, exist_ok=True)
    plot(results, out / "sipo_multigoal.png")
    if results:  # one episode GIF per SIPO policy of the first seed shown (sampled actions, as trained)
        seed = results[0]["seed"]
        bench.meta["gifs"] = [
            str(
                record_episode_gif(
                    Path(args.out) / f"seed{seed}" / "sipo" / f"iteration_{k:02d}",  # the runs, not the results
                    out / f"sipo_multigoal_seed{seed}_iteration_{k:02d}.gif",
                ).relative_to(REPO_ROOT)
            )
            for k in range(GOALS)
        ]
    bench.report()


if __name__ == "__main__":
    main()
