"""Evaluate agents by rolling out episodes in plain Python (no Ray): ``diverse-marl eval RUN_DIR``.

Returns per agent, the team's sparse return where the env reports one (Overcooked), episode
lengths and the env's episode statistics (events, behaviour stats), averaged over episodes.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from diverse_marl.agents import Agent, PolicyAgent
from diverse_marl.config import ExperimentConfig, load_config
from diverse_marl.episode_info import episode_stats, team_sparse_reward
from diverse_marl.errors import CheckpointError
from diverse_marl.progress import Progress
from diverse_marl.run_dir import RunDir, atomic_write_json, resolve_checkpoint

def run_episode(env: Any, agents: Mapping[str, Agent], seed: int | None = None,
                frames: list | None = None) -> dict[str, Any]:
    """Play one episode of a PettingZoo ParallelEnv; returns returns, length and episode stats."""
    obs, _ = env.reset(seed=seed)
    for i, agent in enumerate(agents.values()):
        agent.reset(None if seed is None else seed * 1000 + i)
    returns = {a: 0.0 for a in env.possible_agents}
    sparse, length, stats = None, 0, {}
    if frames is not None:
        frames.append(env.render())
    while env.agents:
        actions = {a: agents[a].act(obs[a]) for a in env.agents}
        obs, rewards, terms, truncs, infos = env.step(actions)
        length += 1
        for a, r in rewards.items():
            returns[a] += float(r)
        step_sparse = team_sparse_reward(infos)
        if step_sparse is not None:
            sparse = (sparse or 0.0) + step_sparse
        stats.update(episode_stats(infos))
        if frames is not None:
            frames.append(env.render())
    out = {"returns": returns, "length": length, "stats": stats}
    if sparse is not None:
        out["sparse_return"] = sparse
    return out


def summarize_episodes(episodes: list[dict[str, Any]]) -> dict[str, Any]:
    team = [sum(e["returns"].values()) for e in episodes]
    report: dict[str, Any] = {
        "episodes": len(episodes),
        "return_mean": float(np.mean(team)),
        "return_std": float(np.std(team)),
        "length_mean": float(np.mean([e["length"] for e in episodes])),
        "agent_return_mean": {a: float(np.mean([e["returns"][a] for e in episodes])) for a in episodes[0]["returns"]},
    }
    if all("sparse_return" in e for e in episodes):
        sp = [e["sparse_return"] for e in episodes]
        report["sparse_return_mean"] = float(np.mean(sp))
        report["sparse_return_std"] = float(np.std(sp))
    keys = sorted({k for e in episodes for k in e["stats"]})
    report["stats_mean"] = {k: float(np.mean([e["stats"].get(k, 0.0) for e in episodes])) for k in keys}
    return report


def policy_agents(checkpoint: Path, cfg: ExperimentConfig, agent_ids: list[str],
                  deterministic: bool = False) -> dict[str, Agent]:
    """One PolicyAgent per agent, each loaded from the policy its agent was trained as."""
    if cfg.algorithm == "mappo":
        from diverse_marl.algorithms import load_policy
    else:
        from diverse_marl.algorithms.ppo_baseline import load_ppo_policy as load_policy
    # load_policy maps an agent name to its policy through the checkpoint's own mapping
    return {a: PolicyAgent(load_policy(checkpoint, a), deterministic=deterministic) for a in agent_ids}


def evaluate_run(
    run_dir: str | os.PathLike,
    episodes: int | None = None,
    deterministic: bool | None = None,
    seed: int | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Roll out a trained run's policies; writes and returns ``RUN_DIR/eval.json``."""
    from diverse_marl import envs

    rd = RunDir(run_dir)
    if not rd.exists():
        raise CheckpointError(f"{run_dir} is not a run directory (no config.yaml)")
    cfg = load_config(rd.config_path)
    n = episodes if episodes is not None else cfg.evaluation.episodes
    det = cfg.evaluation.deterministic if deterministic is None else deterministic
    base_seed = cfg.evaluation.seed if seed is None else seed
    env = envs.make(cfg.env, **cfg.env_config)
    checkpoint = resolve_checkpoint(run_dir)
    agents = policy_agents(checkpoint, cfg, list(env.possible_agents), deterministic=det)
    results = []
    with Progress(total=n, desc="eval", unit="ep", quiet=quiet) as bar:
        for i in range(n):
            results.append(run_episode(env, agents, seed=base_seed + i))
            bar.update(1, ret=float(np.mean([sum(r["returns"].values()) for r in results])))
    env.close()
    report = summarize_episodes(results)
    report.update(checkpoint=str(checkpoint), deterministic=det, seed=base_seed)
    path = rd.path / "eval.json"
    atomic_write_json(path, report)
    report["path"] = str(path)
    return report


def record_episode_gif(run_dir: str | os.PathLike, path: str | os.PathLike | None = None,
                       seed: int = 0, fps: int = 8) -> Path | None:
    """Render one episode of the trained policies to ``RUN_DIR/episode.gif`` (if the env renders RGB)."""
    import imageio.v2 as imageio

    from diverse_marl import envs

    rd = RunDir(run_dir)
    cfg = load_config(rd.config_path)
    try:
        env = envs.make(cfg.env, **{**cfg.env_config, "render_mode": "rgb_array"})
    except Exception:  # env without RGB rendering: nothing to record
        return None
    agents = policy_agents(resolve_checkpoint(run_dir), cfg, list(env.possible_agents),
                           deterministic=cfg.evaluation.deterministic)
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
