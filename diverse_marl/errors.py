"""Errors that users fix themselves: the CLI prints them as one line and exits with code 2."""

from __future__ import annotations


class DiverseMarlError(Exception):
    """Base class for user-facing errors (bad config, unknown name, corrupt file)."""


class ConfigError(DiverseMarlError, ValueError):
    """A config key, value or name is invalid; the message names it and what is allowed."""


class CheckpointError(DiverseMarlError):
    """A checkpoint is missing or corrupt."""


class MemberFailedError(DiverseMarlError):
    """Population members crashed; the message names them, where their full errors are, and how to resume."""
