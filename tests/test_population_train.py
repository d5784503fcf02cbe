"""Populations: per-member configs (members / seeded sampler), population.json, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cli_runs import resume_cli, train_until_then_kill
from tiny_configs import TINY_PPO

import diverse_marl
from diverse_marl.config import load_config, member_config, member_overrides
from diverse_marl.envs.matrix_games import StagHuntEnv
from diverse_marl.errors import ConfigError
from diverse_marl.run_dir import RunDir, read_checkpoint_meta

TINY = {**TINY_PPO, "stop": {"iterations": 1}}
SAMPLE = {"env_config.stag_reward": {"uniform": [4.5, 6.0]}, "training.lr": {"choice": [1e-3, 1e-4]}}


def test_sampled_members_are_seeded_and_deep_merged():
    cfg = load_config({**TINY, "population": {"size": 4, "sample": SAMPLE}})
    drawn = member_overrides(cfg)
    assert drawn == member_overrides(load_config({**TINY, "population": {"size": 4, "sample": SAMPLE}}))
    assert drawn != member_overrides(load_config({**TINY, "seed": 4, "population": {"size": 4, "sample": SAMPLE}}))
    rewards = [d["env_config"]["stag_reward"] for d in drawn]
    assert all(4.5 <= r <= 6.0 for r in rewards) and len(set(rewards)) == 4
    assert {d["training"]["lr"] for d in drawn} <= {1e-3, 1e-4}
    for i, d in enumerate(drawn):
        m = member_config(cfg, i)
        assert m.env_config == {"horizon": 5, "stag_reward": d["env_config"]["stag_reward"]}  # base keys kept
        assert m.training["lr"] == d["training"]["lr"] and m.training["train_batch_size"] == 100
        assert (m.seed, m.name, m.population.enabled) == (3 + i, f"tiny-member{i:02d}", False)


def test_listed_members_override_sampled_values_and_set_the_size():
    members = [{"env_config": {"horizon": 3}}, {"seed": 42, "env_config": {"stag_reward": 9.0}}]
    cfg = load_config({**TINY, "population": {"members": members, "sample": SAMPLE}})
    assert cfg.population.size == 2
    first, second = member_config(cfg, 0), member_config(cfg, 1)
    assert first.env_config["horizon"] == 3 and 4.5 <= first.env_config["stag_reward"] <= 6.0
    assert second.seed == 42 and second.env_config == {"horizon": 5, "stag_reward": 9.0}


@pytest.mark.parametrize(
    "population, fragment",
    [
        ({"size": 3, "members": [{}, {}]}, "population.size is 3 but population.members lists 2 members"),
        (
            {"members": [{}, {}, {}, {"training": {"lrr": 1e-3}}]},
            "population member 3 .*'training.lrr'.*did you mean 'lr'",
        ),
        ({"members": [{}, {"training": {"lr": "fast"}}]}, "population member 1 .*training.lr: expected float"),
        ({"members": [5]}, r"population.members\[0\]: expected a mapping"),
        ({"size": 2, "sample": {"training.lr": {"uniform": [1]}}}, "population.sample.training.lr: uniform needs"),
        ({"size": 2, "sample": {"training.lr": {"uniform": [2, 1]}}}, "uniform needs"),
        ({"size": 2, "sample": {"training.lr": {"normal": [0, 1]}}}, r"expected \{uniform: \[lo, hi\]\} or \{choice"),
        ({"size": 2, "sample": {"training.lr": {"choice": []}}}, "choice needs a non-empty list"),
        ({"size": 2, "sample": {"env_config.colour": {"choice": [1]}}}, "population member 0 .*env_config.colour"),
        ({"size": 0}, "population.size must be >= 1"),
    ],
)
def test_bad_population_names_the_member(population, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config({**TINY, "population": population})


def test_bad_algorithm_option_in_a_member_fails_before_ray(tmp_path):
    import ray

    was_running = ray.is_initialized()
    members = [{}, {"training": {"policy_mapping": "everyone"}}]
    with pytest.raises(ConfigError, match="population member 1 .*unknown policy_mapping 'everyone'"):
        diverse_marl.train(
            {**TINY, "algorithm": "mappo", "training": {"train_batch_size": 100}, "population": {"members": members}},
            run_dir=tmp_path / "pop",
        )
    assert ray.is_initialized() == was_running
    assert not (tmp_path / "pop").exists()


def test_bad_member_fails_in_the_cli_before_anything_runs(tmp_path):
    path = tmp_path / "pop.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                **TINY,
                "runs_dir": str(tmp_path / "runs"),
                "population": {"members": [{}, {}, {}, {"training": {"lrr": 1}}]},
            }
        )
    )
    out = subprocess.run(
        [sys.executable, "-m", "diverse_marl", "train", str(path)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 2 and "population member 3" in out.stderr, out.stderr[-2000:]
    assert not (tmp_path / "runs").exists()


def test_members_train_with_their_own_configs(ray_local, tmp_path):
    pop = {
        "members": [{"env_config": {"horizon": 3}}, {}],
        "sample": {"env_config.stag_reward": {"uniform": [4.5, 6.0]}},
    }
    result = diverse_marl.train({**TINY, "population": pop}, run_dir=tmp_path / "pop")
    parent = tmp_path / "pop"
    assert result.run_dir == parent and result.members == [parent / "member_00", parent / "member_01"]
    configs = [yaml.safe_load((m / "config.yaml").read_text()) for m in result.members]
    assert [c["env_config"]["horizon"] for c in configs] == [3, 5]
    assert [c["seed"] for c in configs] == [3, 4]
    # each member ran with its own env: episode length = its horizon
    assert [RunDir(m).read_metrics()[-1]["episode_len_mean"] for m in result.members] == [3.0, 5.0]
    entries = json.loads((parent / "population.json").read_text())
    assert [(e["index"], e["name"], e["run_dir"], e["seed"], e["status"]) for e in entries] == [
        (0, "member_00", "member_00", 3, "finished"),
        (1, "member_01", "member_01", 4, "finished"),
    ]
    for e, c in zip(entries, configs):
        assert e["overrides"]["env_config"]["stag_reward"] == c["env_config"]["stag_reward"]
        assert e["final_metrics"]["iteration"] == 1 and e["reward_weights"] is None
    assert [m["iteration"] for m in result.metrics] == [1, 1]
    assert yaml.safe_load((parent / "config.yaml").read_text())["population"]["size"] == 2
    assert (parent / "tune").is_dir()  # Tune's own records of the trials

    with pytest.raises(ConfigError, match="already holds a run .*--resume"):
        diverse_marl.train({**TINY, "population": pop}, run_dir=parent)
    # resuming with a raised stop continues every member from its checkpoint, same per-member configs
    resumed = diverse_marl.train(resume=parent, overrides=["stop.iterations=2"])
    assert [m["iteration"] for m in resumed.metrics] == [2, 2]
    assert [r["env_steps"] for r in RunDir(result.members[1]).read_metrics()] == [100, 200]
    assert [yaml.safe_load((m / "config.yaml").read_text())["env_config"] for m in result.members] == [
        c["env_config"] for c in configs
    ]
    assert [e["status"] for e in json.loads((parent / "population.json").read_text())] == ["finished", "finished"]


def test_members_with_remote_env_runners_share_the_cpus(ray_local, tmp_path):
    """Each member reserves its driver and its remote env runner: on 2 CPUs, 2 such members run
    one after another instead of both holding a CPU and waiting forever for a second."""
    result = diverse_marl.train({**TINY, "num_env_runners": 1, "population": {"size": 2}}, run_dir=tmp_path / "pop")
    assert [m["iteration"] for m in result.metrics] == [1, 1]
    assert all(m["env_steps"] == 100 for m in result.metrics)


def test_population_resumes_after_sigkill(tmp_path):
    """A 2-member population is SIGKILLed once member 0 finished and member 1 checkpointed;
    --resume skips member 0 and continues member 1 from its checkpoint."""
    cfg = {
        **TINY,
        "stop": {"iterations": 300},
        "ray": {"num_cpus": 2},
        "population": {"members": [{"stop": {"iterations": 2}}, {}]},
    }
    path = tmp_path / "pop.yaml"
    path.write_text(yaml.safe_dump(cfg))
    parent = tmp_path / "pop"
    first, second = RunDir(parent / "member_00"), RunDir(parent / "member_01")

    def status() -> list[str]:
        try:
            return [e["status"] for e in json.loads((parent / "population.json").read_text())]
        except (OSError, ValueError):
            return []

    train_until_then_kill(
        [str(path), "--run-dir", str(parent)],
        lambda: status()[:1] == ["finished"] and second.latest_checkpoint(),
        300,
        "finished member 0 and checkpointed member 1",
    )
    assert status() == ["finished", "unfinished"]
    first_rows = first.read_metrics()
    first_ckpt = first.latest_checkpoint()
    first_mtime = (first_ckpt / "meta.json").stat().st_mtime
    ckpt_iter = read_checkpoint_meta(second.latest_checkpoint())["iteration"]
    assert [r["iteration"] for r in first_rows] == [1, 2] and ckpt_iter < 300
    target = ckpt_iter + 2
    out = resume_cli(parent, f"stop.iterations={target}")
    assert "population of 2 members" in out.stdout
    # member 0 was finished: not run again
    assert first.read_metrics() == first_rows and first.latest_checkpoint() == first_ckpt
    assert (first_ckpt / "meta.json").stat().st_mtime == first_mtime
    # member 1 continued from its checkpoint, counting on
    rows = second.read_metrics()
    assert [r["iteration"] for r in rows] == list(range(1, target + 1))
    assert rows[-1]["env_steps"] == target * 100
    assert read_checkpoint_meta(second.latest_checkpoint())["iteration"] == target
    entries = json.loads((parent / "population.json").read_text())
    assert [e["status"] for e in entries] == ["finished", "finished"]
    assert [e["final_metrics"]["iteration"] for e in entries] == [2, target]


class _BreaksAfterSomeSteps(StagHuntEnv):
    """Stag Hunt whose member with ``break_after > 0`` crashes mid-training (a bug in a user env)."""

    def __init__(self, break_after: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.break_after, self.steps = break_after, 0

    def step(self, actions):
        self.steps += 1
        if self.break_after and self.steps > self.break_after:
            raise RuntimeError("user env exploded\nsecond line of the traceback")
        return super().step(actions)


def test_a_crashing_member_is_one_line_naming_it_and_how_to_resume(tmp_path):
    """The CLI reports a crashed member in one line (no traceback wall), exit 2, and keeps the others."""
    config = tmp_path / "pop.yaml"
    data = {
        **TINY,
        "env": "test_population_train:_BreaksAfterSomeSteps",
        "population": {"members": [{}, {"env_config": {"break_after": 20}}]},
    }
    config.write_text(yaml.safe_dump(data))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "diverse_marl", "train", str(config), "--run-dir", str(tmp_path / "pop"), "--quiet"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("diverse-marl train: error: population members [1] failed"), proc.stderr[-2000:]
    assert f"diverse-marl train --resume {tmp_path / 'pop'}" in last
    # the root cause, not Ray's wrapper: the user env's own error, without the member's resume advice
    assert "member 1: env 'test_population_train:_BreaksAfterSomeSteps' raised in step(): " in last
    assert "RuntimeError: user env exploded; full errors under" in last
    assert "Traceback" not in proc.stderr
    statuses = [m["status"] for m in json.loads((tmp_path / "pop" / "population.json").read_text())]
    assert statuses == ["finished", "unfinished"]


def test_population_members_trained_at_once_reproduce_their_numbers(ray_local, tmp_path):
    """Two MAPPO members trained concurrently (one per core) give the same losses when the population is
    trained again: each member's seed decides its numbers, not which trial ran first or beside whom."""
    cfg = {
        **TINY,
        "algorithm": "mappo",
        "stop": {"iterations": 2},
        "training": {**TINY["training"], "num_epochs": 2},
        "population": {"size": 2, "max_concurrent": 2},
    }

    def losses(name: str) -> list[list[float]]:
        result = diverse_marl.train({**cfg, "runs_dir": str(tmp_path / name)}, quiet=True)
        return [[row["learner/shared/policy_loss"] for row in RunDir(m).read_metrics()] for m in result.members]

    first = losses("a")
    assert first == losses("b")
    assert first[0] != first[1]  # the members differ (seed + i), so equality above is not trivial
