"""Cron schedules of scheduled queries: five fields, or one of Airflow's shorthands.

Adobe runs scheduled queries on Airflow, so ``@once``, ``@hourly``, ``@daily``, ``@weekly``
and ``@monthly`` are taken besides five-field cron (minute, hour, day of month, month, day of
week) written with ``*``, numbers, ranges ``a-b``, lists ``a,b`` and steps ``*/n`` or ``a-b/n``.
Day of month and day of week combine as cron's "either" when both are restricted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

SHORTHANDS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
#: (name, lowest, highest) of the five fields.
_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
#: How far ahead a next time is looked for: cron's Feb 29 on a Monday is rare, never further.
_HORIZON = timedelta(days=366 * 8)


class CronError(ValueError):
    """A schedule the emulator cannot read; the message says which field and why."""


@dataclass(frozen=True)
class Cron:
    """A parsed schedule; ``once`` runs a single time, at its start."""

    text: str
    once: bool
    minutes: frozenset[int] = frozenset()
    hours: frozenset[int] = frozenset()
    days: frozenset[int] = frozenset()
    months: frozenset[int] = frozenset()
    weekdays: frozenset[int] = frozenset()
    any_day: bool = True
    any_weekday: bool = True

    def next_after(self, moment: datetime, *, inclusive: bool = False) -> datetime | None:
        """The first time of the schedule at or after (``inclusive``) or after ``moment``, whole minutes."""
        candidate = moment.replace(second=0, microsecond=0)
        if candidate < moment or not inclusive:
            candidate += timedelta(minutes=1)
        limit = moment + _HORIZON
        while candidate <= limit:
            if candidate.month not in self.months:
                candidate = _first_of_next_month(candidate)
                continue
            if not self._day_matches(candidate):
                candidate = (candidate + timedelta(days=1)).replace(hour=0, minute=0)
                continue
            if candidate.hour not in self.hours:
                candidate = (candidate + timedelta(hours=1)).replace(minute=0)
                continue
            if candidate.minute not in self.minutes:
                candidate += timedelta(minutes=1)
                continue
            return candidate
        return None

    def _day_matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7  # cron: Sunday is 0 (and 7)
        in_days, in_weekdays = moment.day in self.days, weekday in self.weekdays
        if self.any_day or self.any_weekday:
            return in_days and in_weekdays
        return in_days or in_weekdays


def parse(text: str) -> Cron:
    """The schedule ``text`` names; :class:`CronError` when it is not one."""
    if not isinstance(text, str) or not text.strip():
        raise CronError("a schedule is a cron expression (five fields) or @once, @hourly, @daily, ...")
    written = text.strip()
    if written.lower() == "@once":
        return Cron(text=written, once=True)
    expanded = SHORTHANDS.get(written.lower(), written)
    parts = expanded.split()
    if len(parts) != 5:
        raise CronError(
            f"{written!r} is not a cron expression: five fields (minute hour day month weekday) "
            "or one of @once, @hourly, @daily, @weekly, @monthly"
        )
    values = [_field(part, *spec) for part, spec in zip(parts, _FIELDS, strict=True)]
    weekdays = frozenset(d % 7 for d in values[4])
    return Cron(
        text=written,
        once=False,
        minutes=values[0],
        hours=values[1],
        days=values[2],
        months=values[3],
        weekdays=weekdays,
        any_day=parts[2] == "*",
        any_weekday=parts[4] == "*",
    )


def _field(part: str, name: str, low: int, high: int) -> frozenset[int]:
    chosen: set[int] = set()
    for item in part.split(","):
        body, slash, step_text = item.partition("/")
        step = _number(step_text, name) if slash else 1
        if step < 1:
            raise CronError(f"the {name} step in {part!r} must be at least 1")
        if body == "*":
            first, last = low, high
        elif "-" in body:
            first_text, _, last_text = body.partition("-")
            first, last = _number(first_text, name), _number(last_text, name)
        else:
            first = last = _number(body, name)
            if slash:
                last = high
        if not (low <= first <= high and low <= last <= high) or first > last:
            raise CronError(f"the {name} field {part!r} is outside {low}-{high}")
        chosen.update(range(first, last + 1, step))
    return frozenset(chosen)


def _number(text: str, name: str) -> int:
    if not text.isdigit() or len(text) > 2:
        raise CronError(f"the {name} field holds {text!r}: cron takes *, numbers, a-b, lists and */n")
    return int(text)


def _first_of_next_month(moment: datetime) -> datetime:
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return moment.replace(year=year, month=month, day=1, hour=0, minute=0)
