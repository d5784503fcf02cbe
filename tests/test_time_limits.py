"""Proper time limits (``use_proper_time_limits``): a time-limit truncation bootstraps from V(final state).

The env: credit_assignment with no early exits, so every episode ends by its time limit for
every agent. Its observations carry the time, so V(final state) is not zero. We sample whole
episodes with RLlib's stock runner and with the vector runner, run the real MAPPO learner
connector pipeline and read the value target of every episode's last step.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.evaluation.postprocessing import Postprocessing

from diverse_marl.algorithms.mappo.config import MAPPOConfig
from diverse_marl.algorithms.mappo.connectors import TIME_LIMIT_KEY
from diverse_marl.errors import ConfigError

VECTOR = "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner"
EPISODE_LENGTH = 4
GAMMA = 0.9


def _algo(runner: str | None, proper: bool, stakes=(1.0, 2.0), early_termination=False):
    env_config = {
        "num_agents": 2,
        "episode_length": EPISODE_LENGTH,
        "stakes": list(stakes),
        "early_termination": early_termination,
    }
    options = {
        "env_runner_cls": runner,
        "num_envs_per_env_runner": 2,
        "train_batch_size": 16,
        "num_epochs": 1,
        "gamma": GAMMA,
        "lambda_": 0.95,
        "use_proper_time_limits": proper,
        "value_norm": False,
        "hidden_sizes": [16],
    }
    return MAPPOConfig.from_options("credit_assignment", env_config, options, seed=5).build_algo()


def _last_step_targets(algo):
    """(reward, value target, gamma * V(final obs)) of each agent's last step in whole episodes."""
    episodes = algo.env_runner.sample(num_episodes=2, explore=True)
    learner = algo.learner_group._learner
    module = learner.module["shared"].unwrapped()
    expected = []
    for ep in episodes:
        assert ep.is_done
        for sa in ep.agent_episodes.values():
            final = {k: torch.as_tensor(np.asarray(v)[None]) for k, v in sa.get_observations(-1).items()}
            with torch.no_grad():
                v_final = float(module.compute_values({Columns.OBS: final})[0])
            expected.append((float(sa.get_rewards(-1)), GAMMA * v_final, sa.get_infos(-1)))
    batch = learner._learner_connector(
        rl_module=learner.module, batch={}, episodes=episodes, shared_data={}, metrics=learner.metrics
    )
    b = batch["shared"]
    mask = b[Columns.LOSS_MASK].numpy().astype(bool)
    targets = b[Postprocessing.VALUE_TARGETS].numpy()[mask]
    rewards = b[Columns.REWARDS].numpy()[mask]
    # real steps of one agent episode are contiguous; the last real step precedes each masked-out slot
    last = np.nonzero(~b[Columns.LOSS_MASK].numpy().astype(bool))[0] - np.arange(1, (~mask).sum() + 1)
    return rewards[last], targets[last], expected


@pytest.mark.parametrize("runner", [None, VECTOR], ids=["stock", "vector"])
def test_time_limit_bootstraps_only_with_proper_time_limits(ray_local, runner):
    results = {}
    for proper in (True, False):
        algo = _algo(runner, proper)
        try:
            results[proper] = _last_step_targets(algo)
        finally:
            algo.stop()
    for proper, (rewards, targets, expected) in results.items():
        assert len(targets) == len(expected) == 4  # 2 episodes x 2 agents, each cut by the time limit
        assert all(info.get(TIME_LIMIT_KEY) for _, _, info in expected)
        r = np.array([r for r, _, _ in expected])
        boot = np.array([g for _, g, _ in expected])
        assert np.abs(boot).min() > 1e-3  # the bootstrap value matters in this env
        np.testing.assert_allclose(np.sort(rewards), np.sort(r))
        # the batch orders agent episodes its own way: compare as sorted sets of values
        if proper:  # target = r + gamma * V(final state)
            np.testing.assert_allclose(np.sort(targets), np.sort(r + boot), rtol=1e-4, atol=1e-5)
        else:  # the time limit ends the return
            np.testing.assert_allclose(np.sort(targets), np.sort(r), rtol=1e-6, atol=1e-6)


def test_real_terminations_never_bootstrap(ray_local):
    """An agent that leaves early (terminated) keeps a terminal target even with proper time limits."""
    algo = _algo(VECTOR, True, early_termination=True)
    try:
        episodes = algo.env_runner.sample(num_episodes=2, explore=True)
        learner = algo.learner_group._learner
        terminated = [sa for ep in episodes for sa in ep.agent_episodes.values() if sa.is_terminated]
        assert terminated and not any(sa.get_infos(-1).get(TIME_LIMIT_KEY) for sa in terminated)
        batch = learner._learner_connector(
            rl_module=learner.module, batch={}, episodes=episodes, shared_data={}, metrics=learner.metrics
        )["shared"]
        terms = batch[Columns.TERMINATEDS].numpy().astype(bool)
        truncs = batch[Columns.TRUNCATEDS].numpy().astype(bool)
        assert terms.sum() == len(terminated) == 2 and truncs.sum() == 2  # the other agent: time limit
    finally:
        algo.stop()


def test_option_is_documented_and_checked():
    assert "use_proper_time_limits" in MAPPOConfig.option_docs()
    assert MAPPOConfig.option_defaults()["use_proper_time_limits"] is True
    cfg = MAPPOConfig().training(use_proper_time_limits=False)
    assert cfg.use_proper_time_limits is False
    with pytest.raises(ConfigError, match="use_proper_time_limit"):
        MAPPOConfig.from_options("credit_assignment", {}, {"use_proper_time_limit": True}, seed=0)
