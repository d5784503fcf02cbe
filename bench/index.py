"""Write ``bench/README.md``: every results file, the command that made it, its commit, what it shows.

The descriptions live here, next to each bench's command; the commit of each file is read from git
(the last commit that added or changed it, following renames). A results file without a
description is an error, so a new result cannot land unexplained.

    .venv/bin/python -m bench.index            # rewrite bench/README.md
    .venv/bin/python -m bench.index --check    # exit 1 if README.md is not what this would write
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import REPO_ROOT, RESULTS_DIR

README = Path(__file__).resolve().parent / "README.md"


@dataclass
class Entry:
    """One bench: the command that makes its results, what it measures, and one line per results file."""

    bench: str
    command: str
    about: str
    files: dict[str, str] = field(default_factory=dict)
    also: tuple[str, ...] = ()  # other bench modules that write into this bench's folder


PY = ".venv/bin/python -m"
BENCHES = [
    Entry(
        "overcooked_speed",
        f"OMP_NUM_THREADS=1 {PY} bench.overcooked_speed [--layout counter_circuit]  (after make ref-venv)",
        "Overcooked env speed, CPU time per env step, against overcooked_ai 1.1.0 and overcooked 0.2.1 in the "
        "same run; single env and the numpy batched env at N = 1, 64, 1024.",
        {
            "overcooked_speed.json": "cramped_room: PettingZoo env 7.5x overcooked_ai (featurized), batched N=1024 "
            "247x per env step.",
            "overcooked_speed_counter_circuit.json": "counter_circuit (`--layout counter_circuit`): PettingZoo env "
            "12x, batched N=1024 408x; dynamics / featurize / lossless encoding timed apart.",
        },
    ),
    Entry(
        "hide_and_seek_speed",
        f"OMP_NUM_THREADS=1 {PY} bench.hide_and_seek_speed",
        "Hide-and-seek env steps per second: the numpy batched env against the PettingZoo env.",
        {"hide_and_seek_speed.json": "quadrant map, 4 agents: batched N=256 50x the PettingZoo env per env step."},
    ),
    Entry(
        "user_env_speed",
        f"{PY} bench.user_env_speed",
        "A user's own PettingZoo env under the default config: the old default runner, RLlib's stock runner and "
        "the current default (vectorized) runner.",
        {"user_env_speed.json": "new default 8.9x the old default in env steps/s (8.3x per CPU second)."},
    ),
    Entry(
        "mappo_throughput",
        f"{PY} bench.mappo_throughput --iters 6",
        "Whole MAPPO training iterations (8k env steps, cramped_room) per second against stock RLlib PPO "
        "measured in the same run.",
        {
            "mappo_throughput.json": "joint_obs critic + async sampling on 2 cores: 12,960 env steps/s, 5.45x stock "
            "PPO; default critic_input: state 2.84x on one core (quiet machine, load 0.3-1.1)."
        },
    ),
    Entry(
        "mappo_overcooked",
        f"{PY} bench.mappo_overcooked --layouts cramped_room asymmetric_advantages coordination_ring "
        "forced_coordination --stop-at-target  (add --old-dynamics for the 2019 dynamics)",
        "MAPPO self-play learning curves (sparse return against env steps) on the classic Overcooked layouts, "
        "with the settings of examples/overcooked/mappo_<layout>.yaml.",
        {
            "mappo_overcooked.json": "one curve per layout and dynamics (`layouts`), targets 200 / 150 within 5M "
            "env steps: all met; counter_circuit recipes tried on the way (`counter_circuit_variants`, with the "
            "session runs merged in and their files deleted) and curves since rerun (`replaced`).",
            "mappo_overcooked.png": "the curves of `layouts`, new and old dynamics side by side.",
            "mappo_overcooked_counter_circuit_events.png": "counter_circuit variants: event counts per episode "
            "(onions potted, pots started, soups delivered) over training.",
        },
    ),
    Entry(
        "mappo_critic_input",
        f"{PY} bench.mappo_critic_input joint_obs=RUN_DIR joint_obs_no_layer_norm=RUN_DIR  (runs: see its docstring)",
        "Whether a faster MAPPO variant still learns: env steps to sparse return 200 in cramped_room against the "
        "reference curve of mappo_overcooked.json.",
        {
            "mappo_critic_input.json": "joint_obs critic reaches 200 at 0.68M env steps (reference 0.65M); without "
            "LayerNorm 0.92M."
        },
    ),
    Entry(
        "time_to_target",
        f"{PY} bench.time_to_target LABEL=RUN_DIR ...  (the CLI runs: see its docstring)",
        "Training seconds until examples/overcooked/mappo_cramped_room.yaml reaches sparse 200, against the settings "
        "before, timed one after another on the same machine.",
        {
            "time_to_target.json": "example (lr 1e-3, 16 kitchens) 54.5 s at 320k env steps (target 60 s); "
            "previous settings 95.3 s at 678k (1.75x); other jobs paused, load 1.5-2.3."
        },
    ),
    Entry(
        "mappo_credit_assignment",
        f"{PY} bench.mappo_credit_assignment --seeds 5 --iterations 3 "
        '--env-config \'{"num_agents": 3, "stakes": [0, 0, 0, 0, 10]}\'',
        "The credit-assignment testbed: a centralized critic (MAPPO) against per-agent critics (IPPO) on the same "
        "budget.",
        {
            "mappo_credit_assignment.json": "team return over 5 seeds: MAPPO 21.0, IPPO 18.4, random 0.7 "
            "(re-run after the same-seed fixes: the same numbers)."
        },
    ),
    Entry(
        "time_limits",
        f"{PY} bench.time_limits --minutes 6",
        "MAPPO in cramped_room with use_proper_time_limits on and off (a time-limit cut bootstrapped or treated "
        "as terminal).",
        {
            "time_limits_cramped_room.json": "both variants learn alike: steps to return 100 within 2%, return near "
            "a common step count within 3%.",
            "time_limits_cramped_room.png": "the two learning curves.",
        },
    ),
    Entry(
        "crossplay_speed",
        f"{PY} bench.crossplay_speed",
        "A 16 x 16 cross-play matrix of trained policies (batched episodes) against playing every episode one at a "
        "time through the run's policies.",
        {"crossplay_speed.json": "2,560 episodes in 5.6 s, 62x the one-at-a-time reference."},
    ),
    Entry(
        "population_pipeline",
        f"{PY} bench.population_pipeline --out runs/bench/pipeline",
        "A population end to end: 4 members with sampled reward weights, cross-play, a warm start from the best "
        "member and a self-play agent evaluated with the members.",
        {
            "population_pipeline.json": "members' self-play sparse returns (0-240), a warm-started run starting at "
            "238 against 0 fresh, the agent's mean return with the members.",
            "population_pipeline_pop_crossplay.png": "cross-play heatmap of the population.",
            "population_pipeline_partners_crossplay.png": "cross-play heatmap of the agent against the members.",
        },
    ),
    Entry(
        "rpg_demos",
        f"{PY} bench.rpg_demos stag_hunt --out runs/bench/rpg_stag_hunt --seeds 10; "
        f"{PY} bench.rpg_demos monster_hunt --out runs/bench/rpg_monster_hunt --seeds 5",
        "RPG against plain MAPPO restarts (best of M, RPG's total env steps) on the RPG paper's games.",
        {
            "rpg_stag_hunt.json": "Stag Hunt, 10 seeds, uniform sampler over the outcome features: RPG's best "
            "measured policy plays stag-stag in 10 of 10, the best of 9 MAPPO restarts with RPG's env steps in 0 of "
            "10 (team return IQM 80 against 20).",
            "rpg_stag_hunt.png": "per seed: greedy stag-stag rate, RPG against MAPPO; each member's return on "
            "the original payoffs.",
            "rpg_monster_hunt.json": "Monster-Hunt, 4 seeds: joint hunts per episode 12.5 (RPG) against 0.08 "
            "(MAPPO); 3 distinct strategies among RPG's members.",
            "rpg_monster_hunt.png": "per seed: joint hunts, RPG against MAPPO; RPG members' apples against joint "
            "hunts.",
        },
    ),
    Entry(
        "hsp_overcooked",
        f"{PY} bench.hsp_overcooked --layouts cramped_room asymmetric_advantages --work runs/bench/hsp  "
        "(needs make human-data)",
        "SP, FCP and HSP agents (old dynamics) evaluated with held-out biased partners, the behaviour-cloned human "
        "proxy and each other.",
        {
            "hsp_overcooked.json": "sp 640k env steps, 6 partners (keep 4), 3 held out, agents 192k env steps: "
            "sparse returns per layout, partner group and method, with standard errors.",
            "hsp_overcooked.png": "bar plots of that table.",
            "hsp_overcooked_small.json": "the same pipeline at a smaller scale (sp 384k, 4 partners, keep 3, agents "
            "76.8k env steps), made with the corresponding flags.",
            "hsp_overcooked_small.png": "bar plots of the small-scale table.",
        },
    ),
    Entry(
        "sipo_multigoal",
        f"{PY} bench.sipo_multigoal --seeds 0 1 2 3 4 --out runs/bench/sipo_multigoal",
        "SIPO (examples/multi_goal/sipo.yaml), RSPO (examples/multi_goal/rspo.yaml) and 4 MAPPO seeds on the "
        "four-corner grid: how many distinct corners each finds.",
        {
            "sipo_multigoal.json": "terminal grid, distinct corners over 5 seeds (IQM [95% CI]): SIPO 2.67 [2, 3] "
            "(>= 3 in 3 of 5 seeds), MAPPO restarts 2.67 [2, 3], RSPO 1.33 [1, 2]; SIPO's iterations equal the "
            "restarts; terms 4.4% of iteration time.",
            "sipo_multigoal.png": "distinct corners per seed and method; corner reached by each policy.",
            "sipo_multigoal_seed0_iteration_00.gif": "seed 0, SIPO iteration 0: an episode.",
            "sipo_multigoal_seed0_iteration_01.gif": "seed 0, SIPO iteration 1: an episode.",
            "sipo_multigoal_seed0_iteration_02.gif": "seed 0, SIPO iteration 2: an episode.",
            "sipo_multigoal_seed0_iteration_03.gif": "seed 0, SIPO iteration 3: an episode.",
        },
    ),
    Entry(
        "sipo_overcooked",
        f"{PY} bench.sipo_overcooked --env overcooked --env-steps 250000; "
        f"{PY} bench.sipo_overcooked --env hide_and_seek --env-steps 150000",
        "SIPO's 4 iterations against 4 MAPPO seeds in Overcooked (asymmetric_advantages) and hide-and-seek: "
        "behaviour-descriptor spread, task return, cost of the diversity terms.",
        {
            "sipo_overcooked.json": "Overcooked: descriptor distance 2.2x MAPPO's, worst SIPO iteration at 22% of "
            "the best task return (MAPPO 83%).",
            "sipo_overcooked.png": "descriptor distances and task return per policy.",
            "sipo_overcooked_overhead.json": "`--overhead-only`: one iteration with 3 archives 1.05x a MAPPO "
            "iteration's wall time; diversity terms 8% of it.",
            "sipo_overcooked_iteration_00.gif": "Overcooked, SIPO iteration 0: an episode.",
            "sipo_overcooked_iteration_01.gif": "Overcooked, SIPO iteration 1: an episode.",
            "sipo_overcooked_iteration_02.gif": "Overcooked, SIPO iteration 2: an episode.",
            "sipo_overcooked_iteration_03.gif": "Overcooked, SIPO iteration 3: an episode.",
            "sipo_hide_and_seek.json": "hide-and-seek: descriptor distance 0.93x MAPPO's (no gain at this scale), "
            "worst / best task return 83%.",
            "sipo_hide_and_seek.png": "descriptor distances and task return per policy.",
            "sipo_hide_and_seek_overhead.json": "hide-and-seek `--overhead-only`: diversity terms 1.8% of an "
            "iteration.",
            "sipo_hide_and_seek_iteration_00.gif": "hide-and-seek, SIPO iteration 0: an episode.",
            "sipo_hide_and_seek_iteration_01.gif": "hide-and-seek, SIPO iteration 1: an episode.",
            "sipo_hide_and_seek_iteration_02.gif": "hide-and-seek, SIPO iteration 2: an episode.",
            "sipo_hide_and_seek_iteration_03.gif": "hide-and-seek, SIPO iteration 3: an episode.",
        },
    ),
    Entry(
        "hide_and_seek_phases",
        "diverse-marl train examples/hide_and_seek/mappo_shelter.yaml --run-dir runs/shelter && "
        f"{PY} bench.hide_and_seek_phases --run runs/shelter",
        "Phases of hide-and-seek self-play found in a run's curves (diverse_marl.analysis.phases).",
        {
            "hide_and_seek_phases.json": "chasing from 0.12M env steps, shelter from 0.48M; per-phase means of "
            "hidden fraction, enclosure, locks.",
            "hide_and_seek_phases.png": "the curves with the phase boundaries.",
            "hide_and_seek_phases_chasing.gif": "an episode from the last checkpoint of the chasing phase.",
            "hide_and_seek_phases_shelter.gif": "an episode from the last checkpoint of the shelter phase.",
        },
    ),
    Entry(
        "llm_crossplay",
        "diverse-marl train examples/overcooked/mappo_cramped_room.yaml --set stop.env_steps=640000 "
        f"--run-dir runs/llm_demo/mappo && {PY} bench.llm_crossplay --run runs/llm_demo/mappo",
        "Cross-play of three prompted LLM personas (a loopback rule-based stand-in model) and two MAPPO "
        "checkpoints; cost of the LLM path with a cold and a warm cache.",
        {
            "llm_crossplay.json": "cold cache 55.5 s, warm cache 4.1 s (13.7x); ~2,000 requests per persona.",
            "llm_crossplay.png": "the 5 x 5 cross-play heatmap (sparse team return).",
        },
    ),
    Entry(
        "zsc",
        f"{PY} bench.zsc --layouts asymmetric_advantages coordination_ring counter_circuit --seeds 0 1 2; "
        f"the human proxies alone: {PY} bench.human_proxy --layouts <layout> ... --seeds 0 1",
        "Zero-shot coordination: SP / FCP / MEP / HSP / BCP agents with independent evaluation partners "
        "(best-response-normalized IQM with 95% CIs), and the validity of the human proxies (BC, H_proxy).",
        {
            "human_proxy/": "per layout (asymmetric_advantages, coordination_ring, counter_circuit, cramped_room): "
            "BC and H_proxy, seeds 0-1, held-out cross-entropy 26-33% below the marginal baseline; proxy+proxy "
            "deliveries within the human pairs' range in 2 of 8 clones (report.md, report.json; index.md).",
            "zero_shot_coordination.json": "the table so far: asymmetric_advantages only (coordination_ring and "
            "counter_circuit still training). BR-normalized IQM [95% CI], 3 seeds: independent biased partners "
            "HSP 0.63 [0.62, 0.65], SP / FCP / MEP / BCP 0 (raw 0-5 of the BRs' ~180); H_proxy HSP 0.79, BCP 0.76, "
            "SP 0.59, MEP 0.59, FCP 0.52; every cell, the scale and each stage's wall time and env steps.",
            "zero_shot_coordination_bars.png": "BR-normalized IQM with 95% CIs per partner kind and method.",
            "zero_shot_coordination_bars_raw.png": "the same, raw sparse return.",
            "zero_shot_coordination_heatmap.png": "agents x evaluation partners, raw sparse return.",
        },
        also=("human_proxy",),
    ),
    Entry(
        "analysis_demo",
        "diverse-marl analyze RUN_DIR ...  (the exact arguments per folder in analysis_demo/README.md)",
        "Populations analysed with `diverse-marl analyze`: clusters, cross-play, descriptor plots, reports.",
        {
            "README.md": "what each folder holds, the command that made it and what it shows.",
            "demo_overcooked_roles/": "`make demo`'s population in cramped_room: 3 strategies of who does what.",
            "overcooked_mappo_and_roles/": "a MAPPO cook and scripted potters, servers, all-rounders: 4 strategies.",
            "rpg_stag_hunt/": "RPG on Stag Hunt, greedy: stag hunters and hare hunters.",
            "rpg_stag_hunt_sampled/": "the same population with sampled actions: a third, mixed strategy.",
            "sipo_multigoal/": "SIPO's 4 iterations on the multi-goal grid: 3 strategies.",
        },
    ),
]


def _scratch(name: str) -> bool:
    """Hidden temp files of an atomic write and git-ignored tmp* outputs are not results."""
    return name.startswith((".", "tmp"))


def results_files(bench: str) -> list[str]:
    """Names in ``bench/results/<bench>/``: files, and for analysis_demo its top-level entries (folders end in /)."""
    root = RESULTS_DIR / bench
    if not root.is_dir():
        return []
    return sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir() if not _scratch(p.name))


def last_commit(path: Path) -> str:
    """Short hash of the last commit that added or changed ``path`` (renames followed, a pure move skipped)."""
    rel = path.relative_to(REPO_ROOT)
    cmd = ["git", "log", "--follow", "--diff-filter=AM", "--format=%h", "-1", "--", str(rel)]
    if path.is_dir():
        cmd = ["git", "log", "--format=%h", "-1", "--", str(rel)]
    try:
        out = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.strip() or "uncommitted"


def problems() -> list[str]:
    """Results files without a description, described files that do not exist, folders no bench claims."""
    found = []
    for e in BENCHES:
        on_disk = set(results_files(e.bench))
        found += [f"bench/results/{e.bench}/{f}: no description in bench/index.py" for f in on_disk - set(e.files)]
        found += [f"bench/results/{e.bench}/{f}: described but missing" for f in set(e.files) - on_disk]
    known = {e.bench for e in BENCHES}
    unclaimed = [p.name for p in RESULTS_DIR.iterdir() if p.name not in known and not _scratch(p.name)]
    found += [f"bench/results/{name}: no bench in bench/index.py" for name in unclaimed]
    return found


def render() -> str:
    lines = [
        "# Benchmarks and their results",
        "",
        "Each bench is a module run from the repo root as `python -m bench.<name>`; it prints a table (ratios against",
        "a reference measured in the same run) and writes into `bench/results/<name>/`, with the machine, the git",
        "commit of the code and the load average inside each JSON. Below, per results file: the commit that last",
        "wrote it and what it shows. Generated by `python -m bench.index` from the descriptions in `bench/index.py`",
        "(a results file without one is an error there and in `tests/test_bench_index.py`).",
        "",
        "Curves of earlier work sessions were merged into `mappo_overcooked/mappo_overcooked.json`",
        "(`counter_circuit_variants`, `replaced`) and their files deleted; `git show f1c912b:bench/results/<file>`",
        "recovers one. JSON files record the paths of their day: an older `config_file` such as",
        "`examples/overcooked_cramped_room.yaml` is now `examples/overcooked/mappo_cramped_room.yaml` (see",
        "`examples/README.md`).",
        "",
    ]
    for e in BENCHES:
        lines += [f"## {e.bench}", "", e.about, "", f"Command: `{e.command}`", "", "| file | commit | what it shows |"]
        lines.append("|---|---|---|")
        for name in results_files(e.bench):
            path = RESULTS_DIR / e.bench / name.rstrip("/")
            lines.append(f"| `{e.bench}/{name}` | {last_commit(path)} | {e.files.get(name, '')} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if bench/README.md is out of date")
    args = parser.parse_args(argv)
    missing = problems()
    if missing:
        sys.exit("error: " + "\n       ".join(missing))
    text = render()
    if args.check:
        if README.read_text(encoding="utf-8") != text:
            sys.exit("error: bench/README.md is out of date; run python -m bench.index")
        print("bench/README.md is up to date")
        return
    README.write_text(text, encoding="utf-8")
    print(f"wrote {README}")


if __name__ == "__main__":
    main()
