"""Evaluate a run: ``diverse-marl eval RUN_DIR [--seat agent_1=OTHER_RUN]`` (no Ray).

Episodes are played side by side in the env's batched class (one forward pass per policy per
step, see :mod:`diverse_marl.rollout`); ``batched=False`` plays them one by one instead. The
report holds the *original* return (the game's own reward, whatever ``reward_weights`` the run
trained on), the team sparse return where the env reports one (Overcooked), episode lengths and
the env's episode statistics (events, behaviour stats), averaged over episodes. Any seat can be
filled by another run's policy, a random agent or an agent factory.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from diverse_marl import envs
from diverse_marl.agents import Agent, PolicyAgent
from diverse_marl.algorithms.methods import best_run_dir
from diverse_marl.config import load_config
from diverse_marl.crossplay import eval_env_config, seat_player
from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.loading import load_policy
from diverse_marl.progress import Progress
from diverse_marl.rollout import play_batched, run_episode, summarize_episodes
from diverse_marl.run_dir import RunDir, atomic_write_json, resolve_checkpoint

__all__ = ["evaluate_run", "record_episode_gif", "run_episode", "summarize_episodes", "policy_agents", "parse_seats"]


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


def evaluate_run(
    run_dir: str | os.PathLike,
    episodes: int | None = None,
    deterministic: bool | None = None,
    seed: int | None = None,
    quiet: bool = False,
    seats: Mapping[str, str] | None = None,
    batched: bool = True,
) -> dict[str, Any]:
    """Roll out a trained run's policies (``seats`` may fill some agents from elsewhere).

    Writes and returns ``RUN_DIR/eval.json``: ``return_mean``/``return_std`` (team original
    return, summed over agents), ``agent_return_mean``, ``sparse_return_mean``/``_std`` where
    the env reports a sparse reward, ``length_mean``, ``stats_mean``, and what was played.
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
    )
    agent_metrics = {a: p.metrics() for a, p in players.items() if callable(getattr(p, "metrics", None))}
    if agent_metrics:  # LLM agents: requests, latencies, tokens, cache hits, fallbacks
        report["agent_metrics"] = agent_metrics
    path = rd.path / "eval.json"
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
