"""The RLlib callbacks the vector runner calls: ``on_episode_end`` and ``on_sample_end``.

``on_episode_end`` gets the episode's last chunk (its ``infos`` are empty dicts) and
``on_episode_created/start/step`` are not called: the runner builds its episodes in bulk.
"""

from __future__ import annotations

from typing import Any

from ray.rllib.callbacks.utils import make_callback
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
from ray.rllib.utils import force_list


def callback_objects(config: Any) -> list[Any]:
    """One instance of each of the config's callback classes."""
    return [cls() for cls in force_list(config.callbacks_class)]


def on_episode_end(runner: Any, callbacks: list[Any], episode: MultiAgentEpisode, env_index: int) -> None:
    """RLlib's ``on_episode_end`` callbacks, once per finished episode (with its last chunk)."""
    if not callbacks and not runner.config.callbacks_on_episode_end:
        return
    make_callback(
        "on_episode_end",
        callbacks_objects=callbacks,
        callbacks_functions=runner.config.callbacks_on_episode_end,
        kwargs=dict(
            episode=episode,
            env_runner=runner,
            metrics_logger=runner.metrics,
            env=runner.env,
            rl_module=runner.module,
            env_index=env_index,
            prev_episode_chunks=[],
        ),
    )


def on_sample_end(runner: Any, callbacks: list[Any], episodes: list[MultiAgentEpisode]) -> None:
    """RLlib's ``on_sample_end`` callbacks, once per ``sample()`` call."""
    make_callback(
        "on_sample_end",
        callbacks_objects=callbacks,
        callbacks_functions=runner.config.callbacks_on_sample_end,
        kwargs=dict(env_runner=runner, metrics_logger=runner.metrics, samples=episodes),
    )
