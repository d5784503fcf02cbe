"""``diverse-marl eval`` reports the game's own reward (Overcooked: shaping off, so the return is
the sparse delivery return, unless ``--shaping``) and keeps every evaluation: one file per
evaluation under ``RUN_DIR/evals/``, named by its seats and settings, or ``--out``; never
overwritten. The run report reads the newest."""

from __future__ import annotations

import json

import pytest

import diverse_marl
from diverse_marl.analysis.report import analyze_runs
from diverse_marl.cli import EXIT_USER_ERROR, main
from diverse_marl.evaluation import evaluate_run
from diverse_marl.run_dir import latest_evaluation

EPISODES = 6


@pytest.fixture(scope="module")
def overcooked_run(ray_local, tmp_path_factory):
    return diverse_marl.train(
        "examples/overcooked/mappo_cramped_room.yaml",
        overrides=[
            "stop.iterations=1",
            "stop.env_steps=null",
            "training.num_envs_per_env_runner=4",
            "training.train_batch_size=800",
            "env_config.horizon=200",
        ],
        run_dir=tmp_path_factory.mktemp("runs") / "cramped",
        quiet=True,
    ).run_dir


def test_eval_reports_the_sparse_return_with_shaping_off_unless_asked(overcooked_run):
    game = evaluate_run(overcooked_run, episodes=EPISODES, seats={"agent_1": "random"}, quiet=True)
    shaped = evaluate_run(overcooked_run, episodes=EPISODES, seats={"agent_1": "random"}, shaping=True, quiet=True)
    assert game["env_config"]["shaping_factor"] == 0.0 and not game["shaping"]
    assert shaped["env_config"]["shaping_factor"] == 1.0 and shaped["shaping"]  # the run's own factor
    # the game's own reward: every cook gets the team's delivery reward, nothing else
    assert game["agent_return_mean"] == {"agent_0": game["sparse_return_mean"], "agent_1": game["sparse_return_mean"]}
    # the same episodes (shaping changes rewards, not play): same events, the shaped return adds to the sparse
    assert shaped["stats_mean"] == game["stats_mean"] and shaped["sparse_return_mean"] == game["sparse_return_mean"]
    potted = sum(v for k, v in game["stats_mean"].items() if k.endswith("/potting_onion"))
    assert potted > 0  # a random cook pots an onion now and then: shaping has something to add
    assert shaped["return_mean"] >= game["return_mean"] + 3 * potted - 1e-9  # 3 to the cook per onion potted


def test_every_evaluation_is_kept_under_a_name_that_says_what_it_holds(overcooked_run):
    evals = overcooked_run / "evals"
    before = set(evals.glob("*.json")) if evals.exists() else set()
    a = evaluate_run(overcooked_run, episodes=2, seed=5, deterministic=True, quiet=True)
    b = evaluate_run(overcooked_run, episodes=2, seed=5, deterministic=True, quiet=True)  # the same again
    c = evaluate_run(overcooked_run, episodes=2, seed=5, seats={"agent_1": "random"}, quiet=True)
    d = evaluate_run(overcooked_run, episodes=2, seed=5, seats={"agent_1": str(overcooked_run)}, quiet=True)
    names = [p.split("/")[-1] for p in (a["path"], b["path"], c["path"], d["path"])]
    assert names == [
        "self-play_iter1_2ep_seed5_greedy.json",
        "self-play_iter1_2ep_seed5_greedy-2.json",
        "agent_1=random_iter1_2ep_seed5_sampled.json",
        "agent_1=cramped_iter1_2ep_seed5_sampled.json",
    ]
    assert set(evals.glob("*.json")) - before == {evals / n for n in names}
    first, second = (json.loads((evals / n).read_text()) for n in names[:2])
    assert first["return_mean"] == second["return_mean"] and first["seed"] == 5  # same seed, same numbers
    assert json.loads((evals / names[2]).read_text())["seats"]["agent_1"] == "random"
    assert latest_evaluation(overcooked_run) == evals / names[3]
    # the run report reads the newest evaluation
    report = analyze_runs([overcooked_run])[-1]
    assert f"- evaluation: 2 episodes, mean return {d['return_mean']:.2f}" in report.read_text()


def test_cli_eval_out_path_and_never_overwrites(overcooked_run, tmp_path, capsys):
    out = tmp_path / "partner_study" / "random.json"
    argv = ["eval", str(overcooked_run), "--episodes", "2", "--seat", "agent_1=random", "--out", str(out), "-q"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "mean return" in printed
    saved = json.loads(out.read_text())
    assert saved["seats"]["agent_1"] == "random" and saved["env_config"]["shaping_factor"] == 0.0
    assert main(argv) == EXIT_USER_ERROR
    assert capsys.readouterr().err.strip() == (
        f"diverse-marl eval: error: --out {out}: exists; evaluations are never overwritten, pick a new path"
    )
    assert json.loads(out.read_text()) == saved
