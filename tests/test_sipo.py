"""SIPO / RSPO: the RBF reward against a direct numpy computation, the multipliers' dual ascent, the
Wasserstein critic, the multi-goal testbed, config errors, and real 2-iteration runs (both env
runners) that leave archives and policies and resume after a SIGKILL mid-iteration with the same lambdas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from cli_runs import resume_cli, train_until_then_kill

import diverse_marl
from diverse_marl.algorithms.diversity.archive import ARCHIVE_FILE, load_archive, save_archive
from diverse_marl.algorithms.diversity.distances import WassersteinCritic, median_bandwidth, rbf_intrinsic
from diverse_marl.algorithms.diversity.lagrange import DualAscent
from diverse_marl.algorithms.diversity.spec import parse_diversity
from diverse_marl.config import load_config
from diverse_marl.envs import make
from diverse_marl.envs.contract import check_env
from diverse_marl.envs.testbeds import TERMINAL_MULTI_GOAL
from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.run_dir import RunDir, read_checkpoint_meta

ROOT = Path(__file__).resolve().parents[1]
FAST_RUNNER = "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner"
TINY_MG = {
    "name": "sipo-tiny",
    "algorithm": "mappo",
    "env": "multi_goal",
    "env_config": {"size": 3, "horizon": 6},
    "seed": 1,
    "stop": {"iterations": 4},
    "checkpoint_every": 1,
    "keep_checkpoints": 5,
    "training": {
        "train_batch_size": 240,
        "num_epochs": 1,
        "hidden_sizes": [16],
        "num_envs_per_env_runner": 4,
        "env_runner_cls": FAST_RUNNER,
    },
    "evaluation": {"episodes": 4, "deterministic": True},
}


# ---- the math ----------------------------------------------------------------------------------------
def test_rbf_intrinsic_equals_a_direct_numpy_computation():
    rng = np.random.default_rng(0)
    for states, archive in [
        (rng.random((300, 6)), rng.random((200, 6))),
        (rng.integers(0, 3, (400, 4)) / 2, rng.integers(0, 3, (150, 4)) / 2),
    ]:  # with repeats
        h = median_bandwidth(archive)
        d2 = ((states[:, None, :] - archive[None, :, :]) ** 2).sum(-1)
        direct = -np.log(np.exp(-d2 / (2 * h**2)).mean(axis=1))
        assert np.allclose(rbf_intrinsic(states, archive, h), direct, rtol=1e-5, atol=1e-5)
        pair = np.sqrt(((archive[:, None] - archive[None]) ** 2).sum(-1))[np.triu_indices(len(archive), 1)]
        assert h == pytest.approx(np.median(pair[pair > 0]))
    # far from the archive -> large, on it -> small
    archive = np.zeros((50, 2))
    assert rbf_intrinsic(np.array([[3.0, 3.0]]), archive, 1.0)[0] == pytest.approx(9.0)
    assert rbf_intrinsic(np.array([[0.0, 0.0]]), archive, 1.0)[0] == pytest.approx(0.0)


def test_sipo_rbf_term_is_zero_on_the_archived_policy_itself_and_capped_far_away(tmp_path):
    """r_j is centred on j's own states (j is at distance 0 from itself) and clipped at max_intrinsic."""
    from diverse_marl.algorithms.diversity.terms import SIPOTerms

    rng = np.random.default_rng(1)
    archive = rng.normal(0.0, 0.2, (300, 2))
    path = save_archive(tmp_path / "a.npz", archive, {"source": "obs"})
    terms = SIPOTerms(
        parse_diversity({"kind": "sipo", "archives": [str(path)], "max_intrinsic": 2.0, "distance_scale": 1.0})
    )
    h = median_bandwidth(archive)
    floor = rbf_intrinsic(archive, archive, h).mean()
    assert floor > 0.1  # the raw estimate has a floor: j is not at 0 from itself
    own = terms.distances(archive)[0]
    assert own.mean() == pytest.approx(0.0, abs=1e-6)
    near = terms.distances(rng.normal(0.0, 0.2, (300, 2)))[0].mean()  # same distribution, fresh samples
    shifted = terms.distances(archive + [0.3, 0.0])[0]
    assert abs(near) < 0.1 and shifted.mean() > near + 0.2
    assert np.allclose(shifted, np.clip(rbf_intrinsic(archive + [0.3, 0.0], archive, h) - floor, -2.0, 2.0), atol=1e-5)
    far = terms.distances(archive + [5.0, 5.0])[0]
    assert np.all(far == 2.0)  # the per-state cap: farther pays nothing extra


def _state_chunk(states, rewards, *, id_=None, t_started=0, done=True):
    """A real RLlib episode chunk (numpy) whose infos carry ``diversity_state`` rows ``states``."""
    from ray.rllib.env.single_agent_episode import SingleAgentEpisode

    states = np.asarray(states, np.float32)
    infos = [{"diversity_state": x} for x in states] + [{"diversity_state": states[-1]}]
    episode = SingleAgentEpisode(
        id_=id_,
        observations=[np.zeros(2, np.float32)] * (len(states) + 1),
        actions=[0] * len(states),
        rewards=list(np.asarray(rewards, np.float32)),
        infos=infos,
        terminated=done,
        t_started=t_started,
        len_lookback_buffer=0,
        module_id="shared",
        agent_id="agent_0",
    )
    return episode.to_numpy()


def _corner_terms(tmp_path, **settings):
    """SIPO terms against an archived policy that walks from the centre (0.5, 0.5) to the corner (0, 0),
    whose episodes paid 1 (the return scale), after a first batch of one random walk (returned)."""
    from diverse_marl.algorithms.diversity.terms import SIPOTerms

    path = np.linspace([0.5, 0.5], [0.0, 0.0], 6)
    save_archive(
        tmp_path / "corner.npz", np.repeat(path, 20, axis=0), {"source": "diversity_state", "return_scale": 1.0}
    )
    spec = {"kind": "sipo", "archives": [str(tmp_path / "corner.npz")], "state": "diversity_state", **settings}
    terms = SIPOTerms(parse_diversity(spec))
    rng = np.random.default_rng(0)
    walk = np.clip(0.5 + np.cumsum(rng.choice([-0.25, 0.0, 0.25], (40, 2)), axis=0), 0, 1)
    terms([_state_chunk(walk, np.zeros(40), done=False)])
    return terms, walk


def _episode(terms, states, task_return):
    rewards = np.zeros(len(states))
    rewards[-1] = task_return
    out, _ = terms([_state_chunk(states, rewards)])
    return float(out[0].sum()), float((out[0] - rewards).sum())


def test_sipo_never_makes_not_finishing_worth_more_than_finishing(tmp_path):
    """The issue's failure, on numbers: an episode that ends at a goal (return 1) against one that
    wanders far from every archived state for 40 steps and never finishes. Whatever the multiplier,
    each episode's intrinsic return stays within the budget (0.1 x the archived return), so finishing
    (at the old corner or a new one) is worth more than wandering; a new corner is worth most."""
    for lam in (0.0, 0.5, 1.0):
        terms, walk = _corner_terms(tmp_path, lambda_init=lam, lambda_lr=0.0)
        assert terms.budget == pytest.approx(0.1) and terms.scales[0] > 0
        new_corner = np.linspace([0.5, 0.5], [1.0, 1.0], 6)[1:]
        old_corner = np.linspace([0.5, 0.5], [0.0, 0.0], 6)[1:]
        wander = np.tile([[1.0, 0.0], [1.0, 0.25], [0.75, 0.0], [1.0, 0.5]], (10, 1))  # far away, 40 steps, no goal
        finish_new, intr_new = _episode(terms, new_corner, 1.0)
        finish_old, intr_old = _episode(terms, old_corner, 1.0)
        wandering, intr_wander = _episode(terms, wander, 0.0)
        for intrinsic in (intr_new, intr_old, intr_wander):
            assert abs(intrinsic) <= terms.budget + 1e-6
        assert finish_old > wandering and finish_new > wandering
        if lam > 0:
            assert finish_new > finish_old  # the archived corner pays less than a new one
            assert intr_old < 0 < intr_new
        # any episode, any length: within the budget
        rng = np.random.default_rng(1)
        for length in (1, 3, 40, 400):
            states = rng.random((length, 2))
            assert abs(_episode(terms, states, 0.0)[1]) <= terms.budget + 1e-6


def test_sipo_counts_where_a_terminated_episode_ends_for_the_rest_of_the_horizon(tmp_path):
    """The absorbing state: an archived policy walked from the centre to corner (0, 0) and the episode ended
    there (horizon 40). A new episode that reaches the *same* corner along a detour is close to it, one that
    reaches another corner along the mirrored path is far: the goal an episode ends at decides, not the
    path. Measured on the acted-in states alone (the terminal state dropped), the two look alike."""
    from diverse_marl.algorithms.diversity.terms import SIPOTerms

    horizon = 40
    path = np.linspace([0.5, 0.5], [0.0, 0.0], 6)
    archive = np.concatenate([path[:-1], np.repeat(path[-1:], horizon - 5, axis=0)])  # as collect_states writes it
    save_archive(
        tmp_path / "a.npz",
        np.tile(archive, (4, 1)),
        {"source": "diversity_state", "return_scale": 1.0, "horizon": horizon},
    )
    spec = parse_diversity(
        {
            "kind": "sipo",
            "archives": [str(tmp_path / "a.npz")],
            "state": "diversity_state",
            "lambda_init": 1.0,
            "lambda_lr": 0.0,
        }
    )
    detour = np.array(
        [[0.5, 0.5], [0.5, 0.75], [0.5, 1.0], [0.25, 1.0], [0.0, 1.0], [0.0, 0.75], [0.0, 0.5], [0.0, 0.25], [0.0, 0.0]]
    )  # ends on the archived corner
    other = path * [1.0, -1.0] + [0.0, 1.0]  # the mirrored walk, ends on corner (0, 1)

    def episode(states):
        terms = SIPOTerms(spec)
        rewards = np.zeros(len(states) - 1)
        rewards[-1] = 1.0
        chunk = _state_chunk(states[:-1], rewards)  # its terminal info carries the last state
        chunk.infos[-1] = {"diversity_state": np.asarray(states[-1], np.float32)}
        out, stats = terms([chunk])
        return float((out[0] - rewards).sum()), stats["distance_0"], terms

    intr_detour, dist_detour, terms = episode(detour)
    intr_other, dist_other, _ = episode(other)
    assert dist_other > 2 * dist_detour and intr_other > 0 > intr_detour
    acted_only = terms.distances(detour[:-1])[0].mean(), terms.distances(other[:-1])[0].mean()
    assert abs(acted_only[0] - acted_only[1]) < 0.1 * max(acted_only)  # without it: within 10% of each other


def test_sipo_pays_an_episode_the_same_whether_or_not_it_is_cut_into_chunks(tmp_path):
    """The per-episode payment telescopes over the episode's running mean, across chunk boundaries:
    two chunks of one episode (same id, the second starting at t=7) get the one-chunk payments."""
    terms, walk = _corner_terms(tmp_path, lambda_lr=0.0)
    states = np.clip(walk[:20] + 0.1, 0, 1)
    whole, _ = terms([_state_chunk(states, np.zeros(20), id_="whole")])
    first, _ = terms([_state_chunk(states[:7], np.zeros(7), id_="cut", done=False)])
    second, _ = terms([_state_chunk(states[7:], np.zeros(13), id_="cut", t_started=7)])
    assert np.allclose(np.concatenate([first[0], second[0]]), whole[0], atol=1e-6)
    assert "cut" not in terms.open and "whole" not in terms.open  # finished episodes leave no running sums


def test_sipo_distance_unit_comes_from_the_archive_not_from_the_first_batch(tmp_path):
    """RBF distances are in bandwidth units already (unit 1); Wasserstein's unit is the archive's median
    pairwise distance. Neither depends on where the new policy starts: a first batch sitting on the
    archived states (which used to measure ~0 and turn every distance into +-cap) changes nothing."""
    from diverse_marl.algorithms.diversity.distances import median_bandwidth

    terms, walk = _corner_terms(tmp_path, max_intrinsic=100.0)  # no state clipped
    assert terms.scales == [1.0]
    on_archive = np.linspace([0.5, 0.5], [0.0, 0.0], 6)
    _, stats = terms([_state_chunk(on_archive, np.zeros(6), done=False)])
    assert abs(stats["distance_0"]) < 0.5 and stats["distance_scale_0"] == 1.0
    _, stats = terms([_state_chunk(walk, np.zeros(40), done=False)])
    assert stats["distance_0"] == pytest.approx(terms.raw_distances(walk)[0].mean(), rel=1e-6)
    restored, _ = _corner_terms(tmp_path, lambda_lr=0.0)
    restored.set_state(json.loads(json.dumps(terms.get_state())))
    assert np.array_equal(restored.dual.lambdas, terms.dual.lambdas)
    fixed, _ = _corner_terms(tmp_path, distance_scale=2.0, return_scale=3.0)
    assert fixed.scales == [2.0] and fixed.budget == pytest.approx(0.3)
    wd, _ = _corner_terms(tmp_path, distance="wasserstein")
    archive = np.repeat(np.linspace([0.5, 0.5], [0.0, 0.0], 6), 20, axis=0)
    assert wd.scales == [pytest.approx(median_bandwidth(archive))]


def test_sipo_budget_grows_with_the_task_reward_the_policy_earns(tmp_path):
    """The archived policy finished in 5 steps (return 1: 0.2 per step). A batch that never finishes gets no
    intrinsic term at all; one that earns half that rate gets half the budget; as much or more: all of it."""
    from diverse_marl.algorithms.diversity.terms import SIPOTerms

    path = np.repeat(np.linspace([0.5, 0.5], [0.0, 0.0], 6), 20, axis=0)
    meta = {"source": "diversity_state", "return_scale": 1.0, "length_mean": 5.0}
    save_archive(tmp_path / "corner.npz", path, meta)
    terms = SIPOTerms(parse_diversity({"kind": "sipo", "archives": [str(tmp_path / "corner.npz")]}))
    far = np.tile([[1.0, 1.0], [1.0, 0.75]], (5, 1))
    never, stats = terms([_state_chunk(far, np.zeros(10))])
    assert stats["budget"] == 0.0 and np.all(never[0] == 0.0) and stats["budget_max"] == pytest.approx(0.1)
    half = np.zeros(10)
    half[-1] = 1.0  # 1 in 10 steps: half the archived 1 in 5
    assert terms.batch_budget([_state_chunk(far, half)]) == pytest.approx(0.05)
    assert terms.batch_budget([_state_chunk(far[:4], np.ones(4))]) == pytest.approx(0.1)


def test_lambda_rises_while_the_constraint_is_violated_and_falls_when_it_holds():
    dual = DualAscent(2, delta=1.0, lr=0.5, lambda_max=2.0, init=0.2)
    seen = [dual.lambdas.copy()]
    for _ in range(3):  # constraint 0 violated (distance 0.4 < 1), constraint 1 holds (3 > 1)
        seen.append(dual.update([0.4, 3.0]).copy())
    seen = np.array(seen)
    assert np.all(np.diff(seen[:, 0]) > 0) and seen[1, 0] == pytest.approx(0.2 + 0.5 * 0.6)
    assert seen[1, 1] == 0.0 and np.all(seen[:, 1][1:] == 0.0)  # fell to zero and stays projected there
    for _ in range(10):
        dual.update([0.0, 3.0])
    assert dual.lambdas[0] == 2.0  # clipped to lambda_max
    for _ in range(3):
        before = dual.lambdas[0]
        assert dual.update([1.5, 3.0])[0] < before  # now it holds: falls
    restored = DualAscent(2, delta=1.0, lr=0.5, lambda_max=2.0)
    restored.set_state(json.loads(json.dumps(dual.get_state())))
    assert np.array_equal(restored.lambdas, dual.lambdas)


def test_wasserstein_critic_measures_how_far_the_distributions_are():
    import torch

    torch.set_num_threads(1)  # tiny MLP: more threads only contend
    rng = np.random.default_rng(0)
    archive = rng.normal(0.0, 0.3, (800, 2))
    estimates = {}
    for shift in (0.0, 2.0):
        critic = WassersteinCritic(2, archive, steps=300, lr=3e-3, seed=0)
        states = rng.normal(0.0, 0.3, (800, 2)) + np.array([shift, 0.0])
        critic.fit(states)
        estimates[shift] = critic.intrinsic(states).mean()
    assert estimates[2.0] > 1.4 and abs(estimates[0.0]) < 0.4, estimates


# ---- the testbed ---------------------------------------------------------------------------------------
def test_multi_goal_grid_pays_every_corner_the_same_and_reports_the_goal():
    up, down, left, right = 1, 2, 3, 4
    for goal, (a, b) in enumerate([(up, left), (up, right), (down, left), (down, right)]):
        env = make("multi_goal", size=5, horizon=8)
        obs, infos = env.reset(seed=0)
        assert np.allclose(infos["agent_0"]["diversity_state"], 0.5) and env.state().shape == (5,)
        total = 0.0
        plan = [a, a, b, b] + [0] * 4
        for act in plan:
            obs, rew, term, trunc, infos = env.step({"agent_0": act, "agent_1": act})
            total += rew["agent_0"]
        assert total == 5.0  # both on goal from step 4 to 8
        stats = infos["agent_0"]["episode_stats"]
        assert stats["goal"] == goal and stats[f"goal_{goal}"] == 1.0 and sum(stats[f"goal_{k}"] for k in range(4)) == 1
        assert infos["agent_1"]["reward_features"][f"goal_{goal}"] == 1.0 and trunc["agent_0"] and not env.agents
    env = make("multi_goal", reward_weights={"goal_0": 2.0})
    env.reset()
    for _ in range(2):
        _, rew, _, _, infos = env.step({"agent_0": up, "agent_1": up})
    for _ in range(2):
        _, rew, _, _, infos = env.step({"agent_0": left, "agent_1": left})
    assert rew["agent_0"] == 2.0 and infos["agent_0"]["original_reward"] == 1.0
    with pytest.raises(ConfigError, match="illegal action 7"):
        env.step({"agent_0": 7, "agent_1": 0})


def test_terminal_multi_goal_ends_the_episode_at_the_first_goal_reached_together():
    check_env("multi_goal", TERMINAL_MULTI_GOAL)
    up, down, left, right = 1, 2, 3, 4
    env = make("multi_goal", **TERMINAL_MULTI_GOAL)
    env.reset(seed=0)
    total = 0.0
    for t, act in enumerate([down, down, down, right, right, right]):  # 7 x 7: the centre is 3 steps from each wall
        _, rew, term, trunc, infos = env.step({"agent_0": act, "agent_1": act})
        total += rew["agent_1"]
        assert term["agent_0"] == (t == 5) and not trunc["agent_0"]
    assert total == 1.0 and not env.agents  # paid once, then the episode is over
    assert infos["agent_0"]["episode_stats"]["goal"] == 3 and infos["agent_0"]["episode_stats"]["goal_3"] == 1.0
    # apart on two goals: no reward, no end; the time limit truncates with goal -1
    env.reset(seed=0)
    for act0, act1 in [(up, down)] * 3 + [(left, right)] * 3 + [(0, 0)] * 34:
        _, rew, term, trunc, infos = env.step({"agent_0": act0, "agent_1": act1})
        assert rew["agent_0"] == 0.0 and not term["agent_0"]
    assert trunc["agent_0"] and infos["agent_0"]["episode_stats"]["goal"] == -1.0


def test_multi_goal_own_diversity_state_is_each_agents_own_position():
    up, left = 1, 3
    joint, own = make("multi_goal", size=5), make("multi_goal", size=5, diversity_state="own")
    for env in (joint, own):
        env.reset(seed=0)
    for env in (joint, own):
        _, _, _, _, infos = env.step({"agent_0": up, "agent_1": left})
    assert np.allclose(joint._infos()["agent_0"]["diversity_state"], [0.25, 0.5, 0.5, 0.25])
    assert np.allclose(infos["agent_0"]["diversity_state"], [0.25, 0.5])
    assert np.allclose(infos["agent_1"]["diversity_state"], [0.5, 0.25])
    with pytest.raises(ConfigError, match="unknown diversity_state 'both'; allowed: joint, own"):
        make("multi_goal", diversity_state="both")


def test_batched_multi_goal_gives_the_diversity_state_of_every_copy():
    from diverse_marl.envs.batched import make_batched

    env = make_batched("multi_goal", 3, size=5)
    env.reset(seed=0)
    env.step({"agent_0": np.array([1, 2, 0]), "agent_1": np.array([0, 0, 4])})
    ds = env.diversity_state()
    assert ds["agent_0"].shape == (3, 4)
    assert np.allclose(ds["agent_0"][:, :2], [[0.25, 0.5], [0.75, 0.5], [0.5, 0.5]])
    assert np.allclose(ds["agent_0"][:, 2:], [[0.5, 0.5], [0.5, 0.5], [0.5, 0.75]])
    ca = make_batched("credit_assignment", 2)
    ca.reset(seed=0)
    assert ca.diversity_state() == {}


# ---- configs -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "block, fragment",
    [
        ({"distanse": "rbf"}, "unknown key diversity.distanse (did you mean 'distance'?)"),
        ({"distance": "l2"}, "unknown diversity.distance 'l2'; allowed: rbf, wasserstein"),
        ({"state": "pixels"}, "allowed: auto, diversity_state, state, obs"),
        ({"delta": 0}, "diversity.delta must be > 0"),
        ({"archives": ["nope.npz"]}, "no archive file 'nope.npz'"),
        ({"kind": "rspo", "threshold": 1.5}, "threshold must be a likelihood ratio in"),
        ({"intrinsic_share": 0.5}, "intrinsic_share must be in (0, 0.5)"),
        ({"distance_scale": 0}, "diversity.distance_scale: expected a positive number or null"),
    ],
)
def test_bad_diversity_blocks_fail_with_one_clear_error(block, fragment):
    with pytest.raises(ConfigError) as err:
        parse_diversity(block)
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    "method, fragment",
    [
        ({"name": "sipo", "iterations": 0}, "method.iterations must be >= 1"),
        ({"name": "sipo", "archives": []}, "method.archives is set by method sipo itself"),
        ({"name": "sipo", "distance": "cosine"}, "unknown method.distance 'cosine'"),
        ({"name": "sipo", "archive_sise": 3}, "archive_sise"),
    ],
)
def test_bad_sipo_blocks_fail_with_one_clear_error(method, fragment):
    with pytest.raises(ConfigError) as err:
        load_config({**TINY_MG, "method": method}).validate()
    assert fragment in str(err.value)


def test_archive_round_trip_and_corrupt_file(tmp_path):
    states = np.arange(12, dtype=np.float32).reshape(6, 2)
    save_archive(tmp_path / "a.npz", states, {"source": "obs"})
    got, meta = load_archive(tmp_path / "a.npz")
    assert np.array_equal(got, states) and meta == {"source": "obs"}
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]  # no temp file left
    (tmp_path / "b.npz").write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_archive(tmp_path / "b.npz")


def test_examples_load(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "user_env"))  # as PYTHONPATH=examples/user_env does
    examples = ROOT / "examples"
    found = examples.glob("*/*.yaml")
    names = sorted(str(p.relative_to(examples)) for p in found if p.name.startswith(("sipo", "rspo")))
    assert {
        "multi_goal/sipo.yaml",
        "overcooked/sipo_asymmetric_advantages.yaml",
        "hide_and_seek/sipo.yaml",
        "multi_goal/rspo.yaml",
        "user_env/sipo.yaml",
    } <= set(names)
    for name in names:
        cfg = load_config(ROOT / "examples" / name).validate()
        assert cfg.method["name"] in ("sipo", "rspo")


# ---- real runs -----------------------------------------------------------------------------------------
def _diversity_rows(run_dir: Path) -> list[dict]:
    return [
        {k.rsplit("/", 1)[1]: v for k, v in r.items() if k.startswith("learner/diversity/")}
        | {"iteration": r["iteration"]}
        for r in RunDir(run_dir).read_metrics()
    ]


@pytest.mark.slow  # ~80 s: two CLI processes, each starting Ray
def test_sipo_two_iterations_archive_policies_and_resume_after_sigkill(tmp_path):
    """K=2 SIPO-RBF on a 3x3 grid with the fast runner. Killed once iteration_01 has checkpointed
    iteration 2; --resume continues it from that checkpoint with the checkpointed lambdas: the
    first resumed row's lambda is one dual-ascent step from the last saved one (delta is out of
    reach, so the multiplier keeps rising; a fresh multiplier would restart from 0)."""
    delta, lr = 50.0, 0.01
    method = {
        "name": "sipo",
        "iterations": 2,
        "delta": delta,
        "lambda_lr": lr,
        "lambda_max": 100.0,
        "archive_size": 50,
        "archive_episodes": 4,
        "state": "diversity_state",
    }
    path = tmp_path / "sipo.yaml"
    path.write_text(yaml.safe_dump({**TINY_MG, "stop": {"iterations": 8}, "method": method}))
    root = tmp_path / "sipo"
    second = RunDir(root / "iteration_01")
    train_until_then_kill(
        [str(path), "--run-dir", str(root)],
        lambda: second.latest_checkpoint() and read_checkpoint_meta(second.latest_checkpoint())["iteration"] >= 2,
        240,
        "iteration_01 checkpoint at iteration 2",
    )
    killed_at = read_checkpoint_meta(second.latest_checkpoint())["iteration"]
    assert 2 <= killed_at <= 6, "killed too late to test a resume mid-iteration"
    assert (root / "iteration_00" / ARCHIVE_FILE).is_file() and not (root / "iteration_01" / ARCHIVE_FILE).exists()
    assert json.loads((root / "sipo.json").read_text())["best_run_dir"] is None
    archive, meta = load_archive(root / "iteration_00" / ARCHIVE_FILE)
    assert archive.shape == (48, 4) and meta["source"] == "diversity_state"  # 4 episodes x 6 steps x 2 agents
    saved = {r["iteration"]: r for r in _diversity_rows(second.path)}[killed_at]
    assert saved["lambda_0"] > 0 and saved["distance_0"] < delta

    target = killed_at + 2
    resume_cli(root, f"stop.iterations={target}")
    rows = _diversity_rows(second.path)
    assert [r["iteration"] for r in rows] == list(range(1, target + 1))
    nxt = rows[killed_at]
    assert nxt["lambda_0"] == pytest.approx(saved["lambda_0"] + lr * (delta - nxt["distance_0"]) / delta, rel=1e-6)
    assert {"intrinsic_mean", "time_s"} <= set(nxt)
    assert (root / "iteration_01" / ARCHIVE_FILE).is_file()

    population = diverse_marl.load_population(root)
    assert population.names == ["iteration_00", "iteration_01"]
    result = json.loads((root / "sipo.json").read_text())
    assert result["best_run_dir"] in population.names and len(result["iterations"]) == 2
    assert "lambda_0" in result["iterations"][1]["diversity"] and result["iterations"][0]["diversity"] == {}
    report = (root / "report.md").read_text()
    assert "| iteration_01 |" in report and "lambda_0" in report
    assert diverse_marl.load_policy(root).policy_id == "shared"


def test_sipo_with_default_settings_keeps_finishing_on_a_terminal_goal_grid(tmp_path, ray_local):
    """The issue's failure case, trained for real: episodes *end* at a goal (paid 1), and iteration 1
    against iteration 0's archive, with SIPO's default settings, still learns to finish (before, its
    per-step intrinsic reward made wandering worth more than any goal). Its intrinsic budget is
    0.1 x the archived policy's measured return."""
    from diverse_marl.algorithms.methods import sipo
    from diverse_marl.evaluation import evaluate_run

    terminal = {"size": 3, "horizon": 12, "end_at_goal": True, "diversity_state": "own"}
    training = {**TINY_MG["training"], "train_batch_size": 480, "num_epochs": 4, "lr": 0.01}
    method = {"name": "sipo", "iterations": 2, "archive_size": 200, "archive_episodes": 10, "state": "diversity_state"}
    data = {**TINY_MG, "env_config": terminal, "training": training, "stop": {"iterations": 12}, "method": method}
    cfg = load_config(data)
    sipo.run(cfg, tmp_path / "sipo", quiet=True)
    root = tmp_path / "sipo"
    _, meta = load_archive(root / "iteration_00" / ARCHIVE_FILE)
    returns = [evaluate_run(root / f"iteration_{k:02d}", 20, False, 0, quiet=True)["return_mean"] for k in range(2)]
    random_return = RunDir(root / "iteration_00").read_metrics()[0]["episode_return_mean"]  # the untrained policy
    diversity = _diversity_rows(root / "iteration_01")[-1]
    assert diversity["budget_max"] == pytest.approx(0.1 * meta["return_scale"], rel=1e-5)
    assert 0 <= diversity["budget"] <= diversity["budget_max"] and meta["length_mean"] > 0
    assert meta["return_scale"] > 0.5  # iteration 0 learned to finish (return 1 per agent when it does)
    assert returns[1] > max(1.2 * random_return, 0.5 * returns[0]), (returns, random_return)
    # the archive holds the horizon: each terminated episode completed with its goal state (10 episodes x
    # 2 agents x 12 rows), then sampled down to archive_size
    states, _ = load_archive(root / "iteration_00" / ARCHIVE_FILE)
    assert meta["horizon"] == 12 and len(states) == 200 and meta["length_mean"] < 12


def test_sipo_differs_only_from_earlier_iterations_that_scored(tmp_path):
    """An iteration that never earned task reward is no strategy to keep away from (its wandering archive is
    near everything); when none scored (a reward-free task), every earlier one counts."""
    from diverse_marl.algorithms.methods.sipo import strategies

    dirs = []
    for k, ret in enumerate((1.0, 0.0, 2.0)):
        dirs.append(tmp_path / f"it{k}")
        save_archive(dirs[-1] / ARCHIVE_FILE, np.zeros((3, 2)), {"source": "diversity_state", "return_scale": ret})
    archived = lambda d: load_archive(d / ARCHIVE_FILE)[1]["return_scale"]  # noqa: E731
    assert strategies(dirs, archived) == [dirs[0], dirs[2]]
    assert strategies(dirs[1:2], archived) == dirs[1:2]
    assert strategies(dirs, lambda d: None) == dirs  # RSPO's reference_return: None when a run has no metrics


@pytest.mark.parametrize("runner", ["rllib", "fast"])
def test_sipo_wasserstein_and_rspo_run_in_both_runners(tmp_path, ray_local, runner):
    """One trained iteration, then SIPO-WD (reading the state column) and RSPO against it, in each env runner."""
    from diverse_marl.algorithms.diversity.archive import collect_states
    from diverse_marl.training import run_single

    training = dict(TINY_MG["training"])
    if runner == "rllib":
        training.pop("env_runner_cls")
        training["num_envs_per_env_runner"] = 1
    base = {**TINY_MG, "training": training, "stop": {"iterations": 2}}
    first = tmp_path / "first"
    run_single(load_config(base), first, quiet=True)
    states, source, *_ = collect_states(first, "multi_goal", base["env_config"], "auto", episodes=3, size=100, seed=0)
    assert source == "diversity_state" and states.shape == (36, 4)
    save_archive(first / ARCHIVE_FILE, states, {"source": source})
    sipo = {"kind": "sipo", "distance": "wasserstein", "archives": [str(first / ARCHIVE_FILE)], "lambda_init": 0.5}
    rows = run_single(load_config({**base, "diversity": sipo}), tmp_path / "wd", quiet=True).metrics
    assert all(np.isfinite(r["learner/diversity/distance_0"]) for r in rows)
    assert rows[0]["learner/diversity/lambda_0"] != 0.5  # one dual-ascent step per update
    rspo = {"kind": "rspo", "references": [str(first)], "threshold": 0.01}
    rows = run_single(load_config({**base, "diversity": rspo}), tmp_path / "rspo", quiet=True).metrics
    assert all(0 <= r["learner/diversity/switched_fraction"] <= 1 for r in rows)
    assert all(0 < r["learner/diversity/likelihood_ratio_0"] < np.inf for r in rows)


@pytest.mark.parametrize(
    "env_name, kw", [("overcooked", {"layout": "coordination_ring"}), ("hide_and_seek", {"horizon": 30})]
)
def test_native_batched_envs_give_the_single_envs_diversity_state(env_name, kw):
    """The compact state SIPO measures is the same vector in the single env's infos and the batched env."""
    from diverse_marl.envs.batched import make_batched
    from diverse_marl.envs.hide_and_seek.batched import env_seed

    n, steps = 3, 20
    batched = make_batched(env_name, n, **kw)
    singles = [make(env_name, **kw) for _ in range(n)]
    batched.reset(seed=5)
    infos = [
        env.reset(seed=env_seed(5, i) if env_name == "hide_and_seek" else None)[1] for i, env in enumerate(singles)
    ]
    agents = batched.possible_agents
    rng = np.random.default_rng(0)
    for _ in range(steps):
        ds = batched.diversity_state()
        for i in range(n):
            for a in agents:
                assert np.array_equal(ds[a][i], infos[i][a]["diversity_state"])
        actions = {a: rng.integers(0, batched.action_space(a).n, size=n) for a in agents}
        batched.step(actions)
        infos = [env.step({a: int(actions[a][i]) for a in agents})[4] for i, env in enumerate(singles)]
    width = 22 if env_name == "overcooked" else 2 * (len(agents) + len(singles[0].obj_pos))
    assert ds[agents[0]].shape == (n, width) and 0 <= ds[agents[0]].min() and ds[agents[0]].max() <= 1


def test_multi_goal_renders_goals_and_both_agents():
    env = make("multi_goal", size=3, render_mode="rgb_array")
    env.reset()
    frame = env.render()
    assert frame.shape == (96, 96, 3) and frame.dtype == np.uint8
    centre = frame[32:64, 32:64].reshape(-1, 3)
    assert {(200, 40, 40), (40, 60, 200)} <= {tuple(p) for p in centre}  # both agents drawn in the centre cell
    assert make("multi_goal").render() is None
    with pytest.raises(ConfigError, match="render_mode"):
        make("multi_goal", render_mode="human")


def test_fast_runner_keeps_the_state_a_terminated_episode_ended_in(tmp_path, ray_local):
    """SIPO's absorbing state reads the last ``diversity_state`` of a terminated chunk: in the vector runner
    it must be the goal both agents stand on, not the next episode's start (the copy auto-resets in the
    same step). 3 x 3 grid: start (0.5, 0.5); every goal is a corner, coordinates in {0, 1}."""
    from diverse_marl.algorithms.mappo.sampler import VectorMultiAgentEnvRunner

    save_archive(tmp_path / "a.npz", np.zeros((4, 2)), {"source": "diversity_state", "return_scale": 1.0})
    data = {
        **TINY_MG,
        "env_config": {"size": 3, "horizon": 30, "end_at_goal": True, "diversity_state": "own"},
        "diversity": {"kind": "sipo", "archives": [str(tmp_path / "a.npz")], "state": "diversity_state"},
    }
    runner = VectorMultiAgentEnvRunner(config=load_config(data).to_rllib())
    try:
        episodes = runner.sample(num_timesteps=1200, random_actions=True)
    finally:
        runner.stop()
    ended = [sa for ep in episodes for sa in ep.agent_episodes.values() if sa.is_terminated and len(sa) > 0]
    assert len(ended) >= 4  # random walks on a 3 x 3 grid meet on a corner within 30 steps often
    for sa in ended:
        last = np.asarray(sa.get_infos(-1)["diversity_state"])
        assert set(np.round(last, 6).tolist()) <= {0.0, 1.0}, last  # a corner, not the centre
