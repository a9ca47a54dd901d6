"""When a dataflow's runs may start, read from the flow itself: its schedule, its creation, its last run.

A wait that knows this can sleep through the hours no run can start
(:mod:`airflow_provider_aep.utils.poll_plan`). The reading is cautious: a schedule it cannot
read, a one-time flow (runs start on request) and an audience exported after each segment
evaluation give None, and the wait polls as it always did.

Each series of starts is anchored at the schedule's own ``startTime``, and at one more moment a
run may count from: the flow's last run (``lastRunDetails``), so a schedule AEP keeps late is
followed where its runs really come; before its first run, the moment the flow (or the
audience) was added, since AEP starts a flow made after its start time at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

#: Milliseconds per ``timeUnit`` (dataset exports) or ``frequency`` (sources) of ``scheduleParams``.
PERIOD_MS = {"minute": 60_000, "hour": 3_600_000, "day": 86_400_000, "week": 7 * 86_400_000}
#: Milliseconds between an audience's exports, by its schedule's ``frequency`` (0: once).
SEGMENT_PERIOD_MS = {
    "ONCE": 0,
    "DAILY": 86_400_000,
    "EVERY_3_HOURS": 3 * 3_600_000,
    "EVERY_6_HOURS": 6 * 3_600_000,
    "EVERY_8_HOURS": 8 * 3_600_000,
    "EVERY_12_HOURS": 12 * 3_600_000,
}


@dataclass(frozen=True)
class StartSeries:
    """Starts at ``first_ms``, then every ``period_ms`` (0: that one only), none at or after ``end_ms``."""

    first_ms: int
    period_ms: int = 0
    end_ms: int | None = None

    def next_at_or_after(self, moment_ms: int) -> int | None:
        """The first start at or after ``moment_ms``, or None when the series has none left."""
        if moment_ms <= self.first_ms:
            start = self.first_ms
        elif self.period_ms <= 0:
            return None
        else:
            start = self.first_ms + -(-(moment_ms - self.first_ms) // self.period_ms) * self.period_ms
        return start if self.end_ms is None or start < self.end_ms else None

    def last_at_or_before(self, moment_ms: int) -> int | None:
        """The last start at or before ``moment_ms``, or None when none came yet."""
        if moment_ms < self.first_ms or (self.end_ms is not None and self.end_ms <= self.first_ms):
            return None
        start = self.first_ms
        if self.period_ms > 0:
            start += (moment_ms - self.first_ms) // self.period_ms * self.period_ms
        if self.end_ms is not None and start >= self.end_ms:
            if self.period_ms <= 0:
                return None
            # The last start before the end.
            start = self.first_ms + (self.end_ms - 1 - self.first_ms) // self.period_ms * self.period_ms
        return start


def flow_starts(flow: Mapping[str, Any]) -> list[StartSeries] | None:
    """Every series of moments a run of ``flow`` may start at; None when they cannot be known.

    :param flow: the dataflow as ``GET /flows/{id}`` returns it.
    :return: the series (see the module's docstring), or None: a one-time flow, an audience
        exported after segment evaluation, or a schedule this does not read.
    """
    selectors = segment_selectors(flow)
    if selectors:
        return _audience_starts(flow, selectors)
    schedule = flow.get("scheduleParams")
    if not isinstance(schedule, Mapping) or takes_on_demand_runs(flow):
        return None
    start = schedule_time_ms(schedule.get("startTime"))
    unit = str(schedule.get("timeUnit") or schedule.get("frequency") or "").lower()
    interval = schedule.get("interval")
    if start is None or unit not in PERIOD_MS or isinstance(interval, bool) or not isinstance(interval, int):
        return None
    period = max(interval, 0) * PERIOD_MS[unit]
    end = schedule_time_ms(schedule.get("endTime"))
    since = _last_run_ms(flow) or _epoch_ms(flow.get("createdAt"))
    return [StartSeries(anchor, period, end) for anchor in _anchors(start, since)]


def _audience_starts(flow: Mapping[str, Any], selectors: list[Any]) -> list[StartSeries] | None:
    """Each audience's exports; None when any audience's schedule cannot be read."""
    series: list[StartSeries] = []
    last_run = _last_run_ms(flow)
    for selector in selectors:
        value = selector.get("value") if isinstance(selector, Mapping) else None
        schedule = value.get("schedule") if isinstance(value, Mapping) else None
        if not isinstance(value, Mapping) or not isinstance(schedule, Mapping):
            return None
        if str(schedule.get("triggerType") or "SCHEDULED").upper() != "SCHEDULED":
            return None  # exported after each segment evaluation: AEP decides when
        period = SEGMENT_PERIOD_MS.get(str(schedule.get("frequency") or "").upper())
        start = _day_and_time_ms(schedule.get("startDate"), schedule.get("startTime"))
        if period is None or start is None:
            return None
        end = segment_schedule_end_ms(schedule)
        since = last_run or _epoch_ms(value.get("createTime"))
        series.extend(StartSeries(anchor, period, end) for anchor in _anchors(start, since))
    return series


def _anchors(start: int, since: int | None) -> list[int]:
    """The schedule's start, and the last run (or the creation) when that came after it."""
    return [start] if since is None or since <= start else [start, since]


def _last_run_ms(flow: Mapping[str, Any]) -> int | None:
    details = flow.get("lastRunDetails")
    return _epoch_ms(details.get("startedAtUTC")) if isinstance(details, Mapping) else None


def _epoch_ms(value: Any) -> int | None:
    """Epoch milliseconds, or seconds (AEP writes an audience's ``createTime`` as a string of them)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return schedule_time_ms(value)


def _day_and_time_ms(day: Any, clock: Any) -> int | None:
    """``YYYY-MM-DD`` and ``HH:MM`` (UTC; midnight when absent) as epoch milliseconds, or None."""
    try:
        moment = datetime.combine(
            date.fromisoformat(str(day)),
            datetime.strptime(str(clock or "00:00"), "%H:%M").time(),
            tzinfo=timezone.utc,
        )
    except ValueError:
        return None
    return int(moment.timestamp() * 1000)


# -- the schedule readers the fail-fast check shares -----------------------------------------------


def takes_on_demand_runs(flow: Mapping[str, Any]) -> bool:
    """AEP starts a run on request only for a flow scheduled for one-time runs.

    That is a ``frequency`` of ``once`` (sources), or a dataset export's ``DAILY_FULL_EXPORT``
    with interval 0: one full export, once.
    """
    schedule = flow.get("scheduleParams") or {}
    if str(schedule.get("frequency", "")).lower() == "once":
        return True
    return schedule.get("exportMode") == "DAILY_FULL_EXPORT" and int(schedule.get("interval") or 0) == 0


def schedule_time_ms(value: Any) -> int | None:
    """``scheduleParams`` times are Unix seconds; a 13-digit value is read as milliseconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return int(value) if value >= 10**11 else int(value * 1000)


def next_slot_ms(schedule: Mapping[str, Any], from_ms: int) -> int | None:
    """The first scheduled start at or after ``from_ms``; None for a one-time or unreadable schedule."""
    start = schedule_time_ms(schedule.get("startTime"))
    unit = str(schedule.get("timeUnit") or schedule.get("frequency") or "").lower()
    interval = schedule.get("interval")
    if start is None or unit not in PERIOD_MS or isinstance(interval, bool):
        return None
    if not isinstance(interval, int) or interval <= 0:
        return start if start >= from_ms else None
    return StartSeries(start, interval * PERIOD_MS[unit]).next_at_or_after(from_ms)


def segment_schedule_end_ms(schedule: Any) -> int | None:
    """When a segment's schedule can start no more runs (the end of its last day), or None."""
    if not isinstance(schedule, Mapping):
        return None
    frequency = str(schedule.get("frequency") or "").upper()
    last_day = schedule.get("startDate") if frequency == "ONCE" else schedule.get("endDate")
    try:
        day = date.fromisoformat(str(last_day)) if last_day else None
    except ValueError:
        return None
    if day is None:
        return None
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc)
    return int(end.timestamp() * 1000)


def segment_selectors(flow: Mapping[str, Any]) -> list[Any]:
    """An activation flow's audiences (``transformations[0].params.segmentSelectors.selectors``)."""
    transformations = flow.get("transformations")
    first = transformations[0] if isinstance(transformations, list) and transformations else None
    params = first.get("params") if isinstance(first, Mapping) else None
    selectors = params.get("segmentSelectors") if isinstance(params, Mapping) else None
    listed = selectors.get("selectors") if isinstance(selectors, Mapping) else None
    return list(listed) if isinstance(listed, list) else []
