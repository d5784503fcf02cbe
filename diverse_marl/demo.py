"""``make demo`` / ``diverse-marl demo``: the main job, end to end, on a local embedded Ray.

Trains ``examples/demo.yaml`` (MAPPO self-play in Overcooked's cramped_room), evaluates the
trained policy without Ray, renders an episode to a GIF, writes plots and a text report,
and prints the run directory.
"""
from __future__ import annotations

import time
from pathlib import Path

from diverse_marl.errors import ConfigError

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "demo.yaml"


def run_demo(config: str | Path | None = None, quiet: bool = False, overrides: list[str] | None = None) -> Path:
    from diverse_marl.analysis.report import analyze_runs
    from diverse_marl.evaluation import evaluate_run, record_episode_gif
    from diverse_marl.experiment import train

    path = Path(config) if config else DEMO_CONFIG
    if not path.exists():
        raise ConfigError(f"demo config {path} not found (run from a source checkout, or pass a config)")
    t0 = time.time()
    print(f"[1/4] training {path.name} (progress below; stops by the limits in the config)")
    result = train(path, overrides=overrides, quiet=quiet)
    print(f"[2/4] evaluating {result.config.evaluation.episodes} episodes")
    report = evaluate_run(result.run_dir, quiet=quiet)
    print("[3/4] recording an episode")
    gif = record_episode_gif(result.run_dir)
    print("[4/4] plots and report")
    written = analyze_runs([result.run_dir])
    minutes = (time.time() - t0) / 60
    final = result.final
    print()
    print(f"demo finished in {minutes:.1f} min: {final.get('iteration')} iterations, {final.get('env_steps')} env steps")
    key = "sparse_return_mean" if "sparse_return_mean" in report else "return_mean"
    print(f"evaluation: mean {key.replace('_mean', '')} {report[key]:.1f} over {report['episodes']} episodes")
    for p in [*written, gif, report["path"]]:
        if p:
            print(f"  {p}")
    print(f"run dir: {result.run_dir}")
    return Path(result.run_dir)
