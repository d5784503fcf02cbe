"""Reward parameters that change during training, keyed on the trainer's *global* env-step count.

A config's ``reward_schedule`` maps a reward parameter to piecewise-linear points
``[[env_steps, value], ...]`` over the algorithm's lifetime env-step count (all env runners
together, restored from checkpoints)::

    reward_schedule:
      shaping_factor: [[0, 1.0], [2500000, 0.0]]       # Overcooked's shaping anneal
      reward_weights.sparse: [[0, 0.0], [1000000, 1.0]]  # one weight of env_config.reward_weights

Before the first point the first value holds, after the last point the last value. Parameters
are an env's ``REWARD_PARAMS`` (Overcooked: ``shaping_factor``) or ``reward_weights.<feature>``
(needs ``env_config.reward_weights``, whose other weights stay fixed). The values are pushed
into every env by ``diverse_marl.callbacks.RewardScheduleCallback`` through the envs'
``set_reward_params``; the envs themselves never count steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from diverse_marl.errors import ConfigError, did_you_mean

WEIGHT_PREFIX = "reward_weights."


@dataclass(frozen=True)
class RewardSchedule:
    """Piecewise-linear reward parameters; ``values(env_steps)`` is what ``set_reward_params`` receives."""

    points: dict[str, tuple[tuple[int, ...], tuple[float, ...]]]  # name -> (steps, values)
    base_weights: dict[str, float] | None = field(default=None)  # env_config.reward_weights

    @classmethod
    def parse(cls, spec: Mapping[str, Any], base_weights: Mapping[str, float] | None = None) -> RewardSchedule:
        """Validate a config's ``reward_schedule`` block (shape and numbers only; names: :meth:`check_names`)."""
        if not isinstance(spec, Mapping):
            raise ConfigError(f"reward_schedule must be a mapping parameter -> [[env_steps, value], ...], got {spec!r}")
        points = {}
        for name, pts in spec.items():
            points[str(name)] = _parse_points(f"reward_schedule.{name}", pts)
        if any(n.startswith(WEIGHT_PREFIX) for n in points) and base_weights is None:
            raise ConfigError(
                "reward_schedule schedules reward_weights.<feature> but env_config.reward_weights is not "
                "set; give the starting weights there (e.g. reward_weights: {sparse: 1.0})"
            )
        return cls(points, None if base_weights is None else dict(base_weights))

    def check_names(self, reward_params: Sequence[str], feature_names: Sequence[str], env: str) -> None:
        """Every scheduled name must be a reward parameter of ``env`` or ``reward_weights.<feature>``."""
        allowed = [*reward_params, *(WEIGHT_PREFIX + f for f in feature_names)]
        for name in self.points:
            if name not in allowed:
                did = did_you_mean(name, allowed)
                raise ConfigError(
                    f"unknown reward_schedule parameter {name!r}{did} for env {env!r}; allowed: "
                    f"{', '.join(allowed) or '(none: the env takes no reward parameters)'}"
                )

    def values(self, env_steps: int) -> dict[str, Any]:
        """Keyword arguments for ``set_reward_params`` at ``env_steps`` global env steps."""
        out: dict[str, Any] = {}
        weights = None
        for name, (steps, vals) in self.points.items():
            value = float(np.interp(env_steps, steps, vals))
            if name.startswith(WEIGHT_PREFIX):
                weights = dict(self.base_weights or {}) if weights is None else weights
                weights[name[len(WEIGHT_PREFIX) :]] = value
            else:
                out[name] = value
        if weights is not None:
            out["reward_weights"] = weights
        return out

    def __bool__(self) -> bool:
        return bool(self.points)


def flat_values(values: Mapping[str, Any]) -> dict[str, float]:
    """``values()`` as flat ``{name: float}`` (weights as ``reward_weights.<feature>``), for metrics."""
    out = {}
    for name, value in values.items():
        if isinstance(value, Mapping):
            out.update({f"{name}.{k}": float(v) for k, v in value.items()})
        else:
            out[name] = float(value)
    return out


def _parse_points(where: str, pts: Any) -> tuple[tuple[int, ...], tuple[float, ...]]:
    form = "a list of [env_steps, value] pairs with increasing env_steps, e.g. [[0, 1.0], [2500000, 0.0]]"
    if not isinstance(pts, (list, tuple)) or not pts:
        raise ConfigError(f"{where}: expected {form}, got {pts!r}")
    steps, values = [], []
    for pt in pts:
        numbers = [_number(v) for v in pt] if isinstance(pt, (list, tuple)) and len(pt) == 2 else [None]
        if None in numbers:
            raise ConfigError(f"{where}: expected {form}, got the point {pt!r}")
        step, value = numbers
        if step < 0 or float(step) != int(step):
            raise ConfigError(f"{where}: env_steps must be integers >= 0, got {step!r}")
        if steps and int(step) <= steps[-1]:
            raise ConfigError(f"{where}: env_steps must increase, got {int(step)} after {steps[-1]}")
        steps.append(int(step))
        values.append(float(value))
    return tuple(steps), tuple(values)


def _number(v: Any) -> float | None:
    """A YAML number (YAML 1.1 reads ``2.5e6`` as a string), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return v
    try:
        return float(v)
    except (TypeError, ValueError):
        return None
