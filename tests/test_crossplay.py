"""Batched evaluation and cross-play on real MAPPO checkpoints (tiny budgets), real files, real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import diverse_marl
from diverse_marl import envs
from diverse_marl.agents import PolicyAgent, RandomAgent
from diverse_marl.analysis.crossplay_report import write_crossplay
from diverse_marl.crossplay import CrossplayResult, crossplay_matrix
from diverse_marl.envs.overcooked.core import ACTION_STAY
from diverse_marl.errors import ConfigError
from diverse_marl.evaluation import evaluate_run, latest_evaluation
from diverse_marl.rollout import play_batched, run_episode

HORIZON = 60
ENV_CONFIG = {"layout": "cramped_room", "horizon": HORIZON}


class LinearAgent:
    """Deterministic, observation-dependent cook: argmax of a fixed random linear map of the obs.

    It moves around, so the policies it plays with see changing observations.
    """

    def __init__(self, obs_size: int = 96, num_actions: int = 6, seed: int = 0):
        self.w = np.random.default_rng(seed).normal(size=(obs_size, num_actions))

    def reset(self, seed=None) -> None:
        pass

    def act(self, obs) -> int:
        return int(np.argmax(np.asarray(obs, np.float64) @ self.w))

    def act_batch(self, obs) -> np.ndarray:
        return np.argmax(np.asarray(obs, np.float64) @ self.w, axis=1)


class RowByRowAgent(LinearAgent):
    """The same cook without ``act_batch``: batched play must ask it row by row."""

    act_batch = None  # type: ignore[assignment]

    def __getattribute__(self, name):
        if name == "act_batch":
            raise AttributeError(name)
        return super().__getattribute__(name)


class CountingAgent:
    """A stateful scripted agent: plays stag for its first ``n`` steps of an episode, then hare."""

    def __init__(self, n: int):
        self.n, self.t = n, 0

    def reset(self, seed=None) -> None:
        self.t = 0

    def act(self, obs) -> int:
        self.t += 1
        return 0 if self.t <= self.n else 1


class AlwaysAgent:
    def __init__(self, action: int):
        self.action = action

    def reset(self, seed=None) -> None:
        pass

    def act(self, obs) -> int:
        return self.action


def make_idle_cook(seat: str) -> AlwaysAgent:
    """An agent factory for ``--seat agent_1=tests.test_crossplay:make_idle_cook``."""
    return AlwaysAgent(ACTION_STAY)


@pytest.fixture(scope="module")
def runs(ray_local, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    out = []
    for seed in (0, 1):
        result = diverse_marl.train(
            "examples/overcooked/mappo_cramped_room.yaml",
            overrides=[
                "stop.iterations=1",
                "stop.env_steps=null",
                f"runs_dir={root}",
                f"seed={seed}",
                f"name=member{seed}",
                "training.num_envs_per_env_runner=4",
                "training.train_batch_size=800",
                f"env_config.horizon={HORIZON}",
                "evaluation.episodes=3",
            ],
            quiet=True,
        )
        out.append(result.run_dir)
    return out


def _reference(sources, names, episodes, deterministic=True):
    """Episode-by-episode play with PolicyAgents: {(i, j): [episode dicts]}."""
    env = envs.make("overcooked", **ENV_CONFIG)
    out = {}
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            agents = {}
            for agent, name in (("agent_0", a), ("agent_1", b)):
                src = sources[name]
                agents[agent] = (
                    PolicyAgent(diverse_marl.load_policy(src, agent), deterministic=deterministic)
                    if isinstance(src, (str, os.PathLike))
                    else src
                )
            out[i, j] = [run_episode(env, agents, seed=e) for e in range(episodes)]
    return out


def test_batched_matrix_equals_episode_by_episode_in_deterministic_mode(runs):
    sources = {"run0": runs[0], "run1": runs[1], "linear": LinearAgent(seed=3), "row_by_row": RowByRowAgent(seed=3)}
    names = list(sources)
    result = crossplay_matrix(
        sources, "overcooked", ENV_CONFIG, episodes=2, seed=0, deterministic=True, max_rows=7
    )  # several uneven chunks
    ref = _reference(sources, names, episodes=2)
    assert result.names == names and result.metric == "sparse_return"
    moved = 0.0
    for (i, j), eps in ref.items():
        assert result.value_mean[i][j] == np.mean([e["sparse_return"] for e in eps])
        assert result.return_mean[i][j] == np.mean([sum(e["returns"].values()) for e in eps])
        assert result.length_mean[i][j] == HORIZON
        for key in eps[0]["stats"]:  # every event total of the reference, per seat
            assert result.stats_mean[key][i][j] == np.mean([e["stats"][key] for e in eps]), (key, i, j)
        moved += np.mean([e["stats"]["agent_0/move"] + e["stats"]["agent_1/move"] for e in eps])
    assert moved > 0  # the comparison covers changing observations, not a frozen kitchen
    # the linear cook plays the same whether it acts in batches or row by row
    assert result.stats_mean["agent_1/move"][0][2] == result.stats_mean["agent_1/move"][0][3]
    # one chunk of all 32 rows (bigger forward batches) plays the same greedy episodes
    whole = crossplay_matrix(sources, "overcooked", ENV_CONFIG, episodes=2, seed=0, deterministic=True)
    assert whole.to_dict() == result.to_dict()


def test_sampled_crossplay_is_reproducible_with_a_seed(runs):
    sources = {"run0": runs[0], "run1": runs[1]}
    a = crossplay_matrix(sources, "overcooked", ENV_CONFIG, episodes=3, seed=5)
    b = crossplay_matrix(sources, "overcooked", ENV_CONFIG, episodes=3, seed=5)
    c = crossplay_matrix(sources, "overcooked", ENV_CONFIG, episodes=3, seed=6)
    assert a.to_dict() == b.to_dict()
    assert a.stats_mean["agent_0/move"] != c.stats_mean["agent_0/move"]


def test_play_batched_through_the_generic_batched_path():
    """Stag Hunt has no native batched class: SyncBatchedEnv; returns are the payoffs."""
    eps = play_batched(
        "stag_hunt", {"horizon": 5}, {"agent_0": AlwaysAgent(0), "agent_1": AlwaysAgent(1)}, episodes=3, seed=0
    )
    assert len(eps) == 3
    for e in eps:
        assert e["length"] == 5 and "sparse_return" not in e
        assert e["returns"] == {"agent_0": -50.0, "agent_1": 15.0}  # stag alone: -10 a step; hare: 3
    # a stateful agent without act_batch keeps its state per row (a copy per row), as in single play
    counting = {"agent_0": CountingAgent(2), "agent_1": CountingAgent(2)}
    eps = play_batched("stag_hunt", {"horizon": 5}, counting, episodes=4, seed=0)
    single = run_episode(envs.make("stag_hunt", horizon=5), counting, seed=0)
    assert single["returns"] == {"agent_0": 2 * 4.0 + 3 * 1.0, "agent_1": 11.0}
    assert all(e["returns"] == single["returns"] for e in eps)
    rnd = play_batched(
        "stag_hunt", {"horizon": 5}, {"agent_0": RandomAgent(2), "agent_1": RandomAgent(2)}, episodes=20, seed=1
    )
    again = play_batched(
        "stag_hunt", {"horizon": 5}, {"agent_0": RandomAgent(2), "agent_1": RandomAgent(2)}, episodes=20, seed=1
    )
    assert [e["returns"] for e in rnd] == [e["returns"] for e in again]
    assert len({e["returns"]["agent_0"] for e in rnd}) > 1


def test_batched_returns_are_the_original_game_under_reward_weights():
    """With reward_weights the env's reward changes; batched play still reports the payoffs."""
    seating = {"agent_0": AlwaysAgent(0), "agent_1": AlwaysAgent(1)}
    weighted = {"horizon": 5, "reward_weights": {"stag_hare": 2.0}}
    env = envs.make("stag_hunt", **weighted)
    env.reset(seed=0)
    _, rew, *_ = env.step({"agent_0": 0, "agent_1": 1})
    assert rew["agent_0"] == 2.0  # the reward the agents trained on is the weighted one
    eps = play_batched("stag_hunt", weighted, seating, episodes=2, seed=0)
    assert [e["returns"] for e in eps] == [{"agent_0": -50.0, "agent_1": 15.0}] * 2
    single = run_episode(env, seating, seed=0)
    assert single["returns"] == eps[0]["returns"]


def test_bad_input_is_one_clear_error(runs):
    with pytest.raises(ConfigError, match="allowed: .*cramped_room"):
        crossplay_matrix({"r": runs[0]}, "overcooked", {"layout": "no_such_kitchen"}, episodes=1)
    with pytest.raises(ConfigError, match="agents: agent_0, agent_1"):
        crossplay_matrix({"r": runs[0]}, "overcooked", ENV_CONFIG, episodes=1, seats=("agent_0", "agent_9"))
    with pytest.raises(ConfigError, match="episodes must be >= 1"):
        play_batched("stag_hunt", {}, {"agent_0": AlwaysAgent(0), "agent_1": AlwaysAgent(0)}, episodes=0)


def test_write_crossplay_json_and_heatmap(runs, tmp_path):
    result = crossplay_matrix(
        {"run0": runs[0], "run1": runs[1], "linear": LinearAgent()}, "overcooked", ENV_CONFIG, episodes=2, seed=0
    )
    json_path, png_path = write_crossplay(result, tmp_path / "xp")
    saved = json.loads(json_path.read_text())
    assert CrossplayResult.from_dict(saved) == result
    assert np.asarray(saved["value_mean"]).shape == (3, 3)
    assert "agent_0/onion_pickup_dispenser" in saved["stats_mean"]
    from PIL import Image

    with Image.open(png_path) as im:
        assert im.size[0] >= 800 and im.size[1] >= 800  # readable at paper size
    assert not list((tmp_path / "xp").glob(".*tmp*"))


def _cli(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "diverse_marl", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def test_cli_crossplay_on_a_population_dir_and_a_run(runs, tmp_path):
    pop = tmp_path / "pop"
    for k, run in enumerate(runs):
        shutil.copytree(run, pop / f"member_{k:02d}")
    entries = [
        {"index": k, "name": f"member_{k:02d}", "run_dir": f"member_{k:02d}", "status": "finished"}
        for k in range(len(runs))
    ]
    (pop / "population.json").write_text(json.dumps(entries))
    out = tmp_path / "out"
    proc = _cli(
        "crossplay",
        pop,
        runs[0],
        "--episodes",
        2,
        "--set",
        "env_config.horizon=30",
        "--deterministic",
        "--out",
        out,
        "-q",
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "crossplay.json").read_text())
    assert data["names"] == ["member_00", "member_01", runs[0].name]
    assert data["env_config"]["horizon"] == 30 and data["episodes"] == 2
    assert np.asarray(data["length_mean"]).tolist() == [[30.0] * 3] * 3
    assert (out / "crossplay.png").stat().st_size > 10_000
    assert "member_01" in proc.stdout
    # a copy plays exactly like its original (greedy): member_00 is runs[0]
    v = np.asarray(data["value_mean"])
    assert (v[0] == v[2]).all() and (v[:, 0] == v[:, 2]).all()
    bad = _cli("crossplay", runs[0], "--layout", "no_such_kitchen", "--out", out, "-q")
    assert bad.returncode == 2 and "cramped_room" in bad.stderr and "Traceback" not in bad.stderr
    bad = _cli("crossplay", runs[0], "--set", "training.lr=1", "--out", out, "-q")
    assert bad.returncode == 2 and "env_config.KEY=VALUE" in bad.stderr
    bad = _cli("crossplay", tmp_path / "nowhere", "--out", out, "-q")
    assert bad.returncode == 2 and "nowhere" in bad.stderr


def test_eval_batched_equals_one_by_one_and_seats(runs):
    run = runs[0]
    batched = evaluate_run(run, episodes=3, deterministic=True, quiet=True)
    single = evaluate_run(run, episodes=3, deterministic=True, quiet=True, batched=False)
    for key in ("return_mean", "sparse_return_mean", "length_mean", "agent_return_mean"):
        assert batched[key] == single[key], key
    assert {k: v for k, v in batched["stats_mean"].items() if k in single["stats_mean"]} == single["stats_mean"]
    assert batched["batched"] and not single["batched"]
    # a different policy in seat agent_1: the other run, a factory, random
    paired = evaluate_run(run, episodes=2, deterministic=True, quiet=True, seats={"agent_1": str(runs[1])})
    assert paired["seats"] == {"agent_0": str(run), "agent_1": str(runs[1])}
    idle = evaluate_run(run, episodes=2, quiet=True, seats={"agent_1": "tests.test_crossplay:make_idle_cook"})
    assert idle["stats_mean"]["agent_1/stay"] == HORIZON and idle["stats_mean"]["agent_0/stay"] < HORIZON
    proc = _cli("eval", run, "--episodes", 2, "--seat", "agent_1=random", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "mean sparse return" in proc.stdout
    saved = json.loads(latest_evaluation(run).read_text())
    assert saved["seats"]["agent_1"] == "random" and saved["stats_mean"]["agent_1/move"] > 0
    for seat, message in (
        ("agent_7=random", "agents: agent_0, agent_1"),
        ("agent_1", "AGENT=SOURCE"),
        ("agent_1=nothing_like_this", "unknown seat"),
    ):
        bad = _cli("eval", run, "--episodes", 1, "--seat", seat, "-q")
        assert bad.returncode == 2 and message in bad.stderr and "Traceback" not in bad.stderr, bad.stderr


def test_team_seats_in_a_zero_sum_game_report_seat_0s_return():
    """Hide-and-seek: seats are teams; the team return is always 0, so the matrix shows the hiders' return."""
    teams = (["hider_0", "hider_1"], ["seeker_0", "seeker_1"])
    sources = {"a": RandomAgent(8), "b": RandomAgent(8)}
    result = crossplay_matrix(sources, "hide_and_seek", {}, episodes=2, seed=0, seats=teams)
    assert result.metric == "seat0_return" and result.return_mean == [[0.0, 0.0], [0.0, 0.0]]
    assert result.value_mean == result.seat_return_mean[0]
    assert np.asarray(result.seat_return_mean[1]).tolist() == (-np.asarray(result.value_mean)).tolist()
    assert "hidden_steps" in result.stats_mean
    again = crossplay_matrix(sources, "hide_and_seek", {}, episodes=2, seed=0, seats=teams)
    assert again.to_dict() == result.to_dict()
    with pytest.raises(ConfigError, match="allowed: sparse_return, return, seat0_return"):
        crossplay_matrix(sources, "hide_and_seek", {}, episodes=1, seats=teams, metric="wins")
