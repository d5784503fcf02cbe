"""SIPO demonstration in Overcooked (asymmetric_advantages) or hide-and-seek: K=4 SIPO policies vs 4 MAPPO seeds.

For each policy: its task return (Overcooked: the team's sparse return; hide-and-seek: the hiders'
return) and its behaviour descriptor, the mean per-episode event counts / episode statistics of
greedy-or-sampled self-play (``evaluation`` settings of the example). Per seed, each descriptor
dimension is scaled by its range over that seed's 8 policies; the figure is the mean pairwise
Euclidean distance within each set (SIPO vs MAPPO; the ratio is SIPO / MAPPO). Targets (issue 25,
3 seeds): every SIPO iteration at least 80% of the best task return, SIPO's distance at least 2x
MAPPO's (Overcooked), clearly above it with returns within 80% (hide-and-seek). Over the seeds:
IQM with a 95% stratified bootstrap CI (``rliable``, ``bench/seed_stats.py``) of the distance ratio
and of the worst / best return, and the share of seeds meeting each target, with its CI. One episode
GIF per SIPO policy of the first seed.

Shared work, stated plainly: SIPO's iteration 0 is plain MAPPO with the config's seed, i.e. exactly
the first MAPPO seed's run (same config, same seed), so it is trained once and copied.
The overhead figure is the learner's time in the diversity terms over the iterations' wall time.

    .venv/bin/python -m bench.sipo_overcooked --env overcooked --seeds 0 1 2 --env-steps 250000 \\
        --out runs/bench/sipo_overcooked
    .venv/bin/python -m bench.sipo_overcooked --env hide_and_seek --seeds 0 1 2 --env-steps 150000 \\
        --out runs/bench/sipo_hide_and_seek
    .venv/bin/python -m bench.sipo_overcooked --env overcooked --overhead-only   # ~1 min: the overhead figure alone

``--overhead-only`` times ``OVERHEAD_ITERATIONS`` training iterations of the example's full batch with
SIPO terms against three archives (states of a 1-iteration policy, three seeds) and, as the
reference in the same process, the same iterations without them.

Finished runs are kept, so an interrupted demo continues. Writes ``bench/results/sipo_overcooked/sipo_<env>.json``,
``sipo_<env>.png`` and ``sipo_<env>_iteration_0k.gif``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.harness import REPO_ROOT, Bench, bench_dir
from bench.seed_stats import fmt, iqm, success_rate
from diverse_marl.algorithms.methods import get_method
from diverse_marl.config import RayConfig, load_config
from diverse_marl.evaluation import evaluate_run, record_episode_gif
from diverse_marl.metrics import SPARSE_RETURN_MEAN
from diverse_marl.ray_setup import init_ray
from diverse_marl.run_dir import RunDir
from diverse_marl.training import reached_stop, run_single

OUT = bench_dir("sipo_overcooked")  # sipo_<env>.json, its plot, overhead and GIFs
K = 4
OVERHEAD_ITERATIONS = 3
EXAMPLES = {"overcooked": "overcooked/sipo_asymmetric_advantages.yaml", "hide_and_seek": "hide_and_seek/sipo.yaml"}
RETURN_TARGET = 0.8  # every SIPO iteration's task return at least this share of the best
DISTANCE_TARGET = {"overcooked": 2.0, "hide_and_seek": 1.0}  # SIPO / MAPPO distance above this (h&s: "clearly")


def configs(env: str, env_steps: int, seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(SIPO config, the 4 MAPPO configs) at ``env_steps`` per policy; the shaping anneal scaled to it."""
    data = yaml.safe_load((REPO_ROOT / "examples" / EXAMPLES[env]).read_text())
    data["seed"] = seed
    data["stop"] = {"env_steps": env_steps}
    if "reward_schedule" in data:
        data["reward_schedule"] = {"shaping_factor": [[0, 1.0], [int(env_steps * 0.8), 0.0]]}
    mappo = []
    for i in range(K):
        m = {**data, "method": {}, "seed": seed + i, "name": f"{data['name']}-mappo{i}"}
        mappo.append(m)
    return data, mappo


def task_return(env: str, report: dict[str, Any]) -> float:
    if env == "hide_and_seek":
        agents = report.get("agent_return_mean", {})
        return float(np.mean([v for a, v in agents.items() if a.startswith("hider")]))
    return float(report.get(SPARSE_RETURN_MEAN, report["return_mean"]))


def describe(env: str, run_dir: Path, episodes: int) -> dict[str, Any]:
    report = evaluate_run(run_dir, episodes, None, 0, quiet=True)
    return {"return": task_return(env, report), "stats": report["stats_mean"]}


def mean_pairwise(x: np.ndarray) -> float:
    return float(np.mean([np.linalg.norm(x[i] - x[j]) for i, j in itertools.combinations(range(len(x)), 2)]))


def plot(env: str, names: list[str], desc: np.ndarray, returns: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = np.linalg.norm(desc[:, None] - desc[None], axis=-1)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    im = axes[0].imshow(d, cmap="viridis")
    axes[0].set_xticks(range(len(names)), names, rotation=60, fontsize=7)
    axes[0].set_yticks(range(len(names)), names, fontsize=7)
    axes[0].set_title("descriptor distances (scaled event counts)")
    fig.colorbar(im, ax=axes[0])
    axes[1].bar(range(len(names)), returns, color=["tab:orange"] * K + ["tab:blue"] * K)
    axes[1].set_xticks(range(len(names)), names, rotation=60, fontsize=7)
    axes[1].set_title(f"{env}: task return per policy (orange SIPO, blue MAPPO)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def overhead_only(env: str, out: Path) -> None:
    """Iteration wall time with SIPO's terms (3 archives) vs plain MAPPO, same config, same process."""
    from diverse_marl.algorithms.diversity.archive import collect_states, save_archive

    data = yaml.safe_load((REPO_ROOT / "examples" / EXAMPLES[env]).read_text())
    method = data.pop("method")
    data.pop("reward_schedule", None)
    data["stop"] = {"iterations": 1}
    first = out / "overhead" / "policy"
    if not reached_stop(load_config(data), first):
        run_single(load_config(data), first, quiet=True)
    archives = []
    for k in range(K - 1):
        states, source, *_ = collect_states(
            first,
            data["env"],
            data["env_config"],
            method["state"],
            episodes=method["archive_episodes"],
            size=method["archive_size"],
            seed=k,
        )
        archives.append(str(save_archive(out / "overhead" / f"archive_{k}.npz", states, {"source": source})))
    data["stop"] = {"iterations": OVERHEAD_ITERATIONS}
    terms = {k: v for k, v in method.items() if k not in ("name", "iterations", "archive_size", "archive_episodes")}
    timings = {}
    for label, diversity in (("plain", {}), ("sipo", {"kind": "sipo", **terms, "archives": archives})):
        shutil.rmtree(out / "overhead" / label, ignore_errors=True)
        rows = run_single(load_config({**data, "diversity": diversity}), out / "overhead" / label, quiet=True).metrics
        timings[label] = {
            "iteration_s": float(np.mean([r["iteration_time_s"] for r in rows])),
            "diversity_s": float(np.mean([r.get("learner/diversity/time_s", 0.0) for r in rows])),
        }
    bench = Bench(f"sipo_{env}_overhead", results_dir=OUT)
    bench.add("MAPPO iteration", timings["plain"]["iteration_s"], "s", higher_is_better=False)
    bench.add(
        f"MAPPO + SIPO terms ({K - 1} archives) iteration",
        timings["sipo"]["iteration_s"],
        "s",
        ref="MAPPO iteration",
        higher_is_better=False,
    )
    bench.add(
        "SIPO diversity terms / iteration wall time",
        100 * timings["sipo"]["diversity_s"] / timings["sipo"]["iteration_s"],
        "%",
        higher_is_better=False,
        note="target <= 15%",
    )
    bench.meta = {
        "config": f"examples/{EXAMPLES[env]}",
        "iterations": OVERHEAD_ITERATIONS,
        "timings": timings,
        "train_batch_size": data["training"]["train_batch_size"],
        "loadavg": os.getloadavg(),
    }
    bench.report()


def train_seed(env: str, env_steps: int, seed: int, out: Path) -> tuple[list[Path], list[Path], dict[str, float]]:
    """Train (or continue) one seed's 4 MAPPO runs and its SIPO run; their dirs and wall times."""
    sipo_data, mappo_data = configs(env, env_steps, seed)
    wall: dict[str, float] = {}
    mappo_dirs = []
    for i, data in enumerate(mappo_data):
        d = out / f"seed{seed}" / "mappo" / f"seed_{seed + i}"
        cfg = load_config(data)
        if not reached_stop(cfg, d):
            t0 = time.time()
            run_single(cfg, d, resume=RunDir(d).latest_checkpoint() is not None, quiet=True)
            wall[d.name] = time.time() - t0
        mappo_dirs.append(d)
    root = out / f"seed{seed}" / "sipo"
    if not (root / "iteration_00").exists():  # identical to the first MAPPO run (same config and seed)
        shutil.copytree(mappo_dirs[0], root / "iteration_00")
    cfg = load_config(sipo_data)
    t0 = time.time()
    get_method(cfg.method).run(cfg, root, resume=True, quiet=True)
    wall["sipo"] = time.time() - t0
    return [root / f"iteration_{k:02d}" for k in range(K)], mappo_dirs, wall


def summarize_seed(env: str, seed: int, sipo_dirs: list[Path], mappo_dirs: list[Path], episodes: int) -> dict:
    """One seed's figures: returns, scaled descriptors, distances, worst / best return, overhead."""
    found = [describe(env, d, episodes) for d in sipo_dirs + mappo_dirs]
    keys = sorted({k for f in found for k in f["stats"]})
    raw = np.array([[f["stats"].get(k, 0.0) for k in keys] for f in found], dtype=np.float64)
    span = raw.max(0) - raw.min(0)
    desc = np.where(span > 0, (raw - raw.min(0)) / np.where(span > 0, span, 1), 0.0)
    returns = [f["return"] for f in found]
    rows = [r for d in sipo_dirs[1:] for r in RunDir(d).read_metrics()]
    overhead = sum(r.get("learner/diversity/time_s", 0.0) for r in rows) / max(
        sum(r.get("iteration_time_s", 0.0) for r in rows), 1e-9
    )
    sipo_d, mappo_d = mean_pairwise(desc[:K]), mean_pairwise(desc[K:])
    best = max(returns[:K])
    return {
        "seed": seed,
        "returns": returns,
        "descriptor_keys": keys,
        "descriptors_raw": raw.tolist(),
        "descriptors_scaled": desc.tolist(),
        "sipo_distance": sipo_d,
        "mappo_distance": mappo_d,
        "distance_ratio": sipo_d / mappo_d if mappo_d > 0 else float("inf"),
        "sipo_worst_over_best": min(returns[:K]) / best if best > 0 else float("nan"),
        "mappo_worst_over_best": min(returns[K:]) / max(max(returns[K:]), 1e-9),
        "overhead": overhead,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=sorted(EXAMPLES), default="overcooked")
    parser.add_argument("--env-steps", type=int, default=250_000, help="env steps per policy")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--out", default=None)
    parser.add_argument("--summarize-only", action="store_true", help="use the finished runs only")
    parser.add_argument("--overhead-only", action="store_true", help="only time the diversity terms (about a minute)")
    args = parser.parse_args(argv)
    out = Path(args.out or f"runs/bench/sipo_{args.env}")
    load_before = os.getloadavg()
    init_ray(RayConfig(num_cpus=2))
    if args.overhead_only:
        overhead_only(args.env, out)
        return
    per_seed, walls, first = [], {}, None
    for seed in args.seeds:
        if args.summarize_only:
            sipo_dirs = [out / f"seed{seed}" / "sipo" / f"iteration_{k:02d}" for k in range(K)]
            mappo_dirs = [out / f"seed{seed}" / "mappo" / f"seed_{seed + i}" for i in range(K)]
            if not all(RunDir(d).latest_checkpoint() for d in sipo_dirs + mappo_dirs):
                print(f"seed {seed}: not finished, left out", flush=True)
                continue
        else:
            sipo_dirs, mappo_dirs, walls[seed] = train_seed(args.env, args.env_steps, seed, out)
        per_seed.append(summarize_seed(args.env, seed, sipo_dirs, mappo_dirs, args.eval_episodes))
        first = first or (seed, sipo_dirs, mappo_dirs)
        print(f"seed {seed}: {per_seed[-1]['returns']}, ratio {per_seed[-1]['distance_ratio']:.2f}", flush=True)

    name = f"sipo_{args.env}"
    bench = Bench(name, results_dir=OUT)
    n = len(per_seed)
    target = DISTANCE_TARGET[args.env]
    summary = {
        "distance_ratio": iqm([r["distance_ratio"] for r in per_seed]),
        "sipo_distance": iqm([r["sipo_distance"] for r in per_seed]),
        "mappo_distance": iqm([r["mappo_distance"] for r in per_seed]),
        "sipo_worst_over_best": iqm([r["sipo_worst_over_best"] for r in per_seed]),
        "mappo_worst_over_best": iqm([r["mappo_worst_over_best"] for r in per_seed]),
        "seeds_meeting_return_target": success_rate([r["sipo_worst_over_best"] >= RETURN_TARGET for r in per_seed]),
        "seeds_meeting_distance_target": success_rate([r["distance_ratio"] >= target for r in per_seed]),
    }
    bench.add(
        f"MAPPO x4: mean pairwise descriptor distance (IQM over {n} seeds)",
        summary["mappo_distance"]["iqm"],
        "scaled",
        note=fmt(summary["mappo_distance"]),
    )
    bench.add(
        f"SIPO K=4: mean pairwise descriptor distance (IQM over {n} seeds)",
        summary["sipo_distance"]["iqm"],
        "scaled",
        ref=f"MAPPO x4: mean pairwise descriptor distance (IQM over {n} seeds)",
        note=fmt(summary["sipo_distance"]),
    )
    bench.add(
        "SIPO / MAPPO distance, per seed (IQM)",
        summary["distance_ratio"]["iqm"],
        "ratio",
        note=f"95% CI {fmt(summary['distance_ratio'])}; target >= {target}",
        per_seed=[round(r["distance_ratio"], 3) for r in per_seed],
    )
    bench.add(
        "SIPO worst / best task return (IQM over seeds)",
        100 * summary["sipo_worst_over_best"]["iqm"],
        "%",
        note=f"95% CI {fmt(summary['sipo_worst_over_best'])}; target >= {RETURN_TARGET:.0%}",
        per_seed=[round(r["sipo_worst_over_best"], 3) for r in per_seed],
    )
    bench.add(
        "MAPPO worst / best task return (IQM over seeds)",
        100 * summary["mappo_worst_over_best"]["iqm"],
        "%",
        note=fmt(summary["mappo_worst_over_best"]),
    )
    for key in ("seeds_meeting_return_target", "seeds_meeting_distance_target"):
        bench.add(key.replace("_", " "), summary[key]["successes"], f"seeds of {n}", note=f"rate {fmt(summary[key])}")
    bench.add(
        "SIPO diversity terms / iteration wall time",
        100 * float(np.mean([r["overhead"] for r in per_seed])),
        "%",
        higher_is_better=False,
        note="target <= 15%",
    )
    OUT.mkdir(parents=True, exist_ok=True)
    gifs = []
    if first is not None:
        seed, sipo_dirs, mappo_dirs = first
        for k, d in enumerate(sipo_dirs):
            gif = record_episode_gif(d, OUT / f"{name}_iteration_{k:02d}.gif")
            gifs.append(None if gif is None else gif.relative_to(REPO_ROOT).as_posix())
        r = per_seed[0]
        names = [f"SIPO it{k}" for k in range(K)] + [f"MAPPO s{seed + i}" for i in range(K)]
        plot(args.env, names, np.asarray(r["descriptors_scaled"]), r["returns"], OUT / f"{name}.png")
    bench.meta = {
        "command": f"python -m bench.sipo_overcooked --env {args.env} --seeds {' '.join(map(str, args.seeds))} "
        f"--env-steps {args.env_steps}",
        "env_steps_per_policy": args.env_steps,
        "seeds": [r["seed"] for r in per_seed],
        "summary": summary,
        "per_seed": per_seed,
        "gifs": gifs,
        "wall_s": walls,
        "config": f"examples/{EXAMPLES[args.env]}",
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }
    bench.report()


if __name__ == "__main__":
    main()
