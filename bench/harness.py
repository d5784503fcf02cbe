"""Tiny benchmark harness shared by every script in ``bench/``.

Why: a timing only means something next to a reference measured in the same run on the
same machine, so each row may name a reference row and gets a ratio against it. Results go
to ``bench/results/<bench>/<name>.json`` (one folder per bench; written to a temp file, then renamed) with machine info
and the git commit, so numbers in reports can be traced back.

Usage::

    from bench.harness import Bench
    b = Bench("overcooked_speed")
    b.add("reference", 1200.0, "steps/s")
    b.add("ours", 5000.0, "steps/s", ref="reference")   # ratio = 5000 / 1200
    b.report()   # prints the table and writes the JSON; returns the path
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from diverse_marl.run_dir import atomic_write_text

RESULTS_DIR = Path(__file__).resolve().parent / "results"
REPO_ROOT = Path(__file__).resolve().parent.parent


def bench_dir(bench: str) -> Path:
    """``bench/results/<bench>/``: where ``python -m bench.<bench>`` writes (indexed in bench/README.md)."""
    return RESULTS_DIR / bench


@dataclass
class Row:
    """One measured figure; ``ratio`` = figure / figure of row ``ref`` (None without a ref)."""

    label: str
    figure: float
    unit: str
    ref: str | None = None
    ratio: float | None = None
    higher_is_better: bool = True
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _version(module: str) -> str | None:
    try:
        mod = __import__(module)
    except Exception:  # a missing optional library is not an error for a benchmark
        return None
    return getattr(mod, "__version__", "unknown")


def machine_info() -> dict[str, Any]:
    """CPU, core count, library versions, thread settings, git commit and UTC date."""
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "torch": _version("torch"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "git_commit": _git_commit(),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def time_per_call(fn: Callable[[], Any], min_seconds: float = 1.0, min_calls: int = 3) -> float:
    """Seconds per call of ``fn``, repeating until ``min_seconds`` elapsed (after one warm-up call)."""
    fn()
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if calls >= min_calls and elapsed >= min_seconds:
            return elapsed / calls


class Bench:
    """Collects rows, prints a table and writes ``<results_dir>/<name>.json`` (default: ``bench_dir(name)``)."""

    def __init__(self, name: str, results_dir: str | os.PathLike | None = None) -> None:
        self.name = name
        self.results_dir = Path(results_dir) if results_dir is not None else bench_dir(name)
        self.rows: list[Row] = []
        self.meta: dict[str, Any] = {}

    def add(
        self,
        label: str,
        figure: float,
        unit: str,
        ref: str | None = None,
        *,
        higher_is_better: bool = True,
        note: str = "",
        **extra: Any,
    ) -> Row:
        """Add a row; ``ref`` names an earlier row of the same unit to compute the ratio against.

        For lower-is-better figures (seconds, bytes) the ratio is ref/figure so that a ratio > 1
        always means "better than the reference".
        """
        if any(r.label == label for r in self.rows):
            raise ValueError(f"duplicate benchmark row label {label!r}")
        ratio = None
        if ref is not None:
            base = self.get(ref)
            if base.unit != unit:
                raise ValueError(f"row {label!r} ({unit}) cannot be compared with {ref!r} ({base.unit})")
            num, den = (figure, base.figure) if higher_is_better else (base.figure, figure)
            ratio = num / den if den else float("inf")
        row = Row(label, float(figure), unit, ref, ratio, higher_is_better, note, dict(extra))
        self.rows.append(row)
        return row

    def get(self, label: str) -> Row:
        for r in self.rows:
            if r.label == label:
                return r
        raise KeyError(f"no benchmark row {label!r}; rows: {[r.label for r in self.rows]}")

    def table(self) -> str:
        """Aligned plain-text table of all rows."""
        head = ("label", "figure", "unit", "ratio", "vs", "note")
        body = [
            (r.label, f"{r.figure:,.1f}", r.unit, "" if r.ratio is None else f"{r.ratio:.2f}x", r.ref or "", r.note)
            for r in self.rows
        ]
        widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
        right = {1, 3}
        lines = []
        for k, cells in enumerate([head, *body]):
            lines.append(
                "  ".join(
                    c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
                ).rstrip()
            )
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "machine": machine_info(), "meta": self.meta, "rows": [asdict(r) for r in self.rows]}

    def write(self) -> Path:
        """Write the JSON atomically (temp file in the same folder, then rename)."""
        path = self.results_dir / f"{self.name}.json"
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def report(self, file=None) -> Path:
        """Print the table (with a header line) and write the JSON; returns the JSON path."""
        out = file or sys.stdout
        print(f"== {self.name} ==", file=out)
        print(self.table(), file=out)
        path = self.write()
        print(f"results: {path}", file=out)
        return path
