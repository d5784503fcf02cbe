"""Analysis of populations: scripted roles clustered back into their roles, distances and clustering on
known data, the rollout cache, user envs and descriptors by import path, the CLI and bad input."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from diverse_marl.analysis.clustering import StrategyClusters, cluster_stability
from diverse_marl.analysis.descriptors import (
    ActionDistribution,
    DescriptorSet,
    EpisodeStatistics,
    FunctionDescriptor,
    StateVisitation,
    default_descriptors,
)
from diverse_marl.analysis.distances import (
    crossplay_distance,
    descriptor_distances,
    mmd_rbf,
    state_distances,
    wasserstein,
)
from diverse_marl.analysis.members import build_population
from diverse_marl.analysis.rollouts import MemberRollouts, collect_rollouts
from diverse_marl.crossplay import crossplay_matrix
from diverse_marl.errors import CheckpointError, ConfigError

ROLES = "diverse_marl.envs.overcooked.roles:"
KITCHEN = {"layout": "cramped_room", "horizon": 200}
RENDEZVOUS = "examples.user_env.rendezvous_env:RendezvousEnv"


@pytest.fixture(scope="module")
def roles_population():
    """3 scripted roles x 3 seeds (each role acts at random 10% of the time, seeded apart)."""
    return build_population([ROLES + r for r in ("potter", "server", "all_rounder")], KITCHEN, copies=3)


@pytest.fixture(scope="module")
def roles_rollouts(roles_population):
    return roles_population.rollouts("overcooked", episodes=6, seed=0, **KITCHEN)


def test_scripted_roles_cluster_back_into_their_roles(roles_population, roles_rollouts):
    truth = [m.metadata["group"] for m in roles_population]
    X = default_descriptors().fit_transform(roles_rollouts)
    copies = [roles_rollouts[n] for n in ("potter#0", "potter#1")]
    assert not np.array_equal(copies[0].actions, copies[1].actions)  # seeded copies really differ
    D = descriptor_distances(X, "standardized")
    auto = StrategyClusters(metric="precomputed").fit(D)
    assert auto.n_clusters_ == 3 and adjusted_rand_score(truth, auto.labels_) >= 0.9
    assert max(auto.silhouette_, key=auto.silhouette_.get) == 3
    hdb = StrategyClusters("hdbscan", metric="precomputed").fit(D)
    assert adjusted_rand_score(truth, hdb.labels_) >= 0.9
    km = StrategyClusters("kmeans", n_clusters=3).fit((X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1))
    assert adjusted_rand_score(truth, km.labels_) >= 0.9
    # states alone also separate the roles (MMD between visited-state distributions)
    Ds = state_distances(roles_rollouts, "mmd", max_states=200)
    assert adjusted_rand_score(truth, StrategyClusters(metric="precomputed").fit_predict(Ds)) >= 0.9


def test_clusters_are_stable_over_rollout_seeds(roles_population, roles_rollouts):
    again = roles_population.rollouts("overcooked", episodes=6, seed=1, **KITCHEN)
    labelings = [
        StrategyClusters(metric="precomputed").fit_predict(descriptor_distances(default_descriptors().fit_transform(r)))
        for r in (roles_rollouts, again)
    ]
    mean, matrix = cluster_stability(labelings)
    assert mean >= 0.9 and matrix.shape == (2, 2)


def test_crossplay_distance_of_identical_policies_is_zero():
    """Two copies of one deterministic policy: identical episodes, so zero distance; a different one is far."""

    class Fixed:  # a deterministic policy: every agent always plays one action
        def __init__(self, action: int) -> None:
            self.action = action

        def __call__(self, obs, deterministic=False):
            return np.full(len(obs), self.action)

    result = crossplay_matrix(
        {"stag_a": Fixed(0), "stag_b": Fixed(0), "hare": Fixed(1)}, "stag_hunt", {"horizon": 5}, episodes=2
    )
    D = crossplay_distance(result)
    assert D[0, 1] == 0.0 and D[1, 0] == 0.0 and np.all(np.diag(D) == 0)
    assert D[0, 2] > 0 and D[0, 2] == D[2, 0]
    # on a known matrix: (V_ii + V_jj) / 2 - (V_ij + V_ji) / 2, never below 0
    V = np.array([[10.0, 2.0], [4.0, 6.0]])
    np.testing.assert_allclose(crossplay_distance(V), [[0, 5.0], [5.0, 0]])
    np.testing.assert_allclose(crossplay_distance(V, relative=True), [[0, 5.0 / 8], [5.0 / 8, 0]])
    assert crossplay_distance(np.array([[1.0, 9.0], [9.0, 1.0]]))[0, 1] == 0.0


def test_descriptor_and_state_distances_on_known_data():
    X = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 8.0]])
    np.testing.assert_allclose(descriptor_distances(X, "euclidean")[0], [0, 5, 8])
    assert descriptor_distances(np.array([[1.0, 0], [2.0, 0], [0, 1.0]]), "cosine")[0, 1] == pytest.approx(0)
    Z = (X - X.mean(0)) / X.std(0)
    np.testing.assert_allclose(descriptor_distances(X), descriptor_distances(Z, "euclidean"))
    rng = np.random.default_rng(0)
    A = rng.normal(size=(200, 3))
    assert mmd_rbf(A, A) == pytest.approx(0, abs=1e-6)
    assert mmd_rbf(A, rng.normal(size=(200, 3))) < 0.5 * mmd_rbf(A, rng.normal(size=(200, 3)) + 2.0)
    assert wasserstein(A, A + np.array([3.0, 4.0, 0.0])) == pytest.approx(5.0)  # a translation moves every point 5
    assert wasserstein(A, A + 1.0, sliced=True) > 0
    with pytest.raises(ConfigError, match="unknown descriptor metric 'manhattan'; allowed: euclidean, cosine"):
        descriptor_distances(X, "manhattan")


def test_clustering_on_known_data():
    rng = np.random.default_rng(0)
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    X = np.concatenate([c + rng.normal(scale=0.5, size=(6, 2)) for c in centers])
    truth = np.repeat([0, 1, 2], 6)
    for method in ("hierarchical", "kmeans", "hdbscan"):
        model = StrategyClusters(method, random_state=0)
        assert adjusted_rand_score(truth, model.fit_predict(X)) == 1.0, method
    model = StrategyClusters("kmeans", random_state=0).fit(X)
    assert model.labels_[0] == 0  # clusters named in order of first appearance
    np.testing.assert_array_equal(model.predict(centers), model.labels_[[0, 6, 12]])
    blob = np.random.default_rng(0).normal(size=(30, 2))
    assert StrategyClusters().fit(blob).n_clusters_ == 1  # no reasonable structure (best silhouette < 0.5)
    same = StrategyClusters(random_state=1).fit_predict(X)
    assert cluster_stability([truth, (truth + 1) % 3, same])[0] == 1.0  # label names do not matter
    # with the rollout noise: one cluster when no members differ beyond it, a far singleton its own cluster
    D = np.array([[0.0, 1.0, 1.2, 9.0], [1.0, 0.0, 1.1, 9.5], [1.2, 1.1, 0.0, 8.8], [9.0, 9.5, 8.8, 0.0]])
    assert StrategyClusters(metric="precomputed").fit(D, noise_scale=2.0).labels_.tolist() == [0, 0, 0, 1]
    assert StrategyClusters(metric="precomputed").fit(D, noise_scale=10.0).n_clusters_ == 1
    with pytest.raises(ConfigError, match="unknown clustering method 'dbscan'; allowed: hierarchical, kmeans, hdbscan"):
        StrategyClusters("dbscan")
    with pytest.raises(ConfigError, match="kmeans needs descriptor vectors"):
        StrategyClusters("kmeans", metric="precomputed")


def test_rollouts_are_cached_on_disk(tmp_path):
    pop = build_population([ROLES + "potter", ROLES + "server"], KITCHEN)
    first = collect_rollouts(pop, "overcooked", KITCHEN, episodes=2, seed=0, cache_dir=tmp_path)
    files = sorted(tmp_path.glob("*.npz"))
    assert len(files) == 2
    assert first["potter"].states.shape == (2, 200, 5 * 4 * 26) and first["potter"].actions.shape == (2, 200, 2)
    # the second call reads the files: change one on disk and the change comes back
    cached = MemberRollouts.load(files[0])
    cached.returns[:] = 123.0
    cached.save(files[0])
    second = collect_rollouts(pop, "overcooked", KITCHEN, episodes=2, seed=0, cache_dir=tmp_path)
    assert np.all(second[cached.name].returns == 123.0)
    np.testing.assert_array_equal(second["server"].actions, first["server"].actions)
    # another seed is another key; same seed without the cache -> the same numbers
    collect_rollouts(pop, "overcooked", KITCHEN, episodes=2, seed=1, cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 4
    fresh = collect_rollouts(pop, "overcooked", KITCHEN, episodes=2, seed=0)
    np.testing.assert_array_equal(fresh["server"].states, first["server"].states)
    files[1].write_bytes(b"not an npz")
    with pytest.raises(CheckpointError, match="is corrupt"):
        collect_rollouts(pop, "overcooked", KITCHEN, episodes=2, seed=0, cache_dir=tmp_path)


# ---- a user env and user descriptors, by import path ---------------------------------------
class Goer:
    """Always goes to one place of the rendezvous game (0 cafe, 1 park, 2 museum)."""

    def __init__(self, place: int) -> None:
        self.place = place

    def __call__(self, obs, deterministic=False):
        return np.full(len(obs), self.place)


def cafe_goer(seat=None):
    return Goer(0)


def museum_goer(seat=None):
    return Goer(2)


def museum_share(rollouts: MemberRollouts) -> dict[str, float]:
    """A user descriptor: the share of steps anyone spent at the museum."""
    return {"museum_share": float((rollouts.actions[rollouts.step_mask] == 2).mean())}


def test_user_env_and_descriptors_by_import_path():
    pop = build_population(["cafe=tests.test_analysis:cafe_goer", "museum=tests.test_analysis:museum_goer"])
    ro = collect_rollouts(pop, RENDEZVOUS, {"horizon": 6}, episodes=2)
    stats = EpisodeStatistics().fit(ro)
    names = stats.get_feature_names_out()
    assert any(n.endswith("/feature/met_at_museum") for n in names)  # reward-feature totals of the episode
    assert any(n.startswith("agent_0/") and "/feature/" not in n for n in names)  # the env's episode_stats
    X = stats.transform(ro)
    col = names.index("agent_0/feature/met_at_museum")
    assert X[:, col].tolist() == [0.0, 6.0]
    desc = DescriptorSet(
        [FunctionDescriptor("tests.test_analysis:museum_share"), ActionDistribution(), StateVisitation(n_codes=4)]
    )
    Y = desc.fit_transform(ro)
    assert desc.get_feature_names_out()[0] == "museum_share" and Y[:, 0].tolist() == [0.0, 1.0]
    assert Y.shape == (2, 1 + 2 * 3 + 4)
    with pytest.raises(ConfigError, match="no episode statistics match"):
        EpisodeStatistics(include=["nothing*"]).fit(ro)


def test_analyze_cli_on_scripted_members(tmp_path):
    out = tmp_path / "analysis"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "diverse_marl",
            "analyze",
            ROLES + "potter",
            ROLES + "server",
            ROLES + "all_rounder",
            "--copies",
            "2",
            "--env",
            "overcooked",
            "--set",
            "env_config.horizon=200",
            "--episodes",
            "3",
            "--clusters",
            "3",
            "--crossplay-episodes",
            "1",
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "6 members, 3 strategies" in proc.stdout
    report = (out / "report.md").read_text()
    assert "**3 strategies found.**" in report and "adjusted Rand index 1.00" in report
    assert "higher `" in report or "lower `" in report  # distinguishing descriptors in words
    for name in ("population_map", "dendrogram", "descriptor_profiles", "crossplay_clusters"):
        assert (out / f"{name}.png").exists() and (out / f"{name}.svg").exists()
    assert len(list(out.glob("cluster_*.gif"))) == 3


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope/none"], "population path 'nope/none' does not exist"),
        ([ROLES + "potter"], "scripted members only: name the env with --env"),
        (
            [ROLES + "potter", "--env", "overcooked", "--distance", "vibes"],
            "unknown distance 'vibes'; allowed: descriptors",
        ),
        (
            [ROLES + "potter", "--env", "overcooked", "--clusters", "0"],
            "--clusters must be 'auto' or a positive integer",
        ),
        (["tests.test_analysis:no_such_factory", "--env", "overcooked"], "no_such_factory"),
    ],
)
def test_analyze_bad_input_is_one_line(args, message):
    proc = subprocess.run(
        [sys.executable, "-m", "diverse_marl", "analyze", *args, "--quiet"], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr


class Still:
    """A policy for any env: always the same action."""

    def __call__(self, obs, deterministic=False):
        return np.zeros(len(obs), dtype=np.int64)


def still(seat=None):
    return Still()


def test_team_games_cross_play_team_against_team(tmp_path):
    """Hide-and-seek: member i's hiders against member j's seekers; statistics as descriptors; PCA map."""
    from diverse_marl.analysis.pipeline import analyze_population, crossplay_seats
    from diverse_marl.analysis.plots import pca_embed

    assert crossplay_seats(["hider_0", "hider_1", "seeker_0", "seeker_1"]) == [
        ["hider_0", "hider_1"],
        ["seeker_0", "seeker_1"],
    ]
    pop = build_population(["a=tests.test_analysis:still", "b=tests.test_analysis:still"])
    result = analyze_population(
        pop, "hide_and_seek", {"horizon": 20}, episodes=2, crossplay_episodes=1, gifs=False, out=tmp_path
    )
    assert result.crossplay.seats == [["hider_0", "hider_1"], ["seeker_0", "seeker_1"]]
    assert any(n.startswith("hider_0/") for n in result.descriptor_names)
    points, ratios = pca_embed(result.descriptors)
    assert points.shape == (2, 2) and (tmp_path / "report.md").exists()


def test_stability_reclusters_each_rollout_seed_by_the_same_rule():
    """Two roles, two seeded copies each: every rollout seed must give the same partition. The further
    seeds were once clustered without the rollout-noise scale (so by the 0.5 silhouette threshold, which
    four members rarely reach) while the first used it: stability read 0 for an unchanged answer."""
    from diverse_marl.analysis.pipeline import analyze_population

    pop = build_population([ROLES + r for r in ("potter", "server")], KITCHEN, copies=2)
    result = analyze_population(
        pop, "overcooked", KITCHEN, episodes=4, crossplay_episodes=0, stability_seeds=(1, 2), gifs=False
    )
    assert result.clusters.labels_.tolist() == [0, 0, 1, 1]
    assert result.stability == 1.0


def test_members_all_apart_beyond_noise_are_each_their_own_strategy():
    """Four members at four goals (the multi-goal grid): silhouette cannot score k = 4, so the noise rule
    must; with two of them close (one goal twice) the answer is three."""
    corners = np.array([[0.0, 0.0], [0.0, 8.0], [8.0, 0.0], [8.0, 8.2]])
    D = descriptor_distances(corners, "euclidean")
    assert StrategyClusters(metric="precomputed").fit(D, noise_scale=1.0).n_clusters_ == 4
    assert StrategyClusters(metric="precomputed").fit(D).n_clusters_ < 4  # without the noise: no k = n
    twice = np.array([[0.0, 0.0], [0.0, 8.0], [8.0, 0.0], [0.3, 0.0]])
    labels = StrategyClusters(metric="precomputed").fit(descriptor_distances(twice, "euclidean"), noise_scale=1.0)
    assert labels.n_clusters_ == 3 and labels.labels_[0] == labels.labels_[3]
    # within the noise, all four are one strategy
    assert StrategyClusters(metric="precomputed").fit(D, noise_scale=20.0).n_clusters_ == 1
