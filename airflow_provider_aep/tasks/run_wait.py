"""The wait for a dataflow run: poke, defer, re-trigger, fail fast, record policy, asset events.

:class:`DataflowRunWait` is the one implementation. The public
:class:`~airflow_provider_aep.sensors.dataflow_run.AEPDataflowRunSensor` is this wait with its
templated fields, link and lineage; ``AEPStartDataflowRunOperator(wait_for_completion=True)``
runs this wait for the run it started. Operators and sensors are siblings: both take the wait
from here, neither imports the other.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_aep.tasks.flow_ref import FlowByNameMixin
from airflow_provider_aep.tasks.mixins import AEPHookMixin, check_sandbox_override, check_when_literal
from airflow_provider_aep.utils.run_statuses import DEFAULT_FAILURE_STATUSES, DEFAULT_SUCCESS_STATUSES

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_aep.assets import ExportLocation
    from airflow_provider_aep.utils.poll_plan import NextLook
    from airflow_provider_aep.utils.runs import WaitWindow
    from airflow_provider_aep.utils.waiting import RetriggerRecord


class DataflowRunWait(FlowByNameMixin, AEPHookMixin, BaseSensorOperator):
    """Wait for a dataflow run to end, and return its summary (record, byte and file counts).

    The parameters are those of
    :class:`~airflow_provider_aep.sensors.dataflow_run.AEPDataflowRunSensor`, which documents them.

    :param flow_id: the dataflow; or give ``flow_name``, not both.
    :param flow_name: the dataflow's exact name instead of its id.
    :param aep_conn_id: the ``aep`` Airflow connection.
    :param sandbox_name: the sandbox to look in instead of the connection's.
    :param run_id: wait for this run.
    :param latest: wait for the newest run of the flow.
    :param since: runs started before it are ignored.
    :param until: runs started at or after it are not this wait's.
    :param until_grace: seconds after ``until`` to keep looking.
    :param storage_account: the Azure storage account of an Azure Blob destination.
    :param success_statuses: statuses that end the wait well.
    :param failure_statuses: statuses that fail the task.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param retrigger_failed: re-trigger a failed run up to this many times.
    :param min_records: the fewest output records a successful run must write.
    :param max_failed_records: the most failed records a successful run may report.
    :param schedule_aware: sleep while the flow's schedule can start no run for this wait.
    """

    #: The trigger a deferral hands the wait to (``AEPDataflowRunTrigger``), or None: see
    #: :meth:`new_trigger`.
    trigger_class: type[BaseTrigger] | None = None

    def __init__(
        self,
        *,
        flow_id: str | None = None,
        flow_name: str | None = None,
        aep_conn_id: str = "aep_default",
        sandbox_name: str | None = None,
        run_id: str | None = None,
        latest: bool = False,
        since: datetime | int | str | None = None,
        until: datetime | int | str | None = None,
        until_grace: float = 300.0,
        storage_account: str | None = None,
        success_statuses: Sequence[str] = DEFAULT_SUCCESS_STATUSES,
        failure_statuses: Sequence[str] = DEFAULT_FAILURE_STATUSES,
        deferrable: bool | None = None,
        retrigger_failed: int = 0,
        min_records: int | None = None,
        max_failed_records: int | None = None,
        schedule_aware: bool | None = None,
        **kwargs: Any,
    ) -> None:
        from airflow_provider_aep.exceptions import AEPValidationError
        from airflow_provider_aep.utils.waiting import RetriggerMemory, default_deferrable

        super().__init__(**kwargs)
        self.init_connection(aep_conn_id, sandbox_name)
        self.retrigger_failed = retrigger_failed
        self.min_records = min_records
        self.max_failed_records = max_failed_records
        #: The one keeper of which run this wait re-triggered (see ``RetriggerMemory``).
        self.retriggers = RetriggerMemory()
        self.polls_without_run = 0
        #: What the last look said, so only a change is logged at INFO.
        self.last_reason: str | None = None
        if schedule_aware is not None and not isinstance(schedule_aware, bool):
            raise AEPValidationError(
                "schedule_aware", schedule_aware, "True, False or None (the connection's)"
            )
        self.schedule_aware = schedule_aware
        #: When to look next, as the last poke planned it (None: the poke interval).
        self.next_look: NextLook | None = None
        #: The flow as last read while no run was there: its schedule plans the next look.
        self._flow_seen: dict[str, Any] | None = None
        self._last_why = ""
        self.flow_id = flow_id
        self.flow_name = flow_name
        self.run_id = run_id
        self.latest = latest
        self.since = since
        self.until = until
        self.until_grace = until_grace
        self.storage_account = storage_account
        #: The summary of the run a successful wait ended with, and where its files are.
        self.run_summary: dict[str, Any] | None = None
        self.location: ExportLocation | None = None
        #: From when and until when runs count, worked out once per task (see :meth:`window`).
        self._window: WaitWindow | None = None
        for field, statuses in (
            ("success_statuses", success_statuses),
            ("failure_statuses", failure_statuses),
        ):
            if isinstance(statuses, str):
                raise AEPValidationError(field, statuses, "a list of run statuses, not one string")
        self.success_statuses = tuple(success_statuses)
        self.failure_statuses = tuple(failure_statuses)
        self.deferrable = default_deferrable() if deferrable is None else deferrable
        self.aep_dataflow_url: str | None = None
        check_when_literal(
            {
                "flow_id": flow_id,
                "flow_name": flow_name,
                "run_id": run_id,
                "since": since,
                "until": until,
                "sandbox_name": sandbox_name,
                "min_records": min_records,
                "max_failed_records": max_failed_records,
            },
            self.check_inputs,
        )

    def check_inputs(self) -> None:
        """Refuse what would make the sensor wait for the wrong run, or for none, before any request."""
        from airflow_provider_aep.exceptions import AEPValidationError
        from airflow_provider_aep.utils.ids import check_id
        from airflow_provider_aep.utils.waiting import MAX_RETRIGGERS, epoch_ms, is_moment, iso_ms

        self.check_flow_ref()
        if self.run_id not in (None, ""):
            check_id("run_id", self.run_id)
        check_sandbox_override(self.sandbox_name)
        if self.run_id and self.latest:
            raise AEPValidationError("latest", self.latest, "False when run_id names the run")
        retriggers = self.retrigger_failed
        if (
            isinstance(retriggers, bool)
            or not isinstance(retriggers, int)
            or not 0 <= retriggers <= MAX_RETRIGGERS
        ):
            raise AEPValidationError(
                "retrigger_failed", retriggers, f"a whole number of re-triggers from 0 to {MAX_RETRIGGERS}"
            )
        for field, moment in (("since", self.since), ("until", self.until)):
            if not is_moment(moment):
                raise AEPValidationError(
                    field, moment, "epoch milliseconds (13 digits), a datetime or an ISO 8601 string"
                )
        if self.until not in (None, "") and (self.run_id or self.latest):
            raise AEPValidationError("until", self.until, "None when run_id or latest chooses the run")
        since, until = epoch_ms(self.since), epoch_ms(self.until)
        if since is not None and until is not None and until <= since:
            raise AEPValidationError(
                "until", self.until, f"a moment after since ({iso_ms(since)}; naive values are UTC)"
            )
        grace = self.until_grace
        if (
            isinstance(grace, bool)
            or not isinstance(grace, (int, float))
            or not math.isfinite(grace)
            or grace < 0
        ):
            raise AEPValidationError("until_grace", grace, "a finite number of seconds, 0 or more")
        self._record_limits()
        for field, statuses in (
            ("success_statuses", self.success_statuses),
            ("failure_statuses", self.failure_statuses),
        ):
            if not statuses or not all(isinstance(s, str) and s.strip() for s in statuses):
                raise AEPValidationError(field, list(statuses), "one or more run statuses, e.g. 'success'")
        both = {s.lower() for s in self.success_statuses} & {s.lower() for s in self.failure_statuses}
        if both:
            raise AEPValidationError(
                "failure_statuses", sorted(both), "statuses that are not also success_statuses"
            )

    def _record_limits(self) -> tuple[int | None, int | None]:
        """``min_records`` and ``max_failed_records`` as numbers (rendered templates are strings)."""
        from airflow_provider_aep.utils.runs import record_limits

        return record_limits(self.min_records, self.max_failed_records)

    # -- the window ------------------------------------------------------------------------------------------

    def window(self, context: Context) -> WaitWindow:
        """From when and until when runs count: worked out on first use in a task, then kept.

        :param context: the task's Airflow context (its DAG run's start).
        :return: the window; both ends None with ``run_id`` or ``latest`` (any start counts).
        """
        from airflow_provider_aep.utils.runs import WaitWindow

        if self._window is None:
            self._window = WaitWindow(self._start_ms(context), self.until_ms(), float(self.until_grace))
        return self._window

    def since_ms(self, context: Context) -> int | None:
        """From when runs count: ``since``, else the DAG run's start.

        :param context: the task's Airflow context (its DAG run's start).
        :return: epoch milliseconds, or None with ``run_id`` or ``latest`` (any start counts).
        """
        return self.window(context).since_ms

    def _start_ms(self, context: Context) -> int | None:
        from airflow_provider_aep.utils.waiting import epoch_ms

        if self.run_id or self.latest:
            return None
        since = epoch_ms(self.since)
        if since is not None:
            return since
        dag_run = context.get("dag_run")
        start = getattr(dag_run, "start_date", None) or getattr(dag_run, "queued_at", None)
        return int(start.timestamp() * 1000) if start else None

    def until_ms(self) -> int | None:
        """Before when runs count.

        :return: ``until`` in epoch milliseconds, or None (no end, or ``run_id``/``latest``).
        """
        from airflow_provider_aep.utils.waiting import epoch_ms

        return None if self.run_id or self.latest else epoch_ms(self.until)

    def _set_link(self) -> None:
        self.resolve_flow_id()
        self.aep_dataflow_url = self.hook.flow_page_url(self.flow_id)

    # -- poking ----------------------------------------------------------------------------------------------

    def poke(self, context: Context) -> PokeReturnValue:
        from airflow_provider_aep.utils.runs import (
            FLOW_STATE_EVERY,
            failure_is_stale,
            outcome_of,
            select_run,
            summarize_run,
        )

        self.resolve_flow_id(context)
        window = self.window(context)
        kept = self._retriggered(context)
        run_id = self.run_id or (kept.run_id if kept else None)
        slept_for_schedule = self.next_look is not None and self.next_look.quiet
        self.next_look = None
        if run_id:
            runs = [self.hook.get_run(run_id)]
        else:
            runs = list(self.hook.iter_runs(properties=window.filters(self.flow_id)))
        outcome = outcome_of(
            select_run(runs, run_id=run_id, latest=self.latest),
            self.success_statuses,
            self.failure_statuses,
        )
        # One INFO line per change (a poking sensor keeps the last); each look at DEBUG.
        said = self.log.info if outcome.reason != self.last_reason else self.log.debug
        said("Dataflow %s: %s", self.flow_id, outcome.reason)
        self.last_reason = outcome.reason
        if outcome.run is None:
            self.polls_without_run += 1
            # Read on the first look without a run, every few after, and after a sleep for the
            # schedule (which may have changed meanwhile).
            if self.polls_without_run % FLOW_STATE_EVERY == 1 or slept_for_schedule:
                self._flow_seen = self.hook.get_flow(self.flow_id)
                self._fail_if_no_run_can_come(context, self._flow_seen)
            if window.closed(int(time.time() * 1000)):
                self.retriggers.forget(context)
                raise self._missing(context)
            self._plan_next_look(context, None, pinned=bool(run_id))
            return PokeReturnValue(is_done=False)
        summary = summarize_run(outcome.run)
        if outcome.state == "failed":
            if kept and failure_is_stale(summary, failed_at=kept.stale_failed_at, run_id=kept.run_id):
                return PokeReturnValue(is_done=False)
            if self._retrigger(context, summary):
                return PokeReturnValue(is_done=False)
            raise self._run_failed(context, summary)
        if outcome.state == "success":
            return PokeReturnValue(is_done=True, xcom_value=self._report(context, summary, outcome.run))
        self._plan_next_look(context, outcome.run, pinned=bool(run_id))
        return PokeReturnValue(is_done=False)

    # -- when to look next ------------------------------------------------------------------------------------

    def waits_on_schedule(self) -> bool:
        """Whether this wait sleeps while no run can start: ``schedule_aware``, else the connection's.

        :return: ``schedule_aware`` when set, else the connection's ``schedule_aware_waits``.
        """
        if self.schedule_aware is not None:
            return self.schedule_aware
        return self.hook.settings.schedule_aware_waits

    def _plan_next_look(self, context: Context, run: dict[str, Any] | None, *, pinned: bool) -> None:
        """Work out when the next poke looks (see :mod:`~airflow_provider_aep.utils.poll_plan`)."""
        import random

        from airflow_provider_aep.utils.poll_plan import NextLook, next_look
        from airflow_provider_aep.utils.runs import started_at_ms
        from airflow_provider_aep.utils.schedule_starts import flow_starts

        if not self.waits_on_schedule() or (run is None and self._flow_seen is None):
            return
        now_ms = int(time.time() * 1000)
        window = self.window(context)
        look = next_look(
            None if run is None else started_at_ms(run),
            None if self._flow_seen is None else flow_starts(self._flow_seen),
            flow_read=self._flow_seen is not None,
            pinned=pinned,
            since_ms=window.since_ms,
            now_ms=now_ms,
            poll_interval=float(self.poke_interval),
            spread=random.random(),
        )
        if run is None and window.until_ms is not None:
            closes_in = (window.until_ms - now_ms) / 1000 + window.grace_seconds
            look = NextLook(max(0.0, min(look.seconds, closes_in)), look.why)
        if look.why:
            said = self.log.info if look.why != self._last_why else self.log.debug
            said("Dataflow %s: %s; polling again in %.0fs", self.flow_id, look.why, look.seconds)
        self._last_why = look.why
        self.next_look = look

    def _get_next_poke_interval(
        self, started_at: datetime | float, run_duration: Callable[[], float], poke_count: int
    ) -> float:
        """The sleep before the next poke (and a rescheduled task's next start): as planned by the
        last poke, never past the timeout; Airflow's own (``poke_interval``, ``exponential_backoff``)
        when nothing was planned."""
        look = self.next_look
        if look is None or (self.exponential_backoff and not look.quiet):
            return float(super()._get_next_poke_interval(started_at, run_duration, poke_count))
        return max(0.0, min(look.seconds, float(self.timeout) - run_duration()))

    def _fail_if_no_run_can_come(self, context: Context, flow: dict[str, Any]) -> None:
        """A disabled flow, or one whose schedule starts no run for this wait, ends it now."""
        from airflow_provider_aep.exceptions import AEPDataflowDisabled, AEPDataflowEnded
        from airflow_provider_aep.utils.runs import flow_is_disabled

        if flow_is_disabled(flow):
            self.retriggers.forget(context)
            raise AEPDataflowDisabled(self.flow_id)
        reason = self.window(context).why_no_run_will_come(flow, now_ms=int(time.time() * 1000))
        if reason:
            self.retriggers.forget(context)
            raise AEPDataflowEnded(self.flow_id, reason)

    def _run_failed(self, context: Context, summary: dict[str, Any]) -> Exception:
        """The run's failure, saying so when the last re-trigger was never taken by AEP."""
        from airflow_provider_aep.exceptions import AEPDataflowRunFailed
        from airflow_provider_aep.utils.waiting import RETRIGGER_REFUSED

        kept = self._retriggered(context)
        note = None
        if kept and kept.run_id == summary["run_id"] and kept.unconfirmed:
            note = (
                "its last re-trigger was refused by AEP"
                if kept.state == RETRIGGER_REFUSED
                else "its last re-trigger was never confirmed by AEP"
            ) + f" ({kept.count} of at most {self.retrigger_failed} asked)"
        self.retriggers.forget(context)
        return AEPDataflowRunFailed(summary["run_id"], str(summary["status"]), summary["errors"], note)

    # -- re-triggering ---------------------------------------------------------------------------------------

    def _retriggered(self, context: Context) -> RetriggerRecord | None:
        """Which run this wait re-triggered, how often, and which failure it answered (or None).

        Kept across pokes and tries (and carried through deferral), and removed when the wait
        ends, so a cleared task starts afresh. A record made for another ``since`` or ``run_id``
        (the task was cleared mid-wait) is not this wait's.
        """
        return self.retriggers.recall(context, since_ms=self.since_ms(context), run_id=self.run_id)

    def _retrigger(self, context: Context, summary: dict[str, Any]) -> bool:
        """Re-trigger the failed run if attempts are left; False when the task must fail.

        The attempt is counted, as ``asking``, before the request goes, so a worker lost while
        asking never makes a retried task re-trigger more often than asked; it becomes ``sent``
        once AEP took it. A refusal for good (4xx: the flow was disabled meanwhile, the run
        cannot be re-triggered) fails the task at once with AEP's answer; one for now (5xx
        after the hook's retries, a lost answer) fails this try, and the next try re-triggers
        again while attempts are left.
        """
        from airflow_provider_aep.tasks.run_outcome import retrigger

        return retrigger(self, context, summary)

    def _missing(self, context: Context) -> Exception:
        from airflow_provider_aep.exceptions import AEPDataflowRunMissing
        from airflow_provider_aep.utils.waiting import iso_ms

        window = self.window(context)
        return AEPDataflowRunMissing(self.flow_id, iso_ms(window.since_ms), str(iso_ms(window.until_ms)))

    # -- deferring -------------------------------------------------------------------------------------------

    def execute(self, context: Context) -> Any:
        from airflow_provider_aep.exceptions import AEPValidationError

        self.check_inputs()
        self.resolve_flow_id(context)
        self._set_link()
        if self.retrigger_failed and self.mode == "reschedule" and context.get("task_state_store") is None:
            raise AEPValidationError(
                "retrigger_failed",
                self.retrigger_failed,
                "0 in reschedule mode on this Airflow (no task state store to count re-triggers "
                "between pokes): use poke or deferrable mode",
            )
        if not self.deferrable:
            return super().execute(context)
        # One look first: a run that is already over needs no trip through the triggerer.
        first = self.poke(context)
        if first.is_done:
            return first.xcom_value
        self._defer(context, deadline=time.time() + float(self.timeout))

    def new_trigger(self, **kwargs: Any) -> BaseTrigger:
        """The trigger a deferral hands the wait to, built from ``kwargs``: ``trigger_class``'s.

        tasks/ import no trigger: the task that waits names it (the sensor imports it only
        when it defers, so DAG parsing never loads it).

        :param kwargs: the trigger's arguments, as the wait works them out.
        :return: the trigger.
        """
        if self.trigger_class is None:
            raise NotImplementedError(f"{type(self).__name__} names no trigger_class to defer to")
        return self.trigger_class(**kwargs)

    def _defer(self, context: Context, deadline: float) -> NoReturn:
        window = self.window(context)
        kept = self._retriggered(context)
        pinned = self.run_id or (kept.run_id if kept else None)
        self.defer(
            trigger=self.new_trigger(
                flow_id=self.flow_id,
                aep_conn_id=self.aep_conn_id,
                sandbox_name=self.sandbox_name or None,
                since_ms=window.since_ms,
                until_ms=None if pinned else window.until_ms,
                until_grace=window.grace_seconds,
                run_id=pinned or None,
                latest=self.latest and not pinned,
                poll_interval=float(self.poke_interval),
                deadline=deadline,
                success_statuses=list(self.success_statuses),
                failure_statuses=list(self.failure_statuses),
                retry_policy=dataclasses.asdict(self.hook.retry_policy),
                timeout=list(self.hook.timeout),
                # Only a re-trigger AEP took makes its failure stale (see RETRIGGER_SENT).
                stale_failed_at=kept.stale_failed_at if kept and kept.run_id == pinned else None,
                schedule_aware=self.waits_on_schedule(),
            ),
            method_name="execute_complete",
            # One deadline for the whole wait, however often it re-triggers; without a task
            # state store (Airflow before 3.3) the re-trigger record rides along too.
            # The id a flow_name resolved to rides along: the name is looked up once per wait.
            kwargs={
                "retriggered": self.retriggers.carried(),
                "deadline": deadline,
                "flow_id": self.flow_id,
                "run_id": self.run_id or None,
            },
            timeout=timedelta(seconds=max(deadline - time.time(), 0) + 60),
        )

    def execute_complete(
        self,
        context: Context,
        event: dict[str, Any],
        retriggered: dict[str, Any] | None = None,
        deadline: float | None = None,
        flow_id: str | None = None,
        run_id: str | None = None,
    ) -> dict[str, Any]:
        """Back from the triggerer: the summary, or the failure it reported.

        :param context: the task's Airflow context.
        :param event: the trigger's event (checked before it is read).
        :param retriggered: which run was re-triggered and how often, carried through deferral.
        :param deadline: when the whole wait times out (epoch seconds), carried through deferral.
        :param flow_id: the dataflow's id as resolved before the deferral (from ``flow_name``).
        :param run_id: the ``run_id`` the wait was given (a task that waits for the run it started).
        :return: the run's summary, as :meth:`poke` returns it.
        """
        from airflow_provider_aep.exceptions import AEPDataflowDisabled, AEPDataflowEnded, AEPError
        from airflow_provider_aep.utils.waiting import check_event

        self.use_resolved_flow_id(flow_id)
        self.run_id = self.run_id or run_id
        self._set_link()
        self.retriggers.carry_in(retriggered)
        status = check_event(event)
        if status == "success":
            return self._report(context, event["summary"])
        if status == "failed":
            summary = event["summary"]
            if self._retrigger(context, summary):
                self._defer(context, deadline or time.time() + float(self.timeout))
            raise self._run_failed(context, summary)
        self.retriggers.forget(context)
        if status == "disabled":
            raise AEPDataflowDisabled(self.flow_id)
        if status == "ended":
            raise AEPDataflowEnded(self.flow_id, str(event["message"]))
        if status == "missing":
            raise self._missing(context)
        if status == "timeout":
            from airflow.providers.common.compat.sdk import AirflowSensorTimeout

            raise AirflowSensorTimeout(
                f"Dataflow {self.flow_id}: sensor timed out after {self.timeout}s; {event.get('message', '')}"
            )
        raise AEPError(f"Dataflow {self.flow_id}: {event.get('message', 'the trigger failed')}")

    # -- a successful run ------------------------------------------------------------------------------------

    def _report(
        self, context: Context, summary: dict[str, Any], run: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A successful run: the record policy checked, asset events emitted, the summary logged."""
        from airflow_provider_aep.tasks.run_outcome import report

        return report(self, context, summary, run)
