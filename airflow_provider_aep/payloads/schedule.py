"""``scheduleParams`` of a dataset-export dataflow, checked against AEP's rules table.

| exportMode                  | timeUnit | interval        |
|-----------------------------|----------|-----------------|
| DAILY_FULL_EXPORT           | day      | 0               |
| FIRST_FULL_THEN_INCREMENTAL | day      | 1               |
| FIRST_FULL_THEN_INCREMENTAL | hour     | 3, 6, 9 or 12   |

Times are Unix seconds. A flow without ``endTime`` is stopped by AEP six months after it is
created: that case is allowed here, and the dataflow operator warns about it when it creates one.
A schedule that would start no run is refused: an ``endTime`` at or before now, or one at or
before the first scheduled run still to come (a ``startTime`` in the past is fine: an existing
flow keeps its own, and runs from the next slot on).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from airflow_provider_aep.exceptions import AEPValidationError

DAILY_FULL_EXPORT = "DAILY_FULL_EXPORT"
FIRST_FULL_THEN_INCREMENTAL = "FIRST_FULL_THEN_INCREMENTAL"

#: exportMode → timeUnit → the intervals AEP accepts.
SCHEDULE_RULES: dict[str, dict[str, tuple[int, ...]]] = {
    DAILY_FULL_EXPORT: {"day": (0,)},
    FIRST_FULL_THEN_INCREMENTAL: {"day": (1,), "hour": (3, 6, 9, 12)},
}

FOLDER_NAME_MACROS = (
    "%DESTINATION%",
    "%DATASET_ID%",
    "%DATASET_NAME%",
    "%DATETIME(YYYYMMdd_HHmmss)%",
    "%EXPORT_TIME%",
    "%DESTINATION_INSTANCE_NAME%",
    "%DESTINATION_INSTANCE_ID%",
    "%SANDBOX_NAME%",
    "%ORGANIZATION_NAME%",
)

# Unix seconds run to 10 digits until the year 2286; 13 digits are milliseconds.
_MAX_UNIX_SECONDS = 9_999_999_999
UNIT_SECONDS = {"day": 86_400, "hour": 3_600}


def build_schedule_params(
    *,
    export_mode: str,
    start_time: int | datetime,
    end_time: int | datetime | None = None,
    time_unit: str | None = None,
    interval: int | None = None,
    folder_name_template: str | None = None,
    now: int | datetime | None = None,
) -> dict[str, Any]:
    """The ``scheduleParams`` object of the tutorial, or an AEPValidationError naming the field.

    ``now`` (Unix seconds or a datetime; default: the clock) is what ``end_time`` must come after,
    with at least one scheduled run before it: an export whose whole schedule lies in the past
    would be created and never run.
    """
    units = SCHEDULE_RULES.get(export_mode)
    if units is None:
        raise AEPValidationError("export_mode", export_mode, "one of " + ", ".join(SCHEDULE_RULES))
    if time_unit is None:
        time_unit = "day"
    if time_unit not in units:
        raise AEPValidationError(
            "time_unit", time_unit, f"{export_mode} takes time_unit " + " or ".join(repr(u) for u in units)
        )
    allowed = units[time_unit]
    if interval is None:
        interval = allowed[0]
    if isinstance(interval, bool) or not isinstance(interval, int) or interval not in allowed:
        raise AEPValidationError(
            "interval",
            interval,
            f"{export_mode} with time_unit {time_unit!r} takes interval " + ", ".join(map(str, allowed)),
        )
    start = to_unix_seconds(start_time, "start_time")
    params: dict[str, Any] = {
        "exportMode": export_mode,
        "timeUnit": time_unit,
        "interval": interval,
        "startTime": start,
    }
    if end_time is not None:
        end = to_unix_seconds(end_time, "end_time")
        if end <= start:
            raise AEPValidationError("end_time", end, f"a moment after start_time ({start})")
        check_schedule_not_over(start, end, interval * UNIT_SECONDS[time_unit], now)
        params["endTime"] = end
    if folder_name_template is not None:
        params["foldernameTemplate"] = check_folder_name_template(folder_name_template)
    return params


def first_run_from(start: int, period: int, now: int) -> int:
    """The first scheduled start at or after ``now`` of a schedule from ``start`` every ``period`` seconds."""
    if now <= start or period <= 0:
        return start
    return start + -(-(now - start) // period) * period


def check_schedule_not_over(start: int, end: int, period: int, now: int | datetime | None = None) -> None:
    """Refuse an ``end_time`` that leaves the schedule no run: at or before now, or before its next slot.

    A one-time export (``period`` 0) needs only an end after now.
    """
    now_s = int(time.time()) if now is None else to_unix_seconds(now, "now")
    if end <= now_s:
        raise AEPValidationError(
            "end_time", end, "a moment in the future: the whole schedule would lie in the past"
        )
    if period > 0:
        first = first_run_from(start, period, now_s)
        if end <= first:
            raise AEPValidationError(
                "end_time",
                end,
                f"a moment after the next scheduled run ({_iso(first)}): the schedule would end before it runs",
            )


def _iso(unix_seconds: int) -> str:
    return f"{unix_seconds}, " + datetime.fromtimestamp(unix_seconds, tz=timezone.utc).isoformat()


def to_unix_seconds(value: Any, field: str) -> int:
    """Unix seconds from an int or an aware datetime; milliseconds and strings are refused."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return int(moment.timestamp())
    if isinstance(value, bool) or not isinstance(value, int):
        raise AEPValidationError(field, value, "Unix time in seconds (an int) or a datetime")
    if value < 0 or value > _MAX_UNIX_SECONDS:
        raise AEPValidationError(
            field, value, "Unix time in seconds (10 digits); milliseconds are not accepted"
        )
    return value


def check_folder_name_template(template: str) -> str:
    """Every ``%MACRO%`` in the template must be one AEP knows."""
    if not isinstance(template, str) or not template.strip():
        raise AEPValidationError("folder_name_template", template, "a non-empty string")
    pieces = template.split("%")
    # Odd positions sit between a pair of % signs: those are the macros.
    if len(pieces) % 2 == 0:
        raise AEPValidationError("folder_name_template", template, "macros enclosed in pairs of %")
    for macro in pieces[1::2]:
        if f"%{macro}%" not in FOLDER_NAME_MACROS:
            raise AEPValidationError(
                "folder_name_template",
                template,
                f"unknown macro %{macro}%; known: " + ", ".join(FOLDER_NAME_MACROS),
            )
    return template
