"""The env contract over every built-in env, and ``check_env`` on a user's env: each broken rule is named.

Rules (``diverse_marl.envs.contract``): PettingZoo's parallel api test, same seed -> same episode,
observations and states in their spaces, reported reward features == ``reward_feature_names``, and
the native batched form == N single envs. A few seconds per env.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from gymnasium import spaces
from pettingzoo import ParallelEnv

from diverse_marl import envs
from diverse_marl.envs.batched import SyncBatchedEnv
from diverse_marl.envs.contract import RULES, EnvCheckError, check_env
from diverse_marl.errors import ConfigError

STEPS = 100
# short episodes, so every rollout of STEPS steps crosses an episode end (and the batched auto-reset)
CONFIGS = {"overcooked": {"horizon": 40}, "hide_and_seek": {"horizon": 30}, "monster_hunt": {"horizon": 30}}
NATIVE_BATCHED = {"overcooked", "hide_and_seek", "monster_hunt"}


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("name", envs.list_envs())
def test_builtin_env_keeps_the_contract(name, rule):
    check_env(name, CONFIGS.get(name, {}), steps=STEPS, rules=[rule])


def test_the_batched_rule_meets_every_native_batched_form():
    """The batched check is not vacuous: these envs have a native form, and their episodes end within the check."""
    have = {n for n in envs.list_envs() if callable(getattr(envs.env_factory(n), "batched", None))}
    assert have == NATIVE_BATCHED
    for name in have:
        assert CONFIGS[name]["horizon"] < STEPS


# ---- a user's env, correct and broken one rule at a time ------------------------------------------------
class CountingEnv(ParallelEnv):
    """Two agents guess a hidden digit drawn from the seeded generator; ``broken`` breaks one contract rule."""

    metadata = {"name": "counting_v0"}
    FEATURES = ("match", "miss")
    # "determinism": the first digit ignores the seed; counted, not drawn, so that two resets always differ
    # (a draw repeated itself 1 time in 9 over the check's two comparisons, and the test failed then)
    _unseeded_resets = itertools.count()

    def __init__(self, horizon: int = 6, broken: str | None = None, reward_scale: float = 1.0) -> None:
        self.possible_agents = ["a", "b"]
        self.horizon, self.broken, self.reward_scale = horizon, broken, reward_scale
        self._rng = np.random.default_rng()
        self._t, self._digit = 0, 0

    @classmethod
    def reward_feature_names(cls, **config) -> list[str]:
        return list(cls.FEATURES) + (["bonus"] if config.get("broken") == "reward_features" else [])

    @classmethod
    def batched(cls, num_envs: int, **config):
        """N copies stepped in Python; with broken="batched" the copies pay twice the reward."""
        if config.get("broken") == "batched":
            config = {**config, "reward_scale": 2.0}
        return SyncBatchedEnv([lambda: cls(**config) for _ in range(num_envs)])

    @functools.cache  # noqa: B019 - two agents, the env lives as long as the test
    def observation_space(self, agent):
        return spaces.Box(0.0, 1.0, (2,), np.float32)

    @functools.cache  # noqa: B019
    def action_space(self, agent):
        return spaces.Discrete(3)

    def state_space(self, agent):
        return spaces.Box(0.0, 1.0, (3,), np.float32)

    def state(self):  # every possible agent, also after the last step (the critic reads final states)
        t, digit = self._t / self.horizon, self._digit / 2
        agents = self.agents if self.broken == "state" else self.possible_agents  # "state": none at the end
        return {a: np.array([t, digit, k], np.float32) for k, a in enumerate(agents)}

    def _obs(self):
        t = self._t / self.horizon * (3.0 if self.broken == "spaces" else 1.0)  # "spaces": leaves [0, 1]
        return {a: np.array([t, self._digit / 2], np.float32) for a in self.agents}

    def reset(self, seed=None, options=None):
        if self.broken == "api" and options is not None:  # PettingZoo's test passes options
            raise TypeError("reset() got an unexpected keyword argument 'options'")
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        if self.broken == "determinism":  # ignores the seed: each reset, in any copy, starts one digit on
            self._t, self._digit = 0, next(CountingEnv._unseeded_resets) % 3
        else:
            self._t, self._digit = 0, int(self._rng.integers(3))
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions):
        self._t += 1
        match = {a: float(actions[a] == self._digit) for a in self.agents}
        rewards = {a: self.reward_scale * match[a] for a in self.agents}
        infos = {a: {"reward_features": {"match": match[a], "miss": 1.0 - match[a]}} for a in self.agents}
        self._digit = int(self._rng.integers(3))
        done = self._t >= self.horizon
        obs = self._obs()
        terms = dict.fromkeys(self.agents, False)
        truncs = dict.fromkeys(self.agents, done)
        if done:
            self.agents = []
        return obs, rewards, terms, truncs, infos


def test_a_correct_user_env_passes_as_class_factory_and_instance():
    check_env(CountingEnv)
    check_env(lambda **kw: CountingEnv(**kw), {"horizon": 4})
    check_env(CountingEnv(horizon=5))


def test_the_user_env_example_passes_by_import_path():
    check_env("examples.user_env.rendezvous_env:RendezvousEnv", {"horizon": 10})


@pytest.mark.parametrize("rule", RULES)
def test_each_broken_rule_gives_one_line_naming_it(rule):
    with pytest.raises(EnvCheckError) as caught:
        check_env(CountingEnv, {"broken": rule})
    # an unseeded reset may also make the batched copies differ from the singles; other breaks stay alone
    allowed = {rule, "batched"} if rule == "determinism" else {rule}
    assert rule in caught.value.failures and set(caught.value.failures) <= allowed
    message = str(caught.value)
    assert message.startswith("env CountingEnv breaks ")
    assert f"\n  {rule}: " in message
    expected = {
        "api": "parallel_api_test",
        "determinism": "differ",
        "spaces": "not in observation_space",
        "reward_features": "reward_feature_names says ['match', 'miss', 'bonus']",
        "batched": "batched form != 3 single envs",
    }[rule]
    assert expected in message


def test_an_instance_with_options_and_an_unknown_rule_are_config_errors():
    with pytest.raises(ConfigError, match="env_config applies to a class"):
        check_env(CountingEnv(), {"horizon": 3})
    with pytest.raises(ConfigError, match="unknown env check 'speed'; allowed: api, determinism"):
        check_env(CountingEnv, rules=["speed"])


def test_a_state_missing_after_the_last_step_breaks_the_spaces_rule():
    with pytest.raises(EnvCheckError) as caught:
        check_env(CountingEnv, {"broken": "state"}, rules=["spaces"])
    message = "state() has no entry for 'a': give every possible agent's, even at the end"
    assert caught.value.failures == {"spaces": message}
