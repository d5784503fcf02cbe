"""Warm start (``init_from``): a new run starts from another run's learner modules, on real RLlib."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

import diverse_marl
from diverse_marl.algorithms.safe_checkpoint import FORMAT, FORMAT_VERSION, POLICIES_FILE
from diverse_marl.config import load_config
from diverse_marl.errors import ConfigError
from diverse_marl.run_dir import RunDir
from diverse_marl.training import TrainHooks
from diverse_marl.warm_start import check_policy_ids

# MAPPO on iterated Stag Hunt learns from about -7 (random play) to about +10 in 8 iterations
SOURCE = {
    "name": "source",
    "algorithm": "mappo",
    "env": "stag_hunt",
    "env_config": {"horizon": 5},
    "seed": 3,
    "stop": {"iterations": 8},
    "checkpoint_every": 100,
    "training": {
        "train_batch_size": 200,
        "num_epochs": 4,
        "hidden_sizes": [16],
        "lr": 0.01,
        "critic_lr": 0.01,
        "entropy_coeff": 0.0,
    },
}


def _module_state(algo, policy="shared"):
    return algo.learner_group.get_state(components=f"learner/rl_module/{policy}")["learner"]["rl_module"][policy]


def test_warm_start_continues_from_the_source_return(ray_local, tmp_path):
    source = diverse_marl.train({**SOURCE, "runs_dir": str(tmp_path)})
    src_returns = [m["episode_return_mean"] for m in source.metrics]
    assert src_returns[-1] > src_returns[0] + 10, f"the source run did not learn: {src_returns}"

    seen = {}

    def on_start(algo):
        optim = algo.learner_group.get_state(components="learner/optimizer")["learner"]["optimizer"]
        seen["optimizer_steps"] = {name: len(s["state"]["state"]) for name, s in optim.items()}
        seen["module"] = _module_state(algo)

    warm = diverse_marl.train(
        {
            **SOURCE,
            "runs_dir": str(tmp_path),
            "name": "warm",
            "stop": {"iterations": 2},
            "init_from": str(source.run_dir),
        },
        hooks=TrainHooks(on_start=on_start),
    )
    returns = [m["episode_return_mean"] for m in warm.metrics]
    # the first sample already uses the source's weights: close to its last return, far above a fresh start
    assert abs(returns[0] - src_returns[-1]) < 2.0, (returns, src_returns)
    assert returns[0] > src_returns[0] + 10
    # its own run dir, counters from zero
    assert warm.run_dir != source.run_dir and warm.run_dir.name.startswith("warm-")
    assert [(m["iteration"], m["env_steps"]) for m in warm.metrics] == [(1, 200), (2, 400)]
    # optimizer state fresh (no Adam moments yet), module state = the source's last checkpoint
    assert seen["optimizer_steps"] and all(n == 0 for n in seen["optimizer_steps"].values()), seen["optimizer_steps"]
    src_ckpt = RunDir(source.run_dir).latest_checkpoint()
    src_state = diverse_marl.load_module_state(src_ckpt, "shared")
    assert float(src_state["value_norm.debiasing_term"][0]) > 0  # the source's value normalizer has statistics
    for key in (
        "value_norm.running_mean",
        "value_norm.running_mean_sq",
        "value_norm.debiasing_term",
        "actor.head.weight",
        "critic.head.weight",
    ):
        if key in src_state:
            np.testing.assert_allclose(np.asarray(seen["module"][key]), np.asarray(src_state[key]), rtol=1e-6)
    assert any(k.startswith("critic.") for k in seen["module"])
    assert yaml.safe_load((warm.run_dir / "config.yaml").read_text())["init_from"] == str(source.run_dir)
    # the MAPPO family reads a trained policy back as a plain torch callable
    family = warm.config.family()
    obs = np.random.default_rng(0).random((16, 6)).astype(np.float32)
    src_policy = family.load_policy(source.run_dir.resolve(), "agent_0")
    assert src_policy(obs, deterministic=True).shape == (16,)

    # a checkpoint folder works as well as a run dir; other spaces fail with a clear error
    with pytest.raises(
        ConfigError, match=r"do not fit this run .*shared\.actor\.\S+ has shape \(16,\) in the source, \(32,\) here"
    ):
        diverse_marl.train(
            {
                **SOURCE,
                "runs_dir": str(tmp_path),
                "name": "bigger",
                "stop": {"iterations": 1},
                "init_from": str(src_ckpt),
                "training": {**SOURCE["training"], "hidden_sizes": [32]},
            }
        )


def _fake_run(path, algorithm="mappo", policies=("shared",), safe_files=True):
    """A run dir on disk with one complete checkpoint (meta.json, and policies.json unless ``safe_files=False``)."""
    ckpt = path / "checkpoints" / "iter_000001"
    ckpt.mkdir(parents=True)
    (ckpt / "meta.json").write_text(json.dumps({"iteration": 1, "algorithm": algorithm}))
    if safe_files:
        (ckpt / POLICIES_FILE).write_text(
            json.dumps(
                {
                    "format": FORMAT,
                    "version": FORMAT_VERSION,
                    "family": algorithm,
                    "policies": {pid: {} for pid in policies},
                }
            )
        )
    else:  # an older checkpoint: RLlib's pickles only
        (ckpt / "learner_group").mkdir()
    (path / "config.yaml").write_text(yaml.safe_dump({"algorithm": algorithm}))
    return path


@pytest.mark.parametrize(
    "setup, fragment",
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: p, "holds no complete checkpoint"),
        (lambda p: _fake_run(p / "run", algorithm="ppo"), "trained with algorithm 'ppo'"),
        (lambda p: (p / "population.json").write_text("[]") and p, "is a population"),
        (lambda p: _fake_run(p / "run", policies=()), "describes no policies"),
        (lambda p: _fake_run(p / "run", safe_files=False), "has no policies.json"),
    ],
)
def test_bad_init_from_fails_before_ray(tmp_path, setup, fragment):
    path = setup(tmp_path)
    with pytest.raises(ConfigError, match=fragment):
        load_config({**SOURCE, "init_from": str(path)})


def test_policy_ids_must_match(tmp_path):
    run = _fake_run(tmp_path / "run", policies=("hider", "seeker"))
    ckpt = RunDir(run).latest_checkpoint()
    check_policy_ids(ckpt, ["seeker", "hider"])
    with pytest.raises(ConfigError, match=r"holds policies \['hider', 'seeker'\] but this run trains \['shared'\]"):
        check_policy_ids(ckpt, ["shared"])


def test_stock_ppo_runs_warm_start_too(ray_local, tmp_path):
    """The check and the load are family-agnostic: stock PPO's module (pi, vf) comes over whole."""
    ppo = {
        "name": "ppo",
        "algorithm": "ppo",
        "env": "stag_hunt",
        "env_config": {"horizon": 5},
        "seed": 3,
        "stop": {"iterations": 1},
        "runs_dir": str(tmp_path),
        "training": {"train_batch_size": 100, "minibatch_size": 50, "num_epochs": 1, "hidden_sizes": [16]},
    }
    source = diverse_marl.train(ppo)
    src_state = diverse_marl.load_module_state(source.run_dir, "shared")
    seen = {}
    diverse_marl.train(
        {**ppo, "seed": 4, "init_from": str(source.run_dir)},
        hooks=TrainHooks(on_start=lambda algo: seen.update(_module_state(algo))),
    )
    assert set(seen) == set(src_state) and len(src_state) > 4
    for key, value in src_state.items():
        np.testing.assert_array_equal(np.asarray(seen[key]), value.numpy())
