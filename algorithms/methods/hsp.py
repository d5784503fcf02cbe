"""HSP, hidden-utility self-play (Yu et al., ICLR 2023), as a pipeline of ordinary runs.

Agents trained by self-play pair badly with people, whose play follows hidden preferences. HSP
models those preferences as random weights over Overcooked *events*, trains a population of
partners biased that way, keeps a diverse subset, and trains one adaptive agent against them.

    method:
      name: hsp
      partners: 8                     # N stage-1 biased partners
      events: [onion_pickup_dispenser, ...]   # default: HSP_EVENTS (below)
      weight_values: [-10, 0, 10]     # each event's weight is drawn from these
      sparse_weight: 1.0              # every partner also gets the team's sparse (delivery) reward
      keep: 4                         # K partners kept by greedy max-min selection
      drop_non_delivering: true       # partners whose self-play never delivers are not kept
      partner_stop: {env_steps: 200000}   # stage-1 stop ({}: the config's stop)
      self_play: 0.2                  # stage 3: share of episodes the agent plays with itself
      eval_episodes: 10               # stage 2 self-play episodes per partner
      eval_deterministic: null

Stages, each resumable (``diverse-marl train --resume HSP_DIR`` continues where it stopped)::

    HSP_DIR/partners/          1. a population of N partners, partner i with env_config.reward_weights =
                                  {event: w drawn from weight_values, sparse: sparse_weight} (no shaping)
    HSP_DIR/evaluation.json    2. every partner with a self-play copy of itself on the game's reward;
                                  its descriptor is its mean episode event counts (both seats summed)
    HSP_DIR/selection.json        greedy max-min selection of K partners on standardized descriptors
    HSP_DIR/adaptive/          3. one MAPPO run on the config's own reward (sparse + shaping, annealed
                                  by its reward_schedule) with the K partners frozen in seat agent_1,
                                  one drawn per episode, and self-play in ``self_play`` of the episodes
    HSP_DIR/hsp.json, report.md   weights, descriptors, selection, scores; ``best_run_dir`` = adaptive/
    HSP_DIR/population.json       the partners, for ``load_population``

The base config's ``init_from`` (if any) warm-starts both the partners and the adaptive agent,
which is how small budgets stay affordable (state it when you report results).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from diverse_marl.algorithms.methods import BEST_KEY
from diverse_marl.algorithms.methods.rpg import Evaluator, _base
from diverse_marl.config import ExperimentConfig, StopConfig, _build, load_config
from diverse_marl.envs import reward_feature_names
from diverse_marl.envs.reward import WEIGHTS_OPTION, check_reward_weights
from diverse_marl.errors import ConfigError
from diverse_marl.population_train import member_dir_name, train_stage
from diverse_marl.run_dir import RunDir, atomic_write_json, atomic_write_text
from diverse_marl.training import TrainResult, run_single

__all__ = [
    "HSP_EVENTS",
    "HSPSpec",
    "parse_spec",
    "sample_event_weights",
    "descriptors",
    "greedy_select",
    "partners_config",
    "adaptive_config",
    "validate",
    "run",
]

# HSP's event set (Yu et al. 2023, Overcooked events) in our event names (envs/overcooked/events.py)
HSP_EVENTS: tuple[str, ...] = (
    "onion_pickup_dispenser",
    "onion_pickup_counter",
    "dish_pickup_dispenser",
    "dish_pickup_counter",
    "onion_place_counter",
    "dish_place_counter",
    "useful_dish_pickup",
    "soup_pickup_pot",
    "potting_onion",
    "soup_delivery",
    "stay",
)
SPARSE_FEATURE = "sparse"
DELIVERY_EVENT = "soup_delivery"
RESULT_FILE, REPORT_FILE, SELECTION_FILE, RANKED_FILE = "hsp.json", "report.md", "selection.json", "population.json"
PARTNERS_DIR, ADAPTIVE_DIR = "partners", "adaptive"
PARTNER_SEAT = "agent_1"  # frozen partners sit here; the adaptive agent plays agent_0 (and both in self-play)
MAX_DRAWS = 10_000  # weight-vector draws before giving up on finding N distinct unused vectors


@dataclass
class HSPSpec:
    """The ``method:`` block of an HSP config (module docstring)."""

    name: str = "hsp"
    partners: int = 8
    events: list = field(default_factory=lambda: list(HSP_EVENTS))
    weight_values: list = field(default_factory=lambda: [-10.0, 0.0, 10.0])
    sparse_weight: float = 1.0
    keep: int = 4
    drop_non_delivering: bool = True
    partner_stop: dict = field(default_factory=dict)
    self_play: float = 0.2
    eval_episodes: int | None = None
    eval_deterministic: bool | None = None


def parse_spec(cfg: ExperimentConfig) -> HSPSpec:
    spec = _build(HSPSpec, cfg.method, "method")
    if spec.partners < 1:
        raise ConfigError(f"method.partners must be >= 1, got {spec.partners}")
    if not 1 <= spec.keep <= spec.partners:
        raise ConfigError(f"method.keep must be between 1 and method.partners ({spec.partners}), got {spec.keep}")
    if not spec.events or not spec.weight_values:
        raise ConfigError("method.events and method.weight_values must be non-empty lists")
    if not 0.0 <= spec.self_play < 1.0:
        raise ConfigError(f"method.self_play must be in [0, 1), got {spec.self_play}")
    if spec.eval_episodes is not None and spec.eval_episodes < 1:
        raise ConfigError(f"method.eval_episodes must be >= 1, got {spec.eval_episodes}")
    stage_stop(cfg, spec.partner_stop, "method.partner_stop")
    return spec


def stage_stop(cfg: ExperimentConfig, block: dict, where: str) -> StopConfig:
    """A stage's stop limits: exactly those ``block`` names, or the config's own stop when empty."""
    if not block:
        return cfg.stop
    stop = _build(StopConfig, {"iterations": None, "env_steps": None, "time_s": None, **block}, where)
    if all(v is None for v in (stop.iterations, stop.env_steps, stop.time_s)):
        raise ConfigError(f"{where}: set at least one of iterations, env_steps, time_s")
    return stop


def _stop_dict(stop: StopConfig) -> dict[str, Any]:
    return {"iterations": stop.iterations, "env_steps": stop.env_steps, "time_s": stop.time_s}


# ---------------------------------------------------------------------------------------
# stage 1: biased partners
# ---------------------------------------------------------------------------------------
def sample_event_weights(
    n: int,
    events: Sequence[str],
    values: Sequence[float],
    seed: int,
    sparse_weight: float = 1.0,
    exclude: Sequence[dict[str, float]] = (),
) -> list[dict[str, float]]:
    """``n`` distinct weight vectors, each event's weight drawn uniformly from ``values`` (seeded), plus
    ``sparse: sparse_weight``; all-zero event vectors and the vectors in ``exclude`` are redrawn
    (``exclude`` makes a held-out set of partners whose weights the first sample did not use)."""
    rng = np.random.default_rng(seed)
    seen = {_key(w, events) for w in exclude}
    out: list[dict[str, float]] = []
    for _ in range(MAX_DRAWS):
        if len(out) == n:
            break
        draw = [float(values[int(k)]) for k in rng.integers(len(values), size=len(events))]
        w = dict(zip(events, draw))
        if not any(draw) or _key(w, events) in seen:
            continue
        seen.add(_key(w, events))
        out.append({**w, SPARSE_FEATURE: float(sparse_weight)})
    if len(out) < n:
        raise ConfigError(
            f"cannot draw {n} distinct event-weight vectors over {len(events)} events from "
            f"{list(values)} (excluding {len(exclude)}); use fewer partners or more values"
        )
    return out


def _key(w: dict[str, float], events: Sequence[str]) -> tuple[float, ...]:
    return tuple(float(w.get(e, 0.0)) for e in events)


def partners_config(cfg: ExperimentConfig, weights: Sequence[dict[str, float]], stop: StopConfig) -> ExperimentConfig:
    """Stage 1: one member per weight vector, trained on ``w . features`` (no shaping schedule)."""
    data = _base(cfg)
    data["stop"] = _stop_dict(stop)
    data["reward_schedule"] = {}  # a partner's reward is its weights; shaping_factor does not enter it
    data["population"] = {
        "members": [{"env_config": {WEIGHTS_OPTION: dict(w)}} for w in weights],
        "max_concurrent": cfg.population.max_concurrent,
    }
    return load_config(data)


# ---------------------------------------------------------------------------------------
# stage 2: descriptors and greedy selection
# ---------------------------------------------------------------------------------------
def descriptors(
    stats: Sequence[dict[str, float]], events: Sequence[str], agents: Sequence[str] = ("agent_0", "agent_1")
) -> np.ndarray:
    """(n, len(events)) mean episode counts of each event, summed over the seats (``<agent>/<event>`` stats)."""
    return np.array([[sum(float(s.get(f"{a}/{e}", 0.0)) for a in agents) for e in events] for s in stats])


def greedy_select(desc: np.ndarray, k: int, seed: int, eligible: Sequence[bool] | None = None) -> list[int]:
    """Greedy max-min diverse subset: a seeded random first pick among the eligible rows, then repeatedly the
    row farthest (Euclidean, on descriptors standardized per column) from everything picked. Ties go to the
    lower index; same descriptors and seed -> same picks. Returns at most ``k`` indices, in pick order."""
    desc = np.asarray(desc, dtype=np.float64)
    ok = np.ones(len(desc), dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    pool = list(np.flatnonzero(ok))
    if not pool:
        return []
    scale = desc[pool].std(axis=0)
    z = (desc - desc[pool].mean(axis=0)) / np.where(scale > 0, scale, 1.0)
    picks = [pool[int(np.random.default_rng(seed).integers(len(pool)))]]
    while len(picks) < min(k, len(pool)):
        rest = [i for i in pool if i not in picks]
        gaps = [min(float(np.linalg.norm(z[i] - z[j])) for j in picks) for i in rest]
        picks.append(rest[int(np.argmax(gaps))])  # argmax: first of equal gaps, the lower index
    return [int(i) for i in picks]


# ---------------------------------------------------------------------------------------
# stage 3: the adaptive agent
# ---------------------------------------------------------------------------------------
def adaptive_config(
    cfg: ExperimentConfig, partner_dirs: Sequence[Path], self_play: float, stop: StopConfig | None = None
) -> ExperimentConfig:
    """One MAPPO run on the config's own reward with ``partner_dirs`` frozen in seat agent_1 (per episode)."""
    data = _base(cfg)
    if stop is not None:
        data["stop"] = _stop_dict(stop)
    data["population"] = {}
    data["partners"] = {
        "from": [str(Path(d).resolve()) for d in partner_dirs],
        "seats": [PARTNER_SEAT],
        "sample": "per_episode",
        "self_play": float(self_play),
    }
    return load_config(data)


def check_base(cfg: ExperimentConfig, method: str) -> None:
    """What HSP and FCP set themselves must not be in the base config."""
    if cfg.population.enabled:
        raise ConfigError(
            f"method {method} makes its own populations; drop population.size/members/sample "
            "(population.max_concurrent is kept)"
        )
    if cfg.partners:
        raise ConfigError(f"method {method} sets the adaptive agent's partners itself; drop the partners block")
    if WEIGHTS_OPTION in cfg.env_config:
        raise ConfigError(f"method {method} trains its agent on the env's own reward; drop env_config.{WEIGHTS_OPTION}")


# ---------------------------------------------------------------------------------------
# the pipeline
# ---------------------------------------------------------------------------------------
def validate(cfg: ExperimentConfig) -> None:
    spec = parse_spec(cfg)
    check_base(cfg, "hsp")
    features = reward_feature_names(cfg.env, cfg.env_config)
    check_reward_weights({e: 0.0 for e in [*spec.events, SPARSE_FEATURE]}, features, cfg.env, where="method.events")
    weights = sample_event_weights(spec.partners, spec.events, spec.weight_values, cfg.seed, spec.sparse_weight)
    partners_config(cfg, weights, stage_stop(cfg, spec.partner_stop, "method.partner_stop"))


def open_method_dir(cfg: ExperimentConfig, run_dir: str | os.PathLike) -> Path:
    """The method's run dir, absolute (population members run in Tune trials, whose working dir differs),
    with its config.yaml."""
    root = Path(run_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "config.yaml", cfg.to_yaml())
    return root


def run(cfg: ExperimentConfig, run_dir: str | os.PathLike, *, resume: bool = False, quiet: bool = False) -> TrainResult:
    """Partners, evaluation + selection, adaptive agent, report; with ``resume`` what is done is kept."""
    spec = parse_spec(cfg)
    root = open_method_dir(cfg, run_dir)

    def stage(name: str) -> None:
        atomic_write_json(root / RESULT_FILE, {"method": "hsp", "stage": name, BEST_KEY: None})

    stage("partners")
    weights = sample_event_weights(spec.partners, spec.events, spec.weight_values, cfg.seed, spec.sparse_weight)
    pcfg = partners_config(cfg, weights, stage_stop(cfg, spec.partner_stop, "method.partner_stop"))
    partners = train_stage(pcfg, root, PARTNERS_DIR, "hsp", resume, quiet)

    stage("selection")
    evals = Evaluator(root, cfg, spec, quiet).evaluate(PARTNERS_DIR, partners.members)
    desc = descriptors([e["stats_mean"] for e in evals], spec.events)
    delivers = [float(e["return"]) > 0 for e in evals]
    eligible = delivers if spec.drop_non_delivering and any(delivers) else [True] * len(evals)
    selected = greedy_select(desc, spec.keep, cfg.seed, eligible)
    atomic_write_json(
        root / SELECTION_FILE,
        {
            "selected": selected,
            "eligible": eligible,
            "events": list(spec.events),
            "descriptors": desc.tolist(),
            "seed": cfg.seed,
        },
    )

    stage("adaptive")
    acfg = adaptive_config(cfg, [partners.members[i] for i in selected], spec.self_play)
    adaptive = run_single(acfg, root / ADAPTIVE_DIR, resume=resume, quiet=quiet)

    result = {
        "method": "hsp",
        "stage": "done",
        "env": cfg.env,
        "env_config": cfg.env_config,
        "seed": cfg.seed,
        "events": list(spec.events),
        "weight_values": list(spec.weight_values),
        "keep": spec.keep,
        "drop_non_delivering": spec.drop_non_delivering,
        "all_non_delivering": not any(delivers),
        "selected": selected,
        BEST_KEY: ADAPTIVE_DIR,
        "partners": [
            {
                "index": i,
                "name": member_dir_name(i),
                "run_dir": e["run_dir"],
                "seed": pcfg.seed + i,
                "weights": weights[i],
                "self_play_return": e["return"],
                "descriptor": desc[i].tolist(),
                "selected": i in selected,
            }
            for i, e in enumerate(evals)
        ],
        "adaptive_final": adaptive.final,
    }
    atomic_write_json(root / RANKED_FILE, _population_entries(root, result["partners"]))
    atomic_write_text(root / REPORT_FILE, report_markdown(cfg.name, result))
    atomic_write_json(root / RESULT_FILE, result)
    return TrainResult(
        run_dir=root, config=cfg, metrics=partners.metrics, members=partners.members, checkpoint=adaptive.checkpoint
    )


def _population_entries(root: Path, partners: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``population.json``: the partners (selected ones first), so ``load_population(HSP_DIR)`` reads them."""
    order = sorted(partners, key=lambda p: (not p["selected"], p["index"]))
    entries = []
    for rank, p in enumerate(order):
        rows = RunDir(root / p["run_dir"]).read_metrics()
        entries.append(
            {
                "index": p["index"],
                "name": p["name"],
                "run_dir": p["run_dir"],
                "seed": p["seed"],
                "rank": rank,
                "reward_weights": p["weights"],
                "status": "finished",
                "selected": p["selected"],
                "self_play_return": p["self_play_return"],
                "final_metrics": rows[-1] if rows else {},
            }
        )
    return entries


def report_markdown(name: str, result: dict[str, Any]) -> str:
    """``report.md``: one row per partner (weights that are not 0, self-play return, descriptor, kept or not)."""
    events = result["events"]
    final = result.get("adaptive_final") or {}
    lines = [
        f"# HSP report: {name}",
        "",
        f"env `{result['env']}` {result['env_config']}, seed {result['seed']}; {len(result['partners'])} biased "
        f"partners (event weights from {result['weight_values']}), {len(result['selected'])} kept by greedy "
        f"max-min selection on event-count descriptors"
        + (" (partners that never deliver dropped)" if result["drop_non_delivering"] else "")
        + ".",
        "",
    ]
    if result["all_non_delivering"]:
        lines += ["No partner delivered in self-play, so none was dropped for it.", ""]
    lines += [
        f"Adaptive agent: `{ADAPTIVE_DIR}/`, last training sparse return "
        f"{final.get('episode/sparse_return', float('nan')):.1f}.",
        "",
        "| partner | non-zero event weights | self-play sparse return | kept | " + " | ".join(events) + " |",
        "|---" * (4 + len(events)) + "|",
    ]
    for p in result["partners"]:
        w = ", ".join(f"{k}={v:g}" for k, v in p["weights"].items() if v and k != SPARSE_FEATURE)
        lines.append(
            f"| {p['name']} | {w} | {p['self_play_return']:.1f} | {'**yes**' if p['selected'] else ''} | "
            + " | ".join(f"{v:.1f}" for v in p["descriptor"])
            + " |"
        )
    lines += ["", "Descriptor columns: mean episode counts of each event in self-play (both seats).", ""]
    return "\n".join(lines)
