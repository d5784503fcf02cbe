"""``python -m bench.zsc``: independent evaluation partners, the BR-normalized statistics, the plan, the lock,
and (slow) the whole pipeline at smoke scale plus a kill-and-resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from bench.zsc import evaluation, partners, scale
from bench.zsc.jobs import LayoutState, LockBusyError, checkpoint_at, heavy_job_lock
from bench.zsc.stages import HSP_SEED, POOL_SEED_BASE, LayoutContext, base_config, biased_population
from diverse_marl.algorithms.methods import hsp
from diverse_marl.population_train import member_dir_name

ROOT = Path(__file__).resolve().parents[1]


# ---- independence of the evaluation partners ------------------------------------------------------
def test_evaluation_weights_are_never_a_vector_hsp_samples_nor_a_multiple_of_one():
    weights = partners.evaluation_weights(40, seed=partners.EVAL_SEED_BASE)
    events = list(hsp.HSP_EVENTS)
    vectors = [tuple(w[e] for e in events) for w in weights]
    assert len(set(vectors)) == 40 and all(w[hsp.SPARSE_FEATURE] == 1.0 for w in weights)
    hsp_draws = hsp.sample_event_weights(500, events, [-10.0, 0.0, 10.0], seed=HSP_SEED)
    hsp_vectors = {tuple(w[e] for e in events) for w in hsp_draws}
    for v in vectors:
        assert v not in hsp_vectors
        assert any(x not in (-10.0, 0.0, 10.0) for x in v)
        nonzero = [abs(x) for x in v if x]
        assert len(set(nonzero)) > 1  # no positive multiple of it lies in {-10, 0, 10}^n
        for c in {10.0 / m for m in nonzero}:  # every scale that maps a weight onto +-10
            assert not all(c * x in (-10.0, 0.0, 10.0) for x in v)
    assert weights == partners.evaluation_weights(40, seed=partners.EVAL_SEED_BASE)  # seeded


def test_evaluation_partners_train_from_scratch_on_their_own_seeds(tmp_path):
    ctx = LayoutContext("cramped_room", scale.SMOKE, [0, 1, 2], tmp_path, LayoutState(tmp_path), tmp_path, True)
    weights = partners.evaluation_weights(3, partners.EVAL_SEED_BASE)
    pop = biased_population(ctx, "eval", weights, partners.EVAL_SEED_BASE, 800)
    agent_seeds = {0, 1, 2} | {POOL_SEED_BASE + j for j in range(8)} | {HSP_SEED + j for j in range(24)}
    member_seeds = {pop["seed"] + i for i in range(len(pop["population"]["members"]))}
    assert not member_seeds & agent_seeds
    assert pop.get("init_from") is None
    assert all("init_from" not in m for m in pop["population"]["members"])
    assert [m["env_config"]["reward_weights"] for m in pop["population"]["members"]] == weights
    sp = base_config(ctx, "sp", 0, 800)
    assert sp.get("init_from") is None and sp["env_config"]["old_dynamics"] is True


# ---- statistics ------------------------------------------------------------------------------------
def test_br_normalized_caps_at_one_and_leaves_unscored_partners_out():
    assert evaluation.br_normalized(50.0, 100.0) == pytest.approx(0.5)
    assert evaluation.br_normalized(300.0, 200.0) == 1.0
    assert evaluation.br_normalized(10.0, 0.0) is None and evaluation.br_normalized(10.0, None) is None


def test_aggregate_iqm_by_hand_and_the_ci_brackets_it():
    scores = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8], [0.9, 1.0, 0.0, 0.05]])
    agg = evaluation.aggregate({"A": scores}, reps=500, seed=0)["A"]
    middle = np.sort(scores.ravel())[3:9]  # 12 values: drop the lowest 3 and the highest 3
    assert agg["iqm"] == pytest.approx(middle.mean())
    assert agg["mean"] == pytest.approx(scores.mean())
    assert agg["ci_low"] <= agg["iqm"] <= agg["ci_high"]
    assert agg == evaluation.aggregate({"A": scores}, reps=500, seed=0)["A"]  # seeded


def test_score_matrix_is_seeds_by_partner_seats_and_drops_partners_without_a_br_score():
    cells = [
        {"method": "SP", "seed": s, "partner": p, "kind": k, "seat": seat, "br_normalized": v, "sparse_return": 1.0}
        for s in (0, 1)
        for p, k, v in (("b0@mid", "biased", 0.5), ("potter", "scripted", None))
        for seat in evaluation.SEATS
    ]
    m = evaluation.score_matrix(cells, "SP", "all", "br_normalized")
    assert m.shape == (2, 2) and np.all(m == 0.5)
    assert evaluation.score_matrix(cells, "SP", "scripted", "br_normalized") is None
    assert evaluation.score_matrix(cells, "SP", "scripted", "sparse_return").shape == (2, 2)


# ---- plan and lock ---------------------------------------------------------------------------------
def test_the_equal_budget_hsp_row_is_its_last_checkpoint_not_past_the_other_agents_steps(tmp_path):
    for iteration, steps in ((10, 1_280_000), (20, 2_560_000), (30, 3_840_000)):
        c = tmp_path / "checkpoints" / f"iter_{iteration:06d}"
        c.mkdir(parents=True)
        (c / "meta.json").write_text(json.dumps({"iteration": iteration, "env_steps": steps}))
    assert checkpoint_at(tmp_path, 3_000_000).name == "iter_000020"
    assert checkpoint_at(tmp_path, 3_840_000).name == "iter_000030"
    assert checkpoint_at(tmp_path, 1_000_000) is None


def test_faithful_plan_fits_twelve_hours_and_meets_the_issue_floors():
    s = scale.FAITHFUL
    p = scale.plan(s, ["asymmetric_advantages", "coordination_ring", "counter_circuit"], 3)
    assert p["fits_budget"] and p["estimated_hours_total"] <= 12.0
    assert p["env_steps_total"] == 3 * sum(v["env_steps"] for v in p["stages_per_layout"].values())
    assert s.eval_partners_kept >= 10 and s.sp_pool_seeds >= 8 and s.hsp_partners >= 24 and s.hsp_keep >= 12
    assert s.hsp_partner_steps >= 1_000_000 and s.hsp_agent_steps >= 10_000_000


def test_one_heavy_job_at_a_time(tmp_path):
    lock = tmp_path / "heavy.lock"
    with heavy_job_lock(lock):
        with pytest.raises(LockBusyError, match=str(os.getpid())):
            with heavy_job_lock(lock):
                pass
    with heavy_job_lock(lock):  # released
        pass


def test_cli_names_a_bad_layout_and_the_allowed_ones():
    proc = subprocess.run(
        [sys.executable, "-m", "bench.zsc", "--plan", "--layouts", "cramped_rom"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "unknown layout 'cramped_rom' (did you mean 'cramped_room'?)" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---- the pipeline ----------------------------------------------------------------------------------
def bench_cmd(tmp_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bench.zsc",
        "--scale",
        "smoke",
        "--layouts",
        "cramped_room",
        "--seeds",
        "0",
        "--work",
        str(tmp_path / "work"),
        "--lock",
        str(tmp_path / "heavy.lock"),
        "--data-dir",
        str(tmp_path / "no-human-data"),
        "--quiet",
        *extra,
    ]


@pytest.mark.slow
def test_smoke_pipeline_end_to_end(tmp_path):
    subprocess.run(bench_cmd(tmp_path), cwd=ROOT, check=True, timeout=3600)
    results = tmp_path / "work" / "results"
    data = json.loads((results / "zero_shot_coordination.json").read_text())
    assert data["scale"]["name"] == "smoke"
    layout = data["layouts"]["cramped_room"]
    stages = layout["stages"]
    assert stages["bc"]["status"] == "skipped" and "human data" in stages["bc"]["reason"]
    for name in ("eval_partners", "br", "sp", "fcp", "hsp_partners", "hsp", "evaluation"):
        assert stages[name]["status"] == "done", name
        assert stages[name]["wall_s"] > 0
    assert stages["sp"]["env_steps"] >= 2 * 800
    assert len(layout["eval_selected"]) == scale.SMOKE.eval_partners_kept
    methods = {c["method"] for c in layout["cells"]}
    assert {"SP", "FCP", "HSP", "HSP@SP-steps"} <= methods
    kept = scale.SMOKE.eval_partners_kept
    partners_per_agent = 2 * kept + len(scale.SCRIPTED_ROLES)  # no H_proxy without human data
    assert len(layout["cells"]) == len(methods) * partners_per_agent * 2
    assert all(c["br_return"] is not None for c in layout["cells"] if c["kind"] == "biased")
    for name in ("zero_shot_coordination_bars.png", "zero_shot_coordination_heatmap.png"):
        assert (results / name).stat().st_size > 0
    # independence, on disk: every evaluation partner trained from scratch on a seed no agent uses
    work = tmp_path / "work" / "cramped_room"
    agent_configs = [yaml.safe_load(p.read_text()) for p in work.glob("*_seed*/**/config.yaml")]
    agent_seeds = {c["seed"] for c in agent_configs}
    assert agent_configs and all(c.get("init_from") is None for c in agent_configs)
    for run_dir in layout["eval_selected"].values():
        assert run_dir.startswith("<work>/")  # the results name no machine's paths
        run_dir = run_dir.replace("<work>", str(tmp_path / "work"))
        cfg = yaml.safe_load((Path(run_dir) / "config.yaml").read_text())
        assert cfg.get("init_from") is None and cfg["seed"] >= partners.EVAL_SEED_BASE
        assert cfg["seed"] not in agent_seeds
        assert not any(str(run_dir) in json.dumps(c) for c in agent_configs)  # in no agent's partner pool


@pytest.mark.slow
def test_a_killed_stage_resumes_where_it_stopped(tmp_path):
    """SIGKILL the eval-partner population after its first member; the rerun keeps that member."""
    proc = subprocess.Popen(bench_cmd(tmp_path, "--stages", "eval_partners"), cwd=ROOT, start_new_session=True)
    first = tmp_path / "work" / "cramped_room" / "eval_partners" / member_dir_name(0)
    try:
        deadline = time.time() + 900
        while time.time() < deadline and not (first / "checkpoints").is_dir():
            time.sleep(1)
        while time.time() < deadline and len(list((first / "checkpoints").glob("iter_*"))) < 2:
            time.sleep(0.5)
        assert proc.poll() is None, "the stage finished before it could be killed; nothing to resume"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    rows_before = (first / "metrics.jsonl").read_text()
    state = json.loads((tmp_path / "work" / "cramped_room" / "state.json").read_text())
    assert not state["jobs"].get("eval_partners", {}).get("done")
    subprocess.run(bench_cmd(tmp_path, "--stages", "eval_partners"), cwd=ROOT, check=True, timeout=1800)
    state = json.loads((tmp_path / "work" / "cramped_room" / "state.json").read_text())
    assert state["jobs"]["eval_partners"]["done"]
    assert (first / "metrics.jsonl").read_text() == rows_before  # the killed stage's finished member: kept
    population = json.loads((tmp_path / "work" / "cramped_room" / "eval_partners" / "population.json").read_text())
    assert len(population) == scale.SMOKE.eval_partners
