"""Loading checkpoints never runs code from them: pickle-free policy files, JSON spaces, clear errors.

Real (tiny) MAPPO and stock-PPO algorithms on local Ray write the checkpoints; the attacks are
real pickles whose unpickling would create a file.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces
from test_mappo import obs_batch  # a batch of real credit_assignment observations + global states

import diverse_marl
from diverse_marl.algorithms.mappo.module import OBS_KEY
from diverse_marl.algorithms.safe_checkpoint import POLICIES_FILE, load_module_state
from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.space_codec import space_from_json, space_to_json

ray = pytest.importorskip("ray")
from ray.rllib.core.columns import Columns  # noqa: E402

TINY_MAPPO = {"train_batch_size": 200, "num_epochs": 1}
TINY_PPO = {"train_batch_size": 100, "minibatch_size": 50, "num_epochs": 1, "hidden_sizes": [16, 8]}
MODULES = Path("learner_group") / "learner" / "rl_module"


class _CreatesFile:
    """Unpickling this creates ``path``: the stand-in for code hidden in a shared checkpoint."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def mappo_ckpt(ray_local, tmp_path_factory):
    """A trained MAPPO checkpoint plus the learner's logits, values and state on a fixed batch."""
    from diverse_marl.algorithms import MAPPOConfig

    batch = obs_batch()
    algo = MAPPOConfig.from_options("credit_assignment", {}, TINY_MAPPO, seed=0).build_algo()
    try:
        algo.train()
        path = Path(algo.save_to_path(tmp_path_factory.mktemp("mappo") / "ck"))
        module = algo.learner_module("shared")
        tb = {Columns.OBS: {k: torch.as_tensor(v) for k, v in batch.items()}}
        with torch.no_grad():
            logits = module.forward_inference(tb)[Columns.ACTION_DIST_INPUTS].numpy()
            values = module.compute_values(tb).numpy()
        state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    finally:
        algo.stop()
    return {"path": path, "batch": batch, "logits": logits, "values": values, "state": state}


def _copy(ckpt: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "ck"
    shutil.copytree(ckpt, dst)
    return dst


# ---------------------------------------------------------------- the space codec
@pytest.mark.parametrize(
    "space",
    [
        spaces.Box(-np.inf, np.inf, shape=(3, 2), dtype=np.float32),
        spaces.Box(low=np.array([0.0, -1.0]), high=np.array([1.0, 5.0]), dtype=np.float64),
        spaces.Box(0, 255, shape=(4,), dtype=np.uint8),
        spaces.Discrete(5, start=-2),
        spaces.MultiDiscrete([3, 4, 2]),
        spaces.MultiBinary([2, 3]),
        spaces.Tuple([spaces.Discrete(3), spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)]),
        spaces.Dict(
            [
                ("zeta", spaces.Discrete(2)),
                ("alpha", spaces.MultiBinary(3)),
                ("nested", spaces.Tuple([spaces.Discrete(4)])),
            ]
        ),
    ],
)
def test_space_codec_round_trips_through_strict_json(space):
    text = json.dumps(space_to_json(space), allow_nan=False)  # strict JSON: no Infinity literals
    back = space_from_json(json.loads(text))
    assert back == space
    sample = space.sample()
    np.testing.assert_array_equal(spaces.flatten(back, sample), spaces.flatten(space, sample))  # same layout


def test_space_codec_rejects_what_it_cannot_describe_or_decode():
    with pytest.raises(ConfigError, match="supported: Box, Discrete"):
        space_to_json(spaces.Text(5))
    with pytest.raises(CheckpointError, match="unknown space type 'Graph'"):
        space_from_json({"type": "Graph"})
    with pytest.raises(CheckpointError, match="dtype 'object' not allowed"):
        space_from_json({"type": "Box", "shape": [2], "dtype": "object", "low": 0, "high": 1})
    with pytest.raises(CheckpointError, match="malformed"):
        space_from_json({"type": "Box", "shape": [2], "dtype": "float32", "low": "os.system", "high": 1})
    with pytest.raises(CheckpointError, match="malformed"):
        space_from_json({"type": "Discrete"})


# ---------------------------------------------------------------- what a checkpoint holds
def test_mappo_policy_loads_from_safe_files_with_the_learners_actions(mappo_ckpt):
    path, batch = mappo_ckpt["path"], mappo_ckpt["batch"]
    meta = json.loads((path / POLICIES_FILE).read_text())
    assert meta["family"] == "mappo" and meta["agents"] == {"agent_0": "shared", "agent_1": "shared"}
    assert [p.name for p in (path / "weights").iterdir()] == ["00_shared.pt"]
    policy = diverse_marl.load_policy(path, "agent_1")
    np.testing.assert_allclose(policy.logits(batch[OBS_KEY]), mappo_ckpt["logits"], atol=1e-5)
    np.testing.assert_array_equal(policy(batch[OBS_KEY], deterministic=True), mappo_ckpt["logits"].argmax(-1))


def test_load_module_state_is_the_full_learner_module(ray_local, mappo_ckpt):
    """Actor, critic and value-norm statistics: a fresh module given the state computes the same values."""
    from diverse_marl.algorithms import MAPPOConfig

    state = load_module_state(mappo_ckpt["path"], "shared")
    assert state.keys() == mappo_ckpt["state"].keys()
    assert {k.split(".")[0] for k in state} == {"actor", "critic", "value_norm"}
    assert float(state["value_norm.debiasing_term"]) > 0  # statistics were updated by training
    for k, v in state.items():  # float64 value-norm stats pass through float32, as in RLlib's own checkpoint
        torch.testing.assert_close(v, mappo_ckpt["state"][k], rtol=1e-6, atol=0, check_dtype=False)
    fresh = MAPPOConfig.from_options("credit_assignment", {}, TINY_MAPPO, seed=5).build_algo()
    try:
        module = fresh.learner_module("shared")
        tb = {Columns.OBS: {k: torch.as_tensor(v) for k, v in mappo_ckpt["batch"].items()}}
        with torch.no_grad():
            assert np.abs(module.compute_values(tb).numpy() - mappo_ckpt["values"]).max() > 1e-4
            module.load_state_dict(state)
            np.testing.assert_allclose(module.compute_values(tb).numpy(), mappo_ckpt["values"], atol=1e-6)
    finally:
        fresh.stop()
    with pytest.raises(ConfigError, match="unknown policy_id 'nobody'; allowed: shared, agent_0, agent_1"):
        load_module_state(mappo_ckpt["path"], "nobody")


def test_stock_ppo_checkpoint_loads_without_ray_with_the_modules_actions(ray_local, tmp_path):
    from diverse_marl.algorithms.ppo_baseline import SharedPPOConfig

    x = np.random.default_rng(0).random((20, 6)).astype(np.float32)
    algo = SharedPPOConfig.from_options("stag_hunt", {"horizon": 5}, TINY_PPO, seed=0).build_algo()
    try:
        algo.train()
        path = algo.save_to_path(tmp_path / "ck")
        with torch.no_grad():
            expected = (
                algo.get_module("shared")
                .forward_inference({Columns.OBS: torch.as_tensor(x)})[Columns.ACTION_DIST_INPUTS]
                .numpy()
            )
    finally:
        algo.stop()
    policy = diverse_marl.load_policy(path, "agent_1")
    np.testing.assert_allclose(policy.logits(x), expected, atol=1e-6)
    assert json.loads((Path(path) / POLICIES_FILE).read_text())["family"] == "ppo"
    assert {k.split(".")[0] for k in load_module_state(path)} == {"encoder", "pi", "vf"}  # critic too
    for layers, message in (
        (None, "not a plain MLP"),
        (["linear"], "is not a mapping"),
        ([{"activation": "os.system"}], "unknown layer"),
        ([{"linear": "nowhere"}], "nowhere.weight"),
    ):
        _edit_meta(Path(path), lambda m: m["policies"]["shared"].update(actor_layers=layers))  # noqa: B023
        with pytest.raises(CheckpointError, match=message):
            diverse_marl.load_policy(path)


def test_loading_needs_neither_ray_nor_pickle(mappo_ckpt, tmp_path):
    """In a fresh process: load_policy works with pickle.load/loads disabled and Ray never imported."""
    code = (
        "import pickle, sys\n"
        "def refuse(*a, **k): raise AssertionError('unpickling attempted')\n"
        "pickle.load = pickle.loads = refuse\n"
        "import numpy as np, diverse_marl\n"
        f"p = diverse_marl.load_policy({str(mappo_ckpt['path'])!r})\n"
        "print('ACTIONS', p(np.zeros((4, *p.obs_shape), dtype=np.float32), deterministic=True).tolist())\n"
        "print('RAY', 'ray' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "ACTIONS" in out.stdout, out.stderr[-2000:]
    assert "RAY False" in out.stdout


# ---------------------------------------------------------------- attacks
def _plant_payloads(ckpt: Path, marker: Path) -> list[Path]:
    """Replace every pickle RLlib (and older diverse-marl sidecars) put in a checkpoint with the payload."""
    payload = pickle.dumps(_CreatesFile(marker))
    planted = sorted(ckpt.rglob("*.pkl")) + [ckpt / "mappo_raw_spaces.pkl"]
    for f in planted:
        f.write_bytes(payload)
    return planted


def test_checkpoint_with_malicious_pickles_loads_and_creates_no_file(mappo_ckpt, tmp_path):
    ckpt = _copy(mappo_ckpt["path"], tmp_path)
    marker = tmp_path / "pwned"
    planted = _plant_payloads(ckpt, marker)
    assert ckpt / MODULES / "shared" / "module_state.pkl" in planted

    policy = diverse_marl.load_policy(ckpt)
    np.testing.assert_allclose(policy.logits(mappo_ckpt["batch"][OBS_KEY]), mappo_ckpt["logits"], atol=1e-5)
    assert set(load_module_state(ckpt)) == set(mappo_ckpt["state"])
    assert not marker.exists()

    (ckpt / POLICIES_FILE).unlink()  # now only the pickles are left: rejected, not unpickled
    with pytest.raises(CheckpointError, match="older diverse-marl.*unpickling a file can run code"):
        diverse_marl.load_policy(ckpt)
    assert not marker.exists()

    with open(planted[0], "rb") as f:  # the payload is real: unpickling it does create the file
        pickle.load(f)
    assert marker.exists()


def test_malicious_weights_file_is_rejected_by_weights_only_loading(mappo_ckpt, tmp_path):
    """Even with a matching checksum, a .pt holding a code-running pickle is refused."""
    import hashlib

    ckpt = _copy(mappo_ckpt["path"], tmp_path)
    marker = tmp_path / "pwned"
    weights = ckpt / "weights" / "00_shared.pt"
    torch.save({"actor.head.weight": _CreatesFile(marker)}, weights)
    meta = json.loads((ckpt / POLICIES_FILE).read_text())
    meta["policies"]["shared"]["sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    (ckpt / POLICIES_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="corrupt: cannot read weights/00_shared.pt"):
        diverse_marl.load_policy(ckpt)
    assert not marker.exists()


# ---------------------------------------------------------------- corrupt files
def _edit_meta(ckpt: Path, fn) -> None:
    meta = json.loads((ckpt / POLICIES_FILE).read_text())
    fn(meta)
    (ckpt / POLICIES_FILE).write_text(json.dumps(meta))


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda c: (c / "weights" / "00_shared.pt").write_bytes((c / "weights" / "00_shared.pt").read_bytes()[:200]),
            "does not match its sha256",
        ),
        (lambda c: (c / "weights" / "00_shared.pt").unlink(), "incomplete: weights/00_shared.pt is missing"),
        (
            lambda c: (c / POLICIES_FILE).write_text((c / POLICIES_FILE).read_text()[:50]),
            "corrupt: cannot read policies.json",
        ),
        (lambda c: (c / POLICIES_FILE).write_text("[1, 2]"), "not a diverse-marl policies file"),
        (lambda c: _edit_meta(c, lambda m: m.update(version=99)), "version 99"),
        (lambda c: _edit_meta(c, lambda m: m.update(family="dqn")), "unknown algorithm family 'dqn'.*mappo, ppo"),
        (
            lambda c: _edit_meta(c, lambda m: m["policies"]["shared"].update(weights="../../etc/passwd")),
            "no valid weights file",
        ),
        (
            lambda c: _edit_meta(c, lambda m: m["policies"]["shared"].update(num_actions=7)),
            "does not match its description",
        ),
        (
            lambda c: _edit_meta(c, lambda m: m["policies"]["shared"].update(flatten_space={"type": "Evil"})),
            "unknown space type 'Evil'",
        ),
    ],
)
def test_corrupt_safe_files_raise_checkpoint_error(mappo_ckpt, tmp_path, damage, message):
    ckpt = _copy(mappo_ckpt["path"], tmp_path)
    damage(ckpt)
    with pytest.raises(CheckpointError, match=message):
        diverse_marl.load_policy(ckpt)


def test_truncated_weights_with_matching_checksum_raise_checkpoint_error(mappo_ckpt, tmp_path):
    import hashlib

    ckpt = _copy(mappo_ckpt["path"], tmp_path)
    weights = ckpt / "weights" / "00_shared.pt"
    weights.write_bytes(weights.read_bytes()[:300])
    _edit_meta(ckpt, lambda m: m["policies"]["shared"].update(sha256=hashlib.sha256(weights.read_bytes()).hexdigest()))
    with pytest.raises(CheckpointError, match="corrupt: cannot read weights/00_shared.pt"):
        diverse_marl.load_policy(ckpt)


def test_safe_files_are_written_atomically(mappo_ckpt):
    """No temp files are left beside the weights and policies.json after a save."""
    leftovers = [p.name for p in mappo_ckpt["path"].rglob("*") if ".tmp" in p.name]
    assert leftovers == []
    assert os.path.getsize(mappo_ckpt["path"] / "weights" / "00_shared.pt") > 0


def test_atomic_open_keeps_the_old_file_on_error_and_follows_the_umask(tmp_path):
    """Results, archives and caches go through atomic_open: a write that fails leaves the previous file
    and no temp file; a finished one is readable by others as a plain open would make it (not 0600)."""
    from diverse_marl.run_dir import atomic_open

    path = tmp_path / "results.json"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(path) as f:
        f.write("half")
        raise RuntimeError("crash mid-write")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]
    # the umask is read once, when run_dir is imported: a process started under umask 022 writes the file
    code = f"from diverse_marl.run_dir import atomic_open\nwith atomic_open({str(path)!r}) as f:\n    f.write('new')\n"
    under_022 = lambda: os.umask(0o022)  # noqa: E731
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=under_022)
    assert out.returncode == 0, out.stderr[-2000:]
    assert path.read_text() == "new" and (path.stat().st_mode & 0o777) == 0o644


# ---------------------------------------------------------------- checkpoints of older versions
def test_legacy_checkpoints_are_upgraded_on_request_and_then_load(ray_local, tmp_path):
    """Older versions wrote only RLlib's pickles (+ MAPPO's JSON sidecar): rejected until upgraded."""
    from ray.rllib.algorithms.ppo import PPO

    from diverse_marl.algorithms import MAPPOConfig
    from diverse_marl.algorithms.ppo_baseline import SharedPPOConfig

    batch = obs_batch()
    algo = MAPPOConfig.from_options("credit_assignment", {}, TINY_MAPPO, seed=2).build_algo()
    try:
        algo.train()
        mappo = Path(PPO.save_to_path(algo, tmp_path / "run" / "checkpoints" / "iter_000001"))  # RLlib's files only
        sidecar = {k: v for k, v in algo.config.mappo_export.items() if k != "raw_spaces"}
        (mappo / "mappo_policies.json").write_text(json.dumps({"format": 1, **sidecar}))  # as older versions did
        (mappo / "meta.json").write_text('{"iteration": 1}')
        with torch.no_grad():
            tb = {Columns.OBS: {k: torch.as_tensor(v) for k, v in batch.items()}}
            expected = algo.learner_module("shared").forward_inference(tb)[Columns.ACTION_DIST_INPUTS].numpy()
    finally:
        algo.stop()
    x = np.eye(6, dtype=np.float32)
    algo = SharedPPOConfig.from_options("stag_hunt", {"horizon": 5}, TINY_PPO, seed=0).build_algo()
    try:
        algo.train()
        ppo = Path(PPO.save_to_path(algo, tmp_path / "ppo_ck"))
        with torch.no_grad():
            expected_ppo = (
                algo.get_module("shared")
                .forward_inference({Columns.OBS: torch.as_tensor(x)})[Columns.ACTION_DIST_INPUTS]
                .numpy()
            )
    finally:
        algo.stop()

    for ckpt in (mappo, ppo):
        with pytest.raises(CheckpointError, match="python -m diverse_marl.algorithms.legacy_checkpoint"):
            diverse_marl.load_policy(ckpt)
    out = subprocess.run(
        [sys.executable, "-m", "diverse_marl.algorithms.legacy_checkpoint", str(tmp_path / "run"), str(ppo)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "run: 1 checkpoint(s) upgraded" in out.stdout and "ppo_ck: 1 checkpoint(s) upgraded" in out.stdout
    np.testing.assert_allclose(
        diverse_marl.load_policy(tmp_path / "run", "agent_1").logits(batch[OBS_KEY]), expected, atol=1e-5
    )
    np.testing.assert_allclose(diverse_marl.load_policy(ppo).logits(x), expected_ppo, atol=1e-6)
    assert {k.split(".")[0] for k in load_module_state(mappo)} == {"actor", "critic", "value_norm"}
    from diverse_marl.algorithms.legacy_checkpoint import upgrade_checkpoints

    assert upgrade_checkpoints(tmp_path / "run") == []  # already upgraded: left alone
