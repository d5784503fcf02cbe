"""Overcooked steps/s with featurized observations: overcooked-ai 1.1.0 vs our single and batched envs.

One run measures, on one layout, with random actions and one thread (OMP_NUM_THREADS=1 etc.):

* reference: overcooked-ai 1.1.0 in its separate venv, in a worker subprocess timing its own loop
  (``env.step`` + ``env.featurize_state_mdp`` for both agents, ``reset(regen_mdp=False)`` at the
  horizon so its motion planner is kept). If that venv is missing, the script says how to create it
  and falls back to the ``overcooked==0.2.1`` package of the project venv, *dynamics only* (no
  featurization), clearly labelled.
* ours: the PettingZoo ``OvercookedEnv`` (one env) and ``OvercookedBatchedEnv`` at N = 1, 64, 1024
  (env steps/s = N x batched steps/s), the N = 64 env with ``reward_weights`` on every feature (ratio
  against the N = 64 row without weights; target >= 0.9), plus breakdown rows at N = 1024 (dynamics
  only, featurize only, lossless only) showing where a batched step spends its time.

The machine is shared, so every figure is env steps per *CPU second of the measuring process*
(``time.process_time``; all runs are single-threaded), and the rows are measured in ``--rounds``
interleaved rounds (reference, then each of ours) with the median kept; wall-clock rates are stored
in the JSON too.

Usage (from the repo root)::

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.overcooked_speed [--layout cramped_room] [--seconds 1.5] [--rounds 3]

Targets: single env >= 3x reference; batched >= 50x reference per env step.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402

from bench.harness import REPO_ROOT, Bench  # noqa: E402

# the reference venv lives in the repo (git-ignored) unless OVERCOOKED_REF_PYTHON names another python
REFERENCE_VENV = REPO_ROOT / ".venv-ocai"
REFERENCE_PYTHON = os.environ.get("OVERCOOKED_REF_PYTHON", str(REFERENCE_VENV / "bin" / "python"))
BATCH_SIZES = (1, 64, 1024)
ACTION_CHUNK = 4096      # pre-drawn random actions, reused cyclically
HORIZON = 400
TARGET_SINGLE, TARGET_BATCHED = 3.0, 50.0
WEIGHTS_N, TARGET_WEIGHTS = 64, 0.9  # batched N=64 with reward_weights vs without, same run
WEIGHTS_LABEL, WEIGHTS_REF = f"ours batched N={WEIGHTS_N} with reward_weights", f"ours batched N={WEIGHTS_N}"
UNIT = "env steps/cpu-s"

# Worker run in the reference venv: for every line "<seconds>" on stdin, times its loop for that long
# and prints {"cpu": steps per CPU second, "wall": steps per wall second}.
REFERENCE_WORKER = r"""
import json, random, sys, time, warnings
warnings.filterwarnings("ignore")
from overcooked_ai_py.mdp.actions import Action
from overcooked_ai_py.mdp.overcooked_env import OvercookedEnv
from overcooked_ai_py.mdp.overcooked_mdp import OvercookedGridworld
layout, horizon = sys.argv[1], int(sys.argv[2])
env = OvercookedEnv.from_mdp(OvercookedGridworld.from_layout_name(layout), horizon=horizon, info_level=0)
env.featurize_state_mdp(env.state)          # builds / loads the motion planner outside the timing
rng = random.Random(0)
acts = Action.ALL_ACTIONS
def step():
    state, _, done, _ = env.step((rng.choice(acts), rng.choice(acts)))
    env.featurize_state_mdp(state)
    if done:
        env.reset(regen_mdp=False)
def run(limit):
    steps, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
    while time.process_time() - cpu0 < limit:
        step()
        steps += 1
    return {"cpu": steps / (time.process_time() - cpu0), "wall": steps / (time.perf_counter() - wall0)}
run(0.3)                                       # warm-up
print("ready", flush=True)
for line in sys.stdin:
    print(json.dumps(run(float(line))), flush=True)
"""


def measure(step_fn: Callable[[], object], seconds: float, env_steps_per_call: int = 1) -> dict[str, float]:
    """Env steps per CPU second and per wall second of ``step_fn`` (after a short warm-up)."""
    cpu0 = time.process_time()
    while time.process_time() - cpu0 < min(0.2, seconds / 4):
        step_fn()
    calls, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
    while True:
        step_fn()
        calls += 1
        cpu = time.process_time() - cpu0
        if cpu >= seconds and calls >= 3:
            steps = calls * env_steps_per_call
            return {"cpu": steps / cpu, "wall": steps / (time.perf_counter() - wall0)}


class ReferenceWorker:
    """overcooked-ai 1.1.0 timing loop in its own venv, kept alive across rounds."""

    def __init__(self, layout_ref_name: str) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
        self.proc = subprocess.Popen([REFERENCE_PYTHON, "-c", REFERENCE_WORKER, layout_ref_name, str(HORIZON)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env, cwd="/tmp")
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            err = self.proc.stderr.read()[-800:] if self.proc.poll() is not None else ""
            self.close()
            raise RuntimeError(f"reference worker did not start: {line.strip()} {err}")

    def run(self, seconds: float) -> dict[str, float]:
        self.proc.stdin.write(f"{seconds}\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def fallback_measure(layout_ref_name: str) -> Callable[[float], dict[str, float]]:
    """overcooked 0.2.1 (project venv) dynamics-only timing, used when the 1.1.0 venv is missing."""
    import random

    from overcooked import Action, OvercookedGridworld

    mdp = OvercookedGridworld.from_layout_name(layout_ref_name)
    state = {"s": mdp.get_standard_start_state()}
    rng = random.Random(0)

    def step() -> None:
        s, _ = mdp.get_state_transition(state["s"], (rng.choice(Action.ALL_ACTIONS), rng.choice(Action.ALL_ACTIONS)))
        state["s"] = s if s.timestep < HORIZON else mdp.get_standard_start_state()

    return lambda seconds: measure(step, seconds)


def our_rows(layout, rng: np.random.Generator) -> list[tuple[str, Callable[[], object], int, str]]:
    """(label, step function, env steps per call, note) for every configuration of ours."""
    from diverse_marl.envs.overcooked import OvercookedBatchedEnv, OvercookedEnv
    from diverse_marl.envs.overcooked.features import Featurizer

    rows = []
    env = OvercookedEnv(layout=layout, horizon=HORIZON, obs="featurized")
    env.reset(seed=0)
    acts = rng.integers(0, 6, size=(ACTION_CHUNK, 2)).tolist()
    k = {"i": 0}

    def single_step() -> None:
        i = k["i"] = (k["i"] + 1) % ACTION_CHUNK
        _, _, _, trunc, _ = env.step({"agent_0": acts[i][0], "agent_1": acts[i][1]})
        if trunc["agent_0"]:
            env.reset()

    rows.append(("ours PettingZoo env", single_step, 1, f"target >= {TARGET_SINGLE:g}x"))

    names = OvercookedEnv.FEATURE_NAMES
    weights = {name: float(w) for name, w in zip(names, rng.normal(size=len(names)))}  # every feature weighted
    for n, env_weights, label in [*((n, None, f"ours batched N={n}") for n in BATCH_SIZES),
                                  (WEIGHTS_N, weights, WEIGHTS_LABEL)]:
        benv = OvercookedBatchedEnv(n, layout=layout, horizon=HORIZON, obs="featurized", reward_weights=env_weights)
        benv.reset(seed=0)
        chunk = rng.integers(0, 6, size=(max(8, ACTION_CHUNK // n), n, 2))
        j = {"i": 0}

        def batched_step(benv=benv, chunk=chunk, j=j) -> None:
            i = j["i"] = (j["i"] + 1) % len(chunk)
            benv.step({"agent_0": chunk[i, :, 0], "agent_1": chunk[i, :, 1]})

        note = f"target >= {TARGET_BATCHED:g}x" if n > 1 else ""
        if env_weights:
            note = f"vs {WEIGHTS_REF}: target >= {TARGET_WEIGHTS:g}x"
        rows.append((label, batched_step, n, note))

    # breakdown at the largest N on a mid-episode state (objects in pots and hands)
    n = BATCH_SIZES[-1]
    benv = OvercookedBatchedEnv(n, layout=layout, horizon=HORIZON, obs="featurized")
    benv.reset(seed=0)
    for _ in range(50):
        benv.step({"agent_0": rng.integers(0, 6, n), "agent_1": rng.integers(0, 6, n)})
    state, frozen = benv.s, benv.s.copy()
    chunk = rng.integers(0, 6, size=(16, n, 2))
    j = {"i": 0}

    def dynamics_only() -> None:
        i = j["i"] = (j["i"] + 1) % len(chunk)
        benv.dynamics.step(state, chunk[i])
        state.timestep %= HORIZON

    feat = Featurizer(layout, horizon=HORIZON)
    rows.append((f"dynamics only N={n}", dynamics_only, n, "breakdown"))
    rows.append((f"featurize only N={n}", lambda: feat.featurize(frozen), n, "breakdown"))
    rows.append((f"lossless only N={n}", lambda: feat.lossless(frozen), n, "breakdown"))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Overcooked speed: reference vs ours")
    parser.add_argument("--layout", default="cramped_room")
    parser.add_argument("--seconds", type=float, default=1.5, help="CPU seconds per row and round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median is kept)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from diverse_marl.envs.overcooked.layouts import get_layout

    layout = get_layout(args.layout)
    name = "overcooked_speed" if layout.name == "cramped_room" else f"overcooked_speed_{layout.name}"
    bench = Bench(name)
    bench.meta.update(layout=layout.name, cpu_seconds_per_row=args.seconds, rounds=args.rounds, horizon=HORIZON,
                      figure="env steps per CPU second of the measuring process, median over rounds")
    rng = np.random.default_rng(0)

    worker = None
    if Path(REFERENCE_PYTHON).exists():
        try:
            worker = ReferenceWorker(layout.reference_name)
        except (OSError, RuntimeError) as exc:
            print(f"!! {exc}", file=sys.stderr)
    if worker is not None:
        ref, ref_note, ref_run = "reference 1.1.0 step+featurize", "", worker.run
    else:
        print(f"!! overcooked-ai 1.1.0 venv python {REFERENCE_PYTHON} not usable; create it with:\n"
              f"   python3 -m venv {REFERENCE_VENV} && {REFERENCE_VENV}/bin/pip install 'overcooked-ai==1.1.0' "
              "'numpy<2' scipy\n!! falling back to overcooked 0.2.1 DYNAMICS ONLY (no featurization)", file=sys.stderr)
        ref, ref_note = "reference 0.2.1 dynamics only (FALLBACK)", "no featurization in this reference"
        ref_run = fallback_measure(layout.reference_name)

    rows = our_rows(layout, rng)
    results: dict[str, list[dict[str, float]]] = {ref: []} | {label: [] for label, *_ in rows}
    try:
        for _ in range(args.rounds):
            results[ref].append(ref_run(args.seconds))
            for label, fn, per_call, _ in rows:
                results[label].append(measure(fn, args.seconds, per_call))
    finally:
        if worker is not None:
            worker.close()

    def add(label: str, ref_label: str | None, note: str) -> None:
        runs = results[label]
        bench.add(label, float(np.median([r["cpu"] for r in runs])), UNIT, ref=ref_label, note=note,
                  cpu_runs=[r["cpu"] for r in runs], wall_runs=[r["wall"] for r in runs])

    add(ref, None, ref_note)
    for label, _, _, note in rows:
        add(label, WEIGHTS_REF if label == WEIGHTS_LABEL else ref, note)
    bench.report()


if __name__ == "__main__":
    main()
