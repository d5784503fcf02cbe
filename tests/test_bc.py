"""Human data conversion (tools/human_data.py), algorithm: bc (algorithms/bc/) and the proxy validity report.

The conversion is checked on a raw excerpt of a real 2019 trial (tests/fixtures/human/raw_cramped_room.json,
made by ``tools/human_data.py sample``): states and actions equal the source, and our env under old
dynamics reproduces every recorded next state. BC is checked on a scripted cook's play, whose actions
are a function of the state, so a working clone must beat the majority action by a wide margin, and on
real human steps (the fixture), where it must beat the marginal baseline's cross-entropy. The two halves
(BC / H_proxy) must share no trial; the report's baselines equal a hand computation.
"""

from __future__ import annotations

import ast
import gzip
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import diverse_marl
from diverse_marl.algorithms.bc.data import (
    HALVES,
    action_history,
    featurize_trials,
    load_samples,
    read_trials,
    trial_deliveries,
    trial_fingerprint,
    validation_split,
)
from diverse_marl.algorithms.bc.policy import BCPolicy, history_one_hot
from diverse_marl.algorithms.bc.validity import baselines, human_deliveries, prediction_metrics
from diverse_marl.analysis.human_proxy import build_report, report_markdown
from diverse_marl.config import load_config
from diverse_marl.envs.overcooked.core import ACTION_INTERACT, ACTION_STAY, DIRECTIONS
from diverse_marl.envs.overcooked.env import OvercookedEnv
from diverse_marl.envs.overcooked.scripted import ScriptedCook
from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.run_dir import RunDir

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "human"
HUMAN_DATA = ROOT / "data" / "human"  # `make human-data`; tests that read it skip without it
EXAMPLES = ROOT / "examples" / "overcooked"


def _tool():
    spec = importlib.util.spec_from_file_location("human_data", ROOT / "tools" / "human_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def raw_trial():
    tool = _tool()
    rows = json.loads((FIXTURE / "raw_cramped_room.json").read_text())
    return tool, rows, tool.convert_trials(rows)["cramped_room"][0]


# ---- conversion ------------------------------------------------------------------------------------
def test_converted_states_and_actions_equal_the_source(raw_trial):
    tool, rows, trial = raw_trial
    assert len(trial["states"]) == len(rows) == len(trial["actions"])
    soups = held = 0
    for row, state, action in zip(rows, trial["states"], trial["actions"]):
        src = ast.literal_eval(row["state"])
        for p, (sp, cp) in enumerate(zip(src["players"], state["players"])):
            assert cp["position"] == list(sp["position"]) and cp["orientation"] == list(sp["orientation"])
            src_held = sp.get("held_object")
            assert (cp["held_object"] or {}).get("name") == (src_held or {}).get("name")
            held += src_held is not None
            move = ast.literal_eval(row["joint_action"])[p]
            if move == "INTERACT":
                assert action[p] == ACTION_INTERACT
            elif tuple(move) == (0, 0):
                assert action[p] == ACTION_STAY
            else:  # our action index points the same way as the recorded direction
                assert tuple(DIRECTIONS[action[p]]) == tuple(move)
        src_objects = {tuple(o["position"]): o for o in src["objects"].values()}
        assert {tuple(o["position"]) for o in state["objects"]} == set(src_objects)
        for o in state["objects"]:
            s = src_objects[tuple(o["position"])]
            assert o["name"] == s["name"]
            if o["name"] == "soup":
                soups += 1
                kind, n, cook = s["state"]
                assert len(o["_ingredients"]) == n and {i["name"] for i in o["_ingredients"]} == {kind}
                assert o["cooking_tick"] == (min(cook, 20) if n == 3 else -1)
    assert soups > 0 and held > 0, "the excerpt should hold soups and held objects"


def test_our_env_reproduces_every_recorded_transition_under_old_dynamics(raw_trial):
    tool, rows, trial = raw_trial
    checks = tool.check_transitions("cramped_room", trial)
    assert checks["transitions"] == len(rows)
    assert checks["state_match"] == checks["reward_match"] == len(rows)
    assert sum(r["reward"] > 0 for r in rows) >= 1  # a delivery happens in the excerpt
    # the check can fail: a wrong action breaks the transitions it touches
    broken = {**trial, "actions": [[(a + 1) % 6, b] for a, b in trial["actions"]]}
    assert tool.check_transitions("cramped_room", broken)["state_match"] < len(rows)


def test_conversion_rejects_what_is_not_2019_data():
    tool = _tool()
    with pytest.raises(tool.ConversionError, match="unknown action"):
        tool.convert_action([2, 0])
    with pytest.raises(tool.ConversionError, match="unknown layout name 'simple_x'"):
        tool.canonical_layout("simple_x")
    assert tool.canonical_layout("random0") == "forced_coordination"
    assert tool.canonical_layout("unident_s") == "asymmetric_advantages"


def test_converted_sample_featurizes_like_the_env():
    samples = load_samples(FIXTURE, "cramped_room", "train")
    data = json.loads(gzip.open(FIXTURE / "cramped_room_train.json.gz", "rt").read())
    steps = sum(len(t["states"]) for t in data["trials"])
    assert samples.obs.shape == (2 * steps, 96) and samples.actions.shape == (2 * steps,)
    env = OvercookedEnv(layout="cramped_room", old_dynamics=True)
    env.reset()
    env.set_state(data["trials"][0]["states"][7])
    obs = env._observations()
    assert np.allclose(samples.obs[14], obs["agent_0"]) and np.allclose(samples.obs[15], obs["agent_1"])


# ---- BC ------------------------------------------------------------------------------------------
def _scripted_dataset(path: Path, episodes: int, seed: int, steps: int) -> None:
    """Scripted cooks' play on cramped_room, written in the converted human-data format."""
    env = OvercookedEnv(layout="cramped_room", old_dynamics=True, horizon=steps)
    trials = []
    for e in range(episodes):
        cooks = [ScriptedCook(env.layout, p, old_dynamics=True, epsilon=0.0, seed=seed + e) for p in range(2)]
        env.reset()
        states, actions = [], []
        while env.agents:
            states.append(env.get_state())
            joint = [c.act(env.batch_state, 0) for c in cooks]
            actions.append(joint)
            env.step({"agent_0": joint[0], "agent_1": joint[1]})
        trials.append({"id": f"scripted-{e}", "states": states, "actions": actions})
    with gzip.open(path, "wt") as f:
        json.dump({"layout": "cramped_room", "trials": trials}, f)


def _bc_config(data_dir: Path, **training) -> dict:
    return {
        "name": "bc-test",
        "algorithm": "bc",
        "env": "overcooked",
        "seed": 0,
        "env_config": {"layout": "cramped_room", "old_dynamics": True, "horizon": 100},
        "stop": {"iterations": 25},
        "checkpoint_every": 5,
        "training": {"data_dir": str(data_dir), "patience": 8, "eval_episodes": 2, "batch_size": 32, **training},
    }


def test_bc_learns_a_scripted_cooks_actions(tmp_path):
    _scripted_dataset(tmp_path / "cramped_room_train.json.gz", episodes=4, seed=0, steps=100)
    _scripted_dataset(tmp_path / "cramped_room_test.json.gz", episodes=1, seed=50, steps=100)
    result = diverse_marl.train(
        {**_bc_config(tmp_path), "stop": {"iterations": 15}}, run_dir=tmp_path / "bc", quiet=True
    )
    report = json.loads((tmp_path / "bc" / "bc_report.json").read_text())
    # the cook is goal-directed but falls back to random moves when blocked: well above the majority
    # action on an unseen episode, not perfect
    majority = report["test_baselines"]["majority_accuracy"]
    assert report["test"]["accuracy"] > max(2 * majority, majority + 0.2), report
    assert report["test"]["cross_entropy"] < 0.7 * report["test_baselines"]["marginal_cross_entropy"]
    assert "held-out cross-entropy" in (tmp_path / "bc" / "report.md").read_text()
    rows = result.metrics
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    # the saved policy loads without Ray, with its history and anti-stuck rule, takes plain env
    # observations, and its network predicts like the report says
    policy = diverse_marl.load_policy(tmp_path / "bc", "agent_1")
    assert isinstance(policy, BCPolicy) and policy.stuck_steps == 3 and policy.history == 3
    assert policy.obs_shape == (96,)
    test = load_samples(tmp_path, "cramped_room", "test", history=3)
    greedy = policy.policy(test.obs, deterministic=True)
    assert np.isclose(np.mean(greedy == test.actions), report["test"]["accuracy"])
    assert diverse_marl.load_population([tmp_path / "bc"])[0].policy("agent_0") is not None


def test_bc_is_reproducible_and_resumes(tmp_path):
    cfg = _bc_config(FIXTURE, eval_episodes=1)
    cfg["stop"] = {"iterations": 6}
    diverse_marl.train(cfg, run_dir=tmp_path / "a", quiet=True)
    diverse_marl.train({**cfg, "stop": {"iterations": 3}}, run_dir=tmp_path / "b", quiet=True)
    diverse_marl.train(resume=tmp_path / "b", overrides=["stop.iterations=6"], quiet=True)
    a = json.loads((tmp_path / "a" / "bc_report.json").read_text())
    b = json.loads((tmp_path / "b" / "bc_report.json").read_text())
    assert a == b
    rows_a = [r["val_loss"] for r in RunDir(tmp_path / "a").read_metrics()]
    rows_b = [r["val_loss"] for r in RunDir(tmp_path / "b").read_metrics()]
    assert rows_a == rows_b and len(rows_a) == 6
    # a torn training state is one clear error, not a traceback from torch
    (RunDir(tmp_path / "b").latest_checkpoint() / "bc_state.pt").write_bytes(b"not a torch file")
    with pytest.raises(CheckpointError, match="is corrupt: cannot resume from bc_state.pt"):
        diverse_marl.train(resume=tmp_path / "b", overrides=["stop.iterations=8"], quiet=True)


class _FixedPolicy:
    """The wrapped policy of the anti-stuck test: always prefers action 2, then 5."""

    policy_id, obs_shape, num_actions = "shared", (96,), 6

    def action_probs(self, obs):
        p = np.array([0.0, 0.0, 0.7, 0.0, 0.0, 0.3])
        return np.tile(p, (len(obs), 1))


def test_anti_stuck_rule_masks_the_actions_tried_while_stuck():
    guard = BCPolicy(_FixedPolicy(), stuck_steps=3, key_features=[0, 1, 95])
    still = np.zeros((2, 96), dtype=np.float32)
    acts = [guard(still, deterministic=True) for _ in range(5)]
    # 3 unchanged steps -> action 2 (tried) is masked: 5; then both tried -> uniform among the rest
    assert [a[0] for a in acts[:4]] == [2, 2, 2, 5]
    assert acts[4][0] not in (2, 5)
    moving = np.zeros((1, 96), dtype=np.float32)
    guard.reset()
    for t in range(6):  # the own position changes every step: never stuck
        moving[0, 95] = t
        assert guard(moving, deterministic=True)[0] == 2


def test_bc_config_errors_name_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="make human-data"):
        diverse_marl.train(_bc_config(tmp_path / "nothing"), run_dir=tmp_path / "r", quiet=True)
    with pytest.raises(ConfigError, match="env must be 'overcooked'"):
        diverse_marl.train(
            {**_bc_config(FIXTURE), "env": "stag_hunt", "env_config": {}}, run_dir=tmp_path / "s", quiet=True
        )
    with pytest.raises(ConfigError, match="unknown bc option 'training.lrr'.*did you mean 'lr'"):
        load_config({**_bc_config(FIXTURE), "training": {"lrr": 0.1}})


@pytest.mark.parametrize("layout", ["cramped_room", "asymmetric_advantages"])
def test_bc_examples_load(layout):
    cfg = load_config(EXAMPLES / f"bc_{layout}.yaml")
    assert cfg.algorithm == "bc" and cfg.env_config["layout"] == layout and cfg.env_config["old_dynamics"]
    assert yaml.safe_load((EXAMPLES / f"bc_{layout}.yaml").read_text())["training"]["data_dir"] == "data/human"


def test_featurize_trials_rejects_mismatched_actions():
    data = json.loads(gzip.open(FIXTURE / "cramped_room_train.json.gz", "rt").read())
    trial = dict(data["trials"][0])
    trial["actions"] = trial["actions"][:-1]
    with pytest.raises(ConfigError, match="joint actions"):
        featurize_trials([trial], "cramped_room")


# ---- the two halves, the history input, the validity report --------------------------------------
def _halves_fingerprints(data_dir: Path, layout: str) -> dict[str, set[str]]:
    return {
        half: {trial_fingerprint(t) for t in read_trials(data_dir, layout, fit)["trials"]}
        for half, (fit, _) in HALVES.items()
    }


def test_the_halves_are_each_others_held_out_data():
    assert {fit for fit, _ in HALVES.values()} == {"train", "test"}
    (bc_fit, bc_test), (proxy_fit, proxy_test) = HALVES["bc"], HALVES["proxy"]
    assert bc_fit == proxy_test and proxy_fit == bc_test and bc_fit != proxy_fit


def test_the_human_data_halves_share_no_trial(tmp_path):
    prints = _halves_fingerprints(FIXTURE, "cramped_room")
    assert prints["bc"] and prints["proxy"] and not prints["bc"] & prints["proxy"]
    # the fingerprint sees a trial that is in both files (the check can fail)
    data = json.loads(gzip.open(FIXTURE / "cramped_room_train.json.gz", "rt").read())
    for split in ("train", "test"):
        with gzip.open(tmp_path / f"cramped_room_{split}.json.gz", "wt") as f:
            json.dump(data, f)
    leaked = _halves_fingerprints(tmp_path, "cramped_room")
    assert leaked["bc"] & leaked["proxy"]
    # a trained clone of each half is fitted on its own half's samples only
    for half in HALVES:
        cfg = _bc_config(FIXTURE, half=half, eval_episodes=1)
        diverse_marl.train({**cfg, "stop": {"iterations": 1}}, run_dir=tmp_path / half, quiet=True)
        report = json.loads((tmp_path / half / "bc_report.json").read_text())
        fit, test = HALVES[half]
        assert (report["fit_split"], report["test_split"]) == (fit, test)
        n_fit = len(load_samples(FIXTURE, "cramped_room", fit))
        assert report["train_samples"] + report["validation_samples"] == n_fit


@pytest.mark.skipif(not (HUMAN_DATA / "summary.json").is_file(), reason="needs `make human-data`")
@pytest.mark.parametrize("layout", ["cramped_room", "asymmetric_advantages", "coordination_ring", "counter_circuit"])
def test_the_2019_halves_share_no_trial_and_no_pair(layout):
    prints = _halves_fingerprints(HUMAN_DATA, layout)
    assert len(prints["bc"]) >= 6 and len(prints["proxy"]) >= 6
    assert not prints["bc"] & prints["proxy"]
    ids = {half: {t["id"] for t in read_trials(HUMAN_DATA, layout, fit)["trials"]} for half, (fit, _) in HALVES.items()}
    assert not ids["bc"] & ids["proxy"]


def test_baselines_and_metrics_on_a_hand_made_dataset():
    fit = np.array([4, 4, 4, 0, 5, 4])  # counts: north 1, stay 4, interact 1
    test = np.array([4, 0, 1])
    b = baselines(fit, test)
    marginal = np.array([2, 1, 1, 1, 5, 2]) / 12  # add-one smoothing: (count + 1) / (6 + 6)
    assert np.allclose(b["marginal"], marginal)
    assert b["majority_action"] == 4 and b["majority_accuracy"] == pytest.approx(1 / 3)
    assert b["majority_non_stay_accuracy"] == 0.0
    assert b["marginal_cross_entropy"] == pytest.approx(-(np.log(5 / 12) + np.log(2 / 12) + np.log(1 / 12)) / 3)
    probs = np.array(
        [
            [0.1, 0.0, 0.0, 0.0, 0.9, 0.0],  # stay predicted, stay taken
            [0.6, 0.0, 0.0, 0.0, 0.4, 0.0],  # north predicted, north taken
            [0.0, 0.2, 0.0, 0.0, 0.8, 0.0],  # stay predicted, south taken
        ]
    )
    m = prediction_metrics(probs, test)
    assert m["accuracy"] == pytest.approx(2 / 3) and m["non_stay_accuracy"] == pytest.approx(1 / 2)
    assert m["cross_entropy"] == pytest.approx(-(np.log(0.9) + np.log(0.6) + np.log(0.2)) / 3)
    assert m["predicted_stay_share"] == pytest.approx(2 / 3)
    trials = [{"states": [0] * 10, "rewards": [0, 5, 0, 10]}, {"states": [0] * 12, "rewards": [5]}]
    assert [trial_deliveries(t) for t in trials] == [3, 1]
    h = human_deliveries(trials)
    assert (h["min"], h["max"], h["mean"], h["trial_length_median"]) == (1, 3, 2.0, 11)


def test_a_proxy_learns_above_the_marginal_baseline_on_real_human_steps(tmp_path):
    # H_proxy on the fixture's 400 test-file steps, judged on the 400 train-file steps of another pair
    cfg = _bc_config(FIXTURE, half="proxy", eval_episodes=1, patience=8)
    diverse_marl.train({**cfg, "stop": {"iterations": 40}}, run_dir=tmp_path / "proxy", quiet=True)
    report = json.loads((tmp_path / "proxy" / "bc_report.json").read_text())
    assert report["test_split"] == "train"
    base, got = report["test_baselines"], report["test"]
    assert got["cross_entropy"] < base["marginal_cross_entropy"] - 0.05, report
    assert got["non_stay_accuracy"] > base["majority_non_stay_accuracy"] + 0.1, report


def test_validation_holds_out_whole_trials():
    trials = json.loads(gzip.open(FIXTURE / "cramped_room_train.json.gz", "rt").read())["trials"]
    halves = [{**trials[0], "states": trials[0]["states"][k::2], "actions": trials[0]["actions"][k::2]} for k in (0, 1)]
    samples = featurize_trials(halves * 3, "cramped_room")
    train, val = validation_split(samples, 0.34, seed=0)
    assert len(set(val.trial)) == 2 and not set(train.trial) & set(val.trial)
    assert len(train) + len(val) == len(samples)


def test_history_features_and_the_playing_clone_remember_the_same_actions():
    acts = np.array([[0, 5], [2, 4], [3, 1]])
    h = action_history(acts, 2).reshape(3, 2, 2, 6)
    assert h[0, 0, 0].argmax() == 4 and h[0, 0, 1].argmax() == 4  # stay before the start
    assert h[2, 0, 0].argmax() == 2 and h[2, 0, 1].argmax() == 0 and h[2, 1, 0].argmax() == 4
    seen = []

    class Recorder(_FixedPolicy):
        obs_shape = (96 + 2 * 6,)

        def action_probs(self, obs):
            seen.append(np.asarray(obs)[:, 96:].copy())
            return super().action_probs(obs)

    clone = BCPolicy(Recorder(), stuck_steps=0, key_features=[0], history=2)
    assert clone.obs_shape == (96,)
    obs = np.zeros((2, 96), np.float32)
    first = clone(obs, rows=[5, 7])
    clone(obs, rows=[5, 7])
    assert np.array_equal(seen[0], history_one_hot(np.full((2, 2), 4)))
    assert np.array_equal(seen[1], history_one_hot(np.stack([first, [4, 4]], axis=1)))
    clone.reset(rows=[7])  # row 7 starts a new episode: it forgets, row 5 remembers
    clone(obs, rows=[5, 7])
    assert seen[2][1].tolist() == history_one_hot(np.array([[4, 4]]))[0].tolist()
    assert seen[2][0].tolist() != seen[2][1].tolist()


def test_validity_report_on_the_fixture(tmp_path):
    report = build_report("cramped_room", FIXTURE, tmp_path / "work", seeds=[0], episodes=2, max_epochs=2)
    assert set(report["halves"]) == {"BC", "H_proxy"}
    assert report["human_deliveries"]["all"] == {"min": 6, "max": 7, "mean": 6.5}
    for half in report["halves"].values():
        assert len(half["clones"]) == 1 and len(half["clones"][0]["deliveries"]) == 2
        assert set(half["checks"]) == {
            "cross_entropy_clearly_below_marginal",
            "accuracy_at_least_majority",
            "deliveries_in_human_range",
        }
    text = report_markdown(report)
    assert "| H_proxy |" in text and "marginal baseline" in text
    # a second call reuses the trained clones (same config): same numbers
    again = build_report("cramped_room", FIXTURE, tmp_path / "work", seeds=[0], episodes=2, max_epochs=2)
    assert again == report
