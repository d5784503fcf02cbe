"""``diverse-marl eval RUN --seat agent_1=llm:CONFIG``: an LLM cook beside a trained MAPPO cook.

A tiny MAPPO run on cramped_room (one iteration; real RLlib on a local Ray), the example config
``examples/llm/overcooked.yaml`` pointed at the loopback chat server, the CLI end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from llm_server import ChatServer, Reply, chat_server  # noqa: F401 - chat_server is a fixture

import diverse_marl
from diverse_marl.cli import EXIT_USER_ERROR, main
from diverse_marl.run_dir import latest_evaluation

ROOT = Path(__file__).resolve().parents[1]
HORIZON = 12


@pytest.fixture(scope="module")
def mappo_run(ray_local, tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    result = diverse_marl.train(
        "examples/overcooked/mappo_cramped_room.yaml",  # one MAPPO run (examples/demo.yaml is a population)
        overrides=[
            "stop.iterations=1",
            "stop.env_steps=null",
            f"runs_dir={root}",
            "training.num_envs_per_env_runner=4",
            "training.train_batch_size=800",
            f"env_config.horizon={HORIZON}",
        ],
        quiet=True,
    )
    return result.run_dir


def example_pointing_at(server: ChatServer, tmp_path: Path, **changes) -> Path:
    cfg = yaml.safe_load((ROOT / "examples" / "llm" / "overcooked.yaml").read_text())
    cfg["llm"].update({"base_url": server.url, "cache_dir": str(tmp_path / "cache"), **changes})
    path = tmp_path / "llm.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_eval_with_an_llm_seat_writes_agent_metrics(mappo_run, chat_server, tmp_path, capsys):
    chat_server.script('{"action": "interact"}', "no idea", *['{"action": "north"}'] * 100)
    config = example_pointing_at(chat_server, tmp_path)
    assert main(["eval", str(mappo_run), "--episodes", "2", "--quiet", "--seat", f"agent_1=llm:{config}"]) == 0
    out = capsys.readouterr().out
    assert "agent_1 (qwen2.5:7b-instruct" in out and "requests" in out and "fallbacks" in out
    first = latest_evaluation(mappo_run)
    report = json.loads(first.read_text())
    assert report["seats"]["agent_1"] == f"llm:{config}" and report["length_mean"] == HORIZON
    m = report["agent_metrics"]["agent_1"]
    assert m["decisions"] == 2 * HORIZON and m["requests"] == len(chat_server.requests) > 0
    assert m["fallback_reasons"] == {"unparseable": 1} and m["latency_s"]["p99"] >= m["latency_s"]["p50"] > 0
    assert "agent_0" not in report["agent_metrics"]  # the MAPPO seat reports no LLM metrics
    sent = len(chat_server.requests)
    # a re-run with the same seed reads every reply from the cache: no request, same returns
    assert main(["eval", str(mappo_run), "--episodes", "2", "--quiet", "--seat", f"agent_1=llm:{config}"]) == 0
    second = latest_evaluation(mappo_run)
    assert second != first and first.exists()  # the first evaluation is kept
    again = json.loads(second.read_text())
    assert len(chat_server.requests) == sent and again["agent_metrics"]["agent_1"]["requests"] == 0
    assert again["return_mean"] == report["return_mean"] and again["stats_mean"] == report["stats_mean"]


def test_eval_llm_seat_errors_are_one_line(mappo_run, chat_server, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"llm: {{base_url: {chat_server.url}, model: m, max_token: 5}}\n")
    assert (
        main(["eval", str(mappo_run), "--episodes", "1", "--quiet", "--seat", f"agent_1=llm:{bad}"]) == EXIT_USER_ERROR
    )
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "unknown llm config key 'max_token' (did you mean 'max_tokens'?)" in err
    chat_server.responder = lambda body: Reply(status=404)
    config = example_pointing_at(chat_server, tmp_path, cache_dir=None)
    assert (
        main(["eval", str(mappo_run), "--episodes", "1", "--quiet", "--seat", f"agent_1=llm:{config}"])
        == EXIT_USER_ERROR
    )
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "refused the request" in err and "404" in err


def test_crossplay_cli_adds_the_personas_of_an_llm_config(mappo_run, chat_server, tmp_path, capsys):
    config = example_pointing_at(chat_server, tmp_path)
    out = tmp_path / "xp"
    code = main(["crossplay", str(mappo_run), f"llm:{config}", "--episodes", "1", "--quiet", "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "onion_fetcher: " in printed.out and " requests, " in printed.out
    result = json.loads((out / "crossplay.json").read_text())
    assert result["names"][1:] == ["onion_fetcher", "server", "neutral"] and len(result["value_mean"]) == 4
    assert set(result["player_metrics"]) == {"onion_fetcher", "server", "neutral"}
    # each persona plays 7 seats of 1-episode games: 3 pairs with the others each way + both seats of self-play
    assert all(m["decisions"] == 8 * HORIZON for m in result["player_metrics"].values())
    assert (out / "crossplay.png").stat().st_size > 0
    assert main(["crossplay", f"llm:{config}", "--quiet"]) == EXIT_USER_ERROR
    assert "needs at least one run directory" in capsys.readouterr().err
