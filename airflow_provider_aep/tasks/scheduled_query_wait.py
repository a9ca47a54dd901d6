"""What :class:`~airflow_provider_aep.sensors.scheduled_query.AEPScheduledQueryRunSensor` does at
each look: find the run of its window, read it, and end the wait when it ended or cannot come."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import PokeReturnValue

from airflow_provider_aep.exceptions import AEPQueryFailed, AEPScheduledQueryRunMissing, AEPValidationError
from airflow_provider_aep.hooks.query_service import (
    QUERY_FAILURE_STATES,
    QUERY_SUCCEEDED,
    check_run_id,
    check_schedule_id,
    query_errors,
    query_state,
)
from airflow_provider_aep.hooks.segmentation import as_mapping

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: Named, not imported: the operator lives a layer above.
AEPScheduledQueryRunSensor = Any


#: While no run is listed, the schedule itself is read on the first look and every this many after.
READ_SCHEDULE_EVERY = 5


def moment(field: str, value: Any) -> datetime | None:
    """A window end as rendered (a datetime or ISO 8601 text; naive means UTC), or None."""
    if value in (None, "", "None"):
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise AEPValidationError(
                field, value, "a datetime or ISO 8601 text, e.g. {{ data_interval_start }}"
            ) from None
    if not isinstance(value, datetime):
        raise AEPValidationError(field, value, "a datetime or ISO 8601 text, e.g. {{ data_interval_start }}")
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def window(sensor: AEPScheduledQueryRunSensor, context: Context) -> tuple[datetime, datetime | None]:
    """From when and until when runs count: ``since`` (default, or rendered empty: the DAG run's
    start) and ``until`` (None: no end); an empty window is refused."""
    since = moment("since", sensor.since)
    if since is None:
        started = getattr(context.get("dag_run"), "start_date", None)
        since = started if isinstance(started, datetime) else datetime.now(timezone.utc)
        since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    until = moment("until", sensor.until)
    if until is not None and until <= since:
        raise AEPValidationError("until", sensor.until, f"a moment after since ({_iso(since)})")
    return since, until


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def poke_schedule_run(sensor: AEPScheduledQueryRunSensor, context: Context) -> PokeReturnValue:
    """One look: the run's summary once it succeeded; AEP's words when it failed."""
    hook = sensor.hook
    schedule_id = check_schedule_id("schedule_id", sensor.schedule_id)
    run_id = sensor.run_id or sensor.found_run_id
    if not run_id:
        since, until = window(sensor, context)
        # The schedule's own runs, oldest first: one started on demand is not the interval's.
        runs = hook.schedule_runs(
            schedule_id, created_from=since, created_before=until, external=False, oldest_first=True
        )
        if not runs:
            _fail_if_no_run_can_come(sensor, schedule_id, since, until)
            return PokeReturnValue(is_done=False)
        run_id = str(runs[0]["id"])
        sensor.found_run_id = run_id
        sensor.log.info(
            "Run %s of scheduled query %s (created %s) is this wait's",
            run_id,
            schedule_id,
            runs[0].get("created"),
        )
    run = hook.get_schedule_run(schedule_id, check_run_id("run_id", run_id))
    state = query_state(run)
    if state == QUERY_SUCCEEDED or state in QUERY_FAILURE_STATES:
        summary = _summary(sensor, schedule_id, run)
        if state != QUERY_SUCCEEDED:
            raise AEPQueryFailed(
                f"{summary['query_id'] or run_id} (run {run_id} of scheduled query {schedule_id})",
                state,
                summary["errors"] or "AEP gave no error text",
            )
        sensor.log.info(
            "Run %s of scheduled query %s %s: %s row(s) in %s ms",
            run_id, schedule_id, state, summary["rows"], summary["duration_ms"],
        )  # fmt: skip
        return PokeReturnValue(is_done=True, xcom_value=summary)
    log = sensor.log.info if state != sensor._last_state else sensor.log.debug
    log("Run %s of scheduled query %s is %s", run_id, schedule_id, state)
    sensor._last_state = state
    return PokeReturnValue(is_done=False)


def _fail_if_no_run_can_come(
    sensor: AEPScheduledQueryRunSensor, schedule_id: str, since: datetime, until: datetime | None
) -> None:
    """No run in the window yet: fail at once when none can come (the window closed, the schedule
    is disabled, it ended, or it starts only after the window), never at the sensor's timeout."""
    looks = sensor.empty_looks
    sensor.empty_looks = looks + 1
    now = datetime.now(timezone.utc)
    if until is not None and now > until + timedelta(seconds=float(sensor.until_grace)):
        raise AEPScheduledQueryRunMissing(
            schedule_id,
            _iso(since),
            _iso(until),
            f"the window closed {sensor.until_grace:.0f} s ago with no run in it",
        )
    if looks % READ_SCHEDULE_EVERY:
        return
    schedule = sensor.hook.get_schedule(schedule_id)
    if query_state(schedule) == "DISABLED":
        raise AEPScheduledQueryRunMissing(schedule_id, _iso(since), _iso(until), "the schedule is disabled")
    timing = as_mapping(schedule.get("schedule"))
    ends = moment("endDate", timing.get("endDate")) if timing.get("endDate") else None
    if ends is not None and ends < now:
        raise AEPScheduledQueryRunMissing(
            schedule_id, _iso(since), _iso(until), f"the schedule ended at {_iso(ends)}"
        )
    starts = moment("startDate", timing.get("startDate")) if timing.get("startDate") else None
    if starts is not None and until is not None and starts >= until:
        raise AEPScheduledQueryRunMissing(
            schedule_id,
            _iso(since),
            _iso(until),
            f"the schedule starts only at {_iso(starts)}, after the window",
        )
    if looks == 0:
        sensor.log.info(
            "No run of scheduled query %s created between %s and %s yet (schedule %s)",
            schedule_id, _iso(since), _iso(until) or "now", timing.get("schedule"),
        )  # fmt: skip


def _summary(sensor: AEPScheduledQueryRunSensor, schedule_id: str, run: Mapping[str, Any]) -> dict[str, Any]:
    """The run's summary: its state and times, and its query's row count and errors."""
    from airflow_provider_aep.redaction.secrets import scrub

    tasks = [t for t in run.get("taskStatusList") or [] if isinstance(t, Mapping)]
    query_id = next((str(t["queryId"]) for t in tasks if t.get("queryId")), None)
    query = sensor.hook.get_query(query_id) if query_id else {}
    state = query_state(run)
    errors = None
    if state != QUERY_SUCCEEDED:
        said = query_errors(query) if query.get("errors") else ""
        said = said or "; ".join(str(t.get("message")) for t in tasks if t.get("message"))
        errors = scrub(said) if said else None
    return {
        "schedule_id": schedule_id,
        "run_id": run.get("id"),
        "state": state,
        "created": run.get("created"),
        "external": str(run.get("externalTrigger")).lower() == "true",
        "query_id": query_id,
        "rows": query.get("rowCount"),
        "duration_ms": query.get("elapsedTime"),
        "errors": errors,
    }
