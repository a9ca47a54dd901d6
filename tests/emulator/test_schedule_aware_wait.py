"""A schedule-aware trigger against the emulator's clock (at time scale 1, the wall clock): it asks
nothing until shortly before the flow's scheduled start, then finds the run AEP starts late."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from aep_emulator.config import EmulatorConfig
from aep_emulator.server import RunningEmulator, running_emulator
from airflow_provider_aep.catalog import get_destination
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.payloads.connections import (
    build_base_connection,
    build_data_lake_source_connection,
    build_target_connection,
)
from airflow_provider_aep.payloads.flows import build_dataflow
from airflow_provider_aep.payloads.schedule import build_schedule_params
from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger
from airflow_provider_aep.utils.poll_plan import WAKE_BEFORE_START_S

CALL_CENTER = "6a1f00000000000000000005"  # the emulator's smallest dataset
#: Seconds from creating the flow to its scheduled start: long enough to see the trigger sleep.
START_IN = 15
POLL = 1.0


@pytest.fixture(scope="module")
def wall_clock_emulator(tmp_path_factory) -> Iterator[RunningEmulator]:
    config = EmulatorConfig(
        exports_dir=tmp_path_factory.mktemp("exports"), time_scale=1.0, first_run_delay=2.0, run_duration=2.0
    )
    with running_emulator(config) as emulator:
        yield emulator


def daily_flow_starting_in(hook: AEPHook, seconds: int) -> tuple[str, int]:
    """A daily incremental export to the Data Landing Zone whose first run is due in ``seconds``."""
    dlz = get_destination("data_landing_zone")
    source = hook.create_entity(
        "sourceConnections",
        build_data_lake_source_connection(name="clock: call center", datasets=[{"dataSetId": CALL_CENTER}]),
    )["id"]
    base = hook.create_entity(
        "connections", build_base_connection(name="clock: DLZ", connection_spec_id=dlz.connection_spec_id)
    )["id"]
    target = hook.create_entity(
        "targetConnections",
        build_target_connection(
            name="clock: DLZ target", base_connection_id=base, connection_spec_id=dlz.connection_spec_id,
            params={"path": "clock", "datasetFileType": "JSON", "compression": "GZIP"},
        ),
    )["id"]  # fmt: skip
    start = int(time.time()) + seconds
    schedule = build_schedule_params(
        export_mode="FIRST_FULL_THEN_INCREMENTAL", time_unit="day", interval=1,
        start_time=start, end_time=start + 30 * 86400,
    )  # fmt: skip
    body = build_dataflow(
        name="clock: daily export", flow_spec_id=dlz.flow_spec_id, source_connection_id=source,
        target_connection_id=target, schedule_params=schedule,
    )  # fmt: skip
    return str(hook.create_entity("flows", body)["id"]), start


def test_the_trigger_sleeps_until_shortly_before_the_scheduled_start_then_finds_the_late_run(
    wall_clock_emulator, monkeypatch
):
    emulator = wall_clock_emulator
    monkeypatch.setenv("AIRFLOW_CONN_AEP_CLOCK", emulator.connection())
    hook = AEPHook("aep_clock")
    assert hook.settings.schedule_aware_waits is True  # the emulator's clock is the wall clock here
    since_ms = int(time.time() * 1000)
    flow_id, start = daily_flow_starting_in(hook, START_IN)
    emulator.admin.delete("/requests").raise_for_status()
    trigger = AEPDataflowRunTrigger(
        flow_id=flow_id, aep_conn_id="aep_clock", since_ms=since_ms, poll_interval=POLL,
        deadline=time.time() + START_IN + 30, schedule_aware=True,
    )  # fmt: skip

    async def first_event() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    event = asyncio.run(first_event())
    assert event["status"] == "success", event
    polls = [r["at"] for r in emulator.requests() if r["path"].endswith("/runs") and r["method"] == "GET"]
    flow_reads = [r["at"] for r in emulator.requests() if r["path"].endswith(f"/flows/{flow_id}")]
    # The first look; then nothing until shortly before the start (a poll interval of spread).
    asleep_until = start - WAKE_BEFORE_START_S - POLL - 0.5
    assert polls[0] < asleep_until - 5
    assert [at for at in polls[1:] if at < asleep_until] == [], (start, polls)
    # The flow (its schedule) is read on the first look and again on waking.
    assert flow_reads[0] < asleep_until - 5
    assert flow_reads[1] >= asleep_until
    # The emulator starts the run two seconds after its scheduled start; it is found and followed.
    assert event["summary"]["output_records"] == 300
    # A fixed one-second poll would have asked about START_IN + 4 times; this asked about half.
    assert len(polls) <= START_IN // 2 + 6, polls
