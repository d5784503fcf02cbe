"""RSPO, reward-switching policy optimization (Zhou et al., ICLR 2022), as iterations of MAPPO runs.

Iteration k trains on the task reward, except that an episode chunk an earlier iteration's policy
would likely have produced is trained on a novelty reward ``novelty_coef * -log pi_j(a|s)`` instead,
pushing the policy off the earlier strategies' trajectories (``algorithms/diversity/terms.py``).
"Likely" is a likelihood ratio against the policy that acted: the chunk's per-step geometric mean
of ``pi_j(a|s) / mu(a|s)`` above ``threshold`` (the paper's test on an earlier policy's trajectory
likelihood; against ``mu`` instead of a fixed level so that it separates stochastic policies)::

    method:
      name: rspo
      iterations: 4
      threshold: 0.5          # likelihood ratio pi_j / mu above which a chunk counts as j's
      novelty_coef: 1.0
      eval_episodes: null

The layout, resume, report and ``load_population`` are SIPO's (``sipo.py``) without archives:
``RSPO_DIR/iteration_00/``, ..., ``rspo.json``, ``report.md``, ``population.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from diverse_marl.algorithms.methods.sipo import finish, run_iterations, split_block, start, validate
from diverse_marl.config import ExperimentConfig
from diverse_marl.training import TrainResult

__all__ = ["run", "validate"]


def run(cfg: ExperimentConfig, run_dir: str | os.PathLike, *, resume: bool = False, quiet: bool = False) -> TrainResult:
    """Train the K RSPO iterations into ``run_dir`` (with ``resume``: continue where it stopped)."""
    _, terms = split_block(cfg)
    root = start(cfg, run_dir)

    def block(k: int, earlier: list[Path]) -> dict[str, Any]:
        return {"kind": "rspo", **terms, "references": [str(d) for d in earlier]} if k else {}

    dirs = run_iterations(cfg, root, block, archive=False, resume=resume, quiet=quiet)
    return finish(cfg, root, dirs, quiet)
