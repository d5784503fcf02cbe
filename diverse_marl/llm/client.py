"""Chat completions through the official ``openai`` client, with our own retries and backoff.

The client's built-in retries are off (``max_retries=0``) so every attempt is counted here.
Timeouts, connection errors, 429 and 5xx are retried ``retries`` times with exponential backoff
(``backoff_s``, doubled each time, capped at ``backoff_max_s``); a reply that is not a chat
completion (garbage body, no choices) is retried the same way. Other 4xx (bad key, unknown model)
stop the run with one :class:`LLMError`: every further request would fail the same way.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from diverse_marl.errors import ConfigError, DiverseMarlError
from diverse_marl.llm.config import LLMConfig
from diverse_marl.llm.metrics import LLMMetrics

INSTALL_HINT = "LLM agents need the openai client: pip install diverse-marl[llm]"


class LLMError(DiverseMarlError):
    """The LLM server refused the requests (bad key, unknown model, bad request)."""


class RequestFailed(Exception):
    """All attempts of one request failed; ``kind`` is the last error kind."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind


@dataclass(frozen=True)
class Completion:
    content: str
    prompt_tokens: int
    completion_tokens: int


def import_openai() -> Any:
    try:
        import openai  # the optional llm extra: only when an LLM agent is built
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return openai


def classify(exc: BaseException, openai: Any) -> tuple[str, bool]:
    """(error kind, retryable) of an exception raised by the client."""
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", True
    if isinstance(exc, openai.APIConnectionError):
        return "connection", True
    if isinstance(exc, openai.RateLimitError):
        return "rate_limit", True
    if isinstance(exc, openai.APIStatusError):
        status = int(getattr(exc, "status_code", 0) or 0)
        return ("server_error", True) if status >= 500 else (f"http_{status}", False)
    if isinstance(
        exc, (openai.APIResponseValidationError, ValueError, AttributeError, TypeError, KeyError, IndexError)
    ):
        return "bad_response", True
    return type(exc).__name__, False


class ChatClient:
    """``complete(messages) -> Completion`` for one config; thread-safe (one shared HTTP client)."""

    def __init__(self, config: LLMConfig, metrics: LLMMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self._openai = import_openai()
        self._client = self._openai.OpenAI(
            base_url=config.base_url, api_key=config.api_key, timeout=config.timeout_s, max_retries=0
        )

    def _request(self, messages: Sequence[dict[str, str]], seed: int | None) -> Completion:
        cfg = self.config
        kwargs: dict[str, Any] = {
            "model": cfg.model,
            "messages": list(messages),
            "temperature": cfg.temperature,
            "max_tokens": cfg.max_tokens,
        }
        if cfg.json_mode:
            kwargs["response_format"] = {"type": "json_object"}
        if seed is not None:
            kwargs["seed"] = int(seed)
        reply = self._client.chat.completions.create(**kwargs)
        content = reply.choices[0].message.content
        if not isinstance(content, str):
            raise ValueError("the reply has no message content")
        usage = getattr(reply, "usage", None)
        return Completion(
            content, int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0)
        )

    def complete(self, messages: Sequence[dict[str, str]], seed: int | None = None) -> Completion:
        """One chat completion, retried on transient errors; raises RequestFailed or LLMError."""
        cfg = self.config
        for attempt in range(cfg.retries + 1):
            self.metrics.start_request()
            start = time.perf_counter()
            try:
                done = self._request(messages, seed)
            except Exception as exc:  # noqa: BLE001 - classified below; unknown kinds are not retried
                kind, retryable = classify(exc, self._openai)
                last = attempt == cfg.retries
                self.metrics.end_request(None, error=kind, retry=retryable and not last)
                if not retryable:
                    if kind.startswith("http_"):
                        raise LLMError(
                            f"LLM server {cfg.base_url} refused the request for model {cfg.model!r} "
                            f"({kind[5:]}: {_short(exc)}); check base_url, model and the key in "
                            f"${cfg.api_key_env}"
                        ) from None
                    raise RequestFailed(kind, _short(exc)) from exc
                if last:
                    raise RequestFailed(kind, _short(exc)) from exc
                time.sleep(min(cfg.backoff_s * 2**attempt, cfg.backoff_max_s))
                continue
            self.metrics.end_request(
                time.perf_counter() - start, prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens
            )
            return done
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._client.close()


def _short(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[:limit] + "..."
