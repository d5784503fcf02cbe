"""Playing episodes, one format for all: ``run_episode`` (one env) and ``play_rows`` (batched).

An episode is reported as ``{"returns": {agent: original return}, "length": steps,
"stats": {name: episode total}, "sparse_return": team sparse return (if the env reports one)}``.
The *original* return sums the env's own reward (``original_reward`` in infos when the env
reports it, i.e. when ``reward_weights`` replaced the reward; else the reward itself), so
evaluation always scores the game, not the training reward.

``play_rows`` plays many episodes side by side in the env's batched class
(``diverse_marl.envs.batched.make_batched``): row ``r`` is one episode, with its own seating
(which player sits in which agent seat). Each player acts once per step for all rows and seats
it fills (one forward pass per policy per step), so N x N cross-play costs N forward passes a step.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from diverse_marl.agents import MASK_KEY, Agent, BatchActor, TextObservation, reads_text, wants_state
from diverse_marl.envs.batched import derive_seed, make_batched
from diverse_marl.episode_info import episode_stats, team_sparse_reward
from diverse_marl.errors import ConfigError
from diverse_marl.metrics import (
    LAYOUT_START_SPARSE_RETURN,
    ORIGINAL_RETURN,
    SPARSE_RETURN,
    SPARSE_RETURN_MEAN,
    SPARSE_RETURN_STD,
)
from diverse_marl.progress import Progress

DEFAULT_MAX_ROWS = 4096  # rows (episodes) stepped together; bounds memory per chunk
DEFAULT_MAX_STEPS = 100_000  # a batch whose episodes never end is an error, not a hang
PLAYER_SEED_OFFSET = 1 << 20  # player seeds are derived apart from the env copies' seeds
TEXT_PROGRESS_EVERY = 10  # steps between progress notes when agents that read text (LLMs) play
# per-step policy inference on a few rows is latency-bound: more torch threads only add
# synchronization (10x slower on a busy 2-core machine), so play caps them, then restores them
INFERENCE_TORCH_THREADS = 1
# Recorder(first_row, states, actions, original_rewards, infos, live): called after every batched step with
# the global states the step started from ({agent: (n, ...)}), the actions and original rewards
# ({agent: (n,)}), the step's infos and which rows were still in their episode; ``first_row`` is the
# chunk's first row in play_rows' numbering (see diverse_marl.analysis.rollouts).
Recorder = Callable[..., None]
# per-row totals of batched envs' infos["episode"] already reported outside "stats" (as are "return/<agent>")
RETURN_STATS = ("length", SPARSE_RETURN, ORIGINAL_RETURN, LAYOUT_START_SPARSE_RETURN)
OBS_KEY = "obs"  # the observation's key beside MASK_KEY in masked batches (as in MAPPO's observation dicts)


def run_episode(
    env: Any, agents: Mapping[str, Agent], seed: int | None = None, frames: list | None = None
) -> dict[str, Any]:
    """Play one episode of a PettingZoo ParallelEnv, agent by agent (the unbatched reference)."""
    obs, _ = env.reset(seed=seed)
    for i, agent in enumerate(agents.values()):
        agent.reset(None if seed is None else seed * 1000 + i)
    returns = {a: 0.0 for a in env.possible_agents}
    sparse, length, stats = None, 0, {}
    if frames is not None:
        frames.append(env.render())
    view = text_view(env) if any(reads_text(p) for p in agents.values()) else None
    while env.agents:
        inputs = {a: env.state(a) if wants_state(agents[a]) else obs[a] for a in env.agents}
        actions = {
            a: agents[a].act(inputs[a], view(a, 0)) if reads_text(agents[a]) else agents[a].act(inputs[a])
            for a in env.agents
        }
        obs, rewards, terms, truncs, infos = env.step(actions)
        length += 1
        for a, r in rewards.items():
            info = infos.get(a)
            returns[a] += float(
                info["original_reward"] if isinstance(info, Mapping) and "original_reward" in info else r
            )
        step_sparse = team_sparse_reward(infos)
        if step_sparse is not None:
            sparse = (sparse or 0.0) + step_sparse
        stats.update(episode_stats(infos))
        if frames is not None:
            frames.append(env.render())
    out = {"returns": returns, "length": length, "stats": stats}
    if sparse is not None:
        out[SPARSE_RETURN] = sparse
    return out


def summarize_episodes(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    """Means (and stds of the team return) over episodes in the format above."""
    if not episodes:
        raise ConfigError("no episodes to summarize; episodes must be >= 1")
    team = [sum(e["returns"].values()) for e in episodes]
    report: dict[str, Any] = {
        "episodes": len(episodes),
        "return_mean": float(np.mean(team)),
        "return_std": float(np.std(team)),
        "length_mean": float(np.mean([e["length"] for e in episodes])),
        "agent_return_mean": {a: float(np.mean([e["returns"][a] for e in episodes])) for a in episodes[0]["returns"]},
    }
    if all(SPARSE_RETURN in e for e in episodes):
        sp = [e[SPARSE_RETURN] for e in episodes]
        report[SPARSE_RETURN_MEAN] = float(np.mean(sp))
        report[SPARSE_RETURN_STD] = float(np.std(sp))
    keys = sorted({k for e in episodes for k in e["stats"]})
    report["stats_mean"] = {k: float(np.mean([e["stats"].get(k, 0.0) for e in episodes])) for k in keys}
    return report


def play_rows(
    env_name: str,
    env_config: Mapping[str, Any] | None,
    players: Sequence[Any],
    rows: Sequence[Mapping[str, int]],
    seed: int = 0,
    deterministic: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
    max_steps: int = DEFAULT_MAX_STEPS,
    quiet: bool = True,
    recorder: Recorder | None = None,
) -> list[dict[str, Any]]:
    """Play one episode per row; ``rows[r] = {agent: index into players}`` seats every agent.

    ``players`` are torch policies (``p(obs_batch, deterministic) -> (B,)``) or Agents. Rows are
    played in chunks of at most ``max_rows``; chunk ``c`` resets its batched env with seed
    ``derive_seed(seed, c)`` (copy ``i`` then follows the env's own per-copy rule) and seeds
    player ``k`` with ``derive_seed(derive_seed(seed, c), PLAYER_SEED_OFFSET + k)``: same
    arguments, same episodes. Returns episodes in row order, each with its ``"seats"``.
    Players with ``view = "state"`` (:func:`~diverse_marl.agents.wants_state`) get the env's global
    state instead of observations. ``recorder``, if given, sees every step (see :data:`Recorder`).
    """
    if not rows:
        raise ConfigError("no episodes to play; episodes must be >= 1")
    if max_rows < 1:
        raise ConfigError(f"max_rows must be >= 1, got {max_rows}")
    actors = [BatchActor(p, deterministic) for p in players]
    n_chunks = math.ceil(len(rows) / max_rows)
    bounds = np.linspace(0, len(rows), n_chunks + 1).round().astype(int)  # even chunks
    out: list[dict[str, Any]] = []
    with _inference_threads(), Progress(total=len(rows), desc=f"play {env_name}", unit="ep", quiet=quiet) as bar:
        for c in range(n_chunks):
            chunk = rows[bounds[c] : bounds[c + 1]]
            chunk_recorder = None if recorder is None else (lambda *step, start=int(bounds[c]): recorder(start, *step))  # noqa: E731
            out += _play_chunk(
                env_name, dict(env_config or {}), actors, chunk, derive_seed(seed, c), max_steps, bar, chunk_recorder
            )
    return out


@contextlib.contextmanager
def _inference_threads():
    """Cap torch's intra-op threads while playing (only if a policy already imported torch)."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else 0
    if before > INFERENCE_TORCH_THREADS:
        torch.set_num_threads(INFERENCE_TORCH_THREADS)
    try:
        yield
    finally:
        if before > INFERENCE_TORCH_THREADS:
            torch.set_num_threads(before)


def play_batched(
    env_name: str,
    env_config: Mapping[str, Any] | None,
    seat_policies: Mapping[str, Any],
    episodes: int,
    seed: int = 0,
    deterministic: bool = False,
    max_rows: int = DEFAULT_MAX_ROWS,
    quiet: bool = True,
    recorder: Recorder | None = None,
) -> list[dict[str, Any]]:
    """Play ``episodes`` episodes with a fixed seating ``{agent: policy or Agent}`` (see ``play_rows``).

    The same object in several seats acts once per step for all of them.
    """
    if episodes < 1:
        raise ConfigError(f"episodes must be >= 1, got {episodes}")
    players: list[Any] = []
    seating: dict[str, int] = {}
    for agent, player in seat_policies.items():
        k = next((i for i, p in enumerate(players) if p is player), None)
        if k is None:
            players.append(player)
            k = len(players) - 1
        seating[agent] = k
    return play_rows(
        env_name,
        env_config,
        players,
        [seating] * episodes,
        seed,
        deterministic,
        max_rows,
        quiet=quiet,
        recorder=recorder,
    )


def _play_chunk(
    env_name: str,
    env_config: dict[str, Any],
    actors: list[BatchActor],
    rows: Sequence[Mapping[str, int]],
    seed: int,
    max_steps: int,
    bar: Progress,
    recorder: Callable[..., None] | None = None,
) -> list[dict[str, Any]]:
    n = len(rows)
    env = make_batched(env_name, n, **env_config)
    try:
        returns, sparse, lengths, stats = _step_until_done(env, actors, rows, seed, max_steps, bar, recorder)
    finally:
        if callable(getattr(env, "close", None)):  # the batched protocol does not require close()
            env.close()
    agents = list(returns)
    episodes = []
    for r in range(n):
        ep: dict[str, Any] = {
            "returns": {a: float(returns[a][r]) for a in agents},
            "length": int(lengths[r]),
            "stats": stats[r],
            "seats": dict(rows[r]),
        }
        if sparse is not None:
            ep[SPARSE_RETURN] = float(sparse[r])
        episodes.append(ep)
    return episodes


def _step_until_done(
    env: Any,
    actors: list[BatchActor],
    rows: Sequence[Mapping[str, int]],
    seed: int,
    max_steps: int,
    bar: Progress,
    recorder: Callable[..., None] | None = None,
):
    """Step all rows until each has finished one episode -> (returns, sparse or None, lengths, stats)."""
    n = len(rows)
    agents = list(env.possible_agents)
    seating = _seating(rows, agents, len(actors))
    view = text_view(env) if any(actors[k].reads_text for k in seating) else None
    obs, infos = env.reset(seed=seed)
    obs = _with_masks(obs, infos)
    for k in seating:
        actors[k].start(derive_seed(seed, PLAYER_SEED_OFFSET + k))
    returns = {a: np.zeros(n) for a in agents}
    sparse = np.zeros(n)
    has_sparse = False
    lengths = np.zeros(n, dtype=np.int64)
    finished = np.zeros(n, dtype=bool)
    stats: list[dict[str, float]] = [{} for _ in range(n)]
    need_state = recorder is not None or any(actors[k].wants_state for k in seating)
    for t in range(max_steps):
        if view is not None and t % TEXT_PROGRESS_EVERY == 0:  # LLM play is slow: show the step, not only episodes
            bar.note(step=t)
        states = env.state() if need_state else None
        actions = {a: np.zeros(n, dtype=np.int64) for a in agents}
        for k, seats in seating.items():
            source = states if actors[k].wants_state else obs
            batch = _concat([_take(source[a], idx) for a, idx in seats])
            texts = None
            if view is not None and actors[k].reads_text:  # rows already finished need no decision
                texts = [None if finished[r] else view(a, int(r)) for a, idx in seats for r in idx]
            acts = actors[k].act(batch, texts)
            start = 0
            for a, idx in seats:
                actions[a][idx] = acts[start : start + len(idx)]
                start += len(idx)
        obs, rewards, terms, truncs, infos = env.step(actions)
        obs = _with_masks(obs, infos)
        live = ~finished
        original = infos.get("original_reward", rewards)
        for a in agents:
            returns[a][live] += np.asarray(original[a], dtype=np.float64)[live]
        if recorder is not None:
            recorder(states, actions, original, infos, live)
        if "sparse_reward" in infos:
            has_sparse = True
            sparse[live] += np.asarray(infos["sparse_reward"], dtype=np.float64)[live]
        lengths[live] += 1
        done = infos.get("done")
        if done is None:
            done = np.logical_and.reduce([np.asarray(terms[a]) | np.asarray(truncs[a]) for a in agents])
        done = np.asarray(done, bool)
        if done.any():  # rows that start a new episode: their players forget per-row (recurrent) state
            for k, seats in seating.items():
                actors[k].restart_rows(_positions(seats, done))
        new = np.flatnonzero(done & live)
        if len(new):
            _record_stats(infos.get("episode", {}), new, stats)
            finished[new] = True
            bar.update(len(new))
        if finished.all():
            return returns, (sparse if has_sparse else None), lengths, stats
    raise ConfigError(f"{int((~finished).sum())} of {n} batched episodes did not end within {max_steps} steps")


def text_view(env: Any) -> Callable[[str, int], TextObservation]:
    """``view(agent, i)``: the text observation of ``agent`` in copy ``i`` of ``env`` (for LLM agents).

    Envs offer it as a ``text_observation(agent, i=0)`` method (Overcooked, hide-and-seek);
    a :class:`~diverse_marl.envs.batched.SyncBatchedEnv` asks its copies.
    """
    view = getattr(env, "text_observation", None)
    copies = getattr(env, "envs", None)
    if view is None and copies and hasattr(copies[0], "text_observation"):
        return lambda agent, i: copies[i].text_observation(agent)
    if view is None:
        raise ConfigError(
            f"{type(env).__name__} has no text view (a text_observation(agent, i) method), so agents "
            "that read text (LLM agents) cannot play it; envs with one: overcooked, hide_and_seek"
        )
    return view


def _seating(
    rows: Sequence[Mapping[str, int]], agents: list[str], n_players: int
) -> dict[int, list[tuple[str, np.ndarray]]]:
    """player -> [(agent, rows where the player sits in that agent's seat)]."""
    table: dict[int, dict[str, list[int]]] = {}
    for r, row in enumerate(rows):
        if set(row) != set(agents):
            raise ConfigError(
                f"a seating must name every agent of the env exactly: got {', '.join(sorted(row))}; "
                f"agents: {', '.join(agents)}"
            )
        for a, k in row.items():
            if not 0 <= k < n_players:
                raise ConfigError(f"seating of {a!r} names player {k}; allowed: 0..{n_players - 1}")
            table.setdefault(k, {}).setdefault(a, []).append(r)
    return {k: [(a, np.asarray(idx)) for a, idx in seats.items()] for k, seats in table.items()}


def _positions(seats: list[tuple[str, np.ndarray]], flags: np.ndarray) -> np.ndarray:
    """Positions, in a player's concatenated batch (seat after seat), of the rows where ``flags``."""
    out, start = [], 0
    for _, idx in seats:
        out.append(start + np.flatnonzero(flags[idx]))
        start += len(idx)
    return np.concatenate(out)


def _with_masks(obs: dict[str, Any], infos: Mapping[str, Any]) -> dict[str, Any]:
    """Agents whose batched env reports action masks get ``{"obs": ..., "action_mask": ...}``
    batches (what policies and Agents read); the others keep their arrays."""
    masks = infos.get("action_mask") or {}
    return {a: {OBS_KEY: o, MASK_KEY: masks[a]} if a in masks else o for a, o in obs.items()}


def _take(obs: Any, idx: np.ndarray) -> Any:
    if isinstance(obs, dict):
        return {key: np.asarray(v)[idx] for key, v in obs.items()}
    return np.asarray(obs)[idx]


def _concat(parts: list[Any]) -> Any:
    if len(parts) == 1:
        return parts[0]
    if isinstance(parts[0], dict):
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    return np.concatenate(parts)


def _record_stats(episode: Mapping[str, Any], rows: np.ndarray, stats: list[dict[str, float]]) -> None:
    """Scalar per-row episode totals of a batched env (returns and length are reported apart)."""
    for key, values in episode.items():
        arr = np.asarray(values)
        if arr.ndim != 1 or key in RETURN_STATS or key.startswith("return/"):
            continue
        for r in rows:
            stats[r][key] = float(arr[r])
