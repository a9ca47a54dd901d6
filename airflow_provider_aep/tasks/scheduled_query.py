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
        start_date=operator.schedule_start,
        end_date=operator.schedule_end,
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


def run_schedule_now(operator: AEPRunScheduledQueryOperator, context: Context) -> str:
    """Start a run of the scheduled query now and return its id, found among the on-demand runs."""
    from airflow_provider_aep.hooks.query_service import check_run_id
    from airflow_provider_aep.utils.ids import check_id

    hook = operator.hook
    schedule_id = check_id("schedule_id", operator.schedule_id)
    asked_at = _iso(datetime.now(timezone.utc) - CLOCK_SKEW)
    before = {str(r.get("id")) for r in hook.schedule_runs(schedule_id, created_from=asked_at, external=True)}
    try:
        hook.trigger_schedule_run(schedule_id)
    except AEPAmbiguousWriteError as err:
        operator.log.warning("%s; looking for the run it may have started", err)
    deadline = time.monotonic() + LISTED_WITHIN_SECONDS
    while True:
        runs = hook.schedule_runs(schedule_id, created_from=asked_at, external=True)
        new = [r for r in runs if str(r.get("id")) not in before]
        if new:
            run_id = check_run_id("run_id", str(new[-1]["id"]))
            operator.log.info(
                "Started run %s of scheduled query %s: %s", run_id, schedule_id, query_state(new[-1])
            )
            return run_id
        if time.monotonic() >= deadline:
            raise AEPError(
                f"AEP took the request to run scheduled query {schedule_id} now, but lists no new on-demand "
                f"run after {LISTED_WITHIN_SECONDS:.0f} s; check the schedule's runs in AEP before running this again"
            )
        time.sleep(LOOK_EVERY_SECONDS)
