"""method: fcp — the pool's checkpoints (start / middle / end), the examples, a real tiny FCP run on
Overcooked (one self-play seed, the agent against its pool), and seeds_from (reusing self-play runs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_hsp import TINY

import diverse_marl
from diverse_marl.algorithms.methods import fcp
from diverse_marl.config import load_config
from diverse_marl.errors import ConfigError
from diverse_marl.run_dir import RunDir, atomic_write_json, read_checkpoint_meta

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "overcooked"
METHOD = {"name": "fcp", "seeds": 1, "checkpoints": [0.0, 0.5, 1.0], "seed_stop": {"iterations": 4}}


def _fake_run(path: Path, iterations: list[int]) -> None:
    """A run dir whose checkpoints carry only their meta.json (what pool_checkpoints reads)."""
    for it in iterations:
        d = path / "checkpoints" / f"iter_{it:06d}"
        d.mkdir(parents=True)
        atomic_write_json(d / "meta.json", {"iteration": it})
        (d / "policies.json").write_text("{}")


def test_pool_takes_the_checkpoints_nearest_each_fraction(tmp_path):
    _fake_run(tmp_path / "run", [5, 10, 15, 20, 25, 30, 35, 40])
    picked = fcp.pool_checkpoints(tmp_path / "run", [0.0, 0.5, 1.0])
    assert [read_checkpoint_meta(p)["iteration"] for p in picked] == [5, 20, 40]
    # fractions that land on one checkpoint give it once
    assert len(fcp.pool_checkpoints(tmp_path / "run", [0.95, 1.0])) == 1


@pytest.mark.parametrize(
    "method, fragment",
    [
        ({"seeds": 0}, "method.seeds must be >= 1"),
        ({"checkpoints": [0.0, 1.5]}, "method.checkpoints: expected fractions in"),
        ({"seeds_from": ["no/such/run"]}, "is not a run directory with checkpoints"),
        ({"sedes": 2}, "unknown config key 'method.sedes'"),
    ],
)
def test_bad_fcp_blocks_fail_with_one_clear_error(method, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config({**TINY, "method": {**METHOD, **method}})


@pytest.mark.parametrize("layout", ["cramped_room", "asymmetric_advantages"])
def test_fcp_examples_load(layout):
    cfg = load_config(EXAMPLES / f"fcp_{layout}.yaml")
    spec = fcp.parse_spec(cfg)
    assert cfg.env_config["layout"] == layout and spec.checkpoints == [0.0, 0.5, 1.0] and spec.seeds >= 1


def test_fcp_trains_a_seed_and_an_agent_against_its_pool_then_reuses_seeds(tmp_path):
    root = tmp_path / "fcp"
    diverse_marl.train({**TINY, "method": METHOD}, run_dir=root, quiet=True)
    seed = root / "seeds" / "member_00"
    assert [read_checkpoint_meta(c)["iteration"] for c in RunDir(seed).checkpoint_dirs()] == [1, 2, 3, 4]
    pool = json.loads((root / "pool.json").read_text())
    assert [e["iteration"] for e in pool] == [1, 2, 4]
    agent_cfg = load_config(RunDir(root / "agent").config_path)
    assert agent_cfg.partners["from"] == [str(root / e["checkpoint"]) for e in pool]
    assert agent_cfg.partners["seats"] == ["agent_1"] and agent_cfg.stop.iterations == 2
    result = json.loads((root / "fcp.json").read_text())
    assert result["best_run_dir"] == "agent" and result["seeds"] == ["seeds/member_00"]
    policy = diverse_marl.load_policy(root, "agent_0")
    direct = diverse_marl.load_policy(root / "agent", "agent_0")
    obs = np.random.default_rng(0).random((4, *policy.obs_shape)).astype(np.float32)
    assert np.array_equal(policy(obs, deterministic=True), direct(obs, deterministic=True))

    # seeds_from: the same seed run, no seeds trained again
    other = tmp_path / "fcp2"
    diverse_marl.train({**TINY, "method": {**METHOD, "seeds_from": [str(seed)]}}, run_dir=other, quiet=True)
    assert not (other / "seeds").exists()
    assert [e["checkpoint"] for e in json.loads((other / "pool.json").read_text())] == [
        str(root / e["checkpoint"]) for e in pool
    ]
