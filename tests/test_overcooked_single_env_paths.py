"""The single env's N = 1 fast paths (Python scalars instead of numpy fancy indexing) give exactly
what the batched code gives for the same states: lossless grids and SIPO's diversity state."""

from __future__ import annotations

import numpy as np
import pytest

from diverse_marl.envs.overcooked import OvercookedBatchedEnv, OvercookedEnv
from diverse_marl.envs.overcooked.env import diversity_state
from diverse_marl.envs.overcooked.features import Featurizer
from diverse_marl.envs.overcooked.layouts import list_layouts
from diverse_marl.envs.overcooked.scripted import ScriptedCook

N = 32


@pytest.mark.parametrize("layout", list_layouts())
def test_one_env_paths_equal_the_batched_rows(layout):
    horizon = 120  # short: the urgency layer shows up
    env = OvercookedBatchedEnv(N, layout=layout, horizon=horizon, obs="lossless")
    env.reset(seed=0)
    feat = Featurizer(env.layout, horizon=horizon)
    cooks = [ScriptedCook(env.layout, p, epsilon=0.3, seed=p) for p in range(2)]  # pots fill, soups get cooked
    checked = {"soup": 0, "held": 0, "urgent": 0}
    for _ in range(horizon - 1):
        acts = np.array([[c.act(env.s, i) for c in cooks] for i in range(N)])
        env.step({"agent_0": acts[:, 0], "agent_1": acts[:, 1]})
        grids, states = feat.lossless(env.s), diversity_state(env.s, env.layout)
        for i in range(0, N, 3):
            one = env.s.select([i])
            grid = feat.lossless(one)
            assert grid.shape == (1, *grids.shape[1:]) and grid.dtype == np.float32
            assert np.array_equal(grid[0], grids[i])
            row = diversity_state(one, env.layout)
            assert row.dtype == np.float32 and np.array_equal(row[0], states[i])
            checked["soup"] += int((one.obj == 4).any())
            checked["held"] += int((one.held > 0).any())
            checked["urgent"] += int(grid[..., -1].any())
    assert all(checked.values()), checked  # the sample covered soups, held objects and urgency


def test_single_env_observations_equal_the_batched_env():
    single = OvercookedEnv(layout="cramped_room", obs="lossless")
    batched = OvercookedBatchedEnv(1, layout="cramped_room", obs="lossless")
    obs, _ = single.reset(seed=0)
    bobs, _ = batched.reset(seed=0)
    rng = np.random.default_rng(1)
    for _ in range(200):
        for a in obs:
            assert np.array_equal(obs[a], bobs[a][0])
        acts = rng.integers(0, 6, 2)
        obs, *_ = single.step({"agent_0": int(acts[0]), "agent_1": int(acts[1])})
        bobs, *_ = batched.step({"agent_0": acts[:1], "agent_1": acts[1:]})
