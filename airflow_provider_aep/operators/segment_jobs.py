"""Evaluate audiences now: a Segmentation API segment job, started and waited for in one task.

AEP evaluates audiences on its own once a day; an ad-hoc activation exports the latest
evaluation. A DAG that needs today's members starts a segment job first and activates once it
SUCCEEDED. The job is remote work: a task that is killed or times out cancels it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_aep.exceptions import (
    AEPAmbiguousWriteError,
    AEPApiError,
    AEPError,
    AEPSegmentJobFailed,
    AEPValidationError,
)
from airflow_provider_aep.hooks.segmentation import (
    JOB_SUCCEEDED,
    MAX_SEGMENTS_PER_JOB,
    check_segment_ids,
    job_errors,
    job_is_over,
    job_status,
    now_ms,
    rendered_list,
    summarize_segment_job,
)
from airflow_provider_aep.operators.base import AEPBaseOperator
from airflow_provider_aep.tasks.mixins import AEPHookMixin, check_when_literal, says_what_exists
from airflow_provider_aep.utils.task_state import forget, recall, remember, task_state_store

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: The ``task_state_store`` key of the job this task started (or asked for and got no answer):
#: a retried or rescheduled task finds it again instead of starting a second evaluation.
JOB_KEY = "aep_segment_job"
#: Started this long before the request, at most: how far back a lost create is looked for.
CLOCK_SKEW_MS = 5_000
WAIT_MODES = ("poke", "reschedule")


class _SegmentJobWait(AEPHookMixin, BaseSensorOperator):
    """The wait for one segment job, run inside :class:`AEPSegmentJobOperator` (poke or reschedule).

    Its poke returns the job once it is over; Airflow's sensor loop does the waiting, the
    rescheduling and the timeout.
    """

    template_fields: Sequence[str] = ("aep_conn_id", "sandbox_name")

    def __init__(
        self, *, job_id: str, aep_conn_id: str = "aep_default", sandbox_name: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.init_connection(aep_conn_id, sandbox_name)
        self.job_id = job_id
        self._last_status: str | None = None

    def poke(self, context: Context) -> PokeReturnValue:
        job = self.hook.get_segment_job(self.job_id)
        if job_is_over(job):
            return PokeReturnValue(is_done=True, xcom_value=job)
        status = job_status(job)
        # One INFO line per change of status; each look at DEBUG.
        (self.log.info if status != self._last_status else self.log.debug)(
            "Segment job %s is %s", self.job_id, status
        )
        self._last_status = status
        return PokeReturnValue(is_done=False)


class AEPSegmentJobOperator(AEPBaseOperator):
    """Evaluate audiences now (``POST /data/core/ups/segment/jobs``) and wait until the job ends.

    The audience ids are checked before any request. The job's profile counts are returned
    (XCom): ``{"job_id", "status", "segments": [{"id", "profiles"}], "total_profiles", ...}``
    from the job's ``metrics.segmentedProfileCounter``. A job that ends FAILED or CANCELLED
    fails the task with AEP's error text (``AEPSegmentJobFailed``); a retry starts a new job.

    The task keeps the job's id in the task state store (Airflow 3.3+): a retried task whose
    job is still running waits for it instead of starting another, and a create whose answer
    was lost is looked for before anything is sent again. When the task is killed
    (``on_kill``, or the deferred task in the triggerer) or its ``timeout`` passes, the job
    is cancelled (``DELETE``) before the task fails. Takes the parameters of
    :class:`.AEPBaseOperator` too.

    :param segment_ids: the audiences (segment definition ids) to evaluate: a non-empty list,
        each once, at most 1500 (Adobe's limit per job).
    :param mode: how a worker waits: ``"poke"`` (holds its slot) or ``"reschedule"`` (frees it
        between looks; needs the task state store, Airflow 3.3+).
    :param deferrable: wait in the triggerer instead (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between looks at the job (default 30).
    :param timeout: seconds (or a timedelta) the job may take; then it is cancelled and the task
        fails (default: ``[sensors] default_timeout``).
    """

    template_fields: Sequence[str] = ("segment_ids", "sandbox_name", "aep_conn_id")
    template_fields_renderers = {"segment_ids": "json"}
    ui_color = "#d5c8f0"

    def __init__(
        self,
        *,
        segment_ids: Sequence[str] | str,
        mode: str = "poke",
        deferrable: bool | None = None,
        poke_interval: float = 30.0,
        timeout: float | timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.segment_ids = segment_ids
        self.mode = mode
        if deferrable is None:
            from airflow_provider_aep.utils.waiting import default_deferrable

            deferrable = default_deferrable()
        self.deferrable = deferrable
        self.poke_interval = poke_interval
        self.timeout = timeout.total_seconds() if isinstance(timeout, timedelta) else timeout
        #: The job this task started or found, for ``on_kill``.
        self.job_id: str | None = None
        self._check_wait()
        check_when_literal({"segment_ids": segment_ids}, self._segment_ids)

    def _check_wait(self) -> None:
        from airflow_provider_aep.utils.waiting import check_wait

        check_wait(self.mode, self.deferrable, self.poke_interval, self.timeout, WAIT_MODES)

    def _segment_ids(self) -> list[str]:
        return check_segment_ids("segment_ids", rendered_list(self.segment_ids), limit=MAX_SEGMENTS_PER_JOB)

    # -- starting, or finding again ----------------------------------------------------------------

    @says_what_exists
    def execute(self, context: Context) -> dict[str, Any]:
        ids = self._segment_ids()
        self._check_wait()
        if self.mode == "reschedule" and not self.deferrable and task_state_store(context) is None:
            raise AEPValidationError(
                "mode",
                self.mode,
                "'poke' or deferrable=True on this Airflow: reschedule needs the task state store "
                "(Airflow 3.3+) to find its segment job again at each look",
            )
        job_id = self._kept_job(context, ids) or self._start(context, ids)
        self.job_id = job_id
        waiter = self._waiter(job_id)
        if self.deferrable:
            first = waiter.poke(context)
            if first.is_done:
                return self._report(context, dict(first.xcom_value or {}))
            self.defer(
                trigger=self._trigger(job_id, deadline=time.time() + float(waiter.timeout)),
                method_name="execute_complete",
                kwargs={"job_id": job_id},
                timeout=timedelta(seconds=float(waiter.timeout) + 60),
            )
        from airflow.providers.common.compat.sdk import AirflowSensorTimeout

        try:
            job = waiter.execute(context)  # poke loop, or AirflowRescheduleException
        except AirflowSensorTimeout as timeout:
            self._cancel(context, job_id, "the task timed out")
            raise AirflowSensorTimeout(f"Segment job {job_id}: {timeout}; the job was cancelled") from None
        return self._report(context, job)

    def _kept_job(self, context: Context, ids: list[str]) -> str | None:
        """The job an earlier look or try of this task started for the same audiences, when it is
        still the one to wait for: running, succeeded, or (in the same try: a rescheduled look)
        ended otherwise."""
        kept = recall(context, JOB_KEY)
        if not isinstance(kept, dict) or kept.get("segments") != ids:
            return None
        job_id = kept.get("job_id")
        if not job_id:  # an earlier try asked and never heard back
            found = self.hook.segment_jobs_since(ids, int(kept.get("asked_at_ms") or 0))
            if not found:
                forget(context, JOB_KEY)
                return None
            job_id = str(found[0]["id"])
            self.log.info("Segment job %s was started by an earlier try whose answer was lost", job_id)
            self._keep(context, ids, job_id)
        try:
            job = self.hook.get_segment_job(job_id)
        except AEPApiError as err:
            if err.status != 404:
                raise
            forget(context, JOB_KEY)
            return None
        status = job_status(job)
        if not job_is_over(job) or status == JOB_SUCCEEDED or kept.get("try") == _try_number(context):
            self.log.info(
                "Segment job %s (started earlier by this task) is %s: not starting another", job_id, status
            )
            return str(job_id)
        forget(context, JOB_KEY)
        self.log.info("Segment job %s of an earlier try ended %s: starting a new one", job_id, status)
        return None

    def _start(self, context: Context, ids: list[str]) -> str:
        asked_at_ms = now_ms() - CLOCK_SKEW_MS
        remember(context, JOB_KEY, {"segments": ids, "asked_at_ms": asked_at_ms, "try": _try_number(context)})
        try:
            job = self.hook.create_segment_job(ids)
        except AEPAmbiguousWriteError as err:
            found = self.hook.segment_jobs_since(ids, asked_at_ms)
            if not found:
                forget(context, JOB_KEY)
                raise AEPError(
                    f"{err}; no segment job for these audiences is listed since. Running the task "
                    "again starts one (it looks for a late one first)."
                ) from err
            job = found[0]
            self.log.warning("%s; the job it started was found: %s", err, job["id"])
        except AEPApiError:
            forget(context, JOB_KEY)  # AEP refused: nothing was started
            raise
        job_id = str(job["id"])
        self._keep(context, ids, job_id)
        self.log.info("Started segment job %s for %d audience(s): %s", job_id, len(ids), job_status(job))
        return job_id

    def _keep(self, context: Context, ids: list[str], job_id: str) -> None:
        remember(context, JOB_KEY, {"segments": ids, "job_id": job_id, "try": _try_number(context)})

    # -- waiting ---------------------------------------------------------------------------------

    def _waiter(self, job_id: str) -> _SegmentJobWait:
        """The sensor loop for this job, with this task's settings and hook."""
        waiter = _SegmentJobWait(
            task_id=self.task_id,
            job_id=job_id,
            aep_conn_id=self.aep_conn_id,
            sandbox_name=self.sandbox_name,
            poke_interval=self.poke_interval,
            mode=self.mode,
            **({} if self.timeout is None else {"timeout": self.timeout}),
        )
        waiter.__dict__["hook"] = self.hook  # one hook (and token) for the whole task
        return waiter

    def _trigger(self, job_id: str, deadline: float) -> Any:
        import dataclasses

        from airflow_provider_aep.triggers.segment_job import AEPSegmentJobTrigger

        return AEPSegmentJobTrigger(
            job_id=job_id,
            aep_conn_id=self.aep_conn_id,
            sandbox_name=self.sandbox_name or None,
            poll_interval=float(self.poke_interval),
            deadline=deadline,
            retry_policy=dataclasses.asdict(self.hook.retry_policy),
            timeout=list(self.hook.timeout),
        )

    def execute_complete(
        self, context: Context, event: dict[str, Any], job_id: str | None = None
    ) -> dict[str, Any]:
        """Back from the triggerer: the job's summary, or its failure, timeout or the wait's error.

        :param context: the task's Airflow context.
        :param event: the trigger's event.
        :param job_id: the segment job, carried through the deferral.
        :return: the job's summary, as :meth:`execute` returns it.
        """
        from airflow.providers.common.compat.sdk import AirflowSensorTimeout

        job_id = job_id or (event.get("job_id") if isinstance(event, dict) else None) or ""
        self.job_id = job_id
        status = event.get("status") if isinstance(event, dict) else None
        if status in ("succeeded", "failed") and isinstance(event.get("summary"), dict):
            summary = event["summary"]
            if status == "succeeded":
                return self._finish(context, summary)
            forget(context, JOB_KEY)
            raise AEPSegmentJobFailed(job_id, str(summary.get("status")), str(event.get("message") or ""))
        if status == "timeout":
            self._cancel(context, job_id, "the task timed out")
            raise AirflowSensorTimeout(f"Segment job {job_id}: {event.get('message')}; the job was cancelled")
        message = event.get("message") if isinstance(event, dict) else None
        raise AEPError(
            f"Segment job {job_id}: {message or 'the trigger sent an event this task cannot read'}"
        )

    def _report(self, context: Context, job: dict[str, Any]) -> dict[str, Any]:
        """The ended job: its summary when it SUCCEEDED, else the task fails with AEP's words."""
        status = job_status(job)
        if status != JOB_SUCCEEDED:
            forget(context, JOB_KEY)
            raise AEPSegmentJobFailed(str(job.get("id") or self.job_id), status, job_errors(job))
        return self._finish(context, summarize_segment_job(job))

    def _finish(self, context: Context, summary: dict[str, Any]) -> dict[str, Any]:
        forget(context, JOB_KEY)
        for segment in summary["segments"]:
            self.log.info("Audience %s: %s profiles", segment["id"], segment["profiles"])
        self.log.info(
            "Segment job %s %s: %s audience(s), %s profiles in the sandbox",
            summary["job_id"], summary["status"], len(summary["segments"]), summary["total_profiles"],
        )  # fmt: skip
        return summary

    # -- cancelling ------------------------------------------------------------------------------

    def _cancel(self, context: Context | None, job_id: str, why: str) -> None:
        """Ask AEP to cancel the job; a failure to ask is logged, never hides why the task ends."""
        if context is not None:
            forget(context, JOB_KEY)
        if not job_id:
            return
        try:
            asked = self.hook.cancel_segment_job(job_id)
        except AEPError as err:
            self.log.error("Segment job %s could not be cancelled (%s): %s", job_id, why, err)
            return
        self.log.warning(
            "Segment job %s: %s", job_id, f"cancelled ({why})" if asked else f"already gone ({why})"
        )

    def on_kill(self) -> None:
        """The task was killed: cancel its segment job, so AEP stops evaluating for nobody."""
        if self.job_id:
            self._cancel(None, self.job_id, "the task was killed")


def _try_number(context: Context) -> int | None:
    number = getattr(context.get("ti"), "try_number", None)
    return number if isinstance(number, int) else None
