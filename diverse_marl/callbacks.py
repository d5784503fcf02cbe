"""RLlib callbacks: env ``infos`` -> training metrics, and the reward schedule -> envs.

Envs report behaviour through ``infos[agent]``: per-step ``"sparse_reward"`` (Overcooked's team
reward without shaping) and, on the last step, dicts of episode totals under
``"episode_events"`` / ``"episode_stats"``. These become ``env_runners/episode/...`` metrics,
which land in ``metrics.csv`` and TensorBoard, and feed behaviour descriptors.

:class:`RewardScheduleCallback` drives a config's ``reward_schedule`` (``reward_schedule.py``)
from the driver: at algorithm start, after a checkpoint is loaded, after failed env runners are
recreated and after every iteration, it reads the algorithm's lifetime env-step count (all env
runners, restored with checkpoints) and pushes the schedule's values into the envs of every env
runner, local and remote.
"""

from __future__ import annotations

import functools
from typing import Any

from ray.rllib.callbacks.callbacks import RLlibCallback
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME

from diverse_marl.envs.reward import ORIGINAL_KEY, ORIGINAL_RETURN_KEY
from diverse_marl.episode_info import episode_stats, team_sparse_reward
from diverse_marl.errors import ConfigError
from diverse_marl.metrics import SPARSE_RETURN, episode_key
from diverse_marl.reward_schedule import RewardSchedule, flat_values

RESULT_KEY = "reward_schedule"  # train() results carry {<param>: value} under this key (-> metrics.csv)


def episode_info_metrics(last_infos: dict[str, dict], step_infos: list[dict[str, dict]] | None) -> dict[str, float]:
    """Metrics of one finished episode from the agents' last infos (and all step infos)."""
    out = {f"episode/{key}": value for key, value in episode_stats(last_infos or {}).items()}
    sparse = [r for r in map(team_sparse_reward, step_infos or []) if r is not None]
    if sparse:
        out[episode_key(SPARSE_RETURN)] = float(sum(sparse))
    original = [
        info[ORIGINAL_KEY]
        for infos in step_infos or []
        for info in infos.values()
        if isinstance(info, dict) and ORIGINAL_KEY in info
    ]
    if original:  # the env's own return (all agents) when reward_weights replace the reward
        out[f"episode/{ORIGINAL_RETURN_KEY}"] = float(sum(original))
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


# ---- reward schedule ----------------------------------------------------------------------------
def reward_targets(env_runner: Any) -> list[Any]:
    """The envs of an env runner that take reward parameters (``set_reward_params``).

    The vectorized runner's ``.env`` is a batched env: a native one takes them itself, a
    ``SyncBatchedEnv`` holds PettingZoo envs in ``.envs``. RLlib's stock runner holds a vector of
    RLlib envs in ``.env.envs`` whose unwrapped env keeps the PettingZoo env in ``.par_env``.
    """
    env = getattr(env_runner, "env", None)
    if env is None:  # e.g. the local runner of a run with remote env runners
        return []
    if callable(getattr(env, "set_reward_params", None)):
        return [env]
    targets = []
    for sub in getattr(env, "envs", None) or ():
        inner = getattr(getattr(sub, "unwrapped", sub), "par_env", None)
        for candidate in (sub, inner):
            if callable(getattr(candidate, "set_reward_params", None)):
                targets.append(candidate)
                break
    return targets


def apply_reward_params(env_runner: Any, values: dict[str, Any]) -> int:
    """``set_reward_params(**values)`` on every env of ``env_runner``; returns how many envs took them."""
    targets = reward_targets(env_runner)
    for env in targets:
        env.set_reward_params(**values)
    return len(targets)


def global_env_steps(algorithm: Any) -> int:
    """The algorithm's lifetime env-step count over all env runners (restored from checkpoints)."""
    return int(algorithm.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0))


class RewardScheduleCallback(RLlibCallback):
    """Keeps every env's reward parameters at ``schedule.values(global env steps)``."""

    def __init__(self, schedule: RewardSchedule | None = None) -> None:
        super().__init__()
        self.schedule = schedule

    def on_algorithm_init(self, *, algorithm: Any, **kwargs: Any) -> None:
        self.push(algorithm, check=True)

    def on_checkpoint_loaded(self, *, algorithm: Any, **kwargs: Any) -> None:
        self.push(algorithm)

    def on_train_result(self, *, algorithm: Any, result: dict, **kwargs: Any) -> None:
        result[RESULT_KEY] = self.push(algorithm)

    def on_env_runners_recreated(self, *, algorithm: Any, is_evaluation: bool = False, **kwargs: Any) -> None:
        if not is_evaluation:  # a restarted runner's envs start from their env_config values
            self.push(algorithm)

    def push(self, algorithm: Any, check: bool = False) -> dict[str, float]:
        """Send the current values to all healthy env runners; returns them flat (weights as
        reward_weights.<name>).

        ``check`` (at algorithm start): raise if no env takes them, a config error. Later a push may
        reach no env because a runner is being restarted; the restarted runner gets the values from
        ``on_env_runners_recreated``.
        """
        if not self.schedule:
            return {}
        steps = global_env_steps(algorithm)
        values = self.schedule.values(steps)
        counts = algorithm.env_runner_group.foreach_env_runner(
            functools.partial(apply_reward_params, values=values), local_env_runner=True
        )
        if check and not sum(counts):
            raise ConfigError(
                f"reward_schedule: no env of the env runners takes reward parameters "
                f"(set_reward_params); scheduled: {', '.join(self.schedule.points)}"
            )
        return flat_values(values)


def with_reward_schedule(rllib_config: Any, schedule: RewardSchedule) -> Any:
    """Add a :class:`RewardScheduleCallback` for ``schedule`` to an AlgorithmConfig (kept callbacks first)."""
    current = rllib_config.callbacks_class
    existing = list(current) if isinstance(current, (list, tuple)) else [current]
    existing = [c for c in existing if c is not RLlibCallback]
    return rllib_config.callbacks([*existing, functools.partial(RewardScheduleCallback, schedule)])
