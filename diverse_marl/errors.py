"""Errors that users fix themselves: the CLI prints them as one line and exits with code 2."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DiverseMarlError(Exception):
    """Base class for user-facing errors (bad config, unknown name, corrupt file)."""


class ConfigError(DiverseMarlError, ValueError):
    """A config key, value or name is invalid; the message names it and what is allowed."""


class CheckpointError(DiverseMarlError):
    """A checkpoint is missing or corrupt."""


class MemberFailedError(DiverseMarlError):
    """Population members crashed; the message names them, where their full errors are, and how to resume."""


def did_you_mean(name: object, allowed: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the allowed name closest to ``name``, or ``""`` if none is close.

    Every "unknown NAME" message appends it: ``f"unknown env {name!r}{did_you_mean(name, envs)}; allowed: ..."``.
    """
    hint = difflib.get_close_matches(str(name), list(allowed), n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else ""
