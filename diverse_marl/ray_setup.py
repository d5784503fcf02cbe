"""Start or join Ray: a quiet local embedded Ray by default, or an existing cluster."""
from __future__ import annotations

import logging
import os
import warnings

from diverse_marl.config import RayConfig


def init_ray(cfg: RayConfig | None = None) -> None:
    """``ray.address`` unset: local Ray with the machine's CPUs, no dashboard, quiet logs.

    ``ray.address: auto`` (or ``ray://head:10001``) joins a running cluster; nothing else changes,
    the env runners and Tune trials are then scheduled across the cluster's nodes.
    """
    import ray

    cfg = cfg or RayConfig()
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    for name in ("ray", "ray.rllib", "ray.tune"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if cfg.address:
        ray.init(address=cfg.address, logging_level=logging.ERROR, log_to_driver=False)
    else:
        ray.init(
            num_cpus=cfg.num_cpus or os.cpu_count(),
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
            configure_logging=True,
        )
