"""Cross-play speed: 16 Overcooked MAPPO policies x 16 x 10 episodes x 400 steps (2,560 episodes).

* reference: today's unbatched path, ``evaluation.run_episode`` with one ``PolicyAgent`` per seat
  (one forward pass per agent per step, one PettingZoo env), timed on a subset of pairs in the
  same run and extrapolated per episode to all 2,560;
* ours: ``crossplay_matrix`` — all 2,560 episodes as rows of ``OvercookedBatchedEnv``, one forward
  pass per policy per step.

Policies are real MAPPO checkpoints: ``--distinct`` tiny runs (1 training iteration each; speed
does not depend on training quality) copied into 16 run directories, each loaded as its own
policy. Policy loading is timed apart (it is the same for both paths). The machine is shared:
wall and CPU seconds are both reported, and the load average before and after is printed and
stored with the results.

Usage (from the repo root; target: ours <= 60 s on 2 cores)::

    .venv/bin/python -m bench.crossplay_speed [--policies 16] [--episodes 10] [--ref-episodes 6]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from bench.harness import Bench  # noqa: E402

ENV = "overcooked"
ENV_CONFIG = {"layout": "cramped_room", "horizon": 400}
TARGET_SECONDS = 60.0
TRAIN_OVERRIDES = [
    "stop.iterations=1",
    "stop.env_steps=null",
    "training.num_envs_per_env_runner=4",
    "training.train_batch_size=1600",
    "env_config.horizon=400",
]


def make_runs(root: Path, policies: int, distinct: int) -> list[Path]:
    """``policies`` run dirs under ``root``: ``distinct`` tiny MAPPO runs, copied round-robin (reused if present)."""
    import diverse_marl

    runs = sorted(root.glob("policy_*"))
    if len(runs) >= policies:
        return runs[:policies]
    trained = []
    for seed in range(distinct):
        result = diverse_marl.train(
            "examples/overcooked/mappo_cramped_room.yaml",
            overrides=[*TRAIN_OVERRIDES, f"runs_dir={root / 'trained'}", f"seed={seed}", f"name=tiny{seed}"],
            quiet=True,
        )
        trained.append(result.run_dir)
    for k in range(policies):
        shutil.copytree(trained[k % distinct], root / f"policy_{k:02d}", dirs_exist_ok=True)
    return sorted(root.glob("policy_*"))[:policies]


def time_reference(runs: list[Path], episodes: int) -> tuple[float, float]:
    """(wall, CPU) seconds per episode of the unbatched path, over ``episodes`` episodes of different pairs."""
    from diverse_marl import envs, load_policy
    from diverse_marl.agents import PolicyAgent
    from diverse_marl.rollout import run_episode

    env = envs.make(ENV, **ENV_CONFIG)
    pairs = [(k % len(runs), (3 * k + 1) % len(runs)) for k in range(episodes)]
    seats = [
        {
            "agent_0": PolicyAgent(load_policy(runs[i], "agent_0")),
            "agent_1": PolicyAgent(load_policy(runs[j], "agent_1")),
        }
        for i, j in pairs
    ]
    start, cpu = time.perf_counter(), time.process_time()
    for k, agents in enumerate(seats):
        run_episode(env, agents, seed=k)
    return (time.perf_counter() - start) / episodes, (time.process_time() - cpu) / episodes


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--policies", type=int, default=16)
    p.add_argument("--episodes", type=int, default=10, help="episodes per pair")
    p.add_argument("--ref-episodes", type=int, default=6, help="episodes timed on the reference path")
    p.add_argument("--distinct", type=int, default=2, help="tiny runs actually trained (then copied)")
    p.add_argument("--runs-dir", help="keep / reuse the policy run dirs here (default: a temp dir)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    args = p.parse_args(argv)

    import torch

    from diverse_marl import load_policy
    from diverse_marl.crossplay import crossplay_matrix

    torch.set_num_threads(args.threads)
    root = Path(args.runs_dir) if args.runs_dir else Path(tempfile.mkdtemp(prefix="crossplay_bench_"))
    root.mkdir(parents=True, exist_ok=True)
    runs = make_runs(root, args.policies, args.distinct)
    load_before = os.getloadavg()

    start = time.perf_counter()
    policies = {r.name: load_policy(r, "agent_0") for r in runs}  # shared policy: one per run
    load_s = time.perf_counter() - start

    n_episodes = args.policies**2 * args.episodes
    ref_per_episode, ref_cpu_per_episode = time_reference(runs, args.ref_episodes)

    start, cpu = time.perf_counter(), time.process_time()
    result = crossplay_matrix(policies, ENV, ENV_CONFIG, episodes=args.episodes, seed=0)
    ours_s, ours_cpu = time.perf_counter() - start, time.process_time() - cpu
    load_after = os.getloadavg()

    b = Bench("crossplay_speed")
    b.meta.update(
        {
            "env": ENV,
            "env_config": ENV_CONFIG,
            "policies": args.policies,
            "episodes_per_pair": args.episodes,
            "episodes": n_episodes,
            "reference_episodes_timed": args.ref_episodes,
            "torch_threads": args.threads,
            "loadavg_before": load_before,
            "loadavg_after": load_after,
            "target_seconds": TARGET_SECONDS,
            "mean_sparse_return": sum(map(sum, result.value_mean)) / args.policies**2,
        }
    )
    b.add(
        "reference_run_episode",
        ref_per_episode * n_episodes,
        "s",
        higher_is_better=False,
        note=f"{ref_per_episode:.3f} s/episode x {n_episodes} (timed on {args.ref_episodes} episodes)",
    )
    b.add(
        "batched_crossplay",
        ours_s,
        "s",
        ref="reference_run_episode",
        higher_is_better=False,
        note=f"{n_episodes} episodes in one matrix; target <= {TARGET_SECONDS:.0f} s",
    )
    b.add(
        "reference_run_episode_cpu",
        ref_cpu_per_episode * n_episodes,
        "CPU s",
        higher_is_better=False,
        note="CPU time of the process (less sensitive to other load)",
    )
    b.add("batched_crossplay_cpu", ours_cpu, "CPU s", ref="reference_run_episode_cpu", higher_is_better=False)
    b.add("load_policies", load_s, "s", higher_is_better=False, note=f"{args.policies} checkpoints, both paths")
    b.report()
    print(f"load average (1/5/15 min): before {load_before}, after {load_after}")
    status = "meets" if ours_s <= TARGET_SECONDS else "misses"
    print(f"batched cross-play {ours_s:.1f} s for {n_episodes} episodes: {status} the {TARGET_SECONDS:.0f} s target")
    if not args.runs_dir:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
