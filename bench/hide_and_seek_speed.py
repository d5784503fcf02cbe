"""Hide-and-seek env speed: PettingZoo env vs the numpy batched env at N = 1 and N = 256.

Reference (measured in the same run): the single ``HideAndSeekEnv`` stepped through the
PettingZoo API with random actions. Figures are env steps per second (one step of one env copy)
and agent-steps per second (x 4 agents), counting observation building and auto-resets, on one
core (numpy single-threaded). Target: >= 20,000 agent-steps/s batched.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.hide_and_seek_speed [--seconds 3] [--scenario quadrant]   (repo root)
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from bench.harness import Bench, time_per_call  # noqa: E402
from diverse_marl.envs.hide_and_seek import HideAndSeekBatchedEnv, HideAndSeekEnv  # noqa: E402

BATCH_SIZES = (1, 256)
N_ACTION_SETS = 64  # pre-drawn random action sets, so action sampling is not timed


def single_env_rate(kw: dict, seconds: float) -> float:
    env = HideAndSeekEnv(**kw)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    acts = [
        {a: int(x) for a, x in zip(env.possible_agents, rng.integers(0, 8, len(env.possible_agents)))}
        for _ in range(N_ACTION_SETS)
    ]
    k = [0]

    def one_step() -> None:
        if not env.agents:
            env.reset()
        env.step(acts[k[0] % N_ACTION_SETS])
        k[0] += 1

    return 1.0 / time_per_call(one_step, min_seconds=seconds)


def batched_rate(kw: dict, n: int, seconds: float) -> float:
    env = HideAndSeekBatchedEnv(num_envs=n, **kw)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    acts = [{a: rng.integers(0, 8, size=n) for a in env.possible_agents} for _ in range(N_ACTION_SETS)]
    k = [0]

    def one_step() -> None:
        env.step(acts[k[0] % N_ACTION_SETS])
        k[0] += 1

    return n / time_per_call(one_step, min_seconds=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timing per row")
    parser.add_argument("--scenario", default="quadrant")
    args = parser.parse_args()
    kw = {"scenario": args.scenario}  # all other options at their defaults (2 vs 2, 16x16, horizon 100)
    bench = Bench("hide_and_seek_speed")
    bench.meta.update(kw, note="agent-steps/s = env steps/s x 4 agents; includes obs and auto-resets")
    n_agents = len(HideAndSeekEnv(**kw).possible_agents)
    rates = {"pettingzoo_env": single_env_rate(kw, args.seconds)}
    for n in BATCH_SIZES:
        rates[f"batched_N{n}"] = batched_rate(kw, n, args.seconds)
    for unit, scale in (("env-steps/s", 1), ("agent-steps/s", n_agents)):
        suffix = "" if scale == 1 else " (agents)"
        ref = "pettingzoo_env" + suffix
        bench.add(ref, rates["pettingzoo_env"] * scale, unit, note="HideAndSeekEnv.step (reference)")
        for n in BATCH_SIZES:
            bench.add(
                f"batched_N{n}{suffix}",
                rates[f"batched_N{n}"] * scale,
                unit,
                ref=ref,
                note=f"HideAndSeekBatchedEnv, {n} envs",
            )
    bench.report()


if __name__ == "__main__":
    main()
