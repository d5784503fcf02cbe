"""Cross-play: every policy of a set plays with every other, in one batched run.

``crossplay_matrix(policies, env_name, env_config, episodes)`` seats policy ``i`` in seat 0
(``agent_0``) and policy ``j`` in seat 1 (``agent_1``) for every pair, ``episodes`` times each,
and reports N x N matrices of the mean original return (and the sparse team return where the
env reports one, e.g. Overcooked), their stds and per-cell episode statistics (event means).
All N*N*episodes episodes run as rows of the env's batched class (see :mod:`diverse_marl.rollout`).

    diverse-marl crossplay runs/pop-*/ [--episodes 10] [--layout cramped_room] [--out DIR]

writes ``crossplay.json`` and ``crossplay.png`` (annotated heatmap) into ``--out``
(:mod:`diverse_marl.analysis.crossplay_report`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from diverse_marl.agents import Agent, RandomAgent
from diverse_marl.config import load_config
from diverse_marl.envs import make as make_env
from diverse_marl.envs import resolve_factory
from diverse_marl.envs.reward import accepts_keyword
from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.loading import load_policy
from diverse_marl.metrics import SPARSE_RETURN
from diverse_marl.partners import FACTORY_KEYWORDS, is_factory_path
from diverse_marl.rollout import DEFAULT_MAX_ROWS, play_batched, play_rows, summarize_episodes
from diverse_marl.run_dir import RunDir

DEFAULT_SEATS = ("agent_0", "agent_1")
JSON_NAME = "crossplay.json"
PNG_NAME = "crossplay.png"
RANDOM_SEAT = "random"
LLM_SEAT = "llm:"  # llm:CONFIG.yaml -> an LLM-backed agent
# the optional llm package is looked up by import path, so it is loaded only where an llm: seat is played
LLM_AGENT = "diverse_marl.llm.agent:LLMAgent"
# env_config keys dropped when evaluating a run's env: returns are the original game's
TRAINING_ONLY_ENV_KEYS = ("reward_weights",)
ZERO_SUM_TOLERANCE = 1e-9
# headline metrics of a cross-play matrix, per episode; the default picks the first that fits:
METRICS = {
    SPARSE_RETURN: "team sparse return (envs that report one, e.g. Overcooked)",
    "return": "team original return, summed over all agents (cooperative / general-sum games)",
    "seat0_return": "seat 0's original return (zero-sum games, where the team return is always 0)",
}

__all__ = [
    "CrossplayResult",
    "crossplay_matrix",
    "play_batched",
    "eval_env_config",
    "seat_player",
    "DEFAULT_SEATS",
]


@dataclass
class CrossplayResult:
    """N x N cross-play matrices; ``[i][j]``: policy ``names[i]`` in seat 0, ``names[j]`` in seat 1.

    ``metric`` names the headline matrix ``value_mean``/``value_std`` (see :data:`METRICS`).
    """

    names: list[str]
    env: str
    env_config: dict[str, Any]
    seats: list[list[str]]
    episodes: int
    seed: int
    deterministic: bool
    metric: str
    value_mean: list[list[float]]
    value_std: list[list[float]]
    return_mean: list[list[float]]
    return_std: list[list[float]]
    seat_return_mean: list[list[list[float]]]  # [seat][i][j]
    length_mean: list[list[float]]
    stats_mean: dict[str, list[list[float]]] = field(default_factory=dict)
    player_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> metrics() (LLM agents)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CrossplayResult:
        try:
            return cls(**{f: data[f] for f in cls.__dataclass_fields__ if f in data})
        except TypeError as exc:
            raise ConfigError(f"not a cross-play result ({exc})") from None


def crossplay_matrix(
    policies: Mapping[str, Any],
    env_name: str,
    env_config: Mapping[str, Any] | None = None,
    episodes: int = 10,
    seed: int = 0,
    deterministic: bool = False,
    seats: Sequence[str | Sequence[str]] = DEFAULT_SEATS,
    max_rows: int = DEFAULT_MAX_ROWS,
    metric: str | None = None,
    quiet: bool = True,
) -> CrossplayResult:
    """Play every ordered pair of ``policies`` ``episodes`` times; see :class:`CrossplayResult`.

    ``policies``: name -> a policy or Agent (plays every agent of its seat), a run directory or
    checkpoint path (loaded per agent with :func:`diverse_marl.load_policy`), or an object with a
    ``policy(agent)`` method (a population :class:`~diverse_marl.population.Member`). A seat is
    an agent name or a list of agent names (a team); together the two seats must hold every
    agent of the env. ``metric``: one of :data:`METRICS`, by default the first that fits the game.
    """
    if metric is not None and metric not in METRICS:
        raise ConfigError(f"unknown metric {metric!r}; allowed: {', '.join(METRICS)}")
    if not policies:
        raise ConfigError("crossplay needs at least one policy")
    if episodes < 1:
        raise ConfigError(f"episodes must be >= 1, got {episodes}")
    if len(seats) != 2:
        raise ConfigError(f"crossplay needs exactly two seats, got {list(seats)}")
    groups = [[s] if isinstance(s, str) else list(s) for s in seats]
    _check_seats(env_name, dict(env_config or {}), groups)
    names = list(policies)
    players: list[Any] = []
    seat_players = [_resolve_seats(policies[n], groups, players) for n in names]
    rows = [
        {**{a: seat_players[i][a] for a in groups[0]}, **{a: seat_players[j][a] for a in groups[1]}}
        for i in range(len(names))
        for j in range(len(names))
        for _ in range(episodes)
    ]
    played = play_rows(env_name, env_config, players, rows, seed, deterministic, max_rows, quiet=quiet)
    if metric == SPARSE_RETURN and not all(SPARSE_RETURN in e for e in played):
        raise ConfigError(f"env {env_name!r} reports no sparse reward; use metric 'return' or 'seat0_return'")
    result = _matrices(
        played,
        names,
        env_name,
        dict(env_config or {}),
        groups,
        episodes,
        seed,
        deterministic,
        metric or _default_metric(played, groups),
    )
    result.player_metrics = {
        name: players[k].metrics()
        for name, seated in zip(names, seat_players)
        for k in sorted(set(seated.values()))
        if callable(getattr(players[k], "metrics", None))
    }
    return result


def _check_seats(env_name: str, env_config: dict[str, Any], groups: list[list[str]]) -> None:
    """The two seats must hold every agent of the env once (checked before any policy is loaded)."""
    env = make_env(env_name, **env_config)
    agents = list(env.possible_agents)
    env.close()
    seated = [a for g in groups for a in g]
    if sorted(seated) != sorted(agents):
        raise ConfigError(
            f"seats {groups} must hold every agent of env {env_name!r} exactly once; agents: {', '.join(agents)}"
        )


def _resolve_seats(source: Any, groups: list[list[str]], players: list[Any]) -> dict[str, int]:
    """agent -> index into ``players`` for one named source; policies shared across agents are added once."""
    out: dict[str, int] = {}
    by_id: dict[str, int] = {}
    for agent in (a for g in groups for a in g):
        if isinstance(source, (str, os.PathLike)):
            player = load_policy(source, agent)
        elif inspect.ismethod(getattr(source, "policy", None)) and not isinstance(source, Agent):
            player = source.policy(agent)
        else:
            player = source
        pid = getattr(player, "policy_id", None)
        k = next((i for i, p in enumerate(players) if p is player), None)
        if k is None and pid is not None:
            k = by_id.get(pid)
        if k is None:
            players.append(player)
            k = len(players) - 1
        if pid is not None:
            by_id.setdefault(pid, k)
        out[agent] = k
    return out


def _metric_value(episode: dict[str, Any], metric: str, groups: list[list[str]]) -> float:
    if metric == SPARSE_RETURN:
        return episode[SPARSE_RETURN]
    agents = groups[0] if metric == "seat0_return" else episode["returns"]
    return sum(episode["returns"][a] for a in agents)


def _default_metric(played: list[dict[str, Any]], groups: list[list[str]]) -> str:
    if all(SPARSE_RETURN in e for e in played):
        return SPARSE_RETURN
    zero_sum = all(abs(_metric_value(e, "return", groups)) <= ZERO_SUM_TOLERANCE for e in played)
    if zero_sum and any(_metric_value(e, "seat0_return", groups) != 0 for e in played):
        return "seat0_return"
    return "return"


def _matrices(
    played: list[dict[str, Any]],
    names: list[str],
    env_name: str,
    env_config: dict[str, Any],
    groups: list[list[str]],
    episodes: int,
    seed: int,
    deterministic: bool,
    metric: str,
) -> CrossplayResult:
    n = len(names)
    episodes_of = [[played[(i * n + j) * episodes : (i * n + j + 1) * episodes] for j in range(n)] for i in range(n)]
    cells = [[summarize_episodes(episodes_of[i][j]) for j in range(n)] for i in range(n)]
    values = [[[_metric_value(e, metric, groups) for e in episodes_of[i][j]] for j in range(n)] for i in range(n)]

    def grid(fn) -> list[list[float]]:
        return [[float(fn(cells[i][j])) for j in range(n)] for i in range(n)]

    stat_keys = sorted({k for row in cells for c in row for k in c["stats_mean"]})
    return CrossplayResult(
        names=names,
        env=env_name,
        env_config=env_config,
        seats=groups,
        episodes=episodes,
        seed=seed,
        deterministic=deterministic,
        metric=metric,
        value_mean=[[float(np.mean(v)) for v in row] for row in values],
        value_std=[[float(np.std(v)) for v in row] for row in values],
        return_mean=grid(lambda c: c["return_mean"]),
        return_std=grid(lambda c: c["return_std"]),
        seat_return_mean=[grid(lambda c, g=g: sum(c["agent_return_mean"][a] for a in g)) for g in groups],
        length_mean=grid(lambda c: c["length_mean"]),
        stats_mean={k: grid(lambda c, k=k: c["stats_mean"].get(k, 0.0)) for k in stat_keys},
    )


# ---- runs: their env for evaluation, seat fillers from text ---------------------------------
def run_dir_of(path: str | os.PathLike) -> Path:
    """The run directory of a run dir or of one of its ``checkpoints/iter_*`` folders."""
    p = Path(path)
    for cand in (p, p.parent.parent):
        if RunDir(cand).exists():
            return cand
    raise CheckpointError(f"{path} is not a run directory (no config.yaml) nor one of its checkpoints")


def eval_env_config(
    run_dir: str | os.PathLike, overrides: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """(env name, env_config) of a run for evaluation: its config without training-only keys, plus overrides."""
    cfg = load_config(RunDir(run_dir_of(run_dir)).config_path)
    env_config = {k: v for k, v in cfg.env_config.items() if k not in TRAINING_ONLY_ENV_KEYS}
    env_config.update(overrides or {})
    return cfg.env, env_config


def seat_player(
    spec: str, agent: str, num_actions: int, env_config: Mapping[str, Any] | None = None, seed: int = 0
) -> Any:
    """A seat filler from text: ``random``, ``llm:CONFIG.yaml``, a run dir / checkpoint path, or ``pkg.module:factory``.

    A factory follows the partners convention (:mod:`diverse_marl.partners`): it is called with
    the keywords it accepts among ``seat``, ``env_config`` and ``seed``, and returns a policy or an Agent.
    ``llm:CONFIG`` is an :class:`~diverse_marl.llm.LLMAgent` (the optional ``llm`` extra).
    """
    if spec == RANDOM_SEAT:
        return RandomAgent(num_actions, seed=seed)
    if spec.startswith(LLM_SEAT):
        return resolve_factory(LLM_AGENT)(spec[len(LLM_SEAT) :], seed=seed)
    if is_factory_path(spec):
        factory = resolve_factory(spec)
        offered = {"seat": agent, "env_config": dict(env_config or {}), "seed": seed}
        try:
            return factory(**{k: v for k, v in offered.items() if accepts_keyword(factory, k)})
        except TypeError as exc:
            raise ConfigError(
                f"cannot call seat factory {spec!r} ({exc}); it is called with the keywords it "
                f"accepts among {', '.join(FACTORY_KEYWORDS)}"
            ) from None
    if Path(spec).exists():
        return load_policy(spec, agent, seed=seed)
    raise ConfigError(
        f"unknown seat {spec!r}; allowed: {RANDOM_SEAT!r}, '{LLM_SEAT}CONFIG.yaml', a run directory "
        "or checkpoint path, or an import path 'package.module:factory'"
    )
