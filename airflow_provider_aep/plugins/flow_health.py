"""What the AEP health page shows of each dataflow, built from AEP's listings alone.

No I/O and no Airflow here: :func:`flow_health` takes the flows and runs the hook listed and the
moment "now", so every line of the page is decided by a pure function a test can drive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from airflow_provider_aep.utils.runs import started_at_ms, summarize_run
from airflow_provider_aep.utils.schedule_starts import flow_starts, segment_selectors

#: Runs shown per dataflow, newest first.
RUNS_SHOWN = 3
DAY_MS = 86_400_000
#: A schedule ending within this many days is "ending": someone must extend it, or it stops.
ENDING_SOON_DAYS = 7
#: The order of the page: what needs a person first.
HEALTH_ORDER = ("failed", "check", "ending", "disabled", "no runs", "running", "healthy", "ended")
RUNNING = frozenset({"inProgress", "pending", "queued", "running"})


@dataclass(frozen=True)
class RunHealth:
    """One run as the page lists it: its status, counts, duration and AEP's error codes."""

    run_id: str
    status: str
    started_at: str | None
    completed_at: str | None
    duration_seconds: float | None
    input_records: int | None
    output_records: int | None
    failed_records: int | None
    output_bytes: int | None
    files_out: int | None
    #: ``{"code", "message"}`` each, scrubbed of anything secret-shaped.
    errors: tuple[Mapping[str, Any], ...] = ()

    @property
    def error_codes(self) -> list[str]:
        return [str(error.get("code")) for error in self.errors if error.get("code")]


@dataclass(frozen=True)
class FlowHealth:
    """One dataflow's line: state, schedule and its end, latest runs, the AEP UI link."""

    flow_id: str
    name: str
    state: str
    kind: str
    schedule: str
    next_start: str | None
    ends_at: str | None
    ends_in_days: float | None
    health: str
    aep_url: str
    runs: tuple[RunHealth, ...] = ()
    #: Who in this Airflow creates or watches the flow (filled in by the page, per reader).
    watchers: tuple[Mapping[str, Any], ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: plain values, error codes spelled out per run."""
        runs = [
            {**vars(run), "errors": list(run.errors), "error_codes": run.error_codes} for run in self.runs
        ]
        return {**vars(self), "runs": runs, "watchers": list(self.watchers)}


def flow_health(
    flows: Iterable[Mapping[str, Any]],
    runs: Iterable[Mapping[str, Any]],
    *,
    now_ms: int,
    page_url: Callable[[str], str],
) -> list[FlowHealth]:
    """Every flow's line, the ones needing attention first (see ``HEALTH_ORDER``).

    :param flows: the dataflows, as ``GET /flows`` lists them.
    :param runs: recent runs of any of them, as ``GET /runs`` lists them.
    :param now_ms: the moment the page is for, epoch milliseconds.
    :param page_url: a flow id to its page in the AEP UI.
    """
    by_flow: dict[str, list[Mapping[str, Any]]] = {}
    for run in runs:
        by_flow.setdefault(str(run.get("flowId")), []).append(run)
    lines = [_line(flow, by_flow.get(str(flow.get("id")), []), now_ms, page_url) for flow in flows]
    return sorted(lines, key=lambda line: (HEALTH_ORDER.index(line.health), line.name.lower(), line.flow_id))


def _line(
    flow: Mapping[str, Any], runs: list[Mapping[str, Any]], now_ms: int, page_url: Callable[[str], str]
) -> FlowHealth:
    flow_id = str(flow.get("id"))
    newest = sorted(runs, key=started_at_ms, reverse=True)[:RUNS_SHOWN]
    shown = tuple(_run(run) for run in newest)
    series = flow_starts(flow) or []
    ends = [s.end_ms for s in series]
    end_ms = max(e for e in ends if e is not None) if ends and None not in ends else None
    upcoming = [n for n in (s.next_at_or_after(now_ms) for s in series) if n is not None]
    state = str(flow.get("state") or "unknown")
    last_state = str((flow.get("lastRunDetails") or {}).get("state") or "")
    return FlowHealth(
        flow_id=flow_id,
        name=str(flow.get("name") or flow_id),
        state=state,
        kind="audience activation" if segment_selectors(flow) else _kind(flow),
        schedule=_schedule_text(flow),
        next_start=_iso(min(upcoming)) if upcoming else None,
        ends_at=_iso(end_ms) if end_ms is not None else None,
        ends_in_days=round((end_ms - now_ms) / DAY_MS, 1) if end_ms is not None else None,
        health=_health(state, _deciding_status(shown, last_state), end_ms, now_ms),
        aep_url=page_url(flow_id),
        runs=shown,
    )


def _health(state: str, latest: str, end_ms: int | None, now_ms: int) -> str:
    if end_ms is not None and end_ms <= now_ms:
        return "ended"
    if latest == "failed":
        return "failed"
    if end_ms is not None and end_ms - now_ms <= ENDING_SOON_DAYS * DAY_MS:
        return "ending"
    if state == "disabled":
        return "disabled"
    if not latest:
        return "no runs"
    if latest in RUNNING:
        return "running"
    # Only a success is healthy: a cancelled, partial or unreadable run needs a look.
    return "healthy" if latest == "success" else "check"


def _deciding_status(runs: tuple[RunHealth, ...], last_state: str) -> str:
    """The newest finished run's status, so a run in progress never hides the failure before it;
    "running" when no shown run has finished; the flow's ``lastRunDetails`` when none is shown."""
    finished = [run.status for run in runs if run.status not in RUNNING]
    if finished and (finished[0] == "failed" or len(finished) == len(runs)):
        return finished[0]
    return runs[0].status if runs else last_state


def _run(run: Mapping[str, Any]) -> RunHealth:
    summary = summarize_run(run)
    counts = {
        f.name: summary[f.name] for f in fields(RunHealth) if f.name not in ("run_id", "status", "errors")
    }
    errors = tuple({"code": e.get("code"), "message": e.get("message")} for e in summary["errors"])
    return RunHealth(run_id=str(summary["run_id"]), status=str(summary["status"]), errors=errors, **counts)


def _kind(flow: Mapping[str, Any]) -> str:
    return "dataset export" if isinstance(flow.get("scheduleParams"), Mapping) else "dataflow"


def _schedule_text(flow: Mapping[str, Any]) -> str:
    """ "every 1 day", "once", "3 audiences: DAILY, ONCE" — how the flow starts runs."""
    selectors = segment_selectors(flow)
    if selectors:
        frequencies = sorted(
            {
                str(((s.get("value") or {}).get("schedule") or {}).get("frequency") or "?")
                for s in selectors
                if isinstance(s, Mapping)
            }
        )
        count = len(selectors)
        return f"{count} audience{'s' if count != 1 else ''}: {', '.join(frequencies)}"
    schedule = flow.get("scheduleParams")
    if not isinstance(schedule, Mapping):
        return "on demand"
    unit = schedule.get("timeUnit") or schedule.get("frequency")
    if str(unit).lower() == "once" or schedule.get("interval") in (None, 0):
        return "once"
    interval = schedule.get("interval")
    return f"every {interval} {unit}{'' if interval == 1 else 's'}"


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, tz=timezone.utc).isoformat(timespec="minutes")
