"""LLM agents against a real chat-completions server on 127.0.0.1 (tests/llm_server.py); no Ray.

Every request goes over HTTP through the official openai client to the loopback server; a guard
fails the test if any socket connects anywhere else.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from llm_server import ChatServer, Reply, chat_server, last_user_text  # noqa: F401 - chat_server is a fixture
from test_crossplay import AlwaysAgent  # a fixed-action partner

from diverse_marl.crossplay import crossplay_matrix, seat_player
from diverse_marl.envs.hide_and_seek import HideAndSeekEnv
from diverse_marl.envs.hide_and_seek.config import ACTION_NAMES as HS_ACTIONS
from diverse_marl.envs.hide_and_seek.text import scene_of_env, visible_cells
from diverse_marl.envs.overcooked import OvercookedEnv
from diverse_marl.envs.overcooked.core import ACTION_NAMES
from diverse_marl.errors import ConfigError
from diverse_marl.llm import LLMAgent, LLMError, load_llm_config, persona_population
from diverse_marl.llm.parse import parse_action
from diverse_marl.rollout import play_batched, run_episode

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "llm" / "overcooked.yaml"
# cook 0 in cramped_room: to the onion dispenser, take an onion, put it in the pot
ONION_TO_POT = ["north", "west", "interact", "east", "north", "interact", "stay", "south"]
STAY = ACTION_NAMES.index("stay")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Fail on any connection to an address other than the loopback interface."""
    real_connect = socket.socket.connect
    outside: list = []

    def guarded(sock, address):
        host = address[0] if isinstance(address, tuple) else address
        if sock.family in (socket.AF_INET, socket.AF_INET6) and host not in LOOPBACK:
            outside.append(address)  # recorded too: the agent turns a failed request into a fallback
            raise ConnectionRefusedError(f"test tried to contact {address!r}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield
    assert not outside, f"contacted outside addresses: {outside}"


def llm(server: ChatServer, **settings) -> LLMAgent:
    return LLMAgent({"base_url": server.url, "model": "loopback", "backoff_s": 0.01, **settings})


def seen_texts(server: ChatServer) -> list[str]:
    return [last_user_text(body) for body in server.requests]


# ---- config and parsing ---------------------------------------------------------------------------
def test_config_from_example_yaml_and_errors(tmp_path):
    cfg = load_llm_config(EXAMPLE)
    assert cfg.model and cfg.base_url.startswith("http") and cfg.concurrency == 4
    assert set(cfg.extra["personas"]) == {"onion_fetcher", "server", "neutral"}
    with pytest.raises(ConfigError, match="did you mean 'temperature'"):
        load_llm_config({"base_url": "http://127.0.0.1:1/v1", "model": "m", "temprature": 0.5})
    with pytest.raises(ConfigError, match="needs base_url"):
        load_llm_config({"model": "m"})
    with pytest.raises(ConfigError, match=r"unknown field \{obs\}"):
        load_llm_config({"base_url": "http://127.0.0.1:1/v1", "model": "m", "prompt_template": "{obs}"})
    with pytest.raises(ConfigError, match="concurrency must be an integer >= 1"):
        load_llm_config({"base_url": "http://127.0.0.1:1/v1", "model": "m", "concurrency": 0})
    hns = load_llm_config(ROOT / "examples" / "llm" / "hide_and_seek.yaml")
    assert hns.fallback_action == "noop" and len(hns.extra["personas"]) == 3
    bad = tmp_path / "bad.yaml"
    bad.write_text("llm: [1, 2]\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_llm_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        seat_player("llm:" + str(tmp_path / "missing.yaml"), "agent_1", 6)


def test_parse_json_first_then_lenient():
    names = ACTION_NAMES
    assert parse_action('{"action": "East"}', names) == (2, "json")
    assert parse_action('Sure!\n```json\n{"action": 5}\n```', names) == (5, "json")
    assert parse_action("My action: interact, because the pot is near.", names) == (5, "lenient")
    assert parse_action("Go north.", names) == (0, "lenient")
    assert parse_action("north or south?", names) is None  # ambiguous
    assert parse_action('{"action": "fly"}', names) is None
    assert parse_action("", names) is None
    assert parse_action('{"Action": "move-w"}', HS_ACTIONS) == (4, "json")
    assert parse_action("I will move n now", HS_ACTIONS) == (1, "lenient")


# ---- text views ----------------------------------------------------------------------------------
def test_overcooked_text_view_names_state_and_actions():
    env = OvercookedEnv(horizon=8)
    env.reset()
    for name in ONION_TO_POT[:3]:
        env.step({"agent_0": ACTION_NAMES.index(name), "agent_1": STAY})
    view = env.text_observation("agent_0")
    assert view.actions == ACTION_NAMES and view.step == 3 and view.horizon == 8
    assert "You (cook 0): at (1, 1), facing west, holding an onion" in view.text
    assert "Pot at (2, 0): empty." in view.text
    assert "5 steps left" in view.text and "interact (" in view.text
    partner = env.text_observation("agent_1").text
    assert "Partner (cook 0)" in partner and "holding an onion" in partner
    with pytest.raises(ConfigError, match="unknown agent"):
        env.text_observation("agent_7")


def test_hide_and_seek_text_view_shows_only_what_the_agent_sees():
    env = HideAndSeekEnv(size=12)
    env.reset(seed=1)
    for _ in range(3):
        env.step({a: 3 for a in env.possible_agents})
    scene = scene_of_env(env)
    for i, agent in enumerate(env.possible_agents):
        seen = visible_cells(scene, env.cfg, i)
        assert (seen == [[env.sees(i, (r, c)) for c in range(env.cols)] for r in range(env.rows)]).all()
        text = env.text_observation(agent).text
        for j, other in enumerate(env.possible_agents):
            if j != i:
                assert (f"{other} (" in text) == bool(seen[env.pos[j]]), (agent, other)
    assert "steps until seekers may move" in text and "grab (" in text


# ---- play -----------------------------------------------------------------------------------------
def test_batched_episode_plays_exactly_the_servers_actions(chat_server):
    chat_server.script(*(json.dumps({"action": a}) for a in ONION_TO_POT))
    agent = llm(chat_server)
    episodes = play_batched(
        "overcooked", {"horizon": len(ONION_TO_POT)}, {"agent_0": agent, "agent_1": AlwaysAgent(STAY)}, 1
    )
    assert len(chat_server.requests) == len(ONION_TO_POT)
    assert episodes[0]["stats"]["agent_0/potting_onion"] == 1
    # replay the same actions by hand: the server saw exactly these states, one per step
    env = OvercookedEnv(horizon=len(ONION_TO_POT))
    env.reset()
    expected = []
    for name in ONION_TO_POT:
        expected.append(env.text_observation("agent_0").text)
        env.step({"agent_0": ACTION_NAMES.index(name), "agent_1": STAY})
    assert all(exp in got for exp, got in zip(expected, seen_texts(chat_server)))
    m = agent.metrics()
    assert m["decisions"] == m["requests"] == len(ONION_TO_POT) and m["fallbacks"] == 0
    assert m["parsed"] == {"json": len(ONION_TO_POT)} and m["prompt_tokens"] > 0 and m["completion_tokens"] > 0
    assert set(m["latency_s"]) >= {"p50", "p90", "p99"}


def test_hide_and_seek_episode_one_by_one(chat_server):
    moves = ["move_e", "move_e", "grab", "move_s", "lock", "noop"]
    chat_server.script(*(f"I pick action: {a}" for a in moves))  # free text: parsed leniently
    agent = llm(chat_server, memory_steps=2)
    env = HideAndSeekEnv(size=10, horizon=len(moves))
    others = {a: AlwaysAgent(0) for a in env.possible_agents[1:]}
    run_episode(env, {"hider_0": agent, **others}, seed=4)
    ref = HideAndSeekEnv(size=10, horizon=len(moves))
    ref.reset(seed=4)  # run_episode seeds the env with the episode seed
    texts = seen_texts(chat_server)
    assert len(texts) == len(moves)
    for k, name in enumerate(moves):
        assert ref.text_observation("hider_0").text in texts[k]
        ref.step({"hider_0": HS_ACTIONS.index(name), **{a: 0 for a in others}})
    assert "Your last steps: step 0: move_e; step 1: move_e." in texts[2]  # memory of 2 steps
    assert "step 0" not in texts[3] and "step 2: grab" in texts[3]
    assert agent.metrics()["parsed"] == {"lenient": len(moves)}


def test_retries_backoff_and_fallbacks(chat_server):
    env = OvercookedEnv(horizon=5)
    env.reset()
    view = env.text_observation("agent_0")
    agent = llm(chat_server, retries=2, timeout_s=0.3, fallback_action="interact")
    chat_server.script(Reply(status=503), Reply(status=500), '{"action": "west"}')
    assert agent.act(None, view) == ACTION_NAMES.index("west")  # two 5xx, then success
    chat_server.script(Reply(raw=b"<html>not json"), '{"action": "east"}')
    assert agent.act(None, view) == ACTION_NAMES.index("east")  # garbage body, retried
    chat_server.script(*[Reply(delay_s=1.0)] * 3)
    assert agent.act(None, view) == ACTION_NAMES.index("interact")  # 3 timeouts: fallback
    chat_server.script("I would rather not say.")
    assert agent.act(None, view) == ACTION_NAMES.index("interact")  # unparseable: fallback, no retry
    m = agent.metrics()
    assert m["errors"] == {"server_error": 2, "bad_response": 1, "timeout": 3}
    assert m["retries"] == 2 + 1 + 2 and m["requests"] == 3 + 2 + 3 + 1
    assert m["fallback_reasons"] == {"request_failed": 1, "unparseable": 1} and m["decisions"] == 4
    chat_server.script(Reply(status=401))
    with pytest.raises(LLMError, match="refused the request.*401"):
        agent.act(None, view)
    with pytest.raises(ConfigError, match="fallback_action 'jump' is not an action of this env; allowed: 0=north"):
        chat_server.script("???")
        llm(chat_server, fallback_action="jump").act(None, view)


def test_cache_makes_the_second_run_free_and_identical(chat_server, tmp_path):
    rng = np.random.default_rng(0)
    chat_server.responder = lambda body: json.dumps({"action": ACTION_NAMES[rng.integers(6)]})
    settings = {"cache_dir": str(tmp_path / "cache"), "temperature": 0.7}
    config = {"horizon": 10}

    def run():
        agent = llm(chat_server, **settings)
        eps = play_batched("overcooked", config, {"agent_0": agent, "agent_1": AlwaysAgent(STAY)}, 2)
        return eps, agent.metrics()

    first, m1 = run()
    sent = len(chat_server.requests)
    assert sent == 10 and m1["cache_hits"] == 0 and m1["deduplicated"] == 10  # 2 identical rows: one request each step
    second, m2 = run()
    assert len(chat_server.requests) == sent  # no request at all
    assert m2["requests"] == 0 and m2["cache_hits"] == 10 and m2["decisions"] == 20
    assert [e["stats"] for e in first] == [e["stats"] for e in second]
    agent = llm(
        chat_server, **{**settings, "temperature": 0.0}
    )  # a changed setting is a new key = llm(chat_server, **{**settings, "temperature": 0.0})
    play_batched("overcooked", config, {"agent_0": agent, "agent_1": AlwaysAgent(STAY)}, 1)
    assert agent.metrics()["requests"] == 10


def test_corrupt_cache_file_is_a_miss_and_is_rewritten(chat_server, tmp_path):
    env = OvercookedEnv(horizon=5)
    env.reset()
    view = env.text_observation("agent_0")
    chat_server.script('{"action": "east"}', '{"action": "west"}')
    assert llm(chat_server, cache_dir=str(tmp_path)).act(None, view) == ACTION_NAMES.index("east")
    (entry,) = tmp_path.glob("??/*.json")
    entry.write_text('{"content": ')  # torn write
    agent = llm(chat_server, cache_dir=str(tmp_path))
    assert agent.act(None, view) == ACTION_NAMES.index("west") and agent.metrics()["requests"] == 1
    assert json.loads(entry.read_text())["content"] == '{"action": "west"}'
    again = llm(chat_server, cache_dir=str(tmp_path))
    assert again.act(None, view) == ACTION_NAMES.index("west") and again.metrics()["cache_hits"] == 1


def test_parallel_episodes_stay_within_the_concurrency_limit(chat_server):
    chat_server.responder = lambda body: Reply('{"action": "stay"}', delay_s=0.05)
    agent = llm(chat_server, concurrency=3, seed=7)  # a seed per row: every row's prompt is its own request
    play_batched("overcooked", {"horizon": 3}, {"agent_0": agent, "agent_1": AlwaysAgent(STAY)}, 8)
    m = agent.metrics()
    assert len(chat_server.requests) == m["requests"] == 24
    assert chat_server.max_in_flight == 3 and m["max_in_flight"] == 3  # the limit is reached, never passed
    seeds = {body["seed"] for body in chat_server.requests}
    assert len(seeds) == 8  # distinct rows, distinct seeds


def test_personas_form_a_population_for_crossplay(chat_server):
    def persona_model(body):  # a stand-in model: the persona decides the move
        text = last_user_text(body)
        return json.dumps({"action": "east" if "go east" in text else "west" if "go west" in text else "stay"})

    chat_server.responder = persona_model
    base = {"base_url": chat_server.url, "model": "loopback"}
    pop = persona_population(base, {"easterner": "Always go east.", "westerner": "Always go west."})
    assert pop.names == ["easterner", "westerner"] and pop[0].metadata["persona"] == "Always go east."
    result = crossplay_matrix({m.name: m for m in pop}, "overcooked", {"horizon": 6}, episodes=2)
    assert np.shape(result.value_mean) == (2, 2)
    moves, bumps = np.array(result.stats_mean["agent_0/move"]), np.array(result.stats_mean["agent_0/bump"])
    # cook 0 starts at (1, 2): going east it walks, going west it bumps into the counter at once
    assert moves[0].min() >= 1 and moves[1].max() == 0 and bumps[1].min() >= 5
    with pytest.raises(ConfigError, match="needs personas"):
        persona_population(base)


def test_llm_extra_is_optional():
    code = (
        "import sys; sys.modules['openai'] = None\n"
        "import diverse_marl, diverse_marl.llm, diverse_marl.crossplay\n"
        "from diverse_marl.llm import LLMAgent\n"
        "try:\n    LLMAgent({'base_url': 'http://127.0.0.1:9/v1', 'model': 'm'})\n"
        "except Exception as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ConfigError LLM agents need the openai client: pip install diverse-marl[llm]"


def test_llm_seat_spec(chat_server, tmp_path):
    cfg = yaml.safe_load(EXAMPLE.read_text())
    cfg["llm"].update(base_url=chat_server.url, cache_dir=None)
    path = tmp_path / "llm.yaml"
    path.write_text(yaml.safe_dump(cfg))
    agent = seat_player(f"llm:{path}", "agent_1", 6, {}, seed=3)
    assert isinstance(agent, LLMAgent) and agent.config.persona.startswith("Cook together")
    episodes = play_batched("overcooked", {"horizon": 4}, {"agent_0": AlwaysAgent(STAY), "agent_1": agent}, 1)
    assert episodes[0]["length"] == 4 and len(chat_server.requests) == 4
    assert "Your strategy: Cook together" in last_user_text(chat_server.requests[0])
    with pytest.raises(ConfigError, match="no text view"):
        play_batched("stag_hunt", {"horizon": 2}, {"agent_0": agent, "agent_1": AlwaysAgent(0)}, 1)
