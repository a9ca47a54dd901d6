"""What the scheduled-query operators do once they run: keep one schedule per name, run it now.

AEP does not keep a scheduled query's name unique, so a task that creates one looks for it
first: one with the same SQL and cron is reused (enabled again when disabled), one that differs
is drift (refused, or its cron patched: the only change AEP takes), several are refused by id.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.exceptions import AEPAmbiguousWriteError, AEPError
from airflow_provider_aep.hooks.query_service import db_name_for, query_state
from airflow_provider_aep.hooks.segmentation import as_mapping

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: Named, not imported: the operator lives a layer above.
AEPScheduledQueryOperator = Any
#: Named, not imported: the operator lives a layer above.
AEPRunScheduledQueryOperator = Any


#: How long a run started on demand may take to be listed, and how often to look meanwhile.
LISTED_WITHIN_SECONDS = 30.0
LOOK_EVERY_SECONDS = 1.0
CLOCK_SKEW = timedelta(seconds=5)
#: The ``task_state_store`` key of a run-now request: which schedule, and when it was sent.
RUN_NOW_KEY = "aep_schedule_run_now"


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def create_or_reuse_schedule(operator: AEPScheduledQueryOperator, context: Context) -> str:
    """The id of the scheduled query named ``operator.name``: reused, updated or created."""
    from airflow_provider_aep.payloads.query import schedule_body

    hook = operator.hook
    body = schedule_body(
        name=operator.name,
        sql=operator.sql,
        db_name=db_name_for(hook.sandbox_name),
        schedule=operator.schedule,
        start_date=operator.schedule_start_date,
        end_date=operator.schedule_end_date,
        description=operator.description,
    )
    name = body["query"]["name"]
    found = hook.schedules_named(name)
    if len(found) > 1:
        ids = ", ".join(str(s.get("id")) for s in found)
        raise AEPError(
            f"{len(found)} scheduled queries are named {name!r} ({ids}): keep one, or use another name"
        )
    if found:
        return _reuse(operator, found[0], body)
    try:
        created = hook.create_schedule(body)
    except AEPAmbiguousWriteError as err:
        late = hook.schedules_named(name)
        if len(late) != 1:
            raise AEPError(f"{err}; {len(late)} scheduled queries named {name!r} are listed since") from err
        created = late[0]
        operator.log.warning("%s; the scheduled query it created was found: %s", err, created.get("id"))
    schedule_id = str(created["id"])
    operator.log.info(
        "Created scheduled query %s (%s): %s from %s, %s",
        schedule_id, name, body["schedule"]["schedule"], body["schedule"]["startDate"], query_state(created),
    )  # fmt: skip
    return schedule_id


def _reuse(operator: AEPScheduledQueryOperator, schedule: dict[str, Any], body: dict[str, Any]) -> str:
    hook = operator.hook
    schedule_id = str(schedule["id"])
    query, timing = as_mapping(schedule.get("query")), as_mapping(schedule.get("schedule"))
    wanted_sql, wanted_cron = body["query"]["sql"], body["schedule"]["schedule"]
    if query.get("sql") != wanted_sql:
        raise AEPError(
            f"Scheduled query {schedule_id} ({body['query']['name']!r}) runs other SQL than this task's: AEP "
            "cannot change a scheduled query's SQL. Disable and delete it, or give this task another name"
        )
    for key, field in (("startDate", "schedule_start_date"), ("endDate", "schedule_end_date")):
        have, want = _moment(timing.get(key)), _moment(body["schedule"].get(key))
        if have != want:
            raise AEPError(
                f"Scheduled query {schedule_id} ({body['query']['name']!r}) has {key} "
                f"{timing.get(key) or 'none'}, this task asks for {body['schedule'].get(key) or 'none'} "
                f"({field}): AEP cannot change it. Disable and delete it, or give this task another name"
            )
    if timing.get("schedule") != wanted_cron:
        if operator.if_drifted != "update":
            raise AEPError(
                f"Scheduled query {schedule_id} ({body['query']['name']!r}) runs on {timing.get('schedule')!r}, "
                f"this task asks for {wanted_cron!r}: set if_drifted='update' to patch the schedule"
            )
        hook.update_schedule(
            schedule_id, [{"op": "replace", "path": "/schedule/schedule", "value": wanted_cron}]
        )
        operator.log.info(
            "Scheduled query %s: schedule %r -> %r", schedule_id, timing.get("schedule"), wanted_cron
        )
    if query_state(schedule) == "DISABLED":
        hook.update_schedule(schedule_id, [{"op": "replace", "path": "/state", "value": "enable"}])
        operator.log.info("Scheduled query %s was disabled: enabled again", schedule_id)
    operator.log.info("Reusing scheduled query %s (%s)", schedule_id, body["query"]["name"])
    return schedule_id


def _moment(value: Any) -> datetime | None:
    """A schedule's date as AEP or this task wrote it, comparable (None when absent)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def run_schedule_now(operator: AEPRunScheduledQueryOperator, context: Context) -> str:
    """Start a run of the scheduled query now and return its id, found among the on-demand runs.

    When the request was sent is kept in the task state store first: a retry looks for the run
    that request started before it asks for another.
    """
    from airflow_provider_aep.hooks.query_service import check_run_id, check_schedule_id
    from airflow_provider_aep.utils.task_state import forget, recall, remember

    hook = operator.hook
    schedule_id = check_schedule_id("schedule_id", operator.schedule_id)
    kept = recall(context, RUN_NOW_KEY)
    asked_at = None
    if isinstance(kept, dict) and kept.get("schedule_id") == schedule_id:
        asked_at = datetime.fromisoformat(str(kept["asked_at"]))
        found = hook.schedule_runs(schedule_id, created_from=asked_at, external=True, oldest_first=True)
        if found:
            run_id = check_run_id("run_id", str(found[0]["id"]))
            operator.log.info(
                "Run %s of scheduled query %s was started by an earlier try", run_id, schedule_id
            )
            forget(context, RUN_NOW_KEY)
            return run_id
    asked_at = datetime.now(timezone.utc) - CLOCK_SKEW
    before = {str(r.get("id")) for r in hook.schedule_runs(schedule_id, created_from=asked_at, external=True)}
    remember(context, RUN_NOW_KEY, {"schedule_id": schedule_id, "asked_at": asked_at.isoformat()})
    try:
        hook.trigger_schedule_run(schedule_id)
    except AEPAmbiguousWriteError as err:
        operator.log.warning("%s; looking for the run it may have started", err)
    deadline = time.monotonic() + LISTED_WITHIN_SECONDS
    while True:
        runs = hook.schedule_runs(schedule_id, created_from=asked_at, external=True, oldest_first=True)
        new = [r for r in runs if str(r.get("id")) not in before]
        if new:
            # The oldest new one: a run another task started a moment later is that task's.
            run_id = check_run_id("run_id", str(new[0]["id"]))
            operator.log.info(
                "Started run %s of scheduled query %s: %s", run_id, schedule_id, query_state(new[0])
            )
            forget(context, RUN_NOW_KEY)
            return run_id
        if time.monotonic() >= deadline:
            raise AEPError(
                f"AEP took the request to run scheduled query {schedule_id} now, but lists no new on-demand "
                f"run after {LISTED_WITHIN_SECONDS:.0f} s; a retry of this task looks for it before asking again"
            )
        time.sleep(LOOK_EVERY_SECONDS)
