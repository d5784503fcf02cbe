"""MAPPO's env adapter: where the critic's global state comes from, obs flattening, masks, done flags.

No Ray is started here (RLlib's MultiAgentEnv base class is only imported).
"""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo import ParallelEnv

from diverse_marl.algorithms.mappo.env import MAPPOEnv, MAPPOObservationAdapter
from diverse_marl.algorithms.mappo.module import MASK_KEY, OBS_KEY, STATE_KEY
from diverse_marl.envs import make
from diverse_marl.errors import ConfigError


class TinyEnv(ParallelEnv):
    """Two agents with different observation spaces (Discrete and Box); agent b leaves after 1 step."""

    metadata = {"name": "tiny"}

    def __init__(self, global_state: bool = False):
        self.possible_agents = ["a_0", "b_0"]
        self.agents = []
        if global_state:
            self.state_space = spaces.Box(0, 10, shape=(2,), dtype=np.float32)
        self._t = 0

    def observation_space(self, agent):
        return spaces.Discrete(3) if agent == "a_0" else spaces.Box(0, 1, shape=(2, 2), dtype=np.float32)

    def action_space(self, agent):
        return spaces.Discrete(2)

    def _obs(self):
        o = {"a_0": self._t % 3, "b_0": np.full((2, 2), 0.5, dtype=np.float32)}
        return {a: o[a] for a in self.agents}

    def state(self):
        return np.array([self._t, 7.0], dtype=np.float32)

    def reset(self, seed=None, options=None):
        self.agents, self._t = list(self.possible_agents), 0
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions):
        self._t += 1
        stepped = list(self.agents)
        terms = {a: a == "b_0" for a in stepped}
        truncs = {a: self._t >= 3 for a in stepped}
        obs = {a: o for a, o in {"a_0": self._t % 3, "b_0": np.zeros((2, 2), np.float32)}.items() if a in stepped}
        self.agents = [a for a in stepped if not (terms[a] or truncs[a])]
        return obs, {a: 1.0 for a in stepped}, terms, truncs, {a: {} for a in stepped}


def test_concat_state_fallback_one_hot_obs_and_id():
    env = TinyEnv()
    adapter = MAPPOObservationAdapter(env, "state")
    assert adapter.state_source == "concat"
    assert adapter.observation_space("a_0")[OBS_KEY].shape == (3,)  # Discrete -> one-hot
    assert adapter.observation_space("b_0")[OBS_KEY].shape == (2, 2)  # Box keeps its shape
    assert adapter.observation_space("a_0")[STATE_KEY].shape == (3 + 4 + 2,)
    obs, _ = env.reset()
    out = adapter(env, obs)
    np.testing.assert_array_equal(out["a_0"][OBS_KEY], [1, 0, 0])
    np.testing.assert_array_equal(out["a_0"][STATE_KEY], [1, 0, 0, 0.5, 0.5, 0.5, 0.5, 1, 0])
    np.testing.assert_array_equal(out["b_0"][STATE_KEY][-2:], [0, 1])
    # an agent without an observation contributes zeros to everyone's state
    only_a = adapter(env, {"a_0": 2})
    np.testing.assert_array_equal(only_a["a_0"][STATE_KEY], [0, 0, 1, 0, 0, 0, 0, 1, 0])


def test_env_global_state_gets_agent_id_and_obs_critic_has_no_state():
    env = TinyEnv(global_state=True)
    adapter = MAPPOObservationAdapter(env, "state")
    assert adapter.state_source == "env_global"
    obs, _ = env.reset()
    np.testing.assert_array_equal(adapter(env, obs)["b_0"][STATE_KEY], [0, 7, 0, 1])
    local = MAPPOObservationAdapter(env, "obs")
    assert STATE_KEY not in local.observation_space("a_0").spaces
    assert STATE_KEY not in local(env, obs)["a_0"]
    with pytest.raises(ConfigError, match="critic_input 'joint'.*state, joint_obs, obs"):
        MAPPOObservationAdapter(env, "joint")


def test_agent_specific_state_and_action_mask_from_the_testbed():
    env = make("credit_assignment", action_masking=True)
    adapter = MAPPOObservationAdapter(env, "state")
    assert adapter.state_source == "env_agent"
    space = adapter.observation_space("agent_1")
    assert set(space.spaces) == {OBS_KEY, STATE_KEY, MASK_KEY}
    obs, _ = env.reset(seed=0)
    out = adapter(env, obs)
    np.testing.assert_array_equal(out["agent_1"][STATE_KEY], env.state()["agent_1"])
    np.testing.assert_array_equal(out["agent_1"][OBS_KEY], obs["agent_1"]["observation"])
    assert out["agent_1"][MASK_KEY].dtype == np.float32 and out["agent_1"][MASK_KEY].sum() == 2
    assert space.contains(out["agent_1"])


class _BadStateEnv(TinyEnv):
    """Per-agent ``state_space(agent)`` but ``state()`` returns neither a dict nor a row per agent."""

    def state_space(self, agent):
        return spaces.Box(0, 1, shape=(2,), dtype=np.float32)

    def state(self):
        return np.zeros(5, np.float32)


def test_env_agent_state_of_the_wrong_shape_is_a_clear_error():
    env = _BadStateEnv()
    adapter = MAPPOObservationAdapter(env, "state")
    assert adapter.state_source == "env_agent"
    obs, _ = env.reset()
    with pytest.raises(
        ConfigError,
        match=r"env.state\(\) returned shape \(5,\); expected a dict agent -> state "
        r"or one row per agent \(2 rows",
    ):
        adapter(env, obs)


def test_batched_box_observations_keep_the_leading_axis():
    env = make("credit_assignment")
    adapter = MAPPOObservationAdapter(env, "obs")
    batch = {"agent_0": np.zeros((5, 4), np.float32), "agent_1": np.ones((5, 4), np.float32)}
    out = adapter(env, batch)
    assert out["agent_1"][OBS_KEY].shape == (5, 4)
    concat = MAPPOObservationAdapter(TinyEnv(), "state")
    tiny = {"b_0": np.zeros((6, 2, 2), np.float32)}
    assert concat(TinyEnv(), tiny)["b_0"][STATE_KEY].shape == (6, 3 + 4 + 2)


def test_rllib_env_done_flags_with_an_agent_leaving_early():
    env = MAPPOEnv(TinyEnv())
    obs, infos = env.reset(seed=0)
    assert set(obs) == {"a_0", "b_0"} and set(infos) == {"a_0", "b_0"}
    obs, rew, term, trunc, _ = env.step({"a_0": 0, "b_0": 1})
    assert term == {"a_0": False, "b_0": True, "__all__": False}
    assert trunc["__all__"] is False
    obs, rew, term, trunc, _ = env.step({"a_0": 0})
    assert set(obs) == {"a_0"}
    obs, rew, term, trunc, _ = env.step({"a_0": 1})
    assert trunc == {"a_0": True, "__all__": True} and term["__all__"] is False
