"""Behaviour descriptors: one numeric vector per population member, from its rollouts.

Extractors follow scikit-learn's conventions: ``fit(rollouts)`` learns what needs learning from
the whole population (a state codebook, which statistics exist), ``transform(rollouts)`` returns a
(members, features) array, ``get_feature_names_out()`` names the columns. ``rollouts`` is a
:class:`~diverse_marl.analysis.rollouts.PopulationRollouts` (or any mapping name -> MemberRollouts).

- :class:`EpisodeStatistics`: per-episode means of the env's episode statistics (Overcooked's
  per-cook event counts, hide-and-seek statistics, any env's ``episode_stats``), reward-feature
  totals, returns and length.
- :class:`ActionDistribution`: how often each agent takes each action, by the env's action names
  (``agent_1/action:stay``) where its class lists them (``ACTION_NAMES``).
- :class:`RoleShares`: each agent's share of each team event (``agent_0/share:potting_onion``: agent_0's
  onion pottings / both cooks'), over the events the env lists as telling who does what (``ROLE_EVENTS``,
  Overcooked's onions potted, dishes fetched, soups delivered, ...), else over every per-agent event.
- :class:`StateVisitation`: a histogram of visited states over a k-means codebook of all members'
  states (any env), or over cells given by a function.
- :class:`FunctionDescriptor`: a user function of one member's rollouts (or its import path).
- :class:`DescriptorSet`: several of them side by side (scikit-learn's FeatureUnion for rollouts).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from diverse_marl.analysis.rollouts import MemberRollouts
from diverse_marl.envs import env_factory, resolve_factory
from diverse_marl.errors import ConfigError
from diverse_marl.metrics import SPARSE_RETURN

Rollouts = Mapping[str, MemberRollouts]
DEFAULT_CODES = 16  # k-means codewords of StateVisitation
DEFAULT_MAX_STATES = 500  # states per member used to fit the codebook and to count visits
ACTION_PREFIX = "action:"  # agent_1/action:stay (apart from the event count agent_1/stay)
SHARE_PREFIX = "share:"  # agent_0/share:potting_onion
MIN_ROLE_SHARE = 0.75  # an agent doing at least this share of an event has that job (descriptors, report)
ROLE_PRIOR_EVENTS = 2.0  # role-share descriptors credit each agent 2 events first: 4 of 4 is 75%, 1 of 1 is 60%


class Descriptor(Protocol):
    def fit(self, rollouts: Rollouts) -> Descriptor: ...

    def transform(self, rollouts: Rollouts) -> np.ndarray: ...

    def get_feature_names_out(self) -> list[str]: ...


class _Base:
    feature_names_: list[str]

    def fit_transform(self, rollouts: Rollouts) -> np.ndarray:
        return self.fit(rollouts).transform(rollouts)

    def get_feature_names_out(self) -> list[str]:
        if not hasattr(self, "feature_names_"):
            raise ConfigError(f"{type(self).__name__} is not fitted; call fit(rollouts) first")
        return list(self.feature_names_)

    def transform(self, rollouts: Rollouts) -> np.ndarray:
        self.get_feature_names_out()
        rows = [self._row(r) for r in rollouts.values()]
        return np.array(rows, dtype=np.float64).reshape(len(rows), len(self.feature_names_))

    def _row(self, r: MemberRollouts) -> list[float]:
        raise NotImplementedError


def _member_columns(r: MemberRollouts) -> dict[str, np.ndarray]:
    """Per-episode columns of one member: statistics, reward-feature totals, returns, length."""
    cols = {name: r.stats[:, k] for k, name in enumerate(r.stat_names)}
    for j, a in enumerate(r.agents):
        cols[f"return/{a}"] = r.returns[:, j]
        for k, name in enumerate(r.feature_names):
            cols[f"{a}/feature/{name}"] = r.features[:, j, k]
    if not np.isnan(r.sparse_returns).any():
        cols[SPARSE_RETURN] = r.sparse_returns
    cols["length"] = r.lengths.astype(np.float64)
    return cols


class EpisodeStatistics(_Base):
    """Mean per episode of every statistic the env reports (names as ``agent_0/soup_delivery``).

    ``include`` / ``exclude``: glob patterns on the names (e.g. ``["*/potting_*"]``); by default
    returns and length are left out (they are results, not behaviour): ``include=["*"]`` keeps them.
    A statistic missing from some member's episodes counts as 0 there.
    """

    DEFAULT_EXCLUDE = ("return/*", SPARSE_RETURN, "length")

    def __init__(self, include: Sequence[str] | None = None, exclude: Sequence[str] | None = None) -> None:
        self.include = list(include) if include is not None else None
        self.exclude = list(exclude) if exclude is not None else (list(self.DEFAULT_EXCLUDE) if include is None else [])

    def fit(self, rollouts: Rollouts) -> EpisodeStatistics:
        names = sorted({k for r in rollouts.values() for k in _member_columns(r)})
        keep = [
            n
            for n in names
            if (self.include is None or any(fnmatch.fnmatch(n, p) for p in self.include))
            and not any(fnmatch.fnmatch(n, p) for p in self.exclude)
        ]
        if not keep and self.include is not None:
            raise ConfigError(
                f"no episode statistics match include={self.include} exclude={self.exclude}; "
                f"available: {', '.join(names) or '(none)'}"
            )
        self.feature_names_ = keep
        return self

    def _row(self, r: MemberRollouts) -> list[float]:
        cols = _member_columns(r)
        return [
            float(np.nan_to_num(np.nanmean(cols[n]))) if n in cols and not np.isnan(cols[n]).all() else 0.0
            for n in self.feature_names_
        ]


def _rollouts_env(rollouts: Rollouts) -> tuple[str | None, Any]:
    """The env the rollouts were played in and its factory (None, None if unknown)."""
    env = getattr(rollouts, "env", None)
    if env is None:
        first = next(iter(rollouts.values()), None)
        env = (getattr(first, "meta", None) or {}).get("env")
    if env is None:
        return None, None
    try:
        return env, env_factory(env)
    except ConfigError:
        return env, None


def env_action_names(env: str | Callable[..., Any] | None) -> list[str] | None:
    """The action names an env class lists (``ACTION_NAMES``), or None."""
    if env is None:
        return None
    factory = env if callable(env) else env_factory(env)
    names = getattr(factory, "ACTION_NAMES", None)
    return [str(n) for n in names] if names else None


def env_role_events(env: str | Callable[..., Any] | None) -> dict[str, tuple[str, str, str]]:
    """The env class's ``ROLE_EVENTS``: event -> (verb, plural, singular) for "agent_0 pots 94% of the
    onions"; {} if it lists none."""
    if env is None:
        return {}
    factory = env if callable(env) else env_factory(env)
    return dict(getattr(factory, "ROLE_EVENTS", None) or {})


class ActionDistribution(_Base):
    """Fraction of each agent's steps spent on each action: ``agent_1/action:stay``.

    Names: ``action_names``, else the env's (its class's ``ACTION_NAMES``), else ``action_4``.
    """

    def __init__(self, action_names: Sequence[str] | None = None) -> None:
        self.action_names = list(action_names) if action_names is not None else None

    def fit(self, rollouts: Rollouts) -> ActionDistribution:
        first = next(iter(rollouts.values()))
        n = 1 + max(int(r.actions.max(initial=0)) for r in rollouts.values())
        names = self.action_names
        if names is None:
            env, factory = _rollouts_env(rollouts)
            names = env_action_names(factory) if factory is not None else None
            if names is not None and len(names) < n:
                names = None  # the env's names do not cover what was played: fall back to indices
        if names is not None:
            if len(names) < n:
                raise ConfigError(f"action_names has {len(names)} names but actions go up to {n - 1}")
            n = len(names)
        self.n_actions_, self.agents_ = n, list(first.agents)
        self.action_names_ = list(names) if names is not None else [f"action_{k}" for k in range(n)]
        self.feature_names_ = [f"{a}/{ACTION_PREFIX}{label}" for a in self.agents_ for label in self.action_names_]
        return self

    def _row(self, r: MemberRollouts) -> list[float]:
        mask = r.step_mask
        out: list[float] = []
        for j in range(len(self.agents_)):
            acts = r.actions[..., j][mask]
            counts = np.bincount(acts, minlength=self.n_actions_)[: self.n_actions_]
            out += (counts / max(len(acts), 1)).tolist()
        return out


def role_shares(r: MemberRollouts, events: Sequence[str], prior: float = 0.0) -> dict[str, dict[str, float]]:
    """``{agent: {event: share}}``: each agent's part of the team's total of each event over all of the
    member's episodes (statistics ``<agent>/<event>``). ``prior``: events credited to every agent
    beforehand, which pulls shares resting on a handful of events towards an even split. An event no
    agent did is split evenly (no evidence of a role); events without per-agent statistics are left out."""
    index = {name: k for k, name in enumerate(r.stat_names)}
    out: dict[str, dict[str, float]] = {a: {} for a in r.agents}
    for event in events:
        keys = [f"{a}/{event}" for a in r.agents]
        if not all(k in index for k in keys):
            continue
        totals = np.array([np.nansum(r.stats[:, index[k]]) for k in keys], dtype=np.float64) + prior
        team = totals.sum()
        shares = totals / team if team > 0 else np.full(len(keys), 1.0 / len(keys))
        for a, share in zip(r.agents, shares.tolist()):
            out[a][event] = share
    return out


def event_totals(r: MemberRollouts, event: str) -> float:
    """The team's total of ``event`` per episode (mean over episodes; 0 without per-agent statistics)."""
    cols = [k for k, name in enumerate(r.stat_names) if name in {f"{a}/{event}" for a in r.agents}]
    return float(np.nansum(r.stats[:, cols]) / max(r.episodes, 1)) if cols else 0.0


class RoleShares(_Base):
    """Who does what: each agent's share of each team event (``agent_0/share:potting_onion`` = agent_0's
    onion pottings / both cooks'), over all of a member's episodes.

    ``events``: which events; default the env's ``ROLE_EVENTS`` (Overcooked: onions fetched and potted,
    dishes fetched, soups plated and delivered, hand-overs on counters), else every event every agent
    reports as ``<agent>/<event>``. Only events on which some member's agents split the work unevenly
    (one agent does at least ``min_share`` of it) are kept: shares that never leave an even split carry
    no role, only rollout noise, which standardized distances would blow up to full weight. Shares are
    taken with ``prior`` events credited to each agent (a share resting on one or two random events is
    no job). An event a member never did counts as split evenly for it.
    """

    def __init__(
        self, events: Sequence[str] | None = None, min_share: float = MIN_ROLE_SHARE, prior: float = ROLE_PRIOR_EVENTS
    ) -> None:
        self.events = list(events) if events is not None else None
        self.min_share, self.prior = float(min_share), float(prior)

    def fit(self, rollouts: Rollouts) -> RoleShares:
        first = next(iter(rollouts.values()))
        self.agents_ = list(first.agents)
        events = self.events
        if events is None:
            _, factory = _rollouts_env(rollouts)
            events = list(env_role_events(factory)) if factory is not None else []
        if not events:  # every event reported per agent by every agent
            per_agent: dict[str, set[str]] = {}
            for r in rollouts.values():
                for name in r.stat_names:
                    agent, _, event = name.partition("/")
                    if agent in self.agents_ and event:
                        per_agent.setdefault(event, set()).add(agent)
            events = sorted(e for e, who in per_agent.items() if len(who) == len(self.agents_))
        shares = [role_shares(r, events, self.prior) for r in rollouts.values()]
        self.events_ = [
            e for e in events if any(max((s[a].get(e, 0.0) for a in s), default=0.0) >= self.min_share for s in shares)
        ]
        self.feature_names_ = [f"{a}/{SHARE_PREFIX}{e}" for a in self.agents_ for e in self.events_]
        return self

    def _row(self, r: MemberRollouts) -> list[float]:
        shares = role_shares(r, self.events_, self.prior)
        even = 1.0 / max(len(self.agents_), 1)
        return [shares.get(a, {}).get(e, even) for a in self.agents_ for e in self.events_]


class StateVisitation(_Base):
    """Histogram of visited states: the fraction of a member's steps in each state cell.

    Cells are the ``n_codes`` k-means codewords (scikit-learn ``KMeans``) of states pooled from all
    members (``max_states`` per member, seeded), or ``cells(states (M, S)) -> (M,) int`` for a
    discretization the user knows (e.g. grid positions); then ``n_codes`` is the number of cells.
    """

    def __init__(
        self,
        n_codes: int = DEFAULT_CODES,
        max_states: int = DEFAULT_MAX_STATES,
        cells: Callable[[np.ndarray], np.ndarray] | str | None = None,
        random_state: int = 0,
    ) -> None:
        if n_codes < 1:
            raise ConfigError(f"n_codes must be >= 1, got {n_codes}")
        self.n_codes, self.max_states, self.random_state = n_codes, max_states, random_state
        self.cells = resolve_factory(cells) if isinstance(cells, str) else cells

    def fit(self, rollouts: Rollouts) -> StateVisitation:
        if self.cells is None:
            from sklearn.cluster import KMeans  # scikit-learn: slow to import, loaded on first use

            pooled = np.concatenate([r.visited_states(self.max_states, self.random_state) for r in rollouts.values()])
            k = min(self.n_codes, len(np.unique(pooled, axis=0)))
            self.codebook_ = KMeans(n_clusters=k, n_init=1, random_state=self.random_state).fit(pooled)
            self.n_cells_ = k
        else:
            self.n_cells_ = self.n_codes
        self.feature_names_ = [f"state_cell_{c}" for c in range(self.n_cells_)]
        return self

    def _row(self, r: MemberRollouts) -> list[float]:
        states = r.visited_states(self.max_states, self.random_state)
        cells = self.codebook_.predict(states) if self.cells is None else np.asarray(self.cells(states), np.int64)
        if cells.size and (cells.min() < 0 or cells.max() >= self.n_cells_):
            raise ConfigError(
                f"cells() returned cell ids outside 0..{self.n_cells_ - 1}; set n_codes to the cell count"
            )
        return (np.bincount(cells, minlength=self.n_cells_) / max(len(cells), 1)).tolist()


class FunctionDescriptor(_Base):
    """A user function of one member's :class:`MemberRollouts` returning ``{name: value}`` or a 1-D array.

    ``fn`` may be a callable or an import path ``"pkg.module:function"``; ``prefix`` names array columns.
    """

    def __init__(self, fn: Callable[[MemberRollouts], Any] | str, prefix: str | None = None) -> None:
        self.fn = resolve_factory(fn) if isinstance(fn, str) else fn
        if not callable(self.fn):
            raise ConfigError(f"descriptor {fn!r} is not callable")
        self.prefix = prefix or getattr(self.fn, "__name__", "descriptor")

    def _call(self, r: MemberRollouts) -> dict[str, float]:
        value = self.fn(r)
        if isinstance(value, Mapping):
            return {str(k): float(v) for k, v in value.items()}
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
        return {f"{self.prefix}_{k}": float(v) for k, v in enumerate(arr)}

    def fit(self, rollouts: Rollouts) -> FunctionDescriptor:
        names: list[str] = []
        for r in rollouts.values():
            names += [n for n in self._call(r) if n not in names]
        self.feature_names_ = names
        return self

    def _row(self, r: MemberRollouts) -> list[float]:
        values = self._call(r)
        return [values.get(n, 0.0) for n in self.feature_names_]


class DescriptorSet(_Base):
    """Descriptors side by side; column names are kept (they are unique by construction of each part)."""

    def __init__(self, descriptors: Sequence[Any]) -> None:
        if not descriptors:
            raise ConfigError("a DescriptorSet needs at least one descriptor")
        self.descriptors = [
            FunctionDescriptor(d) if isinstance(d, str) or (callable(d) and not hasattr(d, "fit")) else d
            for d in descriptors
        ]

    def fit(self, rollouts: Rollouts) -> DescriptorSet:
        for d in self.descriptors:
            d.fit(rollouts)
        self.feature_names_ = [n for d in self.descriptors for n in d.get_feature_names_out()]
        return self

    def transform(self, rollouts: Rollouts) -> np.ndarray:
        return np.hstack([d.transform(rollouts) for d in self.descriptors])


def default_descriptors(extra: Sequence[Any] = ()) -> DescriptorSet:
    """What ``diverse-marl analyze`` uses: episode statistics, action distributions and role shares (+ ``extra``)."""
    return DescriptorSet([EpisodeStatistics(), ActionDistribution(), RoleShares(), *extra])
