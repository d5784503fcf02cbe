"""method: rpg — seeded weight sampling, members' configs, selection, the examples, and a real
end-to-end RPG run on Stag Hunt that is SIGKILLed while fine-tuning and resumed; RPG on a user env
given by import path."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml
from cli_runs import resume_cli, train_cli, train_until_then_kill

import diverse_marl
from diverse_marl.algorithms.methods import rpg
from diverse_marl.config import load_config, member_config
from diverse_marl.envs.matrix_games import StagHuntEnv
from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.evaluation import evaluate_run
from diverse_marl.run_dir import RunDir, read_checkpoint_meta
from diverse_marl.warm_start import resolve_init_from

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
FEATURES = ["stag_stag", "stag_hare", "hare_stag", "hare_hare"]
TINY = {
    "name": "tiny-rpg",
    "algorithm": "ppo",
    "env": "stag_hunt",
    "env_config": {"horizon": 10},
    "seed": 3,
    "stop": {"iterations": 2},
    "checkpoint_every": 1,
    "keep_checkpoints": 2,
    "training": {"train_batch_size": 100, "minibatch_size": 50, "num_epochs": 1, "hidden_sizes": [16]},
    "ray": {"num_cpus": 2},
}
UNIFORM = {"uniform": {"stag_stag": [0.0, 5.0], "hare_hare": [-1.0, 1.0]}}
GRID = {"grid": {"stag_stag": [1.0, 2.0, 3.0], "hare_hare": [0.0, 1.0]}}
LIST = {"list": [{"stag_stag": 4.0}, {"hare_hare": 4.0}, {"stag_hare": 4.0, "hare_stag": 4.0}]}


def _cfg(seed: int = 3, **method):
    return load_config({**TINY, "seed": seed, "method": {"name": "rpg", **method}})


def _weights(cfg):
    return rpg.sample_weights(rpg.parse_spec(cfg), FEATURES, "stag_hunt", cfg.seed)


def test_uniform_sampling_is_seeded_and_in_the_box():
    drawn = _weights(_cfg(samples=5, sampler=UNIFORM))
    assert drawn == _weights(_cfg(samples=5, sampler=UNIFORM))
    assert drawn != _weights(_cfg(seed=4, samples=5, sampler=UNIFORM))
    assert len(drawn) == 5 and len({w["stag_stag"] for w in drawn}) == 5
    assert all(set(w) == {"stag_stag", "hare_hare"} for w in drawn)
    assert all(0 <= w["stag_stag"] <= 5 and -1 <= w["hare_hare"] <= 1 for w in drawn)


def test_grid_is_the_cartesian_product_or_a_seeded_subset_of_it():
    full = _weights(_cfg(sampler=GRID))
    assert full == [{"hare_hare": h, "stag_stag": s} for h in (0.0, 1.0) for s in (1.0, 2.0, 3.0)]
    subset = _weights(_cfg(samples=4, sampler=GRID))
    assert len(subset) == 4 and all(w in full for w in subset) and len({tuple(w.values()) for w in subset}) == 4
    assert subset == _weights(_cfg(samples=4, sampler=GRID))
    assert {tuple(w.values()) for s in range(6) for w in _weights(_cfg(seed=s, samples=4, sampler=GRID))} == {
        tuple(w.values()) for w in full
    }  # other seeds pick other points


def test_list_gives_its_vectors_or_a_seeded_subset():
    assert _weights(_cfg(sampler=LIST)) == LIST["list"]
    two = _weights(_cfg(samples=2, sampler=LIST))
    assert len(two) == 2 and all(w in LIST["list"] for w in two) and two == _weights(_cfg(samples=2, sampler=LIST))


def test_members_configs_carry_their_weights_and_the_original_member_has_none():
    cfg = _cfg(samples=3, sampler=UNIFORM, include_original=True, top_k=2)
    weights = _weights(cfg)
    members = rpg.members_config(cfg, weights, include_original=True)
    assert members.method == {} and members.population.size == 4
    configs = [member_config(members, i) for i in range(4)]
    assert [c.env_config.get("reward_weights") for c in configs] == [*weights, None]
    assert [c.seed for c in configs] == [3, 4, 5, 6]
    assert all(c.env_config["horizon"] == 10 and c.stop.iterations == 2 for c in configs)


def test_finetune_configs_warm_start_each_selected_member_on_the_original_reward(tmp_path):
    cfg = _cfg(sampler=LIST, top_k=1, finetune={"iterations": 7})
    assert rpg.finetune_stop(cfg, rpg.parse_spec(cfg)).iterations == 7
    assert rpg.finetune_stop(_cfg(sampler=LIST), rpg.parse_spec(_cfg(sampler=LIST))) == cfg.stop  # default: stop
    with pytest.raises(ConfigError, match="init_from .* does not exist"):  # the member must have been trained
        rpg.finetune_config(cfg, rpg.parse_spec(cfg), [(tmp_path / "members" / "member_01", 4)])


def test_the_result_is_the_best_measured_policy_before_or_after_fine_tuning():
    """A perfect member (20) whose fine-tuned run drifted (17.2) stays the result; a fine-tuned run that
    scores higher (or the same) than every member is the result."""

    def sample(before, after=None):
        return {"return_before": before, "return_after": after, "selected": after is not None}

    assert rpg.best_measured([sample(3.0), sample(20.0, 17.2), sample(5.0)]) == (1, False)
    assert rpg.best_measured([sample(3.0), sample(12.0, 19.0), sample(15.0)]) == (1, True)
    assert rpg.best_measured([sample(3.0), sample(19.0, 19.0)]) == (1, True)  # tie: the fine-tuned run
    assert rpg.best_measured([sample(3.0, 2.0), sample(float("nan")), sample(4.0)]) == (2, False)


def test_fine_tuning_defaults_to_a_tenth_of_the_learning_rate_and_no_entropy_bonus():
    def cfg(**method):
        training = {**TINY.get("training", {}), "lr": 0.003}
        return load_config({**TINY, "training": training, "method": {"name": "rpg", "sampler": LIST, **method}})

    default = cfg()
    tuned = rpg.finetune_training(default, rpg.parse_spec(default))
    assert tuned == {**default.training, "lr": pytest.approx(0.0003), "entropy_coeff": 0.0}
    own = cfg(finetune_training={})
    assert rpg.finetune_training(own, rpg.parse_spec(own)) == own.training  # {}: as the members
    assert rpg.finetune_config(default, rpg.parse_spec(default), []).training["lr"] == pytest.approx(0.0003)
    with pytest.raises(ConfigError, match="training.lrr"):
        load_config({**TINY, "method": {"name": "rpg", "sampler": LIST, "finetune_training": {"lrr": 1.0}}})


def test_selection_picks_by_original_reward_return():
    returns = [1.0, 7.5, -3.0, 7.5, float("nan"), 2.0]
    assert rpg.select_top_k(returns, 1) == [1]
    assert rpg.select_top_k(returns, 3) == [1, 3, 5]  # ties: lower index first
    assert rpg.select_top_k(returns, 6) == [1, 3, 5, 0, 2, 4]  # NaN (a failed evaluation) last
    assert rpg.select_top_k(returns, 0) == []


@pytest.mark.parametrize(
    "method, fragment",
    [
        ({"name": "rgp"}, r"unknown method 'rgp' \(did you mean 'rpg'\?\); allowed: fcp, hsp, mep, rpg"),
        ({"name": "rpg", "sampler": {"normal": {}}}, "method.sampler: expected exactly one of uniform, grid, list"),
        ({"name": "rpg", "sampler": UNIFORM}, "the uniform sampler needs a number of samples"),
        (
            {"name": "rpg", "samples": 2, "sampler": {"uniform": {"stag": [0, 1]}}},
            r"unknown reward feature 'stag' in method.sampler.uniform \(did you mean 'stag_stag'\?\)",
        ),
        ({"name": "rpg", "samples": 2, "sampler": {"uniform": {"stag_stag": [2, 1]}}}, "lo <= hi"),
        ({"name": "rpg", "samples": 7, "sampler": GRID}, "method.samples is 7 but the grid sampler holds 6 vectors"),
        (
            {"name": "rpg", "sampler": {"list": [{"hare_hare": "x"}]}},
            r"method.sampler.list\[0\].hare_hare: expected a number",
        ),
        (
            {"name": "rpg", "sampler": LIST, "top_k": 4},
            r"method.top_k must be between 0 and the number of members \(3\)",
        ),
        ({"name": "rpg", "sampler": LIST, "finetune": {"iters": 2}}, "unknown config key 'method.finetune.iters'"),
        ({"name": "rpg", "sampler": LIST, "topk": 1}, r"unknown config key 'method.topk' \(did you mean 'top_k'\?\)"),
    ],
)
def test_bad_method_blocks_fail_with_one_clear_error(method, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config({**TINY, "method": method})


def test_rpg_owns_the_population_and_the_reward_weights():
    with pytest.raises(ConfigError, match="method rpg makes its own population"):
        load_config({**TINY, "population": {"size": 2}, "method": {"name": "rpg", "sampler": LIST}})
    with pytest.raises(ConfigError, match="method rpg sets env_config.reward_weights per member"):
        load_config(
            {**TINY, "env_config": {"reward_weights": {"stag_stag": 1.0}}, "method": {"name": "rpg", "sampler": LIST}}
        )


def test_examples_load(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES / "user_env"))  # the user env's module, as PYTHONPATH=examples/user_env
    sizes = {}
    for name in ("stag_hunt", "monster_hunt", "user_env"):
        cfg = load_config(EXAMPLES / name / "rpg.yaml")
        spec = rpg.parse_spec(cfg)
        sizes[name] = rpg.members_config(cfg, rpg._weights(cfg, spec), spec.include_original).population.size
    assert sizes == {"stag_hunt": 9, "monster_hunt": 9, "user_env": 7}  # stag hunt: 8 uniform + original


def test_load_policy_of_an_unfinished_rpg_dir_says_so(tmp_path):
    (tmp_path / "rpg.json").write_text(json.dumps({"method": "rpg", "best_run_dir": None}))
    with pytest.raises(CheckpointError, match="has not finished; continue it with diverse-marl train --resume"):
        diverse_marl.load_policy(tmp_path)
    (tmp_path / "rpg.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt"):
        diverse_marl.load_policy(tmp_path)


# ---- a real RPG run: members, evaluation, fine-tuning, report; SIGKILL and resume ----------------------------
def test_rpg_end_to_end_resumes_after_sigkill(tmp_path):
    """2 members (one sampled, one original) train; both are evaluated on the original reward; the
    better is fine-tuned. Killed mid-fine-tuning, --resume reuses the members and their evaluation
    and continues the fine-tuning run from its checkpoint, then writes the report."""
    method = {
        "name": "rpg",
        "samples": 1,
        "sampler": LIST,
        "include_original": True,
        "top_k": 1,
        "finetune": {"iterations": 300},
        "eval_episodes": 20,
    }
    path = tmp_path / "rpg.yaml"
    path.write_text(yaml.safe_dump({**TINY, "method": method}))
    root = tmp_path / "rpg"
    tuned = RunDir(root / "finetune" / "member_00")
    train_until_then_kill([str(path), "--run-dir", str(root)], tuned.latest_checkpoint, 240, "fine-tuning checkpoint")
    assert not (root / "report.md").exists() and json.loads((root / "rpg.json").read_text())["best_run_dir"] is None
    members = [root / "members" / f"member_0{i}" for i in range(2)]
    member_ckpts = [RunDir(m).latest_checkpoint() for m in members]
    assert all(read_checkpoint_meta(c)["iteration"] == 2 for c in member_ckpts)
    evaluation = json.loads((root / "evaluation.json").read_text())
    assert [e["run_dir"] for e in evaluation["members"]] == ["members/member_00", "members/member_01"]
    eval_mtime = (root / "evaluation.json").stat().st_mtime
    member_mtimes = [(c / "meta.json").stat().st_mtime for c in member_ckpts]
    killed_at = read_checkpoint_meta(tuned.latest_checkpoint())["iteration"]
    assert killed_at < 300

    target = killed_at + 2
    out = resume_cli(root, f"method.finetune.iterations={target}")
    assert "best policy: " in out.stdout and str(root / "report.md") in out.stdout

    # members were not trained again; the fine-tuning run counted on from its checkpoint
    assert [RunDir(m).latest_checkpoint() for m in members] == member_ckpts
    assert [(c / "meta.json").stat().st_mtime for c in member_ckpts] == member_mtimes
    assert [r["iteration"] for r in tuned.read_metrics()] == list(range(1, target + 1))
    tuned_cfg = load_config(tuned.config_path)
    assert "reward_weights" not in tuned_cfg.env_config and tuned_cfg.stop.iterations == target

    result = json.loads((root / "rpg.json").read_text())
    samples = result["samples"]
    before = [e["return"] for e in json.loads((root / "evaluation.json").read_text())["members"]]
    assert [e["return"] for e in evaluation["members"]] == before  # reused (same checkpoints, same seed)
    assert samples[0]["weights"] in LIST["list"] and samples[1]["weights"] is None
    assert [s["return_before"] for s in samples] == before
    chosen = rpg.select_top_k(before, 1)[0]
    assert result["selected"] == [chosen] and [s["selected"] for s in samples] == [i == chosen for i in range(2)]
    assert tuned_cfg.init_from == str(members[chosen].resolve())
    tuned_sample = samples[chosen]
    assert tuned_sample["finetune_run_dir"] == "finetune/member_00"
    assert isinstance(tuned_sample["return_after"], float) and "agent_0/stag_stag_rate" in tuned_sample["stats_after"]
    # the result is the best *measured* policy: the fine-tuned run unless a member scored higher before
    tuned_wins = tuned_sample["return_after"] >= max(before)
    best_dir = root / ("finetune/member_00" if tuned_wins else f"members/member_0{before.index(max(before))}")
    assert result["best_is_finetuned"] == tuned_wins and result["best_run_dir"] == best_dir.relative_to(root).as_posix()
    assert result["best_return"] == max(max(before), tuned_sample["return_after"])
    assert all(0 <= s["stats_before"]["agent_0/stag_rate"] <= 1 for s in samples)
    assert (root / "evaluation.json").stat().st_mtime > eval_mtime  # the fine-tuned run's score was added

    report = (root / "report.md").read_text()
    assert f"({result['best_run_dir']}), return" in report and "**Best measured policy: member_0" in report
    assert "| original |" in report and "| **finetune/member_00** |" in report and "agent_0/stag_stag_rate" in report

    # the best policy and the ranked members load without Ray
    policy = diverse_marl.load_policy(root, "agent_0")
    direct = diverse_marl.load_policy(best_dir, "agent_0")
    obs = np.random.default_rng(0).random((8, *policy.obs_shape)).astype(np.float32)
    assert np.array_equal(policy(obs, deterministic=True), direct(obs, deterministic=True))
    # `diverse-marl eval RPG_DIR` and `init_from: RPG_DIR` mean the best run too
    best_ckpt = RunDir(best_dir).latest_checkpoint()
    assert evaluate_run(root, episodes=5, quiet=True)["checkpoint"] == str(best_ckpt)
    assert resolve_init_from(root, "ppo") == best_ckpt
    population = diverse_marl.load_population(root)
    assert population.names == [f"member_0{chosen}", f"member_0{1 - chosen}"]
    assert [m.path for m in population] == [members[chosen], members[1 - chosen]]
    assert population[0].metadata["entry"]["rank"] == 0 and population[0].metadata["entry"]["selected"]
    assert population[f"member_0{1}"].metadata["entry"]["reward_weights"] is None


def test_rpg_on_a_user_env_by_import_path(tmp_path):
    """The user-env example's env (examples/user_env/rendezvous_env.py) through the CLI, as its YAML says to run it,
    with a relative --run-dir (Tune trials run in their own working directories)."""
    cfg = {
        **TINY,
        "algorithm": "mappo",
        "env": "rendezvous_env:RendezvousEnv",
        "stop": {"iterations": 1},
        "method": {
            "name": "rpg",
            "samples": 1,
            "sampler": {"grid": {"met_at_museum": [5.0, 10.0]}},
            "top_k": 1,
            "finetune": {"iterations": 1},
            "eval_episodes": 10,
        },
    }
    path = tmp_path / "user.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = train_cli(
        [str(path), "--run-dir", "rpg"],
        env={"PYTHONPATH": str(EXAMPLES / "user_env")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    result = json.loads((tmp_path / "rpg" / "rpg.json").read_text())
    assert len(result["samples"]) == 1 and result["samples"][0]["weights"]["met_at_museum"] in (5.0, 10.0)
    assert result["features"] == ["cafe", "met_at_park", "met_at_museum", "alone_at_museum"]
    stats = result["samples"][0]["stats_after"]
    assert sum(stats[f"agent_0/{f}"] for f in ("cafe", "met_at_park", "met_at_museum", "alone_at_museum")) <= 10
    assert (tmp_path / "rpg" / "report.md").is_file()


class _CrashingStagHunt(StagHuntEnv):
    """Stag Hunt that crashes after a few steps (a bug in a user env), for the failed-stage message."""

    def step(self, actions):
        self._crash_countdown = getattr(self, "_crash_countdown", 5) - 1
        if self._crash_countdown < 0:
            raise RuntimeError("user env exploded")
        return super().step(actions)


def test_a_crashed_member_says_to_resume_the_rpg_run(tmp_path):
    """A failed stage names the stage and the command that continues the whole pipeline (not just the stage)."""
    path = tmp_path / "rpg.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                **TINY,
                "env": "test_rpg:_CrashingStagHunt",
                "method": {"name": "rpg", "sampler": {"list": LIST["list"][:1]}},
            }
        )
    )
    root = tmp_path / "rpg"
    proc = train_cli(
        [str(path), "--run-dir", str(root)],
        env={"PYTHONPATH": str(Path(__file__).parent)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert "rpg stage members: population members [0] failed" in last and "RuntimeError: user env exploded" in last
    assert last.endswith(f"diverse-marl train --resume {root}"), last
    assert json.loads((root / "rpg.json").read_text()) == {"method": "rpg", "stage": "members", "best_run_dir": None}
