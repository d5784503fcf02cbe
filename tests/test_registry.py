"""The env registry: make / register / list_envs, clear errors for unknown names and options."""

from __future__ import annotations

import pytest

from diverse_marl import envs
from diverse_marl.envs.matrix_games import StagHuntEnv
from diverse_marl.errors import ConfigError


def test_builtins_are_listed():
    names = envs.list_envs()
    assert {"overcooked", "hide_and_seek", "stag_hunt"} <= set(names)
    assert names == sorted(names)


def test_make_by_name_and_by_import_path():
    assert isinstance(envs.make("stag_hunt", horizon=3), StagHuntEnv)
    env = envs.make("diverse_marl.envs.matrix_games:StagHuntEnv", horizon=4)
    assert env.horizon == 4


def test_unknown_env_lists_known_ones():
    with pytest.raises(ConfigError) as exc:
        envs.make("stag_hun")
    assert "unknown env 'stag_hun'" in str(exc.value) and "stag_hunt" in str(exc.value)


def test_unknown_option_lists_allowed_ones():
    with pytest.raises(ConfigError, match=r"unknown option 'horizn' for env 'stag_hunt'; allowed: horizon"):
        envs.make("stag_hunt", horizn=3)


def test_register_a_user_env():
    envs.register("my_stag_hunt_test", lambda horizon=2: StagHuntEnv(horizon=horizon), overwrite=True)
    assert "my_stag_hunt_test" in envs.list_envs()
    assert envs.make("my_stag_hunt_test").horizon == 2
    with pytest.raises(ConfigError, match="already registered"):
        envs.register("my_stag_hunt_test", StagHuntEnv)


def test_stag_hunt_rules():
    env = envs.make("stag_hunt", horizon=2)
    obs, _ = env.reset(seed=0)
    assert obs["agent_0"][4] == 1.0
    _, rew, _, trunc, _ = env.step({"agent_0": 0, "agent_1": 1})
    assert rew == {"agent_0": -10.0, "agent_1": 3.0}
    _, rew, _, trunc, _ = env.step({"agent_0": 0, "agent_1": 0})
    assert rew == {"agent_0": 4.0, "agent_1": 4.0} and all(trunc.values())
    with pytest.raises(ConfigError, match="illegal action 7 for agent_0"):
        env.reset()
        env.step({"agent_0": 7, "agent_1": 0})
