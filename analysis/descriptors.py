"""Behaviour descriptors: one numeric vector per population member, from its rollouts.

Extractors follow scikit-learn's conventions: ``fit(rollouts)`` learns what needs learning from
the whole population (a state codebook, which statistics exist), ``transform(rollouts)`` returns a
(members, features) array, ``get_feature_names_out()`` names the columns. ``rollouts`` is a
:class:`~diverse_marl.analysis.rollouts.PopulationRollouts` (or any mapping name -> MemberRollouts).

- :class:`EpisodeStatistics`: per-episode means of the env's episode statistics (Overcooked's
  per-cook event counts, hide-and-seek statistics, any env's ``episode_stats``), reward-feature
  totals, returns and length.
- :class:`ActionDistribution`: how often each agent takes each action.
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
from diverse_marl.envs import resolve_factory
from diverse_marl.errors import ConfigError
from diverse_marl.metrics import SPARSE_RETURN

Rollouts = Mapping[str, MemberRollouts]
DEFAULT_CODES = 16  # k-means codewords of StateVisitation
DEFAULT_MAX_STATES = 500  # states per member used to fit the codebook and to count visits


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


class ActionDistribution(_Base):
    """Fraction of each agent's steps spent on each action (``agent_0/action_4``, or names from ``action_names``)."""

    def __init__(self, action_names: Sequence[str] | None = None) -> None:
        self.action_names = list(action_names) if action_names is not None else None

    def fit(self, rollouts: Rollouts) -> ActionDistribution:
        first = next(iter(rollouts.values()))
        n = 1 + max(int(r.actions.max(initial=0)) for r in rollouts.values())
        if self.action_names is not None:
            if len(self.action_names) < n:
                raise ConfigError(f"action_names has {len(self.action_names)} names but actions go up to {n - 1}")
            n = len(self.action_names)
        self.n_actions_, self.agents_ = n, list(first.agents)
        labels = self.action_names or [f"action_{k}" for k in range(n)]
        self.feature_names_ = [f"{a}/{label}" for a in self.agents_ for label in labels]
        return self

    def _row(self, r: MemberRollouts) -> list[float]:
        mask = r.step_mask
        out: list[float] = []
        for j in range(len(self.agents_)):
            acts = r.actions[..., j][mask]
            counts = np.bincount(acts, minlength=self.n_actions_)[: self.n_actions_]
            out += (counts / max(len(acts), 1)).tolist()
        return out


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
    """What ``diverse-marl analyze`` uses: episode statistics and action distributions (+ ``extra``)."""
    return DescriptorSet([EpisodeStatistics(), ActionDistribution(), *extra])
