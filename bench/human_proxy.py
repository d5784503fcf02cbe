"""Human-proxy validity reports: ``python -m bench.human_proxy --layouts asymmetric_advantages ...``.

Trains (or reuses, under ``--work-dir``) BC and H_proxy clones of the 2019 human pairs per layout
and seed, and writes ``bench/results/zsc/human_proxy/<layout>/{report.md,report.json}``
(``diverse_marl.analysis.human_proxy``; ``bench.zsc`` calls the same ``build_report``). Needs
``make human-data`` first. Not a timing: it records the command, commit and load average beside.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.harness import machine_info
from diverse_marl.analysis.human_proxy import DEFAULT_EPISODES, DEFAULT_SEEDS, build_report, write_report
from diverse_marl.errors import ConfigError
from diverse_marl.run_dir import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "zsc" / "human_proxy"
LAYOUTS = ("asymmetric_advantages", "coordination_ring", "counter_circuit")


def write_index(out: Path) -> Path:
    """``<out>/index.md``: one table over every layout's ``report.json`` under ``out``."""
    lines = [
        "# Human proxy validity, all layouts",
        "",
        "Held-out half: accuracy / cross-entropy (nats) beside the majority / marginal baselines; deliveries per "
        "episode of the clone paired with itself vs the human pairs' range (per layout: `<layout>/report.md`).",
        "",
        "| layout | clone | seeds | accuracy (majority) | cross-entropy (marginal) | non-stay accuracy "
        "| deliveries | human pairs | checks |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(out.glob("*/report.json")):
        r = json.loads(path.read_text())
        h = r["human_deliveries"]["all"]
        for name, s in r["halves"].items():
            lines.append(
                f"| {r['layout']} | {name} | {len(s['clones'])} | {s['accuracy']:.3f} ({s['majority_accuracy']:.3f}) "
                f"| {s['cross_entropy']:.3f} ({s['marginal_cross_entropy']:.3f}) | {s['non_stay_accuracy']:.3f} "
                f"| {s['deliveries_mean']:.1f} | {h['min']}-{h['max']} (mean {h['mean']:.1f}) "
                f"| {sum(s['checks'].values())}/{len(s['checks'])} |"
            )
    index = out / "index.md"
    atomic_write_text(index, "\n".join(lines) + "\n")
    return index


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layouts", nargs="+", default=list(LAYOUTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=list(DEFAULT_SEEDS))
    parser.add_argument("--episodes", type=int, default=DEFAULT_EPISODES, help="proxy+proxy episodes per clone")
    parser.add_argument("--data-dir", default=str(REPO / "data" / "human"))
    parser.add_argument("--work-dir", default=str(REPO / "runs" / "human_proxy"), help="clones' run dirs (reused)")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--no-train", action="store_true", help="report only the clones already trained")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    quiet = args.quiet or os.environ.get("CI") == "true"
    try:
        for layout in args.layouts:
            report = build_report(
                layout, args.data_dir, args.work_dir, args.seeds, args.episodes, quiet, train_missing=not args.no_train
            )
            report["command"] = "python -m bench.human_proxy " + " ".join(argv if argv is not None else sys.argv[1:])
            report["machine"] = machine_info()
            report["load_average"] = list(os.getloadavg())
            json_path, md_path = write_report(report, Path(args.out) / layout)
            print(md_path.read_text())
        write_index(Path(args.out))
    except ConfigError as exc:
        print(f"human_proxy: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
