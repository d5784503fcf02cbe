"""RPG demonstrations (issue 25, item 5): reward randomization finds what plain MAPPO restarts miss.

Both demos compare RPG with a *fair* baseline: per seed, M plain MAPPO restarts on the original
reward (M = RPG's number of members) that together take RPG's total env steps (each restart trains
a member's iterations plus its share of the fine-tuning), scored like RPG's members on the original
reward, the best of M kept. RPG's result is its best *measured* policy (a member before or after
fine-tuning, ``rpg.json``'s ``best_run_dir``, what ``load_policy(RPG_DIR)`` returns).

``stag_hunt``: the RPG paper's iterated Stag Hunt (``payoff_preset: rpg``, stag alone -50) with
``examples/stag_hunt/rpg.yaml``: a *uniform* sampler over the four joint-outcome features (the same
box for each, nothing that names the answer). A run "plays stag-stag" when its greedy policy's
stag-stag rate is at least ``STAG_STAG_THRESHOLD``. Target: at least 9 of 10 seeds.

``monster_hunt``: Monster-Hunt (``examples/monster_hunt/rpg.yaml``: uniform weights over joint_hunt,
solo_meeting, apple + the original reward; top 2 fine-tuned): joint hunts per episode and the team's
original return (sampled actions, as trained), and the distinct strategies among RPG's members (their
descriptors in ``rpg.json``). Both use ``policy_mapping: agent`` (one policy per agent, as the
paper's independent learners) for Monster-Hunt.

Every figure is per seed, reported as an interquartile mean with a 95% stratified bootstrap CI
(``rliable``, ``bench/seed_stats.py``), or a success rate with its CI. Runs already finished in
``--out`` are kept, so an interrupted demo continues where it stopped. ``--cost`` adds the wall time
of RPG against one MAPPO run of RPG's env steps (a timing: run it on a quiet machine).

    .venv/bin/python -m bench.rpg_demos stag_hunt --out runs/bench/rpg_stag_hunt --seeds 10
    .venv/bin/python -m bench.rpg_demos monster_hunt --out runs/bench/rpg_monster_hunt --seeds 5
    .venv/bin/python -m bench.rpg_demos stag_hunt --out runs/bench/rpg_stag_hunt --seeds 10 --summarize-only

Writes ``bench/results/rpg_demos/rpg_<demo>.json`` and ``rpg_<demo>.png`` beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

import diverse_marl
from bench.harness import REPO_ROOT, Bench, bench_dir
from bench.seed_stats import fmt, iqm, success_rate
from diverse_marl.config import RayConfig, load_config
from diverse_marl.evaluation import evaluate_run
from diverse_marl.ray_setup import init_ray
from diverse_marl.run_dir import atomic_write_json
from diverse_marl.training import reached_stop

OUT = bench_dir("rpg_demos")  # rpg_<demo>.json and .png
FAST_SAMPLER = {"env_runner_cls": "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner"}
STAG_STAG_THRESHOLD = 0.9  # share of an episode's steps that are stag-stag
EVAL_EPISODES = 100
# Stag Hunt: a stag member must be near-greedy before fine-tuning on the original payoffs (with stag
# alone at -50, stag beats hare only if the partner hunts stag with p > 51/52); at MAPPO's 5e-4 it is
# still ~88% stag after 20 iterations and fine-tuning slides to hare, at 3e-3 it is ~99.6%.
STAG_HUNT_LR = 0.003
TIMINGS_FILE = "timings.json"
RESTART_SEED_STRIDE = 1000  # seed s's restarts get seeds 1000 s + i: apart from every RPG member's seed
STRATEGY_EVENTS = 1.0  # Monster-Hunt: events per episode that make a strategy (joint hunter, apple eater, ...)


# ---------------------------------------------------------------------------------------
# runs (each skipped when already finished in --out)
# ---------------------------------------------------------------------------------------
def example(name: str) -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "examples" / name).read_text(encoding="utf-8"))


def merged(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``base`` with top-level keys replaced, and ``training`` / ``method`` blocks updated."""
    out = {**base, **{k: v for k, v in changes.items() if k not in ("training", "method")}}
    for block in ("training", "method"):
        if block in changes:
            out[block] = {**base.get(block, {}), **changes[block]}
    return out


class Timings:
    """Wall seconds per finished run, kept in ``OUT/timings.json`` so a continued demo keeps them."""

    def __init__(self, out: Path):
        self.path = out / TIMINGS_FILE
        self.data: dict[str, float] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def run(self, key: str, done: Callable[[], bool], train: Callable[[], Any]) -> float:
        if key not in self.data or not done():
            t0 = time.perf_counter()
            train()
            self.data[key] = round(time.perf_counter() - t0, 2)
            atomic_write_json(self.path, self.data)
        return self.data[key]


def rpg_done(run_dir: Path) -> bool:
    result = run_dir / "rpg.json"
    return result.is_file() and json.loads(result.read_text()).get("stage") == "done"


def population_done(run_dir: Path) -> bool:
    members = run_dir / "population.json"
    return members.is_file() and all(m["status"] == "finished" for m in json.loads(members.read_text()))


def train(config: dict[str, Any], run_dir: Path) -> None:
    """A fresh run into ``run_dir``, or a resumed one when an earlier attempt left it unfinished."""
    if (run_dir / "config.yaml").is_file():
        diverse_marl.train(config, resume=run_dir, quiet=True)
    else:
        diverse_marl.train(config, run_dir=run_dir, quiet=True)


def rpg_env_steps(run_dir: Path) -> int:
    """All env steps an RPG run took: its members' and its fine-tuned runs'."""
    total = 0
    for stage in ("members", "finetune"):
        path = run_dir / stage / "population.json"
        if path.is_file():
            total += sum(int(m["final_metrics"]["env_steps"]) for m in json.loads(path.read_text()))
    return total


def run_demo(out: Path, rpg_config: dict[str, Any], seeds: list[int], ray_cpus: int | None, cost: bool) -> None:
    """Per seed: RPG, then its baseline (M MAPPO restarts at RPG's env steps); then (``cost``) the cost run."""
    out.mkdir(parents=True, exist_ok=True)
    timings = Timings(out)
    timings.data.setdefault("load_average_before_runs", os.getloadavg())
    init_ray(RayConfig(num_cpus=ray_cpus))  # started once, before anything is timed
    for seed in seeds:
        d = out / f"rpg_seed{seed}"
        timings.run(d.name, lambda: rpg_done(d), lambda: train({**rpg_config, "seed": seed}, d))  # noqa: B023
        r = out / f"mappo_seed{seed}"
        timings.run(r.name, lambda: population_done(r), lambda: train(restarts(rpg_config, seed), r))  # noqa: B023
    if cost:
        steps = rpg_env_steps(out / f"rpg_seed{seeds[0]}")
        cost_cfg = {**plain(rpg_config), "seed": seeds[0], "stop": {"env_steps": steps}}
        timings.run(
            "mappo_cost",
            lambda: reached_stop(load_config(cost_cfg), out / "mappo_cost"),
            lambda: train(cost_cfg, out / "mappo_cost"),
        )
    timings.data["load_average_after_runs"] = os.getloadavg()
    atomic_write_json(timings.path, timings.data)


def walls_of(out: Path, seeds: list[int]) -> dict[str, Any]:
    """The wall times (and load averages) ``run_demo`` kept in ``OUT/timings.json``."""
    data = Timings(out).data
    walls = {k: v for k, v in data.items() if not k.startswith(("rpg_seed", "mappo_seed"))}
    walls["rpg_wall_s"] = {s: data[f"rpg_seed{s}"] for s in seeds if f"rpg_seed{s}" in data}
    walls["restarts_wall_s"] = {s: data[f"mappo_seed{s}"] for s in seeds if f"mappo_seed{s}" in data}
    walls["rpg_env_steps"] = rpg_env_steps(out / f"rpg_seed{seeds[0]}")
    return walls


def plain(rpg_config: dict[str, Any]) -> dict[str, Any]:
    """The RPG config as a plain MAPPO run on the original reward (no method block)."""
    return {k: v for k, v in rpg_config.items() if k != "method"}


def rpg_members(rpg_config: dict[str, Any]) -> int:
    """M: RPG's members (its samples, plus the original-reward member)."""
    method = rpg_config["method"]
    sampler = method["sampler"]
    samples = method.get("samples") or len(next(iter(sampler.values())))
    return samples + int(method.get("include_original", False))


def restart_iterations(rpg_config: dict[str, Any]) -> int:
    """Each restart's iterations: a member's, plus its share of the fine-tuning (RPG's total over M)."""
    method = rpg_config["method"]
    finetune = method.get("finetune", {}).get("iterations", rpg_config["stop"]["iterations"])
    tuned = method.get("top_k", 1) * finetune
    return rpg_config["stop"]["iterations"] + math.ceil(tuned / rpg_members(rpg_config))


def restarts(rpg_config: dict[str, Any], seed: int) -> dict[str, Any]:
    """RPG's baseline for one seed: M plain MAPPO runs, same batch, RPG's total env steps among them."""
    members = [{"seed": RESTART_SEED_STRIDE * seed + i} for i in range(rpg_members(rpg_config))]
    return {
        **plain(rpg_config),
        "seed": RESTART_SEED_STRIDE * seed,
        "stop": {"iterations": restart_iterations(rpg_config)},
        "population": {"members": members, "max_concurrent": rpg_config["population"]["max_concurrent"]},
    }


def best_restart(out: Path, seed: int, deterministic: bool) -> tuple[dict[str, Any], list[float], int]:
    """The best of the seed's restarts on the original reward: its evaluation, every restart's return, env steps."""
    root = out / f"mappo_seed{seed}"
    entries = json.loads((root / "population.json").read_text())
    evals = [final_eval(root / e["run_dir"], deterministic) for e in entries]
    returns = [e["return_mean"] for e in evals]
    steps = sum(int(e["final_metrics"]["env_steps"]) for e in entries)
    return evals[max(range(len(evals)), key=returns.__getitem__)], returns, steps


def final_eval(run_dir: Path, deterministic: bool) -> dict[str, Any]:
    """The run's final policy (an RPG dir: its best run) on the original reward, batched."""
    return evaluate_run(run_dir, EVAL_EPISODES, deterministic, seed=12345, quiet=True)


def per_agent_mean(stats: dict[str, float], name: str) -> float:
    values = [v for k, v in stats.items() if k.split("/")[-1] == name]
    return sum(values) / len(values) if values else float("nan")


def seed_row(
    out: Path, seed: int, deterministic: bool, stat: str, column: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One seed's comparison on the original reward: its best MAPPO restart against RPG's best measured
    policy (returns, env steps, the per-agent mean of ``stat`` as ``mappo_<column>`` / ``rpg_<column>``),
    and the RPG run's ``rpg.json``."""
    mappo, restart_returns, restart_steps = best_restart(out, seed, deterministic)
    rpg = final_eval(out / f"rpg_seed{seed}", deterministic)
    result = json.loads((out / f"rpg_seed{seed}" / "rpg.json").read_text())
    row = {
        "seed": seed,
        f"mappo_{column}": per_agent_mean(mappo["stats_mean"], stat),
        "mappo_return": mappo["return_mean"],
        "mappo_restart_returns": restart_returns,
        "mappo_env_steps": restart_steps,
        "rpg_env_steps": rpg_env_steps(out / f"rpg_seed{seed}"),
        f"rpg_{column}": per_agent_mean(rpg["stats_mean"], stat),
        "rpg_return": rpg["return_mean"],
        "rpg_best_run_dir": result["best_run_dir"],
    }
    return row, result


def add_budget_row(bench: Bench, rows: list[dict[str, Any]]) -> None:
    """The baseline's env steps against RPG's over all seeds: the comparison is fair at 1.0."""
    bench.add(
        "env steps per seed: MAPPO restarts / RPG",
        sum(r["mappo_env_steps"] for r in rows) / max(sum(r["rpg_env_steps"] for r in rows), 1),
        "ratio",
        note="the baseline's budget against RPG's (1.0: equal)",
    )


# ---------------------------------------------------------------------------------------
# Stag Hunt
# ---------------------------------------------------------------------------------------
def stag_hunt_config(args: argparse.Namespace) -> dict[str, Any]:
    base = example("stag_hunt/rpg.yaml")
    return merged(
        base,
        stop={"iterations": args.iterations},
        checkpoint_every=args.iterations,
        training={**FAST_SAMPLER, "num_envs_per_env_runner": 10, "lr": STAG_HUNT_LR},
        evaluation={"episodes": 20, "deterministic": True},
        method={"finetune": {"iterations": args.finetune_iterations}},
    )


def summarize_stag_hunt(out: Path, seeds: list[int], walls: dict[str, Any]) -> Bench:
    bench = Bench("rpg_stag_hunt", results_dir=OUT)
    rows = []
    for seed in seeds:
        row, result = seed_row(out, seed, deterministic=True, stat="stag_stag_rate", column="stag_stag")
        original = next(s for s in result["samples"] if s["weights"] is None)
        rows.append(
            {
                **row,
                "rpg_best_is_finetuned": result.get("best_is_finetuned"),
                "rpg_best_weights": result["samples"][result["best"]]["weights"],
                "rpg_original_member_stag_stag": per_agent_mean(original["stats_before"], "stag_stag_rate"),
                "rpg_members_return_before": [s["return_before"] for s in result["samples"]],
                "rpg_finetuned_return_after": [s["return_after"] for s in result["samples"] if s["selected"]],
            }
        )
    n = len(rows)
    plays = {k: [r[f"{k}_stag_stag"] >= STAG_STAG_THRESHOLD - 1e-9 for r in rows] for k in ("mappo", "rpg")}
    summary = {k: success_rate(v) for k, v in plays.items()}
    summary["rpg_original_member"] = success_rate(
        [r["rpg_original_member_stag_stag"] >= STAG_STAG_THRESHOLD - 1e-9 for r in rows]
    )
    unit = f"seeds of {n}"
    bench.add(
        "MAPPO best of M restarts (RPG's env steps): greedy policy plays stag-stag",
        summary["mappo"]["successes"],
        unit,
        note=f"rate {fmt(summary['mappo'])}",
        per_seed=[round(r["mappo_stag_stag"], 3) for r in rows],
    )
    bench.add(
        "RPG (uniform sampler): greedy best measured policy plays stag-stag",
        summary["rpg"]["successes"],
        unit,
        note=f"rate {fmt(summary['rpg'])}; target >= 9 of 10",
        per_seed=[round(r["rpg_stag_stag"], 3) for r in rows],
    )
    bench.add(
        "RPG's original-reward member plays stag-stag",
        summary["rpg_original_member"]["successes"],
        unit,
        note="member trained on the original payoffs, before selection",
    )
    for key, label in (("mappo", "MAPPO best of M restarts"), ("rpg", "RPG")):
        summary[f"{key}_return"] = iqm([r[f"{key}_return"] for r in rows])
        bench.add(
            f"{label}: greedy team return (IQM over {n} seeds)",
            summary[f"{key}_return"]["iqm"],
            "original return",
            note=f"95% CI {fmt(summary[f'{key}_return'])}",
            per_seed=[r[f"{key}_return"] for r in rows],
        )
    add_budget_row(bench, rows)
    add_cost_rows(bench, walls, seeds)
    bench.meta.update(per_seed=rows, summary=summary, threshold=STAG_STAG_THRESHOLD, eval_episodes=EVAL_EPISODES)
    plot_stag_hunt(rows, OUT / "rpg_stag_hunt.png")
    return bench


def add_cost_rows(bench: Bench, walls: dict[str, Any], seeds: list[int]) -> None:
    rpg = walls["rpg_wall_s"]
    if "mappo_cost" in walls and seeds[0] in rpg:
        reference = "one MAPPO run of RPG's total env steps: wall"
        bench.add(
            reference,
            walls["mappo_cost"],
            "s",
            higher_is_better=False,
            note=f"{walls['rpg_env_steps']:,} env steps (RPG seed {seeds[0]}'s), seed {seeds[0]}, one run",
        )
        bench.add(
            f"RPG seed {seeds[0]}: wall",
            rpg[seeds[0]],
            "s",
            ref=reference,
            higher_is_better=False,
            note="members 2 at a time; ratio < 1: RPG slower",
        )


def plot_stag_hunt(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seeds = [r["seed"] for r in rows]
    x = range(len(seeds))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    width = 0.4
    left.bar([i - width / 2 for i in x], [r["mappo_stag_stag"] for r in rows], width, label="MAPPO best of M")
    left.bar([i + width / 2 for i in x], [r["rpg_stag_stag"] for r in rows], width, label="RPG (best measured)")
    left.axhline(STAG_STAG_THRESHOLD, color="grey", lw=0.8, ls="--")
    left.set(
        xticks=list(x),
        xticklabels=seeds,
        xlabel="seed",
        ylabel="stag-stag rate (greedy)",
        ylim=(0, 1.05),
        title="Stag Hunt: final greedy policy",
    )
    left.legend(loc="center right", fontsize=8)
    members = len(rows[0]["rpg_members_return_before"])
    for k in range(members):
        right.scatter(
            [i + (k - members / 2) * 0.08 for i in x],
            [r["rpg_members_return_before"][k] for r in rows],
            s=14,
            label="original reward" if k == members - 1 else None,
        )
    right.set(
        xticks=list(x),
        xticklabels=seeds,
        xlabel="seed",
        ylabel="team return, original payoffs",
        title="RPG members before fine-tuning",
    )
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------
# Monster-Hunt
# ---------------------------------------------------------------------------------------
def monster_hunt_config(args: argparse.Namespace) -> dict[str, Any]:
    base = example("monster_hunt/rpg.yaml")
    return merged(
        base,
        stop={"iterations": args.iterations},
        checkpoint_every=args.iterations,
        training={"policy_mapping": args.policy_mapping},
        method={"samples": args.samples, "finetune": {"iterations": args.finetune_iterations}},
    )


def strategy(stats: dict[str, float]) -> str:
    """A member's strategy from its descriptors: the event it makes most per episode (per agent)."""
    counts = {name: per_agent_mean(stats, name) for name in ("joint_hunts", "solo_meetings", "apples")}
    top = max(counts, key=counts.get)
    return (
        {"joint_hunts": "joint hunter", "solo_meetings": "monster chaser", "apples": "apple eater"}[top]
        if counts[top] >= STRATEGY_EVENTS
        else "idle"
    )


def summarize_monster_hunt(out: Path, seeds: list[int], walls: dict[str, Any]) -> Bench:
    bench = Bench("rpg_monster_hunt", results_dir=OUT)
    rows, members = [], []
    for seed in seeds:
        row, result = seed_row(out, seed, deterministic=False, stat="joint_hunts", column="joint_hunts")
        rows.append(row)
        for s in result["samples"]:
            members.append(
                {
                    "seed": seed,
                    "member": s["name"],
                    "weights": s["weights"],
                    "return_before": s["return_before"],
                    "selected": s["selected"],
                    "return_after": s["return_after"],
                    "strategy": strategy(s["stats_before"]),
                    **{
                        k: round(per_agent_mean(s["stats_before"], k), 2)
                        for k in ("joint_hunts", "solo_meetings", "apples")
                    },
                }
            )
    n = len(rows)
    summary: dict[str, Any] = {}
    for key, label in (("mappo", "MAPPO best of M restarts"), ("rpg", "RPG")):
        summary[f"{key}_joint_hunts"] = iqm([r[f"{key}_joint_hunts"] for r in rows])
        summary[f"{key}_return"] = iqm([r[f"{key}_return"] for r in rows])
        summary[f"{key}_hunters"] = success_rate([r[f"{key}_joint_hunts"] >= STRATEGY_EVENTS for r in rows])
        bench.add(
            f"{label}: joint hunts per episode (IQM over {n} seeds)",
            summary[f"{key}_joint_hunts"]["iqm"],
            "joint hunts / episode",
            note=f"95% CI {fmt(summary[f'{key}_joint_hunts'])}",
            per_seed=[round(r[f"{key}_joint_hunts"], 2) for r in rows],
        )
        bench.add(
            f"{label}: team return (IQM over {n} seeds)",
            summary[f"{key}_return"]["iqm"],
            "original return",
            note=f"95% CI {fmt(summary[f'{key}_return'])}",
            per_seed=[round(r[f"{key}_return"], 1) for r in rows],
        )
        bench.add(
            f"{label}: joint hunters (>= {STRATEGY_EVENTS} joint hunt / episode)",
            summary[f"{key}_hunters"]["successes"],
            f"seeds of {n}",
            note=f"rate {fmt(summary[f'{key}_hunters'])}",
        )
    add_budget_row(bench, rows)
    kinds = sorted({m["strategy"] for m in members})
    bench.add(
        "distinct strategies among RPG members",
        len(kinds),
        "strategies",
        note=", ".join(kinds),
        counts={k: sum(m["strategy"] == k for m in members) for k in kinds},
    )
    add_cost_rows(bench, walls, seeds)
    bench.meta.update(per_seed=rows, summary=summary, members=members, eval_episodes=EVAL_EPISODES, deterministic=False)
    plot_monster_hunt(rows, members, OUT / "rpg_monster_hunt.png")
    return bench


def plot_monster_hunt(rows: list[dict[str, Any]], members: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    x = range(len(rows))
    width = 0.4
    left.bar([i - width / 2 for i in x], [r["mappo_joint_hunts"] for r in rows], width, label="MAPPO best of M")
    left.bar([i + width / 2 for i in x], [r["rpg_joint_hunts"] for r in rows], width, label="RPG (best)")
    left.set(
        xticks=list(x),
        xticklabels=[r["seed"] for r in rows],
        xlabel="seed",
        ylabel="joint hunts / episode",
        title="Monster-Hunt: final policy",
    )
    left.legend(fontsize=8)
    for kind in sorted({m["strategy"] for m in members}):
        group = [m for m in members if m["strategy"] == kind]
        right.scatter([m["apples"] for m in group], [m["joint_hunts"] for m in group], s=18, label=kind)
    right.set(
        xlabel="apples / episode (per agent)",
        ylabel="joint hunts / episode",
        title="RPG members' descriptors (all seeds)",
    )
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------------------------
DEMOS = {
    "stag_hunt": (stag_hunt_config, summarize_stag_hunt),
    "monster_hunt": (monster_hunt_config, summarize_monster_hunt),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo", choices=sorted(DEMOS))
    parser.add_argument("--out", type=Path, required=True, help="where the runs go (finished runs are kept)")
    parser.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 10 / 5)")
    parser.add_argument("--iterations", type=int, default=None, help="each RPG member's iterations")
    parser.add_argument("--finetune-iterations", type=int, default=None)
    parser.add_argument("--samples", type=int, default=6, help="monster_hunt: randomized members (+ the original)")
    parser.add_argument("--policy-mapping", default="agent", help="monster_hunt: agent (default) | shared")
    parser.add_argument("--cost", action="store_true", help="also time one MAPPO run of RPG's env steps")
    parser.add_argument("--ray-cpus", type=int, default=None)
    parser.add_argument("--summarize-only", action="store_true", help="read the runs in --out")
    args = parser.parse_args()
    defaults = {"stag_hunt": (10, 20, 20), "monster_hunt": (5, 60, 40)}[args.demo]
    args.seeds = args.seeds or defaults[0]
    args.iterations = args.iterations or defaults[1]
    args.finetune_iterations = args.finetune_iterations or defaults[2]
    make_config, summarize = DEMOS[args.demo]
    seeds = list(range(args.seeds))
    config = make_config(args)
    if not args.summarize_only:
        run_demo(args.out, config, seeds, args.ray_cpus, cost=args.cost)
    done = [s for s in seeds if rpg_done(args.out / f"rpg_seed{s}") and population_done(args.out / f"mappo_seed{s}")]
    if done != seeds:
        print(f"seeds not finished, left out: {sorted(set(seeds) - set(done))}", flush=True)
    walls = walls_of(args.out, done)
    bench = summarize(args.out, done, walls)
    bench.meta.update(
        command=f"python -m bench.rpg_demos {args.demo} --seeds {args.seeds} --iterations "
        f"{args.iterations} --finetune-iterations {args.finetune_iterations}"
        + (f" --samples {args.samples} --policy-mapping {args.policy_mapping}" if args.demo == "monster_hunt" else ""),
        seeds=done,
        config=config,
        restarts={"members": rpg_members(config), "iterations": restart_iterations(config)},
        timings=walls,
        load_average_at_summary=os.getloadavg(),
    )
    bench.report()


if __name__ == "__main__":
    main()
