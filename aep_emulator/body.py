"""Request bodies read defensively: a size limit while streaming, and JSON with a depth limit.

Users point their own DAG tests at the emulator, so a hostile or broken body must get a 4xx,
never a 500 or an emulator that holds gigabytes in memory.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: Deeper JSON is refused: AEP's bodies nest a handful of levels, and Python's recursion
#: (``json``, ``copy.deepcopy``, the request log) gives out near a thousand.
MAX_JSON_DEPTH = 64
#: The request log keeps bodies up to this size; larger ones are noted by their length only.
LOG_BODY_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    """The request body is over the configured limit."""


class BadJSON(ValueError):
    """The body is not JSON the emulator will outcome_of; the message says why."""


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length a client declared, or None when it sent none (or nonsense)."""
    for name, value in headers:
        if name.lower() == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isascii() and text.isdigit() else None
    return None


async def read_limited(receive: Any, limit: int) -> list[dict[str, Any]]:
    """All ``http.request`` messages of a body, streamed, stopping as soon as it passes ``limit``."""
    messages: list[dict[str, Any]] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            messages.append(message)
            return messages
        size += len(message.get("body", b""))
        if size > limit:
            raise BodyTooLarge(f"the request body is larger than {limit} bytes")
        messages.append(message)
        if not message.get("more_body"):
            return messages


def parse_json(raw: bytes) -> Any:
    """The JSON value of a body (``None`` when empty); :class:`BadJSON` when it is not usable.

    Refused besides syntax errors: non-UTF-8 bytes, ``NaN``/``Infinity`` and numbers too big
    for a double (JSON has no such values, and the answer could not be rendered back), lone
    surrogates (not encodable as UTF-8), and nesting deeper than :data:`MAX_JSON_DEPTH`.
    """
    if not raw:
        return None
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:
        raise BadJSON(f"The request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as err:  # also UnicodeDecodeError: bodies must be UTF-8
        raise BadJSON(f"The request body is not valid JSON: {err}") from None
    problem = _problem(value)
    if problem:
        raise BadJSON(f"The request body {problem}")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:40]} is out of range")
    return number


def _problem(value: Any) -> str | None:
    """What makes a parsed body unusable, walking it iteratively (no recursion to run out of)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not _encodable(node):
                return "holds a string that is not valid Unicode (a lone surrogate)"
            continue
        if isinstance(node, dict):
            if any(not _encodable(key) for key in node):
                return "holds a key that is not valid Unicode (a lone surrogate)"
            children = list(node.values())
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            return f"nests deeper than {MAX_JSON_DEPTH} levels"
        stack.extend((child, depth + 1) for child in children)
    return None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
