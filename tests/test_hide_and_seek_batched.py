"""Differential test: HideAndSeekBatchedEnv == N HideAndSeekEnv, step by step, same seeds and actions.

Crowded maps and a biased action distribution make pushes, pulls, locks, ramp crossings and
blocked moves frequent; the test also checks that those events really happened, so a silent
"nothing ever moves" bug cannot pass.
"""

from __future__ import annotations

import numpy as np
import pytest

from diverse_marl.envs.hide_and_seek import HideAndSeekBatchedEnv, HideAndSeekEnv
from diverse_marl.envs.hide_and_seek.batched import env_seed
from diverse_marl.envs.hide_and_seek.fort import hiders_enclosed, hiders_enclosed_batch
from diverse_marl.envs.hide_and_seek.maps import MapSpec

# moves are frequent, grab/lock/unlock common enough to matter
ACTION_P = np.array([0.05, 0.14, 0.14, 0.14, 0.14, 0.15, 0.14, 0.10])

CONFIGS = {
    "quadrant_default": dict(horizon=30),
    "random_rooms": dict(scenario="random_rooms", horizon=40),
    "crowded_rooms": dict(scenario="random_rooms", size=10, n_boxes=10, n_ramps=6, horizon=40, view_cone=360),
    "crowded_no_prep": dict(
        scenario="quadrant",
        size=11,
        n_boxes=4,
        n_ramps=4,
        horizon=40,
        prep_fraction=0.0,
        n_hiders=3,
        n_seekers=1,
        view_radius=3,
        view_cone=90,
    ),
}


def _run(kw: dict, n_envs: int, steps: int, seed: int) -> dict[str, float]:
    """Steps both forms side by side; returns episode-stat totals and reward-feature totals ("feature/<name>")."""
    batched = HideAndSeekBatchedEnv(num_envs=n_envs, **kw)
    singles = [HideAndSeekEnv(**kw) for _ in range(n_envs)]
    weights = kw.get("reward_weights")
    b_obs, _ = batched.reset(seed=seed)
    s_obs = [env.reset(seed=env_seed(seed, i))[0] for i, env in enumerate(singles)]
    names = batched.possible_agents
    rng = np.random.default_rng(seed + 100)
    totals: dict[str, float] = {}
    returns = np.zeros((n_envs, len(names)))
    original_returns = np.zeros(n_envs)
    for t in range(steps):
        b_state = batched.state()
        for i, env in enumerate(singles):
            s_state = env.state()
            for a in names:
                assert np.array_equal(b_obs[a][i], s_obs[i][a]), f"obs differ: step {t}, env {i}, {a}"
                assert np.array_equal(b_state[a][i], s_state[a]), f"state differs: step {t}, env {i}, {a}"
        actions = {a: rng.choice(len(ACTION_P), size=n_envs, p=ACTION_P) for a in names}
        b_obs, b_rew, b_term, b_trunc, b_info = batched.step(actions)
        for i, env in enumerate(singles):
            obs, rew, term, trunc, info = env.step({a: int(actions[a][i]) for a in names})
            assert b_info["hider_seen"][i] == info[names[0]]["hider_seen"], f"seen differs: step {t}, env {i}"
            for k, a in enumerate(names):
                features, original = info[a]["reward_features"], info[a]["original_reward"]
                assert list(features) == HideAndSeekEnv.reward_feature_names()
                expected = original if weights is None else sum(w * features[f] for f, w in weights.items())
                assert rew[a] == pytest.approx(expected)
                assert b_rew[a][i] == pytest.approx(rew[a], abs=1e-6) and b_info["original_reward"][a][i] == original
                assert b_trunc[a][i] == trunc[a] and b_term[a][i] == term[a]
                returns[i, k] += rew[a]
                original_returns[i] += original
                if k == 0:
                    for f, v in features.items():
                        totals[f"feature/{f}"] = totals.get(f"feature/{f}", 0.0) + v
            assert b_info["done"][i] == trunc[names[0]]
            if trunc[names[0]]:
                stats = info[names[0]]["episode_stats"]
                for k, v in stats.items():
                    assert b_info["episode"][k][i] == v, f"episode stat {k}: {b_info['episode'][k][i]} vs {v}"
                    totals[k] = totals.get(k, 0.0) + v
                for k, a in enumerate(names):
                    assert np.array_equal(b_info["final_obs"][a][i], obs[a])
                    assert b_info["episode"][f"return/{a}"][i] == pytest.approx(returns[i, k], abs=1e-4)
                    if weights is None:
                        assert returns[i, k] == stats["return_hiders" if a.startswith("hider") else "return_seekers"]
                assert b_info["episode"]["original_return"][i] == original_returns[i]
                returns[i], original_returns[i] = 0.0, 0.0
                last_state = env.state()
                for a in names:
                    assert np.array_equal(b_info["final_state"][a][i], last_state[a])
                obs, _ = env.reset()  # continue the same generator, like the batched auto-reset
            s_obs[i] = obs
    return totals


@pytest.mark.parametrize("name", ["quadrant_default", "random_rooms"])
def test_batched_equals_single(name: str) -> None:
    kw = CONFIGS[name]
    totals = _run(kw, n_envs=5, steps=2 * kw["horizon"] + 7, seed=11)
    assert totals["length"] == 5 * 2 * kw["horizon"]


def test_batched_equals_single_crowded() -> None:
    totals: dict[str, float] = {}
    for name in ("crowded_rooms", "crowded_no_prep"):
        for k, v in _run(CONFIGS[name], n_envs=5, steps=3 * 40 + 7, seed=11).items():
            totals[k] = totals.get(k, 0.0) + v
    for event in (
        "box_moves_prep",
        "box_moves_after",
        "ramp_moves_after",
        "locks_hiders_prep",
        "locks_hiders_after",
        "locks_seekers_after",
        "unlocks_hiders",
        "unlocks_seekers",
        "ramp_crossings_hiders",
        "ramp_crossings_seekers",
        "box_displacement_after",
        "ramp_displacement_after",
        "ramps_locked_seekers_end",
        "seen_steps",
        "hidden_steps",
    ):
        assert totals[event] > 0, f"no {event}: the differential test would be too weak"


def test_batched_equals_single_with_reward_weights() -> None:
    """Weighted rewards (features as arrays in the batched form) equal the single env's ``w . features``."""
    weights = {
        "win": 0.5,
        "lose": -2.0,
        "prep": 0.25,
        "box_moves_prep": 1.0,
        "locks_hiders_prep": 3.0,
        "ramp_crossings_seekers": -1.5,
        "unlocks_seekers": 0.7,
    }
    totals = _run({**CONFIGS["crowded_rooms"], "reward_weights": weights}, n_envs=5, steps=3 * 40 + 7, seed=11)
    for name in weights:  # every weighted feature really occurred, so its weight was tested
        assert totals[f"feature/{name}"] > 0, name
    assert totals["feature/win"] + totals["feature/lose"] == totals["feature/hidden"] + totals["feature/seen"]


def test_batch_seeding_and_auto_reset() -> None:
    env = HideAndSeekBatchedEnv(num_envs=3, scenario="random_rooms", horizon=5)
    obs1, _ = env.reset(seed=4)
    obs2, _ = HideAndSeekBatchedEnv(num_envs=3, scenario="random_rooms", horizon=5).reset(seed=4)
    assert all(np.array_equal(obs1[a], obs2[a]) for a in obs1)
    assert not np.array_equal(obs1["hider_0"][0], obs1["hider_0"][1])  # envs differ from each other
    zeros = {a: np.zeros(3, dtype=np.int64) for a in env.possible_agents}
    for _ in range(4):
        _, _, _, trunc, info = env.step(zeros)
        assert not info["done"].any()
    obs, _, _, trunc, info = env.step(zeros)
    assert info["done"].all() and trunc["hider_0"].all()
    assert (info["episode"]["length"] == 5).all()
    assert not np.array_equal(obs["hider_0"], info["final_obs"]["hider_0"])  # new episode started
    assert info["final_state"]["hider_0"].shape == (3, env.state_space("hider_0").shape[0])
    assert (obs["hider_0"][:, -2] == 0).all()  # time fraction restarts at 0


def test_fort_batch_matches_bfs_on_random_scenes() -> None:
    """Vectorized flood fill == per-env BFS on random maps with random locks."""
    spec = MapSpec(HideAndSeekEnv(scenario="random_rooms", size=12, n_boxes=16, n_ramps=3).cfg)
    rng = np.random.default_rng(0)
    scenes = [spec.sample(rng) for _ in range(200)]
    locks = rng.choice([-1, 0, 0, 0, 1], size=(200, 19))  # mostly locked by the hiders
    expected = [hiders_enclosed(s.walls, s.obj_pos, s.obj_kind, lk, s.agent_pos, 2) for s, lk in zip(scenes, locks)]
    got = hiders_enclosed_batch(
        np.stack([s.walls for s in scenes]),
        np.stack([s.obj_pos for s in scenes]),
        scenes[0].obj_kind,
        locks,
        np.stack([s.agent_pos for s in scenes]),
        2,
    )
    assert got.tolist() == expected
    assert 0 < sum(expected) < 200  # both outcomes occur


def test_native_batched_factory() -> None:
    """The fast MAPPO sampler finds the numpy batched env through ``HideAndSeekEnv.batched``."""
    benv = HideAndSeekEnv.batched(num_envs=3, scenario="random_rooms", horizon=7, render_mode="ansi")
    assert isinstance(benv, HideAndSeekBatchedEnv) and benv.num_envs == 3 and benv.cfg.horizon == 7


def test_example_config_builds() -> None:
    """examples/hide_and_seek/mappo.yaml stays valid: two team policies, the fast batched sampler."""
    from pathlib import Path

    from diverse_marl.config import load_config

    path = Path(__file__).resolve().parent.parent / "examples" / "hide_and_seek" / "mappo.yaml"
    rllib_config = load_config(str(path)).to_rllib()
    assert sorted(rllib_config.policies) == ["hider", "seeker"]
    assert rllib_config.env_runner_cls.__name__ == "VectorMultiAgentEnvRunner"
