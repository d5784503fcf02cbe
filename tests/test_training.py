"""Training runs end to end on real RLlib: run dir contents, checkpoints, resume after SIGKILL, seeds."""

from __future__ import annotations

import os

import numpy as np
import pytest
import yaml
from cli_runs import resume_cli, train_until_then_kill
from tiny_configs import TINY_PPO

import diverse_marl
from diverse_marl.errors import CheckpointError
from diverse_marl.run_dir import RunDir, read_checkpoint_meta, resolve_checkpoint
from diverse_marl.training import summarize

TINY = TINY_PPO


def test_train_writes_a_complete_run_dir(ray_local, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a relative runs_dir, as in the examples
    result = diverse_marl.train({**TINY, "runs_dir": "runs"})
    rd = RunDir(result.run_dir)
    # under the relative runs_dir, reported as an absolute path (Tune trials change their working dir)
    assert result.run_dir.parent == (tmp_path / "runs").resolve() and result.run_dir.name.startswith("tiny-")
    assert yaml.safe_load(rd.config_path.read_text())["seed"] == 3
    assert [m["iteration"] for m in result.metrics] == [1, 2]
    assert result.metrics[-1]["env_steps"] == 200
    assert "episode_return_mean" in result.metrics[-1]
    csv_lines = rd.metrics_csv.read_text().splitlines()
    assert csv_lines[0].startswith("iteration,env_steps,time_s,episode_return_mean") and len(csv_lines) == 3
    header = csv_lines[0].split(",")
    # learner diagnostics beyond the losses and env-runner counts reach the CSV; profiling timers do not
    assert {
        "learner/shared/curr_kl_coeff",
        "learner/__all_modules__/num_env_steps_trained",
        "num_episodes",
        "agent_episode_returns_mean/agent_0",
    } <= set(header), header
    assert not [c for c in header if "timer" in c]
    assert list((rd.path / "tb").glob("events.out.tfevents*"))
    assert result.checkpoint == rd.latest_checkpoint() and read_checkpoint_meta(result.checkpoint)["iteration"] == 2
    # the algorithm family reads the trained policy back (no Ray needed)
    from diverse_marl.algorithms.family import AlgorithmFamily

    family = result.config.family()
    assert isinstance(family, AlgorithmFamily) and family.name == "ppo"
    actions = family.load_policy(result.checkpoint.resolve(), "agent_0")(
        np.zeros((4, 6), dtype=np.float32), deterministic=True
    )
    assert actions.shape == (4,) and set(actions.tolist()) <= {0, 1}
    # analysis works on the run dir alone
    from diverse_marl.analysis.report import analyze_runs

    written = analyze_runs([result.run_dir])
    assert all(p.exists() and p.stat().st_size > 0 for p in written)


def test_summarize_keeps_every_numeric_statistic():
    """Nested dicts flatten with '/', non-numbers and NaN drop out, the front columns come first."""
    result = {
        "time_this_iter_s": 1.5,
        "env_runners": {
            "episode_return_mean": 3.0,
            "episode": {"sparse_return": 20.0, "my_env": {"boxes_moved": np.float32(2.0)}, "label": "x"},
            "num_episodes": 4,
            "episode_len_mean": float("nan"),
            "timers": {"connectors": {"numpy_to_tensor": 0.1}},
            "env_step_timer": 0.2,
        },
        "learners": {
            "shared": {"my_diagnostic": np.float64(0.25), "hist": [1, 2]},
            "__all_modules__": {"num_env_steps_trained": 100},
        },
    }
    row = summarize(result, iteration=2, env_steps=200, elapsed=3.0, steps_per_s=66.0)
    assert list(row)[:6] == [
        "iteration",
        "env_steps",
        "time_s",
        "episode_return_mean",
        "iteration_time_s",
        "steps_per_s",
    ]
    assert row["episode/sparse_return"] == 20.0 and row["episode/my_env/boxes_moved"] == 2.0
    assert row["learner/shared/my_diagnostic"] == 0.25 and row["learner/__all_modules__/num_env_steps_trained"] == 100
    assert row["num_episodes"] == 4
    for absent in (
        "episode/label",
        "episode_len_mean",
        "learner/shared/hist",
        "env_step_timer",
        "timers/connectors/numpy_to_tensor",
    ):
        assert absent not in row


def test_same_seed_same_numbers(ray_local, tmp_path):
    a = diverse_marl.train({**TINY, "runs_dir": str(tmp_path / "a")})
    b = diverse_marl.train({**TINY, "runs_dir": str(tmp_path / "b")})
    keys = ["episode_return_mean", "learner/shared/policy_loss", "learner/shared/vf_loss"]
    assert [[m[k] for k in keys] for m in a.metrics] == [[m[k] for k in keys] for m in b.metrics]
    c = diverse_marl.train({**TINY, "runs_dir": str(tmp_path / "c"), "seed": 4})
    assert [m["learner/shared/policy_loss"] for m in c.metrics] != [m["learner/shared/policy_loss"] for m in a.metrics]


def test_resume_after_sigkill_continues_from_checkpoint(tmp_path):
    """A real training process is SIGKILLed after its first checkpoint; --resume continues from it."""
    cfg = {**TINY, "stop": {"iterations": 200}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    run_dir = tmp_path / "run"
    rd = RunDir(run_dir)
    train_until_then_kill([str(path), "--run-dir", str(run_dir)], rd.latest_checkpoint, 240, "checkpoint")
    ckpt_iter = read_checkpoint_meta(rd.latest_checkpoint())["iteration"]
    assert ckpt_iter < 200
    target = ckpt_iter + 2
    resume_cli(run_dir, f"stop.iterations={target}")
    rows = rd.read_metrics()
    assert [r["iteration"] for r in rows] == list(range(1, target + 1))
    assert rows[-1]["env_steps"] == target * 100  # counted on from the checkpoint, not from zero
    assert read_checkpoint_meta(rd.latest_checkpoint())["iteration"] == target
    assert len(rd.checkpoint_dirs()) <= TINY["keep_checkpoints"]


def test_half_written_checkpoint_is_ignored(tmp_path):
    rd = RunDir(tmp_path)
    good = rd.save_checkpoint(1, lambda d: os.makedirs(d), {"env_steps": 10})
    torn = rd.checkpoints / ".tmp-iter_000002-123"
    torn.mkdir()
    (rd.checkpoints / "iter_000003").mkdir()  # no meta.json: a crash before completion
    assert rd.latest_checkpoint() == good == resolve_checkpoint(tmp_path)
    empty = tmp_path / "empty_run"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        resolve_checkpoint(empty)
    with pytest.raises(CheckpointError, match="does not exist"):
        resolve_checkpoint(tmp_path / "missing")
    (good / "meta.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        read_checkpoint_meta(good)


def test_torn_metrics_line_is_dropped(tmp_path):
    rd = RunDir(tmp_path)
    rd.write_metrics([{"iteration": 1, "env_steps": 5}])
    with open(rd.metrics_jsonl, "a") as f:
        f.write('{"iteration": 2, "env_st')
    assert rd.read_metrics() == [{"iteration": 1, "env_steps": 5}]
