"""``LLMConfig``: everything an LLM-backed agent needs, from YAML or a dict.

    llm:                                   # (the block may also be the whole file)
      base_url: http://localhost:11434/v1  # any OpenAI-compatible server: Ollama, llama.cpp, vLLM, OpenAI
      model: qwen2.5:7b-instruct
      persona: "You only fetch onions and put them in pots; leave dishes and serving to your partner."
      cache_dir: runs/llm_cache            # replies on disk: re-runs are free and identical

Unknown keys are errors with a did-you-mean; see :data:`FIELD_DOCS` for every key.
"""

from __future__ import annotations

import os
import string
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from diverse_marl.errors import ConfigError, did_you_mean

DEFAULT_SYSTEM_PROMPT = (
    "You control one agent in a multi-agent game. Each turn you get the game state as text and choose "
    'exactly one of the listed actions. Answer with a JSON object only, like {"action": "NAME"}.'
)
DEFAULT_TEMPLATE = (
    "{persona_line}{observation}\n\n{memory}Choose your next action. Reply with JSON only: "
    '{{"action": "<one of: {action_names}>"}}'
)
TEMPLATE_FIELDS = ("persona_line", "persona", "observation", "memory", "action_names", "agent", "step", "horizon")
NO_KEY = "no-key"  # local servers (Ollama, llama.cpp, vLLM) ignore the key, but the client needs one

FIELD_DOCS = {
    "base_url": "OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 (Ollama) "
    "or http://localhost:8000/v1 (vLLM)",
    "model": "model name as the server knows it",
    "api_key_env": "name of the environment variable holding the API key (unset: no key, fine for local servers)",
    "temperature": "sampling temperature (0: greedy, the most reproducible)",
    "max_tokens": "cap on the reply length in tokens",
    "timeout_s": "seconds before a request counts as timed out",
    "retries": "extra attempts after a timeout, connection error, 429 or 5xx (the client's own retries are off)",
    "backoff_s": "wait before the first retry; doubled at each further retry",
    "backoff_max_s": "cap on the wait between retries",
    "concurrency": "requests in flight at once for this agent (all rows of parallel episodes share it)",
    "cache_dir": "folder of the on-disk reply cache keyed by model, messages and settings (null: no cache)",
    "fallback_action": "action (name or index) played when a reply cannot be parsed or the request failed; "
    "null: 'stay' or 'noop' if the env has it, else action 0",
    "system_prompt": "system message",
    "persona": "strategy hint or persona, e.g. 'only fetch onions' (empty: none)",
    "memory_steps": "how many of the agent's own past steps (step, action) are repeated in the prompt",
    "prompt_template": "user message template; fields: " + ", ".join(TEMPLATE_FIELDS),
    "json_mode": "ask the server for a JSON object (response_format json_object); not every server supports it",
    "seed": "sampling seed sent to the server (part of the cache key); null: none",
    "name": "a name for reports (default: the model, plus the persona's first words)",
}


@dataclass(frozen=True)
class LLMConfig:
    """Settings of one LLM agent (see :data:`FIELD_DOCS`)."""

    base_url: str
    model: str
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 0.0
    max_tokens: int = 64
    timeout_s: float = 30.0
    retries: int = 2
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    concurrency: int = 4
    cache_dir: str | None = None
    fallback_action: str | int | None = None
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    persona: str = ""
    memory_steps: int = 3
    prompt_template: str = DEFAULT_TEMPLATE
    json_mode: bool = False
    seed: int | None = None
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)  # keys kept for the caller (e.g. personas)

    def __post_init__(self) -> None:
        for key in ("base_url", "model"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key):
                raise ConfigError(f"llm.{key} must be a non-empty string ({FIELD_DOCS[key]})")
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"llm.base_url {self.base_url!r} must start with http:// or https://")
        _check_number("temperature", self.temperature, 0.0)
        _check_number("timeout_s", self.timeout_s, 1e-3)
        _check_number("backoff_s", self.backoff_s, 0.0)
        _check_number("backoff_max_s", self.backoff_max_s, 0.0)
        for key, lo in (("max_tokens", 1), ("retries", 0), ("concurrency", 1), ("memory_steps", 0)):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < lo:
                raise ConfigError(f"llm.{key} must be an integer >= {lo}, got {value!r}")
        check_template(self.prompt_template)

    @property
    def api_key(self) -> str:
        return os.environ.get(self.api_key_env) or NO_KEY

    @property
    def display_name(self) -> str:
        if self.name:
            return self.name
        words = self.persona.split()[:4]
        return self.model + (f" ({' '.join(words)}...)" if words else "")

    def settings(self) -> dict[str, Any]:
        """What, besides the messages, decides a reply: part of the cache key."""
        return {"temperature": self.temperature, "max_tokens": self.max_tokens, "json_mode": self.json_mode}

    def with_(self, **changes: Any) -> LLMConfig:
        """A copy with some fields changed (e.g. ``persona``), checked like a new config."""
        _check_keys(changes)
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The settings, without the API key's value (safe to write into reports)."""
        out = asdict(self)
        out.pop("extra")
        return out


def _check_number(key: str, value: Any, lo: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < lo:
        raise ConfigError(f"llm.{key} must be a number >= {lo}, got {value!r}")


def check_template(template: str) -> None:
    """The template may use only :data:`TEMPLATE_FIELDS` and must include ``{observation}``."""
    try:
        used = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ConfigError(f"llm.prompt_template is malformed ({exc}); write literal braces as {{{{ and }}}}") from None
    unknown = sorted(used - set(TEMPLATE_FIELDS))
    if unknown:
        raise ConfigError(
            f"llm.prompt_template uses unknown field {{{unknown[0]}}}; allowed: "
            + ", ".join(f"{{{f}}}" for f in TEMPLATE_FIELDS)
        )
    if "observation" not in used:
        raise ConfigError("llm.prompt_template must include {observation} (the game state as text)")


_KNOWN = tuple(f.name for f in fields(LLMConfig) if f.name != "extra")
EXTRA_KEYS = ("personas",)  # read by persona_population, not by the agent


def _check_keys(data: Mapping[str, Any]) -> None:
    for key in data:
        if key not in _KNOWN:
            did = did_you_mean(key, _KNOWN)
            raise ConfigError(f"unknown llm config key {key!r}{did}; allowed: {', '.join(_KNOWN + EXTRA_KEYS)}")


def load_llm_config(source: str | os.PathLike | Mapping[str, Any] | LLMConfig, **overrides: Any) -> LLMConfig:
    """A YAML file (top level or an ``llm:`` block), a dict or an LLMConfig -> a checked LLMConfig."""
    if isinstance(source, LLMConfig):
        return source.with_(**overrides) if overrides else source
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"LLM config {str(path)!r} does not exist")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"LLM config {str(path)!r} is not valid YAML: {exc}") from None
    else:
        data = source
    if not isinstance(data, Mapping):
        raise ConfigError(f"an LLM config must be a mapping of settings, got {type(data).__name__}")
    if "llm" in data:  # a file with an llm: block (other top-level keys are the file's own business)
        if not isinstance(data["llm"], Mapping):
            raise ConfigError("the 'llm:' block of an LLM config must be a mapping of settings")
        data = data["llm"]
    data = dict(data)
    extra = {k: data.pop(k) for k in EXTRA_KEYS if k in data}
    data.update(overrides)
    _check_keys(data)
    missing = [k for k in ("base_url", "model") if k not in data]
    if missing:
        raise ConfigError(f"LLM config needs {' and '.join(missing)} ({FIELD_DOCS[missing[0]]})")
    return LLMConfig(**data, extra=extra)
