"""The two scales of the zero-shot-coordination bench and the plan (env steps, estimated wall time) of each stage.

``faithful`` is issue 24's reduced but paper-shaped scale, sized to fit 12 hours of training on 2 cores
for the three classic layouts; ``smoke`` runs every stage with toy budgets (the pipeline, not the science).

Why these faithful numbers (per layout; ``plan()`` prints the same arithmetic). Single runs train one at a
time at ``SINGLE_RUN_STEPS_PER_S``; population members two at once (one per core) at
``POPULATION_STEPS_PER_S``:

====================  =========================================  ==========  ==========
stage                 runs x env steps                           single      population
====================  =========================================  ==========  ==========
eval_partners         12 biased partners x 1M (10 kept)                      12M
br                    (10 kept + 3 scripted + H_proxy) x 0.75M   10.5M
sp                    3 agent seeds x 3M + 5 pool-only x 1.5M    16.5M
fcp                   3 agents x 3M (pool: the 8 SP runs x 3)    9M
hsp_partners          24 biased partners x 1M (12 kept)                      24M
hsp                   3 adaptive agents x 10M                    30M
mep                   3 x (4 members x 1M + agent 3M)            9M          12M
bcp                   3 agents x 3M (+ BC, no env steps)         9M
====================  =========================================  ==========  ==========
                                                         total   84M         48M

84M / 7.92k + 48M / 13.5k per second = 3.94 h per layout, 11.8 h for three. The HSP agent's 10M is the
issue's floor; 15 agents x 10M per layout would not fit, so the other agents get 3M: HSP's agent trains
3.3x longer than the others, a confound the results state (``CONFOUNDS``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

M = 1_000_000
TRAINING_HOURS_BUDGET = 12.0
# measured: bench/results/mappo_throughput/mappo_throughput.json, row mappo_joint_obs_vec_runner
# (synchronous, one core, quiet)
MEASURED_STEPS_PER_S = 9_780.0
PARTNER_AND_LAYOUT_DERATE = 0.81  # frozen partners' inference + larger kitchens (assumed)
PARALLEL_RUNS, PARALLEL_EFFICIENCY = 2, 0.85  # two population members at once on 2 cores (efficiency assumed)
SINGLE_RUN_STEPS_PER_S = MEASURED_STEPS_PER_S * PARTNER_AND_LAYOUT_DERATE
POPULATION_STEPS_PER_S = SINGLE_RUN_STEPS_PER_S * PARALLEL_RUNS * PARALLEL_EFFICIENCY


@dataclass(frozen=True)
class Scale:
    """Every budget of the bench; one instance per ``--scale``."""

    name: str
    horizon: int
    episodes: int  # evaluation episodes per (agent, partner, seat)
    # independent evaluation partners (item 2)
    eval_partners: int
    eval_partners_kept: int
    eval_partner_steps: int
    br_steps: int
    # methods (item 3)
    sp_pool_seeds: int  # FCP's pool: the agents' SP runs plus pool-only seeds up to this many
    sp_pool_steps: int  # env steps of a pool-only SP seed
    agent_steps: int  # SP / FCP / MEP / BCP agent under test
    hsp_partners: int
    hsp_keep: int
    hsp_partner_steps: int
    hsp_agent_steps: int
    mep_population: int
    mep_member_steps: int
    bc_epochs: int
    # trainer settings at this scale
    num_envs: int
    train_batch_size: int
    hidden_sizes: tuple[int, ...]
    num_epochs: int
    bootstrap_reps: int

    def to_dict(self) -> dict:
        return asdict(self)


FAITHFUL = Scale(
    name="faithful",
    horizon=400,
    episodes=10,
    eval_partners=12,
    eval_partners_kept=10,
    eval_partner_steps=1 * M,
    br_steps=750_000,
    sp_pool_seeds=8,
    sp_pool_steps=1_500_000,
    agent_steps=3 * M,
    hsp_partners=24,
    hsp_keep=12,
    hsp_partner_steps=1 * M,
    hsp_agent_steps=10 * M,
    mep_population=4,
    mep_member_steps=1 * M,
    bc_epochs=200,
    num_envs=32,
    train_batch_size=12_800,
    hidden_sizes=(64, 64),
    num_epochs=5,
    bootstrap_reps=2000,
)

# every stage, 2 iterations of 4 kitchens x one 100-step episode; numbers mean nothing
SMOKE = Scale(
    name="smoke",
    horizon=100,
    episodes=2,
    eval_partners=3,
    eval_partners_kept=2,
    eval_partner_steps=800,
    br_steps=800,
    sp_pool_seeds=2,
    sp_pool_steps=800,
    agent_steps=800,
    hsp_partners=3,
    hsp_keep=2,
    hsp_partner_steps=800,
    hsp_agent_steps=800,
    mep_population=2,
    mep_member_steps=800,
    bc_epochs=2,
    num_envs=4,
    train_batch_size=400,
    hidden_sizes=(16,),
    num_epochs=1,
    bootstrap_reps=200,
)

SCALES = {s.name: s for s in (FAITHFUL, SMOKE)}
SCRIPTED_ROLES = ("potter", "server", "all_rounder")
CONFOUNDS = (
    "HSP's adaptive agent trains hsp_agent_steps (the issue's 10M floor), the other agents agent_steps: "
    "at 2 cores and 12 hours both cannot be 10M for 3 seeds x 5 methods x 3 layouts; the row HSP@SP-steps is "
    "the same HSP agents at their checkpoint nearest (not past) agent_steps, the equal-budget comparison",
    "R_BR comes from a BR of br_steps env steps; where it is weak, scores cap at 1 (min(1, R / R_BR))",
)


def stage_steps(s: Scale, seeds: int) -> dict[str, tuple[str, int, int]]:
    """Per stage: (what runs, env steps of single runs, env steps of population members) for one layout."""
    pool_only = max(0, s.sp_pool_seeds - seeds)
    br_targets = s.eval_partners_kept + len(SCRIPTED_ROLES) + 1
    return {
        "eval_partners": (
            f"{s.eval_partners} biased x {s.eval_partner_steps:,}",
            0,
            s.eval_partners * s.eval_partner_steps,
        ),
        "eval_selection": ("self-play rollouts + greedy max-min selection", 0, 0),
        "bc": ("BC and H_proxy (supervised, no env steps)", 0, 0),
        "br": (f"{br_targets} best responses x {s.br_steps:,}", br_targets * s.br_steps, 0),
        "sp": (
            f"{seeds} agents x {s.agent_steps:,} + {pool_only} pool-only x {s.sp_pool_steps:,}",
            seeds * s.agent_steps + pool_only * s.sp_pool_steps,
            0,
        ),
        "fcp": (f"{seeds} agents x {s.agent_steps:,}", seeds * s.agent_steps, 0),
        "hsp_partners": (f"{s.hsp_partners} biased x {s.hsp_partner_steps:,}", 0, s.hsp_partners * s.hsp_partner_steps),
        "hsp_selection": ("self-play rollouts + greedy max-min selection", 0, 0),
        "hsp": (f"{seeds} adaptive agents x {s.hsp_agent_steps:,}", seeds * s.hsp_agent_steps, 0),
        "mep": (
            f"{seeds} x ({s.mep_population} members x {s.mep_member_steps:,} + agent {s.agent_steps:,})",
            seeds * s.agent_steps,
            seeds * s.mep_population * s.mep_member_steps,
        ),
        "bcp": (f"{seeds} agents x {s.agent_steps:,}", seeds * s.agent_steps, 0),
        "evaluation": ("agents x partners x 2 seats x episodes (inference only)", 0, 0),
    }


def plan(
    s: Scale,
    layouts: list[str],
    seeds: int,
    single_steps_per_s: float = SINGLE_RUN_STEPS_PER_S,
    population_steps_per_s: float | None = None,
) -> dict:
    """The plan recorded in the results and printed before training: env steps and estimated hours per stage."""
    pop_rate = population_steps_per_s or single_steps_per_s * PARALLEL_RUNS * PARALLEL_EFFICIENCY
    stages = {
        name: {
            "runs": what,
            "env_steps": single + pop,
            "env_steps_in_populations": pop,
            "estimated_h": (single / single_steps_per_s + pop / pop_rate) / 3600,
        }
        for name, (what, single, pop) in stage_steps(s, seeds).items()
    }
    per_layout_h = sum(v["estimated_h"] for v in stages.values())
    per_layout = sum(v["env_steps"] for v in stages.values())
    hours = per_layout_h * len(layouts)
    return {
        "scale": s.name,
        "layouts": list(layouts),
        "agent_seeds": seeds,
        "single_run_steps_per_s": single_steps_per_s,
        "population_steps_per_s": pop_rate,
        "steps_per_s_source": (
            f"{MEASURED_STEPS_PER_S:,.0f} measured quiet (mappo_throughput.json, joint_obs, synchronous, one core) "
            f"x {PARTNER_AND_LAYOUT_DERATE} (partners, larger kitchens); populations: {PARALLEL_RUNS} members at "
            f"once x {PARALLEL_EFFICIENCY} efficiency"
        ),
        "stages_per_layout": stages,
        "env_steps_per_layout": per_layout,
        "estimated_hours_per_layout": per_layout_h,
        "env_steps_total": per_layout * len(layouts),
        "estimated_hours_total": hours,
        "budget_hours": TRAINING_HOURS_BUDGET,
        "fits_budget": hours <= TRAINING_HOURS_BUDGET,
    }


def format_plan(p: dict) -> str:
    lines = [
        f"plan ({p['scale']} scale, {len(p['layouts'])} layouts x {p['agent_seeds']} agent seeds; single runs "
        f"{p['single_run_steps_per_s']:,.0f} env steps/s, populations {p['population_steps_per_s']:,.0f}: "
        f"{p['steps_per_s_source']})",
        f"{'stage':<16}{'runs':<58}{'env steps':>14}{'est. h':>8}",
    ]
    for name, v in p["stages_per_layout"].items():
        lines.append(f"{name:<16}{v['runs']:<58}{v['env_steps']:>14,}{v['estimated_h']:>8.2f}")
    lines.append(f"{'per layout':<74}{p['env_steps_per_layout']:>14,}{p['estimated_hours_per_layout']:>8.2f}")
    lines.append(
        f"{'total':<74}{p['env_steps_total']:>14,}{p['estimated_hours_total']:>8.2f}"
        f"  ({'fits' if p['fits_budget'] else 'exceeds'} the {p['budget_hours']:g} h budget)"
    )
    return "\n".join(lines)
