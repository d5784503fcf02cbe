"""Reply -> action index: structured JSON first, then leniently from free text.

1. JSON: the reply (or the first ``{...}`` in it, e.g. inside a code fence) is an object whose
   ``action`` holds an action name (any case; spaces, dashes and underscores alike) or index.
2. Lenient: ``action: NAME`` / ``action is NAME`` anywhere; else the single action name the text
   mentions; else a reply that is just an index.
Anything else is unparseable (``None``): the agent plays its fallback action and counts it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

_OBJECT = re.compile(r"\{.*?\}", re.DOTALL)
JSON, LENIENT = "json", "lenient"


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-]+", "_", text.strip().lower())


def _lookup(value: object, names: Sequence[str]) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < len(names) else None
    if isinstance(value, str):
        key = _norm(value)
        normed = [_norm(n) for n in names]
        if key in normed:
            return normed.index(key)
        if key.isdigit():
            return _lookup(int(key), names)
    return None


def _from_json(reply: str, names: Sequence[str]) -> int | None:
    candidates = [reply.strip()] + _OBJECT.findall(reply)
    for text in candidates:
        try:
            data = json.loads(text)
        except ValueError:
            continue
        if isinstance(data, dict):
            value = next((v for k, v in data.items() if str(k).lower() == "action"), None)
            found = _lookup(value, names)
            if found is not None:
                return found
    return None


def _name_pattern(names: Sequence[str]) -> str:
    alts = sorted((re.escape(n).replace(r"\_", "[ _-]?").replace("_", "[ _-]?") for n in names), key=len, reverse=True)
    return r"(?<![\w])(" + "|".join(alts) + r")(?![\w])"


def _lenient(reply: str, names: Sequence[str]) -> int | None:
    pattern = _name_pattern(names)
    m = re.search(r"action\W{0,5}(?:is\W{0,3}|=\W{0,3})?" + pattern, reply, re.IGNORECASE)
    if m:
        return _lookup(m.group(1), names)
    mentioned = {_lookup(m.group(1), names) for m in re.finditer(pattern, reply, re.IGNORECASE)}
    mentioned.discard(None)
    if len(mentioned) == 1:
        return mentioned.pop()
    bare = reply.strip().strip(".").strip()
    return _lookup(int(bare), names) if bare.isdigit() else None


def parse_action(reply: str, names: Sequence[str]) -> tuple[int, str] | None:
    """``(action index, "json" | "lenient")``, or None if the reply names no action."""
    if not isinstance(reply, str) or not reply.strip():
        return None
    found = _from_json(reply, names)
    if found is not None:
        return found, JSON
    found = _lenient(reply, names)
    return (found, LENIENT) if found is not None else None
