"""Plots and a short text report for training runs (``diverse-marl analyze RUN_DIR ...``).

Reads only files of the run directory (``metrics.jsonl``, ``config.yaml``, ``eval.json``),
so it works on runs from any machine without Ray.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from diverse_marl.errors import DiverseMarlError  # noqa: E402
from diverse_marl.run_dir import RunDir, atomic_write_text  # noqa: E402

RETURN_KEYS = ("episode/sparse_return", "episode_return_mean")
MAX_BEHAVIOUR_LINES = 10
MAX_REPORT_STATS = 20  # most variable behaviour statistics listed in report.md


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in rows:
        if key in r and r[key] is not None:
            xs.append(r.get("env_steps", r.get("iteration", 0)))
            ys.append(float(r[key]))
    return xs, ys


def _load_run(path: str | os.PathLike) -> tuple[RunDir, list[dict[str, Any]]]:
    rd = RunDir(path)
    if not rd.path.is_dir():
        raise DiverseMarlError(f"{path} does not exist")
    rows = rd.read_metrics()
    if not rows:
        raise DiverseMarlError(f"{path} has no metrics (expected {rd.metrics_jsonl.name}); is it a run directory?")
    return rd, rows


def main_return_key(rows: list[dict[str, Any]]) -> str:
    """Overcooked-style sparse return when the env reports it, else RLlib's episode return."""
    for key in RETURN_KEYS:
        if any(key in r for r in rows):
            return key
    return "episode_return_mean"


def plot_training(rows: list[dict[str, Any]], out: Path, title: str = "") -> Path:
    """A 2x2 figure: returns, per-agent returns, learner stats, behaviour statistics."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    ax = axes[0, 0]
    for key in RETURN_KEYS:
        xs, ys = _series(rows, key)
        if xs:
            ax.plot(xs, ys, label=key.split("/")[-1])
    ax.set(title="episode return", xlabel="env steps")
    ax.legend(fontsize=8)

    ax = axes[0, 1]
    keys = sorted({k for r in rows for k in r if k.startswith("agent_episode_returns_mean/")})
    for key in keys:
        ax.plot(*_series(rows, key), label=key.split("/")[-1])
    ax.set(title="return by agent", xlabel="env steps")
    if keys:
        ax.legend(fontsize=8)

    ax = axes[1, 0]
    keys = sorted({k for r in rows for k in r if k.startswith("learner/") and k.endswith(("/entropy", "/vf_explained_var"))})
    for key in keys:
        ax.plot(*_series(rows, key), label=key.replace("learner/", ""))
    ax.set(title="learner", xlabel="env steps")
    if keys:
        ax.legend(fontsize=8)

    ax = axes[1, 1]
    keys = behaviour_keys(rows)[:MAX_BEHAVIOUR_LINES]
    for key in keys:
        ax.plot(*_series(rows, key), label=key.replace("episode/", ""))
    ax.set(title="behaviour statistics (per episode)", xlabel="env steps")
    if keys:
        ax.legend(fontsize=7, ncol=2)
    else:
        ax.text(0.5, 0.5, "this env reports no behaviour statistics", ha="center", va="center",
                transform=ax.transAxes, color="gray")
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out)
    return out


def behaviour_keys(rows: list[dict[str, Any]]) -> list[str]:
    """Behaviour statistics that vary over training, most variable first."""
    keys = {k for r in rows for k in r if k.startswith("episode/") and k != "episode/sparse_return"}
    spread = {}
    for key in keys:
        _, ys = _series(rows, key)
        if ys:
            spread[key] = max(ys) - min(ys)
    return sorted((k for k in spread if spread[k] > 0), key=lambda k: -spread[k]) + sorted(
        k for k in spread if spread[k] == 0
    )


def write_report(rd: RunDir, rows: list[dict[str, Any]], out_dir: Path, plot: Path) -> Path:
    key = main_return_key(rows)
    _, ys = _series(rows, key)
    last = rows[-1]
    lines = [f"# Run report: {rd.path.name}", ""]
    if rd.config_path.exists():
        import yaml

        cfg = yaml.safe_load(rd.config_path.read_text()) or {}
        lines += [
            f"- algorithm: `{cfg.get('algorithm')}`, env: `{cfg.get('env')}` {cfg.get('env_config') or ''}",
            f"- seed: {cfg.get('seed')}",
        ]
    lines += [
        f"- iterations: {last.get('iteration')}, env steps: {last.get('env_steps')}, "
        f"wall time: {last.get('time_s', 0):.0f} s",
        f"- {key}: first {ys[0]:.2f}, last {ys[-1]:.2f}, best {max(ys):.2f}" if ys else f"- no {key} recorded",
    ]
    if last.get("steps_per_s"):
        lines.append(f"- throughput (last iteration): {last['steps_per_s']:.0f} env steps/s")
    eval_path = rd.path / "eval.json"
    if eval_path.exists():
        ev = json.loads(eval_path.read_text())
        lines.append(
            f"- evaluation: {ev.get('episodes')} episodes, mean return {ev.get('return_mean', float('nan')):.2f} "
            f"± {ev.get('return_std', float('nan')):.2f}"
            + (f", mean sparse return {ev['sparse_return_mean']:.2f}" if "sparse_return_mean" in ev else "")
        )
    bkeys = behaviour_keys(rows)
    if bkeys:
        lines += ["", "## Behaviour statistics (last iteration, mean per episode; most variable first)", ""]
        lines += [f"- {k.replace('episode/', '')}: {last[k]:.3g}" for k in bkeys[:MAX_REPORT_STATS] if k in last]
        if len(bkeys) > MAX_REPORT_STATS:
            lines.append(f"- ... {len(bkeys) - MAX_REPORT_STATS} more in metrics.csv")
    lines += ["", f"![training curves]({os.path.relpath(plot, out_dir)})", ""]
    report = out_dir / "report.md"
    atomic_write_text(report, "\n".join(lines))
    return report


def plot_comparison(runs: list[tuple[RunDir, list[dict[str, Any]]]], out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8, 5))
    for rd, rows in runs:
        key = main_return_key(rows)
        ax.plot(*_series(rows, key), label=f"{rd.path.name} ({key.split('/')[-1]})")
    ax.set(title="episode return", xlabel="env steps")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def analyze_runs(run_dirs: Sequence[str | os.PathLike], out: str | os.PathLike | None = None) -> list[Path]:
    """Write ``training_curves.png`` + ``report.md`` per run (and ``comparison.png`` for several)."""
    runs = [_load_run(p) for p in run_dirs]
    written: list[Path] = []
    for rd, rows in runs:
        out_dir = Path(out) / rd.path.name if out and len(runs) > 1 else Path(out) if out else rd.path / "analysis"
        plot = plot_training(rows, out_dir / "training_curves.png", title=rd.path.name)
        written += [plot, write_report(rd, rows, out_dir, plot)]
    if len(runs) > 1:
        written.append(plot_comparison(runs, Path(out or ".") / "comparison.png"))
    return written
