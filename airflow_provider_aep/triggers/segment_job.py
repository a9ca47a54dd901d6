"""AEPSegmentJobTrigger: waits in the triggerer for a segment job to end, without a worker slot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.hooks.segmentation import (
    JOB_SUCCEEDED,
    job_errors,
    job_is_over,
    job_status,
    summarize_segment_job,
)
from airflow_provider_aep.triggers.remote_job import RemoteJobTrigger

if TYPE_CHECKING:
    from airflow_provider_aep.hooks.aep_async import AEPAsyncHook

#: What each event status carries: ``succeeded`` and ``failed`` the job's summary (``failed`` AEP's
#: error text too), ``timeout`` and ``error`` a message.
EVENT_STATUSES = ("succeeded", "failed", "timeout", "error")


class AEPSegmentJobTrigger(RemoteJobTrigger):
    """Polls a segment job (Segmentation API) asynchronously and fires one event: succeeded,
    failed (FAILED or CANCELLED, with AEP's error text), timeout or error.

    :class:`~airflow_provider_aep.operators.segment_jobs.AEPSegmentJobOperator` builds it when it
    defers, passing its settings on, so a deferred wait behaves as a poking one. When a person
    kills the deferred task (mark failed, clear), the job is cancelled (Airflow 3.3+ calls
    ``on_kill``); a triggerer restart hands the trigger on and cancels nothing.

    :param job_id: the segment job.
    :param aep_conn_id: the ``aep`` Airflow connection.
    :param sandbox_name: the sandbox instead of the connection's.
    :param poll_interval: seconds between polls, give or take 10%.
    :param deadline: epoch seconds; past it the trigger reports ``timeout`` (the task's timeout).
    :param retry_policy: the task's hook's retry policy, as a dict of ``RetryPolicy`` fields.
    :param timeout: (connect, read) seconds per request (default: the connection's).
    """

    what = "Segment job"
    id_field = "job_id"

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
        super().__init__(
            aep_conn_id=aep_conn_id,
            sandbox_name=sandbox_name,
            poll_interval=poll_interval,
            deadline=deadline,
            retry_policy=retry_policy,
            timeout=timeout,
        )
        self.job_id = job_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_provider_aep.triggers.segment_job.AEPSegmentJobTrigger",
            {"job_id": self.job_id, **self.common_kwargs()},
        )

    async def fetch(self, hook: AEPAsyncHook) -> dict[str, Any]:
        """Read the segment job once.

        :param hook: the trigger's async hook.
        :return: the segment job.
        """
        return await hook.get_segment_job(self.job_id)

    def state_of(self, job: dict[str, Any]) -> str:
        """The segment job's state.

        :param job: the segment job.
        :return: its state, upper case.
        """
        return job_status(job)

    def outcome(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The ``succeeded`` or ``failed`` event once the segment job ended, else None.

        :param job: the segment job.
        :return: the event's payload, or None.
        """
        if not job_is_over(job):
            return None
        summary = summarize_segment_job(job)
        if job_status(job) == JOB_SUCCEEDED:
            return {"status": "succeeded", "job_id": self.job_id, "summary": summary}
        return {"status": "failed", "job_id": self.job_id, "summary": summary, "message": job_errors(job)}

    async def cancel(self, hook: AEPAsyncHook) -> bool:
        """Ask AEP to cancel the segment job.

        :param hook: the trigger's async hook.
        :return: True when AEP took the request.
        """
        return await hook.cancel_segment_job(self.job_id)
