"""RSPO, reward-switching policy optimization (Zhou et al., ICLR 2022), as iterations of MAPPO runs.

Iteration k trains on the task reward, except that an episode chunk an earlier iteration's policy
that scored (``sipo.strategies``) would likely have produced is trained on a novelty reward
``-log pi_j(a|s)`` instead, pushing the policy off the earlier strategies' trajectories
(``algorithms/diversity/terms.py``). "Likely" is a likelihood ratio against the policy that acted:
the chunk's per-step geometric mean of ``pi_j(a|s) / mu(a|s)`` above ``threshold`` (the paper's test
on an earlier policy's trajectory likelihood; against ``mu`` instead of a fixed level so that it
separates stochastic policies).
The novelty is capped at ``max_intrinsic`` and paid within SIPO's per-episode budget
(``intrinsic_share`` x the earlier runs' measured per-agent return, at most ``novelty_coef`` budgets
an episode), so repeating an old strategy pays a fraction of what finishing a new one pays::

    method:
      name: rspo
      iterations: 4
      threshold: 0.5          # likelihood ratio pi_j / mu above which a chunk counts as j's
      novelty_coef: 1.0       # a switched episode earns at most novelty_coef x the budget
      intrinsic_share: 0.1    # the budget, as a share of the earlier runs' per-agent return
      eval_episodes: null

What changed (issue 25): the novelty used to be paid unscaled (up to ``max_intrinsic`` = 10 per step
against a goal reward of 1), so a switched iteration learned to act unlike j, not to reach another
goal: of 15 iterations after the first on the multi-goal grid, 6 reached no goal (1.6 distinct corners
over 5 seeds against 3.0 for MAPPO restarts).

The layout, resume, report and ``load_population`` are SIPO's (``sipo.py``) without archives:
``RSPO_DIR/iteration_00/``, ..., ``rspo.json``, ``report.md``, ``population.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from diverse_marl.algorithms.diversity.terms import reference_return
from diverse_marl.algorithms.methods.sipo import finish, run_iterations, split_block, start, strategies, validate
from diverse_marl.config import ExperimentConfig
from diverse_marl.training import TrainResult

__all__ = ["run", "validate"]


def run(cfg: ExperimentConfig, run_dir: str | os.PathLike, *, resume: bool = False, quiet: bool = False) -> TrainResult:
    """Train the K RSPO iterations into ``run_dir`` (with ``resume``: continue where it stopped)."""
    _, terms = split_block(cfg)
    root = start(cfg, run_dir)

    def block(k: int, earlier: list[Path]) -> dict[str, Any]:
        if k == 0:
            return {}
        return {"kind": "rspo", **terms, "references": [str(d) for d in strategies(earlier, reference_return)]}

    dirs = run_iterations(cfg, root, block, archive=False, resume=resume, quiet=quiet)
    return finish(cfg, root, dirs, quiet)
