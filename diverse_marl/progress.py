"""Progress bars for long work; silent with ``--quiet`` or when ``CI=true``."""

from __future__ import annotations

import os
import sys
from typing import Any

from tqdm.auto import tqdm


def progress_enabled(quiet: bool = False) -> bool:
    if quiet:
        return False
    return os.environ.get("CI", "").lower() not in ("1", "true", "yes")


class Progress:
    """A thin tqdm wrapper: ``update(n, **postfix)``; does nothing when disabled."""

    def __init__(self, total: float | None, desc: str, unit: str = "it", quiet: bool = False, initial: float = 0):
        self.enabled = progress_enabled(quiet)
        self.bar = (
            tqdm(total=total, desc=desc, unit=unit, initial=initial, dynamic_ncols=True, file=sys.stderr, leave=True)
            if self.enabled
            else None
        )
        self._shown: dict[str, str] = {}

    def update(self, n: float = 1, **postfix: Any) -> None:
        if self.bar is None:
            return
        if postfix:
            self._shown = {**self._shown, **{k: _fmt(v) for k, v in postfix.items()}}
            self.bar.set_postfix(self._shown, refresh=False)
        self.bar.update(n)

    def note(self, **postfix: Any) -> None:
        """Update the shown values without advancing (e.g. live per-member metrics)."""
        if self.bar is not None and postfix:
            self._shown = dict(sorted({**self._shown, **{k: _fmt(v) for k, v in postfix.items()}}.items()))
            self.bar.set_postfix(self._shown)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.0f}"
    return str(v)
