"""What a wait costs: requests and INFO log lines per completed wait, fixed-interval against schedule-aware.

The waits are the real ``AEPDataflowRunTrigger`` on a simulated clock (hours pass in
milliseconds) against a simulated AEP that starts a daily flow's run when the scenario says, so a
wait deferred six hours early is measured in a second. Each scenario runs twice: polling every
``poll_interval`` (``schedule_aware=False``, the waiting of earlier releases) and schedule-aware
(``airflow_provider_aep.utils.poll_plan``). Counted: the requests the trigger made (run listings
and flow reads), the INFO lines it logged, and how long after the run's end the wait ended.
"""

from __future__ import annotations

import asyncio
import types
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from common import dump, show

from airflow_provider_aep.triggers import dataflow_run
from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
MIDNIGHT = datetime(2026, 3, 2, tzinfo=timezone.utc).timestamp()
SIX_AM = MIDNIGHT + 6 * HOUR


@dataclass(frozen=True)
class Scenario:
    name: str
    deferred_at: float
    run_starts: float
    run_lasts: float
    poll_interval: float


SCENARIOS = [
    Scenario("daily monitor deferred 6 h early, 10 min run, poll 30 s", MIDNIGHT, SIX_AM + 2 * MINUTE, 10 * MINUTE, 30),
    Scenario("daily monitor deferred 6 h early, 10 min run, poll 60 s", MIDNIGHT, SIX_AM + 2 * MINUTE, 10 * MINUTE, 60),
    Scenario("run started 40 min late by AEP, poll 30 s", MIDNIGHT, SIX_AM + 40 * MINUTE, 10 * MINUTE, 30),
    Scenario("deferred 23 h early, 1 min run, poll 30 s", MIDNIGHT - 17 * HOUR, SIX_AM + MINUTE, MINUTE, 30),
]  # fmt: skip


class SimulatedAEP:
    """A daily flow at 06:00 whose run starts and ends when the scenario says; counts what it is asked."""

    def __init__(self, scenario: Scenario) -> None:
        self.now = scenario.deferred_at
        self.scenario = scenario
        self.requests = 0

    async def sleep(self, seconds: float) -> None:
        self.now += seconds

    async def __aenter__(self) -> SimulatedAEP:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def list_runs(self, properties: list[str]) -> list[dict[str, Any]]:
        self.requests += 1
        if self.now < self.scenario.run_starts:
            return []
        done = self.now >= self.scenario.run_starts + self.scenario.run_lasts
        metrics: dict[str, Any] = {
            "durationSummary": {"startedAtUTC": int(self.scenario.run_starts * 1000)},
            "statusSummary": {"status": "success" if done else "inProgress"},
        }
        if done:
            metrics["recordSummary"] = {"inputRecordCount": 1, "outputRecordCount": 1}
        return [{"id": "run", "flowId": "f", "metrics": metrics}]

    async def get_flow(self, flow_id: str) -> dict[str, Any]:
        self.requests += 1
        return {
            "id": flow_id,
            "state": "enabled",
            "scheduleParams": {
                "exportMode": "FIRST_FULL_THEN_INCREMENTAL", "timeUnit": "day", "interval": 1,
                "startTime": int(SIX_AM - 30 * DAY),
            },
            "lastRunDetails": {"startedAtUTC": int((SIX_AM - DAY + MINUTE) * 1000)},
        }  # fmt: skip


class CountedLog:
    """Stands in for the trigger's logger: counts the INFO lines, drops everything."""

    def __init__(self) -> None:
        self.info_lines = 0

    def info(self, *args: Any, **kwargs: Any) -> None:
        self.info_lines += 1

    def debug(self, *args: Any, **kwargs: Any) -> None:
        return None

    warning = error = debug


def measure(scenario: Scenario, schedule_aware: bool) -> dict[str, Any]:
    aep = SimulatedAEP(scenario)
    real_time, real_asyncio = dataflow_run.time, dataflow_run.asyncio
    dataflow_run.time = types.SimpleNamespace(time=lambda: aep.now)  # type: ignore[assignment]
    dataflow_run.asyncio = types.SimpleNamespace(sleep=aep.sleep, CancelledError=asyncio.CancelledError)  # type: ignore[assignment]
    counted = CountedLog()

    class CountedTrigger(AEPDataflowRunTrigger):
        log = counted

    trigger = CountedTrigger(
        flow_id="f", since_ms=int(scenario.deferred_at * 1000), until_ms=int((SIX_AM + 18 * HOUR) * 1000),
        poll_interval=scenario.poll_interval, deadline=scenario.deferred_at + 2 * DAY,
        schedule_aware=schedule_aware,
    )  # fmt: skip
    trigger.hook = lambda: aep  # type: ignore[method-assign,assignment,return-value]

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise RuntimeError("no event")

    try:
        event = asyncio.run(first_event())
    finally:
        dataflow_run.time, dataflow_run.asyncio = real_time, real_asyncio
    if event["status"] != "success":
        raise RuntimeError(f"{scenario.name}: {event}")
    return {
        "requests": aep.requests,
        "info_lines": counted.info_lines,
        "ended_after_run_s": round(aep.now - scenario.run_starts - scenario.run_lasts, 1),
    }


def main() -> None:
    figures: dict[str, Any] = {}
    rows: list[tuple[str, str]] = []
    for scenario in SCENARIOS:
        fixed, aware = measure(scenario, False), measure(scenario, True)
        figures[scenario.name] = {"fixed_interval": fixed, "schedule_aware": aware}
        rows.append(
            (
                scenario.name,
                f"requests {fixed['requests']:>4} -> {aware['requests']:>3}, "
                f"INFO lines {fixed['info_lines']:>3} -> {aware['info_lines']}, "
                f"done {fixed['ended_after_run_s']:.0f} s -> {aware['ended_after_run_s']:.0f} s after the run",
            )
        )
    show("Waiting cost per completed wait: fixed interval -> schedule-aware (simulated clock)", rows)
    dump("waiting_cost", figures)


if __name__ == "__main__":
    main()
