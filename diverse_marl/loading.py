"""Reading trained policies back: a run dir, a method's run dir or a checkpoint -> a torch policy.

No Ray and no unpickling (weights come from the safe checkpoint format); torch is imported on
the first load, so modules that may load a policy import this one at no cost. This is what the
package facade's ``diverse_marl.load_policy`` / ``load_module_state`` re-export; modules inside
the package import it from here, never from the facade.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from diverse_marl.algorithms.methods import best_run_dir

if TYPE_CHECKING:  # type hints only
    from diverse_marl.algorithms.mappo.export import TorchPolicy


def load_policy(path: str | os.PathLike, policy_id: str | None = None, seed: int | None = None) -> TorchPolicy:
    """A run dir or checkpoint -> a plain torch policy callable on numpy batches (no Ray, no unpickling).

    ``policy_id``: a policy id or an agent name (mapped through the run's policy mapping).
    A method's run dir (e.g. RPG's) gives its best run's policy.
    """
    from diverse_marl.algorithms.mappo.export import load_policy as load_run_policy  # torch: on first load

    return load_run_policy(best_run_dir(path), policy_id, seed=seed)


def load_module_state(path: str | os.PathLike, policy_id: str | None = None) -> dict[str, Any]:
    """A policy's full module state ``{name: tensor}`` (actor, critic, value-norm stats) for warm starts (no Ray)."""
    from diverse_marl.algorithms.safe_checkpoint import load_module_state as load_state  # torch: on first load

    return load_state(path, policy_id)


__all__ = ["load_policy", "load_module_state"]
