"""RLlib callbacks that turn env ``infos`` into training metrics.

Envs report behaviour through ``infos[agent]``: per-step ``"sparse_reward"`` (Overcooked's team
reward without shaping) and, on the last step, dicts of episode totals under
``"episode_events"`` / ``"episode_stats"``. These become ``env_runners/episode/...`` metrics,
which land in ``metrics.csv`` and TensorBoard, and feed behaviour descriptors.
"""
from __future__ import annotations

from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback

EPISODE_DICT_KEYS = ("episode_events", "episode_stats")


def episode_info_metrics(last_infos: dict[str, dict], step_infos: list[dict[str, dict]] | None) -> dict[str, float]:
    """Metrics of one finished episode from the agents' last infos (and all step infos)."""
    out: dict[str, float] = {}
    for agent, info in (last_infos or {}).items():
        if not isinstance(info, dict):
            continue
        for key in EPISODE_DICT_KEYS:
            stats = info.get(key)
            if not isinstance(stats, dict):
                continue
            for name, value in stats.items():
                if isinstance(value, (int, float, bool)) or getattr(value, "ndim", None) == 0:
                    out[f"episode/{agent}/{name}"] = float(value)
    if step_infos:
        sparse = None
        for infos in step_infos:
            for info in infos.values():
                if isinstance(info, dict) and "sparse_reward" in info:
                    sparse = (sparse or 0.0) + float(info["sparse_reward"])
                    break  # the team reward is repeated for every agent: count it once
        if sparse is not None:
            out["episode/sparse_return"] = sparse
    return out


class EpisodeInfoCallback(RLlibCallback):
    """Logs :func:`episode_info_metrics` for every finished episode (mean over the iteration)."""

    def on_episode_end(self, *, episode: Any, metrics_logger: Any = None, **kwargs: Any) -> None:
        if metrics_logger is None:
            return
        try:
            step_infos = episode.get_infos()
            last = step_infos[-1] if step_infos else {}
        except Exception:  # single-agent episodes or episodes without infos
            return
        for key, value in episode_info_metrics(last, step_infos).items():
            metrics_logger.log_value(key, value, reduce="mean", window=100)
