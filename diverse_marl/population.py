"""Populations of trained policies as plain Python objects: ``load_population(path_or_paths)``.

Diversity methods train many runs; analysis and frozen-partner training read them back as one
:class:`Population` of named members, each with its metadata and a lazily loaded policy. No Ray
is started and nothing in the files is executed (weights come through ``load_policy``'s safe
reader), so a population received from another lab can be opened safely.

    pop = load_population("runs/hsp-overcooked-20260101-120000")
    pop.names                              # ['member_00', 'member_01', ...]
    pop["member_01"].metadata["reward_weights"]
    actions = pop[0].policy("agent_0")(obs_batch, deterministic=True)
    print(pop)                             # a small table

What counts as a member: a *run directory* (``config.yaml`` plus at least one complete
checkpoint under ``checkpoints/``). A path may be a run dir, a population parent (with
``population.json``, whose entries give names, indices and status), any folder holding run dirs up
to ``MAX_DEPTH`` levels down (multi-stage methods), or a list of these.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from diverse_marl.analysis.rollouts import PopulationRollouts, collect_rollouts
from diverse_marl.crossplay import crossplay_matrix, eval_env_config
from diverse_marl.errors import CheckpointError, ConfigError
from diverse_marl.loading import load_policy
from diverse_marl.metrics import headline_return
from diverse_marl.run_dir import RunDir

POPULATION_FILE = "population.json"
MAX_DEPTH = 2  # how far below a given folder run dirs are looked for
_NOT_MEMBERS = {"checkpoints", "tb", "tune"}  # run-dir internals and Tune's own folder, never members

PathLike = Union[str, "os.PathLike[str]"]


@dataclass
class Member:
    """One trained run of a population: ``name``, run dir ``path``, ``index`` and ``metadata``.

    ``metadata`` holds ``config`` (the run's resolved config dict), ``algorithm``, ``env``,
    ``env_config``, ``seed``, ``reward_weights`` (from ``env_config.reward_weights``, ``{}`` if
    none), ``final_metrics`` (the last metrics row), ``index``, ``status`` and, for members listed
    in a ``population.json``, ``overrides`` and the raw ``entry``.
    """

    name: str
    path: Path
    index: int
    metadata: dict[str, Any] = field(default_factory=dict)
    _policies: dict[tuple[Any, Any], Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def checkpoint(self) -> Path:
        """The latest complete checkpoint of this member's run."""
        latest = RunDir(self.path).latest_checkpoint()
        if latest is None:
            raise CheckpointError(f"member {self.name!r}: {self.path} holds no complete checkpoint")
        return latest

    def policy(self, agent: str | None = None, seed: int | None = None) -> Any:
        """The member's policy for ``agent`` (a policy id or agent name; None: its only/shared one).

        Loaded on first use and cached per ``(agent, seed)``; recurrent policies keep hidden state,
        so give each seat of a game its own ``seed`` (or call ``reset()``) when that matters.
        """
        key = (agent, seed)
        if key not in self._policies:
            self._policies[key] = load_policy(self.checkpoint, agent, seed=seed)
        return self._policies[key]


class Population:
    """Named members, iterable in order, indexable by name or position."""

    def __init__(self, members: Sequence[Member], skipped: Sequence[tuple[str, str]] = ()) -> None:
        self.members = list(members)
        self.skipped = list(skipped)  # (path, reason) of run dirs that could not be members
        self._by_name = {m.name: m for m in self.members}
        if len(self._by_name) != len(self.members):
            dupes = sorted({m.name for m in self.members if sum(o.name == m.name for o in self.members) > 1})
            raise ConfigError(f"population member names must be unique; repeated: {', '.join(dupes)}")

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.members]

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[Member]:
        return iter(self.members)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __getitem__(self, key: int | str) -> Member:
        if isinstance(key, str):
            if key not in self._by_name:
                raise KeyError(f"no member named {key!r}; members: {', '.join(self.names)}")
            return self._by_name[key]
        return self.members[key]

    def crossplay(
        self,
        env_name: str | None = None,
        episodes: int = 10,
        *,
        seed: int = 0,
        deterministic: bool = False,
        **env_config: Any,
    ) -> Any:
        """Cross-play matrix of every member pair (:func:`diverse_marl.crossplay.crossplay_matrix`).

        Each member plays its seat with the policy its agent was trained as. ``env_name`` and the
        env config default to the first member's evaluation env (its config without training-only
        keys such as ``reward_weights``, so returns are the original game's); keyword arguments
        override single env_config entries.
        """
        if not self.members:
            raise ConfigError("cannot cross-play an empty population")
        default_env, config = eval_env_config(self.members[0].path, env_config)
        return crossplay_matrix(
            {m.name: m for m in self.members},
            env_name or default_env,
            config,
            episodes=episodes,
            seed=seed,
            deterministic=deterministic,
        )

    def rollouts(
        self,
        env: str | None = None,
        episodes: int = 10,
        seed: int = 0,
        *,
        deterministic: bool = False,
        cache_dir: PathLike | None = None,
        quiet: bool = True,
        **env_config: Any,
    ) -> PopulationRollouts:
        """Self-play rollouts of every member, cached on disk (:func:`diverse_marl.analysis.rollouts.collect_rollouts`).

        ``env`` and its config default to the first member's evaluation env; keyword arguments
        override single env_config entries.
        """
        return collect_rollouts(
            self,
            env,
            env_config,
            episodes=episodes,
            seed=seed,
            deterministic=deterministic,
            cache_dir=cache_dir,
            quiet=quiet,
        )

    def __repr__(self) -> str:
        rows = [("#", "name", "seed", "status", "return", "reward_weights")]
        for m in self.members:
            md = m.metadata
            ret = _final_return(md.get("final_metrics") or {})
            weights = ", ".join(f"{k}={_short(v)}" for k, v in (md.get("reward_weights") or {}).items())
            rows.append(
                (
                    str(m.index),
                    m.name,
                    str(md.get("seed", "")),
                    str(md.get("status", "")),
                    "" if ret is None else f"{ret:.3g}",
                    weights or "-",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
        lines = [f"Population of {len(self)} member{'s' if len(self) != 1 else ''}"]
        lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[-1] for r in rows]
        if self.skipped:
            lines.append(f"  ({len(self.skipped)} run dir(s) without a complete checkpoint skipped)")
        return "\n".join(lines)


def _final_return(metrics: dict[str, Any]) -> float | None:
    value = headline_return(metrics, default=None)
    return float(value) if isinstance(value, (int, float)) else None


def _short(v: Any) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


# ---------------------------------------------------------------------------------------
# finding members
# ---------------------------------------------------------------------------------------
def load_population(path_or_paths: PathLike | Sequence[PathLike]) -> Population:
    """A run dir, a population parent, a folder of runs, or a list of these -> :class:`Population`.

    Names are the ``population.json`` names or the run dirs' folder names, prefixed with the
    path below the given folder for nested runs; when several given paths yield the same name,
    the given path's folder name is prefixed (``popA/member_00``).
    Raises CheckpointError if a path does not exist or holds no run with a checkpoint.
    """
    paths = [path_or_paths] if isinstance(path_or_paths, (str, os.PathLike)) else list(path_or_paths)
    if not paths:
        raise ConfigError("load_population needs at least one path")
    found: list[tuple[Path, list[Member], list[tuple[str, str]]]] = []
    for p in paths:
        root = Path(p)
        if not root.exists():
            raise CheckpointError(f"population path {str(root)!r} does not exist")
        members, skipped = _collect(root, root, 0)
        if not members:
            why = f" ({len(skipped)} run dir(s) have no complete checkpoint yet)" if skipped else ""
            raise CheckpointError(
                f"{str(root)!r} holds no trained runs{why}; expected a run directory (config.yaml + "
                f"checkpoints/iter_*), a population folder with {POPULATION_FILE}, or a folder of run "
                f"directories up to {MAX_DEPTH} levels down"
            )
        found.append((root, members, skipped))
    names = [m.name for _, members, _ in found for m in members]
    clash = {n for n in names if names.count(n) > 1} if len(found) > 1 else set()
    members_out: list[Member] = []
    for root, members, _ in found:
        for m in members:
            if m.name in clash:
                m.name = f"{root.resolve().name}/{m.name}"
            members_out.append(m)
    if len(paths) > 1:  # positions in the combined population
        for i, m in enumerate(members_out):
            m.index = i
    return Population(members_out, [s for _, _, skipped in found for s in skipped])


def _collect(root: Path, d: Path, depth: int) -> tuple[list[Member], list[tuple[str, str]]]:
    """Members under ``d``: from its population.json, as a run dir itself, or from its subfolders."""
    prefix = "" if d == root else d.relative_to(root).as_posix() + "/"
    if (d / POPULATION_FILE).is_file():
        return _from_population_file(d, prefix)
    if _is_run_dir(d):
        if RunDir(d).latest_checkpoint() is None:
            return [], [(str(d), "no complete checkpoint")]
        name = prefix.rstrip("/") or d.resolve().name
        return [_member(d, name, 0)], []
    members: list[Member] = []
    skipped: list[tuple[str, str]] = []
    if depth < MAX_DEPTH:
        for sub in sorted(
            p for p in d.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in _NOT_MEMBERS
        ):
            m, s = _collect(root, sub, depth + 1)
            members += m
            skipped += s
    for i, m in enumerate(members):
        m.index = i
    return members, skipped


def _is_run_dir(d: Path) -> bool:
    return (d / "config.yaml").is_file() and (d / "checkpoints").is_dir()


def _from_population_file(parent: Path, prefix: str) -> tuple[list[Member], list[tuple[str, str]]]:
    try:
        entries = json.loads((parent / POPULATION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{str(parent / POPULATION_FILE)!r} is corrupt: {exc}") from None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise CheckpointError(f"{str(parent / POPULATION_FILE)!r} must hold a list of member entries")
    members: list[Member] = []
    skipped: list[tuple[str, str]] = []
    for pos, entry in enumerate(entries):
        index = int(entry.get("index", entry.get("member", pos)))
        run = parent / str(entry.get("run_dir") or f"member_{index:02d}")
        if not run.resolve().is_relative_to(parent.resolve()):
            raise CheckpointError(
                f"{str(parent / POPULATION_FILE)!r}: member {index} points outside the "
                f"population folder ({entry.get('run_dir')!r})"
            )
        if not _is_run_dir(run) or RunDir(run).latest_checkpoint() is None:
            skipped.append((str(run), "no complete checkpoint"))
            continue
        name = prefix + str(entry.get("name") or run.name)
        extra = {"entry": entry, "overrides": entry.get("overrides", {})}
        if entry.get("status"):
            extra["status"] = entry["status"]
        if entry.get("reward_weights") is not None:
            extra["reward_weights"] = entry["reward_weights"]
        members.append(_member(run, name, index, extra))
    return members, skipped


def _member(run: Path, name: str, index: int, extra: dict[str, Any] | None = None) -> Member:
    """A member with metadata read from its run dir (config.yaml, metrics) plus ``extra``."""
    try:
        config = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise CheckpointError(f"{str(run / 'config.yaml')!r} is unreadable: {exc}") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{str(run / 'config.yaml')!r} must hold a mapping")
    rows = RunDir(run).read_metrics()
    env_config = dict(config.get("env_config") or {})
    metadata: dict[str, Any] = {
        "index": index,
        "config": config,
        "algorithm": config.get("algorithm"),
        "env": config.get("env"),
        "env_config": env_config,
        "seed": config.get("seed"),
        "reward_weights": dict(env_config.get("reward_weights") or {}),
        "final_metrics": rows[-1] if rows else {},
        "status": "finished" if _finished(config, rows) else "unfinished",
    }
    metadata.update(extra or {})
    return Member(name=name, path=run, index=index, metadata=metadata)


def _finished(config: dict[str, Any], rows: list[dict[str, Any]]) -> bool:
    """Whether the last metrics row reached one of the run's stop limits."""
    if not rows:
        return False
    stop, last = config.get("stop") or {}, rows[-1]
    limits = (("iterations", "iteration"), ("env_steps", "env_steps"), ("time_s", "time_s"))
    return any(stop.get(k) is not None and float(last.get(col, 0)) >= float(stop[k]) for k, col in limits)
