"""``python -m bench.zsc``: train or reuse every stage, evaluate, write ``bench/results/zsc/`` (see __init__)."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import RESULTS_DIR, machine_info
from bench.zsc import evaluation
from bench.zsc.jobs import DEFAULT_LOCK, LayoutState, LockBusyError, checkpoint_at, heavy_job_lock
from bench.zsc.plots import bar_chart, heatmap
from bench.zsc.scale import CONFOUNDS, SCALES, SINGLE_RUN_STEPS_PER_S, format_plan, plan
from bench.zsc.stages import METHOD_STAGES, STAGES, LayoutContext, agent_dir, evaluation_partners, run_stage
from diverse_marl.envs.overcooked.layouts import list_layouts
from diverse_marl.errors import ConfigError
from diverse_marl.metrics import SPARSE_RETURN
from diverse_marl.run_dir import atomic_write_json, atomic_write_text

EVALUATION = "evaluation"
ALL_STAGES = (*STAGES, EVALUATION)
DEFAULT_LAYOUTS = ("asymmetric_advantages", "coordination_ring", "counter_circuit")
RESULT_NAME = "zero_shot_coordination"  # .json, _bars.png, _heatmap.png
# HSP's adaptive agent at the other agents' budget (its checkpoint at scale.agent_steps): separates what HSP's
# partners buy from what its 3x longer training buys (its shaping anneal is compressed to its own run, so
# at this checkpoint it still trains on part of the shaped reward)
HSP_EQUAL_BUDGET = "HSP@SP-steps"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.zsc", description=__doc__)
    p.add_argument("--layouts", nargs="+", default=list(DEFAULT_LAYOUTS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="training seeds of every agent under test")
    p.add_argument("--scale", choices=sorted(SCALES), default="faithful")
    p.add_argument(
        "--stages", nargs="+", default=list(ALL_STAGES), help=f"stages to run (default all): {', '.join(ALL_STAGES)}"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or stage lines (also with CI=true)")
    p.add_argument("--work", default=None, help="run dirs (default runs/zsc, smoke: runs/zsc-smoke)")
    p.add_argument("--results-dir", default=None, help="default bench/results/zsc (smoke: <work>/results)")
    p.add_argument("--data-dir", default="data/human", help="converted human trials (make human-data)")
    p.add_argument("--plan", action="store_true", help="print the plan (env steps, estimated hours per stage) and exit")
    p.add_argument(
        "--steps-per-s", type=float, default=SINGLE_RUN_STEPS_PER_S, help="one run's env steps/s the plan assumes"
    )
    p.add_argument("--lock", default=str(DEFAULT_LOCK), help="the machine's one-heavy-job lock file")
    p.add_argument("--wait-lock", action="store_true", help="queue behind another heavy job instead of exiting")
    args = p.parse_args(argv)
    args.quiet = args.quiet or os.environ.get("CI", "").lower() in ("1", "true")
    for layout in args.layouts:
        check_choice("layout", layout, list_layouts())
    for stage in args.stages:
        check_choice("stage", stage, ALL_STAGES)
    if len(set(args.seeds)) != len(args.seeds):
        raise ConfigError(f"--seeds must be distinct, got {args.seeds}")
    default_work = "runs/zsc" if args.scale == "faithful" else f"runs/zsc-{args.scale}"
    args.work = Path(args.work or default_work).resolve()
    args.results_dir = Path(
        args.results_dir or (RESULTS_DIR / "zsc" if args.scale == "faithful" else args.work / "results")
    )
    return args


def check_choice(what: str, value: str, allowed: Any) -> None:
    if value not in allowed:
        hint = difflib.get_close_matches(value, list(allowed), n=1)
        did = f" (did you mean {hint[0]!r}?)" if hint else ""
        raise ConfigError(f"unknown {what} {value!r}{did}; allowed: {', '.join(allowed)}")


def log(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, flush=True)


def agents_under_test(ctx: LayoutContext) -> dict[str, dict[int, Path]]:
    """method -> seed -> run dir: the agents of ``--seeds`` whose training job has finished."""
    agents = {
        method: {s: agent_dir(ctx, stage, s) for s in ctx.seeds if ctx.state.job_done(agent_dir(ctx, stage, s).name)}
        for method, stage in METHOD_STAGES.items()
    }
    equal = {s: c for s, d in agents["HSP"].items() if (c := checkpoint_at(d, ctx.scale.agent_steps))}
    agents[HSP_EQUAL_BUDGET] = equal
    return {method: seeds for method, seeds in agents.items() if seeds}


def evaluate(ctx: LayoutContext, args: argparse.Namespace) -> None:
    t0 = time.time()
    partners = evaluation_partners(ctx)
    br_dirs = {
        name: ctx.work / name
        for name, job in ctx.state.data["jobs"].items()
        if job.get("stage") == "br" and job.get("done")
    }
    env_config = {"layout": ctx.layout, "horizon": ctx.scale.horizon, "old_dynamics": True}
    result = evaluation.evaluate_layout(
        agents_under_test(ctx),
        partners,
        br_dirs,
        env_config,
        ctx.scale.episodes,
        seed=0,
        reps=ctx.scale.bootstrap_reps,
        quiet=args.quiet,
    )
    atomic_write_json(ctx.work / "evaluation.json", result)
    ctx.state.add_stage_wall(EVALUATION, time.time() - t0)
    ctx.state.data.setdefault("stage_status", {})[EVALUATION] = {"status": "done"}
    ctx.state.save()


def layout_summary(ctx: LayoutContext) -> dict[str, Any]:
    """What the results JSON holds for one layout: every stage's status, wall time and env steps; cells."""
    st = ctx.state.data
    stages = {
        name: {
            **st.get("stage_status", {}).get(name, {"status": "not run"}),
            "wall_s": round(st["stage_wall_s"].get(name, 0.0), 1),
            "env_steps": ctx.state.stage_env_steps(name),
        }
        for name in ALL_STAGES
    }
    path = ctx.work / "evaluation.json"
    result = evaluation_result(path) if path.is_file() else {}
    return {
        "stages": stages,
        "eval_partner_weights": st["outputs"].get("eval_weights"),
        "eval_partner_self_play": st["outputs"].get("eval_descriptors"),
        "eval_selected": st["outputs"].get("eval_selected"),
        "hsp_selected": st["outputs"].get("hsp_selected"),
        **result,
    }


def evaluation_result(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def write_results(args: argparse.Namespace, the_plan: dict, summaries: dict[str, Any], started: float) -> Path:
    args.results_dir.mkdir(parents=True, exist_ok=True)
    out = args.results_dir / f"{RESULT_NAME}.json"
    write_portable_json(
        out,
        args,
        {
            "command": "python -m bench.zsc " + " ".join(sys.argv[1:]),
            "machine": machine_info(),
            "load_average": list(os.getloadavg()),
            "scale": SCALES[args.scale].to_dict(),
            "confounds": list(CONFOUNDS),
            "plan": the_plan,
            "wall_s_this_invocation": round(time.time() - started, 1),
            "layouts": summaries,
        },
    )
    evaluated = {k: v for k, v in summaries.items() if v.get("cells")}
    if evaluated:
        bar_chart(evaluated, args.results_dir / f"{RESULT_NAME}_bars.png")
        bar_chart(evaluated, args.results_dir / f"{RESULT_NAME}_bars_raw.png", metric=SPARSE_RETURN)
        heatmap(evaluated, args.results_dir / f"{RESULT_NAME}_heatmap.png")
    return out


def write_portable_json(path: Path, args: argparse.Namespace, data: dict[str, Any]) -> None:
    """The results JSON with this machine's run and data dirs written as ``<work>`` and ``<data-dir>``
    (partner sources, the command): results are shared, the paths they were trained in are not."""
    text = json.dumps(data, indent=2, default=str) + "\n"
    for path_text, name in ((str(args.work), "<work>"), (str(Path(args.data_dir).resolve()), "<data-dir>")):
        text = text.replace(path_text, name)
    text = text.replace(f"--data-dir {args.data_dir}", "--data-dir <data-dir>")
    atomic_write_text(path, text)


def run(args: argparse.Namespace) -> Path | None:
    scale = SCALES[args.scale]
    the_plan = plan(scale, args.layouts, len(args.seeds), args.steps_per_s)
    log(args, format_plan(the_plan))
    if args.plan:
        return None
    started = time.time()
    summaries: dict[str, Any] = {}
    with heavy_job_lock(Path(args.lock), wait=args.wait_lock):
        for layout in args.layouts:
            work = args.work / layout
            ctx = LayoutContext(
                layout, scale, list(args.seeds), work, LayoutState(work), Path(args.data_dir), args.quiet
            )
            for stage in ALL_STAGES:
                if stage not in args.stages:
                    continue
                log(args, f"[{layout}] {stage} ...")
                if stage == EVALUATION:
                    evaluate(ctx, args)
                    status = {"status": "done"}
                else:
                    status = run_stage(ctx, stage)
                log(
                    args,
                    f"[{layout}] {stage}: {status['status']}"
                    + (f" ({status['reason']})" if "reason" in status else ""),
                )
            summaries[layout] = layout_summary(ctx)
            out = write_results(args, the_plan, summaries, started)  # after every layout
            log(args, f"wrote {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    try:
        run(parse_args(argv))
    except (ConfigError, LockBusyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
