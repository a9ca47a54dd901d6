"""Flow Service listing conventions: ``property`` filters, ``orderby``, ``limit`` and continuation tokens."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from typing import Any

from aep_emulator.errors import bad_request

_FILTER = re.compile(r"^(?P<path>[A-Za-z_][\w.]*)\s*(?P<op>==|!=|>=|<=|>|<)\s*(?P<value>.*)$")
_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_DIGITS = re.compile(r"[0-9]{1,9}")
MAX_LIMIT = 100


def parse_filters(expressions: Iterable[str]) -> list[tuple[str, str, list[str]]]:
    parsed = []
    for expression in expressions:
        match = _FILTER.match(expression.strip())
        if not match:
            raise bad_request(f"property filter {expression!r} is not of the form <path><op><value>")
        parsed.append((match["path"], match["op"], match["value"].split(",")))
    return parsed


def lookup(item: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(item, dict):
            return None
        item = item.get(key)
    return item


def _compare(actual: Any, op: str, wanted: str) -> bool:
    if actual is None:
        return op == "!=" and wanted not in ("", "null")
    if isinstance(actual, bool):
        actual = str(actual).lower()
    if isinstance(actual, (int, float)):
        try:
            number = float(wanted)
        except ValueError:
            return False
        return {
            "==": actual == number,
            "!=": actual != number,
            ">": actual > number,
            "<": actual < number,
            ">=": actual >= number,
            "<=": actual <= number,
        }[op]
    # Statuses come as success/Success/inProgress: string comparison ignores case.
    left, right = str(actual).lower(), wanted.lower()
    return {
        "==": left == right,
        "!=": left != right,
        ">": left > right,
        "<": left < right,
        ">=": left >= right,
        "<=": left <= right,
    }[op]


def matches(item: dict[str, Any], filters: Sequence[tuple[str, str, list[str]]]) -> bool:
    """Repeated filters AND together; comma-separated values OR together."""
    for path, op, values in filters:
        actual = lookup(item, path)
        if op == "!=":
            if not all(_compare(actual, op, v) for v in values):
                return False
        elif not any(_compare(actual, op, v) for v in values):
            return False
    return True


def order(
    items: list[dict[str, Any]], orderby: str | None, default: str = "-createdAt"
) -> list[dict[str, Any]]:
    """Items sorted by a field (``name``, ``-createdAt``); objects, arrays and unknown fields are a 400."""
    key = orderby or default
    descending = key.startswith("-")
    field = key.lstrip("+-")
    if not _FIELD.fullmatch(field):
        raise bad_request(f"orderby {orderby!r} is not a field name, such as name or -createdAt")
    top = field.split(".")[0]
    if items and not any(top in i for i in items):
        raise bad_request(f"orderby {orderby!r}: {top!r} is not a field of these entities")
    values = [lookup(i, field) for i in items]
    if any(not _sortable(v) for v in values):
        raise bad_request(f"orderby {orderby!r}: {field!r} is an object or an array, not a sortable value")
    # The id breaks ties, so pages stay stable for entities created in the same millisecond.
    return sorted(
        items,
        key=lambda i: (*_rank(lookup(i, field)), str(i.get("id", ""))),
        reverse=descending,
    )


def _sortable(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float))


def _rank(value: Any) -> tuple[int, Any]:
    """A total order over mixed scalars: numbers, then text, then missing values."""
    if isinstance(value, bool):
        return (1, str(value).lower())
    if isinstance(value, (int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, 0)


def parse_limit(raw: str | None) -> int | None:
    """``limit`` as AEP reads it: absent, or a whole number from 1 to MAX_LIMIT."""
    if raw is None:
        return None
    if not _DIGITS.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise bad_request(f"limit {raw[:40]!r} must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def page(
    items: list[dict[str, Any]],
    *,
    limit: int | None,
    token: str | None,
    default_size: int,
    base_path: str,
    query: list[tuple[str, str]],
) -> dict[str, Any]:
    """One page and, when more remain, ``_links.next`` with a continuation token."""
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise bad_request(f"limit {limit} is out of range: 1 to {MAX_LIMIT}")
    size = limit or default_size
    start = _decode(token) if token else 0
    chunk = items[start : start + size]
    body: dict[str, Any] = {"items": chunk, "_links": {}}
    if start + size < len(items):
        next_token = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode()
        kept = "&".join(f"{k}={v}" for k, v in query if k != "continuationToken")
        body["_links"]["next"] = {
            "href": f"{base_path}?{kept + '&' if kept else ''}continuationToken={next_token}"
        }
    return body


def _decode(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    offset = text.removeprefix("offset:")
    if not text.startswith("offset:") or not _DIGITS.fullmatch(offset):
        raise bad_request(f"continuationToken {token[:80]!r} is not valid")
    return int(offset)
