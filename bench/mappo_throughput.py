"""Training throughput: stock RLlib PPO vs our MAPPO with the vectorized env runner.

Same env (Overcooked cramped_room, horizon 400, featurized obs), same train batch (env
steps), same epochs and minibatch size, 64x64 networks, one process (``num_env_runners=0``).
Figure: env steps per second of whole ``algo.train()`` iterations (sampling + learning),
after warm-up iterations; iterations of all rows are interleaved so that load changes on
the shared machine hit every row alike. Wall-clock and process CPU time are both reported.

Rows:
- ``stock_ppo_1thread`` (reference): RLlib's PPO as a user gets it (default MultiAgentEnvRunner,
  RLlib's PettingZoo wrapper, default RLModule, shared policy) with ``torch.set_num_threads(1)``;
- ``stock_ppo_8envs_1thread``: the same with RLlib's own vectorization (8 envs per runner);
- ``stock_ppo`` (``--with-default-threads``): the same with torch's default thread count, which on
  a busy 2-core machine is many times slower (thread contention), so it is not the reference;
- ``stock_ppo_vec_runner``: stock PPO module/learner, our VectorMultiAgentEnvRunner (isolates the runner);
- ``mappo_vec_runner``: our MAPPO (centralized critic, value norm) with the vectorized runner.

Run: ``.venv/bin/python bench/mappo_throughput.py [--batch 8000] [--iters 3] [--num-envs 40]``
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Callable

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


def build_rows(batch: int, num_envs: int, epochs: int, minibatch: int, seed: int,
               with_default_threads: bool = False) -> dict[str, tuple[Any, int]]:
    """label -> (algorithm, torch threads during its iterations)."""
    from diverse_marl.algorithms.mappo.config import MAPPOConfig
    from diverse_marl.algorithms.ppo_baseline import SharedPPOConfig

    common = {"train_batch_size": batch, "num_epochs": epochs, "minibatch_size": minibatch, "hidden_sizes": HIDDEN}
    default_threads = torch.get_num_threads()
    stock = SharedPPOConfig.from_options(ENV, ENV_CONFIG, {**common, "num_envs_per_env_runner": 1}, seed)
    stock_vec = SharedPPOConfig.from_options(ENV, ENV_CONFIG, {**common, "num_envs_per_env_runner": num_envs}, seed)
    stock_vec.env_runners(env_runner_cls=_import(RUNNER))
    mappo = MAPPOConfig.from_options(
        ENV, ENV_CONFIG, {**common, "num_envs_per_env_runner": num_envs, "env_runner_cls": RUNNER}, seed)
    stock_envs = SharedPPOConfig.from_options(
        ENV, ENV_CONFIG, {**common, "num_envs_per_env_runner": STOCK_VECTOR_ENVS}, seed)
    rows = {"stock_ppo_1thread": (stock.build_algo(), 1),
            f"stock_ppo_{STOCK_VECTOR_ENVS}envs_1thread": (stock_envs.build_algo(), 1)}
    if with_default_threads:
        rows["stock_ppo"] = (stock.copy(copy_frozen=False).build_algo(), default_threads)
    rows["stock_ppo_vec_runner"] = (stock_vec.build_algo(), 1)
    rows["mappo_vec_runner"] = (mappo.build_algo(), 1)
    return rows


def _import(path: str) -> Any:
    import importlib

    mod, _, attr = path.partition(":")
    return getattr(importlib.import_module(mod), attr)


def timed_train(algo: Any, threads: int) -> tuple[float, float, int, float]:
    """(wall s, CPU s, env steps, sample s) of one ``algo.train()`` with ``threads`` torch threads."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        w0, c0 = time.perf_counter(), time.process_time()
        res = algo.train()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    finally:
        torch.set_num_threads(before)
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
    p.add_argument("--only", nargs="*", default=None, help="subset of row labels")
    p.add_argument("--with-default-threads", action="store_true",
                   help="add the stock_ppo row with torch's default thread count (very slow on a busy machine)")
    args = p.parse_args(argv)

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rows = build_rows(args.batch, args.num_envs, args.epochs, args.minibatch, args.seed, args.with_default_threads)
    if args.only:
        rows = {k: v for k, v in rows.items() if k in args.only}
    for label, (algo, threads) in rows.items():
        for _ in range(args.warmup):
            timed_train(algo, threads)
        print(f"warmed up {label}", flush=True)
    stats: dict[str, list[tuple[float, float, int, float]]] = {k: [] for k in rows}
    for it in range(args.iters):  # interleaved: every row sees the same machine load
        for label, (algo, threads) in rows.items():
            stats[label].append(timed_train(algo, threads))
            w, c, n, s = stats[label][-1]
            print(f"iter {it} {label:22s} wall {w:6.2f}s cpu {c:6.2f}s steps {n} sample {s:5.2f}s", flush=True)
    for algo, _ in rows.values():
        algo.stop()
    ray.shutdown()

    bench = Bench("mappo_throughput")
    bench.meta.update({"env": ENV, "env_config": ENV_CONFIG, "train_batch_env_steps": args.batch,
                       "num_envs_vectorized": args.num_envs, "num_epochs": args.epochs,
                       "minibatch_size": args.minibatch, "warmup_iters": args.warmup, "measured_iters": args.iters,
                       "num_env_runners": 0, "hidden_sizes": HIDDEN})
    ref = "stock_ppo_1thread" if "stock_ppo_1thread" in stats else None
    order = sorted(stats, key=lambda k: k != ref)  # the reference row first
    for label in order:
        st = stats[label]
        wall = sum(x[0] for x in st)
        cpu = sum(x[1] for x in st)
        steps = sum(x[2] for x in st)
        sample = float(np.nanmedian([x[3] for x in st]))
        bench.add(label, steps / wall, UNIT, ref=ref if label != ref else None,
                  note=f"cpu {steps / cpu:,.0f} steps/s; RLlib sampling-timer EMA {sample:.1f}s",
                  wall_s=wall, cpu_s=cpu, env_steps=steps, per_iter_wall_s=[x[0] for x in st],
                  sample_s_median=sample, torch_threads=rows[label][1])
    bench.report()


if __name__ == "__main__":
    main()
