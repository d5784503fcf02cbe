"""A real OpenAI chat-completions server on 127.0.0.1, for tests and the LLM demo.

``ChatServer`` speaks ``POST /v1/chat/completions`` over HTTP (a ``ThreadingHTTPServer`` on a free
port of the loopback interface) and answers with the OpenAI response JSON, ``usage`` included.
What it answers is scriptable:

- ``server.script(Reply(...), ...)``: replies served in order, one per request (content,
  HTTP status for 5xx/4xx, a delay to provoke client timeouts, or a raw garbage body);
- ``responder``: a function ``request body -> Reply | str`` used when the script is empty
  (default: ``{"action": "stay"}``), e.g. a rule-based stand-in for a model that reads the prompt.

It records every request body (``requests``) and the largest number of requests in flight at
once (``max_in_flight``). Use as a context manager or through the ``chat_server`` fixture.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

DEFAULT_CONTENT = '{"action": "stay"}'
PATH = "/v1/chat/completions"


@dataclass
class Reply:
    """One scripted answer: ``content`` with HTTP ``status`` after ``delay_s``; ``raw`` replaces the body."""

    content: str = DEFAULT_CONTENT
    status: int = 200
    delay_s: float = 0.0
    raw: bytes | None = None


class ChatServer:
    """Loopback chat-completions server; ``url`` is the ``base_url`` to give the client."""

    def __init__(self, responder: Callable[[dict[str, Any]], Reply | str] | None = None) -> None:
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self.max_in_flight = 0
        self._in_flight = 0
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def script(self, *replies: Reply | str) -> None:
        with self._lock:
            self._script.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def reset_records(self) -> None:
        with self._lock:
            self.requests.clear()
            self.max_in_flight = 0

    def start(self) -> ChatServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ---- serving --------------------------------------------------------------------------
    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            self.requests.append(body)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            scripted = self._script.popleft() if self._script else None
        if scripted is not None:
            return scripted
        if self.responder is not None:
            out = self.responder(body)
            return out if isinstance(out, Reply) else Reply(out)
        return Reply()

    def _done(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != PATH:
                    self._send(404, json.dumps({"error": {"message": f"no route {self.path}"}}).encode())
                    return
                body = json.loads(raw or b"{}")
                reply = server._next_reply(body)
                try:
                    if reply.delay_s:
                        time.sleep(reply.delay_s)
                    if reply.raw is not None:
                        self._send(reply.status, reply.raw)
                    elif reply.status != 200:
                        error = {"error": {"message": f"scripted status {reply.status}", "type": "server_error"}}
                        self._send(reply.status, json.dumps(error).encode())
                    else:
                        self._send(200, json.dumps(completion(body, reply.content)).encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer
                finally:
                    server._done()

        return Handler


def completion(body: dict[str, Any], content: str) -> dict[str, Any]:
    """An OpenAI chat.completion object answering ``body`` with ``content`` (token counts: words)."""
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    return {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "loopback"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(content.split()),
            "total_tokens": prompt_tokens + len(content.split()),
        },
    }


def last_user_text(body: dict[str, Any]) -> str:
    """The content of the last user message of a request body."""
    return next(m["content"] for m in reversed(body["messages"]) if m.get("role") == "user")


@pytest.fixture
def chat_server():
    with ChatServer() as server:
        yield server
