"""``algorithm: bc`` as an algorithm family: its options, its own training loop, its policies.

BC is supervised and needs no RLlib: the family has no RLlib config to ``build``; instead it offers
``run_single`` (``diverse_marl.training.run_single`` hands it the run), which trains in this process.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from diverse_marl.errors import ConfigError
from diverse_marl.loading import load_policy

if TYPE_CHECKING:  # type hints only
    from diverse_marl.config import ExperimentConfig
    from diverse_marl.training import TrainHooks, TrainResult

TRAINER_MODULE = "diverse_marl.algorithms.bc.trainer"  # its epoch loop (imports torch, the config, training)
# option -> (default, one line of documentation)
OPTIONS: dict[str, tuple[Any, str]] = {
    "data_dir": ("data/human", "folder of converted trials <layout>_<split>.json.gz (`make human-data`)"),
    "half": (
        "bc",
        "which half of the human pairs to fit: 'bc' (train file; the partner agents train with, BCP) or "
        "'proxy' (test file; H_proxy, the evaluation partner); the other half is the held-out data",
    ),
    "history": (3, "own last actions given to the network as input (one-hot; 0: the observation only)"),
    "hidden_sizes": ([64, 64], "MLP hidden layers (Carroll et al. 2019: two layers of 64)"),
    "lr": (1e-3, "Adam learning rate"),
    "weight_decay": (0.0, "Adam weight decay"),
    "batch_size": (64, "samples per gradient step"),
    "validation_fraction": (0.15, "share of the fitted half's trials held out for early stopping"),
    "patience": (20, "epochs without a lower validation loss before training stops (best weights kept)"),
    "stuck_steps": (3, "anti-stuck rule: steps unchanged before the actions tried are masked (0: off)"),
    "eval_episodes": (10, "episodes of the policy paired with itself for the report"),
}


class BCFamily:
    """The ``bc`` algorithm family (see ``diverse_marl.algorithms.family.AlgorithmFamily``)."""

    name = "bc"

    def build(self, cfg: ExperimentConfig) -> Any:
        raise ConfigError(
            "algorithm bc trains without RLlib, one run at a time: use it as a single run "
            "(no population, partners or reward_schedule)"
        )

    def option_defaults(self) -> dict[str, Any]:
        return {k: v[0] for k, v in OPTIONS.items()}

    def option_docs(self) -> dict[str, str]:
        return {k: v[1] for k, v in OPTIONS.items()}

    def load_policy(self, path: Any, policy_id: str | None = None) -> Any:
        return load_policy(path, policy_id)

    def run_single(
        self,
        cfg: ExperimentConfig,
        run_dir: str | os.PathLike,
        hooks: TrainHooks | None = None,
        *,
        resume: bool = False,
        quiet: bool = False,
    ) -> TrainResult:
        # by import path: the trainer sits above the config and the training loop it is handed from
        train_bc = importlib.import_module(TRAINER_MODULE).train_bc
        return train_bc(cfg, run_dir, hooks, resume=resume, quiet=quiet)


BC = BCFamily()
