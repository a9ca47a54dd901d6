"""Deferral at scale: 1000 AEPDataflowRunTriggers waiting at once in one event loop, as a triggerer runs them.

1000 one-shot dataflows are created in an emulator (its own process); each gets a trigger that
polls its runs every 2 s until the run succeeds. Measured here: that all complete, the memory
each trigger holds (peak RSS over the baseline), CPU per poll, and how long the event loop was
ever kept from running (a trigger that blocks it delays every other one). For contrast, the
same wait in poke mode needs one worker slot per sensor: its task process is measured too.
"""

from __future__ import annotations

import asyncio
import resource
import subprocess
import sys
import time
from typing import Any

import psutil
from common import dump, emulator_process, requests_log, show, use_emulator

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

TRIGGERS = 1000
POLL_SECONDS = 2.0
CALL_CENTER = "6a1f00000000000000000005"  # the emulator's smallest dataset: 300 records
POKE_WORKER = """
import os, psutil
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor
from airflow_provider_aep.hooks.aep import AEPHook
sensor = AEPDataflowRunSensor(task_id="wait", flow_id={flow_id!r}, latest=True)
list(AEPHook().iter_runs(properties=["flowId=={flow_id}"]))
print(psutil.Process().memory_info().rss)
"""


def create_flows(hook: AEPHook, count: int) -> list[str]:
    """A source, base and target connection (Data Landing Zone), and ``count`` one-shot dataflows."""

    dlz = get_destination("data_landing_zone")
    source = hook.create_entity(
        "sourceConnections",
        build_data_lake_source_connection(name="bench: call center", datasets=[{"dataSetId": CALL_CENTER}]),
    )["id"]
    base = hook.create_entity(
        "connections", build_base_connection(name="bench: DLZ", connection_spec_id=dlz.connection_spec_id)
    )["id"]
    target = hook.create_entity(
        "targetConnections",
        build_target_connection(
            name="bench: DLZ target", base_connection_id=base, connection_spec_id=dlz.connection_spec_id,
            params={"path": "bench", "datasetFileType": "JSON", "compression": "GZIP"},
        ),
    )["id"]  # fmt: skip
    now = int(time.time())
    schedule = build_schedule_params(
        export_mode="DAILY_FULL_EXPORT",
        time_unit="day",
        interval=0,
        start_time=now,
        end_time=now + 30 * 86400,
    )
    return [
        hook.create_entity(
            "flows",
            build_dataflow(
                name=f"bench: export {n}", flow_spec_id=dlz.flow_spec_id, source_connection_id=source,
                target_connection_id=target, schedule_params=schedule,
            ),
        )["id"]
        for n in range(count)
    ]  # fmt: skip


async def wait_for(trigger: AEPDataflowRunTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise RuntimeError("the trigger ended without an event")


async def run_all(triggers: list[AEPDataflowRunTrigger]) -> dict[str, Any]:
    """Run every trigger in this loop, sampling RSS and the loop's lag while they wait."""
    process = psutil.Process()
    samples: dict[str, Any] = {"peak_rss": process.memory_info().rss, "lags": []}
    done = asyncio.Event()

    async def watch() -> None:
        loop = asyncio.get_running_loop()
        while not done.is_set():
            planned = loop.time() + 0.05
            await asyncio.sleep(0.05)
            samples["lags"].append((loop.time(), loop.time() - planned))
            samples["peak_rss"] = max(samples["peak_rss"], process.memory_info().rss)

    watcher = asyncio.create_task(watch())
    events = await asyncio.gather(*(wait_for(t) for t in triggers))
    done.set()
    await watcher
    return {"events": events, **samples}


def poke_worker_rss(flow_id: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", POKE_WORKER.format(flow_id=flow_id)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.split()[-1])


def main() -> dict:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)

    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    with emulator_process("--first-run-delay", "8", "--run-duration", "6") as config:
        use_emulator(config)
        hook = AEPHook()
        started_ms = int(time.time() * 1000) - 1000
        # Warm up on one flow: imports, the TLS context, the token cache.
        [warm_up] = create_flows(hook, 1)
        asyncio.run(wait_for(AEPDataflowRunTrigger(flow_id=warm_up, since_ms=started_ms, poll_interval=0.5)))
        flow_ids = create_flows(hook, TRIGGERS)
        polls_before = sum(1 for r in requests_log(config) if r["path"].endswith("/runs"))
        process = psutil.Process()
        baseline_rss = process.memory_info().rss
        cpu_before, wall_before = time.process_time(), time.monotonic()
        triggers = [
            AEPDataflowRunTrigger(
                flow_id=flow_id, since_ms=started_ms, poll_interval=POLL_SECONDS, deadline=time.time() + 900
            )
            for flow_id in flow_ids
        ]
        outcome = asyncio.run(run_all(triggers))
        cpu = time.process_time() - cpu_before
        wall = time.monotonic() - wall_before
        polls = sum(1 for r in requests_log(config) if r["path"].endswith("/runs")) - polls_before
        worker_rss = poke_worker_rss(flow_ids[0])
    statuses = [e["status"] for e in outcome["events"]]
    records = {e["summary"]["output_records"] for e in outcome["events"] if e["status"] == "success"}
    per_trigger_kb = (outcome["peak_rss"] - baseline_rss) / TRIGGERS / 1024
    # The first round starts 1000 triggers in the same instant (connections read, first
    # connects); after it, each step of a trigger is what could hold up the others.
    first_round_end = outcome["lags"][0][0] + POLL_SECONDS
    burst = [lag for at, lag in outcome["lags"] if at < first_round_end]
    steady = sorted(lag for at, lag in outcome["lags"] if at >= first_round_end)
    figures = {
        "triggers": TRIGGERS,
        "succeeded": statuses.count("success"),
        "output_records_per_run": sorted(records),
        "wall_seconds": round(wall, 1),
        "memory_per_trigger_kb": round(per_trigger_kb, 1),
        "polls": polls,
        "cpu_seconds": round(cpu, 2),
        "cpu_ms_per_poll": round(cpu / polls * 1000, 2),
        "loop_lag_start_burst_max_ms": round(max(burst) * 1000, 1),
        "loop_lag_steady_p50_ms": round(steady[len(steady) // 2] * 1000, 1),
        "loop_lag_steady_p99_ms": round(steady[int(len(steady) * 0.99)] * 1000, 1),
        "loop_lag_steady_max_ms": round(steady[-1] * 1000, 1),
        "poke_worker_rss_mb": round(worker_rss / 2**20, 1),
    }
    show(
        f"3. Deferral at scale: {TRIGGERS} AEPDataflowRunTriggers in one event loop",
        [
            ("completed", f"{figures['succeeded']}/{TRIGGERS} success, {records} records each, in {wall:.1f} s"),
            ("memory per trigger", f"{per_trigger_kb:.1f} KB (peak RSS over baseline; target: at most 50 KB)"),
            ("polls", f"{polls} GET /runs, every {POLL_SECONDS:g} s per trigger"),
            ("CPU per poll", f"{figures['cpu_ms_per_poll']} ms ({cpu:.1f} s CPU in all)"),
            ("event loop lag", f"while polling: p50 {figures['loop_lag_steady_p50_ms']} ms, "
                               f"p99 {figures['loop_lag_steady_p99_ms']} ms, max {figures['loop_lag_steady_max_ms']} ms; "
                               f"starting all {TRIGGERS} at once: {figures['loop_lag_start_burst_max_ms']} ms"),
            ("poke mode instead", f"{TRIGGERS} worker slots held for the whole wait; one poking task process "
                                  f"is {figures['poke_worker_rss_mb']} MB RSS, so about "
                                  f"{figures['poke_worker_rss_mb'] * TRIGGERS / 1024:.0f} GB"),
        ],
    )  # fmt: skip
    dump("deferral_at_scale", figures)
    return figures


if __name__ == "__main__":
    main()
