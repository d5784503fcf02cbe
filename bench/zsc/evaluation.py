"""Every agent under test with every evaluation partner, in both seats; best-response-normalized scores.

Per (method, training seed, partner, seat): the mean team sparse return ``R`` over ``episodes``
episodes, and ``min(1, R / R_BR)`` with ``R_BR`` the return of the partner's best-response agent
with it (the better of the BR's two seatings, so a seat the BR never trained in cannot inflate a
score). Aggregates per partner kind (biased, scripted, h_proxy, all): the interquartile mean with a
95% stratified bootstrap CI over a (training seeds) x (partners x seats) matrix per method
(Agarwal et al. 2021, ``rliable``), raw returns beside it. All episodes of a layout are played as
rows of the env's batched class, seeded: same runs, same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from diverse_marl.analysis import zsc_stats
from diverse_marl.crossplay import eval_env_config, seat_player
from diverse_marl.envs import make as make_env
from diverse_marl.metrics import SPARSE_RETURN
from diverse_marl.rollout import play_rows

SEATS = ("agent_0", "agent_1")
KINDS = ("biased", "scripted", "h_proxy", "all")
CI_LEVEL = 0.95


class Players:
    """Sources (run dirs, checkpoints, ``pkg.mod:factory``) loaded once per (source, seat) for ``play_rows``."""

    def __init__(self, env_config: Mapping[str, Any], seed: int) -> None:
        self.env_config = dict(env_config)
        self.num_actions = int(make_env("overcooked", **self.env_config).action_space("agent_0").n)
        self.seed = seed
        self.players: list[Any] = []
        self.index: dict[tuple[str, str], int] = {}

    def __call__(self, source: str, seat: str) -> int:
        key = (str(source), seat)
        if key not in self.index:
            self.players.append(seat_player(str(source), seat, self.num_actions, self.env_config, self.seed))
            self.index[key] = len(self.players) - 1
        return self.index[key]


def play_pairs(
    env_config: Mapping[str, Any],
    pairs: Sequence[tuple[str, str]],
    episodes: int,
    seed: int,
    quiet: bool = True,
) -> dict[tuple[str, str, str], float]:
    """``(source, partner)`` pairs -> mean sparse return per (source, partner, source's seat), both seats."""
    players = Players(env_config, seed)
    keys, rows = [], []
    for source, partner in pairs:
        for seat in SEATS:
            other = SEATS[1 - SEATS.index(seat)]
            keys.append((source, partner, seat))
            rows += [{seat: players(source, seat), other: players(partner, other)}] * episodes
    played = play_rows("overcooked", env_config, players.players, rows, seed=seed, quiet=quiet)
    returns = np.array([e[SPARSE_RETURN] for e in played], dtype=np.float64).reshape(len(keys), episodes)
    return {k: float(r.mean()) for k, r in zip(keys, returns)}


def best_response_returns(
    partners: Mapping[str, Mapping[str, Any]], br_dirs: Mapping[str, Path], episodes: int, seed: int
) -> dict[str, float]:
    """``R_BR`` per partner: its BR agent with it, in the BR's own env (lossless for roles), best seat."""
    out: dict[str, float] = {}
    for name, p in partners.items():
        br = br_dirs.get(p["br"])
        if br is None:
            continue
        _, env_config = eval_env_config(br)
        cells = play_pairs(env_config, [(str(br), p["source"])], episodes, seed)
        out[name] = max(cells.values())
    return out


def br_normalized(r: float, r_br: float | None) -> float | None:
    """min(1, R / R_BR) (:func:`zsc_stats.br_normalized`); None where the BR never scored (no scale)."""
    if r_br is None or not np.isfinite(r_br) or r_br <= 0:
        return None
    return float(zsc_stats.br_normalized([r], [r_br])[0])


def aggregate(scores: Mapping[str, np.ndarray], reps: int, seed: int) -> dict[str, dict[str, float]]:
    """Per method, scores ``(runs, tasks)`` -> IQM, mean and the 95% stratified-bootstrap CI of the IQM
    (rliable, through :func:`diverse_marl.analysis.zsc_stats.aggregate`: the one place they are computed)."""
    return zsc_stats.aggregate({m: np.asarray(s, dtype=np.float64) for m, s in scores.items()}, reps, seed, CI_LEVEL)


def evaluate_layout(
    agents: Mapping[str, Mapping[int, Path]],
    partners: Mapping[str, Mapping[str, Any]],
    br_dirs: Mapping[str, Path],
    env_config: Mapping[str, Any],
    episodes: int,
    seed: int,
    reps: int,
    quiet: bool = True,
) -> dict[str, Any]:
    """Cells, R_BR, and per partner kind the aggregates of every method (a JSON-ready dict)."""
    r_br = best_response_returns(partners, br_dirs, episodes, seed)
    pairs = [(str(d), p["source"]) for seeds in agents.values() for d in seeds.values() for p in partners.values()]
    raw = play_pairs(env_config, pairs, episodes, seed, quiet=quiet)
    cells = []
    for method, seeds in agents.items():
        for s, d in seeds.items():
            for name, p in partners.items():
                for seat in SEATS:
                    r = raw[(str(d), p["source"], seat)]
                    norm = br_normalized(r, r_br.get(name))
                    cells.append(
                        {
                            "method": method,
                            "seed": s,
                            "partner": name,
                            "kind": p["kind"],
                            "seat": seat,
                            SPARSE_RETURN: r,
                            "br_return": r_br.get(name),
                            "br_normalized": norm,
                        }
                    )
    return {
        "partners": {
            n: {"kind": p["kind"], "source": p["source"], "br_return": r_br.get(n)} for n, p in partners.items()
        },
        "cells": cells,
        "aggregates": aggregates(cells, reps, seed),
    }


def score_matrix(cells: Sequence[Mapping[str, Any]], method: str, kind: str, key: str) -> np.ndarray | None:
    """(training seeds) x (partners x seats) of ``key`` for one method and partner kind; partners whose
    value is missing for any seed (no BR return) are dropped; None if nothing is left."""
    mine = [c for c in cells if c["method"] == method and (kind == "all" or c["kind"] == kind)]
    seeds = sorted({c["seed"] for c in mine})
    tasks = sorted({(c["partner"], c["seat"]) for c in mine})
    table = {(c["seed"], c["partner"], c["seat"]): c[key] for c in mine}
    cols = [t for t in tasks if all(table.get((s, *t)) is not None for s in seeds)]
    if not seeds or not cols:
        return None
    return np.array([[table[(s, *t)] for t in cols] for s in seeds], dtype=np.float64)


def aggregates(cells: Sequence[Mapping[str, Any]], reps: int, seed: int) -> dict[str, Any]:
    """kind -> metric (br_normalized, sparse_return) -> method -> {iqm, ci_low, ci_high, mean, runs, tasks}."""
    methods = list(dict.fromkeys(c["method"] for c in cells))
    out: dict[str, Any] = {}
    for kind in KINDS:
        out[kind] = {}
        for key in ("br_normalized", SPARSE_RETURN):
            scores = {m: s for m in methods if (s := score_matrix(cells, m, kind, key)) is not None}
            agg = aggregate(scores, reps, seed) if scores else {}
            for m, s in scores.items():
                agg[m] = {**agg[m], "runs": int(s.shape[0]), "tasks": int(s.shape[1])}
            out[kind][key] = agg
    return out
