"""AEPDataflowRunTrigger: waits in the triggerer for a dataflow run to finish, without a worker slot."""

from __future__ import annotations

import asyncio
import contextvars
import random
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_aep.utils.run_statuses import DEFAULT_FAILURE_STATUSES, DEFAULT_SUCCESS_STATUSES
from airflow_provider_aep.utils.runs import (
    FLOW_STATE_EVERY,
    WaitWindow,
    failure_is_stale,
    flow_is_disabled,
    outcome_of,
    select_run,
    started_at_ms,
    summarize_run,
)

if TYPE_CHECKING:
    from airflow_provider_aep.hooks.aep_async import AEPAsyncHook
    from airflow_provider_aep.utils.poll_plan import NextLook
    from airflow_provider_aep.utils.schedule_starts import StartSeries


class AEPDataflowRunTrigger(BaseTrigger):
    """Polls Flow Service runs asynchronously and fires one event: success, failed, disabled, ended,
    missing, timeout or error.

    :class:`~airflow_provider_aep.sensors.dataflow_run.AEPDataflowRunSensor` builds it when it
    defers, passing on its own settings, so a deferred sensor waits as a poking one does.

    :param flow_id: the dataflow whose run is awaited.
    :param aep_conn_id: the ``aep`` Airflow connection.
    :param sandbox_name: the sandbox instead of the connection's.
    :param since_ms: only runs started at or after this epoch-millisecond moment count.
    :param until_ms: only runs started before this epoch-millisecond moment count.
    :param until_grace: seconds after ``until_ms`` to keep looking; then ``missing`` fires.
    :param run_id: watch this run instead.
    :param latest: watch the newest run instead of the first since ``since_ms``.
    :param poll_interval: seconds between polls, give or take 10%, so triggers started together
        do not poll in lockstep.
    :param deadline: epoch seconds; past it the trigger reports ``timeout`` (the sensor's timeout).
    :param success_statuses: run statuses that fire ``success`` (case-insensitive).
    :param failure_statuses: run statuses that fire ``failed`` (case-insensitive).
    :param retry_policy: the sensor's hook's retry policy, as a dict of
        ``RetryPolicy`` fields (default: the standard policy).
    :param timeout: (connect, read) seconds per request (default: the connection's).
    :param stale_failed_at: the end of the failure a re-trigger AEP took answered
        (``completed_at``): a failed run that still shows it is running again, so the wait goes on.
    :param schedule_aware: sleep while the flow's schedule can start no run for this wait, and
        poll a run in progress with a backoff bounded by ``poll_interval``
        (:mod:`~airflow_provider_aep.utils.poll_plan`); False (the default of a trigger
        serialized before it existed): poll every ``poll_interval``.

    While no run is there, the flow is read on the first poll and every few after: a disabled
    flow fires ``disabled``, one whose schedule starts no run for this wait (ended, or its next
    run after ``until_ms``) fires ``ended`` with the reason as its message.
    """

    def __init__(
        self,
        *,
        flow_id: str,
        aep_conn_id: str = "aep_default",
        sandbox_name: str | None = None,
        since_ms: int | None = None,
        until_ms: int | None = None,
        until_grace: float = 300.0,
        run_id: str | None = None,
        latest: bool = False,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        success_statuses: Sequence[str] = DEFAULT_SUCCESS_STATUSES,
        failure_statuses: Sequence[str] = DEFAULT_FAILURE_STATUSES,
        retry_policy: dict[str, Any] | None = None,
        timeout: Sequence[float] | None = None,
        stale_failed_at: str | None = None,
        schedule_aware: bool = False,
    ) -> None:
        super().__init__()
        self.flow_id = flow_id
        self.aep_conn_id = aep_conn_id
        self.sandbox_name = sandbox_name
        #: The runs that count, as the sensor worked them out (``since_ms``, ``until_ms``, ``until_grace``).
        self.window = WaitWindow(since_ms, until_ms, until_grace)
        self.run_id = run_id
        self.latest = latest
        self.poll_interval = poll_interval
        self.deadline = deadline
        # Tuples of strings, which Python's garbage collector stops walking (lists it walks in every wait).
        self.success_statuses = tuple(success_statuses)
        self.failure_statuses = tuple(failure_statuses)
        #: The sensor's hook settings, so a deferred sensor retries and times out as a poking one.
        self.retry_policy = dict(retry_policy) if retry_policy else None
        self.timeout = list(timeout) if timeout else None
        #: When the failure a re-trigger answered ended: AEP may show it a little longer.
        self.stale_failed_at = stale_failed_at
        self.schedule_aware = schedule_aware

    @property
    def since_ms(self) -> int | None:
        """Only runs started at or after this epoch-millisecond moment count."""
        return self.window.since_ms

    @property
    def until_ms(self) -> int | None:
        """Only runs started before this epoch-millisecond moment count."""
        return self.window.until_ms

    @property
    def until_grace(self) -> float:
        """Seconds after ``until_ms`` to keep looking."""
        return self.window.grace_seconds

    @property
    def log(self) -> Any:
        """The triggerer's logger for this trigger class, every line scrubbed of credential shapes
        (one for all the triggers of the class: ``triggers.shared_log``)."""
        from airflow_provider_aep.triggers.shared_log import shared_log

        return shared_log(type(self))

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_provider_aep.triggers.dataflow_run.AEPDataflowRunTrigger",
            {
                "flow_id": self.flow_id,
                "aep_conn_id": self.aep_conn_id,
                "sandbox_name": self.sandbox_name,
                "since_ms": self.since_ms,
                "until_ms": self.until_ms,
                "until_grace": self.until_grace,
                "run_id": self.run_id,
                "latest": self.latest,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "success_statuses": list(self.success_statuses),
                "failure_statuses": list(self.failure_statuses),
                "retry_policy": self.retry_policy,
                "timeout": self.timeout,
                "stale_failed_at": self.stale_failed_at,
                "schedule_aware": self.schedule_aware,
            },
        )

    def hook(self) -> AEPAsyncHook:
        """The async hook this trigger polls through.

        :return: a hook with the sensor's connection, sandbox, retry policy and timeouts, whose
            retries are logged to this trigger's log.
        """
        from airflow_provider_aep.hooks.aep_async import AEPAsyncHook
        from airflow_provider_aep.hooks.retry import RetryPolicy

        return AEPAsyncHook(
            self.aep_conn_id,
            sandbox_name=self.sandbox_name,
            timeout=self.timeout,
            retry_policy=RetryPolicy(**self.retry_policy) if self.retry_policy else None,
            logger=self.log,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the run ends, then fire one event; every failure is an ``error`` event.

        Cancellation (the task was cleared, or the triggerer hands the trigger to another) is not
        a failure: it propagates, and no event fires.
        """
        # Between two polls the wait keeps a _Waiting (a few numbers), not the runs and flow it
        # read: kilobytes each, held by every one of thousands of waits while it sleeps. The
        # loop is here, not in a coroutine of its own: one object less per wait to collect.
        try:
            async with self.hook() as hook:
                waiting = _Waiting()
                while not isinstance(step := await self._poll(hook, waiting), dict):
                    await _sleep(step)
                payload = step
        except asyncio.CancelledError:
            raise
        except Exception as err:
            payload = self._error(err)
        yield TriggerEvent(payload)

    async def _poll(self, hook: AEPAsyncHook, waiting: _Waiting) -> dict[str, Any] | float:
        """One look at AEP: the event's payload when the wait is over, else the sleep until the next."""
        if self.run_id:
            runs = [await hook.get_run(self.run_id)]
        else:
            runs = await hook.list_runs(self.window.filters(self.flow_id))
        outcome = outcome_of(
            select_run(runs, run_id=self.run_id, latest=self.latest),
            self.success_statuses,
            self.failure_statuses,
        )
        waiting.polls += 1
        # The flow is read on the first look without a run, every few after, and after a
        # sleep for the schedule (which may have changed meanwhile).
        if outcome.run is None and (waiting.polls % FLOW_STATE_EVERY == 1 or waiting.slept_for_schedule):
            flow = await hook.get_flow(self.flow_id)
            if flow_is_disabled(flow):
                return {
                    "status": "disabled",
                    "flow_id": self.flow_id,
                    "message": f"dataflow {self.flow_id} is disabled",
                }
            reason = self.window.why_no_run_will_come(flow, now_ms=int(time.time() * 1000))
            if reason:
                return {"status": "ended", "flow_id": self.flow_id, "message": reason}
            waiting.saw_flow(flow, keep_starts=self.schedule_aware and not self.run_id)
        if outcome.run is None and self.window.closed(int(time.time() * 1000)):
            return {
                "status": "missing",
                "flow_id": self.flow_id,
                "message": f"no run of dataflow {self.flow_id} started in the window",
            }
        if outcome.state != "waiting" and outcome.run is not None:
            summary = summarize_run(outcome.run)
            stale = outcome.state == "failed" and failure_is_stale(
                summary, failed_at=self.stale_failed_at, run_id=self.run_id
            )
            if not stale:
                return {"status": outcome.state, "flow_id": self.flow_id, "summary": summary}
        if self.deadline is not None and time.time() >= self.deadline:
            return {
                "status": "timeout",
                "flow_id": self.flow_id,
                "message": f"still waiting: {outcome.reason}",
            }
        look = self._look(None if outcome.run is None else started_at_ms(outcome.run), waiting)
        pause = self._pause(look)
        # One INFO line per change (no run yet, asleep for the schedule, run seen, run
        # progressing); each poll at DEBUG, so the log of a week-long wait stays readable.
        said = self.log.info if (outcome.reason, look.quiet) != waiting.last_said else self.log.debug
        why = f"; {look.why}" if look.why else ""
        said("Dataflow %s: %s%s; polling again in %.0fs", self.flow_id, outcome.reason, why, pause)
        waiting.last_said = (outcome.reason, look.quiet)
        waiting.slept_for_schedule = look.quiet
        return pause

    def _look(self, run_started_ms: int | None, waiting: _Waiting) -> NextLook:
        """How long to sleep before the next poll: :func:`~airflow_provider_aep.utils.poll_plan.next_look`,
        as the poking sensor decides, from what the wait kept of the run and flow it read."""
        from airflow_provider_aep.utils.poll_plan import NextLook, next_look

        if not self.schedule_aware:
            return NextLook(self.poll_interval)
        return next_look(
            run_started_ms,
            waiting.starts,
            flow_read=waiting.flow_read,
            pinned=bool(self.run_id),
            since_ms=self.window.since_ms,
            now_ms=int(time.time() * 1000),
            poll_interval=self.poll_interval,
            spread=random.random(),
        )

    def _error(self, err: Exception) -> dict[str, Any]:
        """The ``error`` event for a failure: AEP's own words, or what failed and how, scrubbed."""
        from airflow_provider_aep.exceptions import AEPError
        from airflow_provider_aep.redaction.secrets import scrub

        # No traceback in the log: its frames and texts would reach the log unscrubbed.
        message = str(err) if isinstance(err, AEPError) else f"the wait failed: {type(err).__name__}: {err}"
        message = scrub(message)
        self.log.error("Dataflow %s: %s", self.flow_id, message)
        return {"status": "error", "flow_id": self.flow_id, "message": message}

    def _pause(self, look: NextLook) -> float:
        """The sleep before the next poll: the poll interval ±10%, so sensors deferred together do
        not poll AEP in lockstep (a sleep for the schedule is spread already); never past the
        deadline, nor past the end of the window (then ``missing`` fires)."""
        now = time.time()
        limits = [look.seconds if look.quiet else look.seconds * random.uniform(0.9, 1.1)]
        if self.deadline is not None:
            limits.append(self.deadline - now)
        if self.window.until_ms is not None:
            limits.append((self.window.until_ms + self.window.grace_seconds * 1000) / 1000 - now)
        return max(0.0, min(limits))


class _Waiting:
    """What a wait keeps between two polls: how many it made, what it last said, and when the
    flow's runs may start (worked out from the flow when it was read; the flow is not kept)."""

    __slots__ = ("flow_read", "last_said", "polls", "slept_for_schedule", "starts")

    def __init__(self) -> None:
        self.polls = 0
        self.last_said: tuple[str, bool] | None = None
        self.slept_for_schedule = False
        self.flow_read = False
        self.starts: list[StartSeries] | None = None

    def saw_flow(self, flow: dict[str, Any], *, keep_starts: bool) -> None:
        """The flow was read: keep when its runs may start, when the next look needs it."""
        from airflow_provider_aep.utils.schedule_starts import flow_starts

        self.flow_read = True
        self.starts = flow_starts(flow) if keep_starts else None


#: The context each event loop's wake-up alarms run in (waking a future reads no context
#: variable): one per loop, as a context cannot be entered by two threads at once.
_ALARM_CONTEXTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, contextvars.Context] = (
    weakref.WeakKeyDictionary()
)


def _sleep(seconds: float) -> asyncio.Future[None]:
    """``asyncio.sleep(seconds)`` as a bare future: each of thousands of sleeping waits then holds
    no coroutine for its sleep and no copy of its context, two objects fewer for Python's
    garbage collector to walk. A cancelled wait leaves its alarm to ring unheard."""
    loop = asyncio.get_running_loop()
    context = _ALARM_CONTEXTS.get(loop)
    if context is None:  # not setdefault: it makes a weak reference on every call
        context = _ALARM_CONTEXTS[loop] = contextvars.Context()
    woken: asyncio.Future[None] = loop.create_future()
    loop.call_later(seconds, _wake, woken, context=context)
    return woken


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():  # cancelled: the wait is over
        woken.set_result(None)
