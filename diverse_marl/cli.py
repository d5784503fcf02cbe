"""The ``diverse-marl`` command line (also ``python -m diverse_marl``).

    diverse-marl train CONFIG [--set key.sub=value ...] [--quiet]
    diverse-marl train --resume RUN_DIR [--set stop.iterations=40]   (a run or a population)
    diverse-marl eval RUN_DIR [--episodes 20] [--seat agent_1=OTHER_RUN_DIR|random|llm:CONFIG|pkg.module:factory]
                     [--shaping] [--out PATH]
    diverse-marl crossplay RUN_DIR... [llm:CONFIG] [--episodes 10] [--layout NAME] [--set env_config.k=v] [--out DIR]
    diverse-marl analyze RUN_DIR|POPULATION_DIR|pkg.module:factory ... [--out DIR] [--episodes 8]
    diverse-marl demo
    diverse-marl envs
    diverse-marl options [ALGORITHM]

User errors (bad config, unknown names, corrupt checkpoints) print one line and exit 2; an exception
in a user's env prints the traceback of the env's own frames, then that line.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from diverse_marl import envs
from diverse_marl.algorithms.family import get_family
from diverse_marl.config import parse_override
from diverse_marl.errors import DiverseMarlError
from diverse_marl.metrics import SPARSE_RETURN_MEAN, SPARSE_RETURN_STD, headline_return

EXIT_USER_ERROR = 2


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar (also off when CI=true)")


def _add_env_overrides(p: argparse.ArgumentParser) -> None:
    """``--layout`` and ``--set env_config.KEY=VALUE``: the env settings of the commands that play runs."""
    p.add_argument("--layout", help="shorthand for --set env_config.layout=NAME")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="env_config.KEY=VALUE",
        help="override an env option, e.g. --set env_config.horizon=200 (repeatable)",
    )


def _env_overrides(args: argparse.Namespace) -> list[str]:
    """The ``--set`` overrides, with ``--layout NAME`` as ``env_config.layout=NAME``."""
    return list(args.overrides) + ([f"env_config.layout={args.layout}"] if args.layout else [])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diverse-marl",
        description="Diversity-driven multi-agent RL: train, evaluate and analyse populations of strategies.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser(
        "train",
        help="train from a YAML config into a new run directory",
        description="Train from a YAML config. Writes runs/<name>-<timestamp>/ "
        "(config, metrics.csv, TensorBoard, checkpoints) and prints its path.",
    )
    p.add_argument("config", nargs="?", help="YAML config file (optional with --resume)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set training.lr=1e-3 (repeatable)",
    )
    p.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue RUN_DIR from its latest checkpoint; for a population dir, continue its "
        "unfinished members and skip finished ones",
    )
    p.add_argument(
        "--run-dir",
        metavar="DIR",
        help="write into DIR (a run, or a population's parent) instead of runs/<name>-<timestamp>",
    )
    _add_common(p)

    p = sub.add_parser(
        "eval",
        help="roll out a trained run's policy and report returns",
        description="Evaluate a run directory: episodes without Ray, all stepped together in "
        "the env's batched form; reports the game's own return (reward shaping off: for Overcooked "
        "the sparse return) and event means; writes a new file RUN_DIR/evals/<seats>_<settings>.json "
        "(or --out), never overwriting an earlier evaluation.",
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "--episodes", type=int, default=None, help="episodes to roll out (default: config evaluation.episodes)"
    )
    p.add_argument("--deterministic", action="store_true", help="greedy actions instead of sampling")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument(
        "--seat",
        dest="seats",
        action="append",
        default=[],
        metavar="AGENT=SOURCE",
        help="fill AGENT's seat from SOURCE: another run dir or checkpoint, 'random', "
        "'llm:CONFIG.yaml' (an LLM agent) or 'package.module:factory' (repeatable)",
    )
    p.add_argument("--one-by-one", action="store_true", help="play episodes one at a time (unbatched reference path)")
    p.add_argument(
        "--shaping",
        action="store_true",
        help="keep the env's reward shaping (Overcooked's shaping_factor) in the return (default: off)",
    )
    p.add_argument("--out", metavar="PATH", help="write the report here (a new file) instead of RUN_DIR/evals/")
    _add_common(p)

    p = sub.add_parser(
        "crossplay",
        help="cross-play matrix of several runs or populations, with a heatmap",
        description="Every policy plays with every other (policy i in seat agent_0, j in "
        "agent_1) in one batched run; writes crossplay.json and crossplay.png. Env and "
        "env_config come from the first run (without reward_weights: the original game).",
    )
    p.add_argument(
        "run_dirs",
        nargs="+",
        metavar="RUN_DIR",
        help="run directories or population directories; "
        "llm:CONFIG.yaml adds LLM players (the config's personas, or its one agent)",
    )
    p.add_argument("--episodes", type=int, default=10, help="episodes per pair (default: 10)")
    _add_env_overrides(p)
    p.add_argument("--deterministic", action="store_true", help="greedy actions instead of sampling")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--metric",
        default=None,
        help="what the heatmap shows: sparse_return, return or seat0_return (default: the sparse team "
        "return if the env reports one, else the team return, or seat 0's return in zero-sum games)",
    )
    p.add_argument("--out", metavar="DIR", help="where to write (default: ./crossplay)")
    _add_common(p)

    p = sub.add_parser(
        "analyze",
        help="strategy clusters, cross-play, plots and a report for runs or populations",
        description="One run: training curves, behaviour statistics and report.md. Several runs, a "
        "population / RPG / method dir, or scripted members (pkg.module:factory): self-play "
        "rollouts -> behaviour descriptors -> distances -> strategy clusters, a cross-play matrix "
        "grouped by cluster, figures (PNG + SVG), a GIF per cluster and report.md.",
    )
    p.add_argument(
        "run_dirs",
        nargs="+",
        metavar="SOURCE",
        help="run dir, population dir, or [name=]package.module:factory (a scripted member)",
    )
    p.add_argument("--out", metavar="DIR", help="where to write (default: the run's or population's analysis/ folder)")
    p.add_argument("--episodes", type=int, default=8, help="self-play episodes per member (default: 8)")
    p.add_argument("--crossplay-episodes", type=int, default=4, help="episodes per cross-play cell (0: no cross-play)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--distance",
        default="descriptors",
        help="what members are clustered on: descriptors (all, z-scored), roles (who does what: each agent's "
        "share of each job), mmd, wasserstein, sliced_wasserstein, crossplay",
    )
    p.add_argument("--method", default="hierarchical", help="hierarchical, kmeans or hdbscan")
    p.add_argument("--clusters", default="auto", help="number of clusters, or 'auto' (chosen by silhouette)")
    p.add_argument(
        "--stability-seeds",
        type=int,
        nargs="*",
        default=[],
        metavar="SEED",
        help="more rollout seeds: report how stable the clusters are (adjusted Rand index)",
    )
    p.add_argument("--env", help="env to play in (default: the first run's); required for scripted members only")
    _add_env_overrides(p)
    p.add_argument("--copies", type=int, default=1, help="seeded copies of each scripted member (default: 1)")
    p.add_argument(
        "--descriptor",
        dest="descriptors",
        action="append",
        default=[],
        metavar="pkg.module:function",
        help="a user descriptor: function(MemberRollouts) -> {name: value} (repeatable)",
    )
    p.add_argument(
        "--deterministic",
        action="store_true",
        default=None,
        help="greedy actions (default: the first run's evaluation.deterministic; scripted-only: sampled)",
    )
    p.add_argument("--sampled", dest="deterministic", action="store_false", help="sampled actions")
    p.add_argument("--no-gifs", action="store_true", help="skip the episode GIF per cluster")
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="where rollouts are cached (default: each run's rollouts/ folder; use for read-only runs)",
    )
    p.add_argument("--single", action="store_true", help="per-run training curves and reports only (the old analysis)")
    _add_common(p)

    p = sub.add_parser(
        "demo",
        help="the main job end to end: a diverse population, cross-played and clustered (make demo)",
        description="Train examples/demo.yaml (RPG: a small population in Overcooked) on a local Ray, "
        "then analyse it without Ray: self-play and cross-play, strategy clusters, figures, an "
        "episode GIF per cluster and a report; prints each member's sparse return and cluster.",
    )
    p.add_argument("config", nargs="?", help="a config to use instead of examples/demo.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    _add_common(p)

    p = sub.add_parser("envs", help="list registered envs, their options and layouts")
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("options", help="list an algorithm's options (the `training:` keys)")
    p.add_argument("algorithm", nargs="?", default="mappo")
    return parser


def cmd_train(args: argparse.Namespace) -> int:
    from diverse_marl.experiment import train  # Ray: lazy, so `diverse-marl --help` and `envs` stay fast

    if args.config is None and args.resume is None:
        raise DiverseMarlError("train needs a CONFIG file or --resume RUN_DIR")
    result = train(args.config, overrides=args.overrides, resume=args.resume, quiet=args.quiet, run_dir=args.run_dir)
    if result.members:
        print(f"trained a population of {len(result.members)} members")
        for path, final in zip(result.members, result.metrics):
            print(f"  {path.name}: {final.get('iteration', 0)} iterations, return {headline_return(final):.2f}")
        print(f"population dir: {result.run_dir}")
        if result.checkpoint is not None:  # a method's run (e.g. rpg): its best policy and its report
            print(f"best policy: {result.checkpoint}; report: {result.run_dir / 'report.md'}")
        return 0
    final = result.final
    ret = headline_return(final)
    print(
        f"trained {final.get('iteration', 0)} iterations, {final.get('env_steps', 0)} env steps"
        + (f", mean return {ret:.2f}" if ret == ret else "")
    )  # NaN: no episode finished
    print(f"run dir: {result.run_dir}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from diverse_marl.evaluation import evaluate_run, parse_seats  # torch: lazy, see cmd_train

    report = evaluate_run(
        args.run_dir,
        episodes=args.episodes,
        deterministic=args.deterministic or None,
        seed=args.seed,
        quiet=args.quiet,
        seats=parse_seats(args.seats),
        batched=not args.one_by_one,
        shaping=args.shaping,
        out=args.out,
    )
    shaping = " with reward shaping" if report.get("shaping") else ""
    mean, std = report["return_mean"], report["return_std"]
    line = f"{report['episodes']} episodes: mean return{shaping} {mean:.2f} (std {std:.2f})"
    if SPARSE_RETURN_MEAN in report:
        line += f", mean sparse return {report[SPARSE_RETURN_MEAN]:.2f} (std {report[SPARSE_RETURN_STD]:.2f})"
    print(line)
    for agent, m in report.get("agent_metrics", {}).items():
        print(f"{agent} ({m.get('name')}): {_llm_line(m)}")
    print(f"wrote {report['path']}")
    return 0


def _llm_line(m: dict[str, Any]) -> str:
    """One line of an LLM agent's metrics (requests, cache, fallbacks, latency, tokens)."""
    lat = m.get("latency_s", {})
    return (
        f"{m['requests']} requests, {m['cache_hits']} cache hits, {m['fallbacks']} fallbacks, latency p50 "
        f"{lat.get('p50', float('nan')):.3f}s p99 {lat.get('p99', float('nan')):.3f}s, "
        f"{m['prompt_tokens']}+{m['completion_tokens']} tokens"
    )


def cmd_crossplay(args: argparse.Namespace) -> int:
    from diverse_marl.analysis.crossplay_report import crossplay_from_run_dirs  # torch, matplotlib: lazy

    result, paths = crossplay_from_run_dirs(
        args.run_dirs,
        episodes=args.episodes,
        overrides=_env_overrides(args),
        deterministic=args.deterministic,
        seed=args.seed,
        metric=args.metric,
        out=args.out or "crossplay",
        quiet=args.quiet,
    )
    width = max(len(n) for n in result.names)
    print(
        f"cross-play {result.metric} (rows: {'+'.join(result.seats[0])}, columns: {'+'.join(result.seats[1])}), "
        f"{result.episodes} episodes per cell"
    )
    for name, row in zip(result.names, result.value_mean):
        print(f"  {name:<{width}}  " + "  ".join(f"{v:8.2f}" for v in row))
    for name, m in result.player_metrics.items():
        print(f"{name}: {_llm_line(m)}")
    for path in paths:
        print(f"wrote {path}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from diverse_marl.analysis.pipeline import analyze_paths, is_single_run  # scikit-learn, matplotlib: lazy
    from diverse_marl.analysis.report import analyze_runs

    if args.single or (len(args.run_dirs) == 1 and is_single_run(args.run_dirs[0])):
        for path in analyze_runs(args.run_dirs, out=args.out):
            print(f"wrote {path}")
        return 0
    updates = {}
    for text in _env_overrides(args):
        keys, value = parse_override(text)
        if len(keys) != 2 or keys[0] != "env_config":
            raise DiverseMarlError(f"analyze --set takes env_config.KEY=VALUE, got {text!r}")
        updates[keys[1]] = value
    clusters = args.clusters if args.clusters == "auto" else _positive_int(args.clusters, "--clusters")
    result = analyze_paths(
        args.run_dirs,
        out=args.out,
        env=args.env,
        env_updates=updates,
        copies=args.copies,
        descriptor_fns=args.descriptors,
        episodes=args.episodes,
        seed=args.seed,
        distance=args.distance,
        method=args.method,
        n_clusters=clusters,
        crossplay_episodes=args.crossplay_episodes,
        stability_seeds=args.stability_seeds,
        gifs=not args.no_gifs,
        deterministic=args.deterministic,
        cache_dir=args.cache_dir,
        quiet=args.quiet,
    )
    k = result.clusters.n_clusters_
    print(
        f"{len(result.names)} members, {k} strateg{'y' if k == 1 else 'ies'} "
        f"(self-play {result.headline_name} by cluster):"
    )
    for c in range(k):
        members = result.members_of(c)
        mean = sum(result.headline[m] for m in members) / len(members)
        print(f"  cluster {c + 1}: {mean:8.2f}  {', '.join(members)}")
    print(f"report: {result.report}")
    return 0


def _positive_int(text: str, flag: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise DiverseMarlError(f"{flag} must be 'auto' or a positive integer, got {text!r}")
    return value


def cmd_demo(args: argparse.Namespace) -> int:
    from diverse_marl.demo import run_demo  # Ray: lazy

    run_demo(args.config, quiet=args.quiet, overrides=args.overrides)
    return 0


def cmd_envs(args: argparse.Namespace) -> int:
    listing = {}
    for name in envs.list_envs():
        spec = envs.env_spec(name)
        entry: dict[str, Any] = {"description": spec.description, "options": {}}
        try:
            for opt, default in spec.options().items():
                entry["options"][opt] = None if default is inspect.Parameter.empty else default
            for opt, allowed in spec.choices.items():
                entry.setdefault("choices", {})[opt] = allowed()
        except DiverseMarlError as exc:  # an env whose module is not importable here
            entry["error"] = str(exc)
        listing[name] = entry
    if args.json:
        print(json.dumps(listing, indent=2, default=repr))
        return 0
    for name, entry in listing.items():
        print(f"{name}: {entry['description']}")
        if "error" in entry:
            print(f"    (unavailable: {entry['error']})")
            continue
        opts = ", ".join(f"{k}={v!r}" for k, v in entry["options"].items())
        print(f"    options: {opts or '(none)'}")
        for opt, values in entry.get("choices", {}).items():
            print(f"    {opt}s: {', '.join(values)}")
    return 0


def cmd_options(args: argparse.Namespace) -> int:
    family = get_family(args.algorithm)
    defaults, docs = family.option_defaults(), family.option_docs()
    width = max(len(k) for k in defaults)
    print(f"{args.algorithm} options (YAML `training:` keys / --set training.KEY=VALUE):")
    for key in sorted(defaults):
        print(f"  {key:<{width}}  {defaults[key]!r:<12}  {docs.get(key, '')}")
    return 0


COMMANDS = {
    "demo": cmd_demo,
    "train": cmd_train,
    "eval": cmd_eval,
    "crossplay": cmd_crossplay,
    "analyze": cmd_analyze,
    "envs": cmd_envs,
    "options": cmd_options,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "quiet", False):
        os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        return COMMANDS[args.command](args)
    except DiverseMarlError as exc:
        user_frames = getattr(exc, "user_traceback", "")  # an error of the user's env: its own frames first
        if user_frames:
            print(user_frames.rstrip(), file=sys.stderr)
        print(f"diverse-marl {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
