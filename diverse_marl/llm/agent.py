"""``LLMAgent``: an Agent that plays by asking a chat model, one request per row and step.

Each step, every row of the batch (one seat of one parallel episode) becomes a prompt: the
system prompt, then the template filled with the persona, the env's text view and the row's
memory (its last ``memory_steps`` actions). Identical prompts of a step are sent once; replies
come from the on-disk cache when present, else from the server on a thread pool of
``concurrency`` workers, so the rows of parallel episodes are in flight together up to the limit.
A reply is parsed (JSON, then lenient; :mod:`diverse_marl.llm.parse`); an unparseable reply, an
illegal action or a request that failed after its retries plays the fallback action, and is
counted (:mod:`diverse_marl.llm.metrics`).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from diverse_marl.agents import TextObservation
from diverse_marl.errors import ConfigError
from diverse_marl.llm.cache import ResponseCache, cache_key
from diverse_marl.llm.client import ChatClient, RequestFailed
from diverse_marl.llm.config import LLMConfig, load_llm_config
from diverse_marl.llm.metrics import LLMMetrics
from diverse_marl.llm.parse import parse_action

DEFAULT_FALLBACKS = ("stay", "noop")  # the do-nothing action of Overcooked / hide-and-seek
UNPARSEABLE, ILLEGAL, REQUEST_FAILED = "unparseable", "illegal", "request_failed"


class LLMAgent:
    """An Agent backed by an OpenAI-compatible chat endpoint (reads the env's text view).

    ``LLMAgent("examples/llm/overcooked.yaml")``, ``LLMAgent({"base_url": ..., "model": ...})``
    or ``LLMAgent(config, persona="only serve")``. ``metrics()`` reports requests, latencies,
    tokens, cache hits and fallbacks; ``close()`` frees the thread pool and the HTTP client.
    """

    reads_text = True

    def __init__(
        self, config: str | os.PathLike | Mapping[str, Any] | LLMConfig, seed: int | None = None, **overrides: Any
    ) -> None:
        self.config = load_llm_config(config, **overrides)
        self.name = self.config.display_name
        self.stats = LLMMetrics()
        self.cache = ResponseCache(self.config.cache_dir) if self.config.cache_dir else None
        self.client = ChatClient(self.config, self.stats)
        self._pool: ThreadPoolExecutor | None = None
        self._memory: dict[int, deque[str]] = {}
        self._seed = seed

    # ---- the Agent protocol -------------------------------------------------------------
    def reset(self, seed: int | None = None) -> None:
        self._memory = {}
        if seed is not None:
            self._seed = seed

    def act(self, obs: Any, text: TextObservation | None = None) -> int:
        return int(self.act_batch(None, [text])[0])

    def act_batch(self, obs: Any, texts: Sequence[TextObservation | None] | None = None) -> np.ndarray:
        """One action per row; rows with ``None`` (finished episodes) get the fallback without a request."""
        if texts is None:
            raise ConfigError(
                "LLMAgent reads the env's text view: play it through diverse_marl's rollouts "
                "(eval, crossplay, play_batched) or pass texts=[TextObservation, ...]"
            )
        actions = np.zeros(len(texts), dtype=np.int64)
        prompts: dict[int, tuple[str, list[dict[str, str]], int | None]] = {}
        for i, text in enumerate(texts):
            if text is None:
                actions[i] = self._fallback(None)
                continue
            messages = self.messages(text, i)
            seed = self._request_seed(i)
            prompts[i] = (
                cache_key(self.config.model, messages, {**self.config.settings(), "seed": seed}),
                messages,
                seed,
            )
        replies = self._replies({key: (messages, seed) for key, messages, seed in prompts.values()})
        first_row: dict[str, int] = {}
        for i, (key, _, _) in prompts.items():
            duplicate = key in first_row
            first_row.setdefault(key, i)
            reply, cached = replies[key]
            actions[i] = self._decide(i, texts[i], reply, cached and not duplicate, duplicate)
        return actions

    # ---- prompts ------------------------------------------------------------------------
    def messages(self, text: TextObservation, row: int = 0) -> list[dict[str, str]]:
        """The chat messages for one row: system prompt and the filled template."""
        cfg = self.config
        memory = self._memory.get(row)
        memory_text = f"Your last steps: {'; '.join(memory)}.\n\n" if memory else ""
        user = cfg.prompt_template.format(
            persona_line=f"Your strategy: {cfg.persona}\n\n" if cfg.persona else "",
            persona=cfg.persona,
            observation=text.text,
            memory=memory_text,
            action_names=", ".join(text.actions),
            agent=text.agent,
            step=text.step,
            horizon=text.horizon,
        )
        return [{"role": "system", "content": cfg.system_prompt}, {"role": "user", "content": user}]

    def _request_seed(self, row: int) -> int | None:
        if self.config.seed is None:
            return None
        return int(np.random.SeedSequence([self.config.seed, self._seed or 0, row]).generate_state(1)[0] % 2**31)

    # ---- requests -----------------------------------------------------------------------
    def _replies(
        self, unique: dict[str, tuple[list[dict[str, str]], int | None]]
    ) -> dict[str, tuple[str | RequestFailed, bool]]:
        """key -> (reply text or the failure, whether it came from the cache)."""
        out: dict[str, tuple[str | RequestFailed, bool]] = {}
        missing = []
        for key in unique:
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                out[key] = (hit["content"], True)
            else:
                missing.append(key)
        if not missing:
            return out
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.config.concurrency, thread_name_prefix="llm")
        futures = {key: self._pool.submit(self._fetch, key, *unique[key]) for key in missing}
        for key, future in futures.items():
            out[key] = (future.result(), False)  # LLMError (fatal) propagates from here
        return out

    def _fetch(self, key: str, messages: list[dict[str, str]], seed: int | None) -> str | RequestFailed:
        try:
            done = self.client.complete(messages, seed)
        except RequestFailed as failed:
            return failed  # not cached: a later run asks again
        if self.cache is not None:
            self.cache.put(
                key,
                {
                    "content": done.content,
                    "model": self.config.model,
                    "usage": {"prompt_tokens": done.prompt_tokens, "completion_tokens": done.completion_tokens},
                },
            )
        return done.content

    # ---- decisions ----------------------------------------------------------------------
    def _decide(
        self, row: int, text: TextObservation, reply: str | RequestFailed, cache_hit: bool, duplicate: bool
    ) -> int:
        fallback, parsed = None, None
        if isinstance(reply, RequestFailed):
            fallback = REQUEST_FAILED
        else:
            found = parse_action(reply, text.actions)
            if found is None:
                fallback = UNPARSEABLE
            elif text.legal is not None and not text.legal[found[0]]:
                fallback = ILLEGAL
            else:
                action, parsed = found
        if fallback is not None:
            action = self._fallback(text)
        self.stats.record(
            decisions=1, cache_hits=int(cache_hit), deduplicated=int(duplicate), fallback=fallback, parsed=parsed
        )
        memory = self._memory.setdefault(row, deque(maxlen=self.config.memory_steps))
        if self.config.memory_steps:
            memory.append(f"step {text.step}: {text.actions[action]}" + (" (fallback)" if fallback else ""))
        return int(action)

    def _fallback(self, text: TextObservation | None) -> int:
        choice = self.config.fallback_action
        if text is None:
            return choice if isinstance(choice, int) else 0
        names = text.actions
        if choice is None:
            return next((names.index(n) for n in DEFAULT_FALLBACKS if n in names), 0)
        if isinstance(choice, int) and not isinstance(choice, bool) and 0 <= choice < len(names):
            return choice
        if isinstance(choice, str) and choice in names:
            return names.index(choice)
        raise ConfigError(
            f"llm.fallback_action {choice!r} is not an action of this env; allowed: "
            + ", ".join(f"{k}={n}" for k, n in enumerate(names))
        )

    # ---- reporting ----------------------------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        """Requests, retries, errors, latency percentiles, tokens, cache hits and fallbacks so far."""
        return {"name": self.name, "model": self.config.model, "base_url": self.config.base_url, **self.stats.summary()}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.client.close()

    def __repr__(self) -> str:
        return f"LLMAgent({self.name!r}, base_url={self.config.base_url!r})"
