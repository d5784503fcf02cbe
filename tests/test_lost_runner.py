"""Runs survive a lost env runner: its process is SIGKILLed mid-run, RLlib's fault tolerance
restarts the actor, the reward schedule is pushed into the new runner's envs and the run
finishes with every iteration, each on a whole batch (real MAPPO, real Ray, real SIGKILL)."""

from __future__ import annotations

import os
import signal

import pytest

import diverse_marl
from diverse_marl.callbacks import reward_targets
from diverse_marl.training import TrainHooks

BATCH = 400
ITERATIONS = 5
ANNEAL_STEPS = 4 * BATCH  # the weight of `one` goes 1 -> 0 over the first 4 iterations


def runner_pids(pid_file) -> list[int]:
    """Processes that built the env, but this one (the driver builds a probe env)."""
    pids = [int(line) for line in pid_file.read_text().split()] if pid_file.exists() else []
    return [p for p in pids if p != os.getpid()]


def runner_weights(algo) -> list[dict]:
    """The reward weights each remote runner's envs hold now (waits for a sample in flight)."""

    def weights(runner):
        return [getattr(env, "reward_weights", None) for env in reward_targets(runner)]

    return algo.env_runner_group.foreach_env_runner(weights, local_env_runner=False)


@pytest.mark.parametrize("async_sampling", [True, False])
def test_sigkilled_env_runner_is_restarted_and_the_run_keeps_every_iteration(ray_local, tmp_path, async_sampling):
    pid_file = tmp_path / "runner_pids"
    seen: dict = {"weights": []}

    def on_start(algo):
        seen["algo"] = algo

    def on_iteration(row):
        if row["iteration"] == 2:  # a batch is in flight (async) or about to be sampled (sync)
            pids = runner_pids(pid_file)
            assert len(set(pids)) == 1, pids  # the one remote runner
            os.kill(pids[0], signal.SIGKILL)
            seen["killed"] = pids[0]
        if row["iteration"] >= 4:  # (at 3 the runner may still be restarting: no envs to ask)
            seen["weights"].append((row["reward_schedule/reward_weights.one"], runner_weights(seen["algo"])))

    result = diverse_marl.train(
        {
            "name": "lost-runner",
            "env": "tests.user_envs:make_env",
            "env_config": {"horizon": 5, "pid_file": str(pid_file), "reward_weights": {"one": 1.0, "zero": 0.0}},
            "reward_schedule": {"reward_weights.one": [[0, 1.0], [ANNEAL_STEPS, 0.0]]},
            "num_env_runners": 1,
            "seed": 0,
            "stop": {"iterations": ITERATIONS},
            "checkpoint_every": 1,
            "training": {
                "train_batch_size": BATCH,
                "num_epochs": 1,
                "hidden_sizes": [16],
                "num_envs_per_env_runner": 2,
                "async_sampling": async_sampling,
            },
        },
        run_dir=tmp_path / "run",
        hooks=TrainHooks(on_start=on_start, on_iteration=on_iteration),
        quiet=True,
    )
    pids = runner_pids(pid_file)
    assert seen["killed"] in pids and len(set(pids)) == 2, pids  # the killed runner and its successor
    # every iteration, each on a whole batch: the lost batch was sampled again
    assert [r["iteration"] for r in result.metrics] == list(range(1, ITERATIONS + 1))
    assert [r["env_steps"] for r in result.metrics] == [BATCH * i for i in range(1, ITERATIONS + 1)]
    # the schedule went on (global env steps kept) and reached the new runner's envs
    assert [r["reward_schedule/reward_weights.one"] for r in result.metrics] == pytest.approx([0.75, 0.5, 0.25, 0, 0])
    assert len(seen["weights"]) == ITERATIONS - 3
    for scheduled, runners in seen["weights"]:
        assert runners == [[{"one": pytest.approx(scheduled), "zero": 0.0}] * 2]
