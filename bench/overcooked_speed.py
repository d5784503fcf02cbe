"""Overcooked steps/s: the reference implementations vs our single and batched envs.

One run measures, on one layout, with random actions and one thread (OMP_NUM_THREADS=1 etc.):

* references, each in a worker subprocess timing its own loop (``reset(regen_mdp=False)`` at the
  horizon, so motion planners are kept):
  - ``reference 1.1.0 step+featurize``: overcooked-ai 1.1.0 (venv ``.venv-ocai``, built by
    ``make ref-venv``): ``env.step`` + ``env.featurize_state_mdp`` (both agents);
  - ``reference 0.2.1 step+lossless``: PyPI ``overcooked==0.2.1`` (in the project venv, the
    package the differential tests compare against): ``OvercookedEnv.step`` +
    ``mdp.lossless_state_encoding`` (both agents; 0.2.1 has no ``lossless_state_encoding_mdp``
    on the env, the mdp method is what it calls);
  - ``reference 1.1.0 step+lossless``: 1.1.0's ``env.step`` + ``env.lossless_state_encoding_mdp``,
    its ratio is given in the note of our lossless row.
  Without ``.venv-ocai`` the script says how to build it and the featurized rows fall back to 0.2.1
  *dynamics only* (no featurization), clearly labelled.
* ours: the PettingZoo ``OvercookedEnv`` (one env) with featurized and with lossless observations,
  ``OvercookedBatchedEnv`` at N = 1, 64, 1024 (env steps/s = N x batched steps/s), the N = 64 env
  with ``reward_weights`` on every feature (ratio against the N = 64 row without weights; target
  >= 0.9), plus breakdown rows at N = 1024 (dynamics only, featurize only, lossless only).

The machine is shared, so every figure is env steps per *CPU second of the measuring process*
(``time.process_time``; all runs are single-threaded), and the rows are measured in ``--rounds``
interleaved rounds (references, then each of ours) with the median kept; wall-clock rates and the
load average are stored in the JSON too.

Usage (from a fresh clone, at the repo root)::

    make venv && make ref-venv      # .venv (with overcooked==0.2.1) and .venv-ocai (overcooked-ai 1.1.0)
    OMP_NUM_THREADS=1 .venv/bin/python -m bench.overcooked_speed [--layout cramped_room] [--seconds 1.5] [--rounds 3]

Targets: single env >= 3x its reference (featurized: 1.1.0; lossless: 0.2.1); batched >= 50x per env step.
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
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from bench.harness import REPO_ROOT, Bench, bench_dir  # noqa: E402

# the reference venv lives in the repo (git-ignored) unless OVERCOOKED_REF_PYTHON names another python
REFERENCE_VENV = REPO_ROOT / ".venv-ocai"
REFERENCE_PYTHON = os.environ.get("OVERCOOKED_REF_PYTHON", str(REFERENCE_VENV / "bin" / "python"))
BATCH_SIZES = (1, 64, 1024)
ACTION_CHUNK = 4096  # pre-drawn random actions, reused cyclically
HORIZON = 400
TARGET_SINGLE, TARGET_BATCHED = 3.0, 50.0
WEIGHTS_N, TARGET_WEIGHTS = 64, 0.9  # batched N=64 with reward_weights vs without, same run
WEIGHTS_LABEL, WEIGHTS_REF = f"ours batched N={WEIGHTS_N} with reward_weights", f"ours batched N={WEIGHTS_N}"
UNIT = "env steps/cpu-s"
SINGLE_LABEL, SINGLE_LOSSLESS_LABEL = "ours PettingZoo env", "ours PettingZoo env, lossless obs"
REF_FEATURIZE = "reference 1.1.0 step+featurize"
REF_LOSSLESS = "reference 0.2.1 step+lossless"  # the reference for lossless observations
REF_LOSSLESS_110 = "reference 1.1.0 step+lossless"

# Worker run by a reference python: for every line "<seconds>" on stdin, times its loop for that long
# and prints {"cpu": steps per CPU second, "wall": steps per wall second}.
# argv: layout, horizon, package ("overcooked_ai_py" = overcooked-ai 1.1.0, "overcooked" = overcooked 0.2.1),
# encoding ("featurize" or "lossless", both players).
REFERENCE_WORKER = r"""
import json, random, sys, time, warnings
warnings.filterwarnings("ignore")
layout, horizon, package, encoding = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if package == "overcooked_ai_py":
    from overcooked_ai_py.mdp.actions import Action
    from overcooked_ai_py.mdp.overcooked_env import OvercookedEnv
    from overcooked_ai_py.mdp.overcooked_mdp import OvercookedGridworld
else:
    from overcooked.mdp import Action, OvercookedEnv, OvercookedGridworld
mdp = OvercookedGridworld.from_layout_name(layout)
env = OvercookedEnv.from_mdp(mdp, horizon=horizon, info_level=0)
if encoding == "featurize":
    encode = env.featurize_state_mdp
    encode(env.state)                       # builds / loads the motion planner outside the timing
elif package == "overcooked_ai_py":
    encode = env.lossless_state_encoding_mdp
else:                                       # 0.2.1 has the mdp method only (same encoding, both players)
    encode = lambda s: mdp.lossless_state_encoding(s, horizon=horizon)
rng = random.Random(0)
acts = Action.ALL_ACTIONS
def step():
    state, _, done, _ = env.step((rng.choice(acts), rng.choice(acts)))
    encode(state)
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
    """A reference's timing loop in its own process (and venv), kept alive across rounds."""

    def __init__(self, python: str, layout_ref_name: str, package: str, encoding: str) -> None:
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
        self.proc = subprocess.Popen(
            [python, "-c", REFERENCE_WORKER, layout_ref_name, str(HORIZON), package, encoding],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd="/tmp",
        )
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
    for obs, label in (("featurized", SINGLE_LABEL), ("lossless", SINGLE_LOSSLESS_LABEL)):
        env = OvercookedEnv(layout=layout, horizon=HORIZON, obs=obs)
        env.reset(seed=0)
        acts = rng.integers(0, 6, size=(ACTION_CHUNK, 2)).tolist()
        k = {"i": 0}

        def single_step(env=env, acts=acts, k=k) -> None:
            i = k["i"] = (k["i"] + 1) % ACTION_CHUNK
            _, _, _, trunc, _ = env.step({"agent_0": acts[i][0], "agent_1": acts[i][1]})
            if trunc["agent_0"]:
                env.reset()

        rows.append((label, single_step, 1, f"target >= {TARGET_SINGLE:g}x"))

    names = OvercookedEnv.FEATURE_NAMES
    weights = {name: float(w) for name, w in zip(names, rng.normal(size=len(names)))}  # every feature weighted
    for n, env_weights, label in [
        *((n, None, f"ours batched N={n}") for n in BATCH_SIZES),
        (WEIGHTS_N, weights, WEIGHTS_LABEL),
    ]:
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
    bench = Bench(name, results_dir=bench_dir("overcooked_speed"))  # one file per layout
    bench.meta.update(
        layout=layout.name,
        cpu_seconds_per_row=args.seconds,
        rounds=args.rounds,
        horizon=HORIZON,
        figure="env steps per CPU second of the measuring process, median over rounds",
        load_average_1_5_15_before=os.getloadavg(),
    )
    rng = np.random.default_rng(0)

    # references, each timing itself in its own process: label -> (python, package, encoding)
    specs = {REF_LOSSLESS: (sys.executable, "overcooked", "lossless")}
    if Path(REFERENCE_PYTHON).exists():
        specs[REF_FEATURIZE] = (REFERENCE_PYTHON, "overcooked_ai_py", "featurize")
        specs[REF_LOSSLESS_110] = (REFERENCE_PYTHON, "overcooked_ai_py", "lossless")
    workers: dict[str, ReferenceWorker] = {}
    refs: dict[str, Callable[[float], dict[str, float]]] = {}
    notes: dict[str, str] = {}
    try:
        for label, (python, package, encoding) in specs.items():
            try:
                workers[label] = ReferenceWorker(python, layout.reference_name, package, encoding)
                refs[label] = workers[label].run
            except (OSError, RuntimeError) as exc:
                print(f"!! {label}: {exc}", file=sys.stderr)
        if REF_FEATURIZE not in refs:
            print(
                f"!! overcooked-ai 1.1.0 venv python {REFERENCE_PYTHON} not usable; create it with `make ref-venv`"
                f"\n!! the featurized rows fall back to overcooked 0.2.1 DYNAMICS ONLY (no featurization)",
                file=sys.stderr,
            )
            fallback = "reference 0.2.1 dynamics only (FALLBACK)"
            refs[fallback], notes[fallback] = (
                fallback_measure(layout.reference_name),
                "no featurization in this reference",
            )
        featurize_ref = REF_FEATURIZE if REF_FEATURIZE in refs else "reference 0.2.1 dynamics only (FALLBACK)"

        rows = our_rows(layout, rng)
        results: dict[str, list[dict[str, float]]] = {label: [] for label in refs} | {label: [] for label, *_ in rows}
        for _ in range(args.rounds):
            for label, run in refs.items():
                results[label].append(run(args.seconds))
            for label, fn, per_call, _ in rows:
                results[label].append(measure(fn, args.seconds, per_call))
    finally:
        for worker in workers.values():
            worker.close()

    def median(label: str) -> float:
        return float(np.median([r["cpu"] for r in results[label]]))

    def add(label: str, ref_label: str | None, note: str) -> None:
        runs = results[label]
        bench.add(
            label,
            median(label),
            UNIT,
            ref=ref_label,
            note=note,
            cpu_runs=[r["cpu"] for r in runs],
            wall_runs=[r["wall"] for r in runs],
        )

    for label in refs:
        add(label, None, notes.get(label, ""))
    for label, _, _, note in rows:
        if label == SINGLE_LOSSLESS_LABEL:
            if REF_LOSSLESS_110 in refs:
                note += f"; vs {REF_LOSSLESS_110}: {median(label) / median(REF_LOSSLESS_110):.2f}x"
            add(label, REF_LOSSLESS if REF_LOSSLESS in refs else None, note)
        else:
            add(label, WEIGHTS_REF if label == WEIGHTS_LABEL else featurize_ref, note)
    bench.meta["load_average_1_5_15_after"] = os.getloadavg()
    bench.report()


if __name__ == "__main__":
    main()
