"""Flow Service listing conventions: ``property`` filters, ``orderby``, ``limit``, ``count`` and paging.

A page that has more after it links to the next relative to the Flow Service base, with the
continuation token as the link's only query parameter: ``{"_links": {"next": {"href":
"/flows?continuationToken=..."}}}``. The token remembers the rest of the query (filters, order,
limit, count), as AEP's does: clients that read the token as the text after the link's first
``=`` (Adobe's community Python SDK) page correctly. Tokens are base64url without padding, so
they need no escaping in a URL.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from aep_emulator.errors import bad_request

#: ``<path><op><values>``; a path step may end in ``[]`` to read into an array, as in Adobe's
#: ``inheritedAttributes.targetConnections[].connectionSpec.id==...``.
_FILTER = re.compile(r"^(?P<path>[A-Za-z_][\w.\[\]]*)\s*(?P<op>==|!=|>=|<=|>|<)\s*(?P<value>.*)$")
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
    """The value at a dotted path; a step into an array (``[]`` or not) reads every element,
    giving the list of what they hold at the rest of the path."""
    for key in path.split("."):
        key = key.removesuffix("[]")
        if isinstance(item, list):
            found = [lookup(element, key) for element in item]
            item = [v for value in found for v in (value if isinstance(value, list) else [value])]
            item = [v for v in item if v is not None] or None
            continue
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
    items: list[dict[str, Any]],
    orderby: str | None,
    default: str = "-createdAt",
    known: Collection[str] = (),
) -> list[dict[str, Any]]:
    """Items sorted by fields (``name``, ``-createdAt``, ``state,-name``); objects, arrays and
    unknown fields are a 400. ``+`` (or a space: a ``+`` the query string decoded) is ascending.
    ``known`` names fields the entities may lack yet (a flow's ``lastRunDetails`` before a run)."""
    keys = [_sort_key(k.strip(), orderby) for k in (orderby or default).split(",")]
    for _, field in keys:
        top = field.split(".")[0]
        if items and top not in known and not any(top in i for i in items):
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


class ListQuery:
    """A listing's query: the request's own, or the one its continuation token remembers."""

    def __init__(self, params: Sequence[tuple[str, str]]) -> None:
        token = next((value for key, value in params if key == "continuationToken"), None)
        if token is None:
            self.offset, self.params = 0, [(k, v) for k, v in params]
        else:
            self.offset, self.params = _decode(token)

    def get(self, key: str) -> str | None:
        return next((value for k, value in self.params if k == key), None)

    def getlist(self, key: str) -> list[str]:
        return [value for k, value in self.params if k == key]


def page(
    items: list[dict[str, Any]],
    *,
    query: ListQuery,
    default_size: int,
    base_path: str,
) -> dict[str, Any]:
    """One page and, when more remain, ``_links.next`` with a continuation token.

    ``base_path`` is the collection relative to the Flow Service base (``/runs``). With
    ``count=true``, ``count`` is the number of items that match the query, over every page.
    """
    limit = parse_limit(query.get("limit"))
    size = limit or default_size
    start = query.offset
    chunk = items[start : start + size]
    body: dict[str, Any] = {"items": chunk, "_links": {}}
    if parse_count(query.get("count")):
        body["count"] = len(items)
    if start + size < len(items):
        body["_links"]["next"] = {
            "href": f"{base_path}?continuationToken={encode_token(start + size, query.params)}"
        }
    return body


def encode_token(offset: int, params: Sequence[tuple[str, str]] = ()) -> str:
    """A continuation token: base64url (no ``=`` padding) of the offset and the query it continues."""
    text = json.dumps({"offset": offset, "query": [list(p) for p in params]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(token: str) -> tuple[int, list[tuple[str, str]]]:
    """The offset and the query a token remembers; a token not made here is a 400."""
    bare = token.rstrip("=")
    try:
        data = json.loads(base64.urlsafe_b64decode((bare + "=" * (-len(bare) % 4)).encode()))
        offset, params = data["offset"], data["query"]
        valid = (
            isinstance(offset, int)
            and not isinstance(offset, bool)
            and offset >= 0
            and isinstance(params, list)
            and all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in params
            )
        )
    except (ValueError, TypeError, KeyError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise bad_request(f"continuationToken {token[:80]!r} is not valid")
    return offset, [(key, value) for key, value in params if key != "continuationToken"]
