"""Cross-play of prompted LLM personas and MAPPO policies in Overcooked (cramped_room).

Players: three personas of ``examples/llm/overcooked.yaml`` (``onion_fetcher``, ``server``,
``neutral``), each an :class:`~diverse_marl.llm.LLMAgent`, and two MAPPO policies of one trained
run (its final checkpoint and an early one). Every ordered pair plays ``--episodes`` episodes
in one batched run (``crossplay_matrix``); the heatmap shows the sparse team return.

The "model" is a STAND-IN: no language model can be downloaded on this machine and no local
model server is installed, so the loopback chat-completions server of ``tests/llm_server.py``
answers with a small rule-based cook that reads only the prompt — the persona line and the
text observation (map, cooks, pots, counters) — rebuilds the kitchen from that text and replies
``{"action": ...}`` in JSON. Everything else is the real path: the openai client over HTTP,
batching of parallel episodes, the thread pool, parsing, the cache and the metrics. To run the
same table with a real model, pass ``--base-url`` and ``--model`` of any OpenAI-compatible server
(Ollama, llama.cpp, vLLM); the stand-in is then not started.

Rows: wall time of the cross-play with an empty cache (the reference) and again with the cache
filled by the first pass (no request sent); requests, latency percentiles and cache hits per persona.

Usage (from the repo root; ~2 min of CPU with the defaults)::

    .venv/bin/diverse-marl train examples/overcooked/mappo_cramped_room.yaml --set stop.env_steps=640000 \\
        --run-dir runs/llm_demo/mappo                                      # ~5 min on 2 cores
    .venv/bin/python -m bench.llm_crossplay --run runs/llm_demo/mappo [--episodes 2] [--horizon 200]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from functools import lru_cache  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from bench.harness import REPO_ROOT, Bench, bench_dir  # noqa: E402
from tests.llm_server import ChatServer, last_user_text  # noqa: E402 - the loopback chat server of the LLM tests

ENV = "overcooked"
EXAMPLE = REPO_ROOT / "examples" / "llm" / "overcooked.yaml"
ARROWS = {"↑": 0, "↓": 1, "→": 2, "←": 3}
CELL = 8  # render_text: cells of 7 characters joined by one space
EPSILON = 0.1  # the stand-in's random moves: they break the deadlocks of two greedy cooks in a corridor
FACING = {"north": (0, -1), "south": (0, 1), "east": (1, 0), "west": (-1, 0)}


# ---- the stand-in model: reads the prompt, answers like a model would -----------------------------
def _section(text: str, start: str, end: str) -> list[str]:
    body = text.split(start, 1)[1].split(end, 1)[0]
    return [line for line in body.split("\n") if line.strip()]


@lru_cache(maxsize=64)
def _kitchen(rows: tuple[str, ...], me: int):
    """(layout, scripted cook for player ``me``) of a terrain grid (cached: building a cook plans all paths)."""
    from diverse_marl.envs.overcooked.layouts import layout_from_grid
    from diverse_marl.envs.overcooked.scripted import ScriptedCook

    layout = layout_from_grid(list(rows))
    return layout, ScriptedCook(layout, me, epsilon=0.0, seed=0)


def _item_dict(words: str, position: tuple[int, int]) -> dict | None:
    if words.startswith("nothing"):
        return None
    if "soup" in words:
        onions = int(re.search(r"(\d+) onion", words).group(1))
        tick = -1
        if "ready" in words:
            tick = 10**3
        elif m := re.search(r"cooking (\d+)/", words):
            tick = int(m.group(1))
        return {"name": "soup", "position": position, "_ingredients": ["onion"] * onions, "cooking_tick": tick}
    name = next(n for n in ("onion", "tomato", "dish") if n in words)
    return {"name": name, "position": position}


def read_prompt(text: str):
    """(layout, BatchState, my cook index, persona) rebuilt from the prompt text alone."""
    from diverse_marl.envs.overcooked.core import BatchState
    from diverse_marl.envs.overcooked.state_dict import state_from_dict

    me = int(re.search(r"You are cook (\d)", text).group(1))
    grid = _section(text, "Kitchen map (row 0 at the top):\n", "Map legend")
    width = max(-(-len(line) // CELL) for line in grid)
    rows = []
    for line in grid:
        cells = [line[k * CELL : k * CELL + 7].strip() for k in range(width)]
        row = ""
        for cell in cells:
            if cell and cell[0] in ARROWS:
                row += str(int(cell[1]) + 1)  # player symbols 1, 2
            else:
                row += cell[0] if cell else " "
        rows.append(row)
    layout, cook = _kitchen(tuple(rows), me)
    players = [None, None]
    for m in re.finditer(r"\(cook (\d)\): at \((\d+), (\d+)\), facing (\w+), holding (.*?), facing ", text):
        p, x, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        players[p] = {
            "position": (x, y),
            "orientation": FACING[m.group(4)],
            "held_object": _item_dict(m.group(5), (x, y)),
        }
    objects = []
    for m in re.finditer(r"Pot at \((\d+), (\d+)\): (.*)\.", text):
        pos = (int(m.group(1)), int(m.group(2)))
        if m.group(3) != "empty":
            objects.append(_item_dict(m.group(3), pos))
    counters = re.search(r"On counters: (.*)\.", text)
    for part in counters.group(1).split("; ") if counters else []:
        m = re.match(r"(.*) at \((\d+), (\d+)\)", part)
        objects.append(_item_dict(m.group(1), (int(m.group(2)), int(m.group(3)))))
    step = int(re.search(r"Time: step (\d+)", text).group(1))
    state = BatchState.initial(layout, 1)
    state_from_dict(layout, {"players": players, "objects": objects, "timestep": step}, state, 0)
    persona = (re.search(r"Your strategy: (.*)", text) or [None, ""])[1].lower()
    return layout, cook, state, me, persona


def persona_action(text: str) -> str:
    """The stand-in's decision: the persona restricts which jobs the scripted cook takes."""
    from diverse_marl.envs.overcooked.core import ACTION_NAMES, ACTION_STAY, DISH, NOTHING, ONION, SOUP
    from diverse_marl.envs.overcooked.layouts import DISH_DISPENSER, ONION_DISPENSER, POT, SERVING

    layout, cook, s, me, persona = read_prompt(text)
    # like sampling at a temperature, but a function of the prompt: a cached reply is the reply
    rng = np.random.default_rng(int(hashlib.sha256(text.encode()).hexdigest()[:12], 16))
    if rng.random() < EPSILON:
        return ACTION_NAMES[int(rng.integers(len(ACTION_NAMES)))]
    cook.rng = rng
    if "only fetch onions" not in persona and "only handle dishes" not in persona:
        return ACTION_NAMES[cook.act(s, 0)]  # neutral: the whole job
    here, other = (cook.index[tuple(int(v) for v in s.pos[0, p])] for p in (me, 1 - me))
    ori, held = int(s.ori[0, me]), int(s.held[0, me])
    pots = cook.cells[POT]
    soups = {
        c: (int(s.soup_onions[0, c[1], c[0]]), int(s.soup_tick[0, c[1], c[0]]))
        for c in pots
        if s.obj[0, c[1], c[0]] == SOUP
    }
    full_idle = [c for c, (n, tick) in soups.items() if n == 3 and tick < 0]
    started = [c for c, (_, tick) in soups.items() if tick >= 0]
    ready = [c for c, (_, tick) in soups.items() if tick >= layout.recipe_time[3, 0]]
    fillable = [c for c in pots if c not in soups or (soups[c][0] < 3 and soups[c][1] < 0)]

    def go(*targets):  # towards / interacting with the closest cell of the first reachable target list
        for cells in targets:
            action = cook._go(here, other, ori, cells) if cells else None
            if action is not None:
                return action
        return None

    action = None
    if "only fetch onions" in persona:
        if held == ONION:
            action = go(fillable)
        elif held == NOTHING:  # with no pot to fill, fetch the next onion anyway (and free the pot's side)
            action = go(full_idle, cook.cells[ONION_DISPENSER])
    elif held == SOUP:  # server
        action = go(cook.cells[SERVING])
    elif held == DISH:
        action = go(ready, started)
    elif held == NOTHING:
        action = go(full_idle, cook.cells[DISH_DISPENSER] if started else [])
    return ACTION_NAMES[ACTION_STAY if action is None else int(action)]


def stand_in_model(body: dict) -> str:
    return json.dumps({"action": persona_action(last_user_text(body))})


# ---- the benchmark ----------------------------------------------------------------------------------
DESCRIPTOR_EVENTS = (
    "onion_pickup_dispenser",
    "potting_onion",
    "dish_pickup_dispenser",
    "soup_pickup_pot",
    "soup_delivery",
)
CLUSTERS = 3


def persona_clusters(result) -> tuple[np.ndarray, np.ndarray]:
    """Each player's mean event counts over both seats and all partners, and agglomerative clusters of them."""
    from sklearn.cluster import AgglomerativeClustering

    n = len(result.names)
    rows = []
    for i in range(n):
        rows.append(
            [
                np.mean(
                    [result.stats_mean[f"agent_0/{e}"][i][j] for j in range(n)]
                    + [result.stats_mean[f"agent_1/{e}"][j][i] for j in range(n)]
                )
                for e in DESCRIPTOR_EVENTS
            ]
        )
    x = np.asarray(rows)
    scaled = x / np.maximum(x.max(axis=0), 1e-9)
    labels = AgglomerativeClustering(n_clusters=min(CLUSTERS, n)).fit_predict(scaled)
    return x, labels


def early_checkpoint(run: Path, fraction: float) -> Path:
    checkpoints = sorted((run / "checkpoints").glob("iter_*"), key=lambda p: int(p.name.split("_")[-1]))
    if not checkpoints:
        raise SystemExit(f"{run} has no checkpoints; train it first (see the usage above)")
    return checkpoints[max(0, int(len(checkpoints) * fraction) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--run",
        type=Path,
        default=REPO_ROOT / "runs" / "llm_demo" / "mappo",
        help="a trained MAPPO run on cramped_room",
    )
    parser.add_argument("--early", type=float, default=0.4, help="the early policy's checkpoint, as a fraction")
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--horizon", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--base-url", help="a real OpenAI-compatible server instead of the stand-in")
    parser.add_argument("--model", default="rule-based-stand-in")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from diverse_marl.analysis.crossplay_plot import plot_crossplay
    from diverse_marl.crossplay import crossplay_matrix
    from diverse_marl.llm import load_llm_config, persona_population

    server = None if args.base_url else ChatServer(stand_in_model).start()
    base_url = args.base_url or server.url
    cache = Path(tempfile.mkdtemp(prefix="llm_cache_", dir=REPO_ROOT / "runs"))
    env_config = {"layout": "cramped_room", "horizon": args.horizon}
    early = early_checkpoint(args.run, args.early)
    load_before = os.getloadavg()
    bench = Bench("llm_crossplay")
    passes = []
    for label in ("cold cache", "warm cache"):
        base = load_llm_config(
            EXAMPLE, base_url=base_url, model=args.model, concurrency=args.concurrency, cache_dir=str(cache)
        )
        pop = persona_population(base)  # the example's personas: block
        policies = {m.name: m for m in pop}
        policies["mappo"] = args.run
        policies[f"mappo_{early.name}"] = early
        start, cpu = time.perf_counter(), time.process_time()
        result = crossplay_matrix(policies, ENV, env_config, episodes=args.episodes, seed=args.seed, quiet=False)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        metrics = {m.name: m.policy().metrics() for m in pop}
        for m in pop:
            m.policy().close()
        passes.append((label, wall, cpu, result, metrics))
    shutil.rmtree(cache, ignore_errors=True)
    if server is not None:
        server.stop()
    load_after = os.getloadavg()

    (_, wall0, cpu0, result, metrics0), (_, wall1, cpu1, result1, metrics1) = passes
    same = np.allclose(result.value_mean, result1.value_mean)
    bench.add(
        "cross-play, cold cache",
        wall0,
        "s",
        higher_is_better=False,
        cpu_s=cpu0,
        requests=sum(m["requests"] for m in metrics0.values()),
    )
    bench.add(
        "cross-play, warm cache",
        wall1,
        "s",
        ref="cross-play, cold cache",
        higher_is_better=False,
        cpu_s=cpu1,
        requests=sum(m["requests"] for m in metrics1.values()),
        note=f"same matrix: {same}",
    )
    for name, m in metrics0.items():
        lat = m["latency_s"]
        bench.add(
            f"{name}: requests",
            m["requests"],
            "requests",
            note=(
                f"decisions {m['decisions']}, dedup {m['deduplicated']}, fallbacks {m['fallbacks']}, "
                f"p50 {lat['p50'] * 1e3:.1f} ms, p90 {lat['p90'] * 1e3:.1f} ms, p99 {lat['p99'] * 1e3:.1f} ms, "
                f"tokens {m['prompt_tokens']}+{m['completion_tokens']}, warm-cache hits {metrics1[name]['cache_hits']}"
            ),
            metrics=m,
            warm_cache_metrics=metrics1[name],
        )
    bench.meta = {
        "env": ENV,
        "env_config": env_config,
        "episodes": args.episodes,
        "seed": args.seed,
        "run": str(args.run.relative_to(REPO_ROOT) if args.run.is_relative_to(REPO_ROOT) else args.run),
        "early_checkpoint": early.name,
        "model": args.model,
        "stand_in_model": server is not None,
        "concurrency": args.concurrency,
        "load_avg_before": load_before,
        "load_avg_after": load_after,
        "crossplay": result.to_dict(),
    }
    width = max(len(n) for n in result.names)
    print(
        f"cross-play {result.metric} (rows: agent_0, columns: agent_1), {args.episodes} episodes per cell, "
        f"horizon {args.horizon}"
    )
    print(" " * (width + 2) + "  ".join(f"{n[:10]:>10}" for n in result.names))
    for name, row in zip(result.names, result.value_mean):
        print(f"  {name:<{width}}" + "  ".join(f"{v:10.1f}" for v in row))
    descriptors, labels = persona_clusters(result)
    print("behaviour per player (events per episode, both seats, all partners) and clusters:")
    print(f"  {'':<{width}}" + "".join(f"{e:>24}" for e in DESCRIPTOR_EVENTS) + "  cluster")
    for name, row, label in zip(result.names, descriptors, labels):
        print(f"  {name:<{width}}" + "".join(f"{v:24.2f}" for v in row) + f"  {label}")
    bench.meta.update(
        descriptor_events=list(DESCRIPTOR_EVENTS),
        descriptors=descriptors.tolist(),
        clusters=dict(zip(result.names, map(int, labels))),
    )
    print(f"load average before {load_before}, after {load_after}")
    bench.report()
    title = plot_title(server is not None, args.model)
    plot_crossplay(result, bench_dir("llm_crossplay") / "llm_crossplay.png", title=title)


def plot_title(stand_in: bool, model: str) -> str:
    return f"cramped_room: LLM personas ({'stand-in model' if stand_in else model}) x MAPPO"


if __name__ == "__main__":
    main()
