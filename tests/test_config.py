"""Configs: YAML -> typed config; every bad input fails before Ray with one clear message."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from diverse_marl.config import ExperimentConfig, apply_overrides, load_config, parse_override
from diverse_marl.errors import ConfigError
from diverse_marl.llm.config import load_llm_config

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = ROOT / "examples"
# every YAML under examples/: experiment configs, except examples/llm/ (LLM agent configs, another schema)
ALL_EXAMPLES = sorted(EXAMPLES_DIR.rglob("*.yaml"))
LLM_EXAMPLES = [p for p in ALL_EXAMPLES if p.parent == EXAMPLES_DIR / "llm"]
EXAMPLES = [p for p in ALL_EXAMPLES if p not in LLM_EXAMPLES]
BASE = {"algorithm": "ppo", "env": "stag_hunt"}


def _example_id(path: Path) -> str:
    return str(path.relative_to(EXAMPLES_DIR))


@pytest.mark.parametrize("path", EXAMPLES, ids=_example_id)
def test_every_example_loads_and_builds_an_rllib_config(path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES_DIR / "user_env"))  # its env module, as PYTHONPATH=examples/user_env
    cfg = load_config(path)
    assert isinstance(cfg, ExperimentConfig)
    if hasattr(cfg.family(), "run_single"):  # a family with its own loop, no RLlib config (bc)
        return
    rllib_config = cfg.to_rllib()
    assert rllib_config.env is not None
    assert rllib_config.seed == cfg.seed


@pytest.mark.parametrize("path", LLM_EXAMPLES, ids=_example_id)
def test_every_llm_agent_example_loads(path):
    cfg = load_llm_config(path)
    assert cfg.model and cfg.base_url


def test_examples_follow_the_layout_and_the_index_lists_each():
    """examples/<env>/<method>[_variant].yaml (plus demo.yaml, the quick start's), each named in examples/README.md."""
    assert len(EXAMPLES) >= 20 and len(LLM_EXAMPLES) >= 2
    misplaced = [_example_id(p) for p in ALL_EXAMPLES if p.parent == EXAMPLES_DIR and p.name != "demo.yaml"]
    assert not misplaced, f"examples outside an env folder: {misplaced}"
    index = (EXAMPLES_DIR / "README.md").read_text(encoding="utf-8")
    files = [p for p in EXAMPLES_DIR.rglob("*") if p.suffix in (".yaml", ".py") and "__pycache__" not in p.parts]
    missing = [_example_id(p) for p in files if f"`{_example_id(p)}`" not in index]
    assert not missing, f"examples/README.md does not list {missing}"


def test_defaults_and_types():
    cfg = load_config({**BASE, "training": {"lr": "1e-3", "num_epochs": 3.0}, "stop": {"iterations": 4}})
    assert cfg.training["lr"] == pytest.approx(1e-3) and isinstance(cfg.training["lr"], float)
    assert cfg.training["num_epochs"] == 3 and isinstance(cfg.training["num_epochs"], int)
    assert cfg.stop.iterations == 4 and cfg.stop.env_steps is None


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({**BASE, "trainig": {}}, "unknown config key 'trainig' (did you mean 'training'?)"),
        ({**BASE, "stop": {"iteration": 3}}, "unknown config key 'stop.iteration'"),
        ({**BASE, "env": "overcookd"}, "unknown env 'overcookd'; registered envs: "),
        (
            {**BASE, "algorithm": "mapo"},
            "unknown algorithm 'mapo' (did you mean 'mappo'?); allowed: bc, mappo, mappo_population_entropy, ppo",
        ),
        ({**BASE, "training": {"lrr": 0.1}}, "unknown ppo option 'training.lrr' (did you mean 'lr'?)"),
        ({**BASE, "training": {"lr": "fast"}}, "training.lr: expected float, got 'fast'"),
        (
            {**BASE, "algorithm": "mappo", "training": {"lr": [[0, 1e-3], [5, "x"]]}},
            "training.lr: a schedule is a list of",
        ),
        ({**BASE, "algorithm": "mappo", "training": {"lr": [[10, 1e-3]]}}, "a schedule starts at env_step 0"),
        ({**BASE, "seed": "zero"}, "seed: expected int, got 'zero'"),
        ({**BASE, "env_config": {"horizn": 5}}, "unknown option of env 'stag_hunt' 'env_config.horizn'"),
        ({**BASE, "stop": {"iterations": None}}, "stop: set at least one of"),
        ({**BASE, "checkpoint_every": 0}, "checkpoint_every must be >= 1"),
    ],
)
def test_bad_config_names_the_problem(data, fragment):
    with pytest.raises(ConfigError) as exc:
        load_config(data)
    assert fragment in str(exc.value)
    assert "\n" not in str(exc.value)


def test_unknown_layout_lists_allowed_values():
    with pytest.raises(ConfigError, match=r"unknown layout 'kitchen'.*cramped_room"):
        load_config({"algorithm": "ppo", "env": "overcooked", "env_config": {"layout": "kitchen"}})


def test_import_path_env(tmp_path):
    cfg = load_config({"algorithm": "ppo", "env": "diverse_marl.envs.matrix_games:StagHuntEnv"})
    assert cfg.env.endswith(":StagHuntEnv")
    with pytest.raises(ConfigError, match="cannot import module 'no_such_module'"):
        load_config({"algorithm": "ppo", "env": "no_such_module:make"})


def test_overrides_parse_yaml_values():
    assert parse_override("training.lr=1e-3") == (["training", "lr"], 1e-3)
    assert parse_override("env_config.layout=cramped_room") == (["env_config", "layout"], "cramped_room")
    data = apply_overrides({"stop": {"iterations": 3}}, ["stop.iterations=7", "seed=3"])
    assert data == {"stop": {"iterations": 7}, "seed": 3}
    with pytest.raises(ConfigError, match="key.sub=value"):
        parse_override("no-equals-sign")


def test_yaml_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_round_trip_through_yaml(tmp_path):
    cfg = load_config({**BASE, "training": {"lr": 0.01}, "seed": 7})
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    assert load_config(path) == cfg


def test_cli_misspelt_key_is_one_line_and_exit_2(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("algorithm: ppo\nenv: stag_hunt\ntrainig: {lr: 0.1}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "diverse_marl", "train", str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "trainig" in lines[0] and "Traceback" not in proc.stderr


def test_cli_envs_lists_registered_envs():
    proc = subprocess.run([sys.executable, "-m", "diverse_marl", "envs"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for name in ("overcooked", "hide_and_seek", "stag_hunt"):
        assert f"{name}:" in proc.stdout
    assert "cramped_room" in proc.stdout  # layouts are listed


@pytest.mark.parametrize("command", ["train", "eval", "crossplay", "analyze", "envs", "options", "demo"])
def test_cli_help(command):
    proc = subprocess.run(
        [sys.executable, "-m", "diverse_marl", command, "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and "usage: diverse-marl" in proc.stdout


def test_cli_bad_run_dir_exit_2(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "diverse_marl", "analyze", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_stop_block_sets_exactly_the_limits_it_names():
    assert load_config(BASE).stop.iterations == 10  # no stop block: the default cap
    cfg = load_config({**BASE, "stop": {"time_s": 60}})
    assert (cfg.stop.iterations, cfg.stop.env_steps, cfg.stop.time_s) == (None, None, 60.0)
    cfg = load_config({**BASE, "stop": {"time_s": 60}}, overrides=["stop.iterations=2", "stop.time_s=null"])
    assert (cfg.stop.iterations, cfg.stop.time_s) == (2, None)


def test_the_hide_and_seek_plot_script_writes_into_the_run_dir(tmp_path):
    """examples/hide_and_seek/plot_progress.py plots a run's curves into the run dir, never into examples/."""
    rows = [
        {"iteration": i, "env_steps": 1000 * i, "episode/return_hiders": 0.1 * i, "episode/hidden_fraction": 0.9}
        for i in range(1, 4)
    ]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    before = sorted(p.name for p in (EXAMPLES_DIR / "hide_and_seek").iterdir())
    script = EXAMPLES_DIR / "hide_and_seek" / "plot_progress.py"
    proc = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "hide_and_seek_progress.png").stat().st_size > 1000
    assert sorted(p.name for p in (EXAMPLES_DIR / "hide_and_seek").iterdir()) == before
