"""What the sensor and the trigger both decide about dataflow runs, free of I/O.

AEP spells run statuses several ways (``success``, ``Success``, ``inProgress``, ``Processing``),
so every comparison here ignores case. A run is done when its status is terminal and, for a
success, its record summary carries counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from airflow_provider_aep.exceptions import as_error_list
from airflow_provider_aep.utils.run_statuses import DEFAULT_FAILURE_STATUSES, DEFAULT_SUCCESS_STATUSES
from airflow_provider_aep.utils.schedule_starts import (
    next_slot_ms,
    schedule_time_ms,
    segment_schedule_end_ms,
    segment_selectors,
)


def run_status(run: Mapping[str, Any]) -> str:
    return str(((run.get("metrics") or {}).get("statusSummary") or {}).get("status") or "unknown")


def started_at_ms(run: Mapping[str, Any]) -> int:
    duration = (run.get("metrics") or {}).get("durationSummary") or {}
    return int(duration.get("startedAtUTC") or run.get("createdAt") or 0)


def run_filters(flow_id: str, since_ms: int | None, until_ms: int | None = None) -> list[str]:
    """The ``property`` filters that list a flow's runs started since a moment (and before another)."""
    from airflow_provider_aep.utils.ids import check_id

    filters = [f"flowId=={check_id('flow_id', flow_id)}"]
    if since_ms:
        filters.append(f"metrics.durationSummary.startedAtUTC>={since_ms}")
    if until_ms:
        filters.append(f"metrics.durationSummary.startedAtUTC<{until_ms}")
    return filters


def window_closed(until_ms: int | None, grace_seconds: float, now_ms: int) -> bool:
    """No run can still appear in a window that ended ``grace_seconds`` ago.

    The grace covers a run that started just before ``until`` and shows in listings a little later.
    """
    return until_ms is not None and now_ms >= until_ms + grace_seconds * 1000


@dataclass(frozen=True)
class WaitWindow:
    """When the awaited run may start: from ``since_ms``, before ``until_ms`` (None: no bound), and
    how long after ``until_ms`` a run that started in time may still show up.

    The sensor works it out once per task (from ``since``/``until`` and the DAG run) and hands it
    to its trigger as numbers; both then ask it the same questions.
    """

    since_ms: int | None = None
    until_ms: int | None = None
    grace_seconds: float = 300.0

    def filters(self, flow_id: str) -> list[str]:
        """The ``property`` filters that list the flow's runs started in the window."""
        return run_filters(flow_id, self.since_ms, self.until_ms)

    def closed(self, now_ms: int) -> bool:
        """No run can still appear in the window (see :func:`~airflow_provider_aep.utils.runs.window_closed`)."""
        return window_closed(self.until_ms, self.grace_seconds, now_ms)

    def why_no_run_will_come(self, flow: Mapping[str, Any], now_ms: int) -> str | None:
        """Why the flow will start no run in the window, or None (see :func:`why_no_run_will_come`)."""
        return why_no_run_will_come(
            flow,
            now_ms=now_ms,
            until_ms=self.until_ms,
            grace_ms=int(float(self.grace_seconds) * 1000),
            since_ms=self.since_ms,
        )


def failure_is_stale(summary: Mapping[str, Any], *, failed_at: str | None, run_id: str | None = None) -> bool:
    """AEP may still show the failure a re-trigger answered for a moment: that is not a new failure.

    :param summary: the failed run's summary (:func:`summarize_run`).
    :param failed_at: when the answered failure ended (its ``completed_at``), or None: no
        re-trigger that AEP took, so no failure is stale.
    :param run_id: the run that was re-triggered (None: the run watched).
    :return: True when the run still shows that same failure.
    """
    return bool(
        failed_at
        and summary.get("completed_at") == failed_at
        and (run_id is None or summary.get("run_id") == run_id)
    )


#: How far AEP's clock may run behind ours when looking for a run a lost request started.
RUN_CLOCK_SKEW_MS = 5_000
#: While no run is there, a waiter reads the flow's state on its first poll and then every this
#: many: a disabled flow ends the wait without one extra request on every poll.
FLOW_STATE_EVERY = 5


def flow_is_disabled(flow: Mapping[str, Any]) -> bool:
    """A disabled flow starts no scheduled run: waiting for one would wait forever."""
    return str(flow.get("state", "")).lower() == "disabled"


def select_run(
    runs: Iterable[Mapping[str, Any]], *, run_id: str | None = None, latest: bool = False
) -> dict[str, Any] | None:
    """The run to watch: the named one, the newest (``latest``), or the first since the moment."""
    candidates = [dict(r) for r in runs if not run_id or r.get("id") == run_id]
    if not candidates:
        return None
    candidates.sort(key=lambda r: (started_at_ms(r), r.get("id", "")))
    return candidates[-1] if latest else candidates[0]


@dataclass(frozen=True)
class RunOutcome:
    """Where a watched run stands: done well, failed (with AEP's errors), or still to wait for."""

    state: Literal["success", "failed", "waiting"]
    run: dict[str, Any] | None = None
    reason: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)


def outcome_of(
    run: Mapping[str, Any] | None,
    success_statuses: Sequence[str] = DEFAULT_SUCCESS_STATUSES,
    failure_statuses: Sequence[str] = DEFAULT_FAILURE_STATUSES,
) -> RunOutcome:
    """The outcome of a run by its status; a success counts only once its record counts are in."""
    if run is None:
        return RunOutcome("waiting", reason="no run yet")
    status = run_status(run)
    if status.lower() in {s.lower() for s in failure_statuses}:
        errors = run_errors(run)
        return RunOutcome("failed", dict(run), f"run {run.get('id')} {status}", errors)
    if status.lower() in {s.lower() for s in success_statuses}:
        if "inputRecordCount" not in ((run.get("metrics") or {}).get("recordSummary") or {}):
            return RunOutcome("waiting", dict(run), f"run {run.get('id')} {status}, record counts not in yet")
        return RunOutcome("success", dict(run), f"run {run.get('id')} {status}")
    return RunOutcome("waiting", dict(run), f"run {run.get('id')} {status}")


def run_errors(run: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The run's ``metrics.statusSummary.errors``, as objects (see :func:`as_error_list`)."""
    metrics = run.get("metrics")
    summary = metrics.get("statusSummary") if isinstance(metrics, Mapping) else None
    return as_error_list(summary.get("errors") if isinstance(summary, Mapping) else None)


def summarize_run(run: Mapping[str, Any]) -> dict[str, Any]:
    """The XCom a sensor returns: ids, status, times, record/byte/file counts, errors, per-source counts."""
    from airflow_provider_aep.redaction.secrets import scrub_data

    metrics = run.get("metrics") or {}
    records = metrics.get("recordSummary") or {}
    sizes = metrics.get("sizeSummary") or {}
    files = metrics.get("fileSummary") or {}
    duration = metrics.get("durationSummary") or {}
    sources = [
        {
            "id": source.get("id"),
            "input_records": source.get("inputRecordCount"),
            "output_records": source.get("outputRecordCount"),
        }
        for source in records.get("sourceSummaries") or []
    ]
    started = duration.get("startedAtUTC")
    completed = duration.get("completedAtUTC") or duration.get("stoppedAtUTC")
    return {
        "run_id": run.get("id"),
        "flow_id": run.get("flowId"),
        "status": run_status(run),
        "started_at": _iso(started),
        "completed_at": _iso(completed),
        "duration_seconds": round((completed - started) / 1000, 3) if started and completed else None,
        "input_records": records.get("inputRecordCount"),
        "output_records": records.get("outputRecordCount"),
        "skipped_records": records.get("skippedRecordCount"),
        "failed_records": records.get("failedRecordCount"),
        "input_bytes": sizes.get("inputBytes"),
        "output_bytes": sizes.get("outputBytes"),
        "files_out": files.get("outputFileCount"),
        # AEP's error texts may quote a credential back: scrubbed before they become XCom.
        "errors": scrub_data(run_errors(run)),
        "sources": sources,
        "segments": segment_counts(records) if _is_segment_flow(run) else [],
    }


#: How an activation run's entity summaries name an audience: ``segment:<segment id>``.
SEGMENT_ENTITY_PREFIX = "segment:"


def segment_counts(records: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-audience counts of an activation run: ``{"id", "input_records", "output_records"}`` each.

    AEP counts each audience as an entity ``segment:<id>``: read from the source summaries'
    entity summaries, written in the target summaries'. A run that reports one source summary
    per segment instead (no such entities) is read that way.
    """
    counts: dict[str, dict[str, Any]] = {}
    for side, key, count_key in (
        ("sourceSummaries", "input_records", "inputRecordCount"),
        ("targetSummaries", "output_records", "outputRecordCount"),
    ):
        for summary in records.get(side) or []:
            for entity in (summary.get("entitySummaries") or []) if isinstance(summary, Mapping) else []:
                entity_id = entity.get("id") if isinstance(entity, Mapping) else None
                if isinstance(entity_id, str) and entity_id.startswith(SEGMENT_ENTITY_PREFIX):
                    segment = entity_id.removeprefix(SEGMENT_ENTITY_PREFIX)
                    found = counts.setdefault(
                        segment, {"id": segment, "input_records": None, "output_records": None}
                    )
                    found[key] = entity.get(count_key)
    if counts:
        return list(counts.values())
    return [
        {
            "id": s.get("id"),
            "input_records": s.get("inputRecordCount"),
            "output_records": s.get("outputRecordCount"),
        }
        for s in records.get("sourceSummaries") or []
    ]


def _is_segment_flow(run: Mapping[str, Any]) -> bool:
    from airflow_provider_aep.catalog import DESTINATIONS

    flow_spec = (run.get("flowSpec") or {}).get("id")
    return bool(flow_spec) and any(
        flow_spec in (d.audience_flow_spec_id, d.flow_spec_id if d.workflow == "segments" else None)
        for d in DESTINATIONS.values()
    )


def _iso(epoch_ms: Any) -> str | None:
    if not isinstance(epoch_ms, (int, float)) or not epoch_ms:
        return None
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc).isoformat()


# -- a flow that can no longer start a run ----------------------------------------------------------


def _iso_ms(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc).isoformat()


def why_no_run_will_come(
    flow: Mapping[str, Any],
    *,
    now_ms: int,
    until_ms: int | None = None,
    grace_ms: int = 0,
    since_ms: int | None = None,
) -> str | None:
    """Why an enabled flow will start no run the wait could see, or None when one may still come.

    - its schedule has ended: ``scheduleParams.endTime`` passed, or no scheduled start is left
      before it; for an audience flow, every segment's schedule has ended (a ``ONCE`` export
      after its day, the others after their ``endDate``);
    - its next scheduled start lies at or after ``until_ms``, the end of the sensor's window.

    ``grace_ms`` covers a run that started a moment ago and is not listed yet: a start that
    recent still counts as one that may come. So does a scheduled start since ``since_ms``, the
    start of the window, that passed without its run: AEP starts runs late, and the window's
    end (``missing``) decides when it is too late. A one-time schedule (runs on request) and a
    schedule this cannot read are never judged: None.
    """
    recent_ms = now_ms - grace_ms
    selectors = segment_selectors(flow)
    if selectors:
        ends = [
            segment_schedule_end_ms(
                (s.get("value") or {}).get("schedule") if isinstance(s, Mapping) else None
            )
            for s in selectors
        ]
        if all(end is not None and end <= recent_ms for end in ends):
            last = max(end for end in ends if end is not None)
            return f"the schedule of every segment it exports ended by {_iso_ms(last)}"
        return None
    schedule = flow.get("scheduleParams")
    if not isinstance(schedule, Mapping):
        return None
    end_ms = schedule_time_ms(schedule.get("endTime"))
    if end_ms is not None and end_ms <= recent_ms:
        return f"its schedule ended at {_iso_ms(end_ms)} (scheduleParams.endTime)"
    next_ms = next_slot_ms(schedule, recent_ms if since_ms is None else min(since_ms, recent_ms))
    if next_ms is None:
        return None
    if end_ms is not None and next_ms >= end_ms:
        return (
            f"its schedule ends at {_iso_ms(end_ms)} (scheduleParams.endTime) before its next "
            f"scheduled run at {_iso_ms(next_ms)}"
        )
    if until_ms is not None and next_ms >= until_ms:
        return (
            f"its next scheduled run starts at {_iso_ms(next_ms)}, not before the end of the "
            f"window the sensor watches ({_iso_ms(until_ms)})"
        )
    return None


# -- what a successful run must hold ---------------------------------------------------------------


def record_limits(min_records: Any, max_failed_records: Any) -> tuple[int | None, int | None]:
    """The record-count policy as numbers (rendered templates are strings); None: no limit.

    :param min_records: the fewest output records, or None.
    :param max_failed_records: the most failed records, or None.
    :return: both as whole numbers or None.
    :raises AEPValidationError: for anything but a whole number of records, 0 or more.
    """
    from airflow_provider_aep.exceptions import AEPValidationError
    from airflow_provider_aep.utils.rendered import int_if_digits

    limits: list[int | None] = []
    for field_name, value in (("min_records", min_records), ("max_failed_records", max_failed_records)):
        value = int_if_digits(value)
        if value in (None, ""):
            limits.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise AEPValidationError(field_name, value, "a whole number of records, 0 or more, or None")
        limits.append(value)
    return limits[0], limits[1]


def record_policy_breach(
    summary: Mapping[str, Any], *, min_records: int | None = None, max_failed_records: int | None = None
) -> str | None:
    """What a successful run's record counts breach of the sensor's policy, or None.

    AEP reports a run that wrote nothing, or that failed some records, as a success: the
    policy makes that a decision. A missing output count is read as none written; a missing
    failed count as none failed.
    """
    output = summary.get("output_records")
    failed = summary.get("failed_records")
    counts = (
        f"{summary.get('input_records')} records in, {output} out, "
        f"{summary.get('skipped_records')} skipped, {failed} failed"
    )
    breaches = []
    if min_records is not None and (output if isinstance(output, int) else 0) < min_records:
        breaches.append(f"{output or 0} output records, fewer than min_records={min_records}")
    if max_failed_records is not None and (failed if isinstance(failed, int) else 0) > max_failed_records:
        breaches.append(f"{failed} failed records, more than max_failed_records={max_failed_records}")
    if not breaches:
        return None
    return "; ".join(breaches) + f" ({counts})"
