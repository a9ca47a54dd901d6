"""Operators that start dataflow runs: one on demand, or a failed one again.

Each returns the run's id, so :class:`~airflow_provider_aep.sensors.dataflow_run.AEPDataflowRunSensor`
(``run_id=task.output``) waits for exactly that run; or the start operator waits itself
(``wait_for_completion=True``) and returns the run's summary. Neither request is repeated
blindly: a second POST would export the data twice, so a lost answer is settled by reading AEP first.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.exceptions import AEPApiError, AEPDataflowDisabled, AEPError, AEPValidationError
from airflow_provider_aep.links import AEPDataflowLink
from airflow_provider_aep.operators.base import AEPBaseOperator
from airflow_provider_aep.tasks.flow_ref import FlowByNameMixin, check_flow_ref
from airflow_provider_aep.tasks.mixins import check_when_literal, says_what_exists
from airflow_provider_aep.utils.ids import check_id
from airflow_provider_aep.utils.rendered import int_if_digits
from airflow_provider_aep.utils.run_statuses import DEFAULT_FAILURE_STATUSES, DEFAULT_SUCCESS_STATUSES
from airflow_provider_aep.utils.runs import (
    RUN_CLOCK_SKEW_MS,
    flow_is_disabled,
    run_status,
)
from airflow_provider_aep.utils.schedule_starts import takes_on_demand_runs
from airflow_provider_aep.utils.task_state import forget, recall, remember

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_aep.tasks.run_wait import DataflowRunWait


#: The ``task_state_store`` key of a request that was sent but whose task did not finish: it is
#: written before the request and dropped once the task has its answer, so it is there only when
#: a worker died in between (AEP may have acted; asking again could export the data twice). A
#: cleared task starts without it.
ASKED_KEY = "aep_run_requested"
#: The ``task_state_store`` key of the run a ``wait_for_completion`` task started and is waiting
#: for: a retry (after a timeout, or a worker lost mid-wait) waits for that run while it is still
#: going instead of starting a second one; once it has ended, a retry starts a new run.
WAITING_KEY = "aep_run_awaited"


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


class AEPStartDataflowRunOperator(FlowByNameMixin, AEPBaseOperator):
    """Start a run of a dataflow now (``POST /runs``) and return the run's id, or wait for it too.

    AEP takes on-demand runs only for flows scheduled for one-time runs (a dataset export with
    ``DAILY_FULL_EXPORT``, a source flow with frequency ``once``): the flow is read first, and a
    flow that cannot take one, or is disabled, is refused with a message saying why before
    anything is started. A task retried because its worker died after asking looks for the run
    that request started before asking again (Airflow 3.3+), so it never exports twice. Takes the parameters of
    :class:`.AEPBaseOperator` too.

    With ``wait_for_completion=True`` the task then waits for that run as
    :class:`~airflow_provider_aep.sensors.dataflow_run.AEPDataflowRunSensor` (``run_id=``) does,
    with the same rules: it fails at once on a failed run (``AEPDataflowRunFailed``, with AEP's
    error codes), a disabled flow or a run outside the record-count policy, and after
    ``timeout`` seconds (``AirflowSensorTimeout``); it returns the run's summary (record, byte
    and file counts; its ``run_id`` is the run's id) and emits the sensor's asset events to
    this task's ``outlets``. A retry while the run is still going waits for it instead of
    starting another (Airflow 3.3+); a retry after it ended starts a new run.

    :param flow_id: the dataflow (``create_flow.output``); or give ``flow_name``, not both.
    :param flow_name: the dataflow's exact name instead of its id: resolved when the task starts
        to the one dataflow with that name (none, or several, fail the task before anything is
        started, listing close names or the ids).
    :param start_time: when the run starts: a datetime (naive is UTC) or epoch milliseconds
        (default: now).
    :param wait_for_completion: wait in this task until the run ends and return its summary
        (default: return the run's id at once, for a sensor downstream).
    :param deferrable: while waiting, free the worker slot and wait in the triggerer
        (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between looks at the run while waiting (default 60).
    :param timeout: seconds (or a timedelta) to wait for the run to end (default:
        ``[sensors] default_timeout``).
    :param min_records: while waiting: the fewest output records the run must write (as for the
        sensor; default: no minimum).
    :param max_failed_records: while waiting: the most failed records the run may report (as for
        the sensor; default: no limit).
    """

    template_fields: Sequence[str] = (
        "flow_id",
        "flow_name",
        "start_time",
        "min_records",
        "max_failed_records",
        "sandbox_name",
        "aep_conn_id",
    )
    operator_extra_links = (AEPDataflowLink(),)
    ui_color = "#fad1b8"

    def __init__(
        self,
        *,
        flow_id: str | None = None,
        flow_name: str | None = None,
        start_time: datetime | int | str | None = None,
        wait_for_completion: bool = False,
        deferrable: bool | None = None,
        poke_interval: float = 60.0,
        timeout: float | timedelta | None = None,
        min_records: int | str | None = None,
        max_failed_records: int | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flow_id = flow_id
        self.flow_name = flow_name
        self.start_time = start_time
        self.wait_for_completion = wait_for_completion
        if deferrable is None:
            from airflow_provider_aep.utils.waiting import default_deferrable

            deferrable = default_deferrable()
        self.deferrable = deferrable
        self.poke_interval = poke_interval
        self.timeout = timeout
        self.min_records = min_records
        self.max_failed_records = max_failed_records
        self.aep_dataflow_url: str | None = None
        self._check_wait()
        check_when_literal(
            {"flow_id": flow_id, "flow_name": flow_name, "start_time": start_time}, self._check
        )
        check_when_literal(
            {"min_records": min_records, "max_failed_records": max_failed_records}, self._check_limits
        )

    def _check(self) -> None:
        self.check_flow_ref()
        start_time_ms(self.start_time)

    def _check_wait(self) -> None:
        """What the wait takes, and only with ``wait_for_completion`` (nothing else waits here)."""
        if not isinstance(self.wait_for_completion, bool):
            raise AEPValidationError("wait_for_completion", self.wait_for_completion, "True or False")
        interval = self.poke_interval
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 < interval < 10**6:
            raise AEPValidationError("poke_interval", interval, "a positive number of seconds")
        if isinstance(self.timeout, timedelta):
            self.timeout = self.timeout.total_seconds()
        timeout = self.timeout
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout < 10**9
        ):
            raise AEPValidationError("timeout", timeout, "a number of seconds, 0 or more, or None")
        if not self.wait_for_completion:
            given = {"min_records": self.min_records, "max_failed_records": self.max_failed_records}
            for field, value in given.items():
                if value is not None:
                    raise AEPValidationError(
                        field,
                        value,
                        "None unless wait_for_completion=True: this task does not wait for the run",
                    )

    def _check_limits(self) -> None:
        from airflow_provider_aep.utils.runs import record_limits

        record_limits(self.min_records, self.max_failed_records)

    @says_what_exists
    def execute(self, context: Context) -> str | dict[str, Any]:
        self._check()
        self._check_limits()
        flow_id = self.resolve_flow_id(context)
        self.aep_dataflow_url = self.hook.flow_page_url(flow_id)
        run_id = self._still_awaited(context, flow_id) if self.wait_for_completion else None
        if run_id is None:
            run_id = self._start(context, flow_id)
        if not self.wait_for_completion:
            return run_id
        remember(context, WAITING_KEY, {"flow_id": flow_id, "run_id": run_id})
        summary: dict[str, Any] = self._waiter(flow_id, run_id).execute(context)  # may defer
        forget(context, WAITING_KEY)
        return summary

    def _start(self, context: Context, flow_id: str) -> str:
        what = f"start {flow_id}"
        earlier = asked_by_earlier_try(context, what)
        if earlier:
            started = self.hook.runs_created_since(flow_id, int(earlier.get("asked_at_ms") or 0))
            if started:
                found = str(started[0]["id"])
                forget(context, ASKED_KEY)
                self.log.info(
                    "Run %s of dataflow %s was started by an earlier try: not starting another",
                    found,
                    flow_id,
                )
                return found
        flow = self.hook.get_flow(flow_id)
        if flow_is_disabled(flow):
            raise AEPError(
                f"Dataflow {flow_id} is disabled: enable it first "
                "(AEPUpdateDataflowOperator(state='enabled')); no run was started"
            )
        if not takes_on_demand_runs(flow):
            raise AEPError(
                f"Dataflow {flow_id} runs on a schedule ({flow.get('scheduleParams')}): AEP starts "
                "runs on request only for flows scheduled for one-time runs (DAILY_FULL_EXPORT, or "
                "frequency 'once'); no run was started"
            )
        remember(
            context, ASKED_KEY, {"what": what, "asked_at_ms": int(time.time() * 1000) - RUN_CLOCK_SKEW_MS}
        )
        try:
            run = self.hook.start_run(flow_id, start_time_ms(self.start_time))
        except AEPApiError:
            forget(context, ASKED_KEY)  # AEP refused: nothing was started
            raise
        forget(context, ASKED_KEY)
        self.log.info("Started run %s of dataflow %s (%s)", run["id"], flow_id, self.aep_dataflow_url)
        return str(run["id"])

    def _still_awaited(self, context: Context, flow_id: str) -> str | None:
        """The run an earlier try started and waited for, while it is still going."""
        kept = recall(context, WAITING_KEY)
        if not isinstance(kept, dict) or kept.get("flow_id") != flow_id or not kept.get("run_id"):
            return None
        run_id = str(kept["run_id"])
        status = run_status(self.hook.get_run(run_id))
        if status.lower() in {s.lower() for s in (*DEFAULT_SUCCESS_STATUSES, *DEFAULT_FAILURE_STATUSES)}:
            forget(context, WAITING_KEY)
            self.log.info(
                "Run %s started by an earlier try has ended (%s): starting a new run", run_id, status
            )
            return None
        self.log.info(
            "Run %s started by an earlier try is still %s: waiting for it, not starting another",
            run_id,
            status,
        )
        return run_id

    def _waiter(self, flow_id: str, run_id: str | None) -> DataflowRunWait:
        """The sensor's wait (``DataflowRunWait``, in ``airflow_provider_aep.tasks.run_wait``) for this run.

        It takes this task's settings and hook.

        Delegating keeps one implementation of the wait (poke loop, deferral, fail-fast, record
        policy, asset events); the sensor's deferral comes back to :meth:`execute_complete`.
        """
        from airflow_provider_aep.tasks.run_wait import DataflowRunWait
        from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger
        from airflow_provider_aep.utils.runs import record_limits

        min_records, max_failed_records = record_limits(self.min_records, self.max_failed_records)
        waiter = DataflowRunWait(
            task_id=self.task_id,
            flow_id=flow_id,
            run_id=run_id,
            aep_conn_id=self.aep_conn_id,
            sandbox_name=self.sandbox_name,
            deferrable=self.deferrable,
            poke_interval=self.poke_interval,
            **self._sensor_timeout(),
            mode="poke",
            min_records=min_records,
            max_failed_records=max_failed_records,
            outlets=list(self.outlets),
        )
        waiter.trigger_class = AEPDataflowRunTrigger  # a deferral comes back to execute_complete
        waiter.__dict__["hook"] = self.hook  # one hook (and token) for the whole task
        return waiter

    def _sensor_timeout(self) -> dict[str, Any]:
        """None is the sensor's own default (``[sensors] default_timeout``): Airflow 3.0 refuses None."""
        return {} if self.timeout is None else {"timeout": self.timeout}

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any],
        retriggered: dict[str, Any] | None = None,
        deadline: float | None = None,
        flow_id: str | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        """Back from the triggerer (``wait_for_completion`` and ``deferrable``): the run's summary.

        :param context: the task's Airflow context.
        :param event: the trigger's event.
        :param retriggered: carried through deferral for the sensor's wait.
        :param deadline: when the whole wait times out (epoch seconds).
        :param flow_id: the dataflow's id, as resolved before the deferral.
        :param run_id: the run this task started.
        :return: the run's summary, as the sensor returns it.
        """
        self.use_resolved_flow_id(flow_id)
        flow = self.resolve_flow_id(context)
        self.aep_dataflow_url = self.hook.flow_page_url(flow)
        summary = self._waiter(flow, run_id).execute_complete(
            context, event, retriggered=retriggered, deadline=deadline, flow_id=flow, run_id=run_id
        )
        forget(context, WAITING_KEY)
        return summary


class AEPRetriggerDataflowRunOperator(FlowByNameMixin, AEPBaseOperator):
    """Run a failed dataflow run again (``POST /runs/{id}/action?op=RE_TRIGGER``); return its id.

    Give the run (``run_id``), or its dataflow (``flow_id`` or ``flow_name``): then the dataflow's
    newest run is the one re-triggered (a maintenance DAG that reruns yesterday's failed export
    by the export's name). Exactly one of the three; literal values are checked at DAG parse.
    The run is read first: only a run that failed can be re-triggered, and any other is refused
    with its status before anything is sent. The run keeps its id, so a sensor with
    ``run_id=`` this task's output waits for the new attempt.
    Takes the parameters of :class:`.AEPBaseOperator` too.

    :param run_id: the failed run.
    :param flow_id: or: the dataflow whose newest run failed.
    :param flow_name: or: that dataflow's exact name (resolved to the one dataflow with it).
    :param failure_statuses: the statuses that count as failed (case-insensitive).
    """

    template_fields: Sequence[str] = ("run_id", "flow_id", "flow_name", "sandbox_name", "aep_conn_id")
    ui_color = "#fad1b8"

    def __init__(
        self,
        *,
        run_id: str | None = None,
        flow_id: str | None = None,
        flow_name: str | None = None,
        failure_statuses: Sequence[str] = DEFAULT_FAILURE_STATUSES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.run_id = run_id
        self.flow_id = flow_id
        self.flow_name = flow_name
        if isinstance(failure_statuses, str) or not failure_statuses:
            raise AEPValidationError(
                "failure_statuses", failure_statuses, "a list of run statuses, e.g. ['failed']"
            )
        self.failure_statuses = tuple(failure_statuses)
        check_when_literal({"run_id": run_id, "flow_id": flow_id, "flow_name": flow_name}, self._check)

    def _check(self) -> None:
        """Exactly one of ``run_id``, ``flow_id`` and ``flow_name``, each checked as what it is."""
        if self.run_id is None:
            check_flow_ref(self.flow_id, self.flow_name)
            return
        for field in ("flow_id", "flow_name"):
            if getattr(self, field) is not None:
                raise AEPValidationError(
                    field, getattr(self, field), "None when run_id is given: name the run, or its dataflow"
                )
        check_id("run_id", self.run_id)

    def _newest_run(self, context: Context) -> str:
        """The id of the newest run of the dataflow given by id or name."""
        flow_id = self.resolve_flow_id(context)
        newest = next(self.hook.iter_runs(flow_id, orderby="-createdAt", limit=1), None)
        if newest is None:
            raise AEPError(f"Dataflow {flow_id} has no run to re-trigger; nothing was sent")
        self.log.info("Newest run of dataflow %s: %s", flow_id, newest["id"])
        return str(newest["id"])

    @says_what_exists
    def execute(self, context: Context) -> str:
        self._check()
        run_id = check_id("run_id", self.run_id) if self.run_id is not None else self._newest_run(context)
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
        except (AEPApiError, AEPDataflowDisabled):
            forget(context, ASKED_KEY)  # AEP refused: the run was not restarted
            raise
        forget(context, ASKED_KEY)
        self.log.info("Re-triggered dataflow run %s (was %s, now %s)", run_id, status, run_status(again))
        return run_id
