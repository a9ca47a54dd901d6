"""Flow Service listing conventions: ``property`` filters, ``orderby``, ``limit`` and continuation tokens."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Sequence
from typing import Any

from airflow_provider_aep.emulator.errors import bad_request

_FILTER = re.compile(r"^(?P<path>[A-Za-z_][\w.]*)\s*(?P<op>==|!=|>=|<=|>|<)\s*(?P<value>.*)$")
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
    key = orderby or default
    descending = key.startswith("-")
    field = key.lstrip("+-")
    # The id breaks ties, so pages stay stable for entities created in the same millisecond.
    return sorted(
        items,
        key=lambda i: (lookup(i, field) is None, lookup(i, field) or 0, i.get("id", "")),
        reverse=descending,
    )


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
        return int(text.removeprefix("offset:"))
    except (ValueError, UnicodeDecodeError):
        raise bad_request(f"continuationToken {token!r} is not valid") from None
