"""How a dataflow run wait ends: a failed run re-triggered, a successful one reported.

What :class:`~airflow_provider_aep.tasks.run_wait.DataflowRunWait` (``wait`` below) does once a
run is over, kept apart from it so that parsing a DAG does not load it; it names the wait only
as ``Any``, so the two modules do not import each other.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.assets import event_extra, files_of
from airflow_provider_aep.exceptions import (
    AEPApiError,
    AEPDataflowDisabled,
    AEPDataflowRecordPolicyBreached,
    AEPDataflowRunFailed,
    error_codes,
)
from airflow_provider_aep.utils.runs import record_policy_breach
from airflow_provider_aep.utils.waiting import (
    RETRIGGER_ASKING,
    RETRIGGER_REFUSED,
    RETRIGGER_SENT,
    RetriggerRecord,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


def retrigger(wait: Any, context: Context, summary: dict[str, Any]) -> bool:
    """Re-trigger a failed run while attempts are left (see ``DataflowRunWait._retrigger``).

    :return: True when a re-trigger was sent (wait again), False when none is left.
    """
    run_id = str(summary["run_id"])
    kept = wait._retriggered(context)
    mine = kept is not None and kept.run_id == run_id
    done = kept.count if kept and mine else 0
    codes = error_codes(summary["errors"])
    if kept and mine and kept.unconfirmed:
        wait.log.warning(
            "Dataflow run %s: re-trigger %d was %s by an earlier try; the run is still %s",
            run_id, done, "refused" if kept.state == RETRIGGER_REFUSED else "not confirmed",
            summary["status"],
        )  # fmt: skip
    if done >= wait.retrigger_failed:
        if done:
            wait.log.error("Dataflow run %s failed again after %d re-trigger(s): %s", run_id, done, codes)
        return False
    wait.log.warning(
        "Dataflow run %s %s (%s); re-triggering it, %d of at most %d",
        run_id, summary["status"], codes, done + 1, wait.retrigger_failed,
    )  # fmt: skip
    record = RetriggerRecord(
        run_id=run_id,
        count=done + 1,
        accepted=kept.accepted if kept and mine else 0,
        failed_at=summary.get("completed_at"),
        since_ms=wait.since_ms(context),
        state=RETRIGGER_ASKING,
    )
    wait.retriggers.keep(context, record)
    try:
        wait.hook.retrigger_run(run_id, wait.failure_statuses)
    except AEPDataflowDisabled:
        wait.retriggers.forget(context)
        raise
    except AEPApiError as err:
        if refused_for_good(err):
            wait.retriggers.forget(context)
            raise AEPDataflowRunFailed(
                run_id, str(summary["status"]), summary["errors"], f"AEP refused to re-trigger it: {err}"
            ) from err
        wait.retriggers.keep(context, dataclasses.replace(record, state=RETRIGGER_REFUSED))
        raise
    wait.retriggers.keep(
        context, dataclasses.replace(record, accepted=record.accepted + 1, state=RETRIGGER_SENT)
    )
    return True


def refused_for_good(err: AEPApiError) -> bool:
    """A 4xx other than a timeout or a rate limit: asking again would be refused again."""
    return 400 <= err.status < 500 and err.status not in (408, 429)


def report(
    wait: Any, context: Context, summary: dict[str, Any], run: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A successful run: the record policy checked, asset events emitted, the summary logged."""
    kept = wait._retriggered(context)
    retriggers = kept.accepted if kept and kept.run_id == summary["run_id"] else 0
    summary = {**summary, "attempts": 1 + retriggers}
    wait.retriggers.forget(context)
    min_records, max_failed_records = wait._record_limits()
    breach = record_policy_breach(summary, min_records=min_records, max_failed_records=max_failed_records)
    if breach:
        raise AEPDataflowRecordPolicyBreached(str(summary["run_id"]), breach)
    wait.run_summary = summary
    emit_asset_events(wait, context, summary, run)
    wait.log.info(
        "Dataflow run %s %s: %s records in, %s out, %s skipped, %s failed; %s file(s), %s bytes out; "
        "attempt %s",
        summary["run_id"], summary["status"], summary["input_records"], summary["output_records"],
        summary["skipped_records"], summary["failed_records"], summary["files_out"], summary["output_bytes"],
        summary["attempts"],
    )  # fmt: skip
    return summary


def emit_asset_events(
    wait: Any, context: Context, summary: dict[str, Any], run: dict[str, Any] | None = None
) -> None:
    """Tell downstream DAGs where the run's files are, through this task's asset outlets."""
    # Public task SDK names (the same on every Airflow 3 line); only a successful wait needs them.
    from airflow.sdk import Asset, AssetAlias

    outlets = [o for o in wait.outlets if isinstance(o, (Asset, AssetAlias))]
    if not outlets:
        return
    wait.location = wait.hook.export_location(wait.flow_id, wait.storage_account or None)
    # The trigger's event carries the summary, not the run: then the run is read once more.
    files = files_of(run if run is not None else wait.hook.get_run(str(summary["run_id"])))
    extra = event_extra(summary, wait.location, files)
    events = context["outlet_events"]
    for outlet in outlets:
        if isinstance(outlet, AssetAlias):
            events[outlet].add(Asset(uri=wait.location.uri), extra=extra)
        else:
            events[outlet].extra.update(extra)
    wait.log.info(
        "Asset event for %s: run %s, %s records in %d file(s)",
        wait.location.uri, summary["run_id"], summary["output_records"], len(files),
    )  # fmt: skip
