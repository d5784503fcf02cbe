"""MAPPO on RLlib's new API stack: real (tiny) training runs on CreditAssignmentEnv.

Ray runs locally (num_env_runners=0); every test builds its own algorithm.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch

from diverse_marl.algorithms import MAPPOConfig, load_policy
from diverse_marl.algorithms.mappo.module import OBS_KEY, STATE_KEY, critic_input_dim
from diverse_marl.envs import make
from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.run_dir import RunDir

ray = pytest.importorskip("ray")
from ray.rllib.core.columns import Columns  # noqa: E402

ENV = "credit_assignment"
TINY = {"train_batch_size": 400, "num_epochs": 4}


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    """Local Ray for this module; reuses (and leaves running) a Ray another fixture started."""
    if ray.is_initialized():
        yield
        return
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


def build(env_config: dict | None = None, seed: int = 0, **options):
    return MAPPOConfig.from_options(ENV, env_config or {}, {**TINY, **options}, seed=seed).build_algo()


def obs_batch(env_config: dict | None = None, n: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    """A batch of MAPPO observation dicts for agent_0 (actor obs + global state) from real env steps."""
    env = make(ENV, **(env_config or {}))
    rng = np.random.default_rng(seed)
    obs, states = [], []
    o, _ = env.reset(seed=seed)
    while len(obs) < n:
        if not env.agents:
            o, _ = env.reset()
        obs.append(o["agent_0"])
        states.append(env.state()["agent_0"])
        o, *_ = env.step({a: int(rng.integers(env.num_cues)) for a in env.agents})
    return {OBS_KEY: np.stack(obs), STATE_KEY: np.stack(states)}


def torch_batch(batch: dict[str, np.ndarray]) -> dict:
    return {Columns.OBS: {k: torch.as_tensor(v) for k, v in batch.items()}}


def actor_logits(module, batch: dict[str, np.ndarray]) -> np.ndarray:
    with torch.no_grad():
        return module.actor_logits(torch_batch(batch))[0].numpy()


def team_return(env, act, episodes: int, seed: int) -> float:
    """Mean episode return of the team (the reward is shared; read it off the first agent)."""
    total = 0.0
    for ep in range(episodes):
        o, _ = env.reset(seed=seed + ep)
        first = env.possible_agents[0]
        while env.agents:
            o, r, *_ = env.step(act(env, o))
            total += r.get(first, 0.0)
    return total / episodes


# ---------------------------------------------------------------- options contract
def test_option_defaults_and_docs_cover_the_same_keys():
    defaults, docs = MAPPOConfig.option_defaults(), MAPPOConfig.option_docs()
    assert set(defaults) == set(docs)
    for key in (
        "lr",
        "gamma",
        "lambda_",
        "clip_param",
        "vf_clip_param",
        "entropy_coeff",
        "num_epochs",
        "minibatch_size",
        "train_batch_size",
        "grad_clip",
        "hidden_sizes",
        "use_gru",
        "value_norm",
        "policy_mapping",
        "num_envs_per_env_runner",
        "rollout_fragment_length",
    ):
        assert key in defaults and docs[key]
    defaults["hidden_sizes"].append(1)  # a fresh copy each call
    assert MAPPOConfig.option_defaults()["hidden_sizes"] == [64, 64]


def test_unknown_option_names_key_and_allowed_keys():
    with pytest.raises(ConfigError, match=r"unknown mappo option 'learning_rate'.*allowed:.*\blr\b"):
        MAPPOConfig.from_options(ENV, {}, {"learning_rate": 1e-3}, seed=0)
    with pytest.raises(ConfigError, match=r"unknown mappo option 'entropy_coef' \(did you mean 'entropy_coeff'\?\)"):
        MAPPOConfig.from_options(ENV, {}, {"entropy_coef": 0.01}, seed=0)
    with pytest.raises(ConfigError, match=r"policy_mapping 'everyone'.*shared, team, agent"):
        MAPPOConfig.from_options(ENV, {}, {"policy_mapping": "everyone"}, seed=0)
    with pytest.raises(ConfigError, match=r"'hidden_sizes' must be a non-empty list"):
        MAPPOConfig.from_options(ENV, {}, {"hidden_sizes": []}, seed=0)
    with pytest.raises(ConfigError, match=r"unknown option 'colour' for env 'credit_assignment'"):
        MAPPOConfig.from_options(ENV, {"colour": 1}, {}, seed=0)


def test_shared_policy_over_different_obs_spaces_is_refused():
    with pytest.raises(ConfigError, match="use policy_mapping 'team' or 'agent'"):
        MAPPOConfig.from_options(ENV, {"heterogeneous": True}, {"policy_mapping": "shared"}, seed=0)


# ---------------------------------------------------------------- centralized critic
def test_critic_reads_global_state_and_actor_reads_only_its_observation():
    algo = build()
    try:
        module = algo.learner_module("shared")
        env = make(ENV)
        state_dim = env.state_space("agent_0").shape[0]
        obs_dim = env.observation_space("agent_0").shape[0]
        assert critic_input_dim(module) == state_dim != obs_dim

        batch = obs_batch()
        perturbed = {
            **batch,
            STATE_KEY: batch[STATE_KEY]
            + np.random.default_rng(1).normal(size=batch[STATE_KEY].shape).astype(np.float32),
        }
        with torch.no_grad():
            v0 = module.compute_values(torch_batch(batch)).numpy()
            v1 = module.compute_values(torch_batch(perturbed)).numpy()
        assert np.abs(v0 - v1).max() > 1e-3  # the critic depends on the state ...
        np.testing.assert_array_equal(
            actor_logits(module, batch), actor_logits(module, perturbed)
        )  # ... the actor does not
        other_obs = {**batch, OBS_KEY: batch[OBS_KEY][::-1].copy()}
        assert np.abs(actor_logits(module, batch) - actor_logits(module, other_obs)).max() > 1e-4
    finally:
        algo.stop()


def test_critic_input_obs_gives_independent_ppo():
    algo = build(critic_input="obs", num_minibatches=3)
    try:
        module = algo.learner_module("shared")
        assert STATE_KEY not in module.observation_space.spaces
        assert critic_input_dim(module) == make(ENV).observation_space("agent_0").shape[0]
        algo.train()
    finally:
        algo.stop()


# ---------------------------------------------------------------- learning
@pytest.mark.parametrize("mapping", ["shared", "agent"])
def test_mappo_learns_credit_assignment(mapping):
    env = make(ENV)
    rng = np.random.default_rng(0)
    random_return = team_return(
        env, lambda e, o: {a: int(rng.integers(e.num_cues)) for a in e.agents}, 200, seed=10_000
    )

    algo = build(policy_mapping=mapping, train_batch_size=1000, num_epochs=10, lr=1e-3, critic_lr=1e-3)
    try:
        for _ in range(6):
            result = algo.train()
        modules = {a: algo.learner_module("shared" if mapping == "shared" else a) for a in env.possible_agents}

        def greedy(e, o):
            return {a: int(actor_logits(modules[a], {OBS_KEY: o[a][None]}).argmax()) for a in e.agents}

        trained_return = team_return(env, greedy, 100, seed=10_000)
    finally:
        algo.stop()
    best = env.episode_length * float(np.mean(env.stakes))
    print(f"{mapping}: random {random_return:.2f}, trained (greedy) {trained_return:.2f}, optimum {best:.2f}")
    assert random_return < 0.2 * best
    assert trained_return > random_return + 0.5 * (best - random_return), (random_return, trained_return)
    assert set(result["learners"]) >= ({"shared"} if mapping == "shared" else set(env.possible_agents))


def test_agents_that_terminate_early_and_heterogeneous_teams_train():
    algo = build({"early_termination": True}, policy_mapping="agent")
    try:
        for _ in range(2):
            result = algo.train()
        for agent in ("agent_0", "agent_1"):
            assert np.isfinite(result["learners"][agent]["total_loss"])
    finally:
        algo.stop()

    algo = build({"heterogeneous": True, "num_agents": 3}, policy_mapping="team")
    try:
        result = algo.train()
        assert {"scout", "worker"} <= set(result["learners"])
        assert (
            algo.learner_module("scout").observation_space[OBS_KEY].shape
            != algo.learner_module("worker").observation_space[OBS_KEY].shape
        )
    finally:
        algo.stop()


def test_action_mask_is_respected_in_sampling_and_export(tmp_path):
    # the env raises on a masked action, so sampling 2 iterations proves the mask is applied
    algo = build({"action_masking": True})
    try:
        algo.train()
        algo.train()
        path = algo.save_to_path(tmp_path / "ck")
    finally:
        algo.stop()
    env = make(ENV, action_masking=True)
    o, _ = env.reset(seed=3)
    policy = load_policy(path)
    obs = {
        "observation": np.stack([o[a]["observation"] for a in env.agents]),
        "action_mask": np.stack([o[a]["action_mask"] for a in env.agents]),
    }
    probs = policy.action_probs(obs)
    assert np.all(probs[obs["action_mask"] == 0] < 1e-6)
    for _ in range(20):
        acts = policy(obs)
        assert np.all(obs["action_mask"][np.arange(len(acts)), acts] == 1)
    with pytest.raises(ConfigError, match="action mask"):
        policy(obs["observation"])


# ---------------------------------------------------------------- checkpoints and export
def test_checkpoint_restore_gives_identical_actions_and_load_policy_matches(tmp_path):
    batch = obs_batch(n=64)
    algo = build(seed=0)
    try:
        algo.train()
        run = tmp_path / "run"
        rd = RunDir(run)
        rd.save_checkpoint(1, algo.save_to_path, {})
        algo.train()
        ckpt = str(rd.save_checkpoint(2, algo.save_to_path, {}))
        logits = actor_logits(algo.learner_module("shared"), batch)
        with torch.no_grad():
            runner_logits = (
                algo.get_module("shared").forward_inference(torch_batch(batch))[Columns.ACTION_DIST_INPUTS].numpy()
            )
        np.testing.assert_allclose(runner_logits, logits, atol=1e-6)  # weights synced to the env runner
        values = algo.learner_module("shared").compute_values(torch_batch(batch)).detach().numpy()
    finally:
        algo.stop()

    other = build(seed=1)
    try:
        assert np.abs(actor_logits(other.learner_module("shared"), batch) - logits).max() > 1e-3  # not trivially equal
        other.restore_from_path(ckpt)
        restored = actor_logits(other.learner_module("shared"), batch)
        np.testing.assert_array_equal(restored.argmax(-1), logits.argmax(-1))
        np.testing.assert_allclose(restored, logits, atol=1e-6)
        restored_values = other.learner_module("shared").compute_values(torch_batch(batch)).detach().numpy()
        np.testing.assert_allclose(restored_values, values, atol=1e-5)  # critic + value-norm stats restored
    finally:
        other.stop()

    policy = load_policy(run)  # a run dir resolves to its newest checkpoint (iter_000002)
    np.testing.assert_allclose(policy.logits(batch[OBS_KEY]), logits, atol=1e-5)
    np.testing.assert_array_equal(policy(batch[OBS_KEY], deterministic=True), logits.argmax(-1))
    probs = policy.action_probs(batch[OBS_KEY][0])
    assert probs.shape == (3,) and abs(probs.sum() - 1) < 1e-6
    assert load_policy(ckpt, "agent_1").policy_id == "shared"  # agent names map through the policy mapping
    old = load_policy(run / "checkpoints" / "iter_000001")
    assert np.abs(old.logits(batch[OBS_KEY]) - logits).max() > 1e-6


def test_load_policy_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_policy(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="neither a checkpoint"):
        load_policy(tmp_path / "empty")
    algo = build()
    try:
        ckpt = algo.save_to_path(tmp_path / "ck")
    finally:
        algo.stop()
    with pytest.raises(ConfigError, match="unknown policy_id 'hider'.*shared"):
        load_policy(ckpt, "hider")
    (weights,) = (tmp_path / "ck" / "weights").glob("*.pt")
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_policy(ckpt)


def test_gru_policy_trains_and_exports_the_same_recurrent_actor(tmp_path):
    algo = build(use_gru=True, gru_hidden=16, max_seq_len=5)
    try:
        algo.train()
        result = algo.train()
        assert np.isfinite(result["learners"]["shared"]["total_loss"])
        path = algo.save_to_path(tmp_path / "ck")
        module = algo.learner_module("shared")
        seq = obs_batch(n=6)
        with torch.no_grad():
            out = module.forward_inference(
                {
                    Columns.OBS: {k: torch.as_tensor(v)[None] for k, v in seq.items()},  # (B=1, T=6)
                    Columns.STATE_IN: {k: torch.zeros(1, 16) for k in ("actor", "critic")},
                }
            )
        expected = out[Columns.ACTION_DIST_INPUTS][0].numpy()
    finally:
        algo.stop()
    policy = load_policy(path)
    policy.reset()
    stepped = np.stack([policy.logits(seq[OBS_KEY][t][None])[0] for t in range(6)])
    np.testing.assert_allclose(stepped, expected, atol=1e-5)
    policy.reset()
    assert np.allclose(policy.logits(seq[OBS_KEY][0][None])[0], expected[0], atol=1e-5)


def test_same_seed_same_numbers():
    losses = []
    for _ in range(2):
        algo = build(seed=7)
        try:
            losses.append(algo.train()["learners"]["shared"]["total_loss"])
        finally:
            algo.stop()
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)


def test_same_seed_same_numbers_in_processes_with_different_string_hashes():
    """RLlib iterates an episode's agent ids as a set; the train batch must not depend on that set's order,
    which changes with PYTHONHASHSEED (0 and 2 order {"agent_0", "agent_1"} differently). Nor may the
    modules' initial weights: with one policy per agent, a set of policy ids once decided which module was
    built first, so agent_0 and agent_1 swapped their initial weights between processes."""
    import os
    import subprocess
    import sys

    code = (
        "import logging, ray, torch\n"
        "from diverse_marl.algorithms.mappo import MAPPOConfig\n"
        "ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)\n"
        "print('ORDER', list({'agent_0', 'agent_1'}))\n"
        "def total(module):\n"
        "    return sum(float(torch.as_tensor(v).double().abs().sum()) for v in module.state_dict().values())\n"
        "for mapping in ('shared', 'agent'):\n"
        f"    options = {{**{TINY!r}, 'policy_mapping': mapping}}\n"
        f"    algo = MAPPOConfig.from_options({ENV!r}, {{}}, options, seed=3).build_algo()\n"
        "    algo.train()\n"
        "    print('SUM', mapping, [repr(total(algo.get_module(m))) for m in sorted(algo.config.policies)])\n"
        "    algo.stop()\n"
    )
    outs = []
    for hash_seed in ("0", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
        assert "SUM" in out.stdout, out.stderr[-2000:]
        outs.append([line for line in out.stdout.splitlines() if line.startswith(("ORDER", "SUM"))])
    assert outs[0][0] != outs[1][0]  # the two processes really order the agent ids differently
    assert len(outs[0]) == 3 and outs[0][1:] == outs[1][1:]  # and learn exactly the same weights, both mappings


def test_gae_bootstraps_at_chunk_cuts_but_not_at_episode_ends():
    """Value targets at the last real step: r_T at an env time limit with
    ``use_proper_time_limits=False`` (MAPPO's paper default; tests/test_time_limits.py covers
    True), r_T + gamma * V(s_T+1) where a rollout chunk cuts an episode. RLlib's runner, one env."""
    algo = build(gamma=0.9, lambda_=1.0, use_proper_time_limits=False, env_runner_cls=None, num_envs_per_env_runner=1)
    try:
        learner = algo.learner_group._learner
        with torch.no_grad():  # a critic predicting ~50 everywhere makes any bootstrap obvious
            learner.module["shared"].unwrapped().critic.head.bias.fill_(50.0)
        for episodes, cut in (
            (algo.env_runner.sample(num_episodes=2, explore=True), False),
            (algo.env_runner.sample(num_timesteps=5, explore=True, force_reset=True), True),
        ):
            batch = learner._learner_connector(rl_module=learner.module, batch={}, episodes=episodes, shared_data={})
            b = batch["shared"]
            mask = b[Columns.LOSS_MASK].numpy().astype(bool)
            targets, rewards = b["value_targets"].numpy(), b[Columns.REWARDS].numpy()
            last_real = np.flatnonzero(mask[:-1] & ~mask[1:])  # a real step followed by the bootstrap slot
            assert len(last_real) == (2 if cut else 4)  # (episodes or chunks) x 2 agents
            if cut:
                assert np.all(targets[last_real] > rewards[last_real] + 10.0)
            else:
                np.testing.assert_allclose(targets[last_real], rewards[last_real], atol=1e-5)
    finally:
        algo.stop()


def test_remote_env_runner_and_from_checkpoint_in_a_fresh_process(tmp_path):
    """A remote env runner gets the env creator and policy mapping; a new process restores the algo."""
    import subprocess
    import sys

    algo = MAPPOConfig.from_options(
        ENV, {"early_termination": True}, {**TINY, "policy_mapping": "agent"}, seed=0, num_env_runners=1
    ).build_algo()
    try:
        result = algo.train()
        assert result["env_runners"]["num_env_steps_sampled"] >= TINY["train_batch_size"]
        ckpt = algo.save_to_path(tmp_path / "ck")
    finally:
        algo.stop()
    code = (
        "import logging, ray\n"
        "from ray.rllib.algorithms.algorithm import Algorithm\n"
        "ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)\n"
        f"algo = Algorithm.from_checkpoint({str(ckpt)!r})\n"
        "print('STEPS', algo.train()['env_runners']['num_env_steps_sampled'])\n"
        "algo.stop()\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "STEPS" in out.stdout, out.stderr[-2000:]


def test_any_parallel_env_discrete_obs_concat_state_and_export(tmp_path):
    """A user env without state(): Discrete + Box observations, an agent leaving early."""
    from test_mappo_env import TinyEnv

    from diverse_marl.envs import register

    register("tiny_mixed_obs", TinyEnv, overwrite=True)
    algo = MAPPOConfig.from_options("tiny_mixed_obs", {}, {**TINY, "policy_mapping": "agent"}, seed=0).build_algo()
    try:
        result = algo.train()
        assert {"a_0", "b_0"} <= set(result["learners"])
        module = algo.learner_module("a_0")
        assert critic_input_dim(module) == 3 + 4 + 2  # one-hot(3) + Box(2x2) + agent id
        expected = actor_logits(module, {OBS_KEY: np.eye(3, dtype=np.float32)})
        ckpt = algo.save_to_path(tmp_path / "ck")
    finally:
        algo.stop()
    policy = load_policy(ckpt, "a_0")
    np.testing.assert_allclose(np.stack([policy.logits(i) for i in range(3)]), expected, atol=1e-5)
    assert policy.logits([0, 1, 2]).shape == (3, 2)
    assert int(policy(1, deterministic=True)) == int(expected[1].argmax())


def test_lr_and_entropy_schedules_from_the_yaml_reach_the_learner(tmp_path):
    """``training.lr: [[env_step, lr], ...]`` (documented) is accepted and interpolated by RLlib."""
    from diverse_marl.experiment import train

    cfg = {
        "name": "sched",
        "algorithm": "mappo",
        "env": ENV,
        "seed": 0,
        "stop": {"iterations": 3},
        "training": {
            "train_batch_size": 400,
            "num_epochs": 1,
            "lr": [[0, 1e-3], [800, 1e-5]],
            "entropy_coeff": [[0, 0.1], [800, 0.0]],
        },
    }
    train(cfg, run_dir=tmp_path / "run", quiet=True)
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    lrs = [r["learner/shared/actor_learning_rate"] for r in rows]
    entropy = [r["learner/shared/curr_entropy_coeff"] for r in rows]
    assert lrs[0] == pytest.approx(1e-3 + (1e-5 - 1e-3) * 400 / 800, rel=1e-2) and lrs[-1] == pytest.approx(1e-5)
    assert entropy[0] == pytest.approx(0.05) and entropy[-1] == pytest.approx(0.0)
    assert rows[0]["learner/shared/critic_learning_rate"] == rows[-1]["learner/shared/critic_learning_rate"]
