"""Reward features and reward weights: built-in envs (single and batched), user envs through ``make``
and ``SyncBatchedEnv``, and config validation before Ray. (Hide-and-seek's weighted batched rewards are
checked against the single env in test_hide_and_seek_batched.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo import ParallelEnv

from diverse_marl.config import load_config
from diverse_marl.envs import make, register, reward_feature_names
from diverse_marl.envs.batched import SyncBatchedEnv, make_batched
from diverse_marl.envs.contract import check_env
from diverse_marl.envs.overcooked import EVENT_NAMES, OvercookedBatchedEnv, OvercookedEnv
from diverse_marl.envs.reward import RewardWeightsWrapper
from diverse_marl.errors import ConfigError

N, S, E, W, STAY, INTERACT = range(6)
NORTH, SOUTH, WEST = (0, -1), (0, 1), (-1, 0)
AGENTS = ("agent_0", "agent_1")


def kitchen(p0, o0, held0=None, objects=()):
    """cramped_room with cook 0 placed by hand (cook 1 at (3, 1)); onions at (0, 1), serving at (3, 3)."""
    return {
        "players": [
            {"position": p0, "orientation": o0, "held_object": held0},
            {"position": (3, 1), "orientation": NORTH, "held_object": None},
        ],
        "objects": list(objects),
        "timestep": 0,
    }


def overcooked_step(state, a0, **env_config):
    env = OvercookedEnv(obs="lossless", **env_config)
    env.reset()
    env.set_state(state)
    return env.step({"agent_0": a0, "agent_1": STAY})


# ---- Overcooked ----------------------------------------------------------------------------------------
def test_overcooked_scripted_onion_pickup_is_a_feature_of_that_cook_only():
    _, rew, _, _, infos = overcooked_step(kitchen((1, 1), WEST), INTERACT)
    f0, f1 = infos["agent_0"]["reward_features"], infos["agent_1"]["reward_features"]
    assert list(f0) == reward_feature_names("overcooked") == [*EVENT_NAMES, "sparse", "shaped"]
    assert f0["onion_pickup_dispenser"] == 1 and f0["useful_onion_pickup"] == 1
    assert f1["onion_pickup_dispenser"] == 0 and f1["stay"] == 1
    assert sum(f0.values()) == 2 and f0["sparse"] == f0["shaped"] == 0
    assert rew == {a: infos[a]["original_reward"] for a in AGENTS} == {"agent_0": 0, "agent_1": 0}
    # weighted: the same step is worth w . features, the original reward is kept
    _, rew, _, _, infos = overcooked_step(
        kitchen((1, 1), WEST), INTERACT, reward_weights={"onion_pickup_dispenser": 2.5, "stay": -1.0}
    )
    assert rew == {"agent_0": 2.5, "agent_1": -1.0}
    assert infos["agent_0"]["original_reward"] == infos["agent_1"]["original_reward"] == 0


def test_overcooked_delivery_features_and_weights():
    soup = {
        "name": "soup",
        "position": (3, 2),
        "_ingredients": [{"name": "onion", "position": (3, 2)}] * 3,
        "cooking_tick": 20,
        "is_cooking": False,
        "is_ready": True,
        "is_idle": False,
    }
    state = kitchen((3, 2), SOUTH, held0=soup)
    state["players"][1]["position"] = (1, 1)
    weights = {"soup_delivery": 3.0, "sparse": 0.5, "stay": -0.25}
    _, rew, _, _, infos = overcooked_step(state, INTERACT, reward_weights=weights)
    f0, f1 = infos["agent_0"]["reward_features"], infos["agent_1"]["reward_features"]
    assert f0["soup_delivery"] == 1 and f1["soup_delivery"] == 0
    assert f0["sparse"] == f1["sparse"] == 20  # team sparse reward
    assert rew["agent_0"] == 3.0 + 10.0 and rew["agent_1"] == 10.0 - 0.25
    assert infos["agent_0"]["original_reward"] == infos["agent_1"]["original_reward"] == 20


def test_overcooked_shaped_feature_with_default_weights_equals_the_env_reward():
    onion = {"name": "onion", "position": (2, 1)}
    pot = {
        "name": "soup",
        "position": (2, 0),
        "_ingredients": [{"name": "onion", "position": (2, 0)}],
        "cooking_tick": -1,
        "is_cooking": False,
        "is_ready": False,
        "is_idle": True,
    }
    _, rew, _, _, infos = overcooked_step(
        kitchen((2, 1), NORTH, held0=onion, objects=[pot]), INTERACT, shaping_factor=0.5
    )
    features = infos["agent_0"]["reward_features"]
    assert features["potting_onion"] == 1 and features["shaped"] == 3
    default = {"sparse": 1.0, "shaped": 0.5}  # the env's own reward as weights
    assert rew["agent_0"] == 1.5 == sum(w * features[k] for k, w in default.items())


@pytest.mark.parametrize("n", [4, 32])  # scalar and vectorized dynamics
def test_overcooked_batched_weights_equal_single_env_w_dot_features(n):
    rng = np.random.default_rng(1)
    names = OvercookedEnv.reward_feature_names()
    weights = {name: float(w) for name, w in zip(names, rng.normal(size=len(names)))}
    batched = OvercookedBatchedEnv(n, horizon=100, reward_weights=weights, shaping_factor=0.7)
    singles = [OvercookedEnv(horizon=100, reward_weights=weights, shaping_factor=0.7) for _ in range(n)]
    batched.reset(seed=0)
    for env in singles:
        env.reset(seed=0)
    original_returns, episodes = np.zeros(n), 0
    totals = dict.fromkeys(names, 0.0)
    for _t in range(300):
        acts = rng.choice(6, size=(n, 2), p=[0.15, 0.15, 0.15, 0.15, 0.05, 0.35])
        _, rew, _, trunc, infos = batched.step({a: acts[:, p] for p, a in enumerate(AGENTS)})
        for i, env in enumerate(singles):
            _, s_rew, _, s_trunc, s_infos = env.step({a: int(acts[i, p]) for p, a in enumerate(AGENTS)})
            for a in AGENTS:
                features = s_infos[a]["reward_features"]
                expected = sum(weights[k] * v for k, v in features.items())
                assert s_rew[a] == pytest.approx(expected)
                assert rew[a][i] == pytest.approx(expected)
                assert infos["original_reward"][a][i] == pytest.approx(s_infos[a]["original_reward"])
                original_returns[i] += s_infos[a]["original_reward"]
                for k, v in features.items():
                    totals[k] += v
            if s_trunc["agent_0"]:
                assert infos["done"][i]
                assert infos["episode"]["original_return"][i] == pytest.approx(original_returns[i])
                original_returns[i] = 0.0
                episodes += 1
                env.reset()
    assert episodes == 3 * n
    for name in ("onion_pickup_dispenser", "potting_onion", "move", "bump", "idle_interact", "shaped"):
        assert totals[name] > 0, f"no {name}: too weak a test"


def test_overcooked_weights_validated():
    with pytest.raises(
        ConfigError,
        match=r"unknown reward feature 'onion_pickup_dispensr'.*"
        r"did you mean 'onion_pickup_dispenser'",
    ):
        OvercookedEnv(reward_weights={"onion_pickup_dispensr": 1.0})
    with pytest.raises(ConfigError, match="expected a number"):
        OvercookedBatchedEnv(2, reward_weights={"sparse": "a lot"})


# ---- Stag Hunt, credit assignment ----------------------------------------------------------------------
def test_stag_hunt_features_are_the_joint_outcome_as_each_agent_sees_it():
    env = make("stag_hunt", horizon=3)
    env.reset()
    _, rew, _, _, infos = env.step({"agent_0": 0, "agent_1": 1})  # agent_0 stag, agent_1 hare
    assert infos["agent_0"]["reward_features"] == {"stag_stag": 0, "stag_hare": 1, "hare_stag": 0, "hare_hare": 0}
    assert infos["agent_1"]["reward_features"] == {"stag_stag": 0, "stag_hare": 0, "hare_stag": 1, "hare_hare": 0}
    assert rew == {"agent_0": -10.0, "agent_1": 3.0}
    env = make("stag_hunt", horizon=3, reward_weights={"stag_hare": 0.5, "hare_stag": 2.0, "stag_stag": 9.0})
    env.reset()
    _, rew, _, _, infos = env.step({"agent_0": 0, "agent_1": 1})
    assert rew == {"agent_0": 0.5, "agent_1": 2.0}
    assert (infos["agent_0"]["original_reward"], infos["agent_1"]["original_reward"]) == (-10.0, 3.0)
    _, rew, *_ = env.step({"agent_0": 0, "agent_1": 0})
    assert rew == {"agent_0": 9.0, "agent_1": 9.0}
    env.set_reward_params(reward_weights=None)  # back to the payoff matrix
    _, rew, *_ = env.step({"agent_0": 0, "agent_1": 0})
    assert rew == {"agent_0": 4.0, "agent_1": 4.0}


def test_credit_assignment_own_match_gives_individual_credit():
    env = make("credit_assignment", num_agents=2, num_cues=3, reward_weights={"own_match": 1.0})
    obs, _ = env.reset(seed=5)
    cues = {a: int(np.argmax(o[:3])) for a, o in obs.items()}
    actions = {"agent_0": cues["agent_0"], "agent_1": (cues["agent_1"] + 1) % 3}  # only agent_0 is right
    _, rew, _, _, infos = env.step(actions)
    assert rew == {"agent_0": 1.0, "agent_1": 0.0}
    assert infos["agent_0"]["reward_features"]["team_success"] == 0
    assert infos["agent_0"]["original_reward"] == 0.0


# ---- user envs: wrapper in make, SyncBatchedEnv, probing -------------------------------------------------
class CoinEnv(ParallelEnv):
    """Two agents guess a coin; features: "right" (own guess right) and "tails" (the coin)."""

    metadata = {"name": "coin_v0"}

    def __init__(self, horizon: int = 4, with_features: bool = True):
        self.horizon, self.with_features = horizon, with_features
        self.possible_agents = ["a", "b"]
        self.agents: list[str] = []
        self._rng = np.random.default_rng(0)
        self._obs_space, self._act_space = spaces.Box(0.0, 1.0, (1,), np.float32), spaces.Discrete(2)

    def observation_space(self, agent):
        return self._obs_space

    def action_space(self, agent):
        return self._act_space

    def reset(self, seed=None, options=None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents, self.t = list(self.possible_agents), 0
        return {a: np.zeros(1, np.float32) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        coin = int(self._rng.integers(2))
        self.t += 1
        done = self.t >= self.horizon
        rewards = {a: 10.0 * (actions[a] == coin) for a in self.agents}
        infos = {
            a: (
                {"reward_features": {"right": float(actions[a] == coin), "tails": float(coin)}}
                if self.with_features
                else {}
            )
            for a in self.agents
        }
        obs = {a: np.full(1, coin, np.float32) for a in self.agents}
        out = obs, rewards, {a: False for a in self.agents}, {a: done for a in self.agents}, infos
        if done:
            self.agents = []
        return out


register("test_coin", CoinEnv, overwrite=True)


def test_user_env_gets_weights_through_make_and_sync_batched():
    env = make("test_coin", reward_weights={"tails": 2.0, "right": -1.0})
    assert isinstance(env, RewardWeightsWrapper) and env.possible_agents == ["a", "b"]
    check_env(env, steps=10)
    env.reset(seed=3)
    seen = 0
    for _ in range(4):
        _, rew, _, _, infos = env.step({"a": 0, "b": 1})
        for agent in ("a", "b"):
            f = infos[agent]["reward_features"]
            assert rew[agent] == 2.0 * f["tails"] - f["right"]
            assert infos[agent]["original_reward"] == 10.0 * f["right"]
            seen += f["tails"]
    assert 0 < seen < 8  # both coin sides occurred
    env.reset()
    env.set_reward_params(reward_weights={"right": 3.0})  # what the trainer's reward schedule calls
    _, rew, _, _, infos = env.step({"a": 0, "b": 1})
    assert rew == {a: 3.0 * infos[a]["reward_features"]["right"] for a in ("a", "b")}
    env.set_reward_params(reward_weights=None)  # the env's own reward again
    _, rew, _, _, infos = env.step({"a": 0, "b": 1})
    assert rew == {a: 10.0 * infos[a]["reward_features"]["right"] for a in ("a", "b")}
    with pytest.raises(
        ConfigError, match="unknown reward parameter 'shaping_factor' for env 'test_coin'; allowed: reward_weights"
    ):
        env.set_reward_params(shaping_factor=1.0)
    batched = make_batched("test_coin", 3, reward_weights={"right": 5.0})
    assert isinstance(batched, SyncBatchedEnv)
    batched.reset(seed=1)
    checked = 0
    for _ in range(6):
        _, rew, *_, infos = batched.step({"a": np.zeros(3, int), "b": np.ones(3, int)})
        for i, copy_infos in enumerate(infos["env_infos"]):
            if copy_infos["a"]:  # a copy that just auto-reset reports its (empty) reset infos instead
                right = copy_infos["a"]["reward_features"]["right"]
                assert rew["a"][i] == 5.0 * right and copy_infos["a"]["original_reward"] == 10.0 * right
                checked += 1
    assert checked == 3 * 5  # 6 steps, 4-step episodes: only step 4 (episode end) shows reset infos


def test_user_env_feature_names_are_probed_and_checked():
    assert reward_feature_names("test_coin") == ["right", "tails"]
    assert reward_feature_names("test_coin", {"with_features": False}) == []
    env = make("test_coin", with_features=False, reward_weights={"right": 1.0})
    env.reset()
    with pytest.raises(ConfigError, match="reports no infos\\['a'\\]\\['reward_features'\\]"):
        env.step({"a": 0, "b": 0})
    env = make("test_coin", reward_weights={"rigth": 1.0})
    env.reset()
    with pytest.raises(ConfigError, match="unknown reward feature 'rigth'.*did you mean 'right'"):
        env.step({"a": 0, "b": 0})


# ---- config: unknown feature names fail before Ray ---------------------------------------------------------
def test_unknown_feature_fails_in_config_validation_before_ray():
    import ray

    was_running = ray.is_initialized()
    with pytest.raises(
        ConfigError,
        match=r"unknown reward feature 'soup_delivered' in env_config.reward_weights "
        r"\(did you mean 'soup_delivery'\?\); features of env 'overcooked': "
        r"onion_pickup_dispenser, .*, sparse, shaped",
    ):
        load_config({"env": "overcooked", "env_config": {"reward_weights": {"sparse": 1, "soup_delivered": 1}}})
    with pytest.raises(ConfigError, match="unknown reward feature 'stag'.*features of env 'stag_hunt': stag_stag"):
        load_config({"algorithm": "ppo", "env": "stag_hunt", "env_config": {"reward_weights": {"stag": 1}}})
    with pytest.raises(ConfigError, match="env 'test_coin' reports no reward features"):
        load_config({"env": "test_coin", "env_config": {"with_features": False, "reward_weights": {"right": 1}}})
    assert ray.is_initialized() == was_running  # nothing started Ray
    cfg = load_config({"env": "test_coin", "env_config": {"reward_weights": {"tails": 1}}})  # probed names
    assert cfg.env_config["reward_weights"] == {"tails": 1}


def test_old_shaping_anneal_option_is_a_clear_error():
    with pytest.raises(
        ConfigError,
        match=r"shaping_anneal_steps is replaced by reward_schedule.*"
        r"reward_schedule: \{shaping_factor: \[\[0, 0.5\], \[1000, 0.0\]\]\}",
    ):
        load_config({"env": "overcooked", "env_config": {"shaping_factor": 0.5, "shaping_anneal_steps": 1000}})
