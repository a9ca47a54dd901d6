"""What ``AEPUpdateDataflowOperator`` and ``AEPExtendDataflowEndTimesOperator`` do once they run.

A change is one JSON Patch computed from the flow as read (``AEPHook.update_entity``): a 412 or a
lost answer re-reads the flow and computes again, so nothing lands twice. The end a change aims
at is fixed at the first read (and kept in the task state store), so a retry never extends twice.
Kept apart from the operators' module so that parsing a DAG does not load it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.payloads.schedule import build_schedule_params
from airflow_provider_aep.utils.rendered import int_if_digits

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

DAY = 86400
#: Where a dataflow update keeps the end it aims at, so a retried task does not extend twice.
TARGET_END_KEY = "aep_target_end_time"


def given(value: Any) -> bool:
    return value not in (None, "")


def update_flow(operator: Any, context: Context, flow_id: str) -> str | None:
    """Patch the flow as the operator asks (schedule, name, description), then enable or disable it.

    :param operator: the ``AEPUpdateDataflowOperator`` (its hook, log and arguments).
    :param context: the task's Airflow context (its task state store keeps the target end).
    :param flow_id: the dataflow.
    :return: the flow's etag after the change.
    """
    hook = operator.hook
    flow = hook.get_flow(flow_id)
    plan = planner(operator, flow, int(time.time()), context.get("task_state_store"))
    update = hook.update_entity("flows", flow_id, plan, current=flow, etag=operator.etag or None)
    for op in update["operations"]:
        if op["path"] == "/scheduleParams":
            before = update["entity"].get("scheduleParams")
            operator.log.info("Dataflow %s schedule: %s -> %s", flow_id, before, op["value"])
        else:
            operator.log.info("Dataflow %s %s: %r", flow_id, op["path"].lstrip("/"), op["value"])
    if not update["patched"]:
        operator.log.info("Dataflow %s is already as asked: no PATCH sent", flow_id)
    flow = update["entity"]
    etag: str | None = update["etag"] or flow.get("etag")
    if operator.state and operator.state != flow.get("state"):
        action = hook.enable_flow if operator.state == "enabled" else hook.disable_flow
        etag = action(flow_id).get("etag") or etag
        operator.log.info("Dataflow %s is now %s", flow_id, operator.state)
    return etag


def changes_schedule(operator: Any) -> bool:
    return any(
        given(v)
        for v in (
            operator.end_time,
            operator.extend_by_days,
            operator.export_mode,
            operator.time_unit,
            operator.interval,
        )
    )


def target_end(operator: Any, first: Mapping[str, Any], now: int) -> int | None:
    """The end asked for, fixed at the first read: ``end_time``, or N days past today or the end."""
    if given(operator.extend_by_days):
        return max(int(first.get("endTime") or now), now) + int(int_if_digits(operator.extend_by_days)) * DAY
    if given(operator.end_time):
        return int(int_if_digits(operator.end_time))
    return None


def new_schedule(operator: Any, current: Mapping[str, Any], end_asked: int | None) -> dict[str, Any]:
    end = current.get("endTime")
    if end_asked is not None and given(operator.extend_by_days):
        end = max(int(end or 0), end_asked)  # extending never shortens, nor extends twice
    elif end_asked is not None:
        end = end_asked
    built = build_schedule_params(
        export_mode=operator.export_mode or current.get("exportMode", "FIRST_FULL_THEN_INCREMENTAL"),
        time_unit=operator.time_unit or current.get("timeUnit"),
        interval=int_if_digits(operator.interval) if given(operator.interval) else current.get("interval"),
        start_time=current["startTime"],
        end_time=end,
        folder_name_template=current.get("foldernameTemplate"),
    )
    return {**current, **built}


def planner(
    operator: Any, first: Mapping[str, Any], now: int, state_store: Any = None
) -> Callable[[Mapping[str, Any]], list[dict[str, Any]]]:
    """What a flow still needs to be as asked; run on the first read and again after a 412.

    The target end is kept in the task's state store (Airflow 3.3+): a retry after a PATCH
    that landed finds the end already there instead of extending by N days once more.
    """
    kept = state_store.get(TARGET_END_KEY) if state_store is not None else None
    end_asked = int(kept) if kept else target_end(operator, first.get("scheduleParams") or {}, now)
    if state_store is not None and end_asked is not None and not kept:
        state_store.set(TARGET_END_KEY, end_asked)

    def operations(flow: Mapping[str, Any]) -> list[dict[str, Any]]:
        ops: list[dict[str, Any]] = []
        if changes_schedule(operator):
            current = flow.get("scheduleParams")
            if not current:
                raise AEPValidationError(
                    "flow_id", operator.flow_id, "a dataset dataflow (it has no scheduleParams)"
                )
            schedule = new_schedule(operator, current, end_asked)
            if schedule != current:
                ops.append({"op": "replace", "path": "/scheduleParams", "value": schedule})
        for field in ("name", "description"):
            value = getattr(operator, field)
            if given(value) and value != flow.get(field):
                ops.append({"op": "replace", "path": f"/{field}", "value": value})
        return ops

    return operations


def extend_ending_flows(operator: Any) -> list[dict[str, Any]]:
    """Extend (or, with ``report_only``, list) the destination flows that end within ``within_days``.

    :param operator: the ``AEPExtendDataflowEndTimesOperator`` (its hook, log and arguments).
    :return: ``[{"flow_id", "name", "end_time_before", "end_time_after"}]``.
    """
    now = int(time.time())
    cutoff = now + int(int_if_digits(operator.within_days)) * DAY
    filters = [
        f"scheduleParams.endTime>{now}",
        f"scheduleParams.endTime<{cutoff}",
        "inheritedAttributes.properties.isDestinationFlow==true",
    ]
    extended = []
    for flow in operator.hook.iter_flows(filters):
        if operator.name_prefix and not str(flow.get("name", "")).startswith(operator.name_prefix):
            continue
        before = int(flow["scheduleParams"]["endTime"])
        target = max(before, now) + int(int_if_digits(operator.extend_by_days)) * DAY
        if not operator.report_only:
            operator.hook.update_entity("flows", flow["id"], end_at_least(target), current=dict(flow))
        extended.append(
            {
                "flow_id": flow["id"],
                "name": flow.get("name"),
                "end_time_before": before,
                "end_time_after": target,
            }
        )
        operator.log.info(
            "%s dataflow %r (%s): end %s -> %s",
            "Would extend" if operator.report_only else "Extended", flow.get("name"), flow["id"], before, target,
        )  # fmt: skip
    operator.log.info("%d dataflow(s) ended within %s days", len(extended), operator.within_days)
    return extended


def end_at_least(target: int) -> Callable[[Mapping[str, Any]], list[dict[str, Any]]]:
    """The patch that moves a flow's end to ``target``; none when it already ends then or later.

    Computed from the flow as read, so a lost answer that landed is not extended a second time.
    """

    def operations(flow: Mapping[str, Any]) -> list[dict[str, Any]]:
        schedule = dict(flow.get("scheduleParams") or {})
        if int(schedule.get("endTime") or 0) >= target:
            return []
        return [{"op": "replace", "path": "/scheduleParams", "value": {**schedule, "endTime": target}}]

    return operations
