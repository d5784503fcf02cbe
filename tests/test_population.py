"""load_population: real trained runs in every layout a population comes in, read without Ray."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import diverse_marl
from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.population import Population, load_population
from diverse_marl.run_dir import RunDir

MAPPO_RUN = {
    "name": "m",
    "algorithm": "mappo",
    "env": "credit_assignment",
    "stop": {"iterations": 2},
    "checkpoint_every": 1,
    "training": {"train_batch_size": 200, "num_epochs": 1},
}
PPO_RUN = {
    "name": "tiny",
    "algorithm": "ppo",
    "env": "stag_hunt",
    "env_config": {"horizon": 5},
    "seed": 3,
    "stop": {"iterations": 1},
    "checkpoint_every": 1,
    "training": {"train_batch_size": 100, "minibatch_size": 50, "num_epochs": 1, "hidden_sizes": [16]},
}


@pytest.fixture(scope="module")
def trained(ray_local, tmp_path_factory) -> Path:
    """Two really trained MAPPO runs laid out as a population parent with a population.json
    (entries as the population trainer writes them)."""
    parent = tmp_path_factory.mktemp("pop") / "pop"
    entries = []
    for i, seed in enumerate((0, 1)):
        run = parent / f"member_{i:02d}"
        diverse_marl.train({**MAPPO_RUN, "seed": seed}, run_dir=run, quiet=True)
        entries.append(
            {
                "index": i,
                "name": f"member_{i:02d}",
                "run_dir": run.name,
                "seed": seed,
                "overrides": {"training": {"lr": 1e-3 * (i + 1)}},
                "reward_weights": {"sparse": float(i)},
                "status": "finished",
                "final_metrics": RunDir(run).read_metrics()[-1],
            }
        )
    (parent / "population.json").write_text(json.dumps(entries))
    return parent


def _obs(n: int = 16) -> np.ndarray:
    return np.random.default_rng(0).random((n, 4)).astype(np.float32)


def test_population_parent_with_population_json(trained):
    pop = load_population(trained)
    assert isinstance(pop, Population) and len(pop) == 2
    assert pop.names == ["member_00", "member_01"] and [m.name for m in pop] == pop.names
    assert pop["member_01"] is pop[1] and "member_00" in pop and "member_07" not in pop
    m = pop["member_01"]
    assert m.index == 1 and m.path == trained / "member_01"
    md = m.metadata
    assert (
        md["seed"] == 1
        and md["config"]["seed"] == 1
        and md["algorithm"] == "mappo"
        and md["env"] == "credit_assignment"
    )
    assert md["reward_weights"] == {"sparse": 1.0} and md["overrides"] == {"training": {"lr": 2e-3}}
    assert md["final_metrics"] == RunDir(m.path).read_metrics()[-1] and md["final_metrics"]["iteration"] == 2
    assert md["status"] == "finished"
    with pytest.raises(KeyError, match="no member named 'member_07'; members: member_00, member_01"):
        pop["member_07"]

    policy = m.policy("agent_0")
    assert m.policy("agent_0") is policy  # cached
    expected = diverse_marl.load_policy(trained / "member_01", "agent_0").logits(_obs())
    np.testing.assert_allclose(policy.logits(_obs()), expected, atol=0)
    assert np.abs(pop[0].policy().logits(_obs()) - expected).max() > 1e-6  # members differ

    table = repr(pop)
    assert table.splitlines()[0] == "Population of 2 members"
    assert "member_01" in table and "sparse=1" in table and "finished" in table


def test_population_without_population_json_comes_from_the_member_dirs(trained, tmp_path):
    parent = tmp_path / "pop"
    shutil.copytree(trained, parent)
    (parent / "population.json").unlink()
    (parent / "config.yaml").write_text(yaml.safe_dump({"name": "m", "population": {"size": 2}}))  # a parent, not a run
    metrics = RunDir(parent / "member_01").read_metrics()
    RunDir(parent / "member_01").write_metrics(metrics[:1])  # as if killed after iteration 1
    pop = load_population(parent)
    assert pop.names == ["member_00", "member_01"] and [m.index for m in pop] == [0, 1]
    assert pop[0].metadata["reward_weights"] == {} and pop[0].metadata["seed"] == 0
    assert [m.metadata["status"] for m in pop] == ["finished", "unfinished"]


def test_nested_folders_single_runs_and_lists(trained, tmp_path):
    root = tmp_path / "method"
    shutil.copytree(trained, root / "stage_a")
    shutil.copytree(trained / "member_00", root / "stage_b" / "finetune")
    shutil.copytree(trained / "member_01", root / "stage_b" / "deeper" / "too_deep")  # beyond MAX_DEPTH
    (root / "stage_b" / "notes").mkdir()
    pop = load_population(root)
    assert pop.names == ["stage_a/member_00", "stage_a/member_01", "stage_b/finetune"]
    assert [m.index for m in pop] == [0, 1, 2]

    single = load_population(trained / "member_01")
    assert single.names == ["member_01"] and single[0].metadata["seed"] == 1

    both = load_population([trained, root / "stage_a", trained / "member_00"])
    assert both.names == [
        "pop/member_00",
        "pop/member_01",
        "stage_a/member_00",
        "stage_a/member_01",
        "member_00/member_00",
    ]
    assert [m.index for m in both] == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(
        both["stage_a/member_01"].policy().logits(_obs()), both["pop/member_01"].policy().logits(_obs())
    )


def test_paths_without_runs_give_clear_errors(trained, tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_population(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="holds no trained runs; expected a run directory"):
        load_population(tmp_path / "empty")
    with pytest.raises(ConfigError, match="at least one path"):
        load_population([])

    started = tmp_path / "started"  # a run killed before its first checkpoint
    shutil.copytree(trained / "member_00", started / "run")
    shutil.rmtree(started / "run" / "checkpoints")
    (started / "run" / "checkpoints").mkdir()
    with pytest.raises(CheckpointError, match=r"1 run dir\(s\) have no complete checkpoint"):
        load_population(started)

    bad = tmp_path / "bad"
    shutil.copytree(trained, bad)
    (bad / "population.json").write_text('[{"index": 0, "run_d')
    with pytest.raises(CheckpointError, match="population.json' is corrupt"):
        load_population(bad)
    (bad / "population.json").write_text(json.dumps([{"index": 0, "run_dir": "../../elsewhere"}]))
    with pytest.raises(CheckpointError, match="points outside the population folder"):
        load_population(bad)


def test_population_loads_without_ray(trained):
    code = (
        "import sys, numpy as np, diverse_marl\n"
        f"pop = diverse_marl.load_population({str(trained)!r})\n"
        "print('ACTIONS', [m.policy()(np.zeros((2, 4), dtype=np.float32), deterministic=True).tolist() for m in pop])\n"
        "print('RAY', 'ray' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "ACTIONS" in out.stdout, out.stderr[-2000:]
    assert "RAY False" in out.stdout


def test_a_really_trained_population_loads(ray_local, tmp_path):
    """population.size: 2 through the Tune population trainer (stock PPO), then load_population."""
    result = diverse_marl.train({**PPO_RUN, "runs_dir": str(tmp_path), "population": {"size": 2}}, quiet=True)
    pop = load_population(result.run_dir)
    assert pop.names == ["member_00", "member_01"]
    assert [m.metadata["seed"] for m in pop] == [3, 4] and all(m.metadata["algorithm"] == "ppo" for m in pop)
    assert all(m.metadata["final_metrics"]["iteration"] == 1 for m in pop)
    obs = np.eye(6, dtype=np.float32)
    logits = [m.policy("agent_1").logits(obs) for m in pop]
    assert logits[0].shape == (6, 2) and np.abs(logits[0] - logits[1]).max() > 1e-6


def test_population_crossplay_seats_each_members_policies_in_the_original_game(trained, tmp_path):
    """Population.crossplay = crossplay_matrix over the members' run dirs, without the members' reward weights."""
    from diverse_marl.crossplay import crossplay_matrix

    parent = tmp_path / "pop"
    shutil.copytree(trained, parent)
    (parent / "population.json").unlink()
    cfg_path = parent / "member_00" / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text())
    cfg["env_config"]["reward_weights"] = {"own_match": 1.0}  # trained on a re-weighted reward
    cfg_path.write_text(yaml.safe_dump(cfg))
    pop = load_population(parent)
    assert pop[0].metadata["reward_weights"] == {"own_match": 1.0}

    result = pop.crossplay(episodes=2, deterministic=True)
    assert result.names == pop.names and result.env == "credit_assignment" and result.env_config == {}
    direct = crossplay_matrix({m.name: m.path for m in pop}, "credit_assignment", {}, episodes=2, deterministic=True)
    assert result.value_mean == direct.value_mean and len(result.value_mean) == 2
