"""Population members that are not trained runs: scripted or other agents given by import path.

A :class:`FactoryMember` plays like a run-dir member (``policy(agent)``) but builds its player
from ``"pkg.module:factory"`` (the partners / ``--seat`` convention: called with the keywords it
accepts among ``seat``, ``env_config`` and ``seed``). :func:`build_population` mixes them with
run dirs and population folders, so scripted roles, RL members and LLM agents are analysed alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from diverse_marl.crossplay import seat_player
from diverse_marl.errors import ConfigError
from diverse_marl.partners import is_factory_path
from diverse_marl.population import Population, load_population

NAME_SEP = "="  # "name=pkg.module:factory" names a factory member


@dataclass
class FactoryMember:
    """A member whose player comes from an import path; ``seed`` makes noisy copies of one factory differ."""

    name: str
    source: str
    seed: int = 0
    index: int = 0
    env_config: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    path: None = None  # no run directory: nothing on disk to cache rollouts next to

    def policy(self, agent: str | None = None, seed: int | None = None) -> Any:
        """A fresh player for ``agent``'s seat (agents keep per-seat state, so one per seat)."""
        return seat_player(
            self.source,
            agent or "",
            num_actions=0,
            env_config=self.env_config,
            seed=self.seed if seed is None else seed,
        )


def parse_member_spec(spec: str) -> tuple[str, str]:
    """``"name=pkg.module:factory"`` or ``"pkg.module:factory"`` -> (name, source)."""
    name, sep, source = spec.partition(NAME_SEP)
    if not sep:
        name, source = spec.rpartition(":")[2], spec
    return name, source


def is_member_factory(spec: str) -> bool:
    return is_factory_path(parse_member_spec(str(spec))[1])


def build_population(
    sources: Sequence[str | os.PathLike], env_config: Mapping[str, Any] | None = None, copies: int = 1, seed: int = 0
) -> Population:
    """``[name=]`` run dirs, population folders and ``pkg.module:factory`` entries -> one Population.

    Each factory entry gives ``copies`` members (``name#0``, ``name#1``, ... seeded ``seed + k``;
    just ``name`` when ``copies`` is 1).
    """
    if copies < 1:
        raise ConfigError(f"copies must be >= 1, got {copies}")
    members: list[Any] = []
    for source in (str(s) for s in sources if not is_member_factory(str(s))):
        name, sep, path = source.partition(NAME_SEP)
        if not (sep and os.path.exists(path)) or os.path.exists(source):
            name, path = "", source
        found = list(load_population(path))
        for m in found:  # "name=RUN_DIR" names a run; "name=POP_DIR" prefixes its members
            m.name = (name if len(found) == 1 else f"{name}/{m.name}") if name else m.name
        members += found
    for spec in (str(s) for s in sources if is_member_factory(str(s))):
        name, source = parse_member_spec(spec)
        for k in range(copies):
            member_name = name if copies == 1 else f"{name}#{k}"
            members.append(
                FactoryMember(
                    member_name,
                    source,
                    seed + k,
                    len(members),
                    dict(env_config or {}),
                    {"source": source, "seed": seed + k, "group": name},
                )
            )
    if not members:
        raise ConfigError("no population members given; pass run dirs, population folders or pkg.module:factory")
    for i, m in enumerate(members):
        m.index = i
    return Population(members)
