"""MEP, maximum-entropy population-based training (Zhao et al., AAAI 2023), as a pipeline of ordinary runs.

Stage 1 trains N self-play members *together* and rewards each for the actions the population
seldom takes, ``r + alpha * -log pibar(a|s)`` with ``pibar`` the members' mean policy
(``algorithms/population_entropy/bonus.py`` derives it and says why this form). Stage 2 trains
one agent against the frozen members, drawing harder partners (lower recent return with the
agent) more often by the paper's rank rule ``p_i ~ rank_i ** priority``
(``diverse_marl.partners.rank_priorities``).

    method:
      name: mep
      population: 4                      # N members
      entropy_coeff: 0.01                # alpha of the population-entropy reward
      member_stop: {env_steps: 2000000}  # each member's budget ({}: the config's stop)
      priority: 1.0                      # rank exponent of partner sampling; 0 = uniform
      self_play: 0.0                     # share of the agent's episodes played with itself
      eval_episodes: null                # self-play episodes per member for the report (null: evaluation.episodes)
      eval_deterministic: null

The top-level ``stop`` is the agent's budget. Every member samples as much as a single run of the
base config: stage 1 runs the members in one RLlib algorithm with N times the base
``train_batch_size`` and ``num_envs_per_env_runner``, and N times the env-step points of
``member_stop``, ``reward_schedule`` and the ``lr`` / ``entropy_coeff`` schedules, so each member
sees the schedules of a single run (a member's env steps are a 1/N share of the total).

Stages, each resumable (``diverse-marl train --resume MEP_DIR`` continues at the stage it stopped)::

    MEP_DIR/population_training/  1. one run of algorithm mappo_population_entropy (modules member_00 ..)
    MEP_DIR/members/member_XX/       each member exported as a single-policy run dir (every kept checkpoint)
    MEP_DIR/evaluation.json          each member in self-play on the game's reward (its return in the report)
    MEP_DIR/agent/                2. one MAPPO run on the config's own reward, the members frozen in seat
                                     agent_1 (one per episode, prioritized), self-play in ``self_play`` of them
    MEP_DIR/mep.json, report.md      members, their diversity and returns, the agent; ``best_run_dir`` = agent/
    MEP_DIR/population.json          the members, for ``load_population(MEP_DIR)``

``load_policy(MEP_DIR)`` is the agent; ``load_population(MEP_DIR)`` the members.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diverse_marl import envs
from diverse_marl.algorithms.methods import BEST_KEY
from diverse_marl.algorithms.methods.hsp import _base, _stop_dict, adaptive_config, check_base, open_method_dir
from diverse_marl.algorithms.methods.rpg import Evaluator
from diverse_marl.algorithms.population_entropy.config import member_id, member_ids
from diverse_marl.algorithms.safe_checkpoint import read_policies_meta, read_weights, write_safe_checkpoint
from diverse_marl.config import ExperimentConfig, StopConfig, _build, load_config
from diverse_marl.errors import ConfigError
from diverse_marl.metrics import EPISODE_RETURN_MEAN
from diverse_marl.run_dir import (
    META_FILE,
    RunDir,
    atomic_write_json,
    atomic_write_text,
    read_checkpoint_meta,
)
from diverse_marl.training import TrainResult, reached_stop, run_single

__all__ = ["MEPSpec", "parse_spec", "population_config", "agent_config", "export_members", "validate", "run"]

RESULT_FILE, REPORT_FILE, RANKED_FILE = "mep.json", "report.md", "population.json"
TRAINING_DIR, MEMBERS_DIR, AGENT_DIR = "population_training", "members", "agent"
POPULATION_ALGORITHM = "mappo_population_entropy"  # algorithms/family.py
SCALED_OPTIONS = ("train_batch_size", "num_envs_per_env_runner")  # per member -> all members together
SCHEDULED_OPTIONS = ("lr", "critic_lr", "entropy_coeff")  # [[env_step, value], ...] when a list
DIVERSITY_KEY = "learner/population_entropy/pairwise_tv"  # stage-1 metric: members' action-distribution distance
ENTROPY_KEY = "learner/population_entropy/population_entropy"


@dataclass
class MEPSpec:
    """The ``method:`` block of an MEP config (module docstring)."""

    name: str = "mep"
    population: int = 4
    entropy_coeff: float = 0.01
    member_stop: dict = field(default_factory=dict)
    priority: float = 1.0
    self_play: float = 0.0
    eval_episodes: int | None = None
    eval_deterministic: bool | None = None


def parse_spec(cfg: ExperimentConfig) -> MEPSpec:
    spec = _build(MEPSpec, cfg.method, "method")
    if spec.population < 1:
        raise ConfigError(f"method.population must be >= 1, got {spec.population}")
    if spec.entropy_coeff < 0:
        raise ConfigError(f"method.entropy_coeff must be >= 0, got {spec.entropy_coeff}")
    if spec.priority < 0:
        raise ConfigError(f"method.priority must be >= 0 (0: uniform partner draws), got {spec.priority}")
    if not 0.0 <= spec.self_play < 1.0:
        raise ConfigError(f"method.self_play must be in [0, 1), got {spec.self_play}")
    if spec.eval_episodes is not None and spec.eval_episodes < 1:
        raise ConfigError(f"method.eval_episodes must be >= 1, got {spec.eval_episodes}")
    member_stop(cfg, spec)
    return spec


def member_stop(cfg: ExperimentConfig, spec: MEPSpec) -> StopConfig:
    """One member's stop limits: exactly those ``member_stop`` names, or the config's own stop when empty."""
    block = spec.member_stop
    if not block:
        return cfg.stop
    unknown = [k for k in block if k not in ("iterations", "env_steps", "time_s")]
    if unknown:
        raise ConfigError(f"unknown key 'method.member_stop.{unknown[0]}'; allowed: iterations, env_steps, time_s")
    stop = _build(StopConfig, {"iterations": None, "env_steps": None, "time_s": None, **block}, "method.member_stop")
    if all(v is None for v in (stop.iterations, stop.env_steps, stop.time_s)):
        raise ConfigError("method.member_stop: set at least one of iterations, env_steps, time_s")
    return stop


def _scale_points(points: list, n: int) -> list:
    return [[int(step) * n, value] for step, value in points]


def population_config(cfg: ExperimentConfig, spec: MEPSpec) -> ExperimentConfig:
    """Stage 1: the members as one ``mappo_population_entropy`` run, every per-member figure times N."""
    n = spec.population
    data = _base(cfg)
    data["algorithm"] = POPULATION_ALGORITHM
    defaults = cfg.family().option_defaults()
    training = dict(cfg.training)
    for key in SCALED_OPTIONS:
        training[key] = int(training.get(key, defaults[key])) * n
    for key in SCHEDULED_OPTIONS:
        if isinstance(training.get(key), list):
            training[key] = _scale_points(training[key], n)
    training.update(members=n, population_entropy_coeff=float(spec.entropy_coeff))
    data["training"] = training
    stop = member_stop(cfg, spec)
    data["stop"] = {
        "iterations": stop.iterations,
        "env_steps": None if stop.env_steps is None else stop.env_steps * n,
        "time_s": stop.time_s,
    }
    data["reward_schedule"] = {k: _scale_points(v, n) for k, v in cfg.reward_schedule.items()}
    data["population"] = {}
    return load_config(data)


def agent_config(cfg: ExperimentConfig, spec: MEPSpec, member_dirs: list[Path]) -> ExperimentConfig:
    """Stage 2: the base config with the members frozen in seat agent_1, drawn by MEP's rank rule."""
    data = adaptive_config(cfg, member_dirs, spec.self_play).to_dict()
    data["partners"]["priority"] = float(spec.priority)
    return load_config(data)


def check_population_base(cfg: ExperimentConfig) -> None:
    check_base(cfg, "mep")
    if cfg.algorithm != "mappo":
        raise ConfigError(
            f"method mep trains MAPPO members and a MAPPO agent; set algorithm: mappo (got {cfg.algorithm!r})"
        )
    if cfg.init_from is not None:
        raise ConfigError("method mep trains its members and agent from scratch; drop init_from")
    if cfg.diversity:
        raise ConfigError("method mep adds its own population-entropy reward; drop the diversity block")
    options = {**cfg.family().option_defaults(), **cfg.training}
    if options["policy_mapping"] != "shared" or options["use_gru"]:
        raise ConfigError(
            "method mep needs policy_mapping 'shared' (one policy per member plays every seat) and "
            f"feed-forward members (use_gru: false); got policy_mapping {options['policy_mapping']!r}, "
            f"use_gru {options['use_gru']!r}"
        )


def validate(cfg: ExperimentConfig) -> None:
    spec = parse_spec(cfg)
    check_population_base(cfg)
    population_config(cfg, spec)


# ---------------------------------------------------------------------------------------
# members: one joint run -> one single-policy run dir per member
# ---------------------------------------------------------------------------------------
def export_members(root: Path, cfg: ExperimentConfig, spec: MEPSpec) -> list[Path]:
    """Write ``members/member_XX/`` for every member: a run dir (``config.yaml``, ``metrics.jsonl``,
    ``checkpoints/iter_*``) whose one policy ``shared`` plays every seat, for each checkpoint the joint run
    kept. What ``load_policy``, ``partners.from`` and ``load_population`` read; no RLlib state (not resumable)."""
    training = RunDir(root / TRAINING_DIR)
    checkpoints = training.checkpoint_dirs()
    if not checkpoints:
        raise ConfigError(f"{training.path} holds no checkpoint to export members from")
    rows = training.read_metrics()
    probe = envs.make(cfg.env, **dict(cfg.env_config))
    agents = list(probe.possible_agents)
    probe.close()
    out = []
    for mid in member_ids(spec.population):
        run = RunDir(root / MEMBERS_DIR / mid)
        run.path.mkdir(parents=True, exist_ok=True)
        member_cfg = _base(cfg)
        member_cfg.update(name=f"{cfg.name}-{mid}", population={}, partners={}, stop=_stop_dict(member_stop(cfg, spec)))
        atomic_write_text(run.config_path, load_config(member_cfg).to_yaml())
        run.write_metrics([_member_row(r, mid, spec.population) for r in rows])
        for ckpt in checkpoints:
            _export_checkpoint(ckpt, run, mid, spec.population, agents)
        out.append(run.path)
    return out


def _member_row(row: dict[str, Any], mid: str, n: int) -> dict[str, Any]:
    """A member's share of a joint metrics row: its own return and learner stats, a 1/N share of the steps."""
    out = {
        "iteration": row.get("iteration"),
        "env_steps": int(row.get("env_steps", 0)) // n,
        "time_s": row.get("time_s"),
    }
    if f"module_episode_returns_mean/{mid}" in row:
        out[EPISODE_RETURN_MEAN] = row[f"module_episode_returns_mean/{mid}"]
    prefix = f"learner/{mid}/"
    out.update({"learner/shared/" + k[len(prefix) :]: v for k, v in row.items() if k.startswith(prefix)})
    return {k: v for k, v in out.items() if v is not None}


def _export_checkpoint(ckpt: Path, run: RunDir, mid: str, n: int, agents: list[str]) -> None:
    final = run.checkpoints / ckpt.name
    if (final / META_FILE).is_file():
        return  # exported before (resume)
    meta = read_policies_meta(ckpt)
    desc = {k: v for k, v in meta["policies"][mid].items() if k not in ("weights", "sha256")}
    tmp = run.checkpoints / f".tmp-{ckpt.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    write_safe_checkpoint(
        tmp,
        "mappo",
        {"shared": read_weights(meta, mid)},
        {"shared": desc},
        agents={a: "shared" for a in agents},
        policy_mapping="shared",
        critic_input=meta.get("critic_input"),
    )
    joint = read_checkpoint_meta(ckpt)
    atomic_write_json(
        tmp / META_FILE,
        {**joint, "env_steps": int(joint.get("env_steps", 0)) // n, "algorithm": "mappo", "member_of": str(ckpt)},
    )
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)


# ---------------------------------------------------------------------------------------
# the pipeline
# ---------------------------------------------------------------------------------------
def run(cfg: ExperimentConfig, run_dir: str | os.PathLike, *, resume: bool = False, quiet: bool = False) -> TrainResult:
    """Members (joint run + export), the agent against them, results; with ``resume`` what is done is kept."""
    spec = parse_spec(cfg)
    check_population_base(cfg)
    root = open_method_dir(cfg, run_dir)

    def stage(name: str) -> None:
        atomic_write_json(root / RESULT_FILE, {"method": "mep", "stage": name, BEST_KEY: None})

    stage("members")
    pcfg = population_config(cfg, spec)
    if not (resume and reached_stop(pcfg, root / TRAINING_DIR)):
        run_single(pcfg, root / TRAINING_DIR, resume=resume, quiet=quiet)
    members = export_members(root, cfg, spec)
    rows = RunDir(root / TRAINING_DIR).read_metrics()
    final = rows[-1] if rows else {}
    evals = Evaluator(root, cfg, spec, quiet).evaluate(MEMBERS_DIR, members)
    entries = [
        {
            "index": i,
            "name": member_id(i),
            "run_dir": Path(MEMBERS_DIR, member_id(i)).as_posix(),
            "seed": pcfg.seed,
            "status": "finished",
            "self_play_return": evals[i]["return"],
            "training_return": final.get(f"module_episode_returns_mean/{member_id(i)}"),
            "final_metrics": {
                k: v for k, v in _member_row(final, member_id(i), spec.population).items() if "/" not in k
            },
        }
        for i in range(spec.population)
    ]
    atomic_write_json(root / RANKED_FILE, entries)

    stage("agent")
    agent = run_single(agent_config(cfg, spec, members), root / AGENT_DIR, resume=resume, quiet=quiet)

    result = {
        "method": "mep",
        "stage": "done",
        "env": cfg.env,
        "env_config": cfg.env_config,
        "seed": cfg.seed,
        "population": spec.population,
        "entropy_coeff": spec.entropy_coeff,
        "priority": spec.priority,
        "self_play": spec.self_play,
        "members": entries,
        "members_pairwise_tv": final.get(DIVERSITY_KEY),
        "members_population_entropy": final.get(ENTROPY_KEY),
        "agent_final": agent.final,
        BEST_KEY: AGENT_DIR,
    }
    atomic_write_text(root / REPORT_FILE, report_markdown(cfg.name, result))
    atomic_write_json(root / RESULT_FILE, result)
    return TrainResult(run_dir=root, config=cfg, metrics=rows, members=members, checkpoint=agent.checkpoint)


def report_markdown(name: str, result: dict[str, Any]) -> str:
    final = result.get("agent_final") or {}

    def num(x: Any, fmt: str = ".3f") -> str:
        return "n/a" if x is None else format(float(x), fmt)

    lines = [
        f"# MEP report: {name}",
        "",
        f"env `{result['env']}` {result['env_config']}, seed {result['seed']}; {result['population']} members "
        f"trained with population-entropy weight {result['entropy_coeff']:g}, then an agent (`{AGENT_DIR}/`) "
        f"against them with rank-priority exponent {result['priority']:g} and self-play share {result['self_play']:g}.",
        "",
        f"Members on the states of their last training batch: mean pairwise total-variation distance of their "
        f"action distributions {num(result['members_pairwise_tv'])}, entropy of their mean policy "
        f"{num(result['members_population_entropy'])} nats. The agent ends with training sparse return "
        f"{num(final.get('episode/sparse_return'), '.1f')}.",
        "",
        "| member | self-play return (evaluation) | training return (last iteration, without the bonus) |",
        "|---|---|---|",
    ]
    lines += [
        f"| {m['name']} | {num(m['self_play_return'], '.2f')} | {num(m['training_return'], '.2f')} |"
        for m in result["members"]
    ]
    return "\n".join(lines + [""])
