"""SIPO, state-based iterative policy optimization (Fu et al., NeurIPS 2023): strategies one after another.

Iteration k trains a policy to maximize the task reward subject to its state distribution being at
least ``delta`` away from each earlier iteration's that scored (:func:`strategies`); the constraints
enter as a per-episode intrinsic return weighted by Lagrange multipliers, bounded by a budget on the
scale of the task return so that it never makes not finishing the task worth more than finishing it
(``algorithms/diversity``:
the terms and why, the multipliers, the learner connector). Every other key of the block is a
``diversity:`` setting (``algorithms/diversity/spec.py``); the defaults are measured, not tuned per
env, so a new env usually needs only::

    method:
      name: sipo
      iterations: 4              # K strategies
      distance: rbf              # rbf | wasserstein
      state: auto                # auto | diversity_state | state | obs
      delta: 0.5                 # required mean distance from every earlier strategy, in the archive's own
                                 # unit (its median pairwise distance; j is at 0 from itself)
      max_intrinsic: 2.0         # per-state cap on each distance, same units
      intrinsic_share: 0.1       # an episode's intrinsic return stays within +-0.1 x the task return scale:
                                 # repeating an earlier strategy costs up to 0.1, differing earns up to 0.1
      lambda_init: 0.5
      lambda_lr: 0.2
      lambda_max: 1.0
      archive_size: 2000         # states kept per strategy (a seeded sample)
      archive_episodes: 20       # episodes rolled out to fill the archive (and to measure the return scale)
      eval_episodes: null        # default: evaluation.episodes

Layout, resumable between and within iterations (``diverse-marl train --resume SIPO_DIR``)::

    SIPO_DIR/config.yaml
    SIPO_DIR/iteration_00/       a normal run dir (plain MAPPO: nothing to differ from yet)
    SIPO_DIR/iteration_00/archive.npz   its states, written once the iteration is done
    SIPO_DIR/iteration_01/       MAPPO + the intrinsic terms against iteration_00's archive, ...
    SIPO_DIR/evaluation.json     every iteration's policy on the task reward
    SIPO_DIR/sipo.json           per iteration: return, behaviour descriptors, final lambdas / distances
    SIPO_DIR/report.md
    SIPO_DIR/population.json     the K iterations, for ``load_population(SIPO_DIR)``

``load_policy(SIPO_DIR)`` loads the iteration with the best task return.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from diverse_marl.algorithms.diversity.archive import (
    ARCHIVE_FILE,
    HORIZON_KEY,
    LENGTH_KEY,
    RETURN_KEY,
    collect_states,
    load_archive,
    save_archive,
)
from diverse_marl.algorithms.diversity.spec import parse_diversity
from diverse_marl.algorithms.methods import BEST_KEY
from diverse_marl.algorithms.methods.rpg import Evaluator, select_top_k
from diverse_marl.config import ExperimentConfig, _build, load_config
from diverse_marl.errors import ConfigError
from diverse_marl.run_dir import RunDir, atomic_write_json, atomic_write_text
from diverse_marl.training import TrainResult, reached_stop, run_single

RESULT_FILE = "sipo.json"
REPORT_FILE = "report.md"
RANKED_FILE = "population.json"
ITERATION_DIR = "iteration_{:02d}"
DIVERSITY_METRICS = "learner/diversity/"
REPORT_STATS = 12  # episode-statistic columns in report.md


@dataclass
class IterativeSpec:
    """The pipeline keys of a ``sipo`` / ``rspo`` block; the remaining keys are diversity settings."""

    name: str = "sipo"
    iterations: int = 4
    archive_size: int = 2000
    archive_episodes: int = 20
    eval_episodes: int | None = None
    eval_deterministic: bool | None = None


def split_block(cfg: ExperimentConfig) -> tuple[IterativeSpec, dict[str, Any]]:
    """``method`` -> (pipeline spec, diversity settings); ConfigError on bad keys or values."""
    own = {f.name for f in fields(IterativeSpec)}
    spec = _build(IterativeSpec, {k: v for k, v in cfg.method.items() if k in own}, "method")
    terms = {k: v for k, v in cfg.method.items() if k not in own}
    for key in ("kind", "archives", "references", "seed"):
        if key in terms:
            raise ConfigError(f"method.{key} is set by method {spec.name} itself; drop it")
    parse_diversity({"kind": spec.name, **terms}, where="method")
    if spec.iterations < 1:
        raise ConfigError(f"method.iterations must be >= 1, got {spec.iterations}")
    if spec.archive_size < 1 or spec.archive_episodes < 1:
        raise ConfigError("method.archive_size and method.archive_episodes must be >= 1")
    return spec, terms


def validate(cfg: ExperimentConfig) -> None:
    """Check the method block against the config (before Ray starts); raises ConfigError."""
    spec, _ = split_block(cfg)
    if cfg.population.enabled:
        raise ConfigError(
            f"method {spec.name} trains its iterations one after another; drop population.size/members/sample"
        )
    if cfg.algorithm != "mappo":
        raise ConfigError(
            f"method {spec.name} needs algorithm mappo (its terms live in MAPPO's learner), got {cfg.algorithm!r}"
        )
    if cfg.diversity:
        raise ConfigError(f"method {spec.name} writes each iteration's diversity block; drop the top-level diversity:")


def iteration_config(cfg: ExperimentConfig, k: int, diversity: dict[str, Any]) -> ExperimentConfig:
    """Iteration k: the config without its method block, seed + k, and the given diversity block."""
    data = cfg.to_dict()
    data["method"] = {}
    data["name"] = f"{cfg.name}-{ITERATION_DIR.format(k)}"
    data["seed"] = cfg.seed + k
    data["diversity"] = diversity
    return load_config(data)


def run_iterations(
    cfg: ExperimentConfig,
    root: Path,
    block: Callable[[int, list[Path]], dict[str, Any]],
    *,
    archive: bool,
    resume: bool,
    quiet: bool,
) -> list[Path]:
    """Train the iterations one after another (skipping finished ones); ``block(k, earlier dirs)``
    gives iteration k's diversity block. With ``archive``, each finished iteration leaves ``archive.npz``."""
    spec, terms = split_block(cfg)
    dirs: list[Path] = []
    for k in range(spec.iterations):
        it_dir = root / ITERATION_DIR.format(k)
        icfg = iteration_config(cfg, k, block(k, [d.resolve() for d in dirs]))
        done = reached_stop(icfg, it_dir) and (not archive or (it_dir / ARCHIVE_FILE).is_file())
        if not done:
            if not reached_stop(icfg, it_dir):
                run_single(icfg, it_dir, resume=resume or RunDir(it_dir).latest_checkpoint() is not None, quiet=quiet)
            if archive:
                sample = collect_states(
                    it_dir,
                    cfg.env,
                    cfg.env_config,
                    terms.get("state", "auto"),
                    episodes=spec.archive_episodes,
                    size=spec.archive_size,
                    seed=cfg.seed + k,
                )
                save_archive(
                    it_dir / ARCHIVE_FILE,
                    sample.states,
                    {
                        "source": sample.source,
                        RETURN_KEY: sample.return_scale,
                        LENGTH_KEY: sample.length_mean,
                        HORIZON_KEY: sample.horizon,
                        "iteration": k,
                        "episodes": spec.archive_episodes,
                        "seed": cfg.seed + k,
                    },
                )
        dirs.append(it_dir)
    return dirs


def finish(cfg: ExperimentConfig, root: Path, dirs: list[Path], quiet: bool) -> TrainResult:
    """Evaluate every iteration on the task reward; write the result, report and population files."""
    spec, terms = split_block(cfg)
    evaluator = Evaluator(root, cfg, spec, quiet)
    scores = evaluator.evaluate("iterations", dirs)
    best = select_top_k([s["return"] for s in scores], 1)[0]
    entries = []
    for k, (d, s) in enumerate(zip(dirs, scores)):
        rows = RunDir(d).read_metrics()
        last = rows[-1] if rows else {}
        entries.append(
            {
                "index": k,
                "name": d.name,
                "run_dir": d.name,
                "seed": cfg.seed + k,
                "status": "finished",
                "return": s["return"],
                "stats_mean": s["stats_mean"],
                "diversity": {
                    key[len(DIVERSITY_METRICS) :]: v for key, v in last.items() if key.startswith(DIVERSITY_METRICS)
                },
                "final_metrics": last,
            }
        )
    result = {
        "method": spec.name,
        "stage": "done",
        "env": cfg.env,
        "seed": cfg.seed,
        "settings": terms,
        "best": best,
        BEST_KEY: dirs[best].name,
        "iterations": [{k: v for k, v in e.items() if k != "final_metrics"} for e in entries],
    }
    atomic_write_json(root / RANKED_FILE, entries)
    atomic_write_text(root / REPORT_FILE, report_markdown(cfg.name, result))
    atomic_write_json(root / f"{spec.name}.json", result)
    return TrainResult(
        run_dir=root,
        config=cfg,
        metrics=[e["final_metrics"] for e in entries],
        members=dirs,
        checkpoint=RunDir(dirs[best]).latest_checkpoint(),
    )


def start(cfg: ExperimentConfig, run_dir: str | os.PathLike) -> Path:
    root = Path(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "config.yaml", cfg.to_yaml())
    name = cfg.method["name"]
    atomic_write_json(root / f"{name}.json", {"method": name, "stage": "iterations", BEST_KEY: None})
    return root


def run(cfg: ExperimentConfig, run_dir: str | os.PathLike, *, resume: bool = False, quiet: bool = False) -> TrainResult:
    """Train the K SIPO iterations into ``run_dir`` (with ``resume``: continue where it stopped)."""
    _, terms = split_block(cfg)
    root = start(cfg, run_dir)

    def block(k: int, earlier: list[Path]) -> dict[str, Any]:
        if k == 0:
            return {}
        scored = strategies(earlier, lambda d: load_archive(d / ARCHIVE_FILE)[1].get(RETURN_KEY))
        return {"kind": "sipo", **terms, "archives": [str(d / ARCHIVE_FILE) for d in scored]}

    dirs = run_iterations(cfg, root, block, archive=True, resume=resume, quiet=quiet)
    return finish(cfg, root, dirs, quiet)


def strategies(earlier: list[Path], task_return: Callable[[Path], float | None]) -> list[Path]:
    """The earlier iterations a new one must differ from: those whose policy earned task reward
    (``task_return(dir)`` > 0, measured when it finished). An iteration that never scored (on a sparse task:
    it never found a goal) is not a strategy. SIPO: its archive is wherever it wandered, close to every
    path a later policy takes to a goal, so the constraint would cost every later iteration its whole
    budget whatever it did; RSPO: a near-uniform policy "explains" many chunks, which then lose their task
    reward. On the terminal multi-goal grid, every RSPO iteration that failed where the MAPPO restart of
    its seed finished came after such an iteration. If none scored (a reward-free task), all count."""
    scored = [d for d in earlier if (task_return(d) or 0.0) > 0.0]
    return scored or list(earlier)


def report_markdown(name: str, result: dict[str, Any]) -> str:
    """``report.md``: one row per iteration: task return, final multipliers / distances, descriptors."""
    its = result["iterations"]
    stats = _most_varied([it["stats_mean"] for it in its], REPORT_STATS)
    terms = sorted({k for it in its for k in it["diversity"] if not k.startswith("time")})
    lines = [
        f"# {result['method'].upper()} report: {name}",
        "",
        f"env `{result['env']}`, seed {result['seed']}, {len(its)} iterations; settings "
        f"{', '.join(f'{k}={v}' for k, v in result['settings'].items()) or 'defaults'}. Returns are task "
        f"returns (team) from batched self-play; lambdas / distances are each iteration's last training values; "
        f"the columns after them are the {REPORT_STATS} episode statistics that differ most between iterations "
        f"(all of them are in {result['method']}.json).",
        "",
        f"**Best task return: {its[result['best']]['name']}**.",
        "",
        "| iteration | return | " + " | ".join(terms + stats) + " |",
        "|---" * (2 + len(terms) + len(stats)) + "|",
    ]
    for it in its:
        cells = [_fmt(it["diversity"].get(k)) for k in terms] + [_fmt(it["stats_mean"].get(k)) for k in stats]
        lines.append(f"| {it['name']} | {_fmt(it['return'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines + [""])


def _most_varied(stats: list[dict[str, float]], n: int) -> list[str]:
    """The ``n`` statistics with the largest range over the iterations (ties: by name), sorted by name."""
    keys = sorted({k for s in stats for k in s})
    spread = {k: max(s.get(k, 0.0) for s in stats) - min(s.get(k, 0.0) for s in stats) for k in keys}
    return sorted(sorted(keys, key=lambda k: -spread[k])[:n])


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:.3g}"
