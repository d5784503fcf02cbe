"""method: mep — the population-entropy bonus by hand, members pushed apart by it in real training,
prioritized partner draws, config errors, the example, and a real tiny two-stage run resumed."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import diverse_marl
from diverse_marl import envs
from diverse_marl.algorithms.mappo.networks import MASKED_LOGIT
from diverse_marl.algorithms.mappo.runner_partners import PartnerSeats
from diverse_marl.algorithms.methods import mep
from diverse_marl.algorithms.population_entropy.bonus import (
    entropy_bonus,
    pairwise_total_variation,
    population_entropy,
    population_log_prob,
)
from diverse_marl.algorithms.population_entropy.config import PopulationEntropyMAPPOConfig
from diverse_marl.config import load_config
from diverse_marl.errors import ConfigError
from diverse_marl.partners import PartnerSpec, rank_priorities
from diverse_marl.run_dir import RunDir, read_checkpoint_meta
from diverse_marl.training import run_single

ROOT = Path(__file__).resolve().parents[1]
RUNNER = "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner"
# a pure coordination game: both stag pays 1, both hare 0.5, miscoordination 0 (not a stag hunt: silence its warning)
COORDINATION = {"horizon": 10, "stag_reward": 1.0, "hare_reward": 0.0, "both_hare_reward": 0.5, "alone_penalty": 0.0}
TINY = {
    "name": "tiny-mep",
    "algorithm": "mappo",
    "env": "stag_hunt",
    "env_config": COORDINATION,
    "seed": 0,
    "stop": {"iterations": 1},
    "checkpoint_every": 1,
    "keep_checkpoints": 2,
    "training": {
        "env_runner_cls": RUNNER,
        "num_envs_per_env_runner": 4,
        "train_batch_size": 160,
        "num_epochs": 2,
        "hidden_sizes": [16],
    },
    "ray": {"num_cpus": 2},
}
METHOD = {"name": "mep", "population": 2, "entropy_coeff": 1.0, "member_stop": {"iterations": 2}, "priority": 1.0}


@pytest.fixture(autouse=True)
def _no_payoff_warning():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*not a stag hunt.*")
        yield


# ---- the bonus -------------------------------------------------------------------------------------------
def test_bonus_and_population_entropy_equal_a_hand_computation():
    # 3 members, 2 states, 3 actions; in state 1 action 0 is masked out
    probs = np.array(
        [
            [[0.5, 0.25, 0.25], [0.0, 0.5, 0.5]],
            [[0.25, 0.5, 0.25], [0.0, 0.9, 0.1]],
            [[0.2, 0.2, 0.6], [0.0, 0.2, 0.8]],
        ]
    )
    logits = torch.tensor(np.log(np.where(probs > 0, probs, 1.0)) + np.where(probs > 0, 0.0, MASKED_LOGIT))
    actions = torch.tensor([1, 2])
    mean = probs.mean(axis=0)  # pibar: [[0.3167, 0.3167, 0.3667], [0, 0.5333, 0.4667]]
    pibar_taken = np.array([(0.25 + 0.5 + 0.2) / 3, (0.5 + 0.1 + 0.8) / 3])
    assert np.allclose(pibar_taken, mean[[0, 1], [1, 2]])
    alpha = 0.3
    assert np.allclose(population_log_prob(logits, actions).numpy(), np.log(pibar_taken))
    assert np.allclose(entropy_bonus(logits, actions, alpha).numpy(), -alpha * np.log(pibar_taken))
    h = np.array([-sum(p * math.log(p) for p in row if p > 0) for row in mean])
    assert np.allclose(population_entropy(logits).numpy(), h)
    # the docstring's identity: over the members' own actions, the bonus averages to H(pibar)
    expected_bonus = np.einsum("nra,ra->r", probs, -np.log(np.where(mean > 0, mean, 1.0))) / 3
    assert np.allclose(expected_bonus, h)
    # members 0 and 1 in state 0: 1/2 (|0.5-0.25| + |0.25-0.5| + 0) = 0.25; in state 1: 1/2 (0.4 + 0.4) = 0.4
    assert pairwise_total_variation(torch.tensor(probs))[0, 1].item() == pytest.approx((0.25 + 0.4) / 2)


def test_one_member_gets_its_own_negative_log_likelihood():
    logits = torch.tensor([[[2.0, 0.0, -1.0]]])
    p = torch.softmax(logits[0, 0].double(), -1)
    assert entropy_bonus(logits, torch.tensor([2]), 1.0).item() == pytest.approx(-math.log(p[2].item()))


def _self_play_states(policy, episodes: int, seed: int) -> np.ndarray:
    """Observations of ``policy`` playing both seats of the coordination game."""
    env = envs.make("stag_hunt", **COORDINATION)
    policy.seed(seed)
    states = []
    for _ in range(episodes):
        obs, _ = env.reset()
        while env.agents:
            states += [obs[a] for a in env.possible_agents]
            obs, *_ = env.step({a: int(policy(obs[a])) for a in env.possible_agents})
    return np.asarray(states, np.float32)


def _members_distance(run: Path, members: int) -> float:
    """Mean pairwise total-variation distance of the members' action distributions on all their self-play states."""
    policies = [diverse_marl.load_policy(run, f"member_{i:02d}") for i in range(members)]
    states = np.concatenate([_self_play_states(p, 10, seed=i) for i, p in enumerate(policies)])
    probs = [p.action_probs(states) for p in policies]
    pairs = [(i, j) for i in range(members) for j in range(i + 1, members)]
    return float(np.mean([0.5 * np.abs(probs[i] - probs[j]).sum(axis=1).mean() for i, j in pairs]))


def test_the_bonus_moves_members_apart(tmp_path, ray_local):
    """Same seed and budget: without the bonus both members settle on the same convention; with it they split."""
    distance, rows = {}, {}
    for alpha in (0.0, 2.0):
        cfg = load_config(
            {
                **TINY,
                "algorithm": "mappo_population_entropy",
                "seed": 1,
                "stop": {"iterations": 15},
                "checkpoint_every": 15,
                "training": {
                    "members": 2,
                    "population_entropy_coeff": alpha,
                    "num_envs_per_env_runner": 8,
                    "train_batch_size": 400,
                    "num_epochs": 4,
                    "hidden_sizes": [16],
                    "lr": 0.005,
                },
            }
        )
        result = run_single(cfg, tmp_path / f"alpha_{alpha}", quiet=True)
        distance[alpha] = _members_distance(tmp_path / f"alpha_{alpha}", 2)
        rows[alpha] = result.final
    assert distance[2.0] > distance[0.0] + 0.3, distance
    assert rows[0.0]["learner/population_entropy/bonus_mean"] == 0.0
    assert rows[2.0]["learner/population_entropy/bonus_mean"] > 0.0
    assert rows[2.0]["learner/population_entropy/pairwise_tv"] > rows[0.0]["learner/population_entropy/pairwise_tv"]


# ---- prioritized partners --------------------------------------------------------------------------------
def test_rank_priorities_follow_the_papers_dense_rank_rule():
    # returns 10 > 5 = 5 > 0: dense ranks (lowest return highest) 1, 2, 2, 3 -> p ~ rank ** 2
    assert np.allclose(rank_priorities([10.0, 5.0, 5.0, 0.0], 2.0), np.array([1, 4, 4, 9]) / 18)
    assert np.allclose(rank_priorities([3.0, 1.0, 2.0], 0.0), [1 / 3] * 3)  # exponent 0: uniform
    assert np.argmax(rank_priorities([1.0, float("nan"), 0.0], 1.0)) == 1  # never played: hardest


def still():
    """A partner factory: a policy that always plays action 0."""
    return lambda obs, deterministic=False: np.zeros(len(obs), np.int64)


def _draw_counts(priority: float, episodes: int = 600) -> np.ndarray:
    """Play ``episodes`` one-step episodes in 4 copies where partner k's joint return is 10 * k."""
    spec = PartnerSpec.from_dict(
        {"from": ["test_mep:still", "test_mep:still", "test_mep:still"], "seats": ["agent_1"], "priority": priority}
    )
    seats = PartnerSeats(spec, ["agent_0", "agent_1"], 4, dict(COORDINATION), seed=0, worker_index=0)
    counts = np.zeros(3, int)
    seats.draw(np.arange(4))
    for _ in range(episodes // 4):
        drawn = seats.drawn.copy()
        np.add.at(counts, drawn, 1)
        seats.add_rewards({"agent_0": 5.0 * drawn, "agent_1": 5.0 * drawn})
        seats.finished(np.ones(4, bool))
        seats.draw(np.arange(4))
    return counts


def test_prioritized_draws_pick_harder_partners_more_often():
    counts = _draw_counts(priority=2.0)
    assert counts[0] > counts[1] > counts[2], counts  # partner 0 scores lowest with the agent
    assert counts[0] > 0.45 * counts.sum()  # rank 3 of 1, 2, 3 squared: 9/14 once the ranks settle
    uniform = _draw_counts(priority=0.0)
    assert uniform.min() > 0.25 * uniform.sum(), uniform


def test_partners_priority_is_checked():
    with pytest.raises(ConfigError, match="partners.priority must be a number >= 0"):
        PartnerSpec.from_dict({"from": "test_mep:still", "seats": ["agent_1"], "priority": -1})


# ---- configs ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"method": {**METHOD, "population": 0}}, "method.population must be >= 1"),
        ({"method": {**METHOD, "priority": -1.0}}, "method.priority must be >= 0"),
        ({"method": {**METHOD, "entropy_coef": 0.1}}, "did you mean 'entropy_coeff'"),
        ({"method": {**METHOD, "member_stop": {"steps": 10}}}, "method.member_stop.steps"),
        ({"method": {**METHOD, "self_play": 1.0}}, r"method.self_play must be in \[0, 1\)"),
        ({"algorithm": "ppo", "training": {}}, "set algorithm: mappo"),
        ({"training": {**TINY["training"], "policy_mapping": "agent"}}, "needs policy_mapping 'shared'"),
    ],
)
def test_bad_mep_configs_fail_with_one_clear_error(change, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config({**TINY, "method": METHOD, **change})


def test_population_entropy_config_takes_mappos_options_and_its_own():
    with pytest.raises(ConfigError, match=r"unknown mappo_population_entropy option 'member'.*allowed:.*\bmembers\b"):
        PopulationEntropyMAPPOConfig.from_options("stag_hunt", {"horizon": 5}, {"member": 2}, seed=0)
    cfg = PopulationEntropyMAPPOConfig.from_options("stag_hunt", {"horizon": 5}, {"members": 3, "lr": 1e-3}, seed=0)
    assert cfg.population_members == 3 and cfg.lr == 1e-3 and cfg.seed == 0
    assert sorted(cfg.rl_module_spec.rl_module_specs) == ["member_00", "member_01", "member_02"]


def test_stage_one_scales_the_per_member_figures_by_the_population():
    cfg = load_config(
        {
            **TINY,
            "stop": {"env_steps": 1000},
            "reward_schedule": {},
            "training": {**TINY["training"], "lr": [[0, 0.001], [500, 0.0001]]},
            "method": {**METHOD, "population": 3, "member_stop": {"env_steps": 2000}},
        }
    )
    pcfg = mep.population_config(cfg, mep.parse_spec(cfg))
    assert pcfg.algorithm == "mappo_population_entropy" and pcfg.training["members"] == 3
    assert pcfg.training["population_entropy_coeff"] == 1.0
    assert pcfg.training["train_batch_size"] == 480 and pcfg.training["num_envs_per_env_runner"] == 12
    assert pcfg.training["lr"] == [[0, 0.001], [1500, 0.0001]]
    assert pcfg.stop.env_steps == 6000 and pcfg.stop.iterations is None


def test_mep_example_loads():
    cfg = load_config(ROOT / "examples" / "overcooked" / "mep_cramped_room.yaml")
    spec = mep.parse_spec(cfg)
    assert cfg.env_config["old_dynamics"] is True and cfg.env_config["layout"] == "cramped_room"
    assert spec.population >= 2 and spec.entropy_coeff > 0 and spec.priority > 0


# ---- the pipeline ----------------------------------------------------------------------------------------
def test_mep_trains_members_and_an_agent_then_resumes_at_the_agent(tmp_path, ray_local):
    root = tmp_path / "mep"
    diverse_marl.train({**TINY, "method": METHOD}, run_dir=root, quiet=True)
    training = RunDir(root / "population_training")
    assert [read_checkpoint_meta(c)["iteration"] for c in training.checkpoint_dirs()] == [1, 2]
    # every member is a single-policy run dir holding exactly its module of the joint checkpoint
    obs = np.random.default_rng(0).random((8, 6)).astype(np.float32)
    for i in range(2):
        member = root / "members" / f"member_{i:02d}"
        assert [c.name for c in RunDir(member).checkpoint_dirs()] == ["iter_000001", "iter_000002"]
        joint = diverse_marl.load_policy(root / "population_training", f"member_{i:02d}").action_probs(obs)
        assert np.allclose(diverse_marl.load_policy(member, "agent_1").action_probs(obs), joint)
    pop = diverse_marl.load_population(root)
    assert pop.names == ["member_00", "member_01"]
    agent_cfg = load_config(RunDir(root / "agent").config_path)
    assert agent_cfg.partners["from"] == [str(root / "members" / f"member_{i:02d}") for i in range(2)]
    assert agent_cfg.partners["priority"] == 1.0 and agent_cfg.partners["seats"] == ["agent_1"]
    result = json.loads((root / "mep.json").read_text())
    assert result["stage"] == "done" and result["best_run_dir"] == "agent"
    assert result["members_pairwise_tv"] is not None and (root / "report.md").is_file()
    assert all(isinstance(m["self_play_return"], float) for m in result["members"])  # evaluated in self-play
    direct = diverse_marl.load_policy(root / "agent", "agent_0")
    assert np.array_equal(diverse_marl.load_policy(root, "agent_0")(obs, True), direct(obs, True))

    # resume with a larger agent budget: the members are kept, the agent continues from its checkpoint
    rows_before = training.read_metrics()
    diverse_marl.train(resume=root, overrides=["stop.iterations=2"], quiet=True)
    assert training.read_metrics() == rows_before
    assert [r["iteration"] for r in RunDir(root / "agent").read_metrics()] == [1, 2]
    assert json.loads((root / "mep.json").read_text())["stage"] == "done"
