"""Deferral at scale: 10,000 AEPDataflowRunTriggers waiting at once in one event loop, as a triggerer runs them.

``--triggers N`` one-shot dataflows (default 10,000; ``--triggers 1000`` for the earlier figure)
are created in an emulator (its own process), their runs due a few seconds after the triggers
start and spread over ten seconds; each flow gets a trigger that polls its runs until the run
succeeds. Measured here: that all complete, the memory each trigger holds (peak RSS over the
baseline), CPU per poll, the sockets open, how long starting them holds the event loop (started
as Airflow's triggerer starts new triggers, one per loop turn; ``--all-at-once``: all in one
turn, the worst case), and how long the loop was kept from running afterwards (a trigger that blocks it delays every other
one). For contrast, the same wait in poke mode needs one worker slot per sensor: its task
process is measured too.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil
from common import RESULTS, CpuSampler, dump, emulator_process, profile_rows, show, use_emulator

from airflow_provider_aep.catalog import get_destination
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.hooks.async_client import AsyncAEPClient
from airflow_provider_aep.hooks.retry import RETRYABLE_STATUSES
from airflow_provider_aep.payloads.connections import (
    build_base_connection,
    build_data_lake_source_connection,
    build_target_connection,
)
from airflow_provider_aep.payloads.flows import build_dataflow
from airflow_provider_aep.payloads.schedule import build_schedule_params
from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger

TRIGGERS = 10_000
#: Polls a second the triggers ask for together: the poll interval grows with their number
#: (2 s for 1000, as before), as a triggerer's operator would set it for thousands of sensors.
POLLS_PER_SECOND = 500
#: Runs become due over this many seconds, not all in one instant.
RUN_SPREAD_SECONDS = 10
CREATING_THREADS = 4
CALL_CENTER = "6a1f00000000000000000005"  # the emulator's smallest dataset: 300 records
POKE_WORKER = """
import os, psutil
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor
from airflow_provider_aep.hooks.aep import AEPHook
sensor = AEPDataflowRunSensor(task_id="wait", flow_id={flow_id!r}, latest=True)
list(AEPHook().iter_runs(properties=["flowId=={flow_id}"]))
print(psutil.Process().memory_info().rss)
"""


def create_connections(hook: AEPHook) -> tuple[str, str]:
    """A source, base and target connection (Data Landing Zone): (source id, target id)."""
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
    return source, target


def create_flows(connections: tuple[str, str], starts: Sequence[int]) -> list[str]:
    """One one-shot dataflow per start time (epoch seconds), created over a few connections at once."""
    dlz = get_destination("data_landing_zone")
    source, target = connections

    def create(numbered: tuple[int, int]) -> str:
        n, start = numbered
        schedule = build_schedule_params(
            export_mode="DAILY_FULL_EXPORT", time_unit="day", interval=0,
            start_time=start, end_time=start + 30 * 86400,
        )  # fmt: skip
        body = build_dataflow(
            name=f"bench: export {n}", flow_spec_id=dlz.flow_spec_id, source_connection_id=source,
            target_connection_id=target, schedule_params=schedule,
        )  # fmt: skip
        if not hasattr(mine, "hook"):
            mine.hook = AEPHook()  # a requests session is one thread's
        return str(mine.hook.create_entity("flows", body)["id"])

    mine = threading.local()
    with ThreadPoolExecutor(CREATING_THREADS) as pool:
        return list(pool.map(create, enumerate(starts)))


class PollCount:
    """GET /runs polls the triggers made, and every try that failed (a timeout, a dropped
    connection, a 429 or 5xx answer: what the retries then make up for), counted in this process
    (the emulator keeps 5000 requests)."""

    def __init__(self, triggers: int) -> None:
        self.triggers = triggers
        self.polls = 0
        self.polled: set[str] = set()
        self.first_round_done: float | None = None
        #: Every request the triggers sent: their polls, the flow reads and any retries.
        self.requests = 0
        self.failed: Counter[str] = Counter()
        self.failed_first_round = 0

    def install(self) -> None:
        original = AsyncAEPClient.list_runs
        send = AsyncAEPClient._send
        count = self

        async def counted_send(client: AsyncAEPClient, *args: Any, **kwargs: Any) -> Any:
            count.requests += 1
            try:
                response = await send(client, *args, **kwargs)
            except Exception as err:
                count.fail(type(err).__name__)
                raise
            if response.status_code in RETRYABLE_STATUSES:
                count.fail(f"HTTP {response.status_code}")
            return response

        AsyncAEPClient._send = counted_send  # type: ignore[method-assign,assignment]

        async def list_runs(
            client: AsyncAEPClient, properties: Sequence[str], *args: Any, **kwargs: Any
        ) -> Any:
            runs = await original(client, properties, *args, **kwargs)
            count.polls += 1
            if count.first_round_done is None:
                count.polled.add(properties[0])
                if len(count.polled) == count.triggers:
                    count.first_round_done = time.monotonic()
            return runs

        AsyncAEPClient.list_runs = list_runs  # type: ignore[method-assign,assignment]

    def fail(self, what: str) -> None:
        self.failed[what] += 1
        if self.first_round_done is None:
            self.failed_first_round += 1

    def failures(self) -> str:
        """The failed tries, by kind, and how many of them in the first round."""
        if not self.failed:
            return "none"
        kinds = ", ".join(f"{n} {what}" for what, n in self.failed.most_common())
        return f"{sum(self.failed.values())} ({kinds}); {self.failed_first_round} in the first round"


class GcPauses:
    """How long each of Python's cyclic garbage collections held the process (``gc.callbacks``):
    with tens of thousands of waits alive, a full collection walks all their objects."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._started = 0.0

    def __enter__(self) -> GcPauses:
        gc.callbacks.append(self._timed)
        return self

    def __exit__(self, *_: object) -> None:
        gc.callbacks.remove(self._timed)

    def _timed(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((int(info["generation"]), time.perf_counter() - self._started))

    def longest_ms(self, generation: int | None = None) -> float:
        found = [p for g, p in self.pauses if generation is None or g == generation]
        return round(max(found, default=0.0) * 1000, 1)


async def wait_for(trigger: AEPDataflowRunTrigger) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise RuntimeError("the trigger ended without an event")


async def start_as_the_triggerer_does(triggers: list[AEPDataflowRunTrigger]) -> list[asyncio.Task[Any]]:
    """One task per trigger, one started per loop turn: Airflow's ``TriggerRunner.create_triggers``
    yields to the loop (``await asyncio.sleep(0)``) before it starts each new trigger."""
    tasks = []
    for trigger in triggers:
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(wait_for(trigger)))
    return tasks


async def run_all(triggers: list[AEPDataflowRunTrigger], *, all_at_once: bool = False) -> dict[str, Any]:
    """Run every trigger in this loop, sampling RSS, open sockets and the loop's lag while they wait.

    ``all_at_once`` starts them in one loop turn (the worst case) instead of as the triggerer does."""
    process = psutil.Process()
    samples: dict[str, Any] = {"peak_rss": process.memory_info().rss, "lags": [], "peak_sockets": 0}
    done = asyncio.Event()

    async def watch() -> None:
        loop = asyncio.get_running_loop()
        ticks = 0
        while not done.is_set():
            planned = loop.time() + 0.05
            await asyncio.sleep(0.05)
            samples["lags"].append((loop.time(), loop.time() - planned))
            samples["peak_rss"] = max(samples["peak_rss"], process.memory_info().rss)
            ticks += 1
            if ticks % 20 == 0:
                sockets = len(process.net_connections(kind="tcp"))
                samples["peak_sockets"] = max(samples["peak_sockets"], sockets)

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0)
    started = time.monotonic()
    if all_at_once:
        tasks = [asyncio.ensure_future(wait_for(t)) for t in triggers]
    else:
        tasks = await start_as_the_triggerer_does(triggers)
    created = asyncio.get_running_loop().time()
    events = await asyncio.gather(*tasks)
    done.set()
    await watcher
    return {"events": events, "started": started, "created": created, **samples}


def poke_worker_rss(flow_id: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", POKE_WORKER.format(flow_id=flow_id)],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.split()[-1])


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=TRIGGERS, help="how many triggers (default 10,000)")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=None,
        help="seconds between polls (default: triggers / 500, at least 2)",
    )
    parser.add_argument(
        "--schedule-aware",
        action="store_true",
        help="the triggers wait schedule-aware (as the sensor's deferrable default), not at a fixed interval",
    )
    parser.add_argument(
        "--all-at-once",
        action="store_true",
        help="start every trigger in one loop turn (the worst case), not one per turn as Airflow's "
        "triggerer starts new triggers",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the triggers under cProfile and print the functions and areas with the most own time "
        "(cProfile slows them several times over: the other figures are then not comparable)",
    )
    return parser.parse_args(argv)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else 0.0


def main(argv: Sequence[str] | None = None) -> dict:
    args = parse_args(argv)
    count: int = args.triggers
    poll_seconds: float = args.poll_interval or max(2.0, count / POLLS_PER_SECOND)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count + 4096)), hard))
    # time-scale 1: a start time in the future is that many real seconds away.
    with emulator_process("--first-run-delay", "0", "--run-duration", "6", "--time-scale", "1") as config:
        use_emulator(config)
        hook = AEPHook()
        connections = create_connections(hook)
        started_ms = int(time.time() * 1000) - 1000
        # Warm up on one flow: imports, the TLS context, the token cache.
        [warm_up] = create_flows(connections, [int(time.time())])
        asyncio.run(wait_for(AEPDataflowRunTrigger(flow_id=warm_up, since_ms=started_ms, poll_interval=0.5)))
        # How fast flows are created here, so every run falls due after its trigger has started.
        clock = time.monotonic()
        create_flows(connections, [int(time.time()) + 86400] * 40)
        per_flow = (time.monotonic() - clock) / 40
        first_due = int(time.time() + per_flow * count * 1.5 + 5 + count / 1000)
        creating = time.monotonic()
        flow_ids = create_flows(connections, [first_due + n % RUN_SPREAD_SECONDS for n in range(count)])
        creating = time.monotonic() - creating
        polls = PollCount(count)
        polls.install()
        process = psutil.Process()
        baseline_rss = process.memory_info().rss
        cpu_before, wall_before = time.process_time(), time.monotonic()
        triggers = [
            AEPDataflowRunTrigger(
                flow_id=flow_id,
                since_ms=started_ms,
                poll_interval=poll_seconds,
                deadline=time.time() + 1800,
                schedule_aware=args.schedule_aware,
            )
            for flow_id in flow_ids
        ]
        profile = cProfile.Profile() if args.profile else None
        with CpuSampler() as sampler, GcPauses() as collections:
            if profile is not None:
                profile.enable()
            outcome = asyncio.run(run_all(triggers, all_at_once=args.all_at_once))
            if profile is not None:
                profile.disable()
        cpu = time.process_time() - cpu_before
        wall = time.monotonic() - wall_before
        runs_due_in = first_due - time.time() + wall
        worker_rss = poke_worker_rss(flow_ids[0])
    statuses = [e["status"] for e in outcome["events"]]
    records = {e["summary"]["output_records"] for e in outcome["events"] if e["status"] == "success"}
    per_trigger_kb = (outcome["peak_rss"] - baseline_rss) / count / 1024
    # The start-up burst: the longest the loop was held while the triggers were being started
    # (up to the first lag sample after the last one was): their first steps (the connection
    # read, the first request) run as they start. The first round lasts until every trigger
    # has had its first answer.
    loop_started = outcome["lags"][0][0] - outcome["lags"][0][1] - 0.05
    first_round_end = loop_started + ((polls.first_round_done or time.monotonic()) - outcome["started"])
    while_starting = [lag for at, lag in outcome["lags"] if at < outcome["created"]]
    right_after = [lag for at, lag in outcome["lags"] if at >= outcome["created"]][:1]
    start_hold = max(while_starting + right_after, default=0.0)
    first_round = [lag for at, lag in outcome["lags"] if at <= first_round_end]
    steady = [lag for at, lag in outcome["lags"] if at > first_round_end]
    figures = {
        "triggers": count,
        "succeeded": statuses.count("success"),
        "output_records_per_run": sorted(records),
        "poll_interval_seconds": poll_seconds,
        "flows_created_seconds": round(creating, 1),
        "runs_due_seconds_after_start": round(runs_due_in, 1),
        "wall_seconds": round(wall, 1),
        "memory_per_trigger_kb": round(per_trigger_kb, 1),
        "peak_tcp_sockets": outcome["peak_sockets"],
        "polls": polls.polls,
        "requests": polls.requests,
        "schedule_aware": args.schedule_aware,
        "started": "all at once" if args.all_at_once else "one per loop turn, as the triggerer",
        "cpu_seconds": round(cpu, 2),
        "cpu_ms_per_poll": round(cpu / max(polls.polls, 1) * 1000, 2),
        "cpu_ms_per_request": round(cpu / max(polls.requests, 1) * 1000, 2),
        "start_hold_ms": round(start_hold * 1000, 1),
        "first_round_seconds": round(first_round_end - loop_started, 2),
        "loop_lag_first_round_p50_ms": round(percentile(first_round, 0.5) * 1000, 1),
        "loop_lag_first_round_max_ms": round(max(first_round, default=0.0) * 1000, 1),
        "loop_lag_steady_p50_ms": round(percentile(steady, 0.5) * 1000, 1),
        "loop_lag_steady_p99_ms": round(percentile(steady, 0.99) * 1000, 1),
        "loop_lag_steady_max_ms": round(max(steady, default=0.0) * 1000, 1),
        "poke_worker_rss_mb": round(worker_rss / 2**20, 1),
        "gc_collections": len(collections.pauses),
        "gc_longest_full_ms": collections.longest_ms(2),
        "gc_longest_ms": collections.longest_ms(),
        "failed_tries": sum(polls.failed.values()),
        "failed_tries_first_round": polls.failed_first_round,
        "failed_tries_by_kind": dict(polls.failed),
    }
    show(
        f"3. Deferral at scale: {count} AEPDataflowRunTriggers in one event loop, "
        + ("schedule-aware" if args.schedule_aware else "polling at a fixed interval"),
        [
            ("completed", f"{figures['succeeded']}/{count} success, {records} records each, in {wall:.1f} s "
                          f"(runs due {runs_due_in:.0f}-{runs_due_in + RUN_SPREAD_SECONDS:.0f} s after the start)"),
            ("memory per trigger", f"{per_trigger_kb:.1f} KB (peak RSS over baseline; target: at most 16 KB)"),
            ("sockets", f"{outcome['peak_sockets']} TCP connections open at most"),
            ("polls", f"{polls.polls} GET /runs, every {poll_seconds:g} s per trigger"),
            ("failed tries", f"{polls.failures()} (target: none; each is retried)"),
            ("CPU per poll", f"{figures['cpu_ms_per_poll']} ms ({cpu:.1f} s CPU in all; target: at most 1.5 ms); "
                             f"{figures['cpu_ms_per_request']} ms per request ({polls.requests}: the polls, "
                             f"each wait's flow read, retries)"),
            ("start-up burst", f"starting {count} ({figures['started']}) held the loop at most "
                               f"{figures['start_hold_ms']} ms (target: under 1 s); first round "
                               f"(every trigger answered once) {figures['first_round_seconds']} s, lag p50 "
                               f"{figures['loop_lag_first_round_p50_ms']} ms, max {figures['loop_lag_first_round_max_ms']} ms"),
            ("garbage collection", f"{figures['gc_collections']} collections, the longest "
                                   f"{figures['gc_longest_ms']} ms (full: {figures['gc_longest_full_ms']} ms): "
                                   f"Python's, over every object of every wait, holding the loop meanwhile"),
            ("event loop lag", f"after it: p50 {figures['loop_lag_steady_p50_ms']} ms, "
                               f"p99 {figures['loop_lag_steady_p99_ms']} ms, max {figures['loop_lag_steady_max_ms']} ms"),
            ("poke mode instead", f"{count} worker slots held for the whole wait; one poking task process "
                                  f"is {figures['poke_worker_rss_mb']} MB RSS, so about "
                                  f"{figures['poke_worker_rss_mb'] * count / 1024:.0f} GB"),
        ],
    )  # fmt: skip
    cpu_ms_per_poll = figures["cpu_ms_per_poll"]
    show(f"Where the CPU of a poll goes (sampled every {sampler.interval * 1000:g} ms, by innermost frame)",
         sampler.rows(cpu_ms_per_poll))  # fmt: skip
    if profile is not None:
        RESULTS.mkdir(exist_ok=True)
        profile.dump_stats(str(RESULTS / "deferral_at_scale.prof"))
        functions, areas = profile_rows(profile)
        show("cProfile: the functions with the most own time (slowed by cProfile)", functions)
        show("cProfile: own time by area (generic code counted to its callers)", areas)
    name = "deferral_at_scale" + (f"_{count}" if count != TRIGGERS else "")
    name += "_schedule_aware" if args.schedule_aware else ""
    name += "_all_at_once" if args.all_at_once else ""
    dump(name + ("_profiled" if profile is not None else ""), figures)
    return figures


if __name__ == "__main__":
    main()
