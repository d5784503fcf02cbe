"""Potential-based shaping in Overcooked (envs/overcooked/potential.py, ``shaping: potential``)."""

from __future__ import annotations

import numpy as np
import pytest

from diverse_marl.envs.overcooked.env import AGENTS, OvercookedBatchedEnv, OvercookedEnv
from diverse_marl.envs.overcooked.potential import ONION_IN_POT, PLATED_SOUP, TOWARDS
from diverse_marl.envs.overcooked.scripted import ScriptedCook
from diverse_marl.errors import ConfigError

GAMMA = 0.99
# cramped_room: agent_1 starts at (3, 1) next to the onion dispenser at (4, 1); the pot is at (2, 0)
N, S, E, W, STAY, INTERACT = range(6)
FETCH_AND_POT_ONE_ONION = [E, INTERACT, W, N, INTERACT]  # face the dispenser, take, walk under the pot, pot


def _play(env: OvercookedEnv, moves_agent_1: list[int]) -> list[float]:
    """Shaped rewards of agent_1 while agent_0 stays."""
    out = []
    for a in moves_agent_1:
        _, _, _, _, infos = env.step({"agent_0": STAY, "agent_1": a})
        out.append(infos["agent_1"]["shaped_reward"])
    return out


@pytest.mark.parametrize("layout", ["cramped_room", "forced_coordination", "counter_circuit"])
@pytest.mark.parametrize("old_dynamics", [False, True])
def test_shaped_rewards_telescope_to_the_potential_difference(layout, old_dynamics):
    """sum_t gamma^t F_t = gamma^T phi(s_T) - phi(s_0) along a real episode (scripted cooks deliver soups)."""
    env = OvercookedEnv(
        layout=layout, horizon=400, old_dynamics=old_dynamics, shaping="potential", potential_gamma=GAMMA
    )
    env.reset()
    phi_0 = env._potential(env.batch_state)[0]
    cooks = [ScriptedCook(env.layout, p, old_dynamics=old_dynamics, epsilon=0.05, seed=p) for p in range(2)]
    discounted, sparse = 0.0, 0.0
    for t in range(400):
        _, _, _, _, infos = env.step({a: cooks[p].act(env.batch_state, 0) for p, a in enumerate(AGENTS)})
        assert infos["agent_0"]["shaped_reward"] == infos["agent_1"]["shaped_reward"]  # a team potential
        discounted += GAMMA**t * infos["agent_0"]["shaped_reward"]
        sparse += infos["agent_0"]["sparse_reward"]
    phi_T = env._potential(env.batch_state)[0]
    assert sparse > 0  # the episode went through cooking and delivery
    assert discounted == pytest.approx(GAMMA**400 * phi_T - phi_0, abs=1e-6)


def test_starting_a_one_onion_soup_is_punished_not_paid():
    """The exploit the event shaping pays for (new dynamics): pot one onion and start the pot at once."""
    pot = OvercookedEnv(layout="cramped_room", shaping="potential", potential_gamma=GAMMA)
    pot.reset()
    potting = _play(pot, FETCH_AND_POT_ONE_ONION)
    start = _play(pot, [INTERACT])[0]
    assert potting[-1] >= ONION_IN_POT - TOWARDS - 0.1  # an onion in the pot is progress towards a 3-onion soup
    assert start <= -ONION_IN_POT  # the pot now holds a soup worth 0: the credit is taken back
    # the whole detour earns exactly nothing, discounted: the kitchen is back at phi = 0
    rewards = potting + [start]
    assert sum(GAMMA**t * r for t, r in enumerate(rewards)) == pytest.approx(0.0, abs=1e-9)

    events = OvercookedEnv(layout="cramped_room")  # overcooked_ai's event shaping pays the potting, ignores the start
    events.reset()
    assert _play(events, FETCH_AND_POT_ONE_ONION)[-1] == 3
    assert _play(events, [INTERACT])[0] == 0


def test_every_stage_of_a_soup_raises_the_potential_and_delivery_still_pays():
    """A whole soup in cramped_room (new dynamics): phi rises at each stage; the delivery step nets > 0."""
    env = OvercookedEnv(layout="cramped_room", shaping="potential", potential_gamma=GAMMA)
    env.reset()
    phi = lambda: env._potential(env.batch_state)[0]  # noqa: E731

    def joint(a0: int, a1: int) -> dict:
        return env.step({"agent_0": a0, "agent_1": a1})[4]

    stages = {}
    for k in range(3):  # agent_1 brings three onions from the dispenser at (4, 1) to the pot at (2, 0)
        for a in FETCH_AND_POT_ONE_ONION if k == 0 else [E, E, INTERACT, W, N, INTERACT]:
            joint(STAY, a)
        stages[f"{k + 1} onions"] = phi()
    joint(STAY, INTERACT)
    stages["cooking"] = phi()
    joint(STAY, E)  # agent_1 steps aside to (3, 1)
    joint(S, STAY)  # agent_0 at (1, 2) faces the dish dispenser at (1, 3)
    joint(INTERACT, STAY)
    stages["dish"] = phi()
    for a in (E, N, N):  # to (2, 1), facing the pot
        joint(a, STAY)
    while env.batch_state.held[0, 0] != 4:  # wait for the soup, then plate it
        joint(INTERACT, STAY)
    stages["plated"] = phi()
    joint(S, STAY)  # to (2, 2)
    joint(S, STAY)  # faces the counter at (2, 3)
    joint(INTERACT, STAY)  # parks the soup there: its credit goes back
    parked = phi()
    joint(INTERACT, STAY)  # and picks it up again
    for a in (E, S):  # to (3, 2), facing the window at (3, 3)
        joint(a, STAY)
    infos = joint(INTERACT, STAY)
    values = list(stages.values())
    assert all(a < b for a, b in zip(values, values[1:])), stages
    assert parked < stages["plated"] - PLATED_SOUP + 1
    assert stages["3 onions"] == pytest.approx(3 * ONION_IN_POT)
    assert infos["agent_0"]["sparse_reward"] == 20 and phi() == 0
    assert infos["agent_0"]["sparse_reward"] + infos["agent_0"]["shaped_reward"] > 0


def test_batched_env_matches_single_env_across_resets():
    rng = np.random.default_rng(0)
    horizon, n = 40, 3
    batched = OvercookedBatchedEnv(n, layout="coordination_ring", horizon=horizon, shaping="potential")
    singles = [OvercookedEnv(layout="coordination_ring", horizon=horizon, shaping="potential") for _ in range(n)]
    batched.reset()
    for env in singles:
        env.reset()
    for _t in range(2 * horizon + 5):
        actions = rng.integers(0, 6, size=(n, 2))
        _, rew, _, _, infos = batched.step({a: actions[:, p] for p, a in enumerate(AGENTS)})
        for i, env in enumerate(singles):
            _, r, _, trunc, _ = env.step({a: int(actions[i, p]) for p, a in enumerate(AGENTS)})
            assert r["agent_0"] == pytest.approx(rew["agent_0"][i], abs=1e-9)
            if trunc["agent_0"]:
                env.reset()


def test_handing_an_onion_over_the_counter_keeps_its_credit_in_forced_coordination():
    """The left cook cannot reach the pots: its onion is worth something only via the middle counter."""
    env = OvercookedEnv(layout="forced_coordination", shaping="potential")
    env.reset()
    phi = lambda: env._potential(env.batch_state)[0]  # noqa: E731

    def joint(a0: int, a1: int) -> None:
        env.step({"agent_0": a0, "agent_1": a1})

    # agent_1 starts at (1, 2) beside the onion dispenser at (0, 2); agent_0 at (3, 1) beside the pot at (4, 1)
    joint(STAY, W)
    joint(STAY, INTERACT)
    holding = phi()
    joint(STAY, E)  # faces the middle counter at (2, 2)
    joint(STAY, INTERACT)  # puts the onion on it
    on_counter = phi()
    joint(S, STAY)  # agent_0 to (3, 2)
    joint(W, STAY)  # faces the counter
    joint(INTERACT, STAY)  # takes the onion
    taken = phi()
    joint(N, STAY)
    joint(E, STAY)  # faces the pot
    joint(INTERACT, STAY)
    assert 0 < holding and 0 < on_counter and 0 < taken < ONION_IN_POT
    assert phi() == pytest.approx(ONION_IN_POT)


@pytest.mark.parametrize("old_dynamics", [False, True])
def test_events_plus_potential_pays_the_sum_of_both_shapings(old_dynamics):
    """``shaping: events+potential`` = overcooked_ai's event reward + the potential's, step by step."""
    kinds = ("events", "potential", "events+potential")
    envs = {
        k: OvercookedBatchedEnv(
            4, layout="counter_circuit", old_dynamics=old_dynamics, shaping=k, potential_gamma=GAMMA, horizon=120
        )
        for k in kinds
    }
    for env in envs.values():
        env.reset(seed=3)
    cooks = [ScriptedCook(envs["events"].layout, p, old_dynamics=old_dynamics, epsilon=0.05, seed=p) for p in range(2)]
    event_total = 0.0
    for _ in range(300):  # crosses the 120-step horizon twice (auto-resets)
        state = envs["events"].s  # the three batches stay in lockstep: same dynamics, same actions
        actions = {a: np.array([cooks[p].act(state, i) for i in range(4)]) for p, a in enumerate(AGENTS)}
        shaped = {k: env.step(actions)[4]["shaped_reward"] for k, env in envs.items()}
        np.testing.assert_allclose(shaped["events+potential"], shaped["events"] + shaped["potential"], atol=1e-9)
        event_total += float(np.abs(shaped["events"]).sum())
    assert event_total > 0  # the scripted cooks earned event shaping, so the sum was tested on non-zero terms


def test_event_shaping_is_the_default_and_bad_options_are_named():
    env = OvercookedEnv(layout="cramped_room")
    assert env.shaping == "events"
    with pytest.raises(ConfigError, match="unknown shaping 'phi'; allowed: events, potential, events\\+potential"):
        OvercookedEnv(shaping="phi")
    with pytest.raises(ConfigError, match="reward_shaping"):
        OvercookedBatchedEnv(2, shaping="potential", reward_shaping={"SOUP_PICKUP_REWARD": 1})
    with pytest.raises(ConfigError, match=r"potential_gamma must be a number in \(0, 1\]"):
        OvercookedEnv(shaping="potential", potential_gamma=1.5)
