"""Experiment configs small enough for tests: stock PPO on a 5-step Stag Hunt trains an iteration in a second."""

from __future__ import annotations

TINY_PPO = {
    "name": "tiny",
    "algorithm": "ppo",
    "env": "stag_hunt",
    "env_config": {"horizon": 5},
    "seed": 3,
    "stop": {"iterations": 2},
    "checkpoint_every": 1,
    "keep_checkpoints": 2,
    "training": {"train_batch_size": 100, "minibatch_size": 50, "num_epochs": 1, "hidden_sizes": [16]},
}
