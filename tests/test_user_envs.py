"""A user's own env: any factory shape gets reward weights (wrapped unless it names
``reward_weights``), and an error in its construction, ``reset`` or ``step`` (in the driver or in
an env runner actor) ends a run with one clear line after the user's own frames, exit code 2,
checkpoints kept and a resume command that works. The envs are in ``tests/user_envs.py``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import diverse_marl
from diverse_marl.cli import EXIT_USER_ERROR, main
from diverse_marl.envs import make
from diverse_marl.envs.contract import check_env
from diverse_marl.envs.reward import RewardWeightsWrapper
from diverse_marl.envs.user_code import UserEnvError, UserEnvGuard
from diverse_marl.run_dir import RunDir

# import paths from the repo root: Ray's env runner processes import them too
FACTORIES = (
    "tests.user_envs:make_env",
    "tests.user_envs:make_env_plain",
    "tests.user_envs:PickOneEnv",
    "tests.user_envs:KwargsEnv",
)
USER_FILE = str(Path(__file__).with_name("user_envs.py"))
HEADER = "Traceback of the env's code (most recent call last):"


# ---- item 3: reward_weights for any factory shape --------------------------------------------------
@pytest.mark.parametrize("factory", FACTORIES)
def test_every_factory_shape_gets_its_env_wrapped_with_the_weights(factory):
    env = make(factory, reward_weights={"one": 2.0, "zero": -1.0})
    assert isinstance(env, RewardWeightsWrapper) and isinstance(env.env, UserEnvGuard)
    assert not hasattr(env.unwrapped, "own_weights")
    check_env(env, steps=10)
    env.reset(seed=0)
    _, rewards, _, _, infos = env.step({"a": 1, "b": 0})
    assert rewards == {"a": 2.0, "b": -1.0}
    assert infos["a"]["original_reward"] == 1.0 and infos["b"]["original_reward"] == 0.0
    env.set_reward_params(reward_weights={"zero": 5.0})  # what a reward schedule pushes
    _, rewards, *_ = env.step({"a": 1, "b": 0})
    assert rewards == {"a": 0.0, "b": 5.0}


def test_a_factory_naming_reward_weights_gets_them_itself():
    env = make("tests.user_envs:make_weighted_env", reward_weights={"one": 3.0})
    assert not isinstance(env, RewardWeightsWrapper) and env.unwrapped.own_weights == {"one": 3.0}
    assert make("tests.user_envs:make_env", reward_weights=None).unwrapped.horizon == 5  # None: nothing to wrap


def test_kwargs_factory_trains_on_the_weighted_reward(ray_local, tmp_path):
    """Real MAPPO through a ``**kwargs`` factory: rewards are the weighted ones (zero weighs 1, one
    weighs 0), the env's own return is logged beside them, and the policy learns to pick 0."""
    result = diverse_marl.train(
        {
            "name": "kwargs-factory",
            "env": "tests.user_envs:make_env",
            "env_config": {"horizon": 5, "reward_weights": {"zero": 1.0}},
            "seed": 0,
            "stop": {"iterations": 8},
            "checkpoint_every": 8,
            "training": {
                "train_batch_size": 400,
                "num_epochs": 8,
                "hidden_sizes": [16],
                "lr": 0.01,
                "entropy_coeff": 0.0,
            },
        },
        run_dir=tmp_path / "run",
        quiet=True,
    )
    first, last = result.metrics[0], result.metrics[-1]
    # weighted return + original return = 2 agents x 5 steps (each step is either a 0 or a 1)
    for row in (first, last):
        assert row["episode_return_mean"] + row["episode/original_return"] == pytest.approx(10.0)
    assert last["episode_return_mean"] > 6.5 > first["episode_return_mean"] - 1.0  # random: 5


# ---- item 4: errors from user code -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("phase", "message", "frames"),
    [
        ("construction", "raised in construction: ValueError: horizon must be even", ["make_env", "__init__"]),
        ("reset", "raised in reset(): KeyError: 'spawn_points'", ["reset", "load_spawn_points"]),
        ("step", "raised in step(): ZeroDivisionError: float division by zero", ["step", "score", "<dictcomp>"]),
    ],
)
def test_user_env_errors_name_the_env_the_phase_and_show_only_user_frames(phase, message, frames):
    with pytest.raises(UserEnvError) as info:
        env = make("tests.user_envs:make_env", fail_in=phase, reward_weights={"one": 1.0})
        env.reset(seed=0)
        env.step({"a": 1, "b": 1})
    err = info.value
    assert str(err) == f"env 'tests.user_envs:make_env' {message}"
    lines = err.user_traceback.splitlines()
    assert lines[0] == HEADER
    files = [line for line in lines if line.strip().startswith("File ")]
    assert [line.split(", in ")[1] for line in files] == frames
    assert all(USER_FILE in line for line in files)  # no toolkit, RLlib or Python frame


def _train_cli(tmp_path, *sets, run_dir):
    cfg = {
        "name": "failing-env",
        "env": "tests.user_envs:make_env",
        "env_config": {"horizon": 5},
        "seed": 0,
        "stop": {"iterations": 3},
        "checkpoint_every": 1,
        "training": {"train_batch_size": 200, "num_epochs": 1, "hidden_sizes": [16], "num_envs_per_env_runner": 1},
    }
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    return main(["train", str(path), "--run-dir", str(run_dir), "--quiet", *[a for s in sets for a in ("--set", s)]])


def _stderr_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if line.strip()]


@pytest.mark.parametrize("num_env_runners", [0, 1])  # the env steps in the driver / in an env runner actor
def test_cli_step_error_is_one_line_keeps_checkpoints_and_resumes(ray_local, tmp_path, capsys, num_env_runners):
    run = tmp_path / "run"
    sets = ["env_config.fail_in=step", "env_config.fail_after=300", f"num_env_runners={num_env_runners}"]
    assert _train_cli(tmp_path, *sets, run_dir=run) == EXIT_USER_ERROR
    lines = _stderr_lines(capsys)
    start = lines.index(HEADER)
    assert lines[start + 7] == (  # header, 3 frames of 2 lines, then the error line
        "diverse-marl train: error: env 'tests.user_envs:make_env' raised in step(): ZeroDivisionError: float "
        f"division by zero; run dir {run} keeps its checkpoints (latest: iteration 1); after fixing the env, "
        f"continue with: diverse-marl train --resume {run}"
    )
    assert sum(line.startswith("diverse-marl train: error:") for line in lines) == 1
    assert not any("Traceback (most recent call last)" in line for line in lines)  # no Python traceback
    assert [p.name for p in RunDir(run).checkpoint_dirs()] == ["iter_000001"]
    # the hint works: the env fixed (fail_in unset), the run continues to its 3 iterations
    assert main(["train", "--resume", str(run), "--set", "env_config.fail_in=null", "--quiet"]) == 0
    assert [r["iteration"] for r in RunDir(run).read_metrics()] == [1, 2, 3]


def test_env_errors_of_another_ray_instance_are_not_this_runs(ray_local):
    """Remote env runners leave their env's error in a file for the driver. Every local Ray instance
    numbers its first job 01000000, so a file named by the job alone let a test's failing env stop a
    training running beside it on the same machine (and the test then missed its own error)."""
    import time

    from diverse_marl.envs.user_code import _job_key, _report_path, pop_reported_error

    report = {"env": "other", "phase": "step", "exception": "ZeroDivisionError: x", "time": time.time()}
    other = _report_path(ray_local.get_runtime_context().get_job_id())  # another instance's job, same id
    other.parent.mkdir(parents=True, exist_ok=True)
    other.write_text(json.dumps(report))
    try:
        assert pop_reported_error() is None and other.exists()  # not this run's, and left for its owner
        _report_path(_job_key(ray_local)).write_text(json.dumps({**report, "env": "mine"}))
        found = pop_reported_error()
        assert found is not None and "mine" in str(found)
    finally:
        other.unlink(missing_ok=True)


def test_cli_construction_and_reset_errors(ray_local, tmp_path, capsys):
    assert _train_cli(tmp_path, "env_config.fail_in=construction", run_dir=tmp_path / "a") == EXIT_USER_ERROR
    lines = _stderr_lines(capsys)
    start = lines.index(HEADER)
    assert lines[start + 5] == (  # header, 2 frames (the factory, the class) of 2 lines, then the error line
        "diverse-marl train: error: env 'tests.user_envs:make_env' raised in construction: "
        "ValueError: horizon must be even"
    )
    assert not (tmp_path / "a").exists()  # the env failed before anything was written
    assert _train_cli(tmp_path, "env_config.fail_in=reset", run_dir=tmp_path / "b") == EXIT_USER_ERROR
    lines = _stderr_lines(capsys)
    start = lines.index(HEADER)
    assert lines[start + 5] == (
        "diverse-marl train: error: env 'tests.user_envs:make_env' raised in reset(): KeyError: 'spawn_points'; "
        f"run dir {tmp_path / 'b'} has no checkpoint yet; after fixing the env, continue with: "
        f"diverse-marl train --resume {tmp_path / 'b'}"
    )
