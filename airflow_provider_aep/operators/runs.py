"""Operators that start dataflow runs: one on demand, or a failed one again.

Each returns the run's id, so :class:`~airflow_provider_aep.sensors.dataflow_run.AEPDataflowRunSensor`
(``run_id=task.output``) waits for exactly that run. Neither request is repeated blindly: a
second POST would export the data twice, so a lost answer is settled by reading AEP first.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.exceptions import AEPApiError, AEPError, AEPFlowDisabledError, AEPValidationError
from airflow_provider_aep.links import AEPDataflowLink
from airflow_provider_aep.operators._base import AEPBaseOperator, check_when_literal, int_if_digits
from airflow_provider_aep.utils.ids import check_id
from airflow_provider_aep.utils.runs import (
    DEFAULT_FAILURE_STATUSES,
    RUN_CLOCK_SKEW_MS,
    flow_is_disabled,
    run_status,
    takes_on_demand_runs,
)
from airflow_provider_aep.utils.task_state import forget, recall, remember

if TYPE_CHECKING:
    from airflow_provider_aep.version_compat import Context


#: The ``task_state_store`` key of a request that was sent but whose task did not finish: it is
#: written before the request and dropped once the task has its answer, so it is there only when
#: a worker died in between (AEP may have acted; asking again could export the data twice). A
#: cleared task starts without it.
ASKED_KEY = "aep_run_requested"


def asked_by_earlier_try(context: Context, what: str) -> dict[str, Any] | None:
    """What an earlier try of this task sent (``what``) and did not see through, if anything."""
    kept = recall(context, ASKED_KEY)
    return dict(kept) if isinstance(kept, dict) and kept.get("what") == what else None


def start_time_ms(value: Any) -> int | None:
    """None, a datetime or epoch milliseconds (13 digits): AEP's run ``startTime``.

    A datetime without a time zone is UTC, as Airflow reads it, never the worker's local time.
    """
    value = int_if_digits(value)
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=timezone.utc)
        return int(value.timestamp() * 1000)
    if isinstance(value, int) and not isinstance(value, bool) and 10**12 <= value < 10**14:
        return value
    raise AEPValidationError("start_time", value, "epoch milliseconds (13 digits) or a datetime")


class AEPStartDataflowRunOperator(AEPBaseOperator):
    """Start a run of a dataflow now (``POST /runs``) and return the run's id.

    AEP takes on-demand runs only for flows scheduled for one-time runs (a dataset export with
    ``DAILY_FULL_EXPORT``, a source flow with frequency ``once``): the flow is read first, and a
    flow that cannot take one, or is disabled, is refused with a message saying why before
    anything is started. A task retried because its worker died after asking looks for the run
    that request started before asking again (Airflow 3.3+), so it never exports twice. Takes the parameters of
    :class:`.AEPBaseOperator` too.

    :param flow_id: the dataflow (``create_flow.output``).
    :param start_time: when the run starts: a datetime (naive is UTC) or epoch milliseconds
        (default: now).
    """

    template_fields: Sequence[str] = ("flow_id", "start_time", "sandbox_name", "aep_conn_id")
    operator_extra_links = (AEPDataflowLink(),)
    ui_color = "#fad1b8"

    def __init__(
        self, *, flow_id: str, start_time: datetime | int | str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.flow_id = flow_id
        self.start_time = start_time
        self.aep_dataflow_url: str | None = None
        check_when_literal({"flow_id": flow_id, "start_time": start_time}, self._check)

    def _check(self) -> None:
        check_id("flow_id", self.flow_id)
        start_time_ms(self.start_time)

    def execute_step(self, context: Context) -> str:
        self._check()
        self.aep_dataflow_url = self.hook.flow_page_url(self.flow_id)
        what = f"start {self.flow_id}"
        earlier = asked_by_earlier_try(context, what)
        if earlier:
            started = self.hook.runs_created_since(self.flow_id, int(earlier.get("asked_at_ms") or 0))
            if started:
                found = str(started[0]["id"])
                forget(context, ASKED_KEY)
                self.log.info(
                    "Run %s of dataflow %s was started by an earlier try: not starting another",
                    found,
                    self.flow_id,
                )
                return found
        flow = self.hook.get_flow(self.flow_id)
        if flow_is_disabled(flow):
            raise AEPError(
                f"Dataflow {self.flow_id} is disabled: enable it first "
                "(AEPUpdateDataflowOperator(state='enabled')); no run was started"
            )
        if not takes_on_demand_runs(flow):
            raise AEPError(
                f"Dataflow {self.flow_id} runs on a schedule ({flow.get('scheduleParams')}): AEP starts "
                "runs on request only for flows scheduled for one-time runs (DAILY_FULL_EXPORT, or "
                "frequency 'once'); no run was started"
            )
        remember(
            context, ASKED_KEY, {"what": what, "asked_at_ms": int(time.time() * 1000) - RUN_CLOCK_SKEW_MS}
        )
        try:
            run = self.hook.start_run(self.flow_id, start_time_ms(self.start_time))
        except AEPApiError:
            forget(context, ASKED_KEY)  # AEP refused: nothing was started
            raise
        forget(context, ASKED_KEY)
        self.log.info("Started run %s of dataflow %s (%s)", run["id"], self.flow_id, self.aep_dataflow_url)
        return str(run["id"])


class AEPRetriggerDataflowRunOperator(AEPBaseOperator):
    """Run a failed dataflow run again (``POST /runs/{id}/action?op=RE_TRIGGER``); return its id.

    The run is read first: only a run that failed can be re-triggered, and any other is refused
    with its status before anything is sent. The run keeps its id, so a sensor with
    ``run_id=`` this task's output waits for the new attempt.
    Takes the parameters of :class:`.AEPBaseOperator` too.

    :param run_id: the failed run.
    :param failure_statuses: the statuses that count as failed (case-insensitive).
    """

    template_fields: Sequence[str] = ("run_id", "sandbox_name", "aep_conn_id")
    ui_color = "#fad1b8"

    def __init__(
        self,
        *,
        run_id: str,
        failure_statuses: Sequence[str] = DEFAULT_FAILURE_STATUSES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        if isinstance(failure_statuses, str) or not failure_statuses:
            raise AEPValidationError(
                "failure_statuses", failure_statuses, "a list of run statuses, e.g. ['failed']"
            )
        self.failure_statuses = tuple(failure_statuses)
        check_when_literal({"run_id": run_id}, lambda: check_id("run_id", run_id))

    def execute_step(self, context: Context) -> str:
        run_id = check_id("run_id", self.run_id)
        status = run_status(self.hook.get_run(run_id))
        what = f"retrigger {run_id}"
        if status.lower() not in {s.lower() for s in self.failure_statuses}:
            if asked_by_earlier_try(context, what):
                forget(context, ASKED_KEY)
                self.log.info(
                    "Dataflow run %s was re-triggered by an earlier try (now %s): not again", run_id, status
                )
                return run_id
            raise AEPError(
                f"Dataflow run {run_id} is {status!r}: only a failed run can be re-triggered; nothing was sent"
            )
        remember(context, ASKED_KEY, {"what": what})
        try:
            again = self.hook.retrigger_run(run_id, self.failure_statuses)
        except (AEPApiError, AEPFlowDisabledError):
            forget(context, ASKED_KEY)  # AEP refused: the run was not restarted
            raise
        forget(context, ASKED_KEY)
        self.log.info("Re-triggered dataflow run %s (was %s, now %s)", run_id, status, run_status(again))
        return run_id
