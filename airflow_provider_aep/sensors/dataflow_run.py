"""AEPDataflowRunSensor: wait until a dataflow run completes and its record counts appear."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, NoReturn

from airflow.sdk import Asset, AssetAlias

from airflow_provider_aep.assets import ExportLocation, event_extra, files_of
from airflow_provider_aep.exceptions import (
    AEPApiError,
    AEPDataflowDisabled,
    AEPDataflowEnded,
    AEPDataflowRecordPolicyBreached,
    AEPDataflowRunFailed,
    AEPDataflowRunMissing,
    AEPError,
    AEPFlowDisabledError,
    AEPValidationError,
)
from airflow_provider_aep.links import AEPDataflowLink
from airflow_provider_aep.operators._base import (
    AEPHookMixin,
    check_sandbox_override,
    check_when_literal,
    int_if_digits,
)
from airflow_provider_aep.utils.flow_ref import FlowByNameMixin
from airflow_provider_aep.utils.ids import check_id
from airflow_provider_aep.utils.runs import (
    DEFAULT_FAILURE_STATUSES,
    DEFAULT_SUCCESS_STATUSES,
    FLOW_STATE_EVERY,
    error_codes,
    flow_is_disabled,
    outcome_of,
    record_policy_breach,
    run_filters,
    select_run,
    summarize_run,
    why_no_run_will_come,
    window_closed,
)
from airflow_provider_aep.utils.task_state import forget, recall, remember
from airflow_provider_aep.version_compat import AirflowSensorTimeout, BaseSensorOperator, PokeReturnValue

if TYPE_CHECKING:
    import airflow.providers.openlineage.extractors

    from airflow_provider_aep.version_compat import Context


def _is_since(value: Any) -> bool:
    """None, a datetime, epoch milliseconds or an ISO 8601 string: run times are milliseconds."""
    value = int_if_digits(value)
    if value is None or value == "" or isinstance(value, datetime):
        return True
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return False
    if isinstance(value, int):
        return 10**12 <= value < 10**14
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


#: What each event status of AEPDataflowRunTrigger carries.
EVENT_KEYS = {
    "success": ("summary",),
    "failed": ("summary",),
    "timeout": ("message",),
    "error": ("message",),
    "disabled": ("message",),
    "ended": ("message",),
    "missing": ("message",),
}
#: The ``task_state_store`` key that keeps which run was re-triggered and how often.
RETRIGGERED_KEY = "aep_retriggered"
#: Where a re-trigger recorded under ``RETRIGGERED_KEY`` stands: written as ``asking`` before the
#: request goes, ``sent`` once AEP took it, ``refused`` when AEP answered no. Only a ``sent``
#: re-trigger makes the failure it answered stale: after a crash mid-request or a refusal, the
#: failure is still the run's, and the next try re-triggers again or fails with it.
RETRIGGER_ASKING, RETRIGGER_SENT, RETRIGGER_REFUSED = "asking", "sent", "refused"
#: Re-triggering more often than this hides a broken export instead of healing a flaky one.
MAX_RETRIGGERS = 10
SUMMARY_KEYS = ("run_id", "status", "errors")


def check_event(event: Any) -> str:
    """The event's status, once the event is known to carry what that status needs."""
    status = event.get("status") if isinstance(event, dict) else None
    needed = EVENT_KEYS.get(status) if isinstance(status, str) else None
    missing = [k for k in needed or () if k not in event]
    summary = event.get("summary") if isinstance(event, dict) else None
    if (
        needed
        and "summary" in needed
        and not (isinstance(summary, dict) and all(k in summary for k in SUMMARY_KEYS))
    ):
        missing.append("summary." + "/".join(SUMMARY_KEYS))
    if needed is None or missing:
        shown = status if isinstance(status, str) else type(event).__name__
        raise AEPError(
            f"The trigger sent an event this sensor cannot read ({shown}; missing {missing or 'status'})"
        )
    return str(status)


def record_limits(min_records: Any, max_failed_records: Any) -> tuple[int | None, int | None]:
    """The record-count policy as numbers (rendered templates are strings); None: no limit."""
    limits: list[int | None] = []
    for field, value in (("min_records", min_records), ("max_failed_records", max_failed_records)):
        value = int_if_digits(value)
        if value in (None, ""):
            limits.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise AEPValidationError(field, value, "a whole number of records, 0 or more, or None")
        limits.append(value)
    return limits[0], limits[1]


def default_deferrable() -> bool:
    """``[operators] default_deferrable``: what a wait does when ``deferrable`` is not given."""
    from airflow_provider_aep.version_compat import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


class AEPDataflowRunSensor(FlowByNameMixin, AEPHookMixin, BaseSensorOperator):
    """Wait for a dataflow run to end, and return its summary (record, byte and file counts).

    Which run: ``run_id`` when given; else the newest run when ``latest``; else the first run
    started since ``since`` (default: the start of the DAG run, so a flow created upstream in the
    same DAG run is watched from its first run) and, with ``until``, before ``until``. Other
    keyword arguments go to Airflow's ``BaseSensorOperator`` (``poke_interval``, ``timeout``,
    ``mode``, ``outlets``, ...).

    With ``outlets``, a successful wait emits asset events for the folder the run wrote to
    (``s3://bucket/path``, ...; see :mod:`airflow_provider_aep.assets`): an
    :class:`~airflow.sdk.AssetAlias` outlet receives an event for that folder's asset, whatever
    its URI, and an :class:`~airflow.sdk.Asset` outlet gets its event's ``extra`` filled. The
    ``extra`` holds the run's ids, times, counts, file URIs and per-dataset or per-segment
    counts, nothing secret. A failed, missing or timed-out run emits nothing.

    :param flow_id: the dataflow (``create_flow.output``); or give ``flow_name``, not both.
    :param flow_name: the dataflow's exact name instead of its id: resolved when the task starts
        (``GET /flows?property=name==...``) to the one dataflow with that name, which the wait
        (and its trigger) then uses; none (close names are listed) or several (their ids are
        listed) fail the task before it waits.
    :param aep_conn_id: the ``aep`` Airflow connection (default ``aep_default``).
    :param sandbox_name: the sandbox to look in instead of the connection's.
    :param run_id: wait for this run.
    :param latest: wait for the newest run of the flow, whenever it started.
    :param since: a datetime, epoch milliseconds or an ISO 8601 string; runs started before it
        are ignored.
    :param success_statuses: statuses that end the wait well (case-insensitive).
    :param failure_statuses: statuses that fail the task with AEP's error codes (case-insensitive).
    :param deferrable: wait in the triggerer instead of a worker slot
        (default: ``[operators] default_deferrable``).
    :param until: a datetime, epoch milliseconds or an ISO 8601 string; runs started at or after
        it are not this wait's (for a daily DAG: ``data_interval_end``, with ``since`` at
        ``data_interval_start``).
    :param until_grace: seconds after ``until`` to keep looking for a run that started in the
        window; then the task fails with ``AEPDataflowRunMissing`` (no run will come).
    :param storage_account: the Azure storage account of an Azure Blob destination, which AEP
        keeps secret; it completes the asset URI (``wasbs://container@account...``).
    :param retrigger_failed: re-trigger a failed run (``RE_TRIGGER``) up to this many times
        before failing the task, each attempt logged with AEP's error codes; the summary's
        ``attempts`` says how many runs it took. Counted per task instance, across its tries,
        so a retried task does not re-trigger again; at most 10. A re-trigger AEP refuses for
        good (a 4xx, e.g. the flow was disabled meanwhile) fails the task at once with AEP's
        answer; one refused for now (a 5xx after the hook's retries, or a lost answer) fails
        this try, and the task's retry re-triggers again, counted against this limit.
    :param min_records: the fewest output records a successful run must write (default: no
        minimum); AEP reports an empty run as a success. A run below it fails the task at once
        (``AEPDataflowRecordPolicyBreached``, with the counts and the limit), not re-triggered.
    :param max_failed_records: the most failed records a successful run may report (default:
        no limit); AEP reports a run with failed records as a success. Above it the task fails
        at once, as for ``min_records``.

    The wait fails at once, never at the sensor's timeout, when no run can come: the flow is
    disabled (``AEPDataflowDisabled``, an
    :class:`~airflow_provider_aep.exceptions.AEPFlowDisabledError`), or its schedule has ended
    or its next scheduled run starts after ``until`` (``AEPDataflowEnded``, an
    :class:`~airflow_provider_aep.exceptions.AEPFlowEndedError`). The flow is read on the first
    poll without a run and every few after, so this costs no extra request per poll.

    ``since`` and ``until`` without a time zone (a naive datetime, ``"{{ ds }}"``) are UTC.
    """

    template_fields: Sequence[str] = (
        "flow_id",
        "flow_name",
        "run_id",
        "since",
        "until",
        "sandbox_name",
        "aep_conn_id",
        "storage_account",
        "min_records",
        "max_failed_records",
    )
    operator_extra_links = (AEPDataflowLink(),)
    ui_color = "#f7c59f"

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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.init_connection(aep_conn_id, sandbox_name)
        self.retrigger_failed = retrigger_failed
        self.min_records = min_records
        self.max_failed_records = max_failed_records
        #: ``{"run_id", "count"}`` of the run this sensor re-triggered (see ``RETRIGGERED_KEY``).
        self.retriggered: dict[str, Any] = {}
        self.polls_without_run = 0
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
            if not _is_since(moment):
                raise AEPValidationError(
                    field, moment, "epoch milliseconds (13 digits), a datetime or an ISO 8601 string"
                )
        if self.until not in (None, "") and (self.run_id or self.latest):
            raise AEPValidationError("until", self.until, "None when run_id or latest chooses the run")
        since, until = _epoch_ms(self.since), _epoch_ms(self.until)
        if since is not None and until is not None and until <= since:
            raise AEPValidationError(
                "until", self.until, f"a moment after since ({_iso_ms(since)}; naive values are UTC)"
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
        return record_limits(self.min_records, self.max_failed_records)

    def since_ms(self, context: Context) -> int | None:
        """From when runs count: ``since``, else the DAG run's start.

        :param context: the task's Airflow context (its DAG run's start).
        :return: epoch milliseconds, or None with ``run_id`` or ``latest`` (any start counts).
        """
        if self.run_id or self.latest:
            return None
        since = _epoch_ms(self.since)
        if since is not None:
            return since
        dag_run = context.get("dag_run")
        start = getattr(dag_run, "start_date", None) or getattr(dag_run, "queued_at", None)
        return int(start.timestamp() * 1000) if start else None

    def until_ms(self) -> int | None:
        """Before when runs count.

        :return: ``until`` in epoch milliseconds, or None (no end, or ``run_id``/``latest``).
        """
        return None if self.run_id or self.latest else _epoch_ms(self.until)

    def _set_link(self) -> None:
        self.resolve_flow_id()
        self.aep_dataflow_url = self.hook.flow_page_url(self.flow_id)

    def poke(self, context: Context) -> PokeReturnValue:
        self.resolve_flow_id(context)
        kept = self._retriggered(context)
        run_id = self.run_id or kept.get("run_id")
        if run_id:
            runs = [self.hook.get_run(run_id)]
        else:
            filters = run_filters(self.flow_id, self.since_ms(context), self.until_ms())
            runs = list(self.hook.iter_runs(properties=filters))
        outcome = outcome_of(
            select_run(runs, run_id=run_id, latest=self.latest),
            self.success_statuses,
            self.failure_statuses,
        )
        self.log.info("Dataflow %s: %s", self.flow_id, outcome.reason)
        if outcome.run is None:
            self.polls_without_run += 1
            if self.polls_without_run % FLOW_STATE_EVERY == 1:
                self._fail_if_no_run_can_come(context, self.hook.get_flow(self.flow_id))
            if window_closed(self.until_ms(), self.until_grace, int(time.time() * 1000)):
                self._forget_retriggers(context)
                raise self._missing(context)
            return PokeReturnValue(is_done=False)
        summary = summarize_run(outcome.run)
        if outcome.state == "failed":
            if self._is_stale_failure(kept, summary):
                return PokeReturnValue(is_done=False)
            if self._retrigger(context, summary):
                return PokeReturnValue(is_done=False)
            raise self._run_failed(context, summary)
        if outcome.state == "success":
            return PokeReturnValue(is_done=True, xcom_value=self._report(context, summary, outcome.run))
        return PokeReturnValue(is_done=False)

    def _fail_if_no_run_can_come(self, context: Context, flow: dict[str, Any]) -> None:
        """A disabled flow, or one whose schedule starts no run for this wait, ends it now."""
        if flow_is_disabled(flow):
            self._forget_retriggers(context)
            raise AEPDataflowDisabled(self.flow_id)
        reason = why_no_run_will_come(
            flow,
            now_ms=int(time.time() * 1000),
            until_ms=self.until_ms(),
            grace_ms=int(float(self.until_grace) * 1000),
        )
        if reason:
            self._forget_retriggers(context)
            raise AEPDataflowEnded(self.flow_id, reason)

    def _run_failed(self, context: Context, summary: dict[str, Any]) -> Exception:
        """The run's failure, saying so when the last re-trigger was never taken by AEP."""
        kept = self._retriggered(context)
        note = None
        if kept.get("run_id") == summary["run_id"] and kept.get("state") in (
            RETRIGGER_ASKING,
            RETRIGGER_REFUSED,
        ):
            note = (
                "its last re-trigger was refused by AEP"
                if kept.get("state") == RETRIGGER_REFUSED
                else "its last re-trigger was never confirmed by AEP"
            ) + f" ({kept.get('count')} of at most {self.retrigger_failed} asked)"
        self._forget_retriggers(context)
        return AEPDataflowRunFailed(summary["run_id"], str(summary["status"]), summary["errors"], note)

    def _retriggered(self, context: Context) -> dict[str, Any]:
        """Which run this task re-triggered, how often, and which failure it answered.

        Kept in ``task_state_store`` across pokes and tries (and carried through deferral), and
        removed when the wait ends, so a cleared task starts afresh. A record made for another
        ``since`` or ``run_id`` (the task was cleared mid-wait) is not this wait's.
        """
        kept = recall(context, RETRIGGERED_KEY)
        record = dict(kept) if isinstance(kept, dict) else dict(self.retriggered)
        if record and (
            record.get("since_ms") != self.since_ms(context)
            or (self.run_id and record.get("run_id") != self.run_id)
        ):
            return {}
        return record

    @staticmethod
    def _is_stale_failure(kept: dict[str, Any], summary: dict[str, Any]) -> bool:
        """AEP may still show the failure a re-trigger answered: that is not a new one.

        Only when AEP took the re-trigger (``sent``): after a refusal, or a try that died while
        asking, the failure is still the run's own.
        """
        return bool(
            kept.get("state") == RETRIGGER_SENT
            and kept.get("run_id") == summary["run_id"]
            and kept.get("failed_at")
            and kept.get("failed_at") == summary.get("completed_at")
        )

    def _retrigger(self, context: Context, summary: dict[str, Any]) -> bool:
        """Re-trigger the failed run if attempts are left; False when the task must fail.

        The attempt is counted, as ``asking``, before the request goes, so a worker lost while
        asking never makes a retried task re-trigger more often than asked; it becomes ``sent``
        once AEP took it. A refusal for good (4xx: the flow was disabled meanwhile, the run
        cannot be re-triggered) fails the task at once with AEP's answer; one for now (5xx
        after the hook's retries, a lost answer) fails this try, and the next try re-triggers
        again while attempts are left.
        """
        run_id = str(summary["run_id"])
        kept = self._retriggered(context)
        mine = kept.get("run_id") == run_id
        done = int(kept.get("count", 0)) if mine else 0
        codes = error_codes(summary["errors"])
        if mine and kept.get("state") in (RETRIGGER_ASKING, RETRIGGER_REFUSED):
            self.log.warning(
                "Dataflow run %s: re-trigger %d was %s by an earlier try; the run is still %s",
                run_id, done, "refused" if kept.get("state") == RETRIGGER_REFUSED else "not confirmed",
                summary["status"],
            )  # fmt: skip
        if done >= self.retrigger_failed:
            if done:
                self.log.error("Dataflow run %s failed again after %d re-trigger(s): %s", run_id, done, codes)
            return False
        self.log.warning(
            "Dataflow run %s %s (%s); re-triggering it, %d of at most %d",
            run_id, summary["status"], codes, done + 1, self.retrigger_failed,
        )  # fmt: skip
        accepted = _accepted(kept) if mine else 0
        record = {
            "run_id": run_id,
            "count": done + 1,
            "accepted": accepted,
            "failed_at": summary.get("completed_at"),
            "since_ms": self.since_ms(context),
            "state": RETRIGGER_ASKING,
        }
        self._keep_retriggers(context, record)
        try:
            self.hook.retrigger_run(run_id, self.failure_statuses)
        except AEPFlowDisabledError as err:
            self._forget_retriggers(context)
            raise AEPDataflowDisabled(err.flow_id, err.detail) from err
        except AEPApiError as err:
            if _refused_for_good(err):
                self._forget_retriggers(context)
                raise AEPDataflowRunFailed(
                    run_id, str(summary["status"]), summary["errors"], f"AEP refused to re-trigger it: {err}"
                ) from err
            self._keep_retriggers(context, {**record, "state": RETRIGGER_REFUSED})
            raise
        self._keep_retriggers(context, {**record, "accepted": accepted + 1, "state": RETRIGGER_SENT})
        return True

    def _keep_retriggers(self, context: Context, record: dict[str, Any]) -> None:
        self.retriggered = record
        remember(context, RETRIGGERED_KEY, record)

    def _forget_retriggers(self, context: Context) -> None:
        forget(context, RETRIGGERED_KEY)

    def _missing(self, context: Context) -> Exception:
        since, until = self.since_ms(context), self.until_ms()
        return AEPDataflowRunMissing(self.flow_id, _iso_ms(since), str(_iso_ms(until)))

    def execute(self, context: Context) -> Any:
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

    def _defer(self, context: Context, deadline: float) -> NoReturn:
        from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger

        kept = self._retriggered(context)
        pinned = self.run_id or kept.get("run_id")
        self.defer(
            trigger=AEPDataflowRunTrigger(
                flow_id=self.flow_id,
                aep_conn_id=self.aep_conn_id,
                sandbox_name=self.sandbox_name or None,
                since_ms=self.since_ms(context),
                until_ms=None if pinned else self.until_ms(),
                until_grace=float(self.until_grace),
                run_id=pinned or None,
                latest=self.latest and not pinned,
                poll_interval=float(self.poke_interval),
                deadline=deadline,
                success_statuses=list(self.success_statuses),
                failure_statuses=list(self.failure_statuses),
                retry_policy=dataclasses.asdict(self.hook.retry_policy),
                timeout=list(self.hook.timeout),
                # Only a re-trigger AEP took makes its failure stale (see RETRIGGER_SENT).
                stale_failed_at=kept.get("failed_at")
                if kept.get("run_id") == pinned and kept.get("state") == RETRIGGER_SENT
                else None,
            ),
            method_name="execute_complete",
            # One deadline for the whole wait, however often it re-triggers; without a task
            # state store (Airflow before 3.3) the re-trigger count rides along too.
            # The id a flow_name resolved to rides along: the name is looked up once per wait.
            kwargs={
                "retriggered": self.retriggered or None,
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
        self.use_resolved_flow_id(flow_id)
        self.run_id = self.run_id or run_id
        self._set_link()
        self.retriggered = dict(retriggered or self.retriggered)
        status = check_event(event)
        if status == "success":
            return self._report(context, event["summary"])
        if status == "failed":
            summary = event["summary"]
            if self._retrigger(context, summary):
                self._defer(context, deadline or time.time() + float(self.timeout))
            raise self._run_failed(context, summary)
        self._forget_retriggers(context)
        if status == "disabled":
            raise AEPDataflowDisabled(self.flow_id)
        if status == "ended":
            raise AEPDataflowEnded(self.flow_id, str(event["message"]))
        if status == "missing":
            raise self._missing(context)
        if status == "timeout":
            raise AirflowSensorTimeout(
                f"Dataflow {self.flow_id}: sensor timed out after {self.timeout}s; {event.get('message', '')}"
            )
        raise AEPError(f"Dataflow {self.flow_id}: {event.get('message', 'the trigger failed')}")

    def _report(
        self, context: Context, summary: dict[str, Any], run: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        kept = self._retriggered(context)
        retriggers = _accepted(kept) if kept.get("run_id") == summary["run_id"] else 0
        summary = {**summary, "attempts": 1 + retriggers}
        self._forget_retriggers(context)
        min_records, max_failed_records = self._record_limits()
        breach = record_policy_breach(summary, min_records=min_records, max_failed_records=max_failed_records)
        if breach:
            raise AEPDataflowRecordPolicyBreached(str(summary["run_id"]), breach)
        self.run_summary = summary
        self._emit_asset_events(context, summary, run)
        self.log.info(
            "Dataflow run %s %s: %s records in, %s out, %s skipped, %s failed; %s file(s), %s bytes out; "
            "attempt %s",
            summary["run_id"], summary["status"], summary["input_records"], summary["output_records"],
            summary["skipped_records"], summary["failed_records"], summary["files_out"], summary["output_bytes"],
            summary["attempts"],
        )  # fmt: skip
        return summary

    def _emit_asset_events(
        self, context: Context, summary: dict[str, Any], run: dict[str, Any] | None = None
    ) -> None:
        """Tell downstream DAGs where the run's files are, through this task's asset outlets."""
        outlets = [o for o in self.outlets if isinstance(o, (Asset, AssetAlias))]
        if not outlets:
            return
        self.location = self.hook.export_location(self.flow_id, self.storage_account or None)
        # The trigger's event carries the summary, not the run: then the run is read once more.
        files = files_of(run if run is not None else self.hook.get_run(str(summary["run_id"])))
        extra = event_extra(summary, self.location, files)
        events = context["outlet_events"]
        for outlet in outlets:
            if isinstance(outlet, AssetAlias):
                events[outlet].add(Asset(uri=self.location.uri), extra=extra)
            else:
                events[outlet].extra.update(extra)
        self.log.info(
            "Asset event for %s: run %s, %s records in %d file(s)",
            self.location.uri, summary["run_id"], summary["output_records"], len(files),
        )  # fmt: skip

    def get_openlineage_facets_on_start(self) -> airflow.providers.openlineage.extractors.OperatorLineage:
        """What the watched dataflow exports (AEP datasets or audiences) and where its files land.

        Read from AEP when the wait starts, so lineage tools show a long wait's inputs and output;
        see :mod:`airflow_provider_aep.lineage` for the names. A failure to read them is logged
        and never fails the task.

        :return: inputs, the output location and the ``aep_dataflowRun`` facet with the flow id.
        """
        from airflow_provider_aep.lineage import dataflow_lineage, lineage_or_empty

        return lineage_or_empty(
            lambda: dataflow_lineage(self.hook, self.resolve_flow_id(), storage_account=self.storage_account),
            task_id=self.task_id,
            logger=self.log,
        )

    def get_openlineage_facets_on_complete(
        self, task_instance: Any
    ) -> airflow.providers.openlineage.extractors.OperatorLineage:
        """As on start, with the run the wait ended with: its id, status and record, byte and file counts.

        The run comes from ``run_summary`` and the location from ``location`` when the asset
        events already resolved it (else it is read). The run id is also the standard
        ``externalQuery`` facet; the output gets ``outputStatistics`` and each input
        ``inputStatistics``. A failure is logged and never fails the task.

        :param task_instance: the finished task instance (passed by the OpenLineage listener).
        :return: inputs, the output location with its statistics, and the run facets.
        """
        from airflow_provider_aep.lineage import dataflow_lineage, lineage_or_empty

        return lineage_or_empty(
            lambda: dataflow_lineage(
                self.hook,
                self.resolve_flow_id(),
                summary=self.run_summary,
                location=self.location,
                storage_account=self.storage_account,
            ),
            task_id=self.task_id,
            logger=self.log,
        )


def _epoch_ms(moment: Any) -> int | None:
    """Epoch milliseconds of ``since``/``until``; a moment without a time zone is UTC, as Airflow reads it."""
    moment = int_if_digits(moment)
    if isinstance(moment, int):
        return moment
    if isinstance(moment, str) and moment:
        moment = datetime.fromisoformat(moment)
    if isinstance(moment, datetime):
        if moment.tzinfo is None or moment.utcoffset() is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return int(moment.timestamp() * 1000)
    return None


def _accepted(record: dict[str, Any]) -> int:
    """How many re-triggers of the record AEP took (a record from before states: its count)."""
    return int(record.get("accepted", record.get("count", 0)) or 0)


def _refused_for_good(err: AEPApiError) -> bool:
    """A 4xx other than a timeout or a rate limit: asking again would be refused again."""
    return 400 <= err.status < 500 and err.status not in (408, 429)


def _iso_ms(epoch_ms: int | None) -> str | None:
    return None if epoch_ms is None else datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc).isoformat()
