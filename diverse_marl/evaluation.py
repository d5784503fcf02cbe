"""Evaluate a run: ``diverse-marl eval RUN_DIR [--seat agent_1=OTHER_RUN]`` (no Ray).

Episodes are played side by side in the env's batched class (one forward pass per policy per
step, see :mod:`diverse_marl.rollout`); ``batched=False`` plays them one by one instead. The
report holds the *original* return, the game's own reward: whatever ``reward_weights`` the run
trained on, and with reward shaping off (Overcooked's ``shaping_factor`` is 0, so the return is
the sparse delivery return) unless ``shaping=True``; the team sparse return where the env
reports one, episode lengths and the env's episode statistics (events, behaviour stats),
averaged over episodes. Any seat can be filled by another run's policy, a random agent or an
agent factory.

Every evaluation is kept: ``RUN_DIR/evals/<seats>_<settings>.json`` (e.g.
``agent_1=random_iter50_20ep_seed0_sampled.json``), with ``-2``, ``-3``... when that name is
taken; :func:`latest_evaluation` finds the newest.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from diverse_marl import envs
from diverse_marl.agents import Agent, PolicyAgent
from diverse_marl.algorithms.methods import best_run_dir
from diverse_marl.config import load_config
from diverse_marl.crossplay import LLM_SEAT, eval_env_config, seat_player
from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.loading import load_policy
from diverse_marl.progress import Progress
from diverse_marl.rollout import play_batched, run_episode, summarize_episodes
from diverse_marl.run_dir import (
    EVAL_DIR,
    RunDir,
    atomic_write_json,
    latest_evaluation,
    read_checkpoint_meta,
    resolve_checkpoint,
)

__all__ = [
    "evaluate_run",
    "evaluation_name",
    "latest_evaluation",
    "record_episode_gif",
    "run_episode",
    "summarize_episodes",
    "policy_agents",
    "parse_seats",
]

# env options that add shaping to the game's own reward; evaluation sets them to 0 (unless asked)
SHAPING_OPTIONS = ("shaping_factor",)


def policy_agents(checkpoint: Path, agent_ids: list[str], deterministic: bool = False) -> dict[str, Agent]:
    """One PolicyAgent per agent, each loaded from the policy its agent was trained as."""
    return {a: PolicyAgent(load_policy(checkpoint, a), deterministic=deterministic) for a in agent_ids}


def parse_seats(specs: list[str] | None) -> dict[str, str]:
    """``["agent_1=runs/other", ...]`` -> ``{"agent_1": "runs/other"}`` (agents are checked by ``evaluate_run``)."""
    seats: dict[str, str] = {}
    for spec in specs or []:
        agent, sep, source = spec.partition("=")
        if not sep or not source:
            raise ConfigError(
                f"bad --seat {spec!r}; expected AGENT=SOURCE, e.g. agent_1=runs/other-run "
                "(SOURCE: a run dir or checkpoint, 'random', 'llm:CONFIG.yaml' or 'package.module:factory')"
            )
        seats[agent] = source
    return seats


def game_reward_config(env_name: str, env_config: Mapping[str, Any], shaping: bool = False) -> dict[str, Any]:
    """``env_config`` with the env's reward-shaping options (:data:`SHAPING_OPTIONS`) at 0, so
    returns are the game's own; unchanged with ``shaping`` or for an env without such options."""
    config = dict(env_config)
    if shaping:
        return config
    try:
        params = inspect.signature(envs.env_factory(env_name)).parameters
    except (TypeError, ValueError):
        return config
    for option in SHAPING_OPTIONS:
        if option in params:
            config[option] = 0.0
    return config


def _source_label(source: str) -> str:
    """A seat's source as a file-name part: a run dir's name, ``llm-<config>``, a factory path, ``random``."""
    if source.startswith(LLM_SEAT):
        return "llm-" + Path(source[len(LLM_SEAT) :]).stem
    path = Path(source)
    if path.exists():
        return (
            path.name if path.name and not path.name.startswith("iter_") else f"{path.parent.parent.name}.{path.name}"
        )
    return source.replace(":", ".")


def evaluation_name(
    seats: Mapping[str, str], iteration: Any, episodes: int, seed: int, deterministic: bool, shaping: bool
) -> str:
    """What an evaluation holds, as a file name: the seats filled from elsewhere (or ``self-play``),
    the checkpoint's iteration, episodes, seed, greedy/sampled and ``shaped`` if shaping was on."""
    seat_part = "+".join(f"{a}={_source_label(seats[a])}" for a in sorted(seats)) or "self-play"
    parts = [seat_part, f"iter{iteration}", f"{episodes}ep", f"seed{seed}", "greedy" if deterministic else "sampled"]
    if shaping:
        parts.append("shaped")
    return re.sub(r"[^A-Za-z0-9._=+-]+", "-", "_".join(parts))


def _free_path(directory: Path, name: str) -> Path:
    """``directory/name.json``, or ``name-2.json``, ``name-3.json``... : an earlier evaluation is never overwritten."""
    path, n = directory / f"{name}.json", 1
    while path.exists():
        n += 1
        path = directory / f"{name}-{n}.json"
    return path


def evaluate_run(
    run_dir: str | os.PathLike,
    episodes: int | None = None,
    deterministic: bool | None = None,
    seed: int | None = None,
    quiet: bool = False,
    seats: Mapping[str, str] | None = None,
    batched: bool = True,
    shaping: bool = False,
    out: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Roll out a trained run's policies (``seats`` may fill some agents from elsewhere).

    Returns the report and writes it to a new file: ``out``, or ``RUN_DIR/evals/<name>.json``
    (:func:`evaluation_name`; an earlier evaluation is never overwritten). The report holds
    ``return_mean``/``return_std`` (team original return, summed over agents, reward shaping
    off unless ``shaping``), ``agent_return_mean``, ``sparse_return_mean``/``_std`` where the
    env reports a sparse reward, ``length_mean``, ``stats_mean``, what was played and ``path``.
    """
    run_dir = best_run_dir(run_dir)  # a method's run dir (RPG): its best run
    rd = RunDir(run_dir)
    if not rd.exists():
        raise CheckpointError(f"{run_dir} is not a run directory (no config.yaml)")
    cfg = load_config(rd.config_path)
    n = episodes if episodes is not None else cfg.evaluation.episodes
    if n < 1:
        raise ConfigError(f"episodes must be >= 1, got {n}")
    det = cfg.evaluation.deterministic if deterministic is None else deterministic
    base_seed = cfg.evaluation.seed if seed is None else seed
    env_name, env_config = eval_env_config(run_dir)
    env_config = game_reward_config(env_name, env_config, shaping)
    if out is not None and Path(out).exists():
        raise ConfigError(f"--out {out}: exists; evaluations are never overwritten, pick a new path")
    env = envs.make(env_name, **env_config)
    agent_ids = list(env.possible_agents)
    seats = dict(seats or {})
    unknown = sorted(set(seats) - set(agent_ids))
    if unknown:
        raise ConfigError(f"unknown agent {unknown[0]!r} in seats; agents: {', '.join(agent_ids)}")
    checkpoint = resolve_checkpoint(run_dir)
    players = _seat_players(checkpoint, env, env_config, seats, base_seed, share=batched)
    if batched:
        env.close()
        results = play_batched(env_name, env_config, players, n, seed=base_seed, deterministic=det, quiet=quiet)
    else:
        agents = {a: p if isinstance(p, Agent) else PolicyAgent(p, deterministic=det) for a, p in players.items()}
        results = []
        with Progress(total=n, desc="eval", unit="ep", quiet=quiet) as bar:
            for i in range(n):
                results.append(run_episode(env, agents, seed=base_seed + i))
                bar.update(1, ret=float(np.mean([sum(r["returns"].values()) for r in results])))
        env.close()
    report = summarize_episodes(results)
    report.update(
        checkpoint=str(checkpoint),
        deterministic=det,
        seed=base_seed,
        batched=batched,
        seats={a: seats.get(a, str(rd.path)) for a in agent_ids},
        env=env_name,
        env_config=env_config,
        shaping=shaping,
    )
    agent_metrics = {a: p.metrics() for a, p in players.items() if callable(getattr(p, "metrics", None))}
    if agent_metrics:  # LLM agents: requests, latencies, tokens, cache hits, fallbacks
        report["agent_metrics"] = agent_metrics
    if out is not None:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        iteration = read_checkpoint_meta(checkpoint).get("iteration", "?")
        name = evaluation_name(seats, iteration, n, base_seed, det, shaping)
        (rd.path / EVAL_DIR).mkdir(exist_ok=True)
        path = _free_path(rd.path / EVAL_DIR, name)
    atomic_write_json(path, report)
    report["path"] = str(path)
    return report


def _seat_players(
    checkpoint: Path, env: Any, env_config: Mapping[str, Any], seats: Mapping[str, str], seed: int, share: bool
) -> dict[str, Any]:
    """agent -> policy or Agent: the run's own policy unless ``seats`` names another source.

    With ``share``, agents trained as one policy get the same object (batched play then runs it
    once per step for both); without, each seat loads its own (recurrent state stays per seat).
    """
    players: dict[str, Any] = {}
    loaded: dict[str, Any] = {}
    for agent in env.possible_agents:
        if agent in seats:
            players[agent] = seat_player(seats[agent], agent, int(env.action_space(agent).n), env_config, seed)
            continue
        policy = load_policy(checkpoint, agent)
        key = getattr(policy, "policy_id", agent) if share else agent
        players[agent] = loaded.setdefault(key, policy)
    return players


def record_episode_gif(
    run_dir: str | os.PathLike,
    path: str | os.PathLike | None = None,
    seed: int = 0,
    fps: int = 8,
    checkpoint: str | os.PathLike | None = None,
) -> Path | None:
    """Render one episode of the trained policies to ``RUN_DIR/episode.gif`` (if the env renders RGB).

    ``checkpoint`` (one of the run's ``checkpoints/iter_*``) records an earlier policy instead of
    the latest, e.g. one GIF per phase of training.
    """
    import imageio.v2 as imageio  # GIF writer: only when recording

    rd = RunDir(run_dir)
    cfg = load_config(rd.config_path)
    try:
        env = envs.make(cfg.env, **{**cfg.env_config, "render_mode": "rgb_array"})
    except Exception:  # env without RGB rendering: nothing to record
        return None
    agents = policy_agents(
        resolve_checkpoint(checkpoint or run_dir), list(env.possible_agents), deterministic=cfg.evaluation.deterministic
    )
    frames: list = []
    run_episode(env, agents, seed=seed, frames=frames)
    env.close()
    frames = [f for f in frames if f is not None]
    if not frames:
        return None
    out = Path(path) if path else rd.path / "episode.gif"
    tmp = out.with_name(f".{out.stem}.tmp.gif")
    imageio.mimsave(tmp, frames, duration=1.0 / fps, loop=0)
    os.replace(tmp, out)
    return out
