"""The trigger on a fake clock: asleep until shortly before the scheduled start, a late run still
found, a named run polled promptly, and the requests each wait costs."""

from __future__ import annotations

import asyncio
import types
from datetime import datetime, timezone

import pytest

from airflow_provider_aep.triggers import dataflow_run
from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger

MINUTE = 60.0
SIX_AM = datetime(2026, 3, 2, 6, tzinfo=timezone.utc).timestamp()
MIDNIGHT = SIX_AM - 6 * 3600
DAY = 86400.0


class Clock:
    """Epoch seconds that move only when the trigger sleeps."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


class ScheduledAEP:
    """A daily flow whose run AEP starts at ``run_starts`` (seconds) and ends ``run_lasts`` later."""

    def __init__(self, clock: Clock, *, run_starts: float, run_lasts: float = 10 * MINUTE) -> None:
        self.clock = clock
        self.run_starts = run_starts
        self.run_lasts = run_lasts
        self.requests: list[tuple[str, float]] = []
        self.flow = {
            "id": "f-1",
            "state": "enabled",
            "createdAt": int((SIX_AM - 30 * DAY) * 1000),
            "scheduleParams": {
                "exportMode": "FIRST_FULL_THEN_INCREMENTAL",
                "timeUnit": "day",
                "interval": 1,
                "startTime": int(SIX_AM - 30 * DAY),
            },
            "lastRunDetails": {"id": "yesterday", "startedAtUTC": int((SIX_AM - DAY + 60) * 1000)},
        }

    async def __aenter__(self) -> ScheduledAEP:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def _run(self) -> dict:
        started = int(self.run_starts * 1000)
        done = self.clock.now >= self.run_starts + self.run_lasts
        metrics: dict = {
            "durationSummary": {"startedAtUTC": started},
            "statusSummary": {"status": "success" if done else "inProgress"},
        }
        if done:
            metrics["recordSummary"] = {"inputRecordCount": 5, "outputRecordCount": 5}
        return {"id": "today", "flowId": "f-1", "metrics": metrics}

    async def list_runs(self, properties: list[str]) -> list[dict]:
        self.requests.append(("list_runs", self.clock.now))
        return [self._run()] if self.clock.now >= self.run_starts else []

    async def get_run(self, run_id: str) -> dict:
        self.requests.append(("get_run", self.clock.now))
        return self._run()

    async def get_flow(self, flow_id: str) -> dict:
        self.requests.append(("get_flow", self.clock.now))
        return dict(self.flow)


def wait(mocker, aep: ScheduledAEP, **kwargs) -> dict:
    mocker.patch.object(dataflow_run, "time", types.SimpleNamespace(time=aep.clock.time))
    mocker.patch.object(dataflow_run, "_sleep", aep.clock.sleep)
    arguments = {
        "flow_id": "f-1",
        "since_ms": int(MIDNIGHT * 1000),
        "until_ms": int((MIDNIGHT + DAY) * 1000),
        "poll_interval": 30.0,
        "deadline": MIDNIGHT + 2 * DAY,
        "schedule_aware": True,
    }
    arguments.update(kwargs)
    trigger = AEPDataflowRunTrigger(**arguments)
    mocker.patch.object(AEPDataflowRunTrigger, "hook", return_value=aep)

    async def first_event() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("no event")

    return asyncio.run(first_event())


def test_a_daily_monitor_deferred_six_hours_early_sleeps_until_the_start_and_makes_a_few_requests(mocker):
    aep = ScheduledAEP(Clock(MIDNIGHT), run_starts=SIX_AM + 2 * MINUTE)
    event = wait(mocker, aep)
    assert event["status"] == "success"
    assert event["summary"]["run_id"] == "today"
    before_start = [at for kind, at in aep.requests if kind == "list_runs" and at < SIX_AM - 35]
    # The first look, then one look an hour while asleep (the schedule is read again each time).
    assert [round((at - MIDNIGHT) / 3600, 2) for at in before_start] == [0, 1, 2, 3, 4, 5]
    # About twenty more while the ten-minute run is in progress, polled at the user's interval.
    assert len(aep.requests) < 50, aep.requests
    # Done within a poll interval of the run's end.
    assert aep.clock.now - (aep.run_starts + aep.run_lasts) <= 33


def test_the_same_wait_on_a_fixed_interval_asks_hundreds_of_times(mocker):
    aep = ScheduledAEP(Clock(MIDNIGHT), run_starts=SIX_AM + 2 * MINUTE)
    assert wait(mocker, aep, schedule_aware=False)["status"] == "success"
    assert sum(kind == "list_runs" for kind, _ in aep.requests) > 700


def test_a_run_aep_starts_late_is_still_found_within_a_quarter_of_its_lateness(mocker):
    late = 40 * MINUTE
    aep = ScheduledAEP(Clock(MIDNIGHT), run_starts=SIX_AM + late, run_lasts=MINUTE)
    event = wait(mocker, aep)
    assert event["status"] == "success"
    seen = min(at for kind, at in aep.requests if kind == "list_runs" and at >= aep.run_starts)
    assert seen - aep.run_starts <= late / 4 + 1


def test_a_named_run_started_on_demand_is_polled_at_the_users_interval_not_the_schedule(mocker):
    aep = ScheduledAEP(Clock(MIDNIGHT + MINUTE), run_starts=MIDNIGHT + 30, run_lasts=2 * MINUTE)
    event = wait(mocker, aep, run_id="today", until_ms=None)
    assert event["status"] == "success"
    gaps = [b - a for (_, a), (_, b) in zip(aep.requests, aep.requests[1:], strict=False)]
    assert gaps
    assert max(gaps) <= 33
    assert all(kind == "get_run" for kind, _ in aep.requests)


def test_a_wait_asleep_for_the_schedule_still_ends_with_missing_when_its_window_closes(mocker):
    aep = ScheduledAEP(Clock(MIDNIGHT), run_starts=SIX_AM + DAY)  # AEP skips today's run
    event = wait(mocker, aep, until_ms=int((SIX_AM + 3600) * 1000), until_grace=300.0)
    assert event["status"] == "missing"
    # Not a moment later than the window's end and its grace, though it backs off meanwhile.
    assert aep.clock.now == pytest.approx(SIX_AM + 3600 + 300, abs=1)


def test_the_trigger_logs_the_sleep_for_the_schedule_once_at_info(mocker):
    aep = ScheduledAEP(Clock(MIDNIGHT), run_starts=SIX_AM + 2 * MINUTE)
    info = mocker.patch.object(AEPDataflowRunTrigger, "log", new_callable=mocker.PropertyMock)
    wait(mocker, aep)
    lines = [c.args[0] % c.args[1:] for c in info.return_value.info.call_args_list]
    asleep = [line for line in lines if "no run can start before 2026-03-02T06:00:00" in line]
    assert len(asleep) == 1, lines
    assert len(lines) <= 6, lines
