"""AEPDataflowRunTrigger: waits in the triggerer for a dataflow run to finish, without a worker slot."""

from __future__ import annotations

import asyncio
import functools
import random
import time
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow_provider_aep.utils.runs import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_SUCCESS_STATUSES,
    FLOW_STATE_EVERY,
    flow_is_disabled,
    outcome_of,
    run_filters,
    select_run,
    summarize_run,
    why_no_run_will_come,
    window_closed,
)
from airflow_provider_aep.version_compat import BaseTrigger, TriggerEvent, read_connection_async

#: Connection reads under way, per event loop and connection id: triggers that start together
#: (a triggerer picking up thousands at once) share one read instead of queueing one each.
_READING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Future[Any]]] = (
    weakref.WeakKeyDictionary()
)


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
    ) -> None:
        super().__init__()
        self.flow_id = flow_id
        self.aep_conn_id = aep_conn_id
        self.sandbox_name = sandbox_name
        self.since_ms = since_ms
        self.until_ms = until_ms
        self.until_grace = until_grace
        self.run_id = run_id
        self.latest = latest
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.success_statuses = list(success_statuses)
        self.failure_statuses = list(failure_statuses)
        #: The sensor's hook settings, so a deferred sensor retries and times out as a poking one.
        self.retry_policy = dict(retry_policy) if retry_policy else None
        self.timeout = list(timeout) if timeout else None
        #: When the failure a re-trigger answered ended: AEP may show it a little longer.
        self.stale_failed_at = stale_failed_at

    @property
    def log(self) -> Any:
        """The triggerer's logger for this trigger, every line scrubbed of credential shapes."""
        from airflow_provider_aep.utils.scrubbed_logs import scrubbed

        return scrubbed(super().log)

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
                "success_statuses": self.success_statuses,
                "failure_statuses": self.failure_statuses,
                "retry_policy": self.retry_policy,
                "timeout": self.timeout,
                "stale_failed_at": self.stale_failed_at,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from airflow_provider_aep.exceptions import AEPError
        from airflow_provider_aep.hooks.async_client import AsyncAEPClient
        from airflow_provider_aep.hooks.retry import RetryPolicy

        try:
            settings = await self._shared_settings()
            async with AsyncAEPClient(
                settings,
                sandbox_name=self.sandbox_name,
                timeout=(self.timeout[0], self.timeout[1]) if self.timeout else None,
                retry_policy=RetryPolicy(**self.retry_policy) if self.retry_policy else None,
                logger=self.log,
            ) as client:
                polls = 0
                while True:
                    if self.run_id:
                        runs = [await client.get_run(self.run_id)]
                    else:
                        runs = await client.list_runs(run_filters(self.flow_id, self.since_ms, self.until_ms))
                    outcome = outcome_of(
                        select_run(runs, run_id=self.run_id, latest=self.latest),
                        self.success_statuses,
                        self.failure_statuses,
                    )
                    polls += 1
                    if outcome.run is None and polls % FLOW_STATE_EVERY == 1:
                        flow = await client.get_flow(self.flow_id)
                        if flow_is_disabled(flow):
                            yield TriggerEvent(
                                {
                                    "status": "disabled",
                                    "flow_id": self.flow_id,
                                    "message": f"dataflow {self.flow_id} is disabled",
                                }
                            )
                            return
                        reason = why_no_run_will_come(
                            flow,
                            now_ms=int(time.time() * 1000),
                            until_ms=self.until_ms,
                            grace_ms=int(self.until_grace * 1000),
                        )
                        if reason:
                            yield TriggerEvent(
                                {"status": "ended", "flow_id": self.flow_id, "message": reason}
                            )
                            return
                    if outcome.run is None and window_closed(
                        self.until_ms, self.until_grace, int(time.time() * 1000)
                    ):
                        yield TriggerEvent(
                            {
                                "status": "missing",
                                "flow_id": self.flow_id,
                                "message": f"no run of dataflow {self.flow_id} started in the window",
                            }
                        )
                        return
                    stale = (
                        outcome.state == "failed"
                        and outcome.run is not None
                        and self.stale_failed_at is not None
                        and summarize_run(outcome.run)["completed_at"] == self.stale_failed_at
                    )
                    if outcome.state != "waiting" and outcome.run is not None and not stale:
                        yield TriggerEvent(
                            {
                                "status": outcome.state,
                                "flow_id": self.flow_id,
                                "summary": summarize_run(outcome.run),
                            }
                        )
                        return
                    if self.deadline is not None and time.time() >= self.deadline:
                        yield TriggerEvent(
                            {
                                "status": "timeout",
                                "flow_id": self.flow_id,
                                "message": f"still waiting: {outcome.reason}",
                            }
                        )
                        return
                    self.log.info(
                        "Dataflow %s: %s; polling again in %ss",
                        self.flow_id,
                        outcome.reason,
                        self.poll_interval,
                    )
                    await asyncio.sleep(self._next_sleep())
        except AEPError as err:
            yield TriggerEvent({"status": "error", "flow_id": self.flow_id, "message": str(err)})

    def _next_sleep(self) -> float:
        """The poll interval, ±10%: sensors deferred together do not poll AEP in lockstep."""
        pause = self.poll_interval * random.uniform(0.9, 1.1)
        if self.deadline is None:
            return pause
        return max(0.0, min(pause, self.deadline - time.time()))

    async def _shared_settings(self) -> Any:
        """The connection's settings, read once for every trigger of this loop waiting on the same read.

        Only a read under way is shared: a trigger that starts later reads the connection again,
        so an edited connection is seen as it is now. The read runs as a task of its own, so a
        trigger cancelled while waiting does not cancel it for the others.
        """
        reading = _READING.setdefault(asyncio.get_running_loop(), {})
        future = reading.get(self.aep_conn_id)
        if future is None:
            future = reading[self.aep_conn_id] = asyncio.ensure_future(self._settings())
            future.add_done_callback(functools.partial(_forget, reading, self.aep_conn_id))
        return await asyncio.shield(future)

    async def _settings(self) -> Any:
        from airflow_provider_aep.hooks.connection import AEPConnectionSettings

        return await read_connection_async(self.aep_conn_id, AEPConnectionSettings.from_connection)


def _forget(reading: dict[str, asyncio.Future[Any]], conn_id: str, done: asyncio.Future[Any]) -> None:
    if reading.get(conn_id) is done:
        del reading[conn_id]
    if not done.cancelled():
        done.exception()  # retrieved: a failed read is reported by the triggers that awaited it
