"""RSPO's switch test: a chunk counts as an earlier policy's when that policy explains its actions about
as well as the policy that took them (likelihood ratio against the stored ``action_logp``), so the
same actions switch or not depending on who acted; switched chunks get the novelty reward, within a
per-episode budget on the scale of the task return."""

from __future__ import annotations

import numpy as np
import pytest

from diverse_marl.algorithms.diversity.spec import parse_diversity
from diverse_marl.algorithms.diversity.terms import RSPOTerms
from diverse_marl.config import load_config

FAST_RUNNER = "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner"
TINY = {
    "name": "rspo-tiny",
    "algorithm": "mappo",
    "env": "multi_goal",
    "env_config": {"size": 3, "horizon": 6},
    "seed": 2,
    "stop": {"iterations": 1},
    "checkpoint_every": 1,
    "training": {
        "train_batch_size": 120,
        "num_epochs": 1,
        "hidden_sizes": [16],
        "num_envs_per_env_runner": 4,
        "env_runner_cls": FAST_RUNNER,
    },
}


def _chunk(observations: list[dict], actions: np.ndarray, behaviour_logp: np.ndarray, rewards: np.ndarray):
    """A real RLlib episode chunk, as the learner connector sees it (numpy)."""
    from ray.rllib.env.single_agent_episode import SingleAgentEpisode

    episode = SingleAgentEpisode(
        observations=observations,
        actions=list(actions),
        rewards=list(rewards),
        infos=[{} for _ in observations],
        extra_model_outputs={"action_logp": list(behaviour_logp)},
        len_lookback_buffer=0,
        module_id="shared",
        agent_id="agent_0",
    )
    return episode.to_numpy()


def test_switch_test_compares_the_earlier_policy_with_the_behaviour_policy(tmp_path, ray_local):
    from diverse_marl import envs
    from diverse_marl.algorithms.mappo.env import MAPPOObservationAdapter
    from diverse_marl.training import run_single

    run_single(load_config(TINY), tmp_path / "first", quiet=True)
    terms = RSPOTerms(
        parse_diversity(
            {
                "kind": "rspo",
                "references": [str(tmp_path / "first")],
                "threshold": 0.5,
                "novelty_coef": 0.5,
                "max_intrinsic": 10.0,
            }
        )
    )
    policy = terms._policy(0, "shared")

    env = envs.make("multi_goal", size=3, horizon=6)
    adapter = MAPPOObservationAdapter(env, "state")
    rng = np.random.default_rng(0)
    obs, _ = env.reset(seed=0)
    observations, actions, logp_j = [], [], []
    while env.agents:
        mobs = adapter(env, obs)
        observations.append(mobs["agent_0"])
        logits = policy.logits({k: v[None] for k, v in mobs["agent_0"].items()})[0]
        logp = logits - np.logaddexp.reduce(logits)
        a = int(rng.choice(len(logp), p=np.exp(logp)))
        actions.append(a)
        logp_j.append(logp[a])
        obs, *_ = env.step({"agent_0": a, "agent_1": int(rng.integers(5))})
    observations.append(adapter(env, obs)["agent_0"] if obs else observations[-1])
    actions, logp_j, task = np.array(actions), np.array(logp_j), np.arange(len(actions), dtype=np.float32)
    assert np.exp(logp_j.mean()) < 0.5  # a barely trained policy: its own actions are not "likely" in absolute terms

    # the earlier policy took these actions itself (mu = pi_j): ratio 1 -> switched to the novelty reward
    own = _chunk(observations, actions, logp_j, task)
    # the same actions taken by a confident policy (mu(a) = 0.99): pi_j explains them far worse -> task reward kept
    other = _chunk(observations, actions, np.full(len(actions), np.log(0.99)), task)
    rewards, stats = terms([own, other])
    assert stats["switched_fraction"] == 0.5
    # the novelty -log pi_j, capped and scaled so that a switched episode earns at most novelty_coef x the budget
    # (0.1 x the reference run's per-agent return; L = the longest episode seen, here this one)
    assert terms.longest == len(actions) and terms.budget == pytest.approx(0.1 * terms.return_scale)
    per_step = 0.5 * terms.budget / len(actions)
    assert np.allclose(rewards[0], per_step * np.clip(-logp_j, 0.0, 10.0) / 10.0, atol=1e-6)
    assert rewards[0].sum() <= 0.5 * terms.budget + 1e-6
    assert np.array_equal(rewards[1], task)
    ratios = [1.0, np.exp((logp_j - np.log(0.99)).mean())]
    assert stats["likelihood_ratio_0"] == pytest.approx(np.mean(ratios), rel=1e-5)
