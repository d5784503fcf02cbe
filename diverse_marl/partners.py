"""Frozen partners: fixed policies that play some seats of a training run, drawn per episode.

A config block (top level of an experiment config, or ``MAPPOConfig.partners(...)``)::

    partners:
      from: [runs/biased-0, runs/biased-1, mylab.bots:stag_hunter]   # or one entry
      seats: [agent_1]        # seats the partner plays; the trained module plays the others
      sample: per_episode     # a new draw for every episode of every env copy
      self_play: 0.2          # probability that the trained module plays every seat instead
      priority: 0.0           # > 0: harder partners (lower recent return) drawn more often (MEP's rank rule)

Pool entries are MAPPO/PPO run dirs or checkpoints (loaded with ``diverse_marl.load_policy``,
Ray-free, never trained further) or ``"pkg.module:factory"`` import paths. A factory is called
with the keywords it accepts among ``seat``, ``env_config`` and ``seed``, and returns either a
policy callable ``p(obs_batch, deterministic=False) -> (B,) actions`` or an
:class:`~diverse_marl.agents.Agent` (then it is called once per env copy: agents keep
per-episode state). This module is Ray-free; the vector env runner
(``diverse_marl.algorithms.mappo.runner_partners``) plays the partners.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from diverse_marl import envs
from diverse_marl.agents import Agent, obs_row
from diverse_marl.envs.reward import accepts_keyword
from diverse_marl.errors import ConfigError
from diverse_marl.loading import load_policy

PARTNER_KEYS = ("from", "seats", "sample", "self_play", "priority")
SAMPLE_MODES = ("per_episode",)
FACTORY_KEYWORDS = ("seat", "env_config", "seed")


@dataclass(frozen=True)
class PartnerSpec:
    """A validated ``partners`` block."""

    sources: tuple[str, ...]
    seats: tuple[str, ...]
    sample: str = "per_episode"
    self_play: float = 0.0
    priority: float = 0.0

    @classmethod
    def from_dict(cls, block: Mapping[str, Any]) -> PartnerSpec:
        """Check keys, types and values of a ``partners`` mapping; raises ConfigError."""
        if not isinstance(block, Mapping):
            raise ConfigError(f"partners: expected a mapping with keys {', '.join(PARTNER_KEYS)}, got {block!r}")
        unknown = [k for k in block if k not in PARTNER_KEYS]
        if unknown:
            raise ConfigError(f"unknown key 'partners.{unknown[0]}'; allowed: {', '.join(PARTNER_KEYS)}")
        sources = block.get("from")
        sources = [sources] if isinstance(sources, (str, os.PathLike)) else sources
        if not isinstance(sources, (list, tuple)) or not sources:
            raise ConfigError(
                "partners.from: the partner pool is empty; give a run dir, a checkpoint, "
                "'pkg.module:factory', or a list of them"
            )
        if not all(isinstance(s, (str, os.PathLike)) and str(s) for s in sources):
            raise ConfigError(f"partners.from: every entry must be a path or 'pkg.module:factory', got {sources!r}")
        seats = block.get("seats")
        seats = [seats] if isinstance(seats, str) else seats
        if not isinstance(seats, (list, tuple)) or not seats or not all(isinstance(s, str) for s in seats):
            raise ConfigError(f"partners.seats: expected a non-empty list of agent ids, got {block.get('seats')!r}")
        sample = block.get("sample", "per_episode")
        if sample not in SAMPLE_MODES:
            raise ConfigError(f"unknown partners.sample {sample!r}; allowed: {', '.join(SAMPLE_MODES)}")
        self_play = block.get("self_play", 0.0)
        if isinstance(self_play, bool) or not isinstance(self_play, (int, float)) or not 0.0 <= self_play <= 1.0:
            raise ConfigError(f"partners.self_play must be a probability in [0, 1], got {self_play!r}")
        priority = block.get("priority", 0.0)
        if isinstance(priority, bool) or not isinstance(priority, (int, float)) or not 0.0 <= priority < float("inf"):
            raise ConfigError(f"partners.priority must be a number >= 0 (0: uniform draws), got {priority!r}")
        # absolute paths: remote env runners may start in another working directory
        sources = [str(s) if is_factory_path(str(s)) else os.path.abspath(s) for s in sources]
        return cls(tuple(sources), tuple(seats), sample, float(self_play), float(priority))

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": list(self.sources),
            "seats": list(self.seats),
            "sample": self.sample,
            "self_play": self.self_play,
            "priority": self.priority,
        }

    def check_seats(self, agents: Sequence[str]) -> None:
        """Every seat is one of the env's agents, and at least one seat is left to the trained module."""
        for seat in self.seats:
            if seat not in agents:
                raise ConfigError(f"unknown partners.seats entry {seat!r}; the env's agents: {', '.join(agents)}")
        if set(agents) <= set(self.seats):
            raise ConfigError(
                f"partners.seats {list(self.seats)} takes every seat; leave at least one of "
                f"{', '.join(agents)} to the trained module"
            )


def rank_priorities(returns: Sequence[float], exponent: float) -> np.ndarray:
    """MEP's prioritized partner sampling (Zhao et al., AAAI 2023): draw probabilities ``p_i`` proportional
    to ``rank_i ** exponent``, where rank 1 goes to the partner with the highest recent return with the
    trained agent and the highest rank to the lowest return (ties share a rank, as in the authors' code,
    which ranks ``1 / return``). A partner not played yet (NaN) counts as the hardest. ``exponent`` 0 is
    uniform; larger values concentrate the draws on the hardest partners."""
    r = np.asarray(returns, dtype=np.float64)
    if exponent == 0 or len(r) == 0:
        return np.full(len(r), 1.0 / max(len(r), 1))
    key = np.where(np.isnan(r), -np.inf, r)
    _, from_best = np.unique(-key, return_inverse=True)  # dense ranks: 0 = highest return
    weights = (from_best.reshape(-1) + 1.0) ** exponent  # rank 1 = highest return, top rank = lowest
    return weights / weights.sum()


class SeatPlayer(Protocol):
    """One pool entry playing one seat in all env copies."""

    def start_episode(self, copy: int, seed: int) -> None: ...

    def act(self, obs: np.ndarray, copies: np.ndarray, deterministic: bool) -> np.ndarray: ...


class PolicyPlayer:
    """A batched policy callable: one forward pass over all rows it plays.

    Policies that take ``rows=`` (recurrent ``TorchPolicy``) keep their state per env copy and
    forget a copy's state when its episode starts (``reset(rows=[copy])``)."""

    def __init__(self, policy: Callable[..., Any], seed: int) -> None:
        self.policy = policy
        self.per_row = accepts_keyword(policy, "rows") and callable(getattr(policy, "reset", None))
        if hasattr(policy, "seed"):
            policy.seed(seed)

    def start_episode(self, copy: int, seed: int) -> None:
        if self.per_row:
            self.policy.reset(rows=[copy])

    def act(self, obs: Any, copies: np.ndarray, deterministic: bool) -> np.ndarray:
        kwargs = {"rows": copies} if self.per_row else {}
        return np.asarray(self.policy(obs, deterministic=deterministic, **kwargs), np.int64).reshape(len(copies))


class AgentPlayer:
    """An :class:`Agent` per env copy (scripted agents keep per-episode state), one row at a time."""

    def __init__(self, agents: list[Agent]) -> None:
        self.agents = agents

    def start_episode(self, copy: int, seed: int) -> None:
        self.agents[copy].reset(seed)

    def act(self, obs: Any, copies: np.ndarray, deterministic: bool) -> np.ndarray:
        return np.array([self.agents[c].act(obs_row(obs, j)) for j, c in enumerate(copies.tolist())], np.int64)


@dataclass
class Partner:
    """One pool entry: a name (for metrics) and a player per partner seat."""

    name: str
    seats: dict[str, SeatPlayer]


def is_factory_path(source: str) -> bool:
    """``"pkg.module:factory"`` (and not an existing path)."""
    module, sep, attr = source.partition(":")
    return bool(sep and module and attr) and "/" not in module and os.sep not in module and not os.path.exists(source)


def load_partners(
    spec: PartnerSpec, num_copies: int, env_config: Mapping[str, Any] | None = None, seed: int = 0
) -> list[Partner]:
    """The frozen pool: one :class:`Partner` per ``spec.sources`` entry, seeded from ``seed``."""
    names = _unique_names(spec.sources)
    pool = []
    for k, (name, source) in enumerate(zip(names, spec.sources)):
        seats = {}
        for j, seat in enumerate(spec.seats):
            player_seed = int(np.random.SeedSequence([seed, k, j]).generate_state(1)[0])
            seats[seat] = _player(source, seat, dict(env_config or {}), player_seed, num_copies)
        pool.append(Partner(name, seats))
    return pool


def _player(source: str, seat: str, env_config: dict, seed: int, num_copies: int) -> SeatPlayer:
    if not is_factory_path(source):
        if not os.path.exists(source):
            raise ConfigError(
                f"partners.from: {source!r} is neither an existing run dir / checkpoint nor an "
                "import path 'pkg.module:factory'"
            )
        return PolicyPlayer(load_policy(source, seat), seed)
    factory = envs.resolve_factory(source)
    offered = {"seat": seat, "env_config": env_config, "seed": seed}
    kwargs = {k: v for k, v in offered.items() if accepts_keyword(factory, k)}
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as exc:
        raise ConfigError(
            f"partners.from: cannot call factory {source!r} ({exc}); it is called with the keywords "
            f"it accepts among {', '.join(FACTORY_KEYWORDS)}"
        ) from None
    except ValueError:
        pass  # no signature to check (some builtins): just call it
    made = factory(**kwargs)
    if isinstance(made, Agent):
        return AgentPlayer([made] + [factory(**kwargs) for _ in range(num_copies - 1)])
    if callable(made):
        return PolicyPlayer(made, seed)
    raise ConfigError(
        f"partners.from: factory {source!r} returned {type(made).__name__}; expected a policy "
        "callable p(obs_batch, deterministic=False) -> actions, or an Agent (reset/act)"
    )


def _unique_names(sources: Sequence[str]) -> list[str]:
    """Short metric names: a run dir's name (``run@iter_5`` for its checkpoints) or a factory's
    name; repeats get ``#2``, ``#3``..."""
    names, seen = [], {}
    for s in sources:
        path = Path(s)
        if is_factory_path(s):
            base = s.partition(":")[2]
        elif path.parent.name == "checkpoints":
            base = f"{path.parent.parent.name}@{path.name}"
        else:
            base = path.name
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}#{seen[base]}")
    return names


def validate_partners(cfg: Any) -> None:
    """Check an ExperimentConfig's ``partners`` block before Ray starts (raises ConfigError).

    Keys and values, seats against the env's agents, an env runner that plays partners
    (MAPPO's ``VectorMultiAgentEnvRunner``), and that every pool entry loads.
    """
    if not cfg.partners:
        return
    spec = PartnerSpec.from_dict(cfg.partners)
    probe = envs.make(cfg.env, **dict(cfg.env_config))
    try:
        spec.check_seats(list(probe.possible_agents))
    finally:
        probe.close()
    runner = cfg.training.get("env_runner_cls", cfg.family().option_defaults().get("env_runner_cls"))
    runner_cls = envs.resolve_factory(runner) if runner and runner != "auto" else None
    if runner != "auto" and not getattr(runner_cls, "supports_partners", False):  # auto: MAPPOConfig.validate checks
        raise ConfigError(
            "partners need an env runner that plays them: algorithm mappo with training.env_runner_cls: "
            "diverse_marl.algorithms.mappo.sampler:VectorMultiAgentEnvRunner "
            f"(got algorithm {cfg.algorithm!r} with {runner or 'RLlib default MultiAgentEnvRunner'})"
        )
    load_partners(spec, 1, cfg.env_config, cfg.seed)


__all__ = [
    "PartnerSpec",
    "Partner",
    "PolicyPlayer",
    "AgentPlayer",
    "load_partners",
    "rank_priorities",
    "validate_partners",
    "PARTNER_KEYS",
    "SAMPLE_MODES",
]
