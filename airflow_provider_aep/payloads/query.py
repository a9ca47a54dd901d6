"""The bodies of the Query Service's scheduled queries, checked before any request.

``POST /schedules`` takes ``{"query": {"dbName", "sql", "name", "description"}, "schedule":
{"schedule", "startDate", "endDate"}}`` (Adobe's scheduled-queries guide). The cron is checked
here, field by field, so a mistyped schedule is refused naming the field and the value.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from airflow_provider_aep.exceptions import AEPValidationError

#: Adobe's shorthands for a scheduled query's cron.
CRON_SHORTHANDS = ("@once", "@hourly", "@daily", "@weekly", "@monthly", "@yearly")
#: The five cron fields and the values each takes.
CRON_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_STEP = re.compile(r"^(?P<base>\*|\d+(?:-\d+)?)(?:/(?P<step>\d+))?$")
CRON_ALLOWED = (
    "a cron of 5 fields (minute hour day-of-month month day-of-week: *, numbers, a-b ranges, "
    "lists, */n steps) or one of " + ", ".join(CRON_SHORTHANDS)
)


def check_cron(field: str, value: Any) -> str:
    """The cron (trimmed), or AEPValidationError naming the field, the value and the bad part."""
    if not isinstance(value, str) or not value.strip():
        raise AEPValidationError(field, value, CRON_ALLOWED)
    cron = " ".join(value.split())
    if cron.startswith("@"):
        if cron not in CRON_SHORTHANDS:
            raise AEPValidationError(field, value, CRON_ALLOWED)
        return cron
    parts = cron.split(" ")
    if len(parts) != len(CRON_FIELDS):
        raise AEPValidationError(field, value, f"{CRON_ALLOWED}; this has {len(parts)} field(s)")
    for part, (name, low, high) in zip(parts, CRON_FIELDS, strict=True):
        for item in part.split(","):
            if not _cron_item_ok(item, low, high):
                raise AEPValidationError(field, value, f"{CRON_ALLOWED}; the {name} field takes {low}-{high}")
    return cron


def _cron_item_ok(item: str, low: int, high: int) -> bool:
    match = _STEP.match(item)
    if not match:
        return False
    base, step = match.group("base"), match.group("step")
    if step is not None and not 0 < int(step) <= high:
        return False
    if base == "*":
        return True
    first, _, last = base.partition("-")
    bounds = [int(first)] + ([int(last)] if last else [])
    return all(low <= b <= high for b in bounds) and bounds == sorted(bounds)


def iso_utc(field: str, value: Any) -> str:
    """A moment as AEP's schedules take it, ``2026-01-08T12:30:00.000Z``; naive means UTC."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise AEPValidationError(
                field, value, "a datetime or ISO 8601 text, e.g. 2026-01-08T12:30:00Z"
            ) from None
    if not isinstance(value, datetime):
        raise AEPValidationError(field, value, "a datetime or ISO 8601 text, e.g. 2026-01-08T12:30:00Z")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def schedule_body(
    *,
    name: Any,
    sql: Any,
    db_name: str,
    schedule: Any,
    start_date: Any,
    end_date: Any = None,
    description: Any = None,
) -> dict[str, Any]:
    """The ``POST /schedules`` body, every field checked.

    :param name: the query's name (how the schedule is found again).
    :param sql: the statement.
    :param db_name: ``<sandbox>:all``.
    :param schedule: the cron or a shorthand.
    :param start_date: when it starts.
    :param end_date: when it ends, or None.
    :param description: shown in AEP, or None.
    :return: the body.
    """
    if not isinstance(name, str) or not name.strip():
        raise AEPValidationError("name", name, "the scheduled query's name (non-empty text)")
    if not isinstance(sql, str) or not sql.strip():
        raise AEPValidationError("sql", sql, "an SQL statement (text), or the path of a .sql file")
    query: dict[str, Any] = {"dbName": db_name, "sql": sql, "name": name}
    if description:
        query["description"] = str(description)
    timing: dict[str, Any] = {
        "schedule": check_cron("schedule", schedule),
        "startDate": iso_utc("start_date", start_date),
    }
    if end_date not in (None, ""):
        timing["endDate"] = iso_utc("end_date", end_date)
        if timing["endDate"] <= timing["startDate"]:
            raise AEPValidationError(
                "end_date", end_date, f"a moment after start_date ({timing['startDate']})"
            )
    return {"query": query, "schedule": timing}
