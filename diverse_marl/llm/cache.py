"""On-disk reply cache: the same (model, messages, settings) gets the same reply, for free.

One JSON file per key (``sha256`` of the canonical JSON of the three), in two-letter shard
folders. Files are written atomically (temp file + rename), so a crash never leaves half a
reply; an unreadable file counts as a miss and is rewritten. Safe to share between threads and
processes: the worst case is two identical writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from diverse_marl.run_dir import atomic_open


def cache_key(model: str, messages: Sequence[dict[str, str]], settings: dict[str, Any]) -> str:
    """sha256 hex digest of the canonical JSON of ``(model, messages, settings)``."""
    blob = json.dumps(
        {"model": model, "messages": list(messages), "settings": settings},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ResponseCache:
    """``get(key) -> dict | None`` and ``put(key, value)`` over a folder; counts hits and misses."""

    def __init__(self, directory: str | os.PathLike) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()

    def _path(self, key: str) -> Path:
        return self.dir / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        try:
            value = json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            value = None
        hit = isinstance(value, dict) and isinstance(value.get("content"), str)
        with self._lock:
            if hit:
                self.hits += 1
            else:
                self.misses += 1
        return value if hit else None

    def put(self, key: str, value: dict[str, Any]) -> None:
        with atomic_open(self._path(key)) as f:
            json.dump(value, f, ensure_ascii=False)

    def __len__(self) -> int:
        return sum(1 for _ in self.dir.glob("??/*.json"))
