"""Start or join Ray: a quiet local embedded Ray by default, or an existing cluster."""

from __future__ import annotations

import logging
import os
import warnings

from diverse_marl.config import RayConfig
from diverse_marl.errors import ConfigError

LOST_ACTOR_LOGGER = "ray.rllib.utils.actor_manager"  # logs every failed call to a lost env runner, with a traceback
AUTH_HINT = (
    "a cluster with token authentication needs RAY_AUTH_MODE=token and the cluster's token "
    "(RAY_AUTH_TOKEN, or ~/.ray/auth_token) in the environment of every node and of this driver"
)


def init_ray(cfg: RayConfig | None = None) -> None:
    """``ray.address`` unset: local Ray with the machine's CPUs, no dashboard, quiet logs.

    ``ray.address: HEAD_IP:6379`` (or ``auto`` on a node of the cluster) joins a running
    cluster; nothing else changes, the env runners and Tune trials are then scheduled across the
    cluster's nodes. Failing to join raises one ConfigError (a rejected token names the two
    environment variables to set).
    """
    import ray  # Ray: only when starting or joining it

    cfg = cfg or RayConfig()
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for name in ("ray", "ray.rllib", "ray.tune"):
        logging.getLogger(name).setLevel(logging.ERROR)
    # a lost env runner is restarted (training.py turns RLlib's fault tolerance on) and the toolkit
    # says so itself (the async sampler's warning, or the user env's error that killed it)
    logging.getLogger(LOST_ACTOR_LOGGER).setLevel(logging.CRITICAL)
    if cfg.address:
        _join_cluster(cfg.address)
    else:
        ray.init(
            num_cpus=cfg.num_cpus or os.cpu_count(),
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
            configure_logging=True,
        )


def _join_cluster(address: str) -> None:
    import ray  # Ray: only when starting or joining it
    from ray.exceptions import AuthenticationError  # Ray: only when starting or joining it

    try:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    except (ConnectionError, AuthenticationError) as exc:
        if _rejected_token(exc):
            mode = os.environ.get("RAY_AUTH_MODE", "unset")
            raise ConfigError(
                f"ray.address {address!r}: the cluster rejected this driver's authentication "
                f"(RAY_AUTH_MODE={mode}); {AUTH_HINT}"
            ) from None
        raise ConfigError(
            f"ray.address {address!r}: cannot join a Ray cluster there ({exc}); start one with "
            "`ray start --head` or leave ray.address null for a local Ray"
        ) from None


def _rejected_token(exc: BaseException) -> bool:
    """Whether joining failed on authentication. Ray 2.60 raises ConnectionError from a RuntimeError
    whose message holds the formatted AuthenticationError, so the chain's texts are searched too."""
    from ray.exceptions import AuthenticationError  # Ray: only when starting or joining it

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, AuthenticationError) or "InvalidAuthToken" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
