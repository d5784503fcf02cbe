"""method: hsp — seeded event-weight sampling (and held-out sets), greedy max-min selection, the stages'
configs, the examples, and a real tiny 3-stage run on Overcooked SIGKILLed in stage 3 and resumed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from cli_runs import resume_cli, train_until_then_kill

import diverse_marl
from diverse_marl.algorithms.methods import hsp
from diverse_marl.config import load_config
from diverse_marl.errors import ConfigError
from diverse_marl.run_dir import RunDir, read_checkpoint_meta

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "overcooked"
RUNNER = "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner"
TINY = {
    "name": "tiny-hsp",
    "algorithm": "mappo",
    "env": "overcooked",
    "env_config": {"layout": "cramped_room", "horizon": 20, "old_dynamics": True},
    "seed": 1,
    "stop": {"iterations": 2},
    "checkpoint_every": 1,
    "keep_checkpoints": 2,
    "training": {
        "env_runner_cls": RUNNER,
        "num_envs_per_env_runner": 4,
        "train_batch_size": 80,
        "num_epochs": 1,
        "hidden_sizes": [16],
    },
    "reward_schedule": {"shaping_factor": [[0, 1.0], [400, 0.0]]},
    "ray": {"num_cpus": 2},
}
METHOD = {"name": "hsp", "partners": 3, "keep": 2, "partner_stop": {"iterations": 1}, "eval_episodes": 2}


def _cfg(**method):
    return load_config({**TINY, "method": {**METHOD, **method}})


# ---- sampling ----------------------------------------------------------------------------------------
def test_event_weights_are_seeded_distinct_on_the_grid_and_carry_the_sparse_reward():
    events = list(hsp.HSP_EVENTS)
    a = hsp.sample_event_weights(8, events, [-10, 0, 10], seed=5)
    assert a == hsp.sample_event_weights(8, events, [-10, 0, 10], seed=5)
    assert a != hsp.sample_event_weights(8, events, [-10, 0, 10], seed=6)
    keys = {tuple(w[e] for e in events) for w in a}
    assert len(keys) == 8 and all(any(k) for k in keys)
    assert all(set(w) == {*events, "sparse"} and w["sparse"] == 1.0 for w in a)
    assert {v for w in a for e, v in w.items() if e != "sparse"} <= {-10.0, 0.0, 10.0}
    # a held-out set never repeats a vector of the first sample
    held = hsp.sample_event_weights(8, events, [-10, 0, 10], seed=5, exclude=a)
    assert not keys & {tuple(w[e] for e in events) for w in held}


def test_too_many_partners_for_the_grid_is_a_clear_error():
    with pytest.raises(ConfigError, match="cannot draw 9 distinct event-weight vectors"):
        hsp.sample_event_weights(9, ["stay", "move"], [-1, 1], seed=0)  # only 4 vectors exist


# ---- selection ---------------------------------------------------------------------------------------
def test_greedy_selection_is_deterministic_for_a_seed_and_max_min():
    rng = np.random.default_rng(0)
    desc = rng.normal(size=(10, 4)) * [1, 10, 100, 0]
    picks = hsp.greedy_select(desc, 4, seed=3)
    assert picks == hsp.greedy_select(desc, 4, seed=3) and len(set(picks)) == 4
    firsts = {hsp.greedy_select(desc, 1, seed=s)[0] for s in range(20)}
    assert len(firsts) > 1  # the first pick is a seeded draw
    # each later pick is the farthest (standardized) from those before it
    z = (desc - desc.mean(0)) / np.where(desc.std(0) > 0, desc.std(0), 1)
    for k in range(1, 4):
        gap = lambda i: min(np.linalg.norm(z[i] - z[j]) for j in picks[:k])  # noqa: B023, E731
        assert gap(picks[k]) == max(gap(i) for i in range(10) if i not in picks[:k])
    # only eligible rows are picked; fewer eligible than k gives them all
    eligible = [i in (2, 7) for i in range(10)]
    assert sorted(hsp.greedy_select(desc, 4, seed=3, eligible=eligible)) == [2, 7]


def test_descriptors_sum_both_seats_event_counts():
    stats = [{"agent_0/stay": 3.0, "agent_1/stay": 4.0, "agent_0/soup_delivery": 1.0}, {}]
    assert hsp.descriptors(stats, ["stay", "soup_delivery"]).tolist() == [[7.0, 1.0], [0.0, 0.0]]


# ---- stage configs -----------------------------------------------------------------------------------
def test_partners_config_trains_each_partner_on_its_weights_for_the_partner_stop():
    cfg = _cfg()
    spec = hsp.parse_spec(cfg)
    weights = hsp.sample_event_weights(3, spec.events, spec.weight_values, cfg.seed)
    pcfg = hsp.partners_config(cfg, weights, hsp.stage_stop(cfg, spec.partner_stop, "x"))
    assert [m["env_config"]["reward_weights"] for m in pcfg.population.members] == weights
    assert pcfg.stop.iterations == 1 and pcfg.reward_schedule == {} and pcfg.method == {}


@pytest.mark.parametrize(
    "method, fragment",
    [
        ({"keep": 4}, "method.keep must be between 1 and method.partners"),
        (
            {"events": ["stay", "onion_pikcup_dispenser"]},
            "unknown reward feature 'onion_pikcup_dispenser'.*did you mean",
        ),
        ({"self_play": 1.0}, "method.self_play must be in"),
        ({"partner_stop": {"iterationz": 3}}, "unknown config key 'method.partner_stop.iterationz'"),
        ({"keeep": 2}, "unknown config key 'method.keeep'"),
    ],
)
def test_bad_method_blocks_fail_with_one_clear_error(method, fragment):
    with pytest.raises(ConfigError, match=fragment):
        _cfg(**method)


def test_hsp_owns_partners_population_and_weights():
    with pytest.raises(ConfigError, match="drop the partners block"):
        load_config({**TINY, "partners": {"from": "test_partners:stag_hunter", "seats": ["agent_1"]}, "method": METHOD})
    with pytest.raises(ConfigError, match="drop env_config.reward_weights"):
        load_config({**TINY, "env_config": {**TINY["env_config"], "reward_weights": {"sparse": 1}}, "method": METHOD})


@pytest.mark.parametrize("layout", ["cramped_room", "asymmetric_advantages"])
def test_hsp_examples_load(layout):
    cfg = load_config(EXAMPLES / f"hsp_{layout}.yaml")
    spec = hsp.parse_spec(cfg)
    assert cfg.env_config["layout"] == layout and spec.name == "hsp" and spec.keep <= spec.partners
    assert cfg.reward_schedule["shaping_factor"][-1][1] == 0.0  # shaping annealed away for the adaptive agent


# ---- end to end --------------------------------------------------------------------------------------
# two Ray sessions and three stages: 59 s measured on 2 cores at load ~3 (240 s at load ~15)
def test_hsp_three_stages_resume_after_sigkill(tmp_path):
    """3 partners train (1 iteration each), are evaluated and 2 kept; the adaptive agent is killed after
    its first checkpoint. --resume keeps the partners and their evaluation, continues the adaptive run
    from its checkpoint and writes the report; the dir then loads as a policy and as a population."""
    path = tmp_path / "hsp.yaml"
    path.write_text(yaml.safe_dump({**TINY, "stop": {"iterations": 400}, "method": METHOD}))
    root = tmp_path / "hsp"
    adaptive = RunDir(root / "adaptive")
    train_until_then_kill([str(path), "--run-dir", str(root)], adaptive.latest_checkpoint, 300, "stage 3 checkpoint")
    assert json.loads((root / "hsp.json").read_text())["best_run_dir"] is None
    partners = [root / "partners" / f"member_0{i}" for i in range(3)]
    ckpts = [RunDir(p).latest_checkpoint() for p in partners]
    assert all(read_checkpoint_meta(c)["iteration"] == 1 for c in ckpts)
    mtimes = [(c / "meta.json").stat().st_mtime for c in ckpts]
    selection = json.loads((root / "selection.json").read_text())
    killed_at = read_checkpoint_meta(adaptive.latest_checkpoint())["iteration"]
    assert killed_at < 400

    target = killed_at + 2
    resume_cli(root, f"stop.iterations={target}")
    assert [RunDir(p).latest_checkpoint() for p in partners] == ckpts
    assert [(c / "meta.json").stat().st_mtime for c in ckpts] == mtimes
    assert [r["iteration"] for r in adaptive.read_metrics()] == list(range(1, target + 1))

    result = json.loads((root / "hsp.json").read_text())
    assert result["best_run_dir"] == "adaptive" and result["selected"] == selection["selected"]
    assert len(result["selected"]) == 2 and len(result["partners"]) == 3
    weights = hsp.sample_event_weights(3, list(hsp.HSP_EVENTS), [-10, 0, 10], TINY["seed"])
    assert [p["weights"] for p in result["partners"]] == weights
    for p, d in zip(result["partners"], partners):
        assert load_config(RunDir(d).config_path).env_config["reward_weights"] == p["weights"]
    acfg = load_config(adaptive.config_path)
    assert acfg.partners == {
        "from": [str(partners[i].resolve()) for i in result["selected"]],
        "seats": ["agent_1"],
        "sample": "per_episode",
        "self_play": 0.2,
    }
    assert "reward_weights" not in acfg.env_config and acfg.reward_schedule == TINY["reward_schedule"]
    # the descriptors are the evaluation's event counts, and selection is the greedy one on them
    evaluation = json.loads((root / "evaluation.json").read_text())["partners"]
    desc = hsp.descriptors([e["stats_mean"] for e in evaluation], hsp.HSP_EVENTS)
    assert np.allclose(desc, selection["descriptors"])
    assert result["selected"] == hsp.greedy_select(desc, 2, TINY["seed"], selection["eligible"])
    assert "# HSP report: tiny-hsp" in (root / "report.md").read_text()

    policy = diverse_marl.load_policy(root, "agent_0")
    direct = diverse_marl.load_policy(adaptive.path, "agent_0")
    obs = np.random.default_rng(0).random((8, *policy.obs_shape)).astype(np.float32)
    assert np.array_equal(policy(obs, deterministic=True), direct(obs, deterministic=True))
    population = diverse_marl.load_population(root)
    assert [m.path for m in population][:2] == [partners[i] for i in sorted(result["selected"])]
    assert len(population) == 3
