"""The populations pipeline on Overcooked, end to end through the CLI, with its figures.

What it shows (issue "Populations", its "done when"):
1. a 4-member population with sampled ``reward_weights`` (``examples/overcooked/mappo_population.yaml``)
   trains, is SIGKILLed while its second wave runs, and ``--resume`` finishes it;
2. its members cross-play in one command (matrix + heatmap);
3. a run warm-started from the best member continues from its return (first iterations vs a fresh run);
4. an agent trained beside the frozen members plays them better than a self-play agent does, at the
   same total env-step budget: both start as one self-play run of ``--half`` env steps; the
   self-play agent continues alone (``--resume``), the adaptive one continues with the members
   frozen in seat ``agent_1`` (``init_from`` + ``partners``, 20% self-play).

    .venv/bin/python -m bench.population_pipeline --out runs/bench/pipeline        # about 35 min on 2 cores
    .venv/bin/python -m bench.population_pipeline --out runs/bench/pipeline --summarize-only

Writes ``bench/results/population_pipeline/population_pipeline.json`` (+ the two heatmaps beside it).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import Bench, bench_dir
from diverse_marl.metrics import SPARSE_RETURN, episode_key

CLI = [sys.executable, "-m", "diverse_marl"]
POPULATION_CONFIG = "examples/overcooked/mappo_population.yaml"
SELF_PLAY_CONFIG = "examples/overcooked/mappo_cramped_room.yaml"
SHAPING_ANNEAL_STEPS = 1_500_000  # shaping weight 1 -> 0 over the whole two-phase budget
CROSSPLAY_EPISODES = 20
WARM_START_ITERATIONS = 3


def cli(*args: str, quiet: bool = True) -> None:
    subprocess.run([*CLI, *args, *(["--quiet"] if quiet else [])], check=True)


def sparse_returns(run_dir: Path) -> list[float]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [float(r[episode_key(SPARSE_RETURN)]) for r in csv.DictReader(f) if r.get(episode_key(SPARSE_RETURN))]


def population_with_a_kill(out: Path) -> dict:
    """Train the population; SIGKILL it once the second wave has a checkpoint; resume it."""
    pop = out / "pop"
    proc = subprocess.Popen(
        [*CLI, "train", POPULATION_CONFIG, "--run-dir", str(pop), "--quiet"], start_new_session=True
    )
    t0 = time.time()
    while proc.poll() is None:
        second_wave = [pop / f"member_{i:02d}" / "checkpoints" for i in (2, 3)]
        if all(d.is_dir() and any(d.glob("iter_*")) for d in second_wave):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            break
        time.sleep(5)
    killed_after = time.time() - t0
    statuses = [m["status"] for m in json.loads((pop / "population.json").read_text())]
    cli("train", "--resume", str(pop))
    return {
        "killed_after_s": round(killed_after, 1),
        "statuses_at_kill": statuses,
        "wall_s": round(time.time() - t0, 1),
    }


def run_pipeline(out: Path) -> dict:
    timings = {"population": population_with_a_kill(out)}
    cli("crossplay", str(out / "pop"), "--episodes", str(CROSSPLAY_EPISODES), "--out", str(out / "pop_crossplay"))

    best = max(
        json.loads((out / "pop" / "population.json").read_text()),
        key=lambda m: m["final_metrics"].get(episode_key(SPARSE_RETURN), 0.0),
    )
    for name, extra in (("warm", ["--set", f"init_from={out / 'pop' / best['run_dir']}"]), ("fresh", [])):
        cli(
            "train",
            SELF_PLAY_CONFIG,
            "--run-dir",
            str(out / name),
            "--set",
            f"stop.iterations={WARM_START_ITERATIONS}",
            *extra,
        )

    half = ARGS.half
    schedule = f"reward_schedule.shaping_factor=[[0,1.0],[{SHAPING_ANNEAL_STEPS},0.0]]"
    cli(
        "train",
        SELF_PLAY_CONFIG,
        "--run-dir",
        str(out / "selfplay"),
        "--set",
        f"stop.env_steps={half}",
        "--set",
        schedule,
    )
    shutil.copytree(out / "selfplay", out / "selfplay_long")
    cli("train", "--resume", str(out / "selfplay_long"), "--set", f"stop.env_steps={2 * half}")
    left = max(0.0, 1.0 - half / SHAPING_ANNEAL_STEPS)
    members = ", ".join(str(out / "pop" / f"member_{i:02d}") for i in range(4))
    cli(
        "train",
        SELF_PLAY_CONFIG,
        "--run-dir",
        str(out / "adaptive_ws"),
        "--set",
        f"stop.env_steps={half}",
        "--set",
        f"init_from={out / 'selfplay'}",
        "--set",
        f"reward_schedule.shaping_factor=[[0,{left:.3f}],[{max(1, SHAPING_ANNEAL_STEPS - half)},0.0]]",
        "--set",
        f"partners={{from: [{members}], seats: [agent_1], self_play: 0.2}}",
    )
    cli(
        "crossplay",
        str(out / "adaptive_ws"),
        str(out / "selfplay_long"),
        str(out / "pop"),
        "--episodes",
        str(CROSSPLAY_EPISODES),
        "--out",
        str(out / "partners_crossplay"),
    )
    return timings


def summarize(out: Path, timings: dict | None) -> Path:
    bench = Bench("population_pipeline")
    members = json.loads((out / "pop" / "population.json").read_text())
    pop_xp = json.loads((out / "pop_crossplay" / "crossplay.json").read_text())
    for m in members:
        bench.add(
            f"{m['name']} self-play sparse return",
            pop_xp["value_mean"][m["index"]][m["index"]],
            "sparse",
            note=f"reward_weights {m['reward_weights']}",
        )
    warm, fresh = sparse_returns(out / "warm"), sparse_returns(out / "fresh")
    source = max(m["final_metrics"].get(episode_key(SPARSE_RETURN), 0.0) for m in members)
    bench.add("best member, last iteration", source, "sparse")
    bench.add(
        "warm-started run, first iteration", warm[0], "sparse", ref="best member, last iteration", iterations=warm
    )
    bench.add("fresh run, first iteration", fresh[0], "sparse", iterations=fresh)

    xp = json.loads((out / "partners_crossplay" / "crossplay.json").read_text())
    names, value = xp["names"], xp["value_mean"]
    cols = [names.index(m["name"]) for m in members]

    def with_members(row_name: str) -> tuple[float, list[float]]:
        row = [value[names.index(row_name)][c] for c in cols]
        return sum(row) / len(row), row

    sp_mean, sp_row = with_members("selfplay_long")
    ad_mean, ad_row = with_members("adaptive_ws")
    bench.add("self-play agent with the 4 members (mean)", sp_mean, "sparse", per_member=sp_row)
    bench.add(
        "partner-trained agent with the 4 members (mean)",
        ad_mean,
        "sparse",
        ref="self-play agent with the 4 members (mean)",
        per_member=ad_row,
    )
    for name in ("pop_crossplay", "partners_crossplay"):
        target = bench_dir("population_pipeline") / f"population_pipeline_{name}.png"
        shutil.copyfile(out / name / "crossplay.png", target)
    bench.meta["timings"] = timings or "not re-run (--summarize-only)"
    bench.meta["load_average"] = os.getloadavg()
    return bench.report()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="where the runs go")
    parser.add_argument("--half", type=int, default=800_000, help="env steps of each of the two phases")
    parser.add_argument("--summarize-only", action="store_true", help="read existing runs in --out")
    ARGS = parser.parse_args()
    found = None if ARGS.summarize_only else run_pipeline(ARGS.out)
    print(f"wrote {summarize(ARGS.out, found)}")
