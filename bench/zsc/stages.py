"""The stages of one layout, in order: what each trains (configs), where, and what it hands on.

Every MAPPO run starts from the layout's example config (``examples/overcooked/mappo_<layout>.yaml``;
counter_circuit: the random-start old-dynamics recipe, its shaped-reward anneal written as
``shaping_factor``) in the 2019 dynamics the humans played, with ``critic_input: joint_obs`` and the
scale's budgets. Populations train two members at once (one per core, synchronous sampling). Nothing is warm-started:
every run trains from scratch. Schedules are compressed to end by 75% of a shorter run.

Stage outputs other stages read (the selected partners, the BC runs) are kept in the layout's
``state.json``; a stage whose jobs are all done is skipped, an interrupted job resumes.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bench.harness import REPO_ROOT
from bench.zsc import partners as ep
from bench.zsc.jobs import LayoutState, run_job
from bench.zsc.scale import Scale
from diverse_marl.algorithms.methods import METHODS, hsp
from diverse_marl.config import load_config
from diverse_marl.errors import ConfigError
from diverse_marl.population_train import member_dir_name

EXAMPLES = REPO_ROOT / "examples" / "overcooked"
KEEP_ALL_CHECKPOINTS = 1_000_000
HSP_SEED = 300_000  # HSP's partner population (its own seeds, shared by the agent seeds)
POOL_SEED_BASE = 1_000  # FCP's pool-only SP seeds
# joint_obs: equal learning at 1.4x the steps/s (bench/results/mappo_critic_input/mappo_critic_input.json).
# Not async_sampling: on cramped_room (seed 0) it learned far slower per env step
# (sparse 42 at 717k vs 200 at 691k synchronous)
FAST_TRAINING = {"critic_input": "joint_obs", "async_sampling": False}
HSP_SELF_PLAY = 0.2  # HSP: share of the adaptive agent's episodes in self-play (as hsp_overcooked)
MEP_EXTRA: dict[str, Any] = {}  # entropy_coeff, priority: wt-mep's defaults (the paper's) unless set here
SCHEDULE_END = 0.75  # schedules end by this share of a run shorter than the example's anneal


class StageSkipped(Exception):
    """A stage that cannot run here (no human data, method not installed); the reason goes to the results."""


@dataclass
class LayoutContext:
    layout: str
    scale: Scale
    seeds: list[int]
    work: Path  # runs/zsc/<layout>
    state: LayoutState
    data_dir: Path
    quiet: bool
    stage: str = ""  # the stage running now (its jobs are booked to it)

    def job(self, name: str, config: dict[str, Any]) -> Path:
        return run_job(self.state, self.stage, name, self.work / name, config, self.quiet)


# ---------------------------------------------------------------------------------------
# configs
# ---------------------------------------------------------------------------------------
def example_path(layout: str) -> Path:
    if layout == "counter_circuit":
        return EXAMPLES / "mappo_counter_circuit_old_dynamics_random_start.yaml"
    return EXAMPLES / f"mappo_{layout}.yaml"


def base_config(ctx: LayoutContext, name: str, seed: int, steps: int) -> dict[str, Any]:
    """A from-scratch MAPPO self-play config of ``steps`` env steps on the layout at this scale."""
    s = ctx.scale
    data = yaml.safe_load(example_path(ctx.layout).read_text(encoding="utf-8"))
    env_config = {"layout": ctx.layout, "horizon": s.horizon, "old_dynamics": True, "shaping_factor": 1.0}
    schedule = {
        ("shaping_factor" if key == "reward_weights.shaped" else key): points
        for key, points in (data.get("reward_schedule") or {}).items()
    }
    last = max(p[0] for points in schedule.values() for p in points)
    shrink = min(1.0, SCHEDULE_END * steps / last)
    schedule = {k: [[int(x * shrink), v] for x, v in points] for k, points in schedule.items()}
    training = {**data["training"], **FAST_TRAINING}
    if s.name != "faithful":
        training.update(
            num_envs_per_env_runner=s.num_envs,
            train_batch_size=s.train_batch_size,
            hidden_sizes=list(s.hidden_sizes),
            num_epochs=s.num_epochs,
            num_minibatches=1,
        )
    return {
        "name": f"zsc-{ctx.layout}-{name}",
        "algorithm": "mappo",
        "env": "overcooked",
        "env_config": env_config,
        "reward_schedule": schedule,
        "seed": int(seed),
        "stop": {"env_steps": int(steps)},
        "checkpoint_every": 10 if s.name == "faithful" else 1,
        "keep_checkpoints": KEEP_ALL_CHECKPOINTS,
        "training": training,
        "ray": {"num_cpus": 2},
    }


def with_partners(cfg: dict[str, Any], sources: list[str], self_play: float = 0.0) -> dict[str, Any]:
    out = copy.deepcopy(cfg)
    out["partners"] = {"from": list(sources), "seats": [ep.PARTNER_SEAT], "self_play": self_play}
    return out


def biased_population(ctx: LayoutContext, name: str, weights: list[dict], seed: int, steps: int) -> dict[str, Any]:
    """HSP's stage-1 config builder (imported): one member per weight vector, seeds ``seed + i``."""
    base = load_config(base_config(ctx, name, seed, steps))
    return hsp.partners_config(base, weights, base.stop).to_dict()


def agent_dir(ctx: LayoutContext, method: str, seed: int) -> Path:
    return ctx.work / f"{method}_seed{seed}"


# ---------------------------------------------------------------------------------------
# stages
# ---------------------------------------------------------------------------------------
def stage_eval_partners(ctx: LayoutContext) -> None:
    s = ctx.scale
    weights = ep.evaluation_weights(s.eval_partners, ep.EVAL_SEED_BASE)
    ctx.state.set_output("eval_weights", weights)
    ctx.job("eval_partners", biased_population(ctx, "eval-partners", weights, ep.EVAL_SEED_BASE, s.eval_partner_steps))


def stage_eval_selection(ctx: LayoutContext) -> None:
    """Fixed before any agent is evaluated: the kept partners depend only on their own self-play."""
    if ctx.state.output("eval_selected"):
        return
    dirs = member_dirs(ctx.work / "eval_partners", ctx.scale.eval_partners)
    desc, returns = ep.self_play_descriptors(dirs, ctx.scale.episodes, seed=ep.EVAL_SEED_BASE)
    picks = ep.select_partners(desc, returns, ctx.scale.eval_partners_kept, seed=ep.EVAL_SEED_BASE)
    ctx.state.set_output("eval_descriptors", {"descriptors": desc.tolist(), "self_play_return": returns})
    ctx.state.set_output("eval_selected", {f"biased{i:02d}": str(dirs[i]) for i in picks})


def bc_config(ctx: LayoutContext, name: str, half: str) -> dict[str, Any]:
    """wt-bcproxy's contract: ``algorithm: bc`` with ``training.half`` "bc" (BCP's partner) or "proxy" (H_proxy)."""
    return {
        "name": f"zsc-{ctx.layout}-{name}",
        "algorithm": "bc",
        "env": "overcooked",
        "seed": 0,
        "env_config": {"layout": ctx.layout, "old_dynamics": True, "horizon": ctx.scale.horizon},
        "stop": {"iterations": ctx.scale.bc_epochs},
        "checkpoint_every": 10,
        "training": {"data_dir": str(ctx.data_dir.resolve()), "half": half},
    }


def stage_bc(ctx: LayoutContext) -> None:
    if not any(ctx.data_dir.glob(f"{ctx.layout}_*")):
        raise StageSkipped(f"no human data for {ctx.layout} in {ctx.data_dir} (make human-data)")
    try:
        for name, half in (("bc", "bc"), ("h_proxy", "proxy")):
            ctx.job(name, bc_config(ctx, name, half))
    except ConfigError as exc:
        raise StageSkipped(f"BC with training.half not available ({exc})") from None
    ctx.state.set_output("bc_dir", str(ctx.work / "bc"))
    ctx.state.set_output("h_proxy_dir", str(ctx.work / "h_proxy"))


def evaluation_partners(ctx: LayoutContext) -> dict[str, dict[str, Any]]:
    return ep.evaluation_partners(ctx.state.output("eval_selected") or {}, ctx.state.output("h_proxy_dir"))


def stage_br(ctx: LayoutContext) -> None:
    targets = ep.br_targets(evaluation_partners(ctx))
    for k, (job, target) in enumerate(sorted(targets.items())):
        cfg = with_partners(base_config(ctx, job, ep.BR_SEED_BASE + k, ctx.scale.br_steps), target["sources"])
        if target["lossless"]:
            cfg["env_config"]["obs"] = "lossless"
        ctx.job(job, cfg)


def sp_pool_dirs(ctx: LayoutContext) -> list[Path]:
    pool_only = max(0, ctx.scale.sp_pool_seeds - len(ctx.seeds))
    return [agent_dir(ctx, "sp", s) for s in ctx.seeds] + [
        ctx.work / f"sp_pool_seed{POOL_SEED_BASE + j}" for j in range(pool_only)
    ]


def stage_sp(ctx: LayoutContext) -> None:
    s = ctx.scale
    for seed in ctx.seeds:
        ctx.job(agent_dir(ctx, "sp", seed).name, base_config(ctx, f"sp-{seed}", seed, s.agent_steps))
    for d in sp_pool_dirs(ctx)[len(ctx.seeds) :]:
        seed = int(d.name.rsplit("seed", 1)[1])
        ctx.job(d.name, base_config(ctx, f"sp-pool-{seed}", seed, s.sp_pool_steps))


def stage_fcp(ctx: LayoutContext) -> None:
    pool = [str(d.resolve()) for d in sp_pool_dirs(ctx)]
    for seed in ctx.seeds:
        cfg = base_config(ctx, f"fcp-{seed}", seed, ctx.scale.agent_steps)
        cfg["method"] = {"name": "fcp", "seeds_from": pool, "checkpoints": [0.0, 0.5, 1.0], "self_play": 0.0}
        ctx.job(agent_dir(ctx, "fcp", seed).name, cfg)


def stage_hsp_partners(ctx: LayoutContext) -> None:
    s = ctx.scale
    weights = hsp.sample_event_weights(s.hsp_partners, hsp.HSP_EVENTS, [-10.0, 0.0, 10.0], HSP_SEED)
    ctx.state.set_output("hsp_weights", weights)
    ctx.job("hsp_partners", biased_population(ctx, "hsp-partners", weights, HSP_SEED, s.hsp_partner_steps))


def stage_hsp_selection(ctx: LayoutContext) -> None:
    if ctx.state.output("hsp_selected"):
        return
    dirs = member_dirs(ctx.work / "hsp_partners", ctx.scale.hsp_partners)
    desc, returns = ep.self_play_descriptors(dirs, ctx.scale.episodes, seed=HSP_SEED)
    picks = ep.select_partners(desc, returns, ctx.scale.hsp_keep, seed=HSP_SEED)
    ctx.state.set_output("hsp_descriptors", {"descriptors": desc.tolist(), "self_play_return": returns})
    ctx.state.set_output("hsp_selected", [str(dirs[i]) for i in picks])


def stage_hsp(ctx: LayoutContext) -> None:
    partners = ctx.state.output("hsp_selected")
    for seed in ctx.seeds:
        base = load_config(base_config(ctx, f"hsp-{seed}", seed, ctx.scale.hsp_agent_steps))
        ctx.job(agent_dir(ctx, "hsp", seed).name, hsp.adaptive_config(base, partners, HSP_SELF_PLAY).to_dict())


def mep_method(ctx: LayoutContext) -> dict[str, Any]:
    """wt-mep's contract: ``method: {name: mep, population, entropy_coeff, member_stop, priority, self_play}``."""
    return {
        "name": "mep",
        "population": ctx.scale.mep_population,
        "member_stop": {"env_steps": ctx.scale.mep_member_steps},
        **MEP_EXTRA,
    }


def stage_mep(ctx: LayoutContext) -> None:
    if "mep" not in METHODS:
        raise StageSkipped("method mep is not installed in this checkout (wt-mep)")
    for seed in ctx.seeds:
        cfg = base_config(ctx, f"mep-{seed}", seed, ctx.scale.agent_steps)
        cfg["method"] = mep_method(ctx)
        ctx.job(agent_dir(ctx, "mep", seed).name, cfg)


def stage_bcp(ctx: LayoutContext) -> None:
    bc_dir = ctx.state.output("bc_dir")
    if not bc_dir:
        raise StageSkipped("no BC partner (stage bc skipped)")
    for seed in ctx.seeds:
        cfg = with_partners(base_config(ctx, f"bcp-{seed}", seed, ctx.scale.agent_steps), [bc_dir])
        ctx.job(agent_dir(ctx, "bcp", seed).name, cfg)


def member_dirs(population: Path, n: int) -> list[Path]:
    return [population / member_dir_name(i) for i in range(n)]


# the agents under test: method -> stage that trains them
METHOD_STAGES = {"SP": "sp", "FCP": "fcp", "HSP": "hsp", "MEP": "mep", "BCP": "bcp"}

STAGES: dict[str, Callable[[LayoutContext], None]] = {
    "eval_partners": stage_eval_partners,
    "eval_selection": stage_eval_selection,
    "bc": stage_bc,
    "br": stage_br,
    "sp": stage_sp,
    "fcp": stage_fcp,
    "hsp_partners": stage_hsp_partners,
    "hsp_selection": stage_hsp_selection,
    "hsp": stage_hsp,
    "mep": stage_mep,
    "bcp": stage_bcp,
}


def run_stage(ctx: LayoutContext, name: str) -> dict[str, Any]:
    """Run one stage; returns its status entry (done / skipped with the reason) with this call's wall time."""
    t0 = time.time()
    ctx.stage = name
    try:
        STAGES[name](ctx)
        status = {"status": "done"}
    except StageSkipped as exc:
        status = {"status": "skipped", "reason": str(exc)}
    wall = time.time() - t0
    ctx.state.add_stage_wall(name, wall)
    ctx.state.data.setdefault("stage_status", {})[name] = status
    ctx.state.save()
    return status
