"""Flows and runs as AEP lists them, for the health view's tests."""

from __future__ import annotations

from typing import Any

NOW_MS = 1_790_000_000_000
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def flow(flow_id: str, name: str, *, every_days: int = 1, ends_in_days: float = 90, state: str = "enabled",
         last: str | None = None) -> dict[str, Any]:  # fmt: skip
    """A daily dataset export flow that started a month ago."""
    start_s = (NOW_MS - 30 * DAY_MS) // 1000
    body: dict[str, Any] = {
        "id": flow_id,
        "name": name,
        "state": state,
        "createdAt": NOW_MS - 31 * DAY_MS,
        "scheduleParams": {
            "startTime": start_s,
            "endTime": int(start_s + (30 + ends_in_days) * DAY_MS / 1000),
            "interval": every_days,
            "timeUnit": "day",
        },
    }
    if last:
        body["lastRunDetails"] = {"id": f"{flow_id}-last", "state": last, "startedAtUTC": NOW_MS - DAY_MS}
    return body


def run(run_id: str, flow_id: str, status: str, *, hours_ago: float = 1, records: int = 300,
        errors: list[dict[str, str]] | None = None) -> dict[str, Any]:  # fmt: skip
    started = int(NOW_MS - hours_ago * HOUR_MS)
    return {
        "id": run_id,
        "flowId": flow_id,
        "createdAt": started,
        "metrics": {
            "statusSummary": {"status": status, "errors": errors or []},
            "durationSummary": {"startedAtUTC": started, "completedAtUTC": started + 60_000},
            "recordSummary": {
                "inputRecordCount": records,
                "outputRecordCount": records,
                "failedRecordCount": 0,
            },
            "sizeSummary": {"outputBytes": records * 10},
            "fileSummary": {"outputFileCount": 1},
        },
    }
