"""Who does what: seat-specific reward weights (single and batched Overcooked, config validation), named
action descriptors, per-cook role shares, and the report saying it in words, on scripted teams whose jobs
are known (agent_0 pots and agent_1 serves, the reverse, or both do everything)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from diverse_marl.analysis.descriptors import ActionDistribution, RoleShares, default_descriptors, role_shares
from diverse_marl.analysis.members import build_population
from diverse_marl.analysis.pipeline import analyze_population, role_columns
from diverse_marl.analysis.report import describe_share, who_does_what
from diverse_marl.config import load_config
from diverse_marl.envs import make
from diverse_marl.envs.overcooked import OvercookedBatchedEnv, OvercookedEnv
from diverse_marl.envs.overcooked.events import ROLE_EVENTS
from diverse_marl.errors import ConfigError

AGENTS = ("agent_0", "agent_1")
WEST, INTERACT, STAY = (-1, 0), 5, 4
ROLES = "diverse_marl.envs.overcooked.roles:"
KITCHEN = {"layout": "cramped_room", "horizon": 200}


# ---- seat-specific reward weights ------------------------------------------------------------------------
def _onion_pickup_by_cook_0(**env_config):
    """cramped_room, cook 0 facing the onion dispenser and interacting; cook 1 stays."""
    env = OvercookedEnv(obs="lossless", **env_config)
    env.reset()
    env.set_state(
        {
            "players": [
                {"position": (1, 1), "orientation": WEST, "held_object": None},
                {"position": (3, 1), "orientation": (0, -1), "held_object": None},
            ],
            "objects": [],
            "timestep": 0,
        }
    )
    return env.step({"agent_0": INTERACT, "agent_1": STAY})


def test_a_weight_named_for_one_cook_pays_only_that_cook():
    _, rew, *_ = _onion_pickup_by_cook_0(reward_weights={"agent_0/onion_pickup_dispenser": 2.0, "stay": -1.0})
    assert rew == {"agent_0": 2.0, "agent_1": -1.0}
    # the same event weighted for the other cook: cook 0 earns nothing for it
    _, rew, *_ = _onion_pickup_by_cook_0(reward_weights={"agent_1/onion_pickup_dispenser": 2.0})
    assert rew == {"agent_0": 0.0, "agent_1": 0.0}
    # plain and own weights add up
    _, rew, *_ = _onion_pickup_by_cook_0(
        reward_weights={"onion_pickup_dispenser": 1.0, "agent_0/onion_pickup_dispenser": 0.5, "agent_1/stay": 3.0}
    )
    assert rew == {"agent_0": 1.5, "agent_1": 3.0}


@pytest.mark.parametrize("n", [4, 32])  # scalar and vectorized dynamics
def test_batched_env_honours_seat_weights_like_the_single_env(n):
    rng = np.random.default_rng(2)
    names = OvercookedEnv.reward_feature_names()
    weights = {f"{a}/{name}": float(w) for a in AGENTS for name, w in zip(names, rng.normal(size=len(names)))}
    weights["sparse"] = 0.5
    batched = OvercookedBatchedEnv(n, horizon=50, reward_weights=weights)
    singles = [OvercookedEnv(horizon=50, reward_weights=weights) for _ in range(n)]
    batched.reset(seed=0)
    for env in singles:
        env.reset(seed=0)
    differ = 0
    for _ in range(120):
        acts = rng.choice(6, size=(n, 2), p=[0.15, 0.15, 0.15, 0.15, 0.05, 0.35])
        _, rew, _, trunc, _ = batched.step({a: acts[:, p] for p, a in enumerate(AGENTS)})
        for i, env in enumerate(singles):
            _, s_rew, _, s_trunc, s_infos = env.step({a: int(acts[i, p]) for p, a in enumerate(AGENTS)})
            for a in AGENTS:
                features = s_infos[a]["reward_features"]
                own = {k.split("/", 1)[1]: w for k, w in weights.items() if k.startswith(f"{a}/")}
                expected = sum(own.get(k, 0.0) * v for k, v in features.items()) + 0.5 * features["sparse"]
                assert s_rew[a] == pytest.approx(expected) and rew[a][i] == pytest.approx(expected)
            # the two cooks' rewards differ even on a step where they did the same things
            differ += s_rew["agent_0"] != s_rew["agent_1"]
            if s_trunc["agent_0"]:
                env.reset()
    assert differ > 0


def test_a_users_env_takes_seat_weights_through_the_wrapper():
    env = make("examples.user_env.rendezvous_env:RendezvousEnv", reward_weights={"cafe": 1.0, "agent_1/cafe": 2.0})
    env.reset(seed=0)
    cafe = 0  # the example's action for the cafe (features: cafe, met_at_park, ...)
    _, rew, _, _, infos = env.step({"agent_0": cafe, "agent_1": cafe})
    assert infos["agent_0"]["reward_features"]["cafe"] == infos["agent_1"]["reward_features"]["cafe"] == 1.0
    assert rew == {"agent_0": 1.0, "agent_1": 3.0}
    env = make("examples.user_env.rendezvous_env:RendezvousEnv", reward_weights={"agent_3/cafe": 1.0})
    env.reset(seed=0)
    with pytest.raises(ConfigError, match="unknown agent 'agent_3'.*agents: agent_0, agent_1"):
        env.step({"agent_0": cafe, "agent_1": cafe})


def test_seat_weights_are_validated_with_one_clear_message():
    with pytest.raises(ConfigError, match=r"unknown agent 'agent_2' in reward_weights.*agents: agent_0, agent_1"):
        OvercookedEnv(reward_weights={"agent_2/sparse": 1.0})
    with pytest.raises(ConfigError, match=r"unknown reward feature 'potting_onoin'.*did you mean 'potting_onion'"):
        OvercookedBatchedEnv(2, reward_weights={"agent_0/potting_onoin": 1.0})
    with pytest.raises(ConfigError, match="unknown agent 'player_0'.*this env takes no per-agent weights"):
        make("stag_hunt", reward_weights={"player_0/stag_stag": 1.0})
    # config validation (before Ray) checks the feature part of a seat weight
    with pytest.raises(ConfigError, match=r"unknown reward feature 'soup_delivered'.*did you mean 'soup_delivery'"):
        load_config({"env": "overcooked", "env_config": {"reward_weights": {"agent_1/soup_delivered": 1}}})
    cfg = load_config({"env": "overcooked", "env_config": {"reward_weights": {"agent_1/soup_delivery": 1}}})
    assert cfg.env_config["reward_weights"] == {"agent_1/soup_delivery": 1}


# ---- descriptors people can read ---------------------------------------------------------------------------
def test_who_does_what_in_words():
    shares = {
        "agent_0": {"potting_onion": 0.94, "dish_pickup_dispenser": 0.55, "soup_delivery": 0.0},
        "agent_1": {"potting_onion": 0.06, "dish_pickup_dispenser": 0.45, "soup_delivery": 1.0},
    }
    text = who_does_what(shares, ROLE_EVENTS, list(ROLE_EVENTS))
    assert text == (
        "agent_0 pots 94% of the onions; agent_1 delivers every soup; "
        "agent_0 and agent_1 share: fetches the dishes (55% / 45%)"
    )
    shares["agent_1"]["soup_pickup_pot"], shares["agent_0"]["soup_pickup_pot"] = 0.9, 0.1
    shares["agent_0"]["onion_pickup_dispenser"], shares["agent_1"]["onion_pickup_dispenser"] = 0.3, 0.7
    assert who_does_what(shares, ROLE_EVENTS, list(ROLE_EVENTS)) == (
        "agent_0 pots 94% of the onions; agent_1 plates 90% of the soups and delivers every soup; "
        "agent_0 and agent_1 share: fetches the dishes (55% / 45%); "
        "unevenly (agent_0 / agent_1): fetches the onions (30% / 70%)"
    )
    assert describe_share("agent_1", 0.0, ROLE_EVENTS["potting_onion"]) == "agent_1 pots none of the onions"
    assert describe_share("cook", 0.5, ("does", "`x` events", "`x` event")) == "cook does 50% of the `x` events"


@pytest.fixture(scope="module")
def teams():
    """Two fixed-job teams and the all-rounder, 2 seeded copies each (scripted, 10% random actions)."""
    sources = [ROLES + t for t in ("potter_server", "server_potter", "all_rounder")]
    population = build_population(sources, KITCHEN, copies=2)
    return population, population.rollouts("overcooked", episodes=4, seed=0, **KITCHEN)


def test_role_shares_and_named_actions_of_known_teams(teams):
    _, rollouts = teams
    shares = role_shares(rollouts["potter_server#0"], list(ROLE_EVENTS))
    assert shares["agent_0"]["potting_onion"] >= 0.9 and shares["agent_1"]["soup_delivery"] >= 0.9
    assert shares["agent_1"]["dish_pickup_dispenser"] >= 0.9
    mirrored = role_shares(rollouts["server_potter#1"], list(ROLE_EVENTS))
    assert mirrored["agent_1"]["potting_onion"] >= 0.9 and mirrored["agent_0"]["soup_delivery"] >= 0.9
    all_rounder = role_shares(rollouts["all_rounder#0"], list(ROLE_EVENTS))
    assert 0.2 <= all_rounder["agent_0"]["potting_onion"] <= 0.8
    actions = ActionDistribution().fit(rollouts)
    assert actions.get_feature_names_out()[:6] == [
        f"agent_0/action:{a}" for a in ("north", "south", "east", "west", "stay", "interact")
    ]
    X = RoleShares().fit_transform(rollouts)
    names = RoleShares().fit(rollouts).get_feature_names_out()
    assert "agent_0/share:potting_onion" in names and "agent_1/share:soup_delivery" in names
    np.testing.assert_allclose(X[:, names.index("agent_0/share:potting_onion")][:2], 1.0, atol=0.1)
    assert set(names) <= set(default_descriptors().fit(rollouts).get_feature_names_out())


def test_analysis_finds_the_teams_and_says_who_does_what(teams, tmp_path):
    population, _ = teams
    result = analyze_population(
        population, "overcooked", KITCHEN, episodes=4, crossplay_episodes=2, out=tmp_path, gifs=False
    )
    truth = [m.metadata["group"] for m in population]
    assert result.clusters.n_clusters_ == 3 and adjusted_rand_score(truth, result.labels) == 1.0
    potter_first, server_first = result.roles["potter_server#0"], result.roles["server_potter#0"]
    assert potter_first.startswith("agent_0 fetches every onion, pots every onion") and "; agent_1 " in potter_first
    assert "delivers every soup" in potter_first.split("; agent_1 ")[1]  # agent_1's jobs
    assert server_first.startswith("agent_1 fetches every onion, pots every onion") and "; agent_0 " in server_first
    assert "delivers every soup" in server_first.split("; agent_0 ")[1]
    report = (tmp_path / "report.md").read_text()
    assert "Who does what" in report and potter_first in report
    assert "## Cross-play: mixing strategies" in report and "mixing costs" in report
    assert "action_4" not in report  # actions by name
    V = np.asarray(result.crossplay.value_mean)
    names = result.names
    # two potters (agent_0 of potter_server with agent_1 of server_potter) never deliver; the teams do
    assert V[names.index("potter_server#0"), names.index("server_potter#0")] == 0
    assert V[names.index("potter_server#0"), names.index("potter_server#1")] > 0


def test_clustering_on_who_does_what_only(teams, tmp_path):
    """distance='roles': the teams apart by role shares alone, in share points (potter_server vs its mirror:
    every job changed hands), and the population's rollout noise measured on the same columns."""
    population, rollouts = teams
    result = analyze_population(
        population, "overcooked", KITCHEN, episodes=4, crossplay_episodes=0, distance="roles", out=None
    )
    truth = [m.metadata["group"] for m in population]
    assert result.clusters.n_clusters_ == 3 and adjusted_rand_score(truth, result.labels) == 1.0
    names = result.names
    D = np.asarray(result.distances)
    assert D[names.index("potter_server#0"), names.index("server_potter#0")] > 1.0  # whole jobs swapped
    assert D[names.index("potter_server#0"), names.index("potter_server#1")] < 0.5  # two copies of one team
    assert result.clusters.noise_scale_ is not None and result.clusters.noise_scale_ < 0.5
    cols = role_columns(result.descriptor_names)
    assert cols and all("/share:" in result.descriptor_names[i] for i in cols)


def test_roles_distance_without_role_columns_names_the_fix():
    with pytest.raises(ConfigError, match="distance 'roles' needs jobs.*use distance 'descriptors'"):
        role_columns(["agent_0/action:stay", "sparse_return"])
