"""The reward schedule: piecewise-linear values, validation, and real MAPPO runs where the envs' shaping
factor follows the trainer's global env-step count (vectorized runner, resume, remote stock runner)."""

from __future__ import annotations

import pytest
from test_reward_features import CoinEnv  # noqa: F401  (registers the user env "test_coin")

import diverse_marl
from diverse_marl.callbacks import RESULT_KEY, global_env_steps, reward_targets
from diverse_marl.config import load_config
from diverse_marl.errors import ConfigError
from diverse_marl.reward_schedule import RewardSchedule
from diverse_marl.run_dir import RunDir, read_checkpoint_meta

VECTOR_RUNNER = "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner"
HORIZON, NUM_ENVS = 10, 4
STEPS_PER_ITER = HORIZON * NUM_ENVS
ANNEAL = 3 * STEPS_PER_ITER + STEPS_PER_ITER // 2  # ends mid-iteration 4: values 1, 0.71, 0.43, 0.14, 0

TINY = {
    "name": "schedule",
    "algorithm": "mappo",
    "env": "overcooked",
    "env_config": {"horizon": HORIZON, "shaping_factor": 0.3},  # replaced by the schedule from step 0 on
    "reward_schedule": {"shaping_factor": [[0, 1.0], [ANNEAL, 0.0]]},
    "seed": 1,
    "stop": {"iterations": 2},
    "checkpoint_every": 1,
    "training": {
        "train_batch_size": STEPS_PER_ITER,
        "num_envs_per_env_runner": NUM_ENVS,
        "num_epochs": 1,
        "hidden_sizes": [16],
        "env_runner_cls": VECTOR_RUNNER,
    },
}


def expected(steps: int) -> float:
    return max(0.0, 1.0 - steps / ANNEAL)


def env_factors(algo, local: bool = True) -> list[float]:
    """Shaping factors of every env in the algorithm's env runners."""
    per_runner = algo.env_runner_group.foreach_env_runner(
        lambda runner: [env.shaping_factor for env in reward_targets(runner)], local_env_runner=local
    )
    return [f for factors in per_runner for f in factors]


# ---- the schedule itself ---------------------------------------------------------------------------------
def test_values_are_piecewise_linear_and_clamped():
    s = RewardSchedule.parse({"shaping_factor": [[100, 1.0], [300, 0.0], [400, 0.5]]})
    assert [s.values(n)["shaping_factor"] for n in (0, 100, 200, 300, 350, 400, 10**9)] == pytest.approx(
        [1.0, 1.0, 0.5, 0.0, 0.25, 0.5, 0.5]
    )


def test_scheduled_weights_merge_into_the_fixed_ones():
    s = RewardSchedule.parse(
        {"reward_weights.sparse": [[0, 0.0], [10, 1.0]], "shaping_factor": [[0, 2.0]]},
        base_weights={"sparse": 5.0, "move": -1.0},
    )
    assert s.values(5) == {"shaping_factor": 2.0, "reward_weights": {"sparse": 0.5, "move": -1.0}}


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"shaping_factor": 1.0}, "expected a list of \\[env_steps, value\\] pairs"),
        ({"shaping_factor": [[0, 1.0], [0, 0.5]]}, "env_steps must increase, got 0 after 0"),
        ({"shaping_factor": [[-5, 1.0]]}, "env_steps must be integers >= 0"),
        ({"shaping_factor": [[0, "high"]]}, "got the point \\[0, 'high'\\]"),
        (
            {"shaping_factr": [[0, 1.0]]},
            "unknown reward_schedule parameter 'shaping_factr' \\(did you mean "
            "'shaping_factor'\\?\\) for env 'overcooked'; allowed: shaping_factor, "
            "random_start, reward_weights.onion_pickup_dispenser",
        ),
        ({"reward_weights.sparse": [[0, 1.0]]}, "env_config.reward_weights is not set"),
    ],
)
def test_bad_schedules_fail_in_config_validation(spec, message):
    with pytest.raises(ConfigError, match=message):
        load_config({**TINY, "reward_schedule": spec})


def test_a_schedule_needs_an_env_that_takes_the_parameter():
    with pytest.raises(
        ConfigError,
        match="unknown reward_schedule parameter 'shaping_factor' for env 'stag_hunt'; "
        "allowed: reward_weights.stag_stag",
    ):
        load_config({**TINY, "env": "stag_hunt", "env_config": {}})


# ---- real MAPPO runs ---------------------------------------------------------------------------------------
def test_shaping_factor_follows_the_global_step_count(ray_local):
    algo = load_config(TINY).to_rllib().build_algo()
    try:
        assert env_factors(algo) == [1.0]  # pushed at algorithm init: the schedule's value at step 0
        seen = []
        for _ in range(5):
            result = algo.train()
            steps = global_env_steps(algo)
            assert steps == result["env_runners"]["num_env_steps_sampled_lifetime"] == STEPS_PER_ITER * (len(seen) + 1)
            assert env_factors(algo) == [pytest.approx(expected(steps))]
            assert result[RESULT_KEY] == {"shaping_factor": pytest.approx(expected(steps))}
            seen.append(env_factors(algo)[0])
        assert seen == pytest.approx([5 / 7, 3 / 7, 1 / 7, 0.0, 0.0])
        assert "episode/original_return" in result["env_runners"]  # the env's own return, from the batched env
    finally:
        algo.stop()


def test_resume_continues_the_anneal_where_it_was(ray_local, tmp_path):
    first = diverse_marl.train({**TINY, "runs_dir": str(tmp_path)}, quiet=True)
    checkpoint = RunDir(first.run_dir).latest_checkpoint()
    restored_steps = read_checkpoint_meta(checkpoint)["env_steps"]
    assert restored_steps == 2 * STEPS_PER_ITER
    # metrics.csv shows the value pushed after each iteration (the one the next iteration samples with)
    assert [row["reward_schedule/shaping_factor"] for row in first.metrics] == pytest.approx(
        [expected(STEPS_PER_ITER), expected(restored_steps)]
    )
    # what `train(resume=...)` does: build, then load the checkpoint (restores the lifetime count)
    algo = load_config(TINY).to_rllib().build_algo()
    try:
        assert env_factors(algo) == [1.0]
        algo.load_checkpoint(str(checkpoint.resolve()))
        assert global_env_steps(algo) == restored_steps
        assert env_factors(algo) == [pytest.approx(expected(restored_steps))] != [1.0]
        algo.train()
        assert env_factors(algo) == [pytest.approx(expected(restored_steps + STEPS_PER_ITER))]
    finally:
        algo.stop()
    # and the real resume path (CLI --resume) continues the anneal from the restored count, not from 0
    resumed = diverse_marl.train(resume=first.run_dir, overrides=["stop.iterations=3"], quiet=True)
    assert resumed.metrics[-1]["env_steps"] == 3 * STEPS_PER_ITER
    assert resumed.metrics[-1]["reward_schedule/shaping_factor"] == pytest.approx(expected(3 * STEPS_PER_ITER))


def test_scheduled_weights_reach_a_user_env_in_the_generic_batched_path(ray_local):
    """A user env (no native batched class: SyncBatchedEnv of RewardWeightsWrapper copies) gets scheduled weights."""
    cfg = load_config(
        {
            **TINY,
            "env": "test_coin",
            "env_config": {"horizon": 5, "reward_weights": {"tails": 1.0}},
            "reward_schedule": {"reward_weights.right": [[0, 0.0], [2 * STEPS_PER_ITER, 4.0]]},
        }
    )
    algo = cfg.to_rllib().build_algo()
    try:

        def weights() -> list[dict]:
            return [env.reward_weights for env in reward_targets(algo.env_runner)]

        assert weights() == [{"tails": 1.0, "right": 0.0}] * NUM_ENVS
        algo.train()
        assert weights() == [{"tails": 1.0, "right": pytest.approx(2.0)}] * NUM_ENVS
        result = algo.train()
        assert weights() == [{"tails": 1.0, "right": 4.0}] * NUM_ENVS
        assert result[RESULT_KEY]["reward_weights.right"] == 4.0
    finally:
        algo.stop()


def test_remote_stock_runner_anneals_on_the_global_count(ray_local):
    """One remote env runner (RLlib's MultiAgentEnvRunner: the env sits in ``.par_env``) gets the values too."""
    training = {**TINY["training"], "env_runner_cls": None}  # null: RLlib's runner (the default is the fast one)
    cfg = load_config({**TINY, "num_env_runners": 1, "training": {**training, "num_envs_per_env_runner": 2}})
    algo = cfg.to_rllib().build_algo()
    try:
        assert env_factors(algo, local=False) == [1.0, 1.0]
        for _ in range(2):
            result = algo.train()
        assert "episode/original_return" in result["env_runners"]  # from the envs' infos (EpisodeInfoCallback)
        steps = global_env_steps(algo)
        assert steps >= 2 * STEPS_PER_ITER
        assert env_factors(algo, local=False) == [pytest.approx(expected(steps))] * 2
        assert env_factors(algo) == [pytest.approx(expected(steps))] * 2  # the driver's view: the same envs
    finally:
        algo.stop()
