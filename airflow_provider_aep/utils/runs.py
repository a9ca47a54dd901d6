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

from airflow_provider_aep.utils.ids import check_id
from airflow_provider_aep.utils.secrets import scrub_data

DEFAULT_SUCCESS_STATUSES: tuple[str, ...] = ("success",)
DEFAULT_FAILURE_STATUSES: tuple[str, ...] = ("failed",)


def run_status(run: Mapping[str, Any]) -> str:
    return str(((run.get("metrics") or {}).get("statusSummary") or {}).get("status") or "unknown")


def started_at_ms(run: Mapping[str, Any]) -> int:
    duration = (run.get("metrics") or {}).get("durationSummary") or {}
    return int(duration.get("startedAtUTC") or run.get("createdAt") or 0)


def run_filters(flow_id: str, since_ms: int | None, until_ms: int | None = None) -> list[str]:
    """The ``property`` filters that list a flow's runs started since a moment (and before another)."""
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


def takes_on_demand_runs(flow: Mapping[str, Any]) -> bool:
    """AEP starts a run on request only for a flow scheduled for one-time runs.

    That is a ``frequency`` of ``once`` (sources), or a dataset export's ``DAILY_FULL_EXPORT``
    with interval 0: one full export, once.
    """
    schedule = flow.get("scheduleParams") or {}
    if str(schedule.get("frequency", "")).lower() == "once":
        return True
    return schedule.get("exportMode") == "DAILY_FULL_EXPORT" and int(schedule.get("interval") or 0) == 0


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
        errors = list(((run.get("metrics") or {}).get("statusSummary") or {}).get("errors") or [])
        return RunOutcome("failed", dict(run), f"run {run.get('id')} {status}", errors)
    if status.lower() in {s.lower() for s in success_statuses}:
        if "inputRecordCount" not in ((run.get("metrics") or {}).get("recordSummary") or {}):
            return RunOutcome("waiting", dict(run), f"run {run.get('id')} {status}, record counts not in yet")
        return RunOutcome("success", dict(run), f"run {run.get('id')} {status}")
    return RunOutcome("waiting", dict(run), f"run {run.get('id')} {status}")


def summarize_run(run: Mapping[str, Any]) -> dict[str, Any]:
    """The XCom a sensor returns: ids, status, times, record/byte/file counts, errors, per-source counts."""
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
        "errors": scrub_data(list((metrics.get("statusSummary") or {}).get("errors") or [])),
        "sources": sources,
        # Audience exports report one source summary per segment: the same counts, by segment.
        "segments": sources if _is_segment_flow(run) else [],
    }


def _is_segment_flow(run: Mapping[str, Any]) -> bool:
    from airflow_provider_aep.catalog import DESTINATIONS

    flow_spec = (run.get("flowSpec") or {}).get("id")
    return any(d.flow_spec_id == flow_spec for d in DESTINATIONS.values() if d.workflow == "segments")


def _iso(epoch_ms: Any) -> str | None:
    if not isinstance(epoch_ms, (int, float)) or not epoch_ms:
        return None
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc).isoformat()
