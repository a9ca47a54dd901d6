"""When a wait for a dataflow run looks at AEP next: asleep while no run can start, often while one may.

Every look is a request against AEP's rate limits, and a daily monitor deferred at midnight for
a run that starts at six would otherwise look a thousand times for nothing. So, for a wait
without a run yet:

- while no scheduled start lies in the window behind us, it sleeps until shortly before the
  next one (``WAKE_BEFORE_START_S``, spread over a poll interval so waits do not wake
  together), at most ``MAX_QUIET_S`` at a time, so a schedule changed meanwhile is read
  again within the hour;
- once a start is due and its run has not shown, it polls with a backoff: at the user's
  interval at first, then every quarter of how late the run is (at most ``MAX_QUIET_S``). A
  run AEP starts late is still found, by the window's listing, whenever it comes: at most a
  quarter of its lateness after it started.

A run in progress is polled with a backoff bounded by the user's interval: soon after it
started (a short run is picked up promptly), at the user's interval once it has run a while.
A wait for a named run (``run_id``, a run just started on demand or re-triggered), or for a flow
whose starts cannot be known (``schedule_starts.flow_starts``),
polls at the user's interval as before.

Free of I/O and of clocks: the caller passes ``now``, so tests drive it with a fake clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from airflow_provider_aep.utils.schedule_starts import StartSeries

#: A sleeping wait wakes this long before a scheduled start: AEP's clock may run ahead of ours.
WAKE_BEFORE_START_S = 5.0
#: The longest sleep between two looks, so a schedule changed while the wait sleeps is seen.
MAX_QUIET_S = 3600.0
#: How much of a run's lateness a wait sleeps before looking again.
LATE_BACKOFF = 0.25
#: A run in progress is first polled this soon, or a quarter of the user's interval when that is
#: longer (or the user's interval, when shorter).
FIRST_PROGRESS_POLL_S = 5.0


@dataclass(frozen=True)
class NextLook:
    """How long to sleep before the next look, and why (``""``: the user's interval, nothing to say)."""

    seconds: float
    why: str = ""

    @property
    def quiet(self) -> bool:
        """The wait sleeps for the schedule: longer than the user's interval, without a run to watch."""
        return bool(self.why)


def look_for_a_run(
    starts: Sequence[StartSeries] | None,
    *,
    since_ms: int | None,
    now_ms: int,
    poll_interval: float,
    spread: float = 0.0,
) -> NextLook:
    """When to look again for a run that has not shown yet.

    :param starts: when the flow's runs may start (``flow_starts``), or None: not known.
    :param since_ms: the window's start: a scheduled start before it is not this wait's.
    :param now_ms: now, in epoch milliseconds.
    :param poll_interval: the user's seconds between looks.
    :param spread: 0 to 1: how far into the poll interval before the start this wait wakes,
        so waits sleeping for the same start do not all wake in the same second.
    :return: the sleep, and why it is longer than the user's interval (or ``""``).
    """
    usual = NextLook(poll_interval)
    if not starts:
        return usual
    due = [
        last
        for series in starts
        if (last := series.last_at_or_before(now_ms)) is not None and (since_ms is None or last >= since_ms)
    ]
    upcoming = [nxt for series in starts if (nxt := series.next_at_or_after(now_ms + 1)) is not None]
    next_ms = min(upcoming) if upcoming else None
    if due:
        late_s = (now_ms - max(due)) / 1000
        pause = min(late_s * LATE_BACKOFF, MAX_QUIET_S)
        if next_ms is not None:
            pause = min(pause, max(poll_interval, (next_ms - now_ms) / 1000 - WAKE_BEFORE_START_S))
        if pause <= poll_interval:
            return usual
        return NextLook(pause, f"the run due at {_iso(max(due))} is {late_s / 60:.0f} min late")
    if next_ms is None:
        return usual  # no start left: the fail-fast check says so, not the sleep
    lead = WAKE_BEFORE_START_S + max(0.0, min(spread, 1.0)) * poll_interval
    pause = (next_ms - now_ms) / 1000 - lead
    if pause <= poll_interval:
        return usual
    return NextLook(min(pause, MAX_QUIET_S), f"no run can start before {_iso(next_ms)}")


def next_look(
    run_started_ms: int | None,
    starts: Sequence[StartSeries] | None,
    *,
    flow_read: bool,
    pinned: bool,
    since_ms: int | None,
    now_ms: int,
    poll_interval: float,
    spread: float = 0.0,
) -> NextLook:
    """The next look of a schedule-aware wait, whether a trigger or a poking sensor waits.

    Both keep only what this needs between looks (not the run or flow they read: thousands of
    waiting triggers would each hold kilobytes): the run's start and the flow's start series.

    :param run_started_ms: when the run watched started (``utils.runs.started_at_ms``), or
        None: no run yet.
    :param starts: :func:`~airflow_provider_aep.utils.schedule_starts.flow_starts` of the flow
        as last read while no run was there.
    :param flow_read: whether the flow was read at all (before, the user's interval holds).
    :param pinned: the wait is for a named run (``run_id``): no sleep for the schedule.
    :param since_ms: the window's start.
    :param now_ms: now, in epoch milliseconds.
    :param poll_interval: the user's seconds between looks.
    :param spread: as for :func:`look_for_a_run`.
    :return: the sleep, and why it is longer than the user's interval (or ``""``).
    """
    if run_started_ms is not None:
        return NextLook(look_at_a_run(run_started_ms, now_ms=now_ms, poll_interval=poll_interval))
    if pinned or not flow_read:
        return NextLook(poll_interval)
    return look_for_a_run(
        starts, since_ms=since_ms, now_ms=now_ms, poll_interval=poll_interval, spread=spread
    )


def look_at_a_run(started_ms: int | None, *, now_ms: int, poll_interval: float) -> float:
    """Seconds until the next look at a run in progress: half its age, within the user's interval.

    :param started_ms: when the run started (epoch milliseconds), or None: not known.
    :param now_ms: now, in epoch milliseconds.
    :param poll_interval: the user's seconds between looks: never exceeded.
    :return: at least ``FIRST_PROGRESS_POLL_S`` and a quarter of the user's interval (or the
        user's interval, when shorter).
    """
    if not started_ms:
        return poll_interval
    age_s = max(0.0, (now_ms - started_ms) / 1000)
    return min(poll_interval, max(FIRST_PROGRESS_POLL_S, poll_interval / 4, age_s / 2))


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc).isoformat()
