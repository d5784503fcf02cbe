"""Tests for the batched env layer (envs/batched.py) and the fast MAPPO sampler (algorithms/mappo/sampler.py)."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from pettingzoo import ParallelEnv

from diverse_marl.envs import register, list_envs
from diverse_marl.envs.batched import SyncBatchedEnv, derive_seed, make_batched
from diverse_marl.errors import ConfigError

OBS_DIM = 3
N_ACTIONS = 3


class ToyEnv(ParallelEnv):
    """Three agents; "c" dies after ``c_life`` steps; the episode truncates at ``horizon``.

    Observations depend on the seed (random start) and on every action, so a wrong
    action routing or a wrong seed shows up in the numbers. Reward of agent k = its action
    times (k+1) plus a random part.
    """

    metadata = {"name": "toy_v0"}

    def __init__(self, horizon: int = 5, c_life: int = 2):
        self.possible_agents = ["a", "b", "c"]
        self.horizon, self.c_life = horizon, c_life
        self._obs_space = gym.spaces.Box(-np.inf, np.inf, (OBS_DIM,), np.float32)
        self._act_space = gym.spaces.Discrete(N_ACTIONS)

    def observation_space(self, agent):
        return self._obs_space

    def action_space(self, agent):
        return self._act_space

    def reset(self, seed=None, options=None):
        if seed is not None or not hasattr(self, "rng"):
            self.rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self.t = 0
        self.x = self.rng.normal(size=OBS_DIM).astype(np.float32)
        return {a: self._obs(a) for a in self.agents}, {a: {} for a in self.agents}

    def _obs(self, agent):
        k = self.possible_agents.index(agent)
        return (self.x + k).astype(np.float32)

    def step(self, actions):
        self.t += 1
        noise = float(self.rng.normal())
        for k, a in enumerate(self.possible_agents):
            if a in actions:
                self.x[k % OBS_DIM] += actions[a] + 0.1 * noise
        rew = {a: float(actions[a] * (k + 1)) + noise for k, a in enumerate(self.possible_agents) if a in actions}
        term = {a: (a == "c" and self.t >= self.c_life) for a in actions}
        trunc = {a: self.t >= self.horizon for a in actions}
        obs = {a: self._obs(a) for a in actions}
        self.agents = [a for a in self.agents if not (term[a] or trunc[a])]
        return obs, rew, term, trunc, {a: {} for a in actions}


if "test_toy" not in list_envs():
    register("test_toy", ToyEnv)


def _stack(per_env):
    return np.stack(per_env)


def test_sync_batched_equals_stepping_envs_one_by_one():
    n, seed, steps = 3, 11, 13
    batched = SyncBatchedEnv([lambda: ToyEnv(horizon=5, c_life=2) for _ in range(n)])
    refs = [ToyEnv(horizon=5, c_life=2) for _ in range(n)]
    obs, infos = batched.reset(seed=seed)
    ref_obs = [r.reset(seed=derive_seed(seed, i))[0] for i, r in enumerate(refs)]
    for a in batched.possible_agents:
        np.testing.assert_allclose(obs[a], _stack([o[a] for o in ref_obs]))
    rng = np.random.default_rng(0)
    for _ in range(steps):
        acts = {a: rng.integers(0, N_ACTIONS, n) for a in batched.possible_agents}
        obs, rew, term, trunc, infos = batched.step(acts)
        for i, r in enumerate(refs):
            acting = list(r.agents)
            o, rw, te, tr, _ = r.step({a: int(acts[a][i]) for a in acting})
            for a in acting:
                assert rew[a][i] == pytest.approx(rw[a], rel=1e-6)
                assert term[a][i] == te[a] and trunc[a][i] == tr[a]
            done = not r.agents
            assert infos["done"][i] == done
            if done:
                for a in acting:
                    np.testing.assert_allclose(infos["final_obs"][a][i], o[a])
                o, _ = r.reset()  # unseeded: continues the env's own random stream
                for a in batched.possible_agents:
                    np.testing.assert_allclose(obs[a][i], o[a])
            else:
                for a in batched.possible_agents:
                    if a in r.agents:
                        np.testing.assert_allclose(obs[a][i], o[a])
                    assert infos["alive"][a][i] == (a in r.agents)


def test_auto_reset_padding_and_episode_totals():
    batched = SyncBatchedEnv([lambda: ToyEnv(horizon=4, c_life=2) for _ in range(2)])
    obs, infos = batched.reset(seed=0)
    assert all(infos["alive"][a].all() for a in batched.possible_agents)
    returns = {a: np.zeros(2) for a in batched.possible_agents}
    ones = {a: np.ones(2, np.int64) for a in batched.possible_agents}
    for t in range(1, 5):
        obs, rew, term, trunc, infos = batched.step(ones)
        for a in batched.possible_agents:
            returns[a] += rew[a]
        if t == 2:  # "c" just terminated: last obs is real, it is not alive any more
            assert term["c"].all() and not infos["alive"]["c"].any()
            assert np.abs(obs["c"]).sum() > 0
        if t == 3:  # dead agent: padded with zeros, zero reward, terminated
            assert (obs["c"] == 0).all() and (rew["c"] == 0).all() and term["c"].all()
            assert infos["alive"]["a"].all() and not infos["done"].any()
    assert infos["done"].all() and trunc["a"].all()
    assert (infos["episode"]["length"] == 4).all()
    for a in batched.possible_agents:
        np.testing.assert_allclose(infos["episode"][f"return/{a}"], returns[a])
    # after the same-step reset every agent is alive again with a fresh observation
    assert all(infos["alive"][a].all() for a in batched.possible_agents)
    assert not np.allclose(obs["a"], infos["final_obs"]["a"])
    state = batched.state()
    assert state["a"].shape == (2, 3 * OBS_DIM)
    np.testing.assert_allclose(state["a"][:, :OBS_DIM], obs["a"])
    np.testing.assert_allclose(state["b"][:, :OBS_DIM], obs["b"])
    assert batched.state_space("a").shape == (3 * OBS_DIM,)


def test_same_seed_same_numbers_and_illegal_action():
    runs = []
    for _ in range(2):
        b = make_batched("test_toy", 4, horizon=3)
        obs, _ = b.reset(seed=5)
        runs.append(obs["a"].copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.allclose(runs[0][0], runs[0][1])  # copies get different seeds
    b = make_batched("test_toy", 2)
    b.reset(seed=0)
    with pytest.raises(ConfigError, match="illegal action 7 for agent 'b'"):
        b.step({"a": np.zeros(2, int), "b": np.array([0, 7]), "c": np.zeros(2, int)})


class _NativeEnv(ToyEnv):
    """A ParallelEnv that advertises a native batched class via ``batched``."""

    @classmethod
    def batched(cls, num_envs, **kw):
        env = SyncBatchedEnv([lambda: cls(**kw) for _ in range(num_envs)])
        env.native = True
        return env


def test_make_batched_prefers_native_class_and_checks_options():
    if "test_native" not in list_envs():
        register("test_native", _NativeEnv)
    env = make_batched("test_native", 3, horizon=2)
    assert getattr(env, "native", False) and env.num_envs == 3
    assert not hasattr(make_batched("test_toy", 2), "native")
    with pytest.raises(ConfigError, match="unknown option 'bogus'"):
        make_batched("test_native", 2, bogus=1)
    with pytest.raises(ConfigError, match="num_envs"):
        make_batched("test_toy", 0)
