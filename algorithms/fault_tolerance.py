"""Lost env runners: wait until RLlib's fault tolerance has them back, then carry on.

With ``restart_failed_env_runners`` (set by ``diverse_marl.training``), Ray restarts an env
runner actor whose process died (SIGKILL, out of memory, a lost node). RLlib probes for it
before each training step, but a probe that lands while the actor is still restarting fails
at once and the iteration samples without it. :func:`restore_lost_runners` waits for the
restart instead: it probes until every runner is back, with its state and weights synced by
RLlib, and runs the ``on_env_runners_recreated`` callbacks (the reward schedule re-pushes its
values into the new runner's envs).
"""

from __future__ import annotations

import time
from typing import Any

from ray.rllib.callbacks.utils import make_callback

from diverse_marl.envs.user_code import pop_reported_error

POLL_S = 1.0  # between two probes of a runner that is still restarting


def lost_runner_ids(group: Any) -> list[int]:
    """Ids of the remote env runners (1..N) that are not healthy."""
    healthy = set(group.healthy_env_runner_ids())
    return [i for i in range(1, group.num_remote_env_runners() + 1) if i not in healthy]


def restore_lost_runners(algo: Any, runner_ids: list[int] | None = None) -> list[int]:
    """Wait until the remote env runners ``runner_ids`` (default: every lost one) are restored;
    returns the ids restored. A runner that died of an error in a user's env is not waited for:
    that error (``envs/user_code.py``) is raised."""
    group = algo.env_runner_group
    wanted = set(lost_runner_ids(group) if runner_ids is None else runner_ids)
    deadline = time.monotonic() + algo.config.env_runner_restore_timeout_s
    back: list[int] = []
    while not wanted <= set(group.healthy_env_runner_ids()):
        reported = pop_reported_error()
        if reported is not None:
            raise reported
        restored = algo.restore_env_runners(group)
        if restored:
            back += restored
            make_callback(
                "on_env_runners_recreated",
                callbacks_objects=algo.callbacks,
                callbacks_functions=algo.config.callbacks_on_env_runners_recreated,
                kwargs=dict(algorithm=algo, env_runner_group=group, env_runner_indices=restored, is_evaluation=False),
            )
        elif time.monotonic() > deadline:
            raise RuntimeError(
                f"env runner(s) {sorted(wanted)} did not come back within "
                f"env_runner_restore_timeout_s={algo.config.env_runner_restore_timeout_s}"
            )
        else:
            time.sleep(POLL_S)
    return back
