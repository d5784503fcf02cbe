"""Random start states (``random_start``, envs/overcooked/start_states.py): valid, seeded, scheduled, reported apart.

That the reference overcooked_ai steps these states exactly as we do is checked in
test_overcooked_differential.py (``test_random_start_states_step_like_the_reference``).
"""

from __future__ import annotations

import numpy as np
import pytest

from diverse_marl.config import load_config
from diverse_marl.envs.overcooked.core import DISH, ONION, SOUP, BatchState
from diverse_marl.envs.overcooked.env import AGENTS, OvercookedBatchedEnv, OvercookedEnv
from diverse_marl.envs.overcooked.layouts import FLOOR
from diverse_marl.errors import ConfigError

LAYOUT = "counter_circuit"
KITCHENS = 64


def _differs_from_start(s: BatchState, layout) -> np.ndarray:
    start = BatchState.initial(layout, s.num_envs)
    return (
        (s.pos != start.pos).any(axis=(1, 2))
        | (s.held != 0).any(axis=1)
        | (s.obj != 0).any(axis=(1, 2))
        | (s.ori != start.ori).any(axis=1)
    )


def test_without_random_start_every_kitchen_begins_at_the_layout_start():
    env = OvercookedBatchedEnv(KITCHENS, layout=LAYOUT)
    env.reset(seed=0)
    assert not _differs_from_start(env.s, env.layout).any()


@pytest.mark.parametrize("old_dynamics", [False, True])
def test_random_starts_are_valid_states(old_dynamics):
    env = OvercookedBatchedEnv(KITCHENS, layout=LAYOUT, old_dynamics=old_dynamics, random_start=1.0)
    env.reset(seed=0)
    s, layout = env.s, env.layout
    assert _differs_from_start(s, layout).mean() > 0.9
    x, y = s.pos[..., 0], s.pos[..., 1]
    assert (layout.terrain[y, x] == FLOOR).all()
    assert (s.pos[:, 0] != s.pos[:, 1]).any(axis=1).all()  # two cooks never share a cell
    held = s.held[s.held == SOUP]
    assert len(held) > 0 and set(np.unique(s.held)) <= {0, ONION, DISH, SOUP}  # no tomatoes here
    ready = s.held_tick[s.held == SOUP] >= layout.recipe_time[s.held_onions[s.held == SOUP], 0]
    assert ready.all()  # a soup in hand is cooked
    pots_x, pots_y = layout.pot_positions[:, 0], layout.pot_positions[:, 1]
    onions, ticks = s.soup_onions[:, pots_y, pots_x], s.soup_tick[:, pots_y, pots_x]
    full = s.obj[:, pots_y, pots_x] == SOUP
    assert full.any() and (~full).any()
    if old_dynamics:  # pots cook by themselves exactly when full
        assert ((ticks[full] >= 0) == (onions[full] == 3)).all()
    else:
        assert (ticks[full] == -1).any() and (ticks[full] >= 0).any()


def test_random_starts_follow_the_seed():
    def start(seed):
        env = OvercookedBatchedEnv(8, layout=LAYOUT, random_start=0.5)
        env.reset(seed=seed)
        return env.s

    a, b, c = start(3), start(3), start(4)
    assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in vars(a))
    assert not all(np.array_equal(getattr(a, f), getattr(c, f)) for f in vars(a))
    single = [OvercookedEnv(layout=LAYOUT, random_start=1.0) for _ in range(2)]
    assert [e.reset(seed=5)[0]["agent_0"].tolist() for e in single][0] == single[1].reset(seed=5)[0]["agent_0"].tolist()


def test_episode_report_keeps_layout_start_returns_apart():
    """Random-start episodes get NaN in sparse_return_from_layout_start; layout starts their sparse return."""
    env = OvercookedBatchedEnv(KITCHENS, layout=LAYOUT, horizon=20, random_start=0.5)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    seen_random, seen_start = 0, 0
    for _ in range(4):  # four episodes per kitchen; auto-resets draw new starts
        random_now = env._random.copy()
        for _t in range(20):
            _, _, _, _, infos = env.step({a: rng.integers(0, 6, KITCHENS) for a in AGENTS})
        ep = infos["episode"]
        from_start = ep["sparse_return_from_layout_start"]
        assert np.isnan(from_start[random_now]).all()
        np.testing.assert_array_equal(from_start[~random_now], ep["sparse_return"][~random_now])
        seen_random += int(random_now.sum())
        seen_start += int((~random_now).sum())
    assert 0.3 < seen_random / (seen_random + seen_start) < 0.7


def test_cooks_starting_with_soups_deliver_where_cooks_starting_empty_handed_do_not():
    """The point of the curriculum: random play meets the delivery reward only from random starts."""

    def random_play_sparse(random_start):
        env = OvercookedBatchedEnv(KITCHENS, layout=LAYOUT, horizon=400, random_start=random_start)
        env.reset(seed=1)
        rng = np.random.default_rng(1)
        total = 0.0
        for _ in range(400):  # one episode per kitchen
            _, _, _, _, infos = env.step({a: rng.integers(0, 6, KITCHENS) for a in AGENTS})
            total += infos["sparse_reward"].sum()
        return total

    assert random_play_sparse(0.0) == 0.0
    assert random_play_sparse(1.0) >= 40.0  # at least two soups delivered


def test_random_start_is_a_schedulable_parameter():
    cfg = load_config(
        {
            "name": "t",
            "algorithm": "mappo",
            "env": "overcooked",
            "env_config": {"layout": LAYOUT},
            "reward_schedule": {"random_start": [[0, 0.5], [1000, 0.0]]},
        }
    )
    assert cfg.parsed_reward_schedule().values(500) == {"random_start": 0.25}
    env = OvercookedBatchedEnv(4, layout=LAYOUT)
    env.set_reward_params(random_start=1.0)
    env.reset(seed=0)
    assert _differs_from_start(env.s, env.layout).all()


@pytest.mark.parametrize("bad", [1.5, -0.1, "half", True])
def test_bad_random_start_is_named(bad):
    with pytest.raises(ConfigError, match="random_start must be a probability"):
        OvercookedEnv(layout=LAYOUT, random_start=bad)
    with pytest.raises(ConfigError, match="random_start must be a probability"):
        OvercookedBatchedEnv(2, layout=LAYOUT).set_reward_params(random_start=bad)


def test_a_mappo_run_anneals_random_starts_and_reports_layout_start_returns(ray_local):
    """Scheduled through the trainer: 1.0 during the first iteration, 0 afterwards. The episodes of the first
    two iterations began at random (the second's were drawn at the first's auto-resets): nothing to report;
    from the third on every episode began at the layout's start."""
    horizon, kitchens = 10, 4
    steps = horizon * kitchens
    cfg = load_config(
        {
            "name": "random-start",
            "algorithm": "mappo",
            "env": "overcooked",
            "seed": 0,
            "env_config": {"layout": LAYOUT, "horizon": horizon},
            "reward_schedule": {"random_start": [[steps - 1, 1.0], [steps, 0.0]]},
            "training": {
                "train_batch_size": steps,
                "num_envs_per_env_runner": kitchens,
                "num_epochs": 1,
                "hidden_sizes": [16],
                "env_runner_cls": "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner",
            },
        }
    )
    algo = cfg.to_rllib().build_algo()
    key = "episode/sparse_return_from_layout_start"
    try:
        first = algo.train()["env_runners"]
        assert key not in first and first["num_episodes"] == kitchens
        env = algo.env_runner.env
        assert env.random_start == 0.0
        assert key not in algo.train()["env_runners"]
        later = algo.train()["env_runners"]
        assert later[key] == later["episode/sparse_return"]
    finally:
        algo.stop()
