"""Frozen partners (diverse_marl/partners.py, algorithms/mappo/runner_partners.py).

The game is Iterated Stag Hunt: agent_0's observation is the one-hot previous joint action
(index ``2 * mine + other``), so what the partner did shows up in the trained seat's data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from diverse_marl.config import load_config
from diverse_marl.envs.matrix_games import HARE, STAG, StagHuntEnv
from diverse_marl.errors import ConfigError

RUNNER = "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner"
STAG_HUNTER = "test_partners:stag_hunter"
HARE_POLICY = "test_partners:always_hare"
HORIZON = 5


class Always:
    """A scripted Agent with a fixed convention: always the same action."""

    def __init__(self, action: int) -> None:
        self.action = action
        self.resets = 0

    def reset(self, seed=None) -> None:
        self.resets += 1

    def act(self, obs) -> int:
        return self.action


def stag_hunter(seat: str) -> Always:
    """Partner factory returning an Agent (one is made per env copy)."""
    assert seat == "agent_1"
    return Always(STAG)


def always_hare():
    """Partner factory returning a batched policy callable."""
    return lambda obs, deterministic=False: np.full(len(obs), HARE, np.int64)


def not_a_player():
    return 42


def _config(partners, **over):
    data = {
        "algorithm": "mappo",
        "env": "stag_hunt",
        "env_config": {"horizon": HORIZON},
        "seed": 0,
        "training": {"env_runner_cls": RUNNER, "num_envs_per_env_runner": 8, "train_batch_size": 80, "num_epochs": 1},
        "partners": partners,
    }
    data.update(over)
    return data


# ---- validation (no Ray) -----------------------------------------------------------------
@pytest.mark.parametrize(
    "partners,match",
    [
        (
            {"from": STAG_HUNTER, "seats": ["agent_1"], "mode": "x"},
            r"unknown key 'partners.mode'; allowed: from, seats",
        ),
        ({"from": STAG_HUNTER, "seats": ["agent_7"]}, r"unknown partners.seats entry 'agent_7'.*agent_0, agent_1"),
        ({"from": [], "seats": ["agent_1"]}, "partner pool is empty"),
        ({"seats": ["agent_1"]}, "partner pool is empty"),
        ({"from": STAG_HUNTER, "seats": ["agent_1"], "self_play": 1.5}, r"self_play must be a probability in \[0, 1\]"),
        (
            {"from": STAG_HUNTER, "seats": ["agent_1"], "sample": "per_step"},
            "unknown partners.sample 'per_step'; allowed: per_episode",
        ),
        ({"from": STAG_HUNTER, "seats": ["agent_0", "agent_1"]}, "takes every seat"),
        ({"from": "runs/does-not-exist", "seats": ["agent_1"]}, "neither an existing run dir"),
        ({"from": "test_partners:not_a_player", "seats": ["agent_1"]}, "returned int; expected a policy callable"),
        ({"from": "test_partners:no_such_factory", "seats": ["agent_1"]}, "no usable attribute 'no_such_factory'"),
        (
            {"from": "diverse_marl.agents:RandomAgent", "seats": ["agent_1"]},
            r"cannot call factory 'diverse_marl.agents:RandomAgent' \(missing a required argument: 'num_actions'\); "
            "it is called with the keywords it accepts among seat, env_config, seed",
        ),
    ],
)
def test_bad_partner_blocks_fail_before_ray(partners, match):
    import ray

    was_running = ray.is_initialized()  # other test modules may have started Ray already
    with pytest.raises(ConfigError, match=match):
        load_config(_config(partners))
    assert ray.is_initialized() == was_running  # validation itself never starts Ray


def test_partners_need_the_vector_runner_and_mappo():
    block = {"from": STAG_HUNTER, "seats": ["agent_1"]}
    with pytest.raises(
        ConfigError,
        match="partners need an env runner that plays them: algorithm mappo with "
        "training.env_runner_cls: .*VectorMultiAgentEnvRunner",
    ):
        load_config(_config(block, training={"train_batch_size": 80, "env_runner_cls": None}))
    auto = load_config(_config(block, training={"train_batch_size": 80}))  # default runner: the fast one
    assert auto.to_rllib().env_runner_cls.__name__ == "VectorMultiAgentEnvRunner"
    with pytest.raises(ConfigError, match="partners need .* algorithm 'ppo'"):
        load_config(_config(block, algorithm="ppo", training={}))
    cfg = load_config(_config(block))
    assert cfg.to_rllib().partners_spec == {
        "from": [STAG_HUNTER],
        "seats": ["agent_1"],
        "sample": "per_episode",
        "self_play": 0.0,
        "priority": 0.0,
    }


def test_mappo_config_refuses_partners_on_the_stock_runner():
    from diverse_marl.algorithms.mappo.config import MAPPOConfig

    cfg = MAPPOConfig.from_options("stag_hunt", {"horizon": HORIZON}, {"env_runner_cls": None}, seed=0)
    cfg.partners({"from": STAG_HUNTER, "seats": ["agent_1"]})
    with pytest.raises(ConfigError, match="partners need env_runner_cls=VectorMultiAgentEnvRunner"):
        cfg.validate()


def test_spec_paths_are_absolute_and_pool_names_short(tmp_path, monkeypatch):
    from diverse_marl.partners import PartnerSpec, load_partners

    monkeypatch.chdir(tmp_path)
    spec = PartnerSpec.from_dict({"from": ["runs/a", STAG_HUNTER], "seats": "agent_1"})
    assert spec.sources == (str(tmp_path / "runs" / "a"), STAG_HUNTER) and spec.seats == ("agent_1",)
    pool = load_partners(
        PartnerSpec.from_dict({"from": [STAG_HUNTER, STAG_HUNTER, HARE_POLICY], "seats": ["agent_1"]}), num_copies=3
    )
    assert [p.name for p in pool] == ["stag_hunter", "stag_hunter#2", "always_hare"]
    assert len(pool[0].seats["agent_1"].agents) == 3  # an Agent factory: one agent per env copy
    actions = pool[2].seats["agent_1"].act(np.zeros((2, 6), np.float32), np.array([0, 2]), deterministic=False)
    np.testing.assert_array_equal(actions, [HARE, HARE])


# ---- the runner --------------------------------------------------------------------------
def _prev_other_actions(sa) -> np.ndarray:
    """The partner's action at each step, read from agent_0's next observations."""
    obs = np.asarray(sa.get_observations()["obs"])[1:]  # after each step: one-hot of 2 * mine + other
    return np.argmax(obs[:, :4], axis=1) % 2


def test_partner_steps_never_reach_the_learner(ray_local):
    cfg = load_config(_config({"from": STAG_HUNTER, "seats": ["agent_1"], "self_play": 0.0})).to_rllib()
    algo = cfg.build_algo()
    try:
        runner = algo.env_runner
        episodes = runner.sample(num_timesteps=8 * HORIZON, explore=True)
        assert len(episodes) == 8
        for ep in episodes:
            assert set(ep.agent_episodes) == {"agent_0"}  # the partner's seat is not in the episode
            assert (_prev_other_actions(ep.agent_episodes["agent_0"]) == STAG).all()
        players = runner.partners.pool[0].seats["agent_1"].agents
        # one Agent per copy, reset per episode: the sampled one and the one that just started
        assert len(players) == 8 and all(p.resets == 2 for p in players)
        res = algo.train()
        shared = res["learners"]["shared"]
        # 40 steps sampled above + 80 in the iteration, all agent_0's: no agent_1 steps
        assert res["env_runners"]["num_agent_steps_sampled"] == {"agent_0": 120}
        assert res["env_runners"]["num_module_steps_sampled"] == {"shared": 120}
        # the learner's count includes one bootstrap step per episode chunk (16); self-play would give 192
        assert shared["num_module_steps_trained"] == 80 + 16
        assert res["env_runners"]["episode/self_play"] == 0.0
        assert res["env_runners"]["episode/partner_return/stag_hunter"] <= 8 * HORIZON
    finally:
        algo.stop()


def _draw_log(self_play: float, seed: int, batches: int = 20):
    cfg = load_config(
        _config(
            {"from": [STAG_HUNTER, HARE_POLICY], "seats": ["agent_1"], "self_play": self_play},
            seed=seed,
            env_config={"horizon": 2},
        )
    ).to_rllib()
    from diverse_marl.algorithms.mappo.sampler import VectorMultiAgentEnvRunner

    cfg.env_runners(num_envs_per_env_runner=16)
    runner = VectorMultiAgentEnvRunner(config=cfg)
    kinds = []
    for _ in range(batches):
        for ep in runner.sample(num_timesteps=16 * 2, explore=True):
            if "agent_1" in ep.agent_episodes:
                kinds.append("self_play")
            else:
                other = _prev_other_actions(ep.agent_episodes["agent_0"])
                assert len(set(other.tolist())) == 1  # one partner for the whole episode
                kinds.append("stag" if other[0] == STAG else "hare")
    metrics = runner.get_metrics()
    runner.stop()
    return kinds, metrics


def test_per_episode_draws_match_self_play_and_are_reproducible(ray_local):
    kinds, metrics = _draw_log(self_play=0.3, seed=1)
    n = len(kinds)
    assert n == 16 * 20
    share = kinds.count("self_play") / n
    assert abs(share - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n)  # binomial, 4 sigma
    partner_eps = n - kinds.count("self_play")
    assert abs(kinds.count("stag") / partner_eps - 0.5) < 4 * np.sqrt(0.25 / partner_eps)  # uniform pool
    assert metrics["episode/self_play"].peek() == pytest.approx(share, abs=0.15)  # windowed mean
    # joint return per step with a hare partner: 1 + 1 (hare) or -10 + 3 (stag); with a stag one: 8 or -7
    assert -14 <= metrics["episode/partner_return/always_hare"].peek() <= 4
    assert -14 <= metrics["episode/partner_return/stag_hunter"].peek() <= 16
    assert "episode/partner_return/self_play" in metrics
    again, _ = _draw_log(self_play=0.3, seed=1)
    assert again == kinds  # same seed, same draws
    other, _ = _draw_log(self_play=0.3, seed=2)
    assert other != kinds


def _file_digests(path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file()
    }


def test_run_dir_partner_is_frozen_while_the_learner_trains(ray_local, tmp_path):
    from diverse_marl import load_policy

    partner_cfg = load_config(_config({}, seed=5)).to_rllib()
    algo = partner_cfg.build_algo()
    try:
        algo.train()
        ckpt = Path(algo.save_to_path(str(tmp_path / "partner")))
    finally:
        algo.stop()
    before = _file_digests(ckpt)
    cfg = load_config(_config({"from": str(ckpt), "seats": ["agent_1"], "self_play": 0.2})).to_rllib()
    algo = cfg.build_algo()
    try:
        runner = algo.env_runner
        assert runner.partners.pool[0].name == "partner"  # the checkpoint dir's name
        played = runner.partners.pool[0].seats["agent_1"].policy
        start = {k: v.clone() for k, v in played.actor.state_dict().items()}
        learner_start = {k: v.clone() for k, v in algo.learner_module("shared").state_dict().items()}
        for _ in range(2):
            algo.train()
        for k, v in played.actor.state_dict().items():
            assert torch_equal(v, start[k]), k
        fresh = load_policy(ckpt, "agent_1")
        for k, v in fresh.actor.state_dict().items():
            assert torch_equal(v, start[k]), k
        moved = [
            k for k, v in algo.learner_module("shared").state_dict().items() if not torch_equal(v, learner_start[k])
        ]
        assert moved  # the trained module did change
    finally:
        algo.stop()
    assert _file_digests(ckpt) == before


def torch_equal(a, b) -> bool:
    import torch

    return bool(torch.equal(a, b))


# ---- learning: a partner-trained agent plays its partner better than a self-play agent ------
LEARN_HORIZON = 10
LEARN_ITERS = 12


def _train(partners: dict, seed: int):
    cfg = load_config(
        {
            "algorithm": "mappo",
            "env": "stag_hunt",
            "env_config": {"horizon": LEARN_HORIZON},
            "seed": seed,
            "training": {
                "env_runner_cls": RUNNER,
                "num_envs_per_env_runner": 16,
                "train_batch_size": 640,
                "num_epochs": 5,
                "lr": 3e-3,
                "critic_lr": 3e-3,
                "hidden_sizes": [32],
            },
            "partners": partners,
        }
    ).to_rllib()
    algo = cfg.build_algo()
    try:
        for _ in range(LEARN_ITERS):
            algo.train()
        module = algo.get_module("shared")
    except BaseException:
        algo.stop()
        raise
    return algo, module


def _play_with_stag_hunter(module, episodes: int = 20, seed: int = 0) -> tuple[float, float]:
    """Mean (own return of agent_0, joint return) with the stag-hunting partner in seat agent_1."""
    import torch
    from ray.rllib.core.columns import Columns

    rng = np.random.default_rng(seed)
    own, joint = [], []
    for _ in range(episodes):
        env = StagHuntEnv(horizon=LEARN_HORIZON)
        obs, _ = env.reset(seed=int(rng.integers(1 << 30)))
        r0 = r1 = 0.0
        while env.agents:
            batch = {Columns.OBS: {"obs": torch.as_tensor(obs["agent_0"][None])}}  # the actor reads obs only
            with torch.no_grad():
                logits = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS][0].numpy()
            p = np.exp(logits - logits.max())
            a0 = int(rng.choice(len(p), p=p / p.sum()))
            obs, rew, *_ = env.step({"agent_0": a0, "agent_1": STAG})
            r0, r1 = r0 + rew["agent_0"], r1 + rew["agent_1"]
        own.append(r0)
        joint.append(r0 + r1)
    return float(np.mean(own)), float(np.mean(joint))


LEARN_SEEDS = (0, 1)


def test_partner_trained_agent_plays_its_partner_better_than_self_play(ray_local, capsys):
    """Self-play settles on the safe hare (risk-dominant); trained beside a stag hunter, agent_0
    learns to hunt the stag with it. Scores: agent_0's own and the joint return with the stag
    hunter (per 10-step episode: stag/stag 40 own, 80 joint; hare vs stag 30 own, -70 joint)."""
    scores: dict[str, list] = {"with_partner": [], "self_play": []}
    for seed in LEARN_SEEDS:
        for name, partners in (
            ("with_partner", {"from": STAG_HUNTER, "seats": ["agent_1"], "self_play": 0.0}),
            ("self_play", {}),
        ):
            algo, module = _train(partners, seed=seed)
            try:
                scores[name].append(_play_with_stag_hunter(module))
            finally:
                algo.stop()
    mean = {name: tuple(np.mean(v, axis=0).round(2).tolist()) for name, v in scores.items()}
    with capsys.disabled():
        print(
            f"\nstag hunt with an always-stag partner, (own, joint) return, seeds {LEARN_SEEDS}: {scores} mean {mean}"
        )
    assert mean["with_partner"][0] > mean["self_play"][0] + 0.5 * LEARN_HORIZON
    assert mean["with_partner"][1] > mean["self_play"][1] + 5 * LEARN_HORIZON
