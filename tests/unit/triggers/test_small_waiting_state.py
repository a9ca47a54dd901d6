"""Between two polls a trigger keeps a few numbers, not the runs and flow it read, and still
decides its next look as the poking sensor does (``poll_plan.next_look``)."""

from __future__ import annotations

import asyncio
import gc
import types
import weakref
from typing import Any

import httpx
import pytest

from airflow_provider_aep.hooks.async_client import AsyncAEPClient
from airflow_provider_aep.hooks.retry import RetryPolicy
from airflow_provider_aep.triggers import dataflow_run
from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger, _Waiting
from airflow_provider_aep.triggers.query import AEPQueryTrigger
from airflow_provider_aep.triggers.shared_log import shared_log
from airflow_provider_aep.utils.poll_plan import next_look
from airflow_provider_aep.utils.runs import started_at_ms
from airflow_provider_aep.utils.schedule_starts import flow_starts
from airflow_provider_aep.utils.scrubbed_logs import scrubbed
from tests.unit.hooks.test_async_client import settings
from tests.unit.triggers.test_schedule_aware_trigger import DAY, MIDNIGHT, MINUTE, SIX_AM, Clock, ScheduledAEP


class Answer(dict):
    """A dict a weak reference can follow: whether the trigger still holds an answer."""


class WatchedAEP(ScheduledAEP):
    """Every answer is kept by weak reference, so a test can ask which ones the trigger still holds."""

    def __init__(self, clock: Clock, **kwargs: Any) -> None:
        super().__init__(clock, **kwargs)
        self.answers: list[weakref.ref[Answer]] = []

    def _watched(self, value: dict) -> Answer:
        answer = Answer(value)
        self.answers.append(weakref.ref(answer))
        return answer

    async def list_runs(self, properties: list[str]) -> list[dict]:
        return [self._watched(r) for r in await super().list_runs(properties)]

    async def get_flow(self, flow_id: str) -> dict:
        return self._watched(await super().get_flow(flow_id))


def test_a_waiting_trigger_holds_no_run_or_flow_it_read_between_polls(mocker):
    aep = WatchedAEP(Clock(MIDNIGHT), run_starts=SIX_AM + 2 * MINUTE)
    held: list[int] = []

    async def sleep(seconds: float) -> None:
        gc.collect()
        held.append(sum(ref() is not None for ref in aep.answers))
        await aep.clock.sleep(seconds)

    mocker.patch.object(dataflow_run, "time", types.SimpleNamespace(time=aep.clock.time))
    mocker.patch.object(dataflow_run, "_sleep", sleep)
    mocker.patch.object(AEPDataflowRunTrigger, "hook", return_value=aep)
    trigger = AEPDataflowRunTrigger(
        flow_id="f-1",
        since_ms=int(MIDNIGHT * 1000),
        until_ms=int((MIDNIGHT + DAY) * 1000),
        poll_interval=30.0,
        deadline=MIDNIGHT + 2 * DAY,
        schedule_aware=True,
    )

    async def first_event() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("no event")

    event = asyncio.run(first_event())
    assert event["status"] == "success"
    assert len(aep.answers) > 10  # flows read while asleep, runs while in progress
    assert held
    assert set(held) == {0}


def test_the_waiting_state_is_a_few_slots():
    waiting = _Waiting()
    assert not hasattr(waiting, "__dict__")
    assert set(_Waiting.__slots__) == {"flow_read", "last_said", "polls", "slept_for_schedule", "starts"}


@pytest.mark.parametrize("now", [MIDNIGHT, SIX_AM - 30, SIX_AM + 40 * MINUTE, SIX_AM + 3 * 3600])
@pytest.mark.parametrize("run_id", [None, "today"])
@pytest.mark.parametrize("with_run", [False, True])
@pytest.mark.parametrize("flow_read", [False, True])
def test_the_next_look_is_the_one_poll_plan_decides_from_the_run_and_flow(
    mocker, now, run_id, with_run, flow_read
):
    clock = Clock(now)
    aep = ScheduledAEP(clock, run_starts=SIX_AM + 2 * MINUTE)
    run = aep._run() if with_run else None
    mocker.patch.object(dataflow_run, "time", types.SimpleNamespace(time=clock.time))
    mocker.patch.object(dataflow_run, "random", types.SimpleNamespace(random=lambda: 0.37))
    trigger = AEPDataflowRunTrigger(
        flow_id="f-1", since_ms=int(MIDNIGHT * 1000), run_id=run_id, poll_interval=30.0, schedule_aware=True
    )
    waiting = _Waiting()
    if flow_read:
        waiting.saw_flow(aep.flow, keep_starts=not run_id)
    expected = next_look(
        started_at_ms(run) if run else None,
        flow_starts(aep.flow) if flow_read else None,
        flow_read=flow_read,
        pinned=bool(run_id),
        since_ms=int(MIDNIGHT * 1000),
        now_ms=int(now * 1000),
        poll_interval=30.0,
        spread=0.37,
    )
    assert trigger._look(started_at_ms(run) if run else None, waiting) == expected


def test_every_trigger_of_a_class_writes_to_one_scrubbed_logger_and_its_hook_retries_there():
    first, second = AEPDataflowRunTrigger(flow_id="f-1"), AEPDataflowRunTrigger(flow_id="f-2")
    assert first.log is second.log
    # Scrubbed already (a wrapper; on Airflow 3.0, the filter on the stdlib logger), and named
    # as Airflow names a trigger's log.
    assert scrubbed(first.log) is first.log
    assert getattr(first.log, "_logger", first.log) is AEPDataflowRunTrigger.logger()
    assert first.hook().retry_log is first.log
    query = AEPQueryTrigger(query_id="q-1")
    assert query.log is shared_log(AEPQueryTrigger) is not first.log
    assert query.hook().retry_log is query.log


def test_a_subclass_writes_to_a_logger_named_after_itself_even_when_its_parents_came_first():
    class MyRunTrigger(AEPDataflowRunTrigger):
        pass

    parent = AEPDataflowRunTrigger(flow_id="f-1").log
    child = MyRunTrigger(flow_id="f-2").log
    assert child is not parent
    assert getattr(child, "_logger", child) is MyRunTrigger.logger()
    assert MyRunTrigger.logger() is not AEPDataflowRunTrigger.logger()


def test_waits_with_the_default_settings_share_their_retry_policy_timeout_and_logger():
    trigger = AEPDataflowRunTrigger(flow_id="f-1")
    clients = [
        AsyncAEPClient(settings(), logger=trigger.log),
        AsyncAEPClient(settings(), logger=trigger.log),
    ]
    assert clients[0].retry_policy is clients[1].retry_policy == RetryPolicy()
    assert clients[0].timeout is clients[1].timeout
    assert clients[0].timeout == httpx.Timeout(settings().timeout[1], connect=settings().timeout[0])
    assert clients[0].log is clients[1].log is trigger.log
    own = AsyncAEPClient(settings(), timeout=(1.0, 2.0), retry_policy=RetryPolicy(max_attempts=2))
    assert own.timeout == httpx.Timeout(2.0, connect=1.0)
    assert own.retry_policy.max_attempts == 2


def test_the_statuses_are_kept_as_tuples_and_serialized_as_lists():
    trigger = AEPDataflowRunTrigger(flow_id="f", success_statuses=["success"], failure_statuses=["failed"])
    assert trigger.success_statuses == ("success",)
    gc.collect()
    assert not gc.is_tracked(trigger.success_statuses)  # the collector walks it no more
    kwargs = trigger.serialize()[1]
    assert kwargs["success_statuses"] == ["success"]
    assert kwargs["failure_statuses"] == ["failed"]
    assert AEPDataflowRunTrigger(**kwargs).serialize() == trigger.serialize()


def test_a_wait_sleeps_on_a_bare_future_woken_at_its_time_and_a_cancelled_sleep_stays_quiet():
    async def go() -> tuple[float, list[dict], bool]:
        loop = asyncio.get_running_loop()
        errors: list[dict] = []
        loop.set_exception_handler(lambda _loop, context: errors.append(context))
        started = loop.time()
        sleeping = dataflow_run._sleep(0.05)
        assert isinstance(sleeping, asyncio.Future)  # no coroutine held for the sleep
        await sleeping
        slept = loop.time() - started
        cancelled = dataflow_run._sleep(0.01)
        cancelled.cancel()
        await asyncio.sleep(0.05)  # its alarm rings, unheard
        return slept, errors, cancelled.cancelled()

    slept, errors, was_cancelled = asyncio.run(go())
    assert slept >= 0.05
    assert errors == []
    assert was_cancelled


def test_sleeps_in_event_loops_of_two_threads_ringing_together_all_wake(monkeypatch):
    """A context cannot be entered by two threads at once: each loop's alarms have their own."""
    import threading
    import time as clock

    wake = dataflow_run._wake

    def slow_wake(woken: asyncio.Future[None]) -> None:
        clock.sleep(0.001)  # lets the other threads' alarms ring meanwhile
        wake(woken)

    monkeypatch.setattr(dataflow_run, "_wake", slow_wake)
    woken: list[int] = []
    errors: list[dict] = []
    start = threading.Barrier(4)

    async def many() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
        start.wait()
        await asyncio.wait_for(asyncio.gather(*(dataflow_run._sleep(0.05) for _ in range(200))), 10)
        woken.append(200)

    threads = [threading.Thread(target=asyncio.run, args=(many(),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert woken == [200] * 4
