"""Diversity methods: pipelines that decide which runs to make, and how to select among them.

A config's ``method: {name: ..., ...}`` block names one. A method never reaches inside the
trainer: it builds ordinary configs (populations of runs, warm starts, reward weights), trains
them with :func:`diverse_marl.population_train.train_population`, and writes its own results
into its run directory. Methods are looked up by import path, so the config module (which
validates the block) and the methods (which build configs) do not import each other.

A method module provides ``validate(cfg)`` (ConfigError on a bad block), ``run(cfg, run_dir,
resume, quiet) -> TrainResult``, and writes ``<name>.json`` into its run directory with a
``best_run_dir`` entry (relative to the run dir) that :func:`best_run_dir` follows.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

from diverse_marl.errors import CheckpointError, ConfigError, did_you_mean

# the values of ``method.name``
METHODS: dict[str, str] = {
    "rpg": "diverse_marl.algorithms.methods.rpg",
    "sipo": "diverse_marl.algorithms.methods.sipo",
    "rspo": "diverse_marl.algorithms.methods.rspo",
    "hsp": "diverse_marl.algorithms.methods.hsp",
    "fcp": "diverse_marl.algorithms.methods.fcp",
    "mep": "diverse_marl.algorithms.methods.mep",
}
BEST_KEY = "best_run_dir"


def get_method(block: Any) -> ModuleType:
    """The module of ``method.name``; ConfigError for a missing or unknown name, listing the known ones."""
    if not isinstance(block, dict) or "name" not in block:
        raise ConfigError(
            f"method: expected a mapping with a name (one of: {', '.join(sorted(METHODS))}), got {block!r}"
        )
    name = block["name"]
    if name not in METHODS:
        did = did_you_mean(name, METHODS)
        raise ConfigError(f"unknown method {name!r}{did}; allowed: {', '.join(sorted(METHODS))}")
    return importlib.import_module(METHODS[name])


def best_run_dir(path: str | os.PathLike) -> Path:
    """A method's run dir -> the run dir of its best policy; any other path is returned as given."""
    p = Path(path)
    for name in METHODS:
        result = p / f"{name}.json"
        if result.is_file():
            try:
                best = json.loads(result.read_text(encoding="utf-8"))[BEST_KEY]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise CheckpointError(f"{str(result)!r} is corrupt or unfinished (no {BEST_KEY}: {exc})") from None
            if best is None:
                raise CheckpointError(
                    f"{str(p)!r}: the {name} run has not finished; continue it with diverse-marl train --resume {p}"
                )
            return p / best
    return p
