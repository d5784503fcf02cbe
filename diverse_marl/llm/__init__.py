"""LLM-backed agents (optional extra: ``pip install diverse-marl[llm]``).

An :class:`LLMAgent` plays any seat of an env with a text view (Overcooked, hide-and-seek)
through an OpenAI-compatible chat endpoint, beside RL policies, scripted and BC agents:

    diverse-marl eval runs/overcooked-... --seat agent_1=llm:examples/llm/overcooked.yaml

Modules: ``config`` (LLMConfig from YAML), ``client`` (requests, retries, backoff), ``cache``
(on-disk replies), ``parse`` (reply -> action), ``agent`` (LLMAgent), ``metrics``, ``personas``
(prompted personas as a population). ``openai`` is imported only when an agent is built.
"""

from __future__ import annotations

from diverse_marl.llm.agent import LLMAgent
from diverse_marl.llm.client import LLMError
from diverse_marl.llm.config import LLMConfig, load_llm_config
from diverse_marl.llm.personas import PersonaMember, llm_players, persona_population

SEAT_PREFIX = "llm:"

__all__ = [
    "LLMAgent",
    "LLMConfig",
    "LLMError",
    "PersonaMember",
    "load_llm_config",
    "llm_players",
    "persona_population",
    "SEAT_PREFIX",
]
