"""Listings of the Query Service (queries, schedules, runs): ``property``, ``orderby``, ``limit``
and ``start``, and its error form.

``property`` holds filters joined by commas (and may be repeated): ``field==value``, ``!=``,
``>``, ``<``, ``>=``, ``<=``; ``created`` and ``updated`` compare as times (ISO, ``Z`` or an
offset), other fields as text, ignoring case. ``orderby`` is ``created``/``+created`` (oldest
first) or ``-created`` (newest first), or the same with ``updated``. ``start`` is an ISO time
the page starts at, in the listing's order; ``_links.next`` carries the next one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from aep_emulator.errors import EmulatedError

_FILTER = re.compile(r"^([A-Za-z_.]+)\s*(==|!=|>=|<=|>|<)\s*(.*)$")
TIME_FIELDS = ("created", "updated")
MAX_LIMIT = 1000


def query_error(status: int, message: str) -> EmulatedError:
    """The Query Service's error form: ``message`` and ``statusCode`` (as its 202 answers carry),
    with ``error_code`` so that clients reading the gateway's form show a code."""
    return EmulatedError(status, {"message": message, "statusCode": status, "error_code": f"QS-{status}"})


def parse_time(text: str, name: str) -> datetime:
    """An ISO time (a date alone is its midnight), in UTC; a 400 naming ``name`` otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise query_error(400, f"{name}: {text[:40]!r} is not an ISO time (2020-01-08T12:30:00Z)") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def iso_ms(moment: datetime) -> str:
    """``2020-01-08T21:47:46.865Z``, as Adobe's query objects write times."""
    return (
        moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def listing(
    items: list[dict[str, Any]],
    params: list[tuple[str, str]],
    *,
    fields: dict[str, Callable[[dict[str, Any]], Any]],
    key: str,
    url: str,
    version: int,
    operators: tuple[str, ...] = ("==", "!=", ">", "<", ">=", "<="),
) -> dict[str, Any]:
    """One page of ``items`` as ``{key: [...], "_page", "_links", "version"}``.

    ``fields`` maps each filterable field to how an item's value is read (a datetime for the
    time fields); ``url`` is the listing's own URL, without its query.
    """
    query: dict[str, list[str]] = {}
    for name, value in params:
        query.setdefault(name, []).append(value)
    limit_text = query.get("limit", ["20"])[-1]
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
        raise query_error(400, f"limit must be a whole number from 1 to {MAX_LIMIT}, not {limit_text[:20]!r}")
    limit = int(limit_text)
    orderby = query.get("orderby", ["-created" if key == "queries" else "+created"])[-1].strip() or "+created"
    descending = orderby.startswith("-")
    order_field = orderby.lstrip("+-")
    if order_field not in TIME_FIELDS:
        raise query_error(400, f"orderby takes created or updated (- first: newest first), not {orderby!r}")
    chosen = items
    for written in query.get("property", []):
        for condition in (c for c in written.split(",") if c.strip()):
            chosen = [item for item in chosen if _holds(item, condition, fields, operators)]
    chosen = sorted(chosen, key=lambda item: fields[order_field](item), reverse=descending)
    if "start" in query:
        start = parse_time(query["start"][-1], "start")
        chosen = [
            i
            for i in chosen
            if (fields[order_field](i) <= start if descending else fields[order_field](i) >= start)
        ]
    shown = chosen[:limit]
    page: dict[str, Any] = {"orderby": ("-" if descending else "+") + order_field, "count": len(shown)}
    links: dict[str, Any] = {}
    if shown:
        page["start"] = iso_ms(fields[order_field](shown[0]))
    if len(chosen) > limit:
        page["next"] = iso_ms(fields[order_field](chosen[limit]))
        kept = [(k, v) for k, v in params if k not in ("start", "orderby")]
        links["next"] = {
            "href": f"{url}?{urlencode([*kept, ('orderby', page['orderby']), ('start', page['next'])])}"
        }
    return {key: shown, "_page": page, "_links": links, "version": version}


def _holds(
    item: dict[str, Any],
    condition: str,
    fields: dict[str, Callable[[dict[str, Any]], Any]],
    operators: tuple[str, ...],
) -> bool:
    found = _FILTER.match(condition.strip())
    if not found or found.group(2) not in operators:
        raise query_error(
            400,
            f"property {condition[:60]!r} must be written field<op>value, <op> one of {' '.join(operators)}",
        )
    name, op, text = found.groups()
    if name not in fields:
        raise query_error(400, f"property filters take {', '.join(sorted(fields))}, not {name!r}")
    have = fields[name](item)
    if name in TIME_FIELDS:
        want: Any = parse_time(text, f"property {name}")
    else:
        have, want = str(have).lower(), text.strip().lower()
    if op == "==":
        return bool(have == want)
    if op == "!=":
        return bool(have != want)
    if name not in TIME_FIELDS:
        raise query_error(400, f"property {name} compares with == or != only")
    return bool({">": have > want, "<": have < want, ">=": have >= want, "<=": have <= want}[op])
