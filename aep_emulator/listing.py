"""Flow Service listing conventions: ``property`` filters, ``orderby``, ``limit``, ``count`` and paging.

A page that has more after it links to the next as Adobe's spec shows it, relative to the Flow
Service base: ``{"_links": {"next": {"href": "/connections?limit=5&continuationToken=..."}}}``;
tokens are base64url without padding, so they need no escaping in a URL.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

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
    """Repeated filters AND together; comma-separated values OR together.

    A field that holds a list (a flow's ``sourceConnectionIds``) matches ``==`` when any of its
    elements does, and ``!=`` when none does: how AEP lists the flows that use a connection.
    """
    for path, op, values in filters:
        actual = lookup(item, path)
        if isinstance(actual, list):
            if op not in ("==", "!="):
                raise bad_request(f"property filter on the list {path!r} takes == or != only")
            hit = any(_compare(element, "==", v) for element in actual for v in values)
            if hit != (op == "=="):
                return False
            continue
        if op == "!=":
            if not all(_compare(actual, op, v) for v in values):
                return False
        elif not any(_compare(actual, op, v) for v in values):
            return False
    return True


def order(
    items: list[dict[str, Any]], orderby: str | None, default: str = "-createdAt"
) -> list[dict[str, Any]]:
    """Items sorted by fields (``name``, ``-createdAt``, ``state,-name``); objects, arrays and
    unknown fields are a 400. ``+`` (or a space: a ``+`` the query string decoded) is ascending."""
    keys = [_sort_key(k.strip(), orderby) for k in (orderby or default).split(",")]
    for _, field in keys:
        top = field.split(".")[0]
        if items and not any(top in i for i in items):
            raise bad_request(f"orderby {orderby!r}: {top!r} is not a field of these entities")
        if any(not _sortable(lookup(i, field)) for i in items):
            raise bad_request(
                f"orderby {orderby!r}: {field!r} is an object or an array, not a sortable value"
            )
    # The id breaks ties, so pages stay stable for entities created in the same millisecond;
    # then one stable sort per field, the last field first.
    ordered = sorted(items, key=lambda i: str(i.get("id", "")), reverse=keys[0][0])
    for descending, field in reversed(keys):
        ordered.sort(key=_by(field), reverse=descending)
    return ordered


def _by(field: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    return lambda item: _rank(lookup(item, field))


def _sort_key(key: str, orderby: str | None) -> tuple[bool, str]:
    """(descending, field) of one ``orderby`` entry."""
    field = key.lstrip("+-").strip()
    if not _FIELD.fullmatch(field) or len(key) - len(key.lstrip("+-")) > 1:
        raise bad_request(f"orderby {str(orderby)[:80]!r} is not a field name, such as name or -createdAt")
    return key.startswith("-"), field


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


def parse_count(raw: str | None) -> bool:
    """``count`` as the spec types it: a boolean, ``false`` when absent."""
    if raw is None or raw.lower() == "false":
        return False
    if raw.lower() == "true":
        return True
    raise bad_request(f"count {raw[:40]!r} must be true or false")


def page(
    items: list[dict[str, Any]],
    *,
    limit: int | None,
    token: str | None,
    default_size: int,
    base_path: str,
    query: list[tuple[str, str]],
    count: bool = False,
) -> dict[str, Any]:
    """One page and, when more remain, ``_links.next`` with a continuation token.

    ``base_path`` is the collection relative to the Flow Service base (``/runs``); the next link
    repeats the request's other query parameters. With ``count``, ``count`` is the number of
    items that match the request, over every page.
    """
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise bad_request(f"limit {limit} is out of range: 1 to {MAX_LIMIT}")
    size = limit or default_size
    start = _decode(token) if token else 0
    chunk = items[start : start + size]
    body: dict[str, Any] = {"items": chunk, "_links": {}}
    if count:
        body["count"] = len(items)
    if start + size < len(items):
        kept = [(k, v) for k, v in query if k != "continuationToken"]
        body["_links"]["next"] = {
            "href": f"{base_path}?{urlencode([*kept, ('continuationToken', encode_token(start + size))])}"
        }
    return body


def encode_token(offset: int) -> str:
    """A continuation token: base64url of ``offset:N`` without ``=`` padding."""
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _decode(token: str) -> int:
    bare = token.rstrip("=")
    try:
        text = base64.urlsafe_b64decode((bare + "=" * (-len(bare) % 4)).encode()).decode()
    except (ValueError, UnicodeDecodeError):
        text = ""
    offset = text.removeprefix("offset:")
    if not text.startswith("offset:") or not _DIGITS.fullmatch(offset):
        raise bad_request(f"continuationToken {token[:80]!r} is not valid")
    return int(offset)
