"""Stag Hunt: payoff presets, any payoffs (a warning naming the game's class), RPG's randomized
games as reward weights, per-episode outcome rates in ``infos[agent]["episode_stats"]``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from diverse_marl.config import load_config
from diverse_marl.envs import make, reward_feature_names
from diverse_marl.envs.batched import make_batched
from diverse_marl.envs.matrix_games import (
    HARE,
    PAYOFF_PRESETS,
    RPG_RANDOMIZED_WEIGHTS,
    STAG,
    STAT_NAMES,
    PayoffOrderWarning,
    StagHuntEnv,
    game_class,
)
from diverse_marl.errors import ConfigError

AGENTS = ("agent_0", "agent_1")


def _play(env: StagHuntEnv, joint_actions: list[tuple[int, int]]) -> list[tuple[dict, dict]]:
    env.reset(seed=0)
    out = []
    for a0, a1 in joint_actions:
        _, rew, _, _, infos = env.step({"agent_0": a0, "agent_1": a1})
        out.append((rew, infos))
    return out


def _matrix(env: StagHuntEnv) -> dict[tuple[int, int], tuple[float, float]]:
    """The payoffs the env really pays, read by playing every joint action."""
    pairs = [(STAG, STAG), (STAG, HARE), (HARE, STAG), (HARE, HARE)]
    return {p: (rew["agent_0"], rew["agent_1"]) for p, (rew, _) in zip(pairs, _play(env, pairs))}


def test_presets_classic_is_the_default_and_rpg_punishes_a_lone_stag_hunter_harder():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # both presets are stag hunts: no warning
        classic, default, rpg = (
            StagHuntEnv(payoff_preset="classic", horizon=4),
            StagHuntEnv(horizon=4),
            StagHuntEnv(payoff_preset="rpg", horizon=4),
        )
    expected_classic = {(STAG, STAG): (4, 4), (STAG, HARE): (-10, 3), (HARE, STAG): (3, -10), (HARE, HARE): (1, 1)}
    assert _matrix(classic) == _matrix(default) == expected_classic
    assert _matrix(rpg) == {**expected_classic, (STAG, HARE): (-50, 3), (HARE, STAG): (3, -50)}
    assert list(PAYOFF_PRESETS) == ["classic", "rpg"]


def test_explicit_values_override_the_preset():
    env = StagHuntEnv(payoff_preset="rpg", stag_reward=6, horizon=4)
    m = _matrix(env)
    assert m[(STAG, STAG)] == (6, 6) and m[(STAG, HARE)] == (-50, 3)


def test_any_payoffs_are_played_with_a_warning_naming_the_game_class():
    with pytest.warns(PayoffOrderWarning, match=r"StagHuntEnv.*not a stag hunt.*game class: prisoner's dilemma"):
        env = StagHuntEnv(stag_reward=3, hare_reward=4, both_hare_reward=1, alone_penalty=0, horizon=4)
    assert _matrix(env) == {(STAG, STAG): (3, 3), (STAG, HARE): (0, 4), (HARE, STAG): (4, 0), (HARE, HARE): (1, 1)}
    with pytest.warns(PayoffOrderWarning, match="game class: chicken"):
        make("stag_hunt", stag_reward=3, hare_reward=4, both_hare_reward=0, alone_penalty=1)


@pytest.mark.parametrize(
    "a, b, c, d, kind",
    [
        (4, 3, -10, 1, "stag hunt"),
        (4, 3, 1, 3, "stag hunt"),  # b == d is still a stag hunt
        (3, 4, 0, 1, "prisoner's dilemma"),
        (3, 4, 1, 0, "chicken"),
        (1, 4, 0, 2, "deadlock"),
        (4, 0, 0, 0, "harmony game (stag is never worse)"),  # RPG's first randomized game
        (0, 0, 0, 4, "game where hare is never worse"),  # RPG's second
        (0, 4, 4, 0, "anti-coordination game"),  # RPG's third
        (4, 1, 0, 3, "coordination game (a > b and d > c, but not a > b >= d > c)"),
    ],
)
def test_game_class(a, b, c, d, kind):
    assert game_class(a, b, c, d) == kind


def test_bad_payoff_options_are_config_errors():
    with pytest.raises(ConfigError, match=r"unknown payoff_preset 'rgp' for env 'stag_hunt'; allowed: classic, rpg"):
        StagHuntEnv(payoff_preset="rgp")
    with pytest.raises(ConfigError, match=r"unknown payoff_preset 'rgp' for env 'stag_hunt'; allowed: classic, rpg"):
        load_config({"algorithm": "ppo", "env": "stag_hunt", "env_config": {"payoff_preset": "rgp"}})
    with pytest.raises(ConfigError, match="stag_reward must be a number"):
        StagHuntEnv(stag_reward="high")


def test_rpg_randomized_games_as_reward_weights():
    names = reward_feature_names("stag_hunt")
    pairs = [(STAG, STAG), (STAG, HARE), (HARE, STAG), (HARE, HARE)]
    for weights in RPG_RANDOMIZED_WEIGHTS:
        assert sorted(weights) == sorted(names)
        env = make("stag_hunt", horizon=4, reward_weights=weights)
        for (a0, a1), (rew, infos) in zip(pairs, _play(env, pairs)):
            mine = ("stag" if a0 == STAG else "hare") + "_" + ("stag" if a1 == STAG else "hare")
            theirs = ("stag" if a1 == STAG else "hare") + "_" + ("stag" if a0 == STAG else "hare")
            assert rew == {"agent_0": weights[mine], "agent_1": weights[theirs]}
            # the game's own (classic) payoff stays in the infos
            assert (
                infos["agent_0"]["original_reward"]
                == {(STAG, STAG): 4, (STAG, HARE): -10, (HARE, STAG): 3, (HARE, HARE): 1}[(a0, a1)]
            )


def test_episode_stats_are_outcome_rates_reported_on_the_last_step_only():
    env = StagHuntEnv(horizon=4)
    steps = _play(env, [(STAG, STAG), (STAG, HARE), (HARE, HARE), (STAG, STAG)])
    for _, infos in steps[:-1]:
        assert all("episode_stats" not in infos[a] for a in AGENTS)
    last = steps[-1][1]
    assert list(last["agent_0"]["episode_stats"]) == list(STAT_NAMES)
    assert last["agent_0"]["episode_stats"] == {
        "stag_stag_rate": 0.5,
        "stag_hare_rate": 0.25,
        "hare_stag_rate": 0.0,
        "hare_hare_rate": 0.25,
        "stag_rate": 0.75,
    }
    assert last["agent_1"]["episode_stats"] == {
        "stag_stag_rate": 0.5,
        "stag_hare_rate": 0.0,
        "hare_stag_rate": 0.25,
        "hare_hare_rate": 0.25,
        "stag_rate": 0.5,
    }
    # a new episode starts counting from zero
    steps = _play(env, [(HARE, HARE)] * 4)
    assert steps[-1][1]["agent_0"]["episode_stats"]["hare_hare_rate"] == 1.0
    assert steps[-1][1]["agent_0"]["episode_stats"]["stag_stag_rate"] == 0.0


def test_episode_stats_reach_the_batched_episode_totals():
    """What the training metrics read (``infos["episode"]["<agent>/<stat>"]`` of the batched env)."""
    env = make_batched("stag_hunt", 3, horizon=2)
    env.reset(seed=1)
    always = {"agent_0": np.array([STAG, STAG, HARE]), "agent_1": np.array([STAG, HARE, HARE])}
    env.step(always)
    _, _, _, _, infos = env.step(always)
    assert infos["done"].all()
    np.testing.assert_array_equal(infos["episode"]["agent_0/stag_stag_rate"], [1.0, 0.0, 0.0])
    np.testing.assert_array_equal(infos["episode"]["agent_0/stag_hare_rate"], [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(infos["episode"]["agent_1/hare_stag_rate"], [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(infos["episode"]["agent_1/stag_rate"], [1.0, 0.0, 0.0])
