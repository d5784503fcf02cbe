"""Overlapped sampling (``async_sampling: true``): the env runners sample the next batch while
the learner updates on the current one, so a 2-core machine runs both at once.

Timeline of iteration ``i`` (``theta_k`` = the weights after ``k`` learner updates)::

    wait for batch i            (sampled by the remote env runners with theta_{i-2})
    send theta_{i-1} to the runners, then ask them for batch i+1   (runs in their processes)
    update the learner on batch i:  theta_{i-1} -> theta_i          (runs here, meanwhile)

So every batch is one policy version stale (the very first two use the initial weights).
PPO corrects for that: the loss's importance ratio divides by the *stored* behaviour
log-probs of the sampling policy, and its clipping bounds the step as usual. The value
targets and advantages are computed by the learner's own critic at update time, as in the
synchronous loop.

Reproducible: the order of events is fixed by data dependencies, not by timing. Calls to one
env-runner actor run in the order they were sent (weights, then sample), each runner samples
with its own seeded streams, and the learner consumes batch ``i`` only after it is complete;
results of several runners are ordered by runner index.

What changes besides staleness: reward schedules pushed after an iteration
(``RewardScheduleCallback``) reach the runners after the batch already in flight, i.e. one
batch later; a resumed run drops the batch that was in flight at the checkpoint and samples
afresh with the restored weights.

A runner lost while its batch is in flight (SIGKILL, a lost node) is restarted by RLlib's fault
tolerance (``restart_failed_env_runners``), restored (weights, reward schedule) and asked again:
the iteration waits for it and still trains on a whole batch.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from ray.rllib.utils.metrics import (
    ALL_MODULES,
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    NUM_MODULE_STEPS_TRAINED_LIFETIME,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TIMERS,
)

from diverse_marl.algorithms.fault_tolerance import restore_lost_runners

SAMPLE_TAG = "mappo_overlapped_sample"
logger = logging.getLogger(__name__)


def _sample_with_metrics(env_runner: Any) -> tuple[list[Any], dict]:
    return env_runner.sample(), env_runner.get_metrics()


class OverlappedSampler:
    """Keeps one sample request in flight on every remote env runner."""

    def __init__(self) -> None:
        self._in_flight: list[int] = []  # ids of the runners asked for a batch

    def launch(self, group: Any, runner_ids: list[int] | None = None) -> None:
        """Ask every healthy remote runner (or ``runner_ids``) for its next batch (with the weights it holds now)."""
        ids = list(group.healthy_env_runner_ids()) if runner_ids is None else list(runner_ids)
        if not ids or group.foreach_env_runner_async(_sample_with_metrics, tag=SAMPLE_TAG, remote_worker_ids=ids) == 0:
            raise RuntimeError("async_sampling: no healthy remote env runner took the sample request")
        self._in_flight = sorted(set(self._in_flight) | set(ids))

    def collect(
        self, group: Any, timeout_s: float | None, restore: Callable[[list[int]], object] | None = None
    ) -> tuple[list[Any], list[dict]]:
        """Wait for the batch in flight (launching one first if none is); episodes and metrics,
        concatenated in runner order. Waits as long as it takes, warning every ``timeout_s``.

        A runner lost while sampling (its process killed, its node gone) loses its part of the
        batch: ``restore(lost_ids)`` brings it back (RLlib's fault tolerance restarts the actor)
        and it is asked again, so the iteration still trains on a whole batch.
        """
        if not self._in_flight:
            self.launch(group)
        results: dict[int, Any] = {}
        while missing := [i for i in self._in_flight if i not in results]:
            results.update(group.fetch_ready_async_reqs(tags=SAMPLE_TAG, timeout_seconds=timeout_s))
            missing = [i for i in self._in_flight if i not in results]
            if missing and group.num_in_flight_async_reqs(SAMPLE_TAG) == 0:
                # no request of the missing runners is alive: RLlib drops the requests of a runner it
                # marks unhealthy (it died; Ray may have restarted it since). (Requests still alive
                # are waited for first, so a runner is never asked twice for one batch.)
                if restore is None:
                    raise RuntimeError("async_sampling: an env runner failed while sampling")
                logger.warning("async_sampling: env runner(s) %s lost while sampling; restoring them", missing)
                restore(missing)
                self.launch(group, missing)
            elif missing:
                logger.warning(
                    "async_sampling: %d of %d env runners returned their batch after %s s; waiting",
                    len(results),
                    len(self._in_flight),
                    timeout_s,
                )
        self._in_flight = []
        ordered = [results[i] for i in sorted(results)]
        episodes = [ep for eps, _ in ordered for ep in eps]
        return episodes, [metrics for _, metrics in ordered]


def overlapped_training_step(algo: Any, sampler: OverlappedSampler) -> None:
    """One PPO iteration with sampling overlapped (see the module docstring); ``algo`` is a
    PPO-style Algorithm with remote env runners."""
    config, group = algo.config, algo.env_runner_group
    with algo.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):  # time spent *waiting* for samples
        episodes, runner_metrics = sampler.collect(
            group, config.sample_timeout_s, restore=functools.partial(restore_lost_runners, algo)
        )
        algo.metrics.aggregate(runner_metrics, key=ENV_RUNNER_RESULTS)
    with algo.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
        # the learner's weights now (before this update) go out first; the actor runs them in order
        group.sync_weights(from_worker_or_learner_group=algo.learner_group, inference_only=True)
    sampler.launch(group)
    with algo.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
        learner_results = algo.learner_group.update(
            episodes=episodes,
            timesteps={
                NUM_ENV_STEPS_SAMPLED_LIFETIME: algo.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME)),
                NUM_MODULE_STEPS_TRAINED_LIFETIME: algo.metrics.peek(
                    (LEARNER_RESULTS, ALL_MODULES, NUM_MODULE_STEPS_TRAINED_LIFETIME), default=0
                ),
            },
            num_epochs=config.num_epochs,
            minibatch_size=config.minibatch_size,
            shuffle_batch_per_epoch=config.shuffle_batch_per_epoch,
        )
        algo.metrics.aggregate(learner_results, key=LEARNER_RESULTS)
