"""When a wait looks next: asleep before a scheduled start, polling once one is due, backing off when late."""

from __future__ import annotations

from datetime import datetime, timezone

from airflow_provider_aep.utils.poll_plan import (
    MAX_QUIET_S,
    WAKE_BEFORE_START_S,
    NextLook,
    look_at_a_run,
    look_for_a_run,
)
from airflow_provider_aep.utils.schedule_starts import StartSeries

MINUTE = 60_000
DAY = 24 * 60 * MINUTE
SIX_AM = int(datetime(2026, 3, 2, 6, tzinfo=timezone.utc).timestamp() * 1000)
MIDNIGHT = SIX_AM - 360 * MINUTE
DAILY_AT_SIX = [StartSeries(SIX_AM - 30 * DAY, DAY)]


def test_hours_before_the_scheduled_start_the_wait_sleeps_an_hour_at_most():
    look = look_for_a_run(DAILY_AT_SIX, since_ms=MIDNIGHT, now_ms=MIDNIGHT, poll_interval=30)
    assert look == NextLook(MAX_QUIET_S, "no run can start before 2026-03-02T06:00:00+00:00")
    assert look.quiet


def test_near_the_start_it_wakes_shortly_before_it():
    now = SIX_AM - 10 * MINUTE
    look = look_for_a_run(DAILY_AT_SIX, since_ms=MIDNIGHT, now_ms=now, poll_interval=30)
    assert look.seconds == 600 - WAKE_BEFORE_START_S
    spread = look_for_a_run(DAILY_AT_SIX, since_ms=MIDNIGHT, now_ms=now, poll_interval=30, spread=1.0)
    assert spread.seconds == 600 - WAKE_BEFORE_START_S - 30  # waits spread over one poll interval


def test_within_a_poll_interval_of_the_start_it_polls_as_usual():
    look = look_for_a_run(DAILY_AT_SIX, since_ms=MIDNIGHT, now_ms=SIX_AM - 20_000, poll_interval=30)
    assert look == NextLook(30)
    assert not look.quiet


def test_once_a_start_is_due_it_polls_at_the_users_interval_then_backs_off_with_the_lateness():
    due = look_for_a_run(DAILY_AT_SIX, since_ms=MIDNIGHT, now_ms=SIX_AM + 60_000, poll_interval=30)
    assert due == NextLook(30)
    late = look_for_a_run(DAILY_AT_SIX, since_ms=MIDNIGHT, now_ms=SIX_AM + 40 * MINUTE, poll_interval=30)
    assert late.seconds == 600  # a quarter of 40 minutes
    assert "late" in late.why
    very_late = look_for_a_run(
        DAILY_AT_SIX, since_ms=MIDNIGHT, now_ms=SIX_AM + 20 * 60 * MINUTE, poll_interval=30
    )
    assert very_late.seconds == MAX_QUIET_S


def test_a_late_runs_backoff_never_sleeps_past_the_next_start():
    hourly = [StartSeries(SIX_AM, 60 * MINUTE)]
    look = look_for_a_run(hourly, since_ms=MIDNIGHT, now_ms=SIX_AM + 50 * MINUTE, poll_interval=30)
    assert look.seconds == 10 * 60 - WAKE_BEFORE_START_S


def test_a_start_before_the_window_is_not_this_waits_so_it_sleeps_to_the_next():
    look = look_for_a_run(
        DAILY_AT_SIX, since_ms=SIX_AM + MINUTE, now_ms=SIX_AM + 2 * MINUTE, poll_interval=30
    )
    assert look.quiet
    assert look.seconds == MAX_QUIET_S


def test_unknown_starts_or_none_left_poll_as_usual():
    assert look_for_a_run(None, since_ms=MIDNIGHT, now_ms=MIDNIGHT, poll_interval=30) == NextLook(30)
    ended = [StartSeries(SIX_AM - 3 * DAY, DAY, end_ms=SIX_AM - DAY)]
    assert look_for_a_run(ended, since_ms=MIDNIGHT, now_ms=MIDNIGHT + 5, poll_interval=30) == NextLook(30)


def test_a_run_in_progress_is_polled_at_half_its_age_within_the_users_interval():
    assert look_at_a_run(SIX_AM, now_ms=SIX_AM + 1000, poll_interval=60) == 15.0  # a quarter
    assert look_at_a_run(SIX_AM, now_ms=SIX_AM + 1000, poll_interval=12) == 5.0
    assert look_at_a_run(SIX_AM, now_ms=SIX_AM + 40_000, poll_interval=60) == 20.0
    assert look_at_a_run(SIX_AM, now_ms=SIX_AM + 40_000, poll_interval=12) == 12
    assert look_at_a_run(SIX_AM, now_ms=SIX_AM + 10 * MINUTE, poll_interval=60) == 60
    assert look_at_a_run(SIX_AM, now_ms=SIX_AM + 1000, poll_interval=2) == 2
    assert look_at_a_run(None, now_ms=SIX_AM, poll_interval=60) == 60
