"""Training throughput: stock RLlib PPO vs our MAPPO with the vectorized env runner.

Same env (Overcooked cramped_room, horizon 400, featurized obs), same train batch (env
steps), same epochs and minibatch size, 64x64 networks. Figure: env steps per second of whole
``algo.train()`` iterations (sampling + learning), after warm-up iterations; iterations of all
rows are interleaved so that load changes on the shared machine hit every row alike.
Wall-clock and process CPU time (of the driver) are both reported.

Rows (reference: ``stock_ppo_8envs_1thread``, what an RLlib user gets with 8 envs per runner):
- ``stock_ppo_8envs_1thread``: RLlib's PPO as a user gets it (default MultiAgentEnvRunner with
  RLlib's own vectorization of 8 envs, RLlib's PettingZoo wrapper, default RLModule, shared
  policy), one process, ``torch.set_num_threads(1)``;
- ``stock_ppo_1thread`` (``--with-single-env``): the same with one env per runner (slow: ~40 s
  per 8k-step iteration);
- ``stock_ppo`` (``--with-default-threads``): torch's default thread count (thread contention);
- ``stock_ppo_vec_runner``: stock PPO module/learner, our VectorMultiAgentEnvRunner (isolates the runner);
- ``mappo_vec_runner``: our MAPPO as configured by default (centralized critic on the env's
  agent-specific global state - Overcooked's 520-value lossless grid in cramped_room -, value
  norm, LayerNorms) with the vectorized runner, one process (``num_env_runners=0``), pinned to
  one core;
- ``mappo_joint_obs_vec_runner``: the same with ``critic_input: joint_obs`` (the critic reads
  both cooks' featurized observations + agent id, 2 x 96 + 2 values: the MAPPO paper's "CL"
  state); everything else as above. The issue's 5x row;
- ``mappo_async_1core``: MAPPO with ``async_sampling`` (a remote env runner samples the next
  batch while the learner updates), driver and env runner pinned to the same core;
- ``mappo_async_2cores``: the same on both cores (the overlap pays off);
- ``mappo_joint_obs_async_2cores``: ``critic_input: joint_obs`` with ``async_sampling`` on both cores.

An async row's iteration is timed until the batch it launched is sampled too (steady state:
one sample and one update per timed iteration; the interleaved rows cannot hide its sampling).
Pinning uses ``os.sched_setaffinity`` on the driver and on the remote runner process for each
row's own iterations (like ``taskset -c 0``), so the 1- and 2-core figures come from one run.

Run (on a quiet machine; record ``uptime``; ~8 min with ``--iters 6``)::

    .venv/bin/python bench/mappo_throughput.py --iters 6 [--batch 8000] [--num-envs 40] [--only LABEL ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.harness import Bench  # noqa: E402

ENV = "overcooked"
ENV_CONFIG = {"layout": "cramped_room", "horizon": 400, "obs": "featurized"}
RUNNER = "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner"
HIDDEN = [64, 64]
UNIT = "env steps/s"
STOCK_VECTOR_ENVS = 8  # RLlib's own env vectorization (gymnasium vector env inside the stock runner)
REFERENCE = f"stock_ppo_{STOCK_VECTOR_ENVS}envs_1thread"


ONE_CORE = {0}
JOINT_OBS = {"critic_input": "joint_obs"}
ASYNC = {"async_sampling": True}
# MAPPO rows: label -> (options beyond the common ones, CPUs to pin to or None = all)
MAPPO_ROWS: dict[str, tuple[dict[str, Any], set[int] | None]] = {
    "mappo_vec_runner": ({}, ONE_CORE),
    "mappo_joint_obs_vec_runner": (JOINT_OBS, ONE_CORE),
    "mappo_async_1core": (ASYNC, ONE_CORE),
    "mappo_async_2cores": (ASYNC, None),
    "mappo_joint_obs_async_2cores": ({**JOINT_OBS, **ASYNC}, None),
}


def build_rows(
    batch: int,
    num_envs: int,
    epochs: int,
    minibatch: int,
    seed: int,
    with_single_env: bool = False,
    with_default_threads: bool = False,
    only: list[str] | None = None,
) -> dict[str, tuple[Any, int, set[int] | None]]:
    """label -> (algorithm, torch threads during its iterations, CPUs to pin it to or None = all);
    ``only``: build just these rows (and the reference)."""
    from diverse_marl.algorithms.mappo.config import MAPPOConfig
    from diverse_marl.algorithms.ppo_baseline import SharedPPOConfig

    common = {"train_batch_size": batch, "num_epochs": epochs, "minibatch_size": minibatch, "hidden_sizes": HIDDEN}
    default_threads = torch.get_num_threads()
    stock = SharedPPOConfig.from_options(ENV, ENV_CONFIG, {**common, "num_envs_per_env_runner": 1}, seed)
    stock_vec = SharedPPOConfig.from_options(ENV, ENV_CONFIG, {**common, "num_envs_per_env_runner": num_envs}, seed)
    stock_vec.env_runners(env_runner_cls=_import(RUNNER))
    mappo_opts = {**common, "num_envs_per_env_runner": num_envs, "env_runner_cls": RUNNER}
    stock_envs = SharedPPOConfig.from_options(
        ENV, ENV_CONFIG, {**common, "num_envs_per_env_runner": STOCK_VECTOR_ENVS}, seed
    )
    rows = {f"stock_ppo_{STOCK_VECTOR_ENVS}envs_1thread": (stock_envs.build_algo(), 1, None)}
    if with_single_env:
        rows["stock_ppo_1thread"] = (stock.build_algo(), 1, None)
    if with_default_threads:
        rows["stock_ppo"] = (stock.copy(copy_frozen=False).build_algo(), default_threads, None)
    if not only or "stock_ppo_vec_runner" in only:
        rows["stock_ppo_vec_runner"] = (stock_vec.build_algo(), 1, None)
    for label, (extra, cpus) in MAPPO_ROWS.items():
        if only and label not in only:
            continue
        cfg = MAPPOConfig.from_options(ENV, ENV_CONFIG, {**mappo_opts, **extra}, seed)
        rows[label] = (cfg.build_algo(), 1, cpus)
    return rows


def _import(path: str) -> Any:
    import importlib

    mod, _, attr = path.partition(":")
    return getattr(importlib.import_module(mod), attr)


def _set_affinity(cpus: set[int]) -> None:
    os.sched_setaffinity(0, cpus)


def pin(algo: Any, cpus: set[int] | None) -> None:
    """Pin the driver and the algorithm's remote env runners to ``cpus`` (None: every CPU)."""
    cpus = set(range(os.cpu_count() or 1)) if cpus is None else cpus
    _set_affinity(cpus)
    if algo.env_runner_group.num_remote_workers():
        algo.env_runner_group.foreach_env_runner(lambda r, c=cpus: _set_affinity(c), local_env_runner=False)


def timed_train(algo: Any, threads: int, cpus: set[int] | None) -> tuple[float, float, int, float]:
    """(wall s, CPU s, env steps, sample s) of one ``algo.train()`` with ``threads`` torch threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    pin(algo, cpus)
    try:
        w0, c0 = time.perf_counter(), time.process_time()
        res = algo.train()
        if getattr(algo.config, "async_sampling", False):
            # the timed window must also hold the next batch's sampling (launched during this
            # iteration): else it would finish for free while other rows run
            algo.env_runner_group.foreach_env_runner(lambda r: None, local_env_runner=False)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    finally:
        torch.set_num_threads(before)
        pin(algo, None)
    steps = int(res["env_runners"]["num_env_steps_sampled"])
    sample_s = float(res.get("timers", {}).get("env_runner_sampling_timer", float("nan")))
    return wall, cpu, steps, sample_s


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=8000, help="env steps per training iteration")
    p.add_argument("--num-envs", type=int, default=40, help="env copies of the vectorized runner")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--minibatch", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--iters", type=int, default=3, help="measured iterations per row")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="*", default=None, help="subset of row labels (the reference row is always run)")
    p.add_argument(
        "--with-single-env",
        action="store_true",
        help="add the stock_ppo_1thread row (RLlib's runner with one env; ~40 s per iteration)",
    )
    p.add_argument(
        "--with-default-threads",
        action="store_true",
        help="add the stock_ppo row with torch's default thread count (very slow on a busy machine)",
    )
    args = p.parse_args(argv)

    import ray

    # one logical CPU per remote env runner (each async row holds one) plus the driver; the
    # real cores each row may use are set by pinning, not by Ray's scheduler
    num_async = sum(
        1
        for label, (extra, _) in MAPPO_ROWS.items()
        if extra.get("async_sampling") and (not args.only or label in args.only)
    )
    ray.init(num_cpus=max(2, num_async + 1), include_dashboard=False, log_to_driver=False)
    load_before = os.getloadavg()
    rows = build_rows(
        args.batch,
        args.num_envs,
        args.epochs,
        args.minibatch,
        args.seed,
        args.with_single_env,
        args.with_default_threads,
        args.only,
    )
    for label, (algo, threads, cpus) in rows.items():
        for _ in range(args.warmup):
            timed_train(algo, threads, cpus)
        print(f"warmed up {label}", flush=True)
    stats: dict[str, list[tuple[float, float, int, float]]] = {k: [] for k in rows}
    for it in range(args.iters):  # interleaved: every row sees the same machine load
        for label, (algo, threads, cpus) in rows.items():
            stats[label].append(timed_train(algo, threads, cpus))
            w, c, n, s = stats[label][-1]
            print(f"iter {it} {label:22s} wall {w:6.2f}s cpu {c:6.2f}s steps {n} sample {s:5.2f}s", flush=True)
    load_after = os.getloadavg()
    for algo, *_ in rows.values():
        algo.stop()
    ray.shutdown()

    bench = Bench("mappo_throughput")
    bench.meta.update(
        {
            "env": ENV,
            "env_config": ENV_CONFIG,
            "train_batch_env_steps": args.batch,
            "num_envs_vectorized": args.num_envs,
            "num_epochs": args.epochs,
            "minibatch_size": args.minibatch,
            "warmup_iters": args.warmup,
            "measured_iters": args.iters,
            "num_env_runners": "0 (async rows: 1)",
            "hidden_sizes": HIDDEN,
            "load_average_1_5_15_before": load_before,
            "load_average_1_5_15_after": load_after,
        }
    )
    ref = REFERENCE if REFERENCE in stats else None
    order = sorted(stats, key=lambda k: k != ref)  # the reference row first
    for label in order:
        st = stats[label]
        wall = sum(x[0] for x in st)
        cpu = sum(x[1] for x in st)
        steps = sum(x[2] for x in st)
        sample = float(np.nanmedian([x[3] for x in st]))
        bench.add(
            label,
            steps / wall,
            UNIT,
            ref=ref if label != ref else None,
            note=f"driver cpu {steps / cpu:,.0f} steps/s; sampling timer EMA {sample:.1f}s",
            wall_s=wall,
            cpu_s=cpu,
            env_steps=steps,
            per_iter_wall_s=[x[0] for x in st],
            sample_s_median=sample,
            torch_threads=rows[label][1],
            mappo_options=MAPPO_ROWS[label][0] if label in MAPPO_ROWS else None,
            cpus="all" if rows[label][2] is None else sorted(rows[label][2]),
        )
    bench.report()


if __name__ == "__main__":
    main()
