"""RPG, reward-randomized policy gradient (Tang et al., ICLR 2021), as a pipeline of ordinary runs.

Plain policy gradient settles on the safe, risk-dominant equilibrium (Stag Hunt: both hunt hare).
RPG trains members under randomized rewards, scores every member on the game's *original*
reward, and fine-tunes the best ones on the original reward from their own weights.

    method:
      name: rpg
      samples: 8                          # M reward-weight vectors
      sampler: {uniform: {stag_stag: [0, 5], hare_hare: [0, 5]}}   # or grid: / list: (below)
      include_original: true              # one more member on the env's own reward
      top_k: 2                            # members fine-tuned (0: none; the best member is the result)
      finetune: {iterations: 20}          # fine-tuning stop limits ({} : the config's stop)
      finetune_training: null             # training overrides while fine-tuning; null: lr x 0.1, no entropy
                                          # bonus (keeps an equilibrium a member found); {}: as the members
      eval_episodes: 100                  # default: evaluation.episodes
      eval_deterministic: null            # default: evaluation.deterministic

Samplers, over the env's reward features (features not named weigh 0, see ``envs/reward.py``),
all drawn from ``numpy.random.default_rng(seed)``:
``uniform: {feature: [lo, hi]}`` (``samples`` draws, features in sorted order);
``grid: {feature: [v1, v2, ...]}`` (the cartesian product; ``samples`` of it without replacement);
``list: [{feature: w, ...}, ...]`` (explicit vectors, e.g. RPG's perturbed payoff matrices; a subset
of ``samples`` of them without replacement).

Stages, each resumable (``diverse-marl train --resume RPG_DIR`` continues where it stopped)::

    RPG_DIR/config.yaml       the config with its method block
    RPG_DIR/members/          1. a population of the M members (Tune trials), member i with
                                 env_config.reward_weights = sample i (the original member last)
    RPG_DIR/evaluation.json   2. every member (and fine-tuned run) on the original reward: batched
                                 self-play without reward_weights (reused while checkpoints are unchanged)
    RPG_DIR/finetune/         3. a population of the top k, each warm-started (init_from) from its member
    RPG_DIR/rpg.json          4. per sample: weights, return before / after fine-tuning, behaviour
    RPG_DIR/report.md            descriptors (episode statistic means), selection; the best run
    RPG_DIR/population.json      the members ranked by original return, for ``load_population``

The return that ranks is the team's original return, or the team sparse return where the env
reports one (Overcooked). The result is the best *measured* policy: every member before fine-tuning
and every fine-tuned run are scored on the original reward, and the highest wins (a tie goes to the
fine-tuned run), so fine-tuning can only add to what the members found: a member that already
plays the payoff-dominant equilibrium perfectly stays the result if fine-tuning drifts from it.
Fine-tuning defaults to a tenth of the members' learning rate and no entropy bonus
(:data:`FINETUNE_LR_SCALE`): on the original Stag Hunt payoffs (stag alone -50) exploration around a
found stag-stag equilibrium is punished hard, and at the members' settings a perfect member drifted
toward hare. ``diverse_marl.load_policy(RPG_DIR)`` loads the best run (``rpg.json``'s
``best_run_dir``), ``load_population(RPG_DIR)`` the members, best first.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from diverse_marl.algorithms.methods import BEST_KEY
from diverse_marl.config import ExperimentConfig, StopConfig, _build, load_config
from diverse_marl.envs import reward_feature_names
from diverse_marl.envs.reward import WEIGHTS_OPTION, check_reward_weights
from diverse_marl.errors import ConfigError
from diverse_marl.evaluation import evaluate_run
from diverse_marl.metrics import SPARSE_RETURN_MEAN
from diverse_marl.population_train import member_dir_name, train_stage
from diverse_marl.run_dir import RunDir, atomic_write_json, atomic_write_text
from diverse_marl.training import TrainResult

__all__ = [
    "RPGSpec",
    "parse_spec",
    "sample_weights",
    "select_top_k",
    "members_config",
    "finetune_config",
    "finetune_training",
    "best_measured",
    "validate",
    "run",
    "RESULT_FILE",
    "EVALUATION_FILE",
    "REPORT_FILE",
    "MEMBERS_DIR",
    "FINETUNE_DIR",
]

RESULT_FILE = "rpg.json"
EVALUATION_FILE = "evaluation.json"
REPORT_FILE = "report.md"
RANKED_FILE = "population.json"  # the file load_population reads: RPG_DIR loads as the ranked members
MEMBERS_DIR, FINETUNE_DIR = "members", "finetune"
SAMPLERS = ("uniform", "grid", "list")
FINETUNE_LR_SCALE = 0.1  # default fine-tuning learning rate, as a share of the members' (module docstring)
FINETUNE_ENTROPY = 0.0  # default fine-tuning entropy bonus


@dataclass
class RPGSpec:
    """The ``method:`` block of an RPG config (module docstring)."""

    name: str = "rpg"
    samples: int | None = None  # required for uniform; grid / list default to all their vectors
    sampler: dict = field(default_factory=dict)
    include_original: bool = False
    top_k: int = 1
    finetune: dict = field(default_factory=dict)  # a stop block; {}: the config's own stop
    finetune_training: dict | None = None  # training overrides while fine-tuning; None: finetune_training_default
    eval_episodes: int | None = None
    eval_deterministic: bool | None = None


def parse_spec(cfg: ExperimentConfig) -> RPGSpec:
    """The config's method block as an :class:`RPGSpec`, with its own checks (not the features')."""
    spec = _build(RPGSpec, cfg.method, "method")
    if len(spec.sampler) != 1 or next(iter(spec.sampler)) not in SAMPLERS:
        raise ConfigError(
            f"method.sampler: expected exactly one of {', '.join(SAMPLERS)} "
            f"(e.g. {{uniform: {{feature: [lo, hi]}}}}), got {spec.sampler!r}"
        )
    if spec.samples is not None and spec.samples < 1:
        raise ConfigError(f"method.samples must be >= 1, got {spec.samples}")
    if "uniform" in spec.sampler and spec.samples is None:
        raise ConfigError("method.samples: the uniform sampler needs a number of samples")
    if spec.eval_episodes is not None and spec.eval_episodes < 1:
        raise ConfigError(f"method.eval_episodes must be >= 1, got {spec.eval_episodes}")
    finetune_stop(cfg, spec)
    return spec


def finetune_stop(cfg: ExperimentConfig, spec: RPGSpec) -> StopConfig:
    """Fine-tuning's stop limits: exactly those ``method.finetune`` names, or the config's stop."""
    if not spec.finetune:
        return cfg.stop
    stop = _build(
        StopConfig, {"iterations": None, "env_steps": None, "time_s": None, **spec.finetune}, "method.finetune"
    )
    if all(v is None for v in (stop.iterations, stop.env_steps, stop.time_s)):
        raise ConfigError("method.finetune: set at least one of iterations, env_steps, time_s")
    return stop


# ---------------------------------------------------------------------------------------
# sampling and selection
# ---------------------------------------------------------------------------------------
def sample_weights(spec: RPGSpec, features: Sequence[str], env: str, seed: int) -> list[dict[str, float]]:
    """The M reward-weight vectors of ``spec.sampler`` over the env's ``features``; same seed, same vectors."""
    ((kind, arg),) = spec.sampler.items()
    where = f"method.sampler.{kind}"
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        boxes = _check_ranges(arg, where)
        check_reward_weights({k: 0.0 for k in boxes}, features, env, where=where)
        names = sorted(boxes)
        return [{k: float(rng.uniform(*boxes[k])) for k in names} for _ in range(spec.samples)]
    if kind == "grid":
        if not isinstance(arg, dict) or not arg:
            raise ConfigError(f"{where}: expected {{feature: [v1, v2, ...]}}, got {arg!r}")
        names = sorted(arg)
        for k in names:
            if not isinstance(arg[k], list) or not arg[k]:
                raise ConfigError(f"{where}.{k}: expected a non-empty list of weights, got {arg[k]!r}")
        vectors = [dict(zip(names, values)) for values in itertools.product(*(arg[k] for k in names))]
    else:
        if not isinstance(arg, list) or not arg or not all(isinstance(v, dict) for v in arg):
            raise ConfigError(f"{where}: expected a non-empty list of {{feature: weight}} mappings, got {arg!r}")
        vectors = arg
    vectors = [check_reward_weights(v, features, env, where=f"{where}[{i}]") for i, v in enumerate(vectors)]
    if spec.samples is None or spec.samples == len(vectors):
        return vectors
    if spec.samples > len(vectors):
        raise ConfigError(f"method.samples is {spec.samples} but the {kind} sampler holds {len(vectors)} vectors")
    return [vectors[i] for i in sorted(rng.choice(len(vectors), size=spec.samples, replace=False))]


def _check_ranges(arg: Any, where: str) -> dict[str, tuple[float, float]]:
    if not isinstance(arg, dict) or not arg:
        raise ConfigError(f"{where}: expected {{feature: [lo, hi]}}, got {arg!r}")
    out = {}
    for k, box in arg.items():
        ok = (
            isinstance(box, list)
            and len(box) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)
            and box[0] <= box[1]
        )
        if not ok:
            raise ConfigError(f"{where}.{k}: expected [lo, hi] with numbers lo <= hi, got {box!r}")
        out[k] = (float(box[0]), float(box[1]))
    return out


def select_top_k(returns: Sequence[float], k: int) -> list[int]:
    """Indices of the ``k`` highest original-reward returns, best first (ties: lower index; NaN last)."""
    key = [(-r if not math.isnan(r) else math.inf, i) for i, r in enumerate(returns)]
    return [i for _, i in sorted(key)[:k]]


# ---------------------------------------------------------------------------------------
# the configs of the stages: ordinary populations
# ---------------------------------------------------------------------------------------
def _base(cfg: ExperimentConfig) -> dict[str, Any]:
    data = cfg.to_dict()
    data["method"] = {}
    return data


def members_config(
    cfg: ExperimentConfig, weights: Sequence[dict[str, float]], include_original: bool
) -> ExperimentConfig:
    """Stage 1: one member per weight vector (``env_config.reward_weights``), then the original one."""
    data = _base(cfg)
    members = [{"env_config": {WEIGHTS_OPTION: dict(w)}} for w in weights] + ([{}] if include_original else [])
    data["population"] = {"members": members, "max_concurrent": cfg.population.max_concurrent}
    return load_config(data)


def finetune_training(cfg: ExperimentConfig, spec: RPGSpec) -> dict[str, Any]:
    """Fine-tuning's training options: the members' with ``spec.finetune_training`` on top; by default the
    learning rate (each value of a schedule) times :data:`FINETUNE_LR_SCALE` and no entropy bonus."""
    if spec.finetune_training is not None:
        return {**cfg.training, **spec.finetune_training}
    lr = cfg.training.get("lr", cfg.family().option_defaults()["lr"])
    scaled = (
        [[step, value * FINETUNE_LR_SCALE] for step, value in lr] if isinstance(lr, list) else lr * FINETUNE_LR_SCALE
    )
    return {**cfg.training, "lr": scaled, "entropy_coeff": FINETUNE_ENTROPY}


def finetune_config(cfg: ExperimentConfig, spec: RPGSpec, sources: Sequence[tuple[Path, int]]) -> ExperimentConfig:
    """Stage 3: per ``(member run dir, member seed)``, a run on the original reward warm-started from it."""
    data = _base(cfg)
    data["training"] = finetune_training(cfg, spec)
    stop = finetune_stop(cfg, spec)
    data["stop"] = {"iterations": stop.iterations, "env_steps": stop.env_steps, "time_s": stop.time_s}
    members = [{"init_from": str(Path(d).resolve()), "seed": seed} for d, seed in sources]
    data["population"] = {"members": members, "max_concurrent": cfg.population.max_concurrent}
    return load_config(data)


def validate(cfg: ExperimentConfig) -> None:
    """Check the method block against the config (before Ray starts); raises ConfigError."""
    spec = parse_spec(cfg)
    if cfg.population.enabled:
        raise ConfigError(
            "method rpg makes its own population of members; drop population.size/members/sample "
            "(population.max_concurrent is kept)"
        )
    if WEIGHTS_OPTION in cfg.env_config:
        raise ConfigError(
            f"method rpg sets env_config.{WEIGHTS_OPTION} per member (from method.sampler); drop it from env_config"
        )
    weights = _weights(cfg, spec)
    total = len(weights) + int(spec.include_original)
    if not 0 <= spec.top_k <= total:
        raise ConfigError(f"method.top_k must be between 0 and the number of members ({total}), got {spec.top_k}")
    members_config(cfg, weights, spec.include_original)
    if spec.finetune_training is not None:
        if not isinstance(spec.finetune_training, dict):
            raise ConfigError(
                f"method.finetune_training: expected a mapping of training options, got {spec.finetune_training!r}"
            )
        load_config({**_base(cfg), "training": finetune_training(cfg, spec)})


def _weights(cfg: ExperimentConfig, spec: RPGSpec) -> list[dict[str, float]]:
    features = reward_feature_names(cfg.env, cfg.env_config)
    if not features:
        raise ConfigError(
            f"method rpg needs reward features, and env {cfg.env!r} reports none (infos[agent]['reward_features'])"
        )
    return sample_weights(spec, features, cfg.env, cfg.seed)


# ---------------------------------------------------------------------------------------
# the pipeline
# ---------------------------------------------------------------------------------------
def run(cfg: ExperimentConfig, run_dir: str | os.PathLike, *, resume: bool = False, quiet: bool = False) -> TrainResult:
    """Train, evaluate, select, fine-tune and report into ``run_dir`` (with ``resume``: skip what is done)."""
    spec = parse_spec(cfg)
    weights = _weights(cfg, spec)
    root = Path(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "config.yaml", cfg.to_yaml())

    def stage(name: str) -> None:  # where a run stands; the best run is named only when all is done
        atomic_write_json(root / RESULT_FILE, {"method": "rpg", "stage": name, BEST_KEY: None})

    stage("members")
    mcfg = members_config(cfg, weights, spec.include_original)
    members = train_stage(mcfg, root, MEMBERS_DIR, "rpg", resume, quiet)
    stage("evaluation")
    evaluator = Evaluator(root, cfg, spec, quiet)
    before = evaluator.evaluate(MEMBERS_DIR, members.members)

    selected = select_top_k([e["return"] for e in before], spec.top_k)
    after: list[dict[str, Any]] = []
    if selected:
        stage("finetune")
        fcfg = finetune_config(cfg, spec, [(members.members[i], mcfg.seed + i) for i in selected])
        _check_same_selection(root / FINETUNE_DIR, fcfg)
        tuned = train_stage(fcfg, root, FINETUNE_DIR, "rpg", resume, quiet)
        after = evaluator.evaluate(FINETUNE_DIR, tuned.members)
    samples = _samples(mcfg, weights, before, selected, after)
    best, tuned_best = best_measured(samples)
    best_dir = samples[best]["finetune_run_dir"] if tuned_best else samples[best]["run_dir"]
    result = {
        "method": "rpg",
        "stage": "done",
        "env": cfg.env,
        "seed": cfg.seed,
        "features": reward_feature_names(cfg.env, cfg.env_config),
        "sampler": spec.sampler,
        "top_k": spec.top_k,
        "selected": selected,
        "best": best,
        "best_is_finetuned": tuned_best,
        "best_return": samples[best]["return_after" if tuned_best else "return_before"],
        BEST_KEY: best_dir,
        "samples": samples,
    }
    atomic_write_json(root / RANKED_FILE, _ranked_entries(root, samples))
    atomic_write_text(root / REPORT_FILE, report_markdown(cfg.name, result))
    atomic_write_json(root / RESULT_FILE, result)
    return TrainResult(
        run_dir=root,
        config=cfg,
        metrics=members.metrics,
        members=members.members,
        checkpoint=RunDir(root / best_dir).latest_checkpoint(),
    )


def best_measured(samples: Sequence[dict[str, Any]]) -> tuple[int, bool]:
    """``(member index, whether its fine-tuned run)`` of the highest original-reward return among every
    member before fine-tuning and every fine-tuned run; a tie goes to the fine-tuned run, then the lower index."""
    candidates = [(s["return_before"], False, i) for i, s in enumerate(samples)]
    candidates += [(s["return_after"], True, i) for i, s in enumerate(samples) if s["selected"]]
    key = [(-r if r is not None and not math.isnan(r) else math.inf, not tuned, i) for r, tuned, i in candidates]
    _, not_tuned, i = min(key)
    return i, not not_tuned


def _check_same_selection(finetune_dir: Path, fcfg: ExperimentConfig) -> None:
    """A fine-tune stage already begun must fine-tune the members selected now (else its runs mislead)."""
    config = RunDir(finetune_dir).config_path
    if not config.is_file():
        return
    before = [
        m.get("init_from") for m in (yaml.safe_load(config.read_text()) or {}).get("population", {}).get("members", [])
    ]
    now = [m["init_from"] for m in fcfg.population.members]
    if before != now:
        raise ConfigError(
            f"{finetune_dir} fine-tunes {before}, but the members now selected are {now} (their "
            "evaluation changed); move that folder away to fine-tune the new selection"
        )


class Evaluator:
    """Stage 2 (and the after-fine-tuning scores): batched self-play on the original reward, per run.

    Results are kept in ``evaluation.json`` keyed by stage, run dir and checkpoint, so a resumed RPG
    run re-evaluates only runs whose latest checkpoint changed."""

    def __init__(self, root: Path, cfg: ExperimentConfig, spec: RPGSpec, quiet: bool):
        self.path = root / EVALUATION_FILE
        self.root = root
        self.quiet = quiet
        self.settings = {
            "episodes": spec.eval_episodes if spec.eval_episodes is not None else cfg.evaluation.episodes,
            "deterministic": cfg.evaluation.deterministic
            if spec.eval_deterministic is None
            else spec.eval_deterministic,
            "seed": cfg.evaluation.seed,
        }
        self.data: dict[str, Any] = {"settings": self.settings}
        if self.path.is_file():
            try:
                cached = json.loads(self.path.read_text(encoding="utf-8"))
            except ValueError:  # unreadable: evaluate again
                cached = {}
            if cached.get("settings") == self.settings:
                self.data = cached

    def evaluate(self, stage: str, run_dirs: Sequence[Path]) -> list[dict[str, Any]]:
        cached = {e["run_dir"]: e for e in self.data.get(stage, [])}
        out = []
        for d in run_dirs:
            rel = Path(d).relative_to(self.root).as_posix()
            checkpoint = Path(RunDir(d).latest_checkpoint()).relative_to(self.root).as_posix()
            entry = cached.get(rel)
            if entry is None or entry["checkpoint"] != checkpoint:
                report = evaluate_run(
                    d,
                    self.settings["episodes"],
                    self.settings["deterministic"],
                    self.settings["seed"],
                    quiet=self.quiet,
                )
                entry = {
                    "run_dir": rel,
                    "checkpoint": checkpoint,
                    "return": report.get(SPARSE_RETURN_MEAN, report["return_mean"]),
                    "return_mean": report["return_mean"],
                    "length_mean": report["length_mean"],
                    "stats_mean": report["stats_mean"],
                }
            out.append(entry)
        self.data[stage] = out
        atomic_write_json(self.path, self.data)
        return out


# ---------------------------------------------------------------------------------------
# stage 4: results
# ---------------------------------------------------------------------------------------
def _samples(
    mcfg: ExperimentConfig,
    weights: Sequence[dict[str, float]],
    before: list[dict[str, Any]],
    selected: list[int],
    after: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """One record per member: its weights (None: the original reward), scores before / after, selection."""
    out = []
    for i, ev in enumerate(before):
        tuned = after[selected.index(i)] if i in selected else None
        out.append(
            {
                "index": i,
                "name": member_dir_name(i),
                "run_dir": ev["run_dir"],
                "seed": mcfg.seed + i,
                "weights": dict(weights[i]) if i < len(weights) else None,
                "return_before": ev["return"],
                "stats_before": ev["stats_mean"],
                "selected": tuned is not None,
                "finetune_run_dir": tuned["run_dir"] if tuned else None,
                "return_after": tuned["return"] if tuned else None,
                "stats_after": tuned["stats_mean"] if tuned else None,
            }
        )
    return out


def _ranked_entries(root: Path, samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``population.json`` entries of the members, best original-reward return first."""
    order = select_top_k([s["return_before"] for s in samples], len(samples))
    entries = []
    for rank, i in enumerate(order):
        s = samples[i]
        rows = RunDir(root / s["run_dir"]).read_metrics()
        entries.append(
            {
                "index": i,
                "name": s["name"],
                "run_dir": s["run_dir"],
                "seed": s["seed"],
                "rank": rank,
                "reward_weights": s["weights"],
                "status": "finished",
                "return_before": s["return_before"],
                "return_after": s["return_after"],
                "selected": s["selected"],
                "finetune_run_dir": s["finetune_run_dir"],
                "final_metrics": rows[-1] if rows else {},
            }
        )
    return entries


def report_markdown(name: str, result: dict[str, Any]) -> str:
    """``report.md``: one row per sample, the selected ones marked, the best one named."""
    samples = result["samples"]
    stats = sorted({k for s in samples for k in s["stats_before"]})
    best = samples[result["best"]]
    lines = [
        f"# RPG report: {name}",
        "",
        f"env `{result['env']}`, seed {result['seed']}, {len(samples)} members, top {result['top_k']} fine-tuned "
        f"on the original reward. Returns are original-reward returns (team), from batched self-play.",
        "",
        f"**Best measured policy: {best['name']}{' fine-tuned' if result['best_is_finetuned'] else ''}** "
        f"({result[BEST_KEY]}), return {_fmt(result['best_return'])} (the highest of every member before "
        "and after fine-tuning; `load_policy` loads it).",
        "",
        "| member | weights | return before | return after | fine-tuned run | " + " | ".join(stats) + " |",
        "|---" * (5 + len(stats)) + "|",
    ]
    for s in samples:
        weights = ", ".join(f"{k}={v:.3g}" for k, v in s["weights"].items()) if s["weights"] is not None else "original"
        mark = f"**{s['finetune_run_dir']}**" if s["selected"] else ""
        cells = [
            _fmt(s["stats_before"].get(k)) + (f" -> {_fmt(s['stats_after'].get(k))}" if s["selected"] else "")
            for k in stats
        ]
        lines.append(
            f"| {s['name']} | {weights} | {_fmt(s['return_before'])} | {_fmt(s['return_after'])} | {mark} | "
            + " | ".join(cells)
            + " |"
        )
    lines += [
        "",
        "Selected members are the ones with a fine-tuned run (warm-started from the member, trained on the "
        "original reward). Behaviour descriptors are episode-statistic means (before -> after fine-tuning).",
        "",
    ]
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    return "" if value is None else f"{value:.3g}"
