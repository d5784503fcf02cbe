"""Evaluation partners independent of every method under test (issue 24, item 2).

- **Biased partners**, trained from scratch with their own seeds (``EVAL_SEED_BASE`` + i: no agent
  under test uses seeds that high, and nothing is warm-started), each on ``sparse + w . events`` over
  HSP's events with weights from ``EVAL_WEIGHT_VALUES`` = {-5, 0, 3, 15}. HSP's sampler draws from
  {-10, 0, 10}; a vector here always has a weight HSP never uses, and vectors whose non-zero weights all
  share one magnitude are redrawn (they could be a positive multiple of an HSP vector, i.e. the same
  preference). More are trained than kept: the kept ones are picked by HSP's own greedy max-min
  selection (imported, not rewritten) on their self-play event counts, before any agent is evaluated.
  Each plays at its middle and its final checkpoint.
- **Scripted roles** (``envs/overcooked/roles.py``): potter, server, all-rounder.
- **H_proxy**: the behaviour clone trained on the half of the human data BC never saw.

A best-response agent (``BR``) is trained from scratch against each partner (both checkpoints of a
biased partner; a role in an env with lossless observations, which roles read): ``R_BR`` is its
return with that partner, the denominator of the best-response-normalized score.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from diverse_marl.algorithms.methods import fcp, hsp
from diverse_marl.evaluation import evaluate_run
from diverse_marl.metrics import SPARSE_RETURN_MEAN

EVAL_WEIGHT_VALUES: tuple[float, ...] = (-5.0, 0.0, 3.0, 15.0)
EVAL_SEED_BASE = 100_000  # evaluation partners: seeds 100000 + i
BR_SEED_BASE = 200_000  # best responses: 200000 + k
CHECKPOINT_FRACTIONS = {"mid": 0.5, "final": 1.0}
ROLE_FACTORY = "diverse_marl.envs.overcooked.roles:{role}"
PARTNER_SEAT = "agent_1"
MAX_DRAWS = 100_000

KIND_BIASED, KIND_SCRIPTED, KIND_PROXY = "biased", "scripted", "h_proxy"


def evaluation_weights(n: int, seed: int, events: Sequence[str] = hsp.HSP_EVENTS) -> list[dict[str, float]]:
    """``n`` distinct event-weight vectors (+ ``sparse: 1``) over ``events`` from ``EVAL_WEIGHT_VALUES``,
    none all-zero, none a positive multiple of a {-10, 0, 10} vector (seeded)."""
    rng = np.random.default_rng(seed)
    out: list[dict[str, float]] = []
    seen: set[tuple[float, ...]] = set()
    for _ in range(MAX_DRAWS):
        if len(out) == n:
            return out
        draw = tuple(float(EVAL_WEIGHT_VALUES[k]) for k in rng.integers(len(EVAL_WEIGHT_VALUES), size=len(events)))
        if not shares_no_hsp_direction(draw) or draw in seen:
            continue
        seen.add(draw)
        out.append({**dict(zip(events, draw)), hsp.SPARSE_FEATURE: 1.0})
    raise ValueError(f"cannot draw {n} distinct evaluation weight vectors over {len(events)} events")


def shares_no_hsp_direction(event_weights: Sequence[float]) -> bool:
    """Whether no positive multiple of these event weights has all entries in {-10, 0, 10}: true when
    some weight is non-zero and the non-zero weights do not all have the same magnitude."""
    mags = {abs(w) for w in event_weights if w}
    return len(mags) > 1


def self_play_descriptors(run_dirs: Sequence[Path], episodes: int, seed: int) -> tuple[np.ndarray, list[float]]:
    """Each partner with a copy of itself on the game's reward: HSP's event-count descriptor and sparse return."""
    reports = [evaluate_run(d, episodes, deterministic=False, seed=seed, quiet=True) for d in run_dirs]
    desc = hsp.descriptors([r["stats_mean"] for r in reports], hsp.HSP_EVENTS)
    returns = [float(r.get(SPARSE_RETURN_MEAN, r["return_mean"])) for r in reports]
    return desc, returns


def select_partners(desc: np.ndarray, returns: Sequence[float], keep: int, seed: int) -> list[int]:
    """HSP's greedy max-min selection; partners that never deliver are left out when some do."""
    delivers = [r > 0 for r in returns]
    eligible = delivers if sum(delivers) >= keep else [True] * len(returns)
    return hsp.greedy_select(desc, keep, seed, eligible)


def partner_checkpoints(run_dir: Path) -> dict[str, Path]:
    """``{"mid": ..., "final": ...}``: the checkpoints nearest the middle and the end of the run."""
    picked = fcp.pool_checkpoints(run_dir, list(CHECKPOINT_FRACTIONS.values()))
    if len(picked) == 1:  # a run with a single checkpoint: both names point at it
        picked = picked * 2
    return dict(zip(CHECKPOINT_FRACTIONS, picked))


def evaluation_partners(selected: dict[str, str], proxy_dir: str | None) -> dict[str, dict[str, Any]]:
    """name -> {kind, source, br}: every evaluation partner and the BR job that answers it.

    ``selected``: biased partner name -> its run dir (kept ones); ``proxy_dir``: H_proxy's run (or None)."""
    out: dict[str, dict[str, Any]] = {}
    for name, run_dir in selected.items():
        for ckpt_name, ckpt in partner_checkpoints(Path(run_dir)).items():
            out[f"{name}@{ckpt_name}"] = {"kind": KIND_BIASED, "source": str(ckpt), "br": f"br_{name}"}
    for role in ("potter", "server", "all_rounder"):
        out[role] = {"kind": KIND_SCRIPTED, "source": ROLE_FACTORY.format(role=role), "br": f"br_{role}"}
    if proxy_dir is not None:
        out["h_proxy"] = {"kind": KIND_PROXY, "source": str(proxy_dir), "br": "br_h_proxy"}
    return out


def br_targets(partners: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """BR job name -> {sources: the partner pool it trains against, lossless: whether the env must
    observe the lossless grid (scripted roles read it)}."""
    jobs: dict[str, dict[str, Any]] = {}
    for p in partners.values():
        job = jobs.setdefault(p["br"], {"sources": [], "lossless": p["kind"] == KIND_SCRIPTED})
        job["sources"].append(p["source"])
    return jobs
