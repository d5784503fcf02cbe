"""Overcooked env: PettingZoo API, layouts and their errors, state exchange, shaping factor, events,
batched env protocol and rendering. (Equality with overcooked_ai is in test_overcooked_differential.py.)"""

from __future__ import annotations

import json

import numpy as np
import pytest

from diverse_marl.envs import make
from diverse_marl.envs.contract import check_env
from diverse_marl.envs.overcooked import EVENT_NAMES, OvercookedBatchedEnv, OvercookedEnv
from diverse_marl.envs.overcooked.events import EVENT_INDEX
from diverse_marl.envs.overcooked.layouts import get_layout, layout_from_grid, list_layouts
from diverse_marl.envs.overcooked.scripted import ScriptedCook
from diverse_marl.errors import ConfigError

N, S, E, W, STAY, INTERACT = range(6)
NORTH, SOUTH, EAST, WEST = (0, -1), (0, 1), (1, 0), (-1, 0)
AGENTS = ("agent_0", "agent_1")


def soup(pos, onions=3, tick=-1):
    return {
        "name": "soup",
        "position": pos,
        "_ingredients": [{"name": "onion", "position": pos}] * onions,
        "cooking_tick": tick,
    }


def cramped(p0, o0, p1=(3, 1), o1=NORTH, held0=None, held1=None, objects=(), timestep=0):
    """A hand-built cramped_room state (pot (2,0), onions (0,1)/(4,1), dish (1,3), serving (3,3))."""
    return {
        "players": [
            {"position": p0, "orientation": o0, "held_object": held0},
            {"position": p1, "orientation": o1, "held_object": held1},
        ],
        "objects": list(objects),
        "timestep": timestep,
    }


def step_from(state, a0, a1=STAY, **kw):
    env = OvercookedEnv(layout="cramped_room", obs="lossless", **kw)
    env.reset()
    env.set_state(state)
    obs, rew, term, trunc, infos = env.step({"agent_0": a0, "agent_1": a1})
    return env, rew, infos


def events_of(infos, agent="agent_0"):
    return {name for name, c in zip(EVENT_NAMES, infos[agent]["events"]) if c}


# ---- API ---------------------------------------------------------------------------------------------
def test_lossless_obs_keeps_the_env_contract():  # featurized, the default: in test_env_contract.py
    check_env("overcooked", {"layout": "cramped_room", "horizon": 60, "obs": "lossless"}, steps=150)


@pytest.mark.parametrize("obs", ["featurized", "lossless"])
def test_agents_and_spaces(obs):
    env = make("overcooked", layout="cramped_room", horizon=60, obs=obs)
    assert env.possible_agents == list(AGENTS)
    assert env.action_space("agent_0").n == 6
    if obs == "featurized":
        assert env.observation_space("agent_1").shape == (96,)


def test_two_instances_fed_the_same_actions_stay_identical():
    """Overcooked has no randomness (its reset ignores the seed), so determinism means: no hidden
    state shared between instances or carried over from an earlier episode."""
    rng = np.random.default_rng(0)
    first, second = (
        OvercookedEnv(layout="coordination_ring", horizon=100),
        OvercookedEnv(layout="coordination_ring", horizon=100),
    )
    second.reset(seed=1)
    for _ in range(50):  # a used instance, mid-episode, before both restart
        second.step({a: int(rng.integers(6)) for a in AGENTS})
    obs_a, _ = first.reset(seed=3)
    obs_b, _ = second.reset(seed=4)
    for _ in range(100):
        assert all(np.array_equal(obs_a[a], obs_b[a]) for a in AGENTS)
        acts = {a: int(rng.integers(6)) for a in AGENTS}
        obs_a, rew_a, *_ = first.step(acts)
        obs_b, rew_b, *_ = second.step(acts)
        assert rew_a == rew_b


def test_make_with_issue_arguments_and_global_state():
    env = make(
        "overcooked",
        layout="cramped_room",
        horizon=400,
        old_dynamics=False,
        obs="featurized",
        reward_shaping={"PLACEMENT_IN_POT_REW": 3},
        render_mode=None,
    )
    obs, infos = env.reset(seed=1)
    assert obs["agent_0"].shape == (96,) and obs["agent_0"].dtype == np.float32
    st = env.state("agent_1")
    assert st.shape == env.state_space("agent_1").shape == (5 * 4 * 26,)
    # agent-specific: each agent sees itself in the "player" channel
    assert not np.array_equal(env.state("agent_0"), env.state("agent_1"))


def test_unknown_layout_lists_allowed_names():
    with pytest.raises(ConfigError, match="allowed: cramped_room, asymmetric_advantages"):
        make("overcooked", layout="not_a_kitchen")
    with pytest.raises(ConfigError, match="counter_circuit"):
        OvercookedEnv(layout="not_a_kitchen")
    assert list_layouts() == [
        "cramped_room",
        "asymmetric_advantages",
        "coordination_ring",
        "forced_coordination",
        "counter_circuit",
    ]
    assert get_layout("counter_circuit_o_1order").name == "counter_circuit"  # overcooked_ai's name works too


@pytest.mark.parametrize(
    "grid,expected",
    [
        ("XXPXX\nO  2O\nX1 QX\nXDXSX", r"bad symbol 'Q' at row 2 column 3"),
        ("XXPXX\nO  2O\nX1  X\nXDXSXX", r"row 3 .* has 6 columns"),
        ("XXPXX\nO  2O\n 1  X\nXDXSX", r"row 2 column 0 is on the border"),
        ("XXPXX\nO  2O\nX   X\nXDXSX", r"player '1' is missing"),
        ("XXPXX\nO  2O\nX11 X\nXDXSX", r"player '1' appears twice \(row 2 column 1 and row 2 column 2\)"),
        ("XXXXX\nO  2O\nX1  X\nXDXSX", r"no 'P'"),
    ],
)
def test_malformed_layouts_name_row_and_column(grid, expected):
    with pytest.raises(ConfigError, match=expected):
        OvercookedEnv(layout=grid)


def test_user_layout_from_text_grid():
    grid = """
    XXXPXXX
    O 1   D
    X   2 S
    XXXXXXX
    """
    env = make("overcooked", layout=grid, horizon=20, obs="lossless")
    obs, _ = env.reset()
    assert obs["agent_0"].shape == (7, 4, 26)
    assert env.layout.start_positions == ((2, 1), (4, 2))
    assert env.get_state()["players"][1]["position"] == (4, 2)
    layout = layout_from_grid(grid, orders=[("onion", "onion")])
    assert layout.recipe_value[2, 0] == 20 and layout.recipe_value[3, 0] == 0


def test_old_dynamics_need_three_ingredient_orders():
    layout = layout_from_grid("XXPXX\nO  2O\nX1  X\nXDXSX", orders=[("onion", "onion")])
    with pytest.raises(ConfigError, match="old_dynamics=True needs orders of exactly 3 ingredients"):
        OvercookedEnv(layout=layout, old_dynamics=True)


def test_illegal_action_names_agent_and_range():
    env = OvercookedEnv()
    env.reset()
    with pytest.raises(ConfigError, match=r"illegal action 7 for agent_1; allowed: integers 0..5"):
        env.step({"agent_0": 0, "agent_1": 7})
    with pytest.raises(ConfigError, match="missing action for agent_1"):
        env.step({"agent_0": 0})
    batched = OvercookedBatchedEnv(3)
    batched.reset()
    with pytest.raises(ConfigError, match="illegal action -1 for agent_0"):
        batched.step({"agent_0": np.array([0, -1, 2]), "agent_1": np.zeros(3, int)})


def test_bad_options():
    with pytest.raises(ConfigError, match="unknown obs 'pixels'; allowed: featurized, lossless"):
        OvercookedEnv(obs="pixels")
    with pytest.raises(ConfigError, match="unknown reward_shaping key 'ONION'"):
        OvercookedEnv(reward_shaping={"ONION": 1})


# ---- state exchange ----------------------------------------------------------------------------------
def test_set_state_get_state_round_trip():
    env = OvercookedEnv(layout="asymmetric_advantages", obs="lossless")
    env.reset()
    cooks = [ScriptedCook(env.layout, p, epsilon=0.1, seed=p) for p in range(2)]
    snapshots = []
    for _t in range(120):
        env.step({a: cooks[p].act(env.batch_state) for p, a in enumerate(AGENTS)})
        snapshots.append((env.get_state(), {a: env.state(a) for a in AGENTS}))
    assert any(o["name"] == "soup" for s, _ in snapshots for o in s["objects"])  # pots were used
    other = OvercookedEnv(layout="asymmetric_advantages", obs="lossless")
    other.reset()
    for snap, states in snapshots[::7]:
        other.set_state(json.loads(json.dumps(snap)))  # JSON turns tuples into lists: still accepted
        assert other.get_state() == snap
        for a in AGENTS:
            np.testing.assert_array_equal(other.state(a), states[a])


def test_set_state_rejects_bad_states():
    env = OvercookedEnv()
    env.reset()
    with pytest.raises(ConfigError, match="not on a floor cell"):
        env.set_state(cramped((0, 0), NORTH))
    with pytest.raises(ConfigError, match="both players are at"):
        env.set_state(cramped((3, 1), NORTH))
    with pytest.raises(ConfigError, match="unknown name 'pizza'"):
        env.set_state(cramped((1, 1), NORTH, held0={"name": "pizza", "position": (1, 1)}))


# ---- rewards -----------------------------------------------------------------------------------------
def test_shaping_factor_is_set_from_outside_not_annealed_by_the_env():
    env = OvercookedEnv(obs="lossless", shaping_factor=0.5)
    env.reset()
    for factor in (0.5, 0.25, 0.25):  # set by the trainer's schedule; the env never anneals it itself
        env.set_state(cramped((2, 1), NORTH, held0={"name": "onion", "position": (2, 1)}))
        _, rew, _, _, infos = env.step({"agent_0": INTERACT, "agent_1": STAY})
        assert infos["agent_0"]["shaped_reward"] == 3  # unscaled
        assert infos["agent_0"]["shaping_factor"] == factor
        assert rew["agent_0"] == pytest.approx(3 * factor) == infos["agent_0"]["original_reward"]
        assert rew["agent_1"] == 0
        env.set_reward_params(shaping_factor=0.25)
    batched = OvercookedBatchedEnv(4, obs="lossless")
    batched.reset()
    batched.set_reward_params(shaping_factor=0.0)
    *_, infos = batched.step({a: np.full(4, STAY) for a in AGENTS})
    assert infos["shaping_factor"] == 0.0
    with pytest.raises(
        ConfigError, match="unknown reward parameter 'shaping_anneal_steps'.*allowed: reward_weights, shaping_factor"
    ):
        batched.set_reward_params(shaping_anneal_steps=10)
    with pytest.raises(ConfigError, match="unknown option 'shaping_anneal_steps'"):
        make("overcooked", shaping_anneal_steps=100)


def test_custom_reward_shaping_and_delivery_reward():
    held = soup((3, 2), tick=20)
    _, rew, infos = step_from(
        cramped((3, 2), SOUTH, p1=(1, 1), held0=held), INTERACT, reward_shaping={"SOUP_PICKUP_REWARD": 0}
    )
    assert infos["agent_0"]["sparse_reward"] == infos["agent_1"]["sparse_reward"] == 20
    assert rew == {"agent_0": 20, "agent_1": 20}
    assert "soup_delivery" in events_of(infos)
    dish = {"name": "dish", "position": (2, 1)}
    _, rew, infos = step_from(
        cramped((2, 1), NORTH, held0=dish, objects=[soup((2, 0), tick=20)]),
        INTERACT,
        reward_shaping={"SOUP_PICKUP_REWARD": 7},
    )
    assert infos["agent_0"]["shaped_reward"] == 7 and rew["agent_0"] == 7
    assert "soup_pickup_pot" in events_of(infos)


# ---- events on hand-built situations -------------------------------------------------------------------
def test_event_onion_pickup_from_dispenser():
    env, rew, infos = step_from(cramped((1, 1), WEST), INTERACT)
    assert events_of(infos) == {"onion_pickup_dispenser", "useful_onion_pickup"}
    assert events_of(infos, "agent_1") == {"stay"}
    assert env.get_state()["players"][0]["held_object"]["name"] == "onion"
    assert rew["agent_0"] == 0


def test_event_place_and_pick_from_counter():
    onion = {"name": "onion", "position": (1, 2)}
    env, _, infos = step_from(cramped((1, 2), WEST, held0=onion), INTERACT)
    assert events_of(infos) == {"onion_place_counter"}
    assert env.get_state()["objects"] == [{"name": "onion", "position": (0, 2)}]
    *_, infos = env.step({"agent_0": INTERACT, "agent_1": STAY})
    assert events_of(infos) == {"onion_pickup_counter", "useful_onion_pickup"}


def test_event_potting_and_pot_start_new_dynamics():
    onion = {"name": "onion", "position": (2, 1)}
    env, rew, infos = step_from(cramped((2, 1), NORTH, held0=onion, objects=[soup((2, 0), onions=2)]), INTERACT)
    assert events_of(infos) == {"potting_onion", "optimal_potting", "viable_potting"}
    assert rew["agent_0"] == 3
    pot = env.get_state()["objects"][0]
    assert len(pot["_ingredients"]) == 3 and pot["cooking_tick"] == -1  # new dynamics: waits for a cook
    *_, infos = env.step({"agent_0": INTERACT, "agent_1": STAY})
    assert events_of(infos) == {"pot_start"}
    assert env.get_state()["objects"][0]["cooking_tick"] == 1
    *_, infos = env.step({"agent_0": INTERACT, "agent_1": STAY})  # already cooking: nothing happens
    assert events_of(infos) == {"idle_interact"}


def test_old_dynamics_start_cooking_by_themselves():
    onion = {"name": "onion", "position": (2, 1)}
    env, _, infos = step_from(
        cramped((2, 1), NORTH, held0=onion, objects=[soup((2, 0), onions=2)]), INTERACT, old_dynamics=True
    )
    assert env.get_state()["objects"][0]["cooking_tick"] == 1
    *_, infos = env.step({"agent_0": INTERACT, "agent_1": STAY})
    assert "pot_start" not in events_of(infos)


def test_event_useful_and_useless_dish_pickup():
    # pot is cooking and nobody has a dish: useful (+3 shaped)
    _, rew, infos = step_from(cramped((1, 2), SOUTH, objects=[soup((2, 0), tick=5)]), INTERACT)
    assert events_of(infos) == {"dish_pickup_dispenser", "useful_dish_pickup"}
    assert infos["agent_0"]["shaped_reward"] == 3
    # empty pot: not useful, no shaping
    _, rew, infos = step_from(cramped((1, 2), SOUTH), INTERACT)
    assert events_of(infos) == {"dish_pickup_dispenser"}
    assert infos["agent_0"]["shaped_reward"] == 0
    # the other cook already holds a dish for the only pot: not useful
    dish = {"name": "dish", "position": (3, 1)}
    _, _, infos = step_from(cramped((1, 2), SOUTH, held1=dish, objects=[soup((2, 0), tick=5)]), INTERACT)
    assert "useful_dish_pickup" not in events_of(infos)


def test_event_catastrophic_and_useless_potting_with_tomatoes():
    grid = "XXPXX\nO  2T\nX1  X\nXDXSX"
    tomato = {"name": "tomato", "position": (2, 1)}
    env = OvercookedEnv(layout=grid, obs="lossless")  # only the 3-onion soup pays
    env.reset()
    state = cramped((2, 1), NORTH, held0=tomato, objects=[soup((2, 0), onions=1)])
    env.set_state(state)
    _, rew, _, _, infos = env.step({"agent_0": INTERACT, "agent_1": STAY})
    assert events_of(infos) == {"potting_tomato", "catastrophic_potting"}
    assert rew["agent_0"] == 3  # overcooked_ai pays placement shaping for any ingredient
    env.set_state(cramped((2, 1), NORTH, held0=tomato, objects=[env.get_state()["objects"][0]]))
    _, _, _, _, infos = env.step({"agent_0": INTERACT, "agent_1": STAY})
    assert events_of(infos) == {"potting_tomato", "useless_potting", "optimal_potting"}
    assert [i["name"] for i in env.get_state()["objects"][0]["_ingredients"]] == ["onion", "tomato", "tomato"]


def test_movement_events_and_collisions():
    # both try to enter (2, 1): collision, both stay (and turn)
    env, _, infos = step_from(cramped((1, 1), NORTH, p1=(3, 1)), E, W)
    st = env.get_state()
    assert [p["position"] for p in st["players"]] == [(1, 1), (3, 1)]
    assert [p["orientation"] for p in st["players"]] == [EAST, WEST]
    assert events_of(infos) == {"bump"} and events_of(infos, "agent_1") == {"bump"}
    *_, infos = env.step({"agent_0": S, "agent_1": STAY})
    assert events_of(infos) == {"move"} and events_of(infos, "agent_1") == {"stay"}


def test_episode_events_are_totals_at_the_last_step():
    env = OvercookedEnv(layout="cramped_room", horizon=150, obs="lossless")
    env.reset()
    cooks = [ScriptedCook(env.layout, p, epsilon=0.05, seed=3 + p) for p in range(2)]
    totals = np.zeros((2, len(EVENT_NAMES)), dtype=np.int64)
    while env.agents:
        _, _, _, trunc, infos = env.step({a: cooks[p].act(env.batch_state) for p, a in enumerate(AGENTS)})
        totals += np.stack([infos[a]["events"] for a in AGENTS])
        if not all(trunc.values()):
            assert "episode_events" not in infos["agent_0"]
    for p, a in enumerate(AGENTS):
        np.testing.assert_array_equal([infos[a]["episode_events"][n] for n in EVENT_NAMES], totals[p])
    assert totals[:, EVENT_INDEX["soup_delivery"]].sum() >= 1


# ---- batched env -------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [3, 20])  # 3: plain-Python core path, 20: vectorized numpy path
def test_batched_env_matches_single_envs_and_auto_resets(n):
    horizon = 25
    batched = OvercookedBatchedEnv(n, layout="forced_coordination", horizon=horizon, obs="featurized")
    singles = [OvercookedEnv(layout="forced_coordination", horizon=horizon, obs="featurized") for _ in range(n)]
    obs_b, _ = batched.reset(seed=0)
    [e.reset(seed=0)[0] for e in singles]
    rng = np.random.default_rng(0)
    returns = np.zeros((n, 2))
    for _t in range(horizon + 5):
        acts = rng.integers(0, 6, size=(n, 2))
        obs_b, rew_b, term_b, trunc_b, info_b = batched.step({a: acts[:, p] for p, a in enumerate(AGENTS)})
        for i, env in enumerate(singles):
            o, r, te, tr, inf = env.step({a: int(acts[i, p]) for p, a in enumerate(AGENTS)})
            for p, a in enumerate(AGENTS):
                assert rew_b[a][i] == r[a]
                assert trunc_b[a][i] == tr[a] and not term_b[a][i]
                returns[i, p] += r[a]
                if tr[a]:
                    np.testing.assert_array_equal(info_b["final_obs"][a][i], o[a])
                    assert info_b["episode"][f"return/{a}"][i] == pytest.approx(returns[i, p])
                    np.testing.assert_array_equal(
                        info_b["episode"]["events"][i, p], [inf[a]["episode_events"][n] for n in EVENT_NAMES]
                    )
                    assert {n: int(info_b["episode"][f"{a}/{n}"][i]) for n in EVENT_NAMES} == inf[a]["episode_events"]
                else:
                    np.testing.assert_array_equal(obs_b[a][i], o[a])
            if not env.agents:
                assert info_b["done"][i] and info_b["episode"]["length"][i] == horizon
                fresh, _ = env.reset()
                returns[i] = 0
                for a in AGENTS:  # same-step auto-reset: the row already shows the new episode
                    np.testing.assert_array_equal(obs_b[a][i], fresh[a])
    st = batched.state()
    assert st["agent_0"].shape == (n, *batched.state_space("agent_0").shape)


def test_batched_env_via_make_batched():
    from diverse_marl.envs.batched import make_batched

    env = make_batched("overcooked", 5, layout="cramped_room", obs="lossless")
    assert isinstance(env, OvercookedBatchedEnv)
    obs, _ = env.reset(seed=3)
    assert obs["agent_1"].shape == (5, 5, 4, 26)


# ---- render ------------------------------------------------------------------------------------------
def test_render_ansi_rgb_and_gif(tmp_path):
    env = OvercookedEnv(layout="cramped_room", render_mode="ansi", obs="lossless")
    env.reset()
    env.set_state(
        cramped(
            (2, 1),
            NORTH,
            held0={"name": "dish", "position": (2, 1)},
            objects=[soup((2, 0), tick=7), {"name": "onion", "position": (0, 2)}],
        )
    )
    text = env.render()
    assert "↑0d" in text and "P{øøø7" in text and "Xo" in text
    env.render_mode = "rgb_array"
    img = env.render()
    assert img.shape == (4 * 48, 5 * 48, 3) and img.dtype == np.uint8
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 10  # actually drawn, not blank
    from diverse_marl.envs.overcooked.render import record_episode_gif

    env = OvercookedEnv(layout="cramped_room", horizon=10, render_mode="rgb_array", obs="lossless")
    moves = iter([2, 3] * 20)  # agent_0 walks east/west, agent_1 stays
    path = record_episode_gif(
        env, lambda obs, agent: next(moves) if agent == "agent_0" else 4, str(tmp_path / "ep.gif")
    )
    import imageio.v2 as imageio

    frames = imageio.mimread(path)  # (identical consecutive frames may be merged by the GIF writer)
    assert len(frames) > 5 and frames[0].shape[:2] == (4 * 48, 5 * 48)
