"""Per-agent LLM metrics: requests, retries, errors by kind, latency percentiles, tokens, cache, fallbacks.

Thread-safe (requests of one agent run on a thread pool). ``summary()`` is what lands in
``eval.json`` under ``agent_metrics`` and in benchmark tables.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import numpy as np

PERCENTILES = (50, 90, 99)


class LLMMetrics:
    """Counters of one agent; ``record_*`` from any thread, ``summary()`` for reports."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.decisions = 0  # actions chosen (one per row and step)
        self.requests = 0  # HTTP attempts sent (retries included)
        self.retries = 0
        self.cache_hits = 0
        self.deduplicated = 0  # rows answered by an identical request of the same step
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.latencies: list[float] = []  # seconds, successful requests
        self.errors: Counter[str] = Counter()  # failed attempts by kind (timeout, server_error, ...)
        self.fallbacks: Counter[str] = Counter()  # fallback actions by reason (unparseable, illegal, request_failed)
        self.parsed: Counter[str] = Counter()  # replies parsed by way: json, lenient
        self.in_flight = 0
        self.max_in_flight = 0

    def start_request(self) -> None:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end_request(
        self,
        latency_s: float | None,
        error: str | None = None,
        retry: bool = False,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
    ) -> None:
        with self._lock:
            self.in_flight -= 1
            if error is None:
                self.latencies.append(latency_s or 0.0)
                self.prompt_tokens += prompt_tokens
                self.completion_tokens += completion_tokens
            else:
                self.errors[error] += 1
            if retry:
                self.retries += 1

    def record(
        self,
        *,
        decisions: int = 0,
        cache_hits: int = 0,
        deduplicated: int = 0,
        fallback: str | None = None,
        parsed: str | None = None,
    ) -> None:
        with self._lock:
            self.decisions += decisions
            self.cache_hits += cache_hits
            self.deduplicated += deduplicated
            if fallback:
                self.fallbacks[fallback] += 1
            if parsed:
                self.parsed[parsed] += 1

    def summary(self) -> dict[str, Any]:
        with self._lock:
            lat = np.asarray(self.latencies, dtype=np.float64)
            latency = {f"p{q}": float(np.percentile(lat, q)) for q in PERCENTILES} if lat.size else {}
            if lat.size:
                latency.update(mean=float(lat.mean()), max=float(lat.max()))
            return {
                "decisions": self.decisions,
                "requests": self.requests,
                "retries": self.retries,
                "cache_hits": self.cache_hits,
                "deduplicated": self.deduplicated,
                "fallbacks": int(sum(self.fallbacks.values())),
                "fallback_reasons": dict(self.fallbacks),
                "errors": dict(self.errors),
                "parsed": dict(self.parsed),
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "latency_s": latency,
                "max_in_flight": self.max_in_flight,
            }
