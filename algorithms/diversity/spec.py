"""The ``diversity:`` block of a run: which intrinsic reward the learner adds, and its settings.

Methods (``method: sipo`` / ``rspo``) write it for each iteration; a user can also set it on a
single run to stay away from archived strategies::

    diversity:
      kind: sipo                 # sipo (state distance) | rspo (trajectory likelihood)
      distance: rbf              # sipo: rbf | wasserstein
      archives: [runs/a/iteration_00/archive.npz]   # sipo: earlier policies' states
      references: [runs/a/iteration_00]             # rspo: earlier policies' run dirs
      state: auto                # auto | diversity_state | state | obs  (see states.py)
      delta: 0.5                 # sipo: required mean distance from every archived policy, in distance_scale
                                 # units (0.5: about one bandwidth, the archive's median pairwise distance, away)
      max_intrinsic: 2.0         # sipo: per-state cap on each r_j(s), in distance_scale units (far-off
                                 # wandering pays no more than a state four deltas away);
                                 # rspo: cap on the novelty -log pi_j(a|s)
      distance_scale: null       # sipo: null = the archive's own unit (rbf: 1, r_j is already in bandwidth
                                 # units; wasserstein: the archive's median pairwise distance); a number = absolute
      intrinsic_share: 0.1       # the intrinsic return of one episode is within +-share * return_scale
                                 # (times the share of the earlier policies' task reward per step that the
                                 # current policy earns: ~0 until it can finish the task)
      return_scale: null         # null = measured: the earlier policies' mean |episode return| per agent
      lambda_lr: 0.2             # sipo: dual-ascent step of the multipliers
      lambda_max: 1.0            # sipo: multipliers are clipped to [0, lambda_max]; at 1 an episode that
                                 # repeats an archived policy loses the whole budget
      lambda_init: 0.5           # sipo: repel from the start, before the policy settles on an old strategy
      bandwidth: null            # rbf: kernel bandwidth; null = median heuristic on the archive
      wd_hidden: 64, wd_lr: 0.001, wd_steps: 5, wd_gp: 10.0   # wasserstein critic
      threshold: 0.5             # rspo: per-step (geometric mean) likelihood ratio pi_j / mu that counts as j's
      novelty_coef: 1.0          # rspo: weight of the novelty reward, in units of the episode budget

Why these scales (``terms.py`` has the math): the intrinsic term is *paid per episode* and bounded by
``intrinsic_share * return_scale``, so with a share below 1/2 it can never make not finishing an
episode worth more than finishing it (a finished episode keeps more than half of its task return
after any intrinsic penalty, an unfinished one gains less than that). ``delta`` and the cap are
in the archive's own distance unit (its median pairwise distance), so they carry over between envs
whose state vectors have different scales. When they do not fit: a larger ``intrinsic_share`` (up to 0.5) buys
diversity with task return (each iteration may give up at most ``2 * share`` of ``return_scale``); set
``distance_scale`` when an archived policy's states are so spread (or so concentrated) that its
median pairwise distance is no good unit for "a different strategy"; set ``return_scale``
when the earlier policies never scored (it falls back to 1.0) or their returns mislead (e.g. large
shaped rewards).

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
    delta: float = 0.5
    max_intrinsic: float = 2.0
    distance_scale: float | None = None
    intrinsic_share: float = 0.1
    return_scale: float | None = None
    lambda_lr: float = 0.2
    lambda_max: float = 1.0
    lambda_init: float = 0.5
    bandwidth: float | None = None
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
_NON_NEGATIVE = ("lambda_lr", "lambda_max", "lambda_init", "novelty_coef")
_POSITIVE = ("delta", "max_intrinsic", "wd_hidden", "wd_lr", "wd_steps")
_OPTIONAL_POSITIVE = ("bandwidth", "distance_scale", "return_scale")
MAX_SHARE = 0.5  # intrinsic_share below this: finishing always beats not finishing (module docstring)


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
        elif key in _OPTIONAL_POSITIVE:
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ConfigError(f"{where}.{key}: expected a positive number or null, got {value!r}")
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
    if not 0 < spec.intrinsic_share < MAX_SHARE:
        raise ConfigError(
            f"{where}.intrinsic_share must be in (0, {MAX_SHARE}) (at {MAX_SHARE} or more the intrinsic "
            f"term can outweigh finishing the task), got {spec.intrinsic_share}"
        )
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
