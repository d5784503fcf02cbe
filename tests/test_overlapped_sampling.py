"""``async_sampling``: a remote env runner samples the next batch while the learner updates.

Real (tiny) MAPPO runs on CreditAssignmentEnv with one remote VectorMultiAgentEnvRunner.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diverse_marl.algorithms import MAPPOConfig
from diverse_marl.algorithms.mappo.module import OBS_KEY
from diverse_marl.envs import make

ray = pytest.importorskip("ray")
from ray.rllib.core.columns import Columns  # noqa: E402

ENV = "credit_assignment"
pytestmark = pytest.mark.usefixtures("ray_local")  # conftest: one local Ray (2 CPUs)


def build(seed: int = 0, num_env_runners: int = 0, **options):
    opts = {"train_batch_size": 400, "num_epochs": 4, "async_sampling": True, **options}
    return MAPPOConfig.from_options(ENV, {}, opts, seed=seed, num_env_runners=num_env_runners).build_algo()


def actor_state(state: dict) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in state.items() if k.startswith("actor.")}


def learner_actor_weights(algo) -> dict[str, np.ndarray]:
    state = algo.learner_group.get_state(components="learner/rl_module/shared")
    return actor_state(state["learner"]["rl_module"]["shared"])


def runner_actor_weights(algo) -> dict[str, np.ndarray]:
    """The remote runner's weights (waits for the sample request in flight: calls run in order)."""
    states = algo.env_runner_group.foreach_env_runner(
        lambda r: r.get_state(components="rl_module")["rl_module"]["shared"], local_env_runner=False
    )
    assert len(states) == 1
    return actor_state(states[0])


def test_async_sampling_uses_a_remote_runner_and_samples_one_version_stale():
    algo = build(seed=1)
    try:
        assert algo.config.num_env_runners == 1  # 0 (the default) becomes 1
        assert algo.env_runner_group.num_remote_workers() == 1
        for i in range(3):
            before = learner_actor_weights(algo)
            result = algo.train()
            assert result["env_runners"]["num_env_steps_sampled"] == 400
            after = learner_actor_weights(algo)
            assert any(not np.allclose(before[k], after[k]) for k in before), "the learner did not update"
            # the batch now in flight is sampled with the weights from before this iteration's update
            runner = runner_actor_weights(algo)
            for k in before:
                np.testing.assert_allclose(runner[k], before[k], rtol=0, atol=0, err_msg=f"iteration {i}: {k}")
    finally:
        algo.stop()


def test_async_sampling_with_two_runners_gathers_both_batches():
    algo = build(seed=2, num_env_runners=2)
    try:
        assert algo.env_runner_group.num_remote_workers() == 2
        for _ in range(2):
            result = algo.train()
            assert result["env_runners"]["num_env_steps_sampled"] == 400  # 200 from each runner
    finally:
        algo.stop()


def test_async_sampling_same_seed_same_numbers():
    runs = []
    for _ in range(2):
        algo = build(seed=7)
        try:
            runs.append(
                [
                    (r["learners"]["shared"]["total_loss"], r["env_runners"]["episode_return_mean"])
                    for r in (algo.train() for _ in range(3))
                ]
            )
        finally:
            algo.stop()
    assert runs[0] == runs[1]


def test_async_sampling_learns_credit_assignment():
    env = make(ENV)
    rng = np.random.default_rng(0)

    def team_return(act, episodes: int = 100, seed: int = 10_000) -> float:
        total = 0.0
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + ep)
            while env.agents:
                obs, rewards, *_ = env.step(act(obs))
                total += rewards.get(env.possible_agents[0], 0.0)
        return total / episodes

    random_return = team_return(lambda o: {a: int(rng.integers(env.num_cues)) for a in env.agents})
    algo = build(train_batch_size=1000, num_epochs=10, lr=1e-3, critic_lr=1e-3)
    try:
        for _ in range(6):
            algo.train()
        policy = algo.learner_module("shared")

        def greedy(obs):
            with torch.no_grad():
                return {
                    a: int(policy.actor_logits({Columns.OBS: {OBS_KEY: torch.as_tensor(obs[a][None])}})[0].argmax())
                    for a in env.agents
                }

        trained_return = team_return(greedy)
    finally:
        algo.stop()
    best = env.episode_length * float(np.mean(env.stakes))
    assert random_return < 0.2 * best
    assert trained_return > random_return + 0.5 * (best - random_return), (random_return, trained_return)
