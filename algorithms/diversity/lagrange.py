"""Lagrange multipliers of SIPO's constraints ``distance_j >= delta``, by projected dual ascent.

The constraint is written as its relative slack ``g_j = (distance_j - delta) / delta >= 0`` (so a
multiplier of 1 weighs a full violation, ``distance_j = 0``, as one unit of the intrinsic budget,
whatever ``delta``). The Lagrangian ``J(pi) + sum_j lambda_j g_j`` is maximized over the policy (the
intrinsic return, ``terms.py``) and minimized over ``lambda >= 0``: after each batch,
``lambda_j <- clip(lambda_j - lambda_lr * g_j, 0, lambda_max)``. A violated
constraint (distance below delta) raises its multiplier, a satisfied one lowers it toward 0, so
the policy goes back to the task reward once it is far enough from every earlier strategy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


class DualAscent:
    """``lambda_j >= 0``, one per constraint; ``update(distances)`` is one projected ascent step."""

    def __init__(self, num: int, *, delta: float, lr: float, lambda_max: float, init: float = 0.0) -> None:
        self.delta, self.lr, self.lambda_max = float(delta), float(lr), float(lambda_max)
        self.lambdas = np.full(int(num), float(np.clip(init, 0.0, lambda_max)))

    def update(self, distances: Sequence[float]) -> np.ndarray:
        d = np.asarray(distances, dtype=np.float64)
        slack = (d - self.delta) / self.delta
        self.lambdas = np.clip(self.lambdas - self.lr * slack, 0.0, self.lambda_max)
        return self.lambdas

    def get_state(self) -> dict[str, Any]:
        return {"lambdas": self.lambdas.tolist()}

    def set_state(self, state: dict[str, Any]) -> None:
        self.lambdas = np.asarray(state["lambdas"], dtype=np.float64)
