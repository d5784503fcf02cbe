"""The vector runner's metrics, under RLlib's own keys so that results look like the stock runner's.

Episode totals that a batched env reports in ``infos["episode"]`` (other than per-agent returns
and length, which RLlib already logs) become ``episode/<key>`` means.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np
from ray.rllib.utils.metrics import (
    EPISODE_AGENT_RETURN_MEAN,
    EPISODE_AGENT_STEPS,
    EPISODE_DURATION_SEC_MEAN,
    EPISODE_LEN_MAX,
    EPISODE_LEN_MEAN,
    EPISODE_LEN_MIN,
    EPISODE_MODULE_RETURN_MEAN,
    EPISODE_RETURN_MAX,
    EPISODE_RETURN_MEAN,
    EPISODE_RETURN_MIN,
    NUM_AGENT_STEPS_SAMPLED,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_EPISODES,
    NUM_EPISODES_LIFETIME,
    NUM_MODULE_STEPS_SAMPLED,
    NUM_MODULE_STEPS_SAMPLED_LIFETIME,
)
from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

from diverse_marl.algorithms.mappo.runner_episodes import EpisodeMeta

EPISODE_INFO_PREFIX = "episode/"
PARTNER_RETURN_PREFIX = "episode/partner_return/"  # + partner name (or "self_play")
SELF_PLAY_SHARE_KEY = "episode/self_play"  # share of episodes played in self-play
# Batched-env episode totals that are already logged under RLlib's own keys.
_EPISODE_KEYS_LOGGED_ELSEWHERE = ("length",)
_EPISODE_RETURN_PREFIX = "return/"


def smoothing_window(config) -> int:
    """Episodes averaged per runner so that all runners together average the configured number."""
    return max(1, math.ceil(config.metrics_num_episodes_for_smoothing / (config.num_env_runners or 1)))


def log_counts(m: MetricsLogger, env_steps: int, agent_steps: dict, module_steps: dict, num_episodes: int) -> None:
    """Steps and episodes sampled in one ``sample()`` call (and lifetime sums)."""
    m.log_value(NUM_ENV_STEPS_SAMPLED, env_steps, reduce="sum")
    m.log_value(NUM_ENV_STEPS_SAMPLED_LIFETIME, env_steps, reduce="lifetime_sum", with_throughput=True)
    for a, k in agent_steps.items():
        m.log_value((NUM_AGENT_STEPS_SAMPLED, str(a)), k, reduce="sum")
        m.log_value((NUM_AGENT_STEPS_SAMPLED_LIFETIME, str(a)), k, reduce="lifetime_sum")
    for mid, k in module_steps.items():
        m.log_value((NUM_MODULE_STEPS_SAMPLED, mid), k, reduce="sum")
        m.log_value((NUM_MODULE_STEPS_SAMPLED_LIFETIME, mid), k, reduce="lifetime_sum")
    m.log_value(NUM_EPISODES, num_episodes, reduce="sum")
    m.log_value(NUM_EPISODES_LIFETIME, num_episodes, reduce="lifetime_sum")


def log_episode(m: MetricsLogger, meta: EpisodeMeta, now: float, window: int) -> None:
    """Length, returns (total, per agent, per module) and duration of one finished episode."""
    length = meta.env_t
    ret = float(sum(meta.returns.values()))
    agents = {str(a): float(v) for a, v in meta.returns.items()}
    modules: dict[str, float] = defaultdict(float)
    for a, v in meta.returns.items():
        modules[meta.episode.module_for(a)] += float(v)
    m.log_dict(
        {
            EPISODE_LEN_MEAN: length,
            EPISODE_RETURN_MEAN: ret,
            EPISODE_DURATION_SEC_MEAN: now - meta.start_time,
            EPISODE_AGENT_RETURN_MEAN: agents,
            EPISODE_AGENT_STEPS: {str(a): int(v) for a, v in meta.agent_t.items()},
            EPISODE_MODULE_RETURN_MEAN: dict(modules),
        },
        window=window,
    )
    m.log_dict({EPISODE_LEN_MIN: length, EPISODE_RETURN_MIN: ret}, reduce="min", window=window)
    m.log_dict({EPISODE_LEN_MAX: length, EPISODE_RETURN_MAX: ret}, reduce="max", window=window)


def log_env_episode_info(m: MetricsLogger, episode_info: dict, done: np.ndarray, window: int) -> None:
    """Env-reported per-copy episode totals (e.g. Overcooked's sparse return) as ``episode/<key>``."""
    for key, values in (episode_info or {}).items():
        if key in _EPISODE_KEYS_LOGGED_ELSEWHERE or key.startswith(_EPISODE_RETURN_PREFIX):
            continue
        arr = np.asarray(values)
        if arr.shape != done.shape or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            continue  # per-agent or per-event arrays: not a scalar episode figure
        for v in arr[done]:
            if not np.isfinite(v):
                continue  # this copy did not report the statistic (SyncBatchedEnv fills NaN)
            m.log_value(EPISODE_INFO_PREFIX + key, float(v), reduce="mean", window=window)


def log_partner_episodes(m: MetricsLogger, finished: list[tuple[str, float]], self_play_name: str, window: int) -> None:
    """Joint return of finished episodes split by the partner that played them; self-play share."""
    for name, ret in finished:
        m.log_value(PARTNER_RETURN_PREFIX + name, ret, reduce="mean", window=window)
        m.log_value(SELF_PLAY_SHARE_KEY, float(name == self_play_name), reduce="mean", window=window)
