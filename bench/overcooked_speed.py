"""Overcooked steps/s with featurized observations: overcooked-ai 1.1.0 vs our single and batched envs.

One run measures, on one layout, with random actions and one thread (OMP_NUM_THREADS=1 etc.):

* reference: overcooked-ai 1.1.0 (separate venv, subprocess timing its own loop:
  ``env.step`` + ``env.featurize_state_mdp`` for both agents, ``reset(regen_mdp=False)`` at the horizon),
  measured before and after our rows; the reference figure is the mean of the two (the machine is
  shared, so load drifts; both runs are kept in the JSON). If that venv is
  missing, it says how to create it and falls back to the ``overcooked==0.2.1`` package of the project
  venv, *dynamics only* (no featurization), clearly labelled.
* ours: the PettingZoo ``OvercookedEnv`` (one env) and ``OvercookedBatchedEnv`` at N = 1, 64, 1024
  (env steps/s = N x batched steps/s), plus breakdown rows (dynamics only, featurize only,
  lossless only at N = 1024) to show where the time goes.

Usage (from the repo root)::

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.overcooked_speed [--layout cramped_room] [--seconds 2]

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

import numpy as np  # noqa: E402

from bench.harness import Bench  # noqa: E402

REFERENCE_PYTHON = os.environ.get("OVERCOOKED_REF_PYTHON", "/work/venvs/ocai/bin/python")
BATCH_SIZES = (1, 64, 1024)
ACTION_CHUNK = 4096      # pre-drawn random actions, reused cyclically
HORIZON = 400
TARGET_SINGLE, TARGET_BATCHED = 3.0, 50.0

# Runs inside the reference venv; prints one JSON line {"steps_per_s": ..., "steps": ...}.
REFERENCE_LOOP = r"""
import json, random, sys, time, warnings
warnings.filterwarnings("ignore")
from overcooked_ai_py.mdp.actions import Action
from overcooked_ai_py.mdp.overcooked_env import OvercookedEnv
from overcooked_ai_py.mdp.overcooked_mdp import OvercookedGridworld
layout, seconds, horizon = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
env = OvercookedEnv.from_mdp(OvercookedGridworld.from_layout_name(layout), horizon=horizon, info_level=0)
env.featurize_state_mdp(env.state)          # builds / loads the motion planner outside the timing
rng = random.Random(0)
acts = Action.ALL_ACTIONS
def run(limit):
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < limit:
        state, _, done, _ = env.step((rng.choice(acts), rng.choice(acts)))
        env.featurize_state_mdp(state)
        steps += 1
        if done:
            env.reset(regen_mdp=False)   # keep the planner: a fresh one is reloaded from disk otherwise
    return steps, time.perf_counter() - start
run(min(0.5, seconds))                         # warm-up
steps, elapsed = run(seconds)
print(json.dumps({"steps_per_s": steps / elapsed, "steps": steps}))
"""


def measure(step_fn, seconds: float, env_steps_per_call: int = 1) -> float:
    """Env steps/s of ``step_fn`` over ``seconds`` (after a short warm-up)."""
    warm = time.perf_counter()
    while time.perf_counter() - warm < min(0.3, seconds / 4):
        step_fn()
    calls, start = 0, time.perf_counter()
    while True:
        step_fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and calls >= 3:
            return calls * env_steps_per_call / elapsed


def reference_rate(layout_ref_name: str, seconds: float) -> tuple[float | None, str]:
    """(steps/s, error message) of overcooked-ai 1.1.0 in its own venv."""
    if not Path(REFERENCE_PYTHON).exists():
        return None, f"reference venv python {REFERENCE_PYTHON} not found"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    try:
        out = subprocess.run([REFERENCE_PYTHON, "-c", REFERENCE_LOOP, layout_ref_name, str(seconds), str(HORIZON)],
                             capture_output=True, text=True, timeout=600, env=env, cwd="/tmp")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"reference run failed: {exc}"
    for line in reversed(out.stdout.strip().splitlines()):
        if line.startswith("{"):
            return float(json.loads(line)["steps_per_s"]), ""
    return None, f"reference run failed (exit {out.returncode}): {out.stderr.strip()[-500:]}"


def fallback_rate(layout_ref_name: str, seconds: float) -> float:
    """overcooked 0.2.1 (project venv) dynamics-only steps/s."""
    import random

    from overcooked import Action, OvercookedGridworld

    mdp = OvercookedGridworld.from_layout_name(layout_ref_name)
    state = {"s": mdp.get_standard_start_state()}
    rng = random.Random(0)

    def step() -> None:
        s, _ = mdp.get_state_transition(state["s"], (rng.choice(Action.ALL_ACTIONS), rng.choice(Action.ALL_ACTIONS)))
        state["s"] = s if s.timestep < HORIZON else mdp.get_standard_start_state()

    return measure(step, seconds)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Overcooked speed: reference vs ours")
    parser.add_argument("--layout", default="cramped_room")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing window per row")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from diverse_marl.envs.overcooked import OvercookedBatchedEnv, OvercookedEnv
    from diverse_marl.envs.overcooked.features import Featurizer
    from diverse_marl.envs.overcooked.layouts import get_layout

    layout = get_layout(args.layout)
    bench = Bench("overcooked_speed")
    bench.meta.update(layout=layout.name, seconds_per_row=args.seconds, horizon=HORIZON,
                      reference="overcooked-ai==1.1.0 env.step + featurize_state_mdp (separate venv)")
    rng = np.random.default_rng(0)

    ref_rate, err = reference_rate(layout.reference_name, args.seconds)
    ref = "reference 1.1.0 step+featurize"
    if ref_rate is None:
        print(f"!! {err}\n!! create it with:\n   python3 -m venv /work/venvs/ocai && "
              "/work/venvs/ocai/bin/pip install 'overcooked-ai==1.1.0' 'numpy<2' scipy\n"
              "!! falling back to overcooked 0.2.1 DYNAMICS ONLY (no featurization) as the reference", file=sys.stderr)
        ref = "reference 0.2.1 dynamics only (FALLBACK)"
        bench.add(ref, fallback_rate(layout.reference_name, args.seconds), "env steps/s",
                  note="no featurization in this reference")

    ours: list[tuple] = []  # (label, figure, note): added after the second reference run

    # ours, PettingZoo single env
    env = OvercookedEnv(layout=layout, horizon=HORIZON, obs="featurized")
    env.reset(seed=0)
    acts = rng.integers(0, 6, size=(ACTION_CHUNK, 2))
    k = {"i": 0}

    def single_step() -> None:
        i = k["i"] = (k["i"] + 1) % ACTION_CHUNK
        _, _, _, trunc, _ = env.step({"agent_0": int(acts[i, 0]), "agent_1": int(acts[i, 1])})
        if trunc["agent_0"]:
            env.reset()

    ours.append(("ours PettingZoo env", measure(single_step, args.seconds), f"target >= {TARGET_SINGLE:g}x"))

    # ours, batched env
    for n in BATCH_SIZES:
        benv = OvercookedBatchedEnv(n, layout=layout, horizon=HORIZON, obs="featurized")
        benv.reset(seed=0)
        chunk = rng.integers(0, 6, size=(max(8, ACTION_CHUNK // n), n, 2))
        j = {"i": 0}

        def batched_step(benv=benv, chunk=chunk, j=j) -> None:
            i = j["i"] = (j["i"] + 1) % len(chunk)
            benv.step({"agent_0": chunk[i, :, 0], "agent_1": chunk[i, :, 1]})

        ours.append((f"ours batched N={n}", measure(batched_step, args.seconds, n),
                     f"target >= {TARGET_BATCHED:g}x" if n > 1 else ""))

    # breakdown at the largest N: where does a batched step spend its time?
    n = BATCH_SIZES[-1]
    benv = OvercookedBatchedEnv(n, layout=layout, horizon=HORIZON, obs="featurized")
    benv.reset(seed=0)
    for _ in range(50):  # get objects into pots / hands first
        benv.step({"agent_0": rng.integers(0, 6, n), "agent_1": rng.integers(0, 6, n)})
    state = benv.s
    chunk = rng.integers(0, 6, size=(16, n, 2))
    j = {"i": 0}

    def dynamics_only() -> None:
        i = j["i"] = (j["i"] + 1) % len(chunk)
        benv.dynamics.step(state, chunk[i])
        state.timestep %= HORIZON

    frozen = state.copy()
    feat = Featurizer(layout, horizon=HORIZON)
    ours.append((f"dynamics only N={n}", measure(dynamics_only, args.seconds, n), "breakdown"))
    ours.append((f"featurize only N={n}", measure(lambda: feat.featurize(frozen), args.seconds, n), "breakdown"))
    ours.append((f"lossless only N={n}", measure(lambda: feat.lossless(frozen), args.seconds, n), "breakdown"))

    if ref_rate is not None:
        second, err = reference_rate(layout.reference_name, args.seconds)
        runs = [ref_rate] + ([second] if second is not None else [])
        bench.add(ref, float(np.mean(runs)), "env steps/s", note="mean of runs " + ", ".join(f"{r:.0f}" for r in runs),
                  runs=runs)
    for label, figure, note in ours:
        bench.add(label, figure, "env steps/s", ref=ref, note=note)
    bench.report()


if __name__ == "__main__":
    main()
