"""The main job end to end on real parts: MAPPO in Overcooked -> checkpoint -> eval (no Ray) -> GIF -> report,
and ``make demo`` (an RPG population -> cross-play, clusters, figures, report) at a tiny scale."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import diverse_marl
from diverse_marl import envs
from diverse_marl.agents import RandomAgent
from diverse_marl.envs.overcooked import EVENT_NAMES
from diverse_marl.evaluation import evaluate_run, record_episode_gif, run_episode


@pytest.fixture(scope="module")
def overcooked_run(ray_local, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return diverse_marl.train(
        "examples/overcooked/mappo_cramped_room.yaml",
        overrides=[
            "stop.iterations=1",
            "stop.env_steps=null",
            f"runs_dir={runs}",
            "evaluation.episodes=2",
            "training.num_envs_per_env_runner=4",
            "training.train_batch_size=1600",
            "env_config.horizon=400",
        ],
        quiet=True,
    )


def test_overcooked_config_trains_and_reports_sparse_return(overcooked_run):
    row = overcooked_run.metrics[-1]
    assert row["iteration"] == 1 and row["env_steps"] == 1600
    assert "episode/sparse_return" in row and row["episode_len_mean"] == 400


def test_eval_gif_and_report_from_the_run_dir(overcooked_run):
    report = evaluate_run(overcooked_run.run_dir, episodes=2, quiet=True)
    assert report["episodes"] == 2 and report["length_mean"] == 400
    assert "sparse_return_mean" in report
    # every event total reaches the report by name, for both cooks
    assert {f"{a}/{e}" for a in ("agent_0", "agent_1") for e in EVENT_NAMES} <= set(report["stats_mean"])
    saved = json.loads(Path(report["path"]).read_text())
    assert saved["return_mean"] == pytest.approx(report["return_mean"])
    # same seed -> same numbers
    again = evaluate_run(overcooked_run.run_dir, episodes=2, quiet=True)
    assert again["return_mean"] == report["return_mean"] and again["stats_mean"] == report["stats_mean"]
    gif = record_episode_gif(overcooked_run.run_dir)
    assert gif is not None and gif.stat().st_size > 10_000
    proc = subprocess.run(
        [sys.executable, "-m", "diverse_marl", "analyze", str(overcooked_run.run_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    text = (overcooked_run.run_dir / "analysis" / "report.md").read_text()
    assert "sparse_return" in text and "evaluation: 2 episodes" in text


def test_cli_eval_and_corrupt_checkpoint(overcooked_run, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "diverse_marl", "eval", str(overcooked_run.run_dir), "--episodes", "1", "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1 episodes: mean return" in proc.stdout
    # a copy of the run whose policy weights are garbage: one clear line, exit 2
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(overcooked_run.run_dir, broken)
    for state in [
        *broken.glob("checkpoints/iter_*/learner_group/learner/rl_module/*/module_state.pkl"),
        *broken.glob("checkpoints/iter_*/weights/*.pt"),
    ]:  # RLlib's state and the safe policy files
        state.write_bytes(b"not a pickle")
    proc = subprocess.run(
        [sys.executable, "-m", "diverse_marl", "eval", str(broken), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "corrupt" in proc.stderr and "Traceback" not in proc.stderr


def test_random_agents_baseline_has_no_deliveries_on_average():
    """Sanity for the learning tests' reference point: random cooks almost never deliver."""
    env = envs.make("overcooked", layout="cramped_room", horizon=200)
    agents = {a: RandomAgent(6, seed=i) for i, a in enumerate(env.possible_agents)}
    results = [run_episode(env, agents, seed=s) for s in range(3)]
    assert np.mean([r["sparse_return"] for r in results]) < 20


def test_stock_runner_logs_env_episode_totals(ray_local, tmp_path):
    """RLlib's own env runner path: the callback turns Overcooked's infos into episode metrics."""
    result = diverse_marl.train(
        "examples/overcooked/mappo_cramped_room.yaml",
        overrides=[
            "stop.iterations=1",
            "stop.env_steps=null",
            f"runs_dir={tmp_path}",
            "training.num_envs_per_env_runner=2",
            "training.train_batch_size=800",
            "training.env_runner_cls=null",
        ],
        quiet=True,
    )
    row = result.metrics[-1]
    assert "episode/sparse_return" in row and "episode/agent_0/stay" in row
    assert row["episode/agent_0/stay"] > 0  # a fresh policy stays sometimes in 400 steps


TINY_DEMO = [
    "stop.iterations=1",
    "stop.env_steps=null",
    "training.num_envs_per_env_runner=2",
    "training.train_batch_size=400",
    "env_config.horizon=200",
    "evaluation.episodes=2",
    "checkpoint_every=1",
]  # the demo's own members: potters/servers and the mirror (seat-specific rewards), generalists (a shared policy)


def test_demo_trains_a_population_and_analyses_it(ray_local, tmp_path, capsys):
    """make demo's path at a tiny scale: members with seat-specific rewards or one shared policy -> clusters,
    cross-play, who-does-what descriptors, report."""
    from diverse_marl.demo import run_demo
    from diverse_marl.warm_start import source_policy_ids

    run_dir = run_demo(
        overrides=[*TINY_DEMO, f"runs_dir={tmp_path}"], quiet=True, analysis_episodes=2, crossplay_episodes=1
    )
    out = capsys.readouterr().out
    assert "strateg" in out and "sparse_return" in out and "report:" in out
    assert "one policy for both cooks" in out and "agent_0/potting_onion=1.0" in out
    analysis = json.loads((run_dir / "analysis" / "analysis.json").read_text())
    assert len(analysis["members"]) == 6 and analysis["headline"] == "sparse_return"
    assert set(analysis["labels"]) == set(analysis["members"])
    assert np.shape(analysis["crossplay"]) == (6, 6)
    # two members per strategy: one pays agent_0 for potting, its mirror pays agent_1; the generalists share a policy
    population = diverse_marl.load_population(run_dir)
    weights = [m.metadata.get("reward_weights") or {} for m in population]
    assert sum("agent_0/potting_onion" in w for w in weights) == 2
    assert sum("agent_1/potting_onion" in w for w in weights) == 2
    policies = sorted(tuple(source_policy_ids(m.checkpoint)) for m in population)
    assert policies == [("agent_0", "agent_1")] * 4 + [("shared",)] * 2
    # descriptors by name: actions (no action indices) and, where the cooks split a job, role shares
    names = analysis["descriptor_names"]
    assert {"agent_0/action:stay", "agent_1/action:interact"} <= set(names)
    assert not any("/action_" in n for n in names)
    report = (run_dir / "analysis" / "report.md").read_text()
    assert "## Cluster 1" in report and "self-play sparse_return" in report
    assert "## Cross-play: mixing strategies" in report and "Every pair" in report
    for figure in ("population_map", "descriptor_profiles", "crossplay_clusters", "learning_curves"):
        assert (run_dir / "analysis" / f"{figure}.png").stat().st_size > 5_000
        assert (run_dir / "analysis" / f"{figure}.svg").exists()
