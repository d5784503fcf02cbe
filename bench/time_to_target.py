"""How fast does ``diverse-marl train examples/overcooked/mappo_cramped_room.yaml`` reach sparse 200?

Issue 24's target: sparse return 200 within 60 s of *training* on 2 cores. Each row is a CLI run of
the example (or a variant given by ``--set``), trained one after another with nothing else running
(pause other jobs; their Ray daemons may stay), then read from its run dir: the env steps and the
training seconds (``time_s`` of ``metrics.csv``) of the first iteration whose sparse return is at
least 200. The first run given is the reference of the ratios (same machine, same conditions)::

    diverse-marl train examples/overcooked/mappo_cramped_room.yaml --set stop.env_steps=700000 \\
        --set training.lr=0.0005 --set training.critic_lr=0.0005 --set training.num_envs_per_env_runner=32 \\
        --set training.train_batch_size=12800 --run-dir runs/ttt_previous --quiet
    diverse-marl train examples/overcooked/mappo_cramped_room.yaml --set stop.env_steps=400000 \\
        --run-dir runs/ttt_example --quiet
    .venv/bin/python -m bench.time_to_target "previous settings"=runs/ttt_previous example=runs/ttt_example \\
        --load "1.2-2.0"

Writes ``bench/results/time_to_target/time_to_target.json``.
"""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from bench.harness import Bench
from diverse_marl.metrics import SPARSE_RETURN, episode_key
from diverse_marl.run_dir import RunDir

TARGET = 200.0
SPARSE_KEY = episode_key(SPARSE_RETURN)
TRAINING_OPTIONS = ("lr", "critic_lr", "num_envs_per_env_runner", "train_batch_size", "critic_input")


def first_reaching(run_dir: str) -> dict[str, Any]:
    """The first iteration at or above TARGET: env steps, training seconds, and the run's settings."""
    run = RunDir(run_dir)
    rows = [r for r in run.read_metrics() if SPARSE_KEY in r]
    if not rows:
        raise SystemExit(f"no sparse return in the metrics of run dir {run_dir!r}")
    hit = next((r for r in rows if float(r[SPARSE_KEY]) >= TARGET), None)
    config = yaml.safe_load(run.config_path.read_text(encoding="utf-8")) or {}
    training = config.get("training") or {}
    return {
        "env_steps": int(hit["env_steps"]) if hit else None,
        "time_s": float(hit["time_s"]) if hit else None,
        "env_steps_per_s": int(rows[-1]["env_steps"]) / float(rows[-1]["time_s"]),
        "layout": (config.get("env_config") or {}).get("layout"),
        "seed": config.get("seed"),
        "training": {k: training.get(k) for k in TRAINING_OPTIONS},
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR", help="the reference run first")
    p.add_argument("--load", default="", help="the load average while they trained (stated in the results)")
    args = p.parse_args(argv)
    bench = Bench("time_to_target")
    bench.meta.update({"target_sparse_return": TARGET, "load_average": args.load})
    reference = None
    for item in args.runs:
        label, _, path = item.partition("=")
        found = first_reaching(path)
        if found["time_s"] is None:
            bench.meta.setdefault("not_reached", []).append(label)
            continue
        bench.add(
            label,
            found["time_s"],
            "training s to sparse 200",
            ref=reference,
            higher_is_better=False,
            env_steps=found["env_steps"],
            env_steps_per_s=round(found["env_steps_per_s"]),
            training=found["training"],
            seed=found["seed"],
        )
        reference = reference or label
    bench.report()


if __name__ == "__main__":
    main()
