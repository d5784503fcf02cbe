"""SIPO demonstration in Overcooked (asymmetric_advantages) or hide-and-seek: K=4 SIPO policies vs 4 MAPPO seeds.

For each policy: its task return (Overcooked: the team's sparse return; hide-and-seek: the hiders'
return) and its behaviour descriptor, the mean per-episode event counts / episode statistics of
greedy-or-sampled self-play (``evaluation`` settings of the example). Each descriptor dimension is
scaled by its range over all 8 policies; the figure is the mean pairwise Euclidean distance within
each set (SIPO vs MAPPO; the ratio is SIPO / MAPPO). Targets: clearly larger distances for SIPO,
every SIPO policy at least 80% of the best SIPO policy's task return. One episode GIF per SIPO policy.

Shared work, stated plainly: SIPO's iteration 0 is plain MAPPO with the config's seed, i.e. exactly
the first MAPPO seed's run (same config, same seed), so it is trained once and copied.
The overhead figure is the learner's time in the diversity terms over the iterations' wall time.

    .venv/bin/python -m bench.sipo_overcooked --env overcooked --env-steps 250000 --out runs/bench/sipo_overcooked
    .venv/bin/python -m bench.sipo_overcooked --env hide_and_seek --env-steps 150000 --out runs/bench/sipo_hide_and_seek
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
        states, source = collect_states(
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=sorted(EXAMPLES), default="overcooked")
    parser.add_argument("--env-steps", type=int, default=250_000, help="env steps per policy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-episodes", type=int, default=10)
    parser.add_argument("--out", default=None)
    parser.add_argument("--overhead-only", action="store_true", help="only time the diversity terms (about a minute)")
    args = parser.parse_args(argv)
    out = Path(args.out or f"runs/bench/sipo_{args.env}")
    load_before = os.getloadavg()
    init_ray(RayConfig(num_cpus=2))
    if args.overhead_only:
        overhead_only(args.env, out)
        return
    sipo_data, mappo_data = configs(args.env, args.env_steps, args.seed)
    wall: dict[str, float] = {}
    mappo_dirs = []
    for i, data in enumerate(mappo_data):
        d = out / "mappo" / f"seed_{args.seed + i}"
        cfg = load_config(data)
        if not reached_stop(cfg, d):
            t0 = time.time()
            run_single(cfg, d, resume=RunDir(d).latest_checkpoint() is not None, quiet=True)
            wall[d.name] = time.time() - t0
        mappo_dirs.append(d)
    root = out / "sipo"
    if not (root / "iteration_00").exists():  # identical to the first MAPPO run (same config and seed)
        shutil.copytree(mappo_dirs[0], root / "iteration_00")
    cfg = load_config(sipo_data)
    t0 = time.time()
    get_method(cfg.method).run(cfg, root, resume=True, quiet=True)
    wall["sipo"] = time.time() - t0
    sipo_dirs = [root / f"iteration_{k:02d}" for k in range(K)]

    names = [f"SIPO it{k}" for k in range(K)] + [f"MAPPO s{args.seed + i}" for i in range(K)]
    found = [describe(args.env, d, args.eval_episodes) for d in sipo_dirs + mappo_dirs]
    keys = sorted({k for f in found for k in f["stats"]})
    raw = np.array([[f["stats"].get(k, 0.0) for k in keys] for f in found], dtype=np.float64)
    span = raw.max(0) - raw.min(0)
    desc = np.where(span > 0, (raw - raw.min(0)) / np.where(span > 0, span, 1), 0.0)
    returns = [f["return"] for f in found]
    rows = [r for d in sipo_dirs[1:] for r in RunDir(d).read_metrics()]
    overhead = sum(r.get("learner/diversity/time_s", 0.0) for r in rows) / max(
        sum(r.get("iteration_time_s", 0.0) for r in rows), 1e-9
    )

    name = f"sipo_{args.env}"
    bench = Bench(name, results_dir=OUT)
    bench.add("MAPPO x4: mean pairwise descriptor distance", mean_pairwise(desc[K:]), "scaled")
    bench.add(
        "SIPO K=4: mean pairwise descriptor distance",
        mean_pairwise(desc[:K]),
        "scaled",
        ref="MAPPO x4: mean pairwise descriptor distance",
    )
    best = max(returns[:K])
    bench.add(
        "SIPO worst / best task return",
        100 * min(returns[:K]) / best if best > 0 else float("nan"),
        "%",
        note="target >= 80%",
    )
    bench.add("MAPPO worst / best task return", 100 * min(returns[K:]) / max(max(returns[K:]), 1e-9), "%")
    bench.add(
        "SIPO diversity terms / iteration wall time", 100 * overhead, "%", higher_is_better=False, note="target <= 15%"
    )
    OUT.mkdir(parents=True, exist_ok=True)
    gifs = []
    for k, d in enumerate(sipo_dirs):
        gif = record_episode_gif(d, OUT / f"{name}_iteration_{k:02d}.gif")
        gifs.append(None if gif is None else gif.relative_to(REPO_ROOT).as_posix())
    plot(args.env, names, desc, returns, OUT / f"{name}.png")
    bench.meta = {
        "env_steps_per_policy": args.env_steps,
        "seed": args.seed,
        "policies": names,
        "returns": returns,
        "descriptor_keys": keys,
        "descriptors_raw": raw.tolist(),
        "gifs": gifs,
        "wall_s": wall,
        "config": f"examples/{EXAMPLES[args.env]}",
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
    }
    bench.report()


if __name__ == "__main__":
    main()
