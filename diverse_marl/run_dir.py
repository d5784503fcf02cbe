"""Run directories: ``runs/<name>-<timestamp>/`` holding everything a training job writes.

Layout::

    config.yaml          resolved config (what actually ran)
    metrics.jsonl        one JSON object per iteration (canonical, append-only)
    metrics.csv          the same, flattened to scalar columns (rewritten atomically)
    tb/                  TensorBoard event files
    checkpoints/iter_000010/   RLlib checkpoint + meta.json, written to a temp dir then renamed

Every file is written to a temporary name and renamed into place, so a crash mid-write
leaves the previous version intact.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from diverse_marl.errors import CheckpointError

CHECKPOINT_PREFIX = "iter_"
META_FILE = "meta.json"
EVAL_DIR = "evals"  # RUN_DIR/evals/<seats>_<settings>.json: one file per `diverse-marl eval` (evaluation.py)
LEGACY_EVAL_FILE = "eval.json"  # the one evaluation file of runs evaluated before evals/
_ITER_RE = re.compile(r"^iter_(\d+)$")


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it
    os.umask(mask)
    return mask


# read once, at import: setting it to read it on every write would, for that moment, give files made by
# other threads (the LLM cache writes from a thread pool) no umask at all
_UMASK = _read_umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temp file beside ``path`` for writing; on a clean exit it is flushed, synced and renamed
    onto ``path`` (never a half-written file), on an error removed. Its permissions follow the umask
    like a plain ``open`` (``mkstemp`` alone would leave results readable by their owner only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file + rename (never a half-written file)."""
    with atomic_open(path) as f:
        f.write(text)


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    try:
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    return repr(obj)


def new_run_dir(runs_dir: str | os.PathLike, name: str) -> Path:
    """Create ``runs_dir/<name>-<YYYYmmdd-HHMMSS>`` (suffixed ``-2``, ``-3``.. if it exists)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = Path(runs_dir) / f"{_safe(name)}-{stamp}"
    path, i = base, 1
    while True:
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            i += 1
            path = base.with_name(f"{base.name}-{i}")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"


class RunDir:
    """Reads and writes one run directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # ---- layout -----------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def metrics_jsonl(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def metrics_csv(self) -> Path:
        return self.path / "metrics.csv"

    def exists(self) -> bool:
        return self.config_path.exists()

    # ---- metrics ----------------------------------------------------------------------
    def read_metrics(self) -> list[dict[str, Any]]:
        if not self.metrics_jsonl.exists():
            return []
        rows = []
        for line in self.metrics_jsonl.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a torn last line from a crash: ignore it and everything after
        return rows

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite metrics.jsonl and metrics.csv (both atomically) from ``rows``."""
        atomic_write_text(self.metrics_jsonl, "".join(json.dumps(r, default=_json_default) + "\n" for r in rows))
        atomic_write_text(self.metrics_csv, rows_to_csv(rows))

    # ---- checkpoints ------------------------------------------------------------------
    def checkpoint_dirs(self) -> list[Path]:
        """Complete checkpoints (with meta.json), oldest first."""
        if not self.checkpoints.is_dir():
            return []
        found = []
        for p in self.checkpoints.iterdir():
            m = _ITER_RE.match(p.name)
            if m and p.is_dir() and (p / META_FILE).exists():
                found.append((int(m.group(1)), p))
        return [p for _, p in sorted(found)]

    def latest_checkpoint(self) -> Path | None:
        dirs = self.checkpoint_dirs()
        return dirs[-1] if dirs else None

    def save_checkpoint(
        self, iteration: int, save_fn: Callable[[str], Any], meta: dict[str, Any], keep: int = 3
    ) -> Path:
        """Write a checkpoint through ``save_fn(tmp_dir)`` then rename it to ``iter_<n>``.

        A crash before the rename leaves only a ``.tmp-*`` folder, ignored by readers, so the
        previous checkpoint stays the latest usable one.
        """
        self.checkpoints.mkdir(parents=True, exist_ok=True)
        final = self.checkpoints / f"{CHECKPOINT_PREFIX}{iteration:06d}"
        tmp = self.checkpoints / f".tmp-{final.name}-{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        save_fn(str(tmp.resolve()))  # RLlib wants absolute paths (a relative one reads as a bad URI)
        atomic_write_json(tmp / META_FILE, {"iteration": iteration, **meta})
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        self._prune(keep)
        return final

    def _prune(self, keep: int) -> None:
        dirs = self.checkpoint_dirs()
        for p in dirs[: max(0, len(dirs) - keep)]:
            shutil.rmtree(p, ignore_errors=True)
        for p in self.checkpoints.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)


def read_checkpoint_meta(checkpoint: str | os.PathLike) -> dict[str, Any]:
    path = Path(checkpoint) / META_FILE
    if not path.exists():
        raise CheckpointError(
            f"{checkpoint} is not a diverse-marl checkpoint (no {META_FILE}); "
            "pass a run directory or one of its checkpoints/iter_* folders"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, OSError) as exc:
        raise CheckpointError(f"checkpoint {checkpoint} is corrupt: cannot read {META_FILE} ({exc})") from None


def latest_evaluation(run_dir: str | os.PathLike) -> Path | None:
    """The run's newest evaluation file (``evals/*.json``; a run evaluated before those: ``eval.json``)."""
    rd = Path(run_dir)
    found = sorted((rd / EVAL_DIR).glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    if found:
        return found[-1]
    legacy = rd / LEGACY_EVAL_FILE
    return legacy if legacy.exists() else None


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A run dir -> its latest checkpoint; a checkpoint dir -> itself. Raises CheckpointError."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{path} does not exist")
    if (p / META_FILE).exists():
        return p
    latest = RunDir(p).latest_checkpoint()
    if latest is None:
        raise CheckpointError(f"{path} holds no complete checkpoint (expected checkpoints/iter_*/{META_FILE})")
    return latest


# ---- flattening results --------------------------------------------------------------
def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts -> ``{"a/b": scalar}``; non-scalar leaves are dropped."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "/"))
        elif isinstance(v, bool):
            out[key] = int(v)
        elif isinstance(v, (int, float)):
            if isinstance(v, float) and math.isnan(v):
                continue
            out[key] = v
        else:
            try:
                if isinstance(v, np.generic) and np.ndim(v) == 0:
                    out[key] = v.item()
            except ImportError:  # pragma: no cover
                pass
    return out


def rows_to_csv(rows: Iterable[dict[str, Any]]) -> str:
    rows = list(rows)
    columns: list[str] = []
    for r in rows:
        for k in r:
            if k not in columns:
                columns.append(k)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r.get(k, "") for k in columns})
    return buf.getvalue()
