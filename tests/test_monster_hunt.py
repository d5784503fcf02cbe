"""Monster-Hunt: the PettingZoo API, the rules on scripted scenes, seeding, reward features and
weights, and a step-by-step differential test of the numpy batched form against the reference env.
Ends with a tiny real MAPPO run through the fast sampler, which uses the batched form."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from pettingzoo.test import parallel_seed_test

from diverse_marl.envs import make, reward_feature_names
from diverse_marl.envs.batched import SyncBatchedEnv, derive_seed, make_batched
from diverse_marl.envs.monster_hunt import (
    ACTION_NAMES,
    FEATURE_NAMES,
    STAT_NAMES,
    MonsterHuntBatchedEnv,
    MonsterHuntEnv,
)
from diverse_marl.errors import ConfigError

AGENTS = ("agent_0", "agent_1")
STAY, UP, DOWN, LEFT, RIGHT = range(len(ACTION_NAMES))
APPLES = [(0, 4), (4, 0)]


def _positions(env: MonsterHuntEnv, obs: dict[str, np.ndarray]) -> list[tuple[int, int]]:
    """Cells of agent_0, agent_1, the monster and the apples, read back from agent_0's observation."""
    cells = np.rint(obs["agent_0"][:-1] * (env.layout.size - 1)).astype(int).reshape(-1, 2)
    return [tuple(c) for c in cells.tolist()]


def _scene(agents, monster, apples=APPLES, coins=None, **options):
    env = MonsterHuntEnv(**options)
    env.reset(seed=0)
    env.place(agents, monster, apples, coins=coins)
    return env


def _step(env, a0, a1):
    obs, rew, term, trunc, infos = env.step({"agent_0": a0, "agent_1": a1})
    return _positions(env, obs), rew, infos


# ---- API, seeding ----------------------------------------------------------------------------
def test_pettingzoo_parallel_seed_test():  # its parallel_api_test: the "api" rule in test_env_contract.py
    parallel_seed_test(lambda: MonsterHuntEnv(horizon=30))


def _episode(seed: int, action_seed: int = 0) -> list:
    env = MonsterHuntEnv(horizon=20)
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(action_seed)
    trace = [np.concatenate([obs[a] for a in AGENTS])]
    while env.agents:
        obs, rew, *_ = env.step({a: int(rng.integers(5)) for a in AGENTS})
        trace.append(np.concatenate([obs[a] for a in AGENTS] + [[rew[a] for a in AGENTS]]))
    return trace


def test_same_seed_same_episode_different_seeds_differ():
    a, b, c = _episode(3), _episode(3), _episode(4)
    assert len(a) == 21 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])
    # the monster's coin flips come from the seed too: same start and actions, other seed -> other game
    assert any(not np.array_equal(x, y) for x, y in zip(_episode(3, action_seed=1), _episode(4, action_seed=1)))


# ---- rules on scripted scenes ---------------------------------------------------------------
def test_joint_hunt_pays_both_and_the_monster_reappears_on_a_free_cell():
    env = _scene(agents=[(2, 1), (2, 1)], monster=(2, 3))
    pos, rew, infos = _step(env, RIGHT, RIGHT)  # the monster steps to (2, 2), so do both agents
    assert rew == {"agent_0": 5.0, "agent_1": 5.0}
    for a in AGENTS:
        assert infos[a]["reward_features"] == {"joint_hunt": 1.0, "solo_meeting": 0.0, "apple": 0.0}
    assert pos[:2] == [(2, 2), (2, 2)]
    assert pos[2] not in [(2, 2), *APPLES] and pos[3:] == APPLES


def test_meeting_the_monster_alone_costs_minus_two_and_it_chases_the_nearer_agent():
    env = _scene(agents=[(0, 0), (4, 4)], monster=(0, 2))
    pos, rew, infos = _step(env, RIGHT, STAY)  # the monster comes to (0, 1), agent_0 steps onto it
    assert rew == {"agent_0": -2.0, "agent_1": 0.0}
    assert infos["agent_0"]["reward_features"]["solo_meeting"] == 1.0
    assert infos["agent_1"]["reward_features"]["solo_meeting"] == 0.0
    assert pos[2] != (0, 1)  # caught: reappeared elsewhere


def test_an_agent_can_dodge_the_monster():
    env = _scene(agents=[(0, 1), (4, 4)], monster=(0, 3))
    pos, rew, _ = _step(env, STAY, STAY)
    assert pos[2] == (0, 2) and rew == {"agent_0": 0.0, "agent_1": 0.0}
    pos, rew, _ = _step(env, DOWN, STAY)  # the monster moves onto (0, 1) just as agent_0 leaves it
    assert pos[0] == (1, 1) and pos[2] == (0, 1) and rew == {"agent_0": 0.0, "agent_1": 0.0}


@pytest.mark.parametrize("coins, monster_after", [(0.2, (3, 2)), (0.8, (2, 3))])
def test_diagonal_chase_picks_the_axis_by_a_coin(coins, monster_after):
    env = _scene(agents=[(0, 0), (4, 3)], monster=(2, 2), coins=coins)  # agent_1 is nearer (5 vs 8)
    pos, _, _ = _step(env, STAY, STAY)
    assert pos[2] == monster_after


@pytest.mark.parametrize("coins, monster_after", [(0.2, (1, 2)), (0.8, (3, 2))])
def test_equally_near_agents_a_coin_picks_the_target(coins, monster_after):
    env = _scene(agents=[(0, 2), (4, 2)], monster=(2, 2), coins=coins)
    pos, _, _ = _step(env, STAY, STAY)
    assert pos[2] == monster_after


def test_apples_pay_the_eater_and_reappear():
    env = _scene(agents=[(0, 3), (4, 4)], monster=(2, 0))
    pos, rew, infos = _step(env, RIGHT, STAY)  # agent_0 eats the apple at (0, 4)
    assert rew == {"agent_0": 2.0, "agent_1": 0.0}
    assert infos["agent_0"]["reward_features"]["apple"] == 1.0
    assert pos[3] not in [(0, 4), pos[2], (4, 0)] and pos[4] == (4, 0)  # apple 0 moved to a free cell


@pytest.mark.parametrize("coins, eater", [(0.2, "agent_0"), (0.8, "agent_1")])
def test_two_agents_on_one_apple_a_coin_picks_the_eater(coins, eater):
    env = _scene(agents=[(0, 3), (1, 4)], monster=(4, 0), coins=coins)
    _, rew, infos = _step(env, RIGHT, UP)  # both step onto the apple at (0, 4)
    assert rew == {a: (2.0 if a == eater else 0.0) for a in AGENTS}
    assert sum(infos[a]["reward_features"]["apple"] for a in AGENTS) == 1.0


def test_moves_off_the_grid_stay_and_episodes_truncate_with_stats():
    env = _scene(agents=[(0, 0), (4, 4)], monster=(2, 2), horizon=3)
    pos, _, _ = _step(env, UP, DOWN)
    assert pos[0] == (0, 0) and pos[1] == (4, 4)
    env.step({"agent_0": STAY, "agent_1": STAY})
    assert env.agents
    _, _, terms, truncs, infos = env.step({"agent_0": STAY, "agent_1": STAY})
    assert not env.agents and all(truncs.values()) and not any(terms.values())
    assert set(infos["agent_0"]["episode_stats"]) == set(STAT_NAMES)


def test_render_ansi():
    env = MonsterHuntEnv(render_mode="ansi")
    env.reset(seed=0)
    env.place([(0, 0), (0, 0)], (4, 4), [(2, 2), (3, 3)])
    assert env.render().splitlines() == [
        "B....",
        ".....",
        "..a..",
        "...a.",
        "....M",
        "t=0/50 joint_hunts=0, solo_meetings=0, apples=0",
    ]
    assert MonsterHuntEnv().render() is None


# ---- features, weights, options -------------------------------------------------------------
def test_feature_names_weights_and_reward_params():
    assert reward_feature_names("monster_hunt") == list(FEATURE_NAMES) == ["joint_hunt", "solo_meeting", "apple"]
    weights = {"joint_hunt": -1.5, "apple": 0.25}
    env = _scene(agents=[(2, 1), (2, 1)], monster=(2, 3), reward_weights=weights)
    _, rew, infos = _step(env, RIGHT, RIGHT)
    assert rew == {"agent_0": -1.5, "agent_1": -1.5}
    assert infos["agent_0"]["original_reward"] == 5.0
    env.set_reward_params(reward_weights=None, joint_hunt_reward=7.0)
    env.place([(2, 1), (2, 1)], (2, 3), APPLES)
    _, rew, _ = _step(env, RIGHT, RIGHT)
    assert rew == {"agent_0": 7.0, "agent_1": 7.0}
    with pytest.raises(ConfigError, match="unknown reward feature 'apples'.*did you mean 'apple'"):
        MonsterHuntEnv(reward_weights={"apples": 1.0})


def test_bad_options_and_actions_are_config_errors():
    with pytest.raises(ConfigError, match=r"do not fit on a 2x2 grid; allowed n_apples: 0..1"):
        make("monster_hunt", size=2)
    with pytest.raises(ConfigError, match="unknown option 'sise'"):
        make("monster_hunt", sise=4)
    with pytest.raises(ConfigError, match="horizon must be >= 1"):
        make_batched("monster_hunt", 2, horizon=0)
    env = MonsterHuntEnv()
    env.reset(seed=0)
    with pytest.raises(ConfigError, match=r"illegal action 5 for agent_1; allowed: 0 \(stay\), 1 \(up\)"):
        env.step({"agent_0": 0, "agent_1": 5})
    benv = MonsterHuntBatchedEnv(num_envs=2)
    benv.reset(seed=0)
    with pytest.raises(ConfigError, match="actions of 'agent_0' must be 2 ints in 0..4"):
        benv.step({"agent_0": np.array([0, 9]), "agent_1": np.array([0, 0])})
    with pytest.raises(ConfigError, match="missing actions for agent 'agent_1'"):
        benv.step({"agent_0": np.array([0, 0])})


# ---- batched form ---------------------------------------------------------------------------
def test_make_batched_uses_the_native_form_and_seeds_copies():
    env = make_batched("monster_hunt", 3, horizon=7)
    assert isinstance(env, MonsterHuntBatchedEnv) and env.layout.horizon == 7
    obs1, _ = env.reset(seed=5)
    obs2, _ = MonsterHuntBatchedEnv(num_envs=3, horizon=7).reset(seed=5)
    assert all(np.array_equal(obs1[a], obs2[a]) for a in AGENTS)
    assert not np.array_equal(obs1["agent_0"][0], obs1["agent_0"][1])
    assert env.state()["agent_1"].shape == (3, env.state_space("agent_1").shape[0])


def test_batched_reward_params_and_weights_can_change_during_training():
    """What the trainer's reward schedule calls (``set_reward_params``) reaches the batched form."""
    env = MonsterHuntBatchedEnv(num_envs=8, size=3, n_apples=4, horizon=20)
    env.reset(seed=0)
    env.set_reward_params(joint_hunt_reward=7.0, solo_meeting_reward=-3.0, apple_reward=10.0)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        _, rew, _, _, infos = env.step({a: rng.integers(0, 5, 8) for a in AGENTS})
        seen.update(np.round(infos["original_reward"]["agent_0"], 3).tolist())
        np.testing.assert_array_equal(rew["agent_0"], infos["original_reward"]["agent_0"])
    assert {7.0, -3.0, 10.0} <= seen <= {0.0, 7.0, -3.0, 10.0, 17.0}  # 17: hunt + apple; 7 also solo + apple
    env.set_reward_params(reward_weights={"apple": 1.0})
    _, rew, _, _, infos = env.step({a: rng.integers(0, 5, 8) for a in AGENTS})
    assert set(rew["agent_0"].tolist()) <= {0.0, 1.0}


DIFF_CONFIGS = {
    "default": dict(),
    "crowded": dict(size=3, n_apples=4, horizon=20),  # events (and coin flips) every few steps
    "weighted": dict(
        size=4, horizon=15, apple_reward=1.25, reward_weights={"joint_hunt": 1.5, "solo_meeting": 0.3, "apple": -0.7}
    ),
}


def _differential(kw: dict, n: int, episodes: int, seed: int) -> Counter:
    """Native batched vs N reference envs (and vs SyncBatchedEnv over them), every step; event counts."""
    native = MonsterHuntBatchedEnv(num_envs=n, **kw)
    sync = SyncBatchedEnv([lambda: MonsterHuntEnv(**kw) for _ in range(n)])
    singles = [MonsterHuntEnv(**kw) for _ in range(n)]
    b_obs, _ = native.reset(seed=seed)
    y_obs, _ = sync.reset(seed=seed)
    s_obs = [env.reset(seed=derive_seed(seed, i))[0] for i, env in enumerate(singles)]
    _size, horizon = native.layout.size, native.layout.horizon
    rng = np.random.default_rng(seed + 1)
    returns, original = np.zeros((n, 2)), np.zeros(n)
    counts: Counter = Counter()
    for a in AGENTS:
        np.testing.assert_array_equal(b_obs[a], y_obs[a])
        np.testing.assert_array_equal(b_obs[a], np.stack([o[a] for o in s_obs]))
    for _ in range(episodes * horizon):
        acts = {a: rng.integers(0, len(ACTION_NAMES), n) for a in AGENTS}
        before = [_positions(env, o) for env, o in zip(singles, s_obs)]
        b_obs, b_rew, b_term, b_trunc, b_inf = native.step(acts)
        y_obs, y_rew, y_term, y_trunc, y_inf = sync.step(acts)
        for a in AGENTS:
            np.testing.assert_array_equal(b_obs[a], y_obs[a])
            np.testing.assert_allclose(b_rew[a], y_rew[a], rtol=1e-6, atol=1e-6)
            np.testing.assert_array_equal(b_term[a], y_term[a])
            np.testing.assert_array_equal(b_trunc[a], y_trunc[a])
            np.testing.assert_array_equal(b_inf["original_reward"][a], y_inf["original_reward"][a])
        np.testing.assert_array_equal(b_inf["done"], y_inf["done"])
        done = b_inf["done"]
        for a in AGENTS:
            np.testing.assert_array_equal(b_inf["final_obs"][a][done], y_inf["final_obs"][a][done])
            np.testing.assert_array_equal(b_inf["final_state"][a][done], y_inf["final_state"][a][done])
        for key, values in y_inf["episode"].items():
            np.testing.assert_allclose(b_inf["episode"][key][done], values[done], rtol=1e-6, err_msg=key)
        b_state, y_state = native.state(), sync.state()
        for a in AGENTS:
            np.testing.assert_array_equal(b_state[a], y_state[a])
        # the reference envs one by one (what SyncBatchedEnv wraps), with the events they report
        for i, env in enumerate(singles):
            obs, rew, _, _, infos = env.step({a: int(acts[a][i]) for a in AGENTS})
            after = _positions(env, obs)
            for k, a in enumerate(AGENTS):
                assert rew[a] == pytest.approx(float(b_rew[a][i]), rel=1e-6, abs=1e-6)
                returns[i, k] += rew[a]
                original[i] += infos[a]["original_reward"]
                for name, value in infos[a]["reward_features"].items():
                    counts[name] += value
            counts["shared_apple"] += int(after[0] == after[1] and after[0] in before[i][3:])
            counts["monster_apple_cell"] += int(before[i][2] in before[i][3:])
            assert bool(done[i]) == (not env.agents)
            if done[i]:
                for k, a in enumerate(AGENTS):
                    assert b_inf["episode"][f"return/{a}"][i] == pytest.approx(returns[i, k])
                    for stat in STAT_NAMES:
                        assert b_inf["episode"][f"{a}/{stat}"][i] == infos[a]["episode_stats"][stat]
                assert b_inf["episode"]["original_return"][i] == pytest.approx(original[i])
                assert b_inf["episode"]["length"][i] == horizon
                returns[i], original[i] = 0.0, 0.0
                counts["episodes"] += 1
                obs, _ = env.reset()  # continues the env's stream, like the batched auto-reset
            s_obs[i] = obs
        for a in AGENTS:
            np.testing.assert_array_equal(b_obs[a], np.stack([o[a] for o in s_obs]))
    assert counts["episodes"] == n * episodes
    return counts


@pytest.mark.parametrize("name", list(DIFF_CONFIGS))
def test_batched_equals_reference_step_by_step(name):
    counts = _differential(DIFF_CONFIGS[name], n=8, episodes=4, seed=11)
    # small grids make the rules fire (every weighted feature, and in "crowded" the rare cases too),
    # so the comparison is not vacuous
    events = {
        "default": (),
        "weighted": FEATURE_NAMES,
        "crowded": (*FEATURE_NAMES, "shared_apple", "monster_apple_cell"),
    }[name]
    for event in events:
        assert counts[event] > 0, (event, counts)


# ---- a small real MAPPO run through the fast sampler ---------------------------------------------
LEARN_ITERATIONS = 30  # about 20k env steps, a few seconds


def test_mappo_trains_on_monster_hunt_with_the_fast_sampler(ray_local):
    """Real RLlib, the numpy batched env, shared policy: the return climbs from random play's (about -5:
    the monster catches lone agents) to clearly positive within ~20k steps (seed 0 learns to hunt
    together; measured: about +28 after 24 iterations)."""
    from diverse_marl.algorithms.mappo.config import MAPPOConfig

    horizon, n_envs = 20, 16
    cfg = MAPPOConfig.from_options(
        "monster_hunt",
        {"horizon": horizon},
        {
            "env_runner_cls": "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner",
            "num_envs_per_env_runner": n_envs,
            "train_batch_size": 2 * n_envs * horizon,
            "num_epochs": 4,
            "lr": 1e-3,
        },
        seed=0,
    )
    algo = cfg.build_algo()
    try:
        assert isinstance(algo.env_runner.env, MonsterHuntBatchedEnv)
        results = [algo.train() for _ in range(LEARN_ITERATIONS)]
        first, last = results[0]["env_runners"], results[-1]["env_runners"]
        assert last["num_env_steps_sampled_lifetime"] == LEARN_ITERATIONS * 2 * n_envs * horizon
        assert last["episode_len_mean"] == horizon
        for a in AGENTS:  # the env's episode statistics reach the training metrics
            for stat in STAT_NAMES:
                assert 0 <= last[f"episode/{a}/{stat}"] <= horizon
        learner = results[-1]["learners"]["shared"]
        assert np.isfinite(learner["policy_loss"]) and np.isfinite(learner["vf_loss"])
        returns = [r["env_runners"]["episode_return_mean"] for r in results]
        print(f"\nmonster_hunt MAPPO episode_return_mean per iteration: {np.round(returns, 1).tolist()}")
        assert first["episode_return_mean"] < 0 < 10 < np.mean(returns[-3:])
    finally:
        algo.stop()
