"""Cross-play results on disk, and the ``diverse-marl crossplay`` command.

:func:`write_crossplay` writes ``crossplay.json`` and the heatmap ``crossplay.png``;
:func:`crossplay_from_run_dirs` loads runs / populations (and ``llm:CONFIG`` players), plays the
matrix with :func:`diverse_marl.crossplay.crossplay_matrix` and writes both files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from diverse_marl.analysis.crossplay_plot import plot_crossplay
from diverse_marl.config import parse_override
from diverse_marl.crossplay import JSON_NAME, LLM_SEAT, PNG_NAME, CrossplayResult, crossplay_matrix, eval_env_config
from diverse_marl.errors import ConfigError
from diverse_marl.llm import llm_players
from diverse_marl.population import load_population
from diverse_marl.run_dir import atomic_write_json


def write_crossplay(result: CrossplayResult, out_dir: str | os.PathLike, title: str | None = None) -> tuple[Path, Path]:
    """Write ``crossplay.json`` and the heatmap ``crossplay.png`` into ``out_dir`` (atomically)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / JSON_NAME
    atomic_write_json(json_path, result.to_dict())
    png_path = plot_crossplay(result, out / PNG_NAME, title=title)
    return json_path, png_path


def crossplay_from_run_dirs(
    paths: Sequence[str | os.PathLike],
    episodes: int = 10,
    overrides: Sequence[str] = (),
    deterministic: bool = False,
    seed: int = 0,
    out: str | os.PathLike = "crossplay",
    metric: str | None = None,
    quiet: bool = True,
) -> tuple[CrossplayResult, tuple[Path, Path]]:
    """What ``diverse-marl crossplay`` does: policies of runs / populations -> matrix, JSON and heatmap.

    A path ``llm:CONFIG.yaml`` adds LLM players: the config's personas, or the one agent it configures.

    The env is the first run's, its env_config without training-only keys, changed by
    ``overrides`` (``"env_config.layout=coordination_ring"``; values parsed as YAML).
    """
    llm_configs = [str(p)[len(LLM_SEAT) :] for p in paths if str(p).startswith(LLM_SEAT)]
    runs = [p for p in paths if not str(p).startswith(LLM_SEAT)]
    if not runs:
        raise ConfigError(
            f"crossplay needs at least one run directory (its env is played); '{LLM_SEAT}CONFIG' players join the runs"
        )
    population = load_population(runs)
    env_updates: dict[str, Any] = {}
    for text in overrides:
        keys, value = parse_override(text)
        if len(keys) != 2 or keys[0] != "env_config":
            raise ConfigError(f"crossplay --set takes env_config.KEY=VALUE, got {text!r}")
        env_updates[keys[1]] = value
    env_name, env_config = eval_env_config(population[0].path, env_updates)
    players: dict[str, Any] = {m.name: m for m in population}
    for config in llm_configs:  # an LLM config: its personas (or the agent itself) join as players
        players.update(llm_players(config))
    result = crossplay_matrix(
        players,
        env_name,
        env_config,
        episodes=episodes,
        seed=seed,
        deterministic=deterministic,
        metric=metric,
        quiet=quiet,
    )
    return result, write_crossplay(result, out)


__all__ = ["write_crossplay", "crossplay_from_run_dirs"]
