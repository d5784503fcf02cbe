"""The ``diversity:`` block of a run: which intrinsic reward the learner adds, and its settings.

Methods (``method: sipo`` / ``rspo``) write it for each iteration; a user can also set it on a
single run to stay away from archived strategies::

    diversity:
      kind: sipo                 # sipo (state distance) | rspo (trajectory likelihood)
      distance: rbf              # sipo: rbf | wasserstein
      archives: [runs/a/iteration_00/archive.npz]   # sipo: earlier policies' states
      references: [runs/a/iteration_00]             # rspo: earlier policies' run dirs
      state: auto                # auto | diversity_state | state | obs  (see states.py)
      delta: 1.0                 # sipo: required distance from every archived policy
      lambda_lr: 0.05            # dual-ascent step of the multipliers
      lambda_max: 1.0            # multipliers are clipped to [0, lambda_max]
      lambda_init: 0.0
      bandwidth: null            # rbf: kernel bandwidth; null = median heuristic on the archive
      max_intrinsic: 10.0        # per-state cap: each r_j(s) is clipped to [-max_intrinsic, max_intrinsic];
                                 # near delta, wandering farther than needed pays nothing extra
      wd_hidden: 64, wd_lr: 0.001, wd_steps: 5, wd_gp: 10.0   # wasserstein critic
      threshold: 0.5             # rspo: per-step (geometric mean) likelihood ratio pi_j / mu that counts as j's
      novelty_coef: 1.0          # rspo: weight of the novelty reward -log pi_j(a|s)

This module imports nothing from the config module (which checks the block through it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diverse_marl.errors import ConfigError, did_you_mean

KINDS = ("sipo", "rspo")
DISTANCES = ("rbf", "wasserstein")
STATE_SOURCES = ("auto", "diversity_state", "state", "obs")


@dataclass
class DiversitySpec:
    """A run's intrinsic-reward settings (module docstring)."""

    kind: str = "sipo"
    distance: str = "rbf"
    archives: list = field(default_factory=list)
    references: list = field(default_factory=list)
    state: str = "auto"
    delta: float = 1.0
    lambda_lr: float = 0.05
    lambda_max: float = 1.0
    lambda_init: float = 0.0
    bandwidth: float | None = None
    max_intrinsic: float = 10.0
    wd_hidden: int = 64
    wd_lr: float = 1e-3
    wd_steps: int = 5
    wd_gp: float = 10.0
    threshold: float = 0.5
    novelty_coef: float = 1.0
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_CHOICES = {"kind": KINDS, "distance": DISTANCES, "state": STATE_SOURCES}
_NON_NEGATIVE = ("delta", "lambda_lr", "lambda_max", "lambda_init", "novelty_coef")
_POSITIVE = ("max_intrinsic", "wd_hidden", "wd_lr", "wd_steps")


def parse_diversity(block: Any, where: str = "diversity") -> DiversitySpec:
    """``block`` as a :class:`DiversitySpec`; one ConfigError naming the key and the allowed values."""
    if isinstance(block, DiversitySpec):
        return block
    if not isinstance(block, dict):
        raise ConfigError(f"{where}: expected a mapping, got {block!r}")
    fields = {f.name: f for f in dataclasses.fields(DiversitySpec)}
    defaults = DiversitySpec()
    kwargs = {}
    for key, value in block.items():
        if key not in fields:
            did = did_you_mean(key, fields)
            raise ConfigError(f"unknown key {where}.{key}{did}; allowed: {', '.join(fields)}")
        default = getattr(defaults, key)
        if key in ("archives", "references"):
            if not isinstance(value, list) or not all(isinstance(v, (str, Path)) for v in value):
                raise ConfigError(f"{where}.{key}: expected a list of paths, got {value!r}")
            value = [str(v) for v in value]
        elif key == "bandwidth":
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ConfigError(f"{where}.bandwidth: expected a positive number or null, got {value!r}")
        elif isinstance(default, str):
            if value not in _CHOICES[key]:
                raise ConfigError(f"unknown {where}.{key} {value!r}; allowed: {', '.join(_CHOICES[key])}")
        elif isinstance(default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{where}.{key}: expected a number, got {value!r}")
            value = type(default)(value)
        kwargs[key] = value
    spec = DiversitySpec(**kwargs)
    for key in _NON_NEGATIVE:
        if getattr(spec, key) < 0:
            raise ConfigError(f"{where}.{key} must be >= 0, got {getattr(spec, key)}")
    for key in _POSITIVE:
        if getattr(spec, key) <= 0:
            raise ConfigError(f"{where}.{key} must be > 0, got {getattr(spec, key)}")
    if not 0 < spec.threshold < 1:
        raise ConfigError(f"{where}.threshold must be a likelihood ratio in (0, 1), got {spec.threshold}")
    if spec.kind == "sipo":
        for p in spec.archives:
            if not Path(p).is_file():
                raise ConfigError(f"{where}.archives: no archive file {p!r}")
    else:
        for p in spec.references:
            if not Path(p).exists():
                raise ConfigError(f"{where}.references: no run directory {p!r}")
    return spec
