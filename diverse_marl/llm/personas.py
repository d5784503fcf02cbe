"""Prompted personas as a population: one LLM config, several strategy hints, one member each.

    pop = persona_population("examples/llm/overcooked.yaml")          # its personas: block
    result = crossplay_matrix({m.name: m for m in pop}, "overcooked", {"layout": "cramped_room"})

Members look like trained ones to cross-play and analysis (``name``, ``index``, ``metadata``,
``policy(agent)``), so prompted strategies are clustered and compared like any other; mix them
with RL members in one :class:`~diverse_marl.population.Population`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diverse_marl.errors import ConfigError
from diverse_marl.llm.agent import LLMAgent
from diverse_marl.llm.config import LLMConfig, load_llm_config
from diverse_marl.population import Population


@dataclass
class PersonaMember:
    """One prompted persona; ``policy(agent)`` is its LLMAgent (one per member, it reads its seat from the text)."""

    name: str
    config: LLMConfig
    index: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    _agent: LLMAgent | None = field(default=None, init=False, repr=False, compare=False)

    def policy(self, agent: str | None = None, seed: int | None = None) -> LLMAgent:
        if self._agent is None:
            self._agent = LLMAgent(self.config, seed=seed)
        return self._agent


def persona_population(
    config: str | os.PathLike | Mapping[str, Any] | LLMConfig, personas: Mapping[str, str] | None = None
):
    """A :class:`~diverse_marl.population.Population` of personas (name -> strategy hint).

    ``personas`` default to the config's ``personas:`` block.
    """
    base = load_llm_config(config)
    personas = dict(personas if personas is not None else base.extra.get("personas") or {})
    if not personas:
        raise ConfigError(
            "persona_population needs personas: a mapping name -> strategy hint (argument or the "
            "config's personas: block)"
        )
    members = []
    for index, (name, hint) in enumerate(personas.items()):
        if not isinstance(hint, str):
            raise ConfigError(f"persona {name!r} must be a text hint, got {type(hint).__name__}")
        cfg = base.with_(persona=hint, name=str(name))
        members.append(
            PersonaMember(str(name), cfg, index, {"persona": hint, "algorithm": "llm", "llm": cfg.to_dict()})
        )
    return Population(members)


def llm_players(config: str | os.PathLike | Mapping[str, Any] | LLMConfig) -> dict[str, Any]:
    """Cross-play players of one LLM config: its personas if it has a ``personas:`` block, else one agent."""
    base = load_llm_config(config)
    if base.extra.get("personas"):
        return {m.name: m for m in persona_population(base)}
    return {base.display_name: PersonaMember(base.display_name, base, 0, {"persona": base.persona, "algorithm": "llm"})}
