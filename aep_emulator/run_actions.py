"""Runs a user asks for: ``POST /runs`` on a one-time flow, and ``RE_TRIGGER`` of a failed run."""

from __future__ import annotations

import copy
import time
from typing import Any

from aep_emulator import validation as check
from aep_emulator.errors import bad_request, flow_error, not_found
from aep_emulator.runs import RunEngine
from aep_emulator.state import State

#: Run statuses a RE_TRIGGER accepts (compared in lowercase).
FAILURE_STATUSES = frozenset({"failed", "failure", "partial_failure"})
#: ``params.startTime`` above this is read as epoch milliseconds (the spec says ms, its example is s).
MILLISECONDS_FROM = 100_000_000_000


def one_time(flow: dict[str, Any]) -> bool:
    """Scheduled for one-time ingestion: ``frequency`` ``once`` (any case), or one full dataset export."""
    schedule = flow.get("scheduleParams")
    if not isinstance(schedule, dict):
        return False
    frequency = schedule.get("frequency")
    once = isinstance(frequency, str) and frequency.lower() == "once"
    return once or schedule.get("exportMode") == "DAILY_FULL_EXPORT"


class RunActions:
    def __init__(self, state: State, engine: RunEngine) -> None:
        self.state = state
        self.engine = engine

    def create(self, sandbox: str, body: Any) -> dict[str, Any]:
        """``POST /runs``: a run starts at once for a flow scheduled for one-time ingestion."""
        body = check.require_object(body)
        flow_id = body.get("flowId")
        if not isinstance(flow_id, str) or not flow_id:
            raise bad_request("flowId is required and must be a dataflow id")
        run_time = _start_time(body.get("params"))
        with self.state.lock:
            flow = self.state.entities(sandbox, "flows").get(flow_id)
            if flow is None:
                raise not_found("Flow", flow_id)
            if flow["state"] != "enabled":
                raise bad_request(
                    f"Dataflow {flow_id} is {flow['state']}: enable it before creating a run", code="1061-400"
                )
            if not one_time(flow):
                raise bad_request(
                    f"Dataflow {flow_id} is not scheduled for one-time ingestion (scheduleParams.frequency "
                    "once, or a DAILY_FULL_EXPORT dataset export): its runs come from its schedule",
                    code="1062-400",
                )
            now = time.time()
            run = self.engine.start_now(flow, run_time if run_time is not None else int(now), now)
            self.state.save()
            return {"id": run["id"], "etag": run["etag"]}

    def act(self, sandbox: str, run_id: str, op: str | None) -> dict[str, Any]:
        """``POST /runs/{id}/action?op=RE_TRIGGER``: a failed run runs again, under the same id."""
        if (op or "").upper() != "RE_TRIGGER":
            raise bad_request(f"op {str(op)[:40]!r} must be RE_TRIGGER")
        with self.state.lock:
            run = self.state.entities(sandbox, "runs").get(run_id)
            if run is None:
                raise not_found("Flow run", run_id)
            status = str(run["metrics"]["statusSummary"].get("status", ""))
            if status.lower() not in FAILURE_STATUSES:
                raise bad_request(
                    f"Flow run {run_id} is {status}: only a failed run can be re-triggered", code="1063-400"
                )
            flow = self.state.entities(sandbox, "flows").get(run["flowId"])
            if flow is None:
                raise bad_request(
                    f"The dataflow {run['flowId']} of flow run {run_id} no longer exists", code="1063-400"
                )
            if flow["state"] != "enabled":
                raise bad_request(
                    f"Dataflow {flow['id']} is {flow['state']}: enable it before re-triggering its runs",
                    code="1061-400",
                )
            self.engine.retrigger(run, flow, time.time())
            self.state.save()
            return copy.deepcopy(run)

    def attempts(self) -> dict[str, int]:
        """Run id → attempts so far, for the admin side (AEP's run shows no such count)."""
        with self.state.lock:
            return {
                run_id: int(meta.get("attempt", 1))
                for run_id, meta in self.state.data["meta"]["runs"].items()
            }

    def credentials(self, run_id: str) -> dict[str, Any]:
        """Which credentials each attempt of a run used: identifiers and fingerprints, no secret."""
        with self.state.lock:
            meta = self.state.data["meta"]["runs"].get(run_id)
            if meta is None:
                raise flow_error(
                    404, "1439-404", "Resource not found", f"Flow run with id {run_id} not found"
                )
            run = self.state.entities(meta["sandbox"], "runs").get(run_id) or {}
            history = copy.deepcopy(meta.get("credentials") or [])
        latest = history[-1] if history else {}
        return {
            "runId": run_id,
            "flowId": run.get("flowId"),
            "sandboxName": meta["sandbox"],
            "attempts": int(meta.get("attempt", 1)),
            **{k: v for k, v in latest.items() if k not in ("attempt", "startedAtUTC")},
            "history": history,
        }


def _start_time(params: Any) -> int | None:
    """``params.startTime`` in Unix seconds (milliseconds are converted), or None when not given."""
    if params is None:
        return None
    params = check.require_dict(params, "params")
    value = params.get("startTime")
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < 0
        or value > check.MAX_UNIX_SECONDS * 1000
    ):
        raise bad_request(
            f"params.startTime {str(value)[:40]!r} must be epoch time (seconds or milliseconds)"
        )
    return value // 1000 if value >= MILLISECONDS_FROM else value
