"""AEPSegmentJobTrigger: waits in the triggerer for a segment job to end, without a worker slot."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_aep.hooks.segmentation import (
    JOB_SUCCEEDED,
    job_errors,
    job_is_over,
    job_status,
    summarize_segment_job,
)

if TYPE_CHECKING:
    from airflow_provider_aep.hooks.aep_async import AEPAsyncHook

#: What each event status carries: ``succeeded`` and ``failed`` the job's summary (``failed`` AEP's
#: error text too), ``timeout`` and ``error`` a message.
EVENT_STATUSES = ("succeeded", "failed", "timeout", "error")


class AEPSegmentJobTrigger(BaseTrigger):
    """Polls a segment job (Segmentation API) asynchronously and fires one event: succeeded,
    failed (FAILED or CANCELLED, with AEP's error text), timeout or error.

    :class:`~airflow_provider_aep.operators.segment_jobs.AEPSegmentJobOperator` builds it when it
    defers, passing its settings on, so a deferred wait behaves as a poking one. When a person
    kills the deferred task (mark failed, clear), the job is cancelled (Airflow 3.3+ calls
    :meth:`on_kill`); a triggerer restart hands the trigger on and cancels nothing.

    :param job_id: the segment job.
    :param aep_conn_id: the ``aep`` Airflow connection.
    :param sandbox_name: the sandbox instead of the connection's.
    :param poll_interval: seconds between polls, give or take 10%.
    :param deadline: epoch seconds; past it the trigger reports ``timeout`` (the task's timeout).
    :param retry_policy: the task's hook's retry policy, as a dict of ``RetryPolicy`` fields.
    :param timeout: (connect, read) seconds per request (default: the connection's).
    """

    def __init__(
        self,
        *,
        job_id: str,
        aep_conn_id: str = "aep_default",
        sandbox_name: str | None = None,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        retry_policy: dict[str, Any] | None = None,
        timeout: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.job_id = job_id
        self.aep_conn_id = aep_conn_id
        self.sandbox_name = sandbox_name
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.retry_policy = dict(retry_policy) if retry_policy else None
        self.timeout = list(timeout) if timeout else None

    @property
    def log(self) -> Any:
        """The triggerer's logger for this trigger, every line scrubbed of credential shapes."""
        from airflow_provider_aep.utils.scrubbed_logs import scrubbed

        return scrubbed(super().log)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_provider_aep.triggers.segment_job.AEPSegmentJobTrigger",
            {
                "job_id": self.job_id,
                "aep_conn_id": self.aep_conn_id,
                "sandbox_name": self.sandbox_name,
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "retry_policy": self.retry_policy,
                "timeout": self.timeout,
            },
        )

    def hook(self) -> AEPAsyncHook:
        """The async hook this trigger polls through.

        :return: a hook with the task's connection, sandbox, retry policy and timeouts, whose
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
        """Poll until the job ends, then fire one event; every failure is an ``error`` event.

        Cancellation (the triggerer hands the trigger on, or the task was killed) propagates.
        """
        try:
            async with self.hook() as hook:
                payload = await self._wait(hook)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            payload = self._error(err)
        yield TriggerEvent(payload)

    async def _wait(self, hook: AEPAsyncHook) -> dict[str, Any]:
        while True:
            job = await hook.get_segment_job(self.job_id)
            status = job_status(job)
            if job_is_over(job):
                summary = summarize_segment_job(job)
                if status == JOB_SUCCEEDED:
                    return {"status": "succeeded", "job_id": self.job_id, "summary": summary}
                return {
                    "status": "failed",
                    "job_id": self.job_id,
                    "summary": summary,
                    "message": job_errors(job),
                }
            if self.deadline is not None and time.time() >= self.deadline:
                return {
                    "status": "timeout",
                    "job_id": self.job_id,
                    "message": f"segment job {self.job_id} is still {status}",
                }
            self.log.info(
                "Segment job %s is %s; polling again in %ss", self.job_id, status, self.poll_interval
            )
            await asyncio.sleep(self._next_sleep())

    async def on_kill(self) -> None:
        """A person killed the deferred task: cancel the segment job, so AEP stops evaluating."""
        try:
            async with self.hook() as hook:
                cancelled = await hook.cancel_segment_job(self.job_id)
        except Exception as err:
            self.log.warning(
                "Segment job %s could not be cancelled: %s", self.job_id, self._error(err)["message"]
            )
            return
        if cancelled:
            self.log.info("Segment job %s: cancellation asked (the task was killed)", self.job_id)

    def _error(self, err: Exception) -> dict[str, Any]:
        """The ``error`` event for a failure: AEP's own words, or what failed and how, scrubbed."""
        from airflow_provider_aep.exceptions import AEPError
        from airflow_provider_aep.redaction.secrets import scrub

        message = str(err) if isinstance(err, AEPError) else f"the wait failed: {type(err).__name__}: {err}"
        message = scrub(message)
        self.log.error("Segment job %s: %s", self.job_id, message)
        return {"status": "error", "job_id": self.job_id, "message": message}

    def _next_sleep(self) -> float:
        """The poll interval, ±10%, never past the deadline."""
        pause = self.poll_interval * random.uniform(0.9, 1.1)
        if self.deadline is None:
            return pause
        return max(0.0, min(pause, self.deadline - time.time()))
