"""A user's own env with the default config: the old default (RLlib's stock runner, one env) vs today's.

The env is what a user writes first: a tiny two-agent PettingZoo grid (``TwoAgentGrid`` below,
pure Python, no batched class), given to diverse-marl by import path. Each row trains MAPPO
through the same path as ``diverse-marl train`` (``load_config(...).to_rllib().build_algo()``),
``num_env_runners=0``; only ``training:`` differs:

- ``old_default`` (reference): ``env_runner_cls: null, num_envs_per_env_runner: 1``, the defaults
  before the fast runner became the default (RLlib's MultiAgentEnvRunner stepping one env);
- ``stock_runner_8envs``: RLlib's runner with RLlib's own env vectorization (8 envs), to separate
  the gain of more env copies from the gain of the runner;
- ``new_default``: no ``training:`` keys at all (``env_runner_cls: auto`` picks the fast
  ``VectorMultiAgentEnvRunner`` over a ``SyncBatchedEnv`` of 8 copies).

Figure: env steps per second of whole ``algo.train()`` iterations (sampling + learning) after one
warm-up iteration, iterations of the rows interleaved so that load changes hit every row alike;
also per CPU-second of this process (everything runs in it with ``num_env_runners=0``), which a
busy shared machine distorts less.
Run alone on a quiet machine: ``.venv/bin/python -m bench.user_env_speed``
(``--iters 3`` default; about 2 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from bench.harness import Bench

UNIT = "env steps/s"
CPU_UNIT = "env steps/cpu-s"
ENV_PATH = "bench.user_env_speed:TwoAgentGrid"
ROWS = {
    "old_default": {"env_runner_cls": None, "num_envs_per_env_runner": 1},
    "stock_runner_8envs": {"env_runner_cls": None, "num_envs_per_env_runner": 8},
    "new_default": {},
}
MOVES = np.array([[0, 0], [-1, 0], [1, 0], [0, -1], [0, 1]])  # stay, up, down, left, right


class TwoAgentGrid(ParallelEnv):
    """Two agents on a ``size`` x ``size`` grid must both stand on the goal cell (+1 each, episode ends).

    Observation per agent: own, partner's and goal position scaled to [0, 1] (Box(6)); actions:
    stay / up / down / left / right; episodes are truncated after ``horizon`` steps.
    """

    metadata = {"name": "two_agent_grid_v0"}

    def __init__(self, size: int = 5, horizon: int = 50) -> None:
        self.size, self.horizon = int(size), int(horizon)
        self.possible_agents = ["agent_0", "agent_1"]
        self.agents: list[str] = []
        self._rng = np.random.default_rng()
        self._pos = np.zeros((2, 2), np.int64)
        self._goal = np.zeros(2, np.int64)
        self._t = 0

    @functools.cache
    def observation_space(self, agent: str) -> spaces.Box:
        return spaces.Box(0.0, 1.0, shape=(6,), dtype=np.float32)

    @functools.cache
    def action_space(self, agent: str) -> spaces.Discrete:
        return spaces.Discrete(len(MOVES))

    def _obs(self) -> dict[str, np.ndarray]:
        scale = 1.0 / (self.size - 1)
        out = {}
        for i, agent in enumerate(self.possible_agents):
            out[agent] = (np.concatenate([self._pos[i], self._pos[1 - i], self._goal]) * scale).astype(np.float32)
        return out

    def reset(self, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.agents = list(self.possible_agents)
        self._pos = self._rng.integers(0, self.size, size=(2, 2))
        self._goal = self._rng.integers(0, self.size, size=2)
        self._t = 0
        return self._obs(), {a: {} for a in self.agents}

    def step(self, actions: dict[str, int]):
        for i, agent in enumerate(self.possible_agents):
            self._pos[i] = np.clip(self._pos[i] + MOVES[int(actions[agent])], 0, self.size - 1)
        self._t += 1
        done = bool((self._pos == self._goal).all())
        truncated = not done and self._t >= self.horizon
        rewards = {a: float(done) for a in self.agents}
        obs = self._obs()
        terms = {a: done for a in self.agents}
        truncs = {a: truncated for a in self.agents}
        infos = {a: {} for a in self.agents}
        if done or truncated:
            self.agents = []
        return obs, rewards, terms, truncs, infos


def experiment(label: str, seed: int) -> dict[str, Any]:
    """The config a user writes for their env (plus this row's ``training:`` keys)."""
    return {
        "name": f"user-env-{label}",
        "algorithm": "mappo",
        "env": ENV_PATH,
        "seed": seed,
        "training": dict(ROWS[label]),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, default=3, help="timed iterations per row (after 1 warm-up)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="results dir (default bench/results/user_env_speed)")
    args = parser.parse_args(argv)

    import ray

    from diverse_marl.config import RayConfig, load_config
    from diverse_marl.ray_setup import init_ray

    init_ray(RayConfig(num_cpus=2))
    algos = {}
    for label in ROWS:
        cfg = load_config(experiment(label, args.seed))
        rllib_config = cfg.to_rllib()
        algos[label] = (
            rllib_config.build_algo(),
            getattr(rllib_config, "mappo_runner", "?"),
            rllib_config.num_envs_per_env_runner,
        )
    steps = {label: 0 for label in ROWS}
    seconds = {label: 0.0 for label in ROWS}
    cpu = {label: 0.0 for label in ROWS}
    load_before = os.getloadavg()
    for it in range(args.iters + 1):
        for label, (algo, _, _) in algos.items():
            t0, c0 = time.perf_counter(), time.process_time()
            result = algo.train()
            wall, used = time.perf_counter() - t0, time.process_time() - c0
            if it == 0:
                continue  # warm-up
            steps[label] += int(result["env_runners"]["num_env_steps_sampled"])
            seconds[label] += wall
            cpu[label] += used
            print(
                f"iter {it} {label}: {result['env_runners']['num_env_steps_sampled']} steps in {wall:.2f}s", flush=True
            )
    load_after = os.getloadavg()
    for algo, _, _ in algos.values():
        algo.stop()
    ray.shutdown()

    bench = Bench("user_env_speed", results_dir=args.out)
    bench.meta.update(
        env=ENV_PATH,
        iters=args.iters,
        loadavg_before=load_before,
        loadavg_after=load_after,
        rows={label: dict(ROWS[label]) for label in ROWS},
    )
    for unit, spent in ((UNIT, seconds), (CPU_UNIT, cpu)):  # wall clock; process CPU time (less load-bound)
        suffix = "" if unit == UNIT else " (cpu)"
        for label, (_, runner, num_envs) in algos.items():
            bench.add(
                label + suffix,
                steps[label] / max(spent[label], 1e-9),
                unit,
                ref=None if label == "old_default" else "old_default" + suffix,
                note=f"{runner}, {num_envs} env(s)",
                env_steps=steps[label],
                seconds=spent[label],
            )
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1-min)")
    bench.report()


if __name__ == "__main__":
    main()
