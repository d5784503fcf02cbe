"""Self-play MAPPO on the classic Overcooked layouts: learning curves of the sparse return.

Trains one MAPPO policy (shared by both cooks, centralized critic, vectorized env runner) per
layout with the settings of ``examples/overcooked/mappo_<layout>.yaml`` (env config, shaping anneal,
MAPPO options: the YAML is the one place they live), and records the mean *sparse* episode
return (20 per delivered soup, per 400-step episode) against env steps, with the team's event
counts (onions potted, pots started, soups delivered). Results go to
``bench/results/mappo_overcooked/mappo_overcooked.json`` (rewritten after every iteration, so a stopped run
keeps its curve) and ``mappo_overcooked.png`` beside it.

Targets: cramped_room >= 200 within 5M env steps; every layout >= 150 within the budget.
A layout stops at ``--env-steps`` or ``--minutes``, whichever comes first; when the time limit
stops it early, the JSON records the steps reached and the wall time 5M steps would take at
the measured rate. ``--old-dynamics`` trains the 2019 dynamics (pots start cooking by
themselves); those curves are kept under ``<layout>@old_dynamics``.

Run: ``.venv/bin/python -m bench.mappo_overcooked --layouts cramped_room --env-steps 5000000 --minutes 25``
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from bench.harness import REPO_ROOT, bench_dir, machine_info
from diverse_marl.metrics import EPISODE_RETURN_MEAN, LAYOUT_START_SPARSE_RETURN, SPARSE_RETURN, episode_key
from diverse_marl.run_dir import atomic_write_text

CLASSIC_LAYOUTS = [
    "cramped_room",
    "asymmetric_advantages",
    "coordination_ring",
    "forced_coordination",
    "counter_circuit",
]
HORIZON = 400
TARGETS = {"cramped_room": 200.0}
DEFAULT_TARGET = 150.0
TARGET_BUDGET = 5_000_000
SPARSE_KEY = episode_key(SPARSE_RETURN)  # logged by the vectorized runner from the env's episode totals
# the same, of episodes that began at the layout's start (differs only while a random_start curriculum runs)
LAYOUT_START_SPARSE_KEY = episode_key(LAYOUT_START_SPARSE_RETURN)
EXAMPLES_DIR = REPO_ROOT / "examples" / "overcooked"
OUT = bench_dir("mappo_overcooked")  # results/mappo_overcooked/<--name>.json and its plots
OLD_DYNAMICS_SUFFIX = "@old_dynamics"
# team event counts per episode recorded with the curve (both cooks summed): what the cooks do
TARGET_HOLD_POINTS = 5  # --stop-at-target: stop once the last 5 iterations average at least the target
EVENTS = ("potting_onion", "pot_start", "soup_pickup_pot", "soup_delivery")


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def _val(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return float("nan")
    return v


def _anneals_to_zero(points: Any) -> bool:
    return isinstance(points, list) and len(points) == 2 and points[0][0] == 0 and points[1][1] == 0


def config_path(layout: str, args: argparse.Namespace) -> Path:
    """The YAML a layout trains with: ``--config``, else ``examples/overcooked/mappo_<layout>_old_dynamics.yaml``
    with ``--old-dynamics`` when that file exists, else ``examples/overcooked/mappo_<layout>.yaml``."""
    if getattr(args, "config", None):
        return Path(args.config).resolve()
    old = EXAMPLES_DIR / f"mappo_{layout}_old_dynamics.yaml"
    if getattr(args, "old_dynamics", False) and old.exists():
        return old
    return EXAMPLES_DIR / f"mappo_{layout}.yaml"


def layout_config(layout: str, args: argparse.Namespace, extra_options: dict[str, Any] | None = None):
    """The ExperimentConfig of ``examples/overcooked/mappo_<layout>.yaml`` with this run's changes.

    ``--num-envs`` / ``--rollout`` set the batch; ``--shaping-anneal-steps`` moves the end of every
    schedule that anneals a reward term to zero (``[[0, v], [T, 0]]``); ``--old-dynamics`` switches
    the dynamics; ``extra_options`` override MAPPO options (other benchmarks compare one option's values).
    """
    import yaml

    from diverse_marl.config import load_config, read_yaml
    from diverse_marl.errors import ConfigError

    path = config_path(layout, args)
    data = read_yaml(path)
    data["seed"] = args.seed
    data["env_config"] = {**data.get("env_config", {}), "horizon": HORIZON}
    if getattr(args, "old_dynamics", False):
        data["env_config"]["old_dynamics"] = True
    for item in getattr(args, "env_config", None) or []:  # --env-config KEY=VALUE (a YAML value)
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--env-config expects KEY=VALUE, got {item!r}")
        data["env_config"][key] = yaml.safe_load(value)
    training = dict(data.get("training", {}))
    num_envs = args.num_envs if args.num_envs is not None else training.get("num_envs_per_env_runner", 32)
    if args.num_envs is not None or args.rollout is not None:
        training["num_envs_per_env_runner"] = num_envs
        training["train_batch_size"] = num_envs * (args.rollout if args.rollout is not None else HORIZON)
    for item in getattr(args, "training", None) or []:  # --training KEY=VALUE (a YAML value)
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--training expects KEY=VALUE, got {item!r}")
        training[key] = yaml.safe_load(value)
    data["training"] = {**training, **(extra_options or {})}
    if args.shaping_anneal_steps is not None:
        data["reward_schedule"] = {
            k: ([[0, v[0][1]], [int(args.shaping_anneal_steps), 0.0]] if _anneals_to_zero(v) else v)
            for k, v in data.get("reward_schedule", {}).items()
        }
    return load_config(data)


def _holds_target(curve: list[dict[str, Any]], target: float) -> bool:
    """The mean sparse return of the last TARGET_HOLD_POINTS iterations is at least ``target``."""
    last = [p[SPARSE_RETURN] for p in curve[-TARGET_HOLD_POINTS:]]
    return len(last) == TARGET_HOLD_POINTS and all(map(math.isfinite, last)) and sum(last) / len(last) >= target


def _events(er: dict[str, Any]) -> dict[str, float]:
    """Team event counts per episode (both cooks) from the runner's episode metrics."""
    return {e: round(sum(_val(er.get(f"episode/{a}/{e}")) for a in ("agent_0", "agent_1")), 2) for e in EVENTS}


def train_layout(
    layout: str,
    args: argparse.Namespace,
    record: dict[str, Any],
    save: Any,
    extra_options: dict[str, Any] | None = None,
) -> None:
    """Train on one layout, appending curve points to ``record`` and calling ``save()`` often."""
    cfg = layout_config(layout, args, extra_options)
    algo = cfg.to_rllib().build_algo()
    path = config_path(layout, args)
    config_file = path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    record.update(
        {
            "config_file": str(config_file),
            "env_config": cfg.env_config,
            "reward_schedule": cfg.reward_schedule,
            "options": cfg.training,
            "curve": [],
            "status": "running",
            "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        }
    )
    start = time.perf_counter()
    steps = 0
    try:
        while steps < args.env_steps:
            res = algo.train()
            er = res["env_runners"]
            steps = int(_val(er.get("num_env_steps_sampled_lifetime", steps)))
            point = {
                "env_steps": steps,
                "wall_s": round(time.perf_counter() - start, 1),
                SPARSE_RETURN: _val(er.get(LAYOUT_START_SPARSE_KEY, er.get(SPARSE_KEY))),
                "shaped_return": _val(er.get(EPISODE_RETURN_MEAN)),
                "events": _events(er),
            }
            if res.get("reward_schedule"):  # the scheduled values this iteration ran with (callbacks.RESULT_KEY)
                point["schedule"] = {
                    k: round(float(v), 4) for k, v in res["reward_schedule"].items() if isinstance(v, (int, float))
                }
            record["curve"].append(point)
            ev = point["events"]
            print(
                f"{layout:22s} steps {steps:>9,d} wall {point['wall_s']:7.1f}s "
                f"sparse {point['sparse_return']:6.1f} shaped(2 agents) {point['shaped_return']:7.1f} "
                f"potted {ev['potting_onion']:5.1f} started {ev['pot_start']:4.1f} "
                f"delivered {ev['soup_delivery']:4.1f}",
                flush=True,
            )
            save()
            if args.stop_at_target and _holds_target(record["curve"], TARGETS.get(layout, DEFAULT_TARGET)):
                record["status"] = f"target held for {TARGET_HOLD_POINTS} points (--stop-at-target)"
                break
            if args.minutes and time.perf_counter() - start > 60 * args.minutes:
                record["status"] = "stopped early (time limit)"
                break
        else:
            record["status"] = "budget reached"
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM (main): keep the curve and write the summary below
        record["status"] = "stopped by a signal"
    finally:
        algo.stop()
    wall = time.perf_counter() - start
    record["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    finite = [p[SPARSE_RETURN] for p in record["curve"] if math.isfinite(p[SPARSE_RETURN])]
    target = TARGETS.get(layout, DEFAULT_TARGET)
    reached = next((p for p in record["curve"] if math.isfinite(p[SPARSE_RETURN]) and p[SPARSE_RETURN] >= target), None)
    record.update(
        {
            "wall_s": round(wall, 1),
            "env_steps": steps,
            "env_steps_per_s": round(steps / wall, 1),
            "final_sparse_return": finite[-1] if finite else None,
            "best_sparse_return": max(finite) if finite else None,
            "target": target,
            "target_reached_at_env_steps": reached["env_steps"] if reached else None,
            "est_wall_s_for_5M_steps": round(TARGET_BUDGET / (steps / wall), 0) if steps else None,
        }
    )
    save()


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # one row per dynamics, one column per layout
    rows = [
        [k for k in results["layouts"] if not k.endswith(OLD_DYNAMICS_SUFFIX)],
        [k for k in results["layouts"] if k.endswith(OLD_DYNAMICS_SUFFIX)],
    ]
    order = {name: i for i, name in enumerate(CLASSIC_LAYOUTS)}
    rows = [sorted(r, key=lambda k: order.get(k.split(OLD_DYNAMICS_SUFFIX)[0], len(order))) for r in rows if r]
    cols = max(len(r) for r in rows)
    fig, axes = plt.subplots(len(rows), cols, figsize=(max(6.0, 4.2 * cols), 3.4 * len(rows)), squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for ax, layout in ((axes[i][j], k) for i, r in enumerate(rows) for j, k in enumerate(r)):
        ax.set_visible(True)
        curve = results["layouts"][layout].get("curve", [])
        xs = [p["env_steps"] / 1e6 for p in curve if math.isfinite(p[SPARSE_RETURN])]
        ys = [p[SPARSE_RETURN] for p in curve if math.isfinite(p[SPARSE_RETURN])]
        ax.plot(xs, ys, marker=".", lw=1.2)
        ax.axhline(
            TARGETS.get(layout.split(OLD_DYNAMICS_SUFFIX)[0], DEFAULT_TARGET),
            color="gray",
            ls="--",
            lw=0.8,
            label="target",
        )
        ax.set_title(layout.replace(OLD_DYNAMICS_SUFFIX, " (old dynamics)"), fontsize=10)
        ax.set_xlabel("env steps (M)")
        ax.set_ylabel("mean sparse return / episode")
        ax.grid(alpha=0.3)
    fig.suptitle("MAPPO self-play, Overcooked (shaping as in examples/overcooked/mappo_<layout>.yaml)", fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_events(variants: dict[str, Any], path: Path) -> None:
    """Onions potted and pots started per episode against env steps, one panel per recorded variant
    (the ``counter_circuit_variants`` block: what the cooks did in the runs that stayed at 0)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [k for k, v in variants.items() if isinstance(v, dict) and v.get("curve")]
    fig, axes = plt.subplots(1, len(names), figsize=(4.4 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        curve = [p for p in variants[name]["curve"] if "events" in p]
        xs = [p["env_steps"] / 1e6 for p in curve]
        for event, label in (
            ("potting_onion", "onions potted"),
            ("pot_start", "pots started (new dynamics)"),
            ("soup_pickup_pot", "soups served from a pot"),
            ("soup_delivery", "soups delivered"),
        ):
            ax.plot(xs, [p["events"][event] for p in curve], lw=1.2, label=label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("env steps (M)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("per episode (both cooks)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("counter_circuit: what the cooks do in the runs that stayed at sparse return 0", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def merge_results(name: str, sources: list[str]) -> None:
    """Copy each source file's layouts into ``name``'s results; a replaced curve moves to ``replaced``."""
    path = OUT / f"{name}.json"
    results = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"name": name, "layouts": {}}
    for source in sources:
        other = json.loads((OUT / f"{source}.json").read_text(encoding="utf-8"))
        for layout, record in other.get("layouts", {}).items():
            old = results["layouts"].get(layout)
            if old:
                results.setdefault("replaced", {}).setdefault(layout, []).append(old)
            results["layouts"][layout] = {
                **record,
                "source": {
                    "file": f"bench/results/mappo_overcooked/{source}.json",
                    "args": other.get("args"),
                    "machine": other.get("machine"),
                },
            }
        print(f"merged {', '.join(other.get('layouts', {}))} from {source}")
    _write_json(path, results)
    plot(results, path.with_suffix(".png"))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layouts", nargs="+", default=CLASSIC_LAYOUTS, help=f"default: {' '.join(CLASSIC_LAYOUTS)}")
    p.add_argument("--env-steps", type=int, default=TARGET_BUDGET, help="env-step budget per layout")
    p.add_argument("--minutes", type=float, default=None, help="wall-clock limit per layout (stops early)")
    p.add_argument("--num-envs", type=int, default=None, help="kitchens stepped together (default: the YAML's)")
    p.add_argument("--rollout", type=int, default=None, help=f"steps per kitchen per iteration (default {HORIZON})")
    p.add_argument(
        "--shaping-anneal-steps",
        type=int,
        default=None,
        help="end every anneal-to-zero schedule of the YAML here instead (default: the YAML's)",
    )
    p.add_argument("--old-dynamics", action="store_true", help="pots start cooking by themselves (2019 dynamics)")
    p.add_argument(
        "--stop-at-target",
        action="store_true",
        help=f"stop a layout once its last {TARGET_HOLD_POINTS} iterations average at least the target",
    )
    p.add_argument(
        "--env-config",
        nargs="+",
        default=None,
        metavar="KEY=VALUE",
        help="override env_config entries of the YAML (values parsed as YAML)",
    )
    p.add_argument(
        "--training",
        nargs="+",
        default=None,
        metavar="KEY=VALUE",
        help="override MAPPO options of the YAML's training block (values parsed as YAML)",
    )
    p.add_argument(
        "--config",
        default=None,
        metavar="YAML",
        help="train with this YAML instead of examples/overcooked/mappo_<layout>[_old_dynamics].yaml",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="mappo_overcooked", help="results file stem in bench/results/mappo_overcooked/")
    p.add_argument("--append", action="store_true", help="keep other layouts already in the results file")
    p.add_argument("--plot-only", action="store_true", help="redraw the plot from the results file and exit")
    p.add_argument(
        "--merge-from",
        nargs="+",
        default=None,
        metavar="NAME",
        help="copy the layouts of bench/results/mappo_overcooked/NAME.json (runs made side by side) into "
        "--name's file, keep the curves they replace under 'replaced', redraw the plot and exit",
    )
    args = p.parse_args(argv)
    if args.merge_from:
        merge_results(args.name, args.merge_from)
        return
    if args.plot_only:
        path = OUT / f"{args.name}.json"
        results = json.loads(path.read_text(encoding="utf-8"))
        plot(results, path.with_suffix(".png"))
        if results.get("counter_circuit_variants"):
            plot_events(results["counter_circuit_variants"], path.with_name(f"{args.name}_counter_circuit_events.png"))
        return

    from diverse_marl.envs.overcooked.layouts import list_layouts
    from diverse_marl.errors import ConfigError

    for layout in args.layouts:
        if layout not in list_layouts():
            raise ConfigError(f"unknown layout {layout!r}; allowed: {', '.join(list_layouts())}")

    import signal

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # after ray.init (which sets its own): stop like Ctrl-C
    json_path, png_path = OUT / f"{args.name}.json", OUT / f"{args.name}.png"
    results: dict[str, Any] = {"name": args.name, "machine": machine_info(), "args": vars(args), "layouts": {}}
    if args.append and json_path.exists():  # keep the curves of layouts run earlier (other invocations)
        earlier = json.loads(json_path.read_text(encoding="utf-8"))
        results["earlier_runs"] = earlier.get("earlier_runs", []) + [
            {"args": earlier.get("args"), "machine": earlier.get("machine")}
        ]
        mine = {layout + (OLD_DYNAMICS_SUFFIX if args.old_dynamics else "") for layout in args.layouts}
        results["layouts"] = {k: v for k, v in earlier.get("layouts", {}).items() if k not in mine}
        if "counter_circuit_variants" in earlier:
            results["counter_circuit_variants"] = earlier["counter_circuit_variants"]

    def save() -> None:
        _write_json(json_path, results)
        plot(results, png_path)

    for layout in args.layouts:
        key = layout + (OLD_DYNAMICS_SUFFIX if args.old_dynamics else "")
        results["layouts"][key] = {}
        train_layout(layout, args, results["layouts"][key], save)
    ray.shutdown()
    print("\nlayout                               env steps   wall s   best sparse  final sparse  target  reached@")
    for layout, r in results["layouts"].items():
        if "env_steps" not in r:
            continue
        best, final = (float("nan") if r[k] is None else r[k] for k in ("best_sparse_return", "final_sparse_return"))
        print(
            f"{layout:35s} {r['env_steps']:>10,d} {r['wall_s']:8.0f} {best:12.1f} {final:13.1f} "
            f"{r['target']:7.0f}  {r['target_reached_at_env_steps']}"
        )
    print(f"results: {json_path}\nplot: {png_path}")


if __name__ == "__main__":
    main()
