"""RLlib callbacks that turn env ``infos`` into training metrics.

Envs report behaviour through ``infos[agent]``: per-step ``"sparse_reward"`` (Overcooked's team
reward without shaping) and, on the last step, dicts of episode totals under
``"episode_events"`` / ``"episode_stats"``. These become ``env_runners/episode/...`` metrics,
which land in ``metrics.csv`` and TensorBoard, and feed behaviour descriptors.
"""
from __future__ import annotations

from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback

from diverse_marl.episode_info import episode_stats, team_sparse_reward


def episode_info_metrics(last_infos: dict[str, dict], step_infos: list[dict[str, dict]] | None) -> dict[str, float]:
    """Metrics of one finished episode from the agents' last infos (and all step infos)."""
    out = {f"episode/{key}": value for key, value in episode_stats(last_infos or {}).items()}
    sparse = [r for r in map(team_sparse_reward, step_infos or []) if r is not None]
    if sparse:
        out["episode/sparse_return"] = float(sum(sparse))
    return out


class EpisodeInfoCallback(RLlibCallback):
    """Logs :func:`episode_info_metrics` for every finished episode (mean over the iteration)."""

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        if metrics_logger is None:
            return
        by_agent = episode.get_infos()  # multi-agent episodes: {agent: [info of each step]}
        if not isinstance(by_agent, dict):
            return  # single-agent episodes carry no per-agent infos
        last = {a: infos[-1] for a, infos in by_agent.items() if len(infos)}
        step_infos = [dict(zip(by_agent, row)) for row in zip(*by_agent.values())]
        for key, value in episode_info_metrics(last, step_infos).items():
            metrics_logger.log_value(key, value, reduce="mean", window=100)
