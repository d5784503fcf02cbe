"""``make demo`` / ``diverse-marl demo``: the point of the toolkit, end to end, in a few minutes.

Trains ``examples/demo.yaml``: a population of MAPPO members in Overcooked's cramped_room that split
the kitchen's work three ways, two seeds each: seat-specific reward extras that pay agent_0 to pot
and agent_1 to serve (one policy per cook), the mirror, and one policy shared by both cooks (each
cook does every job). Then analyses the population without Ray: self-play rollouts, behaviour
descriptors (actions by name, each cook's share of each job), strategy clusters with who does what
in words ("agent_0 pots 94% of the onions; agent_1 delivers every soup"), a cross-play matrix grouped
by cluster (what mixing strategies costs), figures, an episode GIF per cluster and
``RUN_DIR/analysis/report.md``. The headline everywhere is the sparse return (20 per delivered soup),
not the shaped reward the members trained on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from diverse_marl.analysis.pipeline import analyze_population
from diverse_marl.analysis.report import crossplay_block_means
from diverse_marl.errors import ConfigError
from diverse_marl.experiment import train
from diverse_marl.population import load_population

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "examples" / "demo.yaml"
ANALYSIS_EPISODES = 8  # self-play rollouts per member
CROSSPLAY_EPISODES = 8  # episodes per cross-play cell
# the demo's question is who does what: members are clustered on each cook's share of each job (on every
# descriptor, movement style and bumps weigh as much as the jobs and a partial potter can tip k)
DEMO_DISTANCE = "roles"


def run_demo(
    config: str | Path | None = None,
    quiet: bool = False,
    overrides: Sequence[str] | None = None,
    analysis_episodes: int = ANALYSIS_EPISODES,
    crossplay_episodes: int = CROSSPLAY_EPISODES,
) -> Path:
    """Train the demo population, analyse it, print the headline numbers; returns the run dir."""
    path = Path(config) if config else DEMO_CONFIG
    if not path.exists():
        raise ConfigError(f"demo config {path} not found (run from a source checkout, or pass a config)")
    t0 = time.time()
    print(
        f"[1/2] training {path.name}: a population, each member evaluated on the sparse reward "
        "(progress below; about 4 minutes on 2 quiet cores)"
    )
    result = train(path, overrides=list(overrides or []), quiet=quiet)
    trained = time.time() - t0
    print(
        f"[2/2] analysing the population: {analysis_episodes} self-play episodes per member, "
        f"cross-play with {crossplay_episodes} episodes per pair, clusters, figures, report"
    )
    population = load_population(result.run_dir)
    analysis = analyze_population(
        population,
        episodes=analysis_episodes,
        crossplay_episodes=crossplay_episodes,
        seed=result.config.seed,
        distance=DEMO_DISTANCE,
        out=Path(result.run_dir) / "analysis",
        quiet=quiet,
    )
    minutes = (time.time() - t0) / 60
    print()
    print(f"demo finished in {minutes:.1f} min (training {trained / 60:.1f} min)")
    print(f"self-play {analysis.headline_name} (mean of {analysis_episodes} episodes) and strategy cluster per member:")
    width = max(len(n) for n in analysis.names)
    roles = analysis.roles
    for name, label in zip(analysis.names, analysis.labels.tolist()):
        print(f"  {name:<{width}}  {analysis.headline[name]:7.1f}  cluster {label + 1}  [{describe(population[name])}]")
        if roles.get(name):
            print(f"  {'':<{width}}  who does what: {roles[name]}")
    k = analysis.clusters.n_clusters_
    best = f"; best policy: {result.checkpoint}" if result.checkpoint else ""
    print(f"{k} strateg{'y' if k == 1 else 'ies'} found{best}")
    if analysis.crossplay is not None and k > 1:
        V = np.asarray(analysis.crossplay.value_mean)
        B = crossplay_block_means(V, analysis.labels, k)
        within, across = np.nanmean(np.diag(B)), np.nanmean(B[~np.eye(k, dtype=bool)])
        print(
            f"cross-play {analysis.crossplay.metric}: {within:.1f} within a strategy, {across:.1f} across "
            "(agent_0 from one strategy, agent_1 from another)"
        )
    print(f"report: {analysis.report}")
    print(f"run dir: {result.run_dir}")
    return Path(result.run_dir)


def describe(member: Any) -> str:
    """How a member was trained, in a line: its reward weights (or the game's own reward) and policies."""
    weights = member.metadata.get("reward_weights") or {}
    reward = ", ".join(f"{k}={v}" for k, v in weights.items()) or "the game's own reward"
    mapping = ((member.metadata.get("config") or {}).get("training") or {}).get("policy_mapping")
    policies = {"agent": "one policy per cook", "shared": "one policy for both cooks"}.get(mapping or "")
    return f"{reward}; {policies}" if policies else reward
