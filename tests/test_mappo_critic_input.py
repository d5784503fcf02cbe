"""MAPPO's ``critic_input: joint_obs``: the critic reads all agents' observations + the agent's id.

Checked on both sampling paths (the single-env adapter and the vector runner, including the
state after an episode's last step), for learning, reproducibility and bad values.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from diverse_marl.algorithms import MAPPOConfig
from diverse_marl.algorithms.mappo.env import MAPPOObservationAdapter
from diverse_marl.algorithms.mappo.module import OBS_KEY, STATE_KEY, critic_input_dim
from diverse_marl.envs import make
from diverse_marl.errors import ConfigError

pytest.importorskip("ray")

ENV = "credit_assignment"
RUNNER = "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner"


@pytest.fixture(scope="module", autouse=True)
def _ray(ray_local):
    """Local Ray for every test here (the shared conftest fixture)."""
    yield


def joint(obs: dict[str, np.ndarray], agents: list[str], agent: str) -> np.ndarray:
    """What joint_obs must be: every agent's flattened observation, then the agent's one-hot id."""
    lead = next(iter(obs.values())).shape[:-1]
    one_hot = np.zeros((*lead, len(agents)), np.float32)
    one_hot[..., agents.index(agent)] = 1.0
    return np.concatenate([obs[a] for a in agents] + [one_hot], axis=-1)


def test_adapter_builds_joint_obs_instead_of_the_envs_own_state():
    env = make(ENV)
    adapter = MAPPOObservationAdapter(env, "joint_obs")
    agents = list(env.possible_agents)
    obs, _ = env.reset(seed=0)
    out = adapter(env, obs)
    for a in agents:
        np.testing.assert_array_equal(out[a][STATE_KEY], joint({b: obs[b] for b in agents}, agents, a))
        size = sum(env.observation_space(b).shape[0] for b in agents) + len(agents)
        assert adapter.observation_space(a)[STATE_KEY].shape == (size,)
    own = MAPPOObservationAdapter(env, "state")(env, obs)  # the env's agent-specific state is another vector
    assert not np.array_equal(own["agent_0"][STATE_KEY], out["agent_0"][STATE_KEY])


def test_bad_critic_input_is_one_config_error_listing_the_choices():
    expected = r"unknown critic_input 'joint' \(did you mean 'joint_obs'\?\); allowed: state, joint_obs, obs"
    with pytest.raises(ConfigError, match=expected):
        MAPPOConfig.from_options(ENV, {}, {"critic_input": "joint"}, seed=0)


def test_vector_runner_states_are_joint_observations_including_episode_ends():
    """Overcooked (native batched env, whose own state is the lossless grid): every stored state of
    every agent - also the one after an episode's last step (``final_obs``) - is the joint obs."""
    cfg = MAPPOConfig.from_options(
        "overcooked",
        {"layout": "cramped_room", "horizon": 5},
        {
            "critic_input": "joint_obs",
            "env_runner_cls": RUNNER,
            "num_envs_per_env_runner": 3,
            "train_batch_size": 36,
            "num_epochs": 1,
        },
        seed=0,
    )
    algo = cfg.build_algo()
    try:
        module = algo.learner_module("shared")
        assert critic_input_dim(module) == 2 * 96 + 2  # not the 520 lossless values
        episodes = algo.env_runner.sample(num_timesteps=3 * 8, explore=True)  # cuts at 5 and mid-episode
        agents = ["agent_0", "agent_1"]
        ends = 0
        for ep in episodes:
            obs = {a: ep.agent_episodes[a].get_observations() for a in agents}
            for a in agents:
                np.testing.assert_array_equal(obs[a][STATE_KEY], joint({b: obs[b][OBS_KEY] for b in agents}, agents, a))
            ends += ep.is_done
        assert ends >= 3
        result = algo.train()
        assert np.isfinite(result["learners"]["shared"]["vf_loss"])
    finally:
        algo.stop()


def _team_return(env, act, episodes: int, seed: int) -> float:
    total = 0.0
    for ep in range(episodes):
        o, _ = env.reset(seed=seed + ep)
        while env.agents:
            o, r, *_ = env.step(act(env, o))
            total += r.get(env.possible_agents[0], 0.0)
    return total / episodes


def test_joint_obs_critic_learns_credit_assignment():
    env = make(ENV)
    rng = np.random.default_rng(0)
    random_return = _team_return(env, lambda e, o: {a: int(rng.integers(e.num_cues)) for a in e.agents}, 200, 10_000)
    algo = MAPPOConfig.from_options(
        ENV,
        {},
        {"critic_input": "joint_obs", "train_batch_size": 1000, "num_epochs": 10, "lr": 1e-3, "critic_lr": 1e-3},
        seed=0,
    ).build_algo()
    try:
        for _ in range(6):
            algo.train()
        module = algo.learner_module("shared")

        def greedy(e, o):
            with torch.no_grad():
                return {
                    a: int(module.actor_logits({"obs": {OBS_KEY: torch.as_tensor(o[a][None])}})[0].argmax())
                    for a in e.agents
                }

        trained_return = _team_return(env, greedy, 100, 10_000)
    finally:
        algo.stop()
    best = env.episode_length * float(np.mean(env.stakes))
    assert trained_return > random_return + 0.5 * (best - random_return), (random_return, trained_return)


def test_joint_obs_same_seed_same_numbers():
    losses = []
    for _ in range(2):
        algo = MAPPOConfig.from_options(
            ENV, {}, {"critic_input": "joint_obs", "train_batch_size": 400, "num_epochs": 2}, seed=7
        ).build_algo()
        try:
            losses.append(algo.train()["learners"]["shared"]["total_loss"])
        finally:
            algo.stop()
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


@pytest.mark.parametrize("use_gru", [False, True])
def test_folded_input_layernorm_equals_the_plain_layers(use_gru):
    """The critic/actor torso folds the input LayerNorm's affine into the first linear layer
    (``Torso._base``): same outputs and same gradients for every parameter as running the
    layers one by one; an input that needs a gradient gets the plain path (and its gradient)."""
    from diverse_marl.algorithms.mappo.networks import MODEL_DEFAULTS, make_critic

    torch.manual_seed(0)
    critic = make_critic(520, {**MODEL_DEFAULTS, "use_gru": use_gru, "gru_hidden": 8})
    with torch.no_grad():  # move the LayerNorm affine away from its identity init
        for p in critic.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x = torch.randn(64, 3, 520) if use_gru else torch.randn(64, 520)
    h0 = torch.zeros(64, 8) if use_gru else None

    def grads(out):
        critic.zero_grad()
        out.square().mean().backward()
        return [p.grad.clone() for p in critic.parameters()]

    folded = critic(x, h0)[0]
    g_folded = grads(folded)
    plain = critic.base(x)
    if use_gru:
        plain = critic.gru(plain, h0.unsqueeze(0))[0]
    plain = critic.head(plain)
    g_plain = grads(plain)
    torch.testing.assert_close(folded, plain, rtol=1e-5, atol=1e-5)
    for a, b in zip(g_folded, g_plain):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    x_grad = x.clone().requires_grad_()
    critic(x_grad, h0)[0].sum().backward()
    assert x_grad.grad is not None and x_grad.grad.abs().sum() > 0


def test_joint_obs_on_rllibs_own_env_runner_trains_and_exports(tmp_path):
    """The adapter's path (RLlib's MultiAgentEnvRunner): states are joint observations, training
    runs, and the exported policy records the critic input it was trained with."""
    from diverse_marl.algorithms import load_policy

    algo = MAPPOConfig.from_options(
        ENV, {}, {"critic_input": "joint_obs", "env_runner_cls": None, "train_batch_size": 200, "num_epochs": 1}, seed=0
    ).build_algo()
    try:
        assert type(algo.env_runner).__name__ == "MultiAgentEnvRunner"
        agents = ["agent_0", "agent_1"]
        checked = 0
        for ep in algo.env_runner.sample(num_timesteps=20, explore=True):
            ep.to_numpy()
            obs = {a: ep.agent_episodes[a].get_observations() for a in agents if a in ep.agent_episodes}
            if len(obs) == 2:
                n = min(len(o[OBS_KEY]) for o in obs.values())
                np.testing.assert_array_equal(
                    obs["agent_1"][STATE_KEY][:n], joint({b: obs[b][OBS_KEY][:n] for b in agents}, agents, "agent_1")
                )
                checked += n
        assert checked > 0
        assert np.isfinite(algo.train()["learners"]["shared"]["vf_loss"])
        path = algo.save_to_path(str(tmp_path / "ckpt"))
    finally:
        algo.stop()
    assert json.loads((Path(path) / "policies.json").read_text())["critic_input"] == "joint_obs"
    policy = load_policy(path, "agent_0")  # the actor alone: Ray-free, as for any critic input
    obs, _ = make(ENV).reset(seed=0)
    probs = policy.action_probs(obs["agent_0"])
    assert probs.shape[-1] == make(ENV).action_space("agent_0").n and np.isclose(probs.sum(), 1.0)
