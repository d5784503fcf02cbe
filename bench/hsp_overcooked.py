"""Zero-shot coordination in Overcooked (issue "HSP", item 4): SP, FCP and HSP agents with unseen partners.

Per layout (old dynamics, the rules the 2019 humans played under; horizon 400), all in one framework:

1. ``sp``: MAPPO self-play (``examples/overcooked/mappo_<layout>.yaml`` options), ``--sp-steps`` env steps,
   shaped reward annealed to 0; it keeps all its checkpoints (FCP's pool reads them).
2. ``bc``: the human proxy, ``algorithm: bc`` on the train split of the 2019 trials (``make human-data``).
3. ``hsp``: ``method: hsp`` with ``--partners`` biased partners ({-10, 0, 10} weights over HSP's events
   + sparse), ``--keep`` kept; partners and the adaptive agent warm-started from ``sp`` (``init_from``),
   partners for ``--partner-steps``, the agent for ``--agent-steps`` against them (self-play 20%).
4. ``heldout``: ``--heldout`` more biased partners whose weight vectors HSP's sample did not use (other
   seed, HSP's vectors excluded), trained the same way: the unseen partners of the evaluation.
5. ``fcp``: ``method: fcp`` with ``sp`` as its seed (checkpoints at the start, middle and end), the agent
   warm-started from ``sp`` and trained ``--agent-steps`` against the pool.
6. ``sp_more``: ``sp`` trained ``--agent-steps`` more in self-play, so SP, FCP and HSP agents all get
   the same env steps (``--sp-steps`` + ``--agent-steps``); it is the SP row of the table.

Evaluation: one batched cross-play (``diverse_marl.crossplay``) over the agents, the held-out partners and
BC, ``--episodes`` episodes per ordered pair; the agent sits in agent_0 (the seat it trained in against
partners), the partner in agent_1. Reported: mean team sparse return (a) with the held-out partners
(mean over partners), (b) with BC, (c) with each other agent (off-diagonal mean); the swapped seating is
kept in the JSON. Runs already finished under ``--work`` are reused, so an interrupted bench continues.

    .venv/bin/python -m bench.hsp_overcooked --layouts cramped_room asymmetric_advantages --work runs/bench/hsp

Writes ``bench/results/hsp_overcooked/hsp_overcooked.json`` (table rows, scale, wall times, load average) and
``hsp_overcooked.png`` beside it (bar plots), after every layout.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

import diverse_marl
from bench.harness import REPO_ROOT, Bench, bench_dir
from diverse_marl.algorithms.methods import hsp
from diverse_marl.crossplay import crossplay_matrix
from diverse_marl.population_train import train_population
from diverse_marl.run_dir import RunDir, atomic_write_json

NAME = "hsp_overcooked"
AGENTS = ("SP", "FCP", "HSP")
EXAMPLES = REPO_ROOT / "examples" / "overcooked"
HELDOUT_SEED_OFFSET = 1000


def mappo_base(layout: str, seed: int, steps: int, horizon: int, smoke: bool) -> dict[str, Any]:
    """The layout's MAPPO example config at old dynamics, ``steps`` env steps, shaping annealed over them."""
    data = yaml.safe_load((EXAMPLES / f"mappo_{layout}.yaml").read_text())
    data.update(name=f"bench-{layout}", seed=seed, stop={"env_steps": steps}, checkpoint_every=2, keep_checkpoints=1000)
    data["env_config"] = {**data["env_config"], "old_dynamics": True, "horizon": horizon}
    if smoke:  # the pipeline at toy scale: 4 kitchens, one short episode each per iteration
        data["training"].update(
            num_envs_per_env_runner=4, train_batch_size=4 * horizon, hidden_sizes=[16], num_epochs=1
        )
    data["reward_schedule"] = {"shaping_factor": [[0, 1.0], [steps, 0.0]]}
    data["ray"] = {"num_cpus": 2}
    return data


def bc_config(layout: str, args: argparse.Namespace) -> dict[str, Any]:
    """The human proxy: ``examples/overcooked/bc_<layout>.yaml``'s settings on ``--data-dir``."""
    return {
        "name": f"bench-bc-{layout}",
        "algorithm": "bc",
        "env": "overcooked",
        "seed": args.seed,
        "env_config": {"layout": layout, "old_dynamics": True, "horizon": args.horizon},
        "stop": {"iterations": 5 if args.smoke else 200},
        "checkpoint_every": 10,
        "training": {"data_dir": str(Path(args.data_dir).resolve()), "patience": 15},
    }


def train(cfg: dict[str, Any], run_dir: Path) -> float:
    """Train (or resume an unfinished) run / method into ``run_dir``; returns the wall time of this call."""
    t0 = time.time()
    if RunDir(run_dir).exists():
        diverse_marl.train(resume=run_dir, quiet=True)
    else:
        diverse_marl.train(cfg, run_dir=run_dir, quiet=True)
    return time.time() - t0


def heldout_weights(args: argparse.Namespace) -> list[dict[str, float]]:
    """The held-out partners' weights: another seed's draws, HSP's own vectors excluded."""
    events, values = list(hsp.HSP_EVENTS), [-10.0, 0.0, 10.0]
    used = hsp.sample_event_weights(args.partners, events, values, args.seed)
    return hsp.sample_event_weights(args.heldout, events, values, args.seed + HELDOUT_SEED_OFFSET, exclude=used)


def run_layout(layout: str, args: argparse.Namespace, walls: dict[str, float]) -> dict[str, Any]:
    work = Path(args.work).resolve() / layout
    sp_dir = work / "sp"
    base = mappo_base(layout, args.seed, args.sp_steps, args.horizon, args.smoke)
    walls["sp"] = train(base, sp_dir)

    walls["bc"] = train(bc_config(layout, args), work / "bc")

    tuned = {
        **base,
        "init_from": str(sp_dir),
        "stop": {"env_steps": args.agent_steps},
        "checkpoint_every": 5,
        "keep_checkpoints": 2,
        "reward_schedule": {"shaping_factor": [[0, 1.0], [args.agent_steps, 0.0]]},
    }
    method_hsp = {
        "name": "hsp",
        "partners": args.partners,
        "keep": args.keep,
        "self_play": 0.2,
        "partner_stop": {"env_steps": args.partner_steps},
        "eval_episodes": args.episodes,
    }
    walls["hsp"] = train({**tuned, "name": f"bench-hsp-{layout}", "method": method_hsp}, work / "hsp")

    unseen = heldout_weights(args)
    held_cfg = hsp.partners_config(
        diverse_marl.load_config({**tuned, "name": f"bench-heldout-{layout}", "seed": args.seed + 1000}),
        unseen,
        hsp.stage_stop(diverse_marl.load_config(tuned), {"env_steps": args.partner_steps}, "heldout"),
    )
    t0 = time.time()
    held = train_population(held_cfg, work / "heldout", resume=(work / "heldout").exists(), quiet=True)
    walls["heldout"] = time.time() - t0

    method_fcp = {"name": "fcp", "seeds_from": [str(sp_dir)], "checkpoints": [0.0, 0.5, 1.0]}
    walls["fcp"] = train({**tuned, "name": f"bench-fcp-{layout}", "method": method_fcp}, work / "fcp")
    walls["sp_more"] = train({**tuned, "name": f"bench-sp-more-{layout}"}, work / "sp_more")

    t0 = time.time()
    players = {"SP": work / "sp_more", "FCP": work / "fcp", "HSP": work / "hsp", "BC": work / "bc"}
    players.update({f"heldout_{i}": d for i, d in enumerate(held.members)})
    env_config = {"layout": layout, "old_dynamics": True, "horizon": args.horizon}
    xp = crossplay_matrix(
        {k: str(v) for k, v in players.items()},
        "overcooked",
        env_config,
        episodes=args.episodes,
        seed=args.seed,
        quiet=True,
    )
    walls["evaluation"] = time.time() - t0
    atomic_write_json(work / "crossplay.json", xp.to_dict())
    return summarize(layout, xp, unseen, args)


def summarize(layout: str, xp: Any, unseen: list[dict[str, float]], args: argparse.Namespace) -> dict[str, Any]:
    """Per agent: (a) held-out partners, (b) BC, (c) the other agents; seat 0 = agent, and swapped."""
    idx = {n: i for i, n in enumerate(xp.names)}
    v, sd = np.asarray(xp.value_mean), np.asarray(xp.value_std)
    held = [n for n in xp.names if n.startswith("heldout_")]
    out: dict[str, Any] = {"names": xp.names, "matrix": xp.value_mean, "heldout_weights": unseen, "agents": {}}
    for a in AGENTS:
        i = idx[a]
        others = [idx[b] for b in AGENTS if b != a]
        out["agents"][a] = {
            "heldout": float(np.mean([v[i, idx[h]] for h in held])),
            # standard error of that mean: episodes are independent, partners weigh equally
            "heldout_se": float(np.sqrt(np.mean([sd[i, idx[h]] ** 2 for h in held]) / (len(held) * xp.episodes))),
            "bc_se": float(sd[i, idx["BC"]] / np.sqrt(xp.episodes)),
            "heldout_per_partner": [float(v[i, idx[h]]) for h in held],
            "heldout_swapped": float(np.mean([v[idx[h], i] for h in held])),
            "bc": float(v[i, idx["BC"]]),
            "bc_swapped": float(v[idx["BC"], i]),
            "agents": float(np.mean([v[i, j] for j in others])),
            "self_play": float(v[i, i]),
        }
    out["bc_self_play"] = float(v[idx["BC"], idx["BC"]])
    out["heldout_self_play"] = [float(v[idx[h], idx[h]]) for h in held]
    return out


def report(
    results: dict[str, Any], args: argparse.Namespace, walls: dict[str, dict[str, float]], load: dict[str, list[float]]
) -> None:
    bench = Bench(NAME, results_dir=args.results_dir)
    for layout, r in results.items():
        for what in ("heldout", "bc", "agents"):
            for a in AGENTS:
                ref = None if a == "SP" else f"{layout} {what} SP"
                se = r["agents"][a].get(f"{what}_se")
                note = {
                    "heldout": "mean over held-out biased partners",
                    "bc": "with the BC human proxy",
                    "agents": "with the other two agents",
                }[what]
                bench.add(
                    f"{layout} {what} {a}",
                    r["agents"][a][what],
                    "sparse return",
                    ref=ref,
                    note=note + ("" if se is None else f" (± {se:.1f} s.e.)"),
                )
    bench.meta = {
        "scale": {
            "sp_steps": args.sp_steps,
            "partners": args.partners,
            "keep": args.keep,
            "heldout": args.heldout,
            "partner_steps": args.partner_steps,
            "agent_steps": args.agent_steps,
            "episodes": args.episodes,
            "seed": args.seed,
            "horizon": args.horizon,
            "old_dynamics": True,
            "warm_start": "HSP partners, held-out partners and all three agents start from the SP run",
        },
        "wall_s": walls,
        **load,
        "results": results,
    }
    bench.report()
    plot(results, Path(args.results_dir) / f"{NAME}.png")


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    whats = [("heldout", "held-out biased partners"), ("bc", "BC human proxy"), ("agents", "other agents")]
    fig, axes = plt.subplots(len(results), len(whats), figsize=(4 * len(whats), 3.2 * len(results)), squeeze=False)
    for row, (layout, r) in enumerate(results.items()):
        for col, (what, title) in enumerate(whats):
            ax = axes[row][col]
            vals = [r["agents"][a][what] for a in AGENTS]
            ax.bar(AGENTS, vals, color=["#999999", "#4c72b0", "#dd8452"])
            for k, val in enumerate(vals):
                ax.text(k, val, f"{val:.0f}", ha="center", va="bottom")
            ax.set_title(f"{layout}: with {title}", fontsize=9)
            ax.set_ylabel("mean sparse return")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layouts", nargs="+", default=["cramped_room", "asymmetric_advantages"])
    p.add_argument("--work", default="runs/bench/hsp")
    p.add_argument("--data-dir", default="data/human")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sp-steps", type=int, default=512_000)
    p.add_argument("--partners", type=int, default=6)
    p.add_argument("--keep", type=int, default=4)
    p.add_argument("--heldout", type=int, default=3)
    p.add_argument("--partner-steps", type=int, default=64_000)
    p.add_argument("--agent-steps", type=int, default=128_000)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--horizon", type=int, default=400)
    p.add_argument(
        "--smoke",
        action="store_true",
        help="toy scale (4 kitchens, small nets) to check the pipeline; results go to --results-dir",
    )
    p.add_argument("--results-dir", default=str(bench_dir(NAME)))
    p.add_argument(
        "--summarize-only", action="store_true", help="rebuild table, JSON and plot from --work's cross-play files"
    )
    args = p.parse_args()
    import torch

    torch.set_num_threads(1)  # evaluation's small forward passes: extra threads only spin on 2 shared cores
    results: dict[str, Any] = {}
    walls: dict[str, dict[str, float]] = {}
    if args.summarize_only:  # the tables again from the cross-play files of a finished bench
        import json

        from diverse_marl.crossplay import CrossplayResult

        previous = Path(args.results_dir) / f"{NAME}.json"
        meta = json.loads(previous.read_text())["meta"] if previous.is_file() else {}
        walls = meta.get("wall_s", {})
        load = {k: v for k, v in meta.items() if k.startswith("load_average")}
        for layout in args.layouts:
            xp = CrossplayResult.from_dict(json.loads((Path(args.work) / layout / "crossplay.json").read_text()))
            results[layout] = summarize(layout, xp, heldout_weights(args), args)
        report(results, args, walls, load)
        return
    load = {"load_average_start": list(os.getloadavg())}
    for layout in args.layouts:
        walls[layout] = {}
        results[layout] = run_layout(layout, args, walls[layout])
        load["load_average"] = list(os.getloadavg())
        report(results, args, walls, load)  # partial results after every layout


if __name__ == "__main__":
    main()
