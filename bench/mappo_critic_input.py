"""Does a cheaper MAPPO setting still learn? cramped_room curves against the recorded reference.

``bench/mappo_throughput.py`` times MAPPO variants; this one checks that a variant chosen for
speed learns as well: the env steps each run needs to reach the cramped_room target (mean sparse
return >= 200), against the reference curve of ``bench/results/mappo_overcooked/mappo_overcooked.json`` (the
settings of ``examples/overcooked/mappo_cramped_room.yaml``, seed 0). Each variant is the same YAML
with one or two options changed, trained by the CLI (hold the CPU lock on a shared machine)::

    diverse-marl train examples/overcooked/mappo_cramped_room.yaml --set stop.env_steps=1000000 \\
        --set training.critic_input=joint_obs --run-dir runs/cr_joint_obs
    diverse-marl train examples/overcooked/mappo_cramped_room.yaml --set stop.env_steps=1000000 \\
        --set training.critic_input=joint_obs --set training.layer_norm=false --run-dir runs/cr_joint_obs_no_ln

then summarized (runs are read from their run dirs; nothing is trained here)::

    .venv/bin/python -m bench.mappo_critic_input joint_obs=runs/cr_joint_obs joint_obs_no_ln=runs/cr_joint_obs_no_ln

Figure per row: env steps until the sparse return first reaches the target (lower is better);
the curve (every iteration) is kept in the JSON.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import yaml

from bench.harness import Bench, bench_dir
from diverse_marl.metrics import SPARSE_RETURN, episode_key
from diverse_marl.run_dir import RunDir

LAYOUT = "cramped_room"
TARGET = 200.0
SPARSE_KEY = episode_key(SPARSE_RETURN)
REFERENCE = "reference (critic_input: state)"
UNIT = "env steps to sparse 200"


def first_reaching(curve: list[tuple[int, float]], target: float) -> int | None:
    return next((steps for steps, ret in curve if ret >= target), None)


def reference_curve() -> tuple[list[tuple[int, float]], dict[str, Any]]:
    path = bench_dir("mappo_overcooked") / "mappo_overcooked.json"
    data = json.loads(path.read_text(encoding="utf-8"))["layouts"][LAYOUT]
    return [(int(p["env_steps"]), float(p[SPARSE_RETURN])) for p in data["curve"]], data.get("options", {})


def run_curve(path: str) -> tuple[list[tuple[int, float]], dict[str, Any]]:
    run = RunDir(path)
    rows = run.read_metrics()
    if not rows:
        raise SystemExit(f"no metrics in run dir {path!r}")
    curve = [(int(r["env_steps"]), float(r[SPARSE_KEY])) for r in rows if SPARSE_KEY in r]
    config = yaml.safe_load(run.config_path.read_text(encoding="utf-8")) or {}
    return curve, dict(config.get("training", {}))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "runs", nargs="+", metavar="LABEL=RUN_DIR", help="runs of examples/overcooked/mappo_cramped_room.yaml variants"
    )
    args = p.parse_args(argv)

    bench = Bench("mappo_critic_input")
    ref_curve, ref_options = reference_curve()
    ref_steps = first_reaching(ref_curve, TARGET)
    bench.meta.update(
        {
            "layout": LAYOUT,
            "target_sparse_return": TARGET,
            "reference": "bench/results/mappo_overcooked/mappo_overcooked.json, layouts.cramped_room (seed 0)",
        }
    )
    bench.add(
        REFERENCE,
        float(ref_steps),
        UNIT,
        higher_is_better=False,
        options=ref_options,
        curve=[c for c in ref_curve if c[0] <= 1_100_000],
    )
    for item in args.runs:
        label, _, path = item.partition("=")
        if not path:
            raise SystemExit(f"expected LABEL=RUN_DIR, got {item!r}")
        curve, options = run_curve(path)
        steps = first_reaching(curve, TARGET)
        final = curve[-1]
        bench.add(
            label,
            float(steps) if steps is not None else float("inf"),
            UNIT,
            ref=REFERENCE,
            higher_is_better=False,
            note=f"sparse {final[1]:.1f} at {final[0]:,} env steps",
            options=options,
            run_dir=path,
            curve=curve,
        )
    bench.report()


if __name__ == "__main__":
    main()
