"""Scheduled queries (``/data/foundation/query/schedules``) and their runs, free of HTTP.

A schedule is a query and a cron schedule (:mod:`aep_emulator.cron`). Its runs come on the
emulator's accelerated clock (``time_scale`` emulated seconds per real second, as dataflow runs):
the emulated time starts at the later of ``startDate`` and the schedule's creation, and every
cron time it passes (up to ``endDate``) starts a run, at most ``max_runs_per_flow`` scheduled
runs per schedule and at most ``maxActiveRuns`` at once. A run's id is Adobe's: the base64 of
``scheduled__<cron time>``, or of ``manual__<now>`` for a run started by ``POST .../runs``.
A run is one query (:mod:`aep_emulator.query_service`, the same engine and fault rules), and
its state is the query's.

Schedules live in memory only, as queries do: a reset, or a state file read anew, forgets them.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import re
import secrets
import string
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from aep_emulator import cron
from aep_emulator.config import EmulatorConfig
from aep_emulator.query_listing import iso_ms, listing, parse_time, query_error
from aep_emulator.query_service import QUERY_PATH, TERMINAL, QueryService
from aep_emulator.state import State

#: A query's state → its run's state, as Adobe's runs print them.
RUN_STATES = {
    "SUBMITTED": "PENDING",
    "IN_PROGRESS": "IN_PROGRESS",
    "SUCCESS": "SUCCESS",
    "FAILED": "FAILED",
    "KILLED": "KILLED",
}
PATCH_ACCEPTED = {"message": "Request to patch accepted", "statusCode": 202}


class Schedules:
    """Scheduled queries per sandbox; each run is a query of the query service."""

    def __init__(self, config: EmulatorConfig, state: State, queries: QueryService) -> None:
        self.config = config
        self.state = state
        self.queries = queries
        #: sandbox → schedule id → entry (``schedule``: the answer's fields, the rest bookkeeping).
        self._boxes: dict[str, dict[str, dict[str, Any]]] = {}
        self._data: dict[str, Any] | None = None

    def _box(self, sandbox: str) -> dict[str, dict[str, Any]]:
        """The sandbox's schedules (call with the state's lock held); forgotten on a reset."""
        self._forget_if_reset()
        return self._boxes.setdefault(sandbox, {})

    def _forget_if_reset(self) -> None:
        if self.state.data is not self._data:
            self._data, self._boxes = self.state.data, {}

    # -- schedules --------------------------------------------------------------------------------

    def create(self, sandbox: str, client: str, body: Any, base_url: str) -> dict[str, Any]:
        """``POST /schedules``: ``{"query": {dbName, sql, name, description?}, "schedule": {...}}``."""
        if not isinstance(body, dict):
            raise query_error(400, "The body must be a JSON object with query and schedule")
        query, plan = body.get("query"), body.get("schedule")
        if not isinstance(query, dict):
            raise query_error(400, "query is required: an object with dbName, sql and name")
        for name in ("dbName", "sql", "name"):
            if not isinstance(query.get(name), str) or not query[name].strip():
                raise query_error(400, f"query.{name} is required (a non-empty string)")
        if (
            "description" in query
            and query["description"] is not None
            and not isinstance(query["description"], str)
        ):
            raise query_error(400, "query.description must be a string")
        if not isinstance(plan, dict) or not isinstance(plan.get("schedule"), str):
            raise query_error(
                400, "schedule.schedule is required: a cron expression or @once, @hourly, @daily, ..."
            )
        parsed = _cron(plan["schedule"], "schedule.schedule")
        now = time.time()
        created = datetime.fromtimestamp(now, tz=timezone.utc)
        start = parse_time(plan["startDate"], "schedule.startDate") if plan.get("startDate") else created
        end = parse_time(plan["endDate"], "schedule.endDate") if plan.get("endDate") else None
        if end is not None and end < start:
            raise query_error(400, "schedule.endDate is before schedule.startDate")
        active = plan.get("maxActiveRuns", 1)
        if isinstance(active, bool) or not isinstance(active, int) or active < 1:
            raise query_error(
                400, f"schedule.maxActiveRuns must be a whole number of at least 1, not {active!r}"
            )
        shown_plan: dict[str, Any] = {
            "schedule": parsed.text,
            "startDate": iso_ms(start),
            **({"endDate": iso_ms(end)} if end else {}),
            "maxActiveRuns": active,
        }
        task_id = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(10))
        schedule_id = self._new_id(str(query["name"]), task_id)
        stamp = str(int(now * 1000))
        user = f"{client}@AdobeID"
        schedule = {
            "state": "ENABLED",
            "query": {
                k: query[k] for k in ("dbName", "sql", "name", "description") if query.get(k) is not None
            },
            "updatedUserId": user,
            "version": 2,
            "id": schedule_id,
            "updated": stamp,
            "schedule": shown_plan,
            "userId": user,
            "created": stamp,
        }
        origin = max(start, created)
        entry = {
            "schedule": schedule,
            "cron": parsed,
            "task_id": task_id,
            "t0": now,
            "origin": origin,
            "end": end,
            "next": origin if parsed.once else parsed.next_after(origin, inclusive=True),
            "emitted": 0,
            "runs": {},
        }
        with self.state.lock:
            self._box(sandbox)[schedule_id] = entry
            shown = self._shown(entry, base_url)
        shown["state"] = "REGISTERING"
        shown.pop("updated", None)
        shown.pop("created", None)
        return shown

    def _new_id(self, name: str, task_id: str) -> str:
        """Adobe's shape: ``<org>_<uuid>_<name as a slug><10 random>_<6 random>``."""
        org = hashlib.sha1(self.config.org_id.encode()).hexdigest()[:24]
        slug = re.sub(r"[^0-9a-z]+", "_", name.lower()).strip("_")[:40] or "query"
        tail = "".join(secrets.choice(string.ascii_lowercase) for _ in range(6))
        return f"{org}_{uuid.uuid1()}_{slug}{task_id.lower()}_{tail}"

    def get(self, sandbox: str, schedule_id: str, base_url: str) -> dict[str, Any]:
        with self.state.lock:
            return self._shown(self._found(sandbox, schedule_id), base_url)

    def list_schedules(self, sandbox: str, params: list[tuple[str, str]], base_url: str) -> dict[str, Any]:
        """``GET /schedules``: ``property`` (id, name, state, userId, created, updated), ``orderby``, ``limit``."""
        with self.state.lock:
            self.advance()
            shown = [self._shown(e, base_url) for e in self._box(sandbox).values()]
        return listing(
            shown,
            params,
            fields={
                "id": lambda s: s["id"],
                "name": lambda s: s["query"]["name"],
                "state": lambda s: s["state"],
                "userId": lambda s: s["userId"],
                "created": lambda s: _from_ms(s["created"]),
                "updated": lambda s: _from_ms(s["updated"]),
            },
            key="schedules",
            url=f"{base_url}{QUERY_PATH}/schedules",
            version=2,
        )

    def patch(self, sandbox: str, schedule_id: str, body: Any) -> dict[str, Any]:
        """``PATCH /schedules/{id}``: ``{"body": [{"op": "replace", "path": "/state" or "/schedule/schedule", "value"}]}``."""
        with self.state.lock:
            self._found(sandbox, schedule_id)
        changes = _changes(body)
        now = time.time()
        with self.state.lock:
            entry = self._found(sandbox, schedule_id)
            schedule = entry["schedule"]
            for kind, value in changes:
                if kind == "state":
                    wanted = "ENABLED" if value == "enable" else "DISABLED"
                    if wanted == "ENABLED" and schedule["state"] != "ENABLED":
                        entry["next"] = self._next_from(entry, entry["cron"], now)
                    schedule["state"] = wanted
                else:
                    entry["cron"] = value
                    schedule["schedule"]["schedule"] = value.text
                    entry["next"] = self._next_from(entry, value, now)
            schedule["updated"] = str(int(now * 1000))
        return dict(PATCH_ACCEPTED)

    def _next_from(self, entry: dict[str, Any], parsed: cron.Cron, now: float) -> datetime | None:
        """The next run time from the emulated now on (runs missed while disabled are skipped)."""
        emulated = self._emulated(entry, now)
        if parsed.once:
            return emulated if entry["emitted"] == 0 else None
        return parsed.next_after(emulated, inclusive=True)

    def delete(self, sandbox: str, schedule_id: str) -> dict[str, Any]:
        with self.state.lock:
            entry = self._found(sandbox, schedule_id)
            if entry["schedule"]["state"] == "ENABLED":
                raise query_error(
                    400, f"Schedule {schedule_id} is ENABLED: it must be disabled before it is deleted"
                )
            del self._box(sandbox)[schedule_id]
        return {"message": "Schedule deleted successfully", "statusCode": 202}

    def _found(self, sandbox: str, schedule_id: str) -> dict[str, Any]:
        entry = self._box(sandbox).get(schedule_id)
        if entry is None:
            raise query_error(404, f"Schedule {schedule_id} not found")
        self._advance(sandbox, entry, time.time())
        return entry

    def _shown(self, entry: dict[str, Any], base_url: str) -> dict[str, Any]:
        schedule = copy.deepcopy(entry["schedule"])
        href = f"{base_url}{QUERY_PATH}/schedules/{schedule['id']}"
        schedule["_links"] = {
            "enable": {"href": href, "method": "PATCH", "body": '{ "op": "enable" }'},
            "runs": {"href": f"{href}/runs", "method": "GET"},
            "self": {"href": href, "method": "GET"},
            "delete": {"href": href, "method": "DELETE"},
            "disable": {"href": href, "method": "PATCH", "body": '{ "op": "disable" }'},
            "trigger": {"href": f"{href}/runs", "method": "POST"},
        }
        return schedule

    # -- the clock --------------------------------------------------------------------------------

    def _emulated(self, entry: dict[str, Any], now: float) -> datetime:
        origin: datetime = entry["origin"]
        return origin + timedelta(seconds=(now - entry["t0"]) * self.config.time_scale)

    def advance(self, now: float | None = None) -> None:
        """Start the runs that are due in every sandbox (the run clock calls this)."""
        now = time.time() if now is None else now
        with self.state.lock:
            self._forget_if_reset()
            for sandbox, box in list(self._boxes.items()):
                for entry in list(box.values()):
                    self._advance(sandbox, entry, now)

    def _advance(self, sandbox: str, entry: dict[str, Any], now: float) -> None:
        """Start each run whose cron time the emulated clock passed, within the caps."""
        if entry["schedule"]["state"] != "ENABLED":
            return
        emulated = self._emulated(entry, now)
        active = max(1, int(entry["schedule"]["schedule"].get("maxActiveRuns") or 1))
        while (
            entry["next"] is not None
            and entry["next"] <= emulated
            and entry["emitted"] < self.config.max_runs_per_flow
        ):
            moment: datetime = entry["next"]
            if entry["end"] is not None and moment > entry["end"]:
                entry["next"] = None
                break
            if self._active(sandbox, entry) >= active:
                break
            self._start(sandbox, entry, "scheduled", moment, now)
            entry["emitted"] += 1
            entry["next"] = None if entry["cron"].once else entry["cron"].next_after(moment)

    def _active(self, sandbox: str, entry: dict[str, Any]) -> int:
        """How many of the schedule's runs have not ended."""
        count = 0
        for run in entry["runs"].values():
            query = self.queries.entry(sandbox, run["query_id"])
            count += query is not None and query["query"]["state"] not in TERMINAL
        return count

    def _start(
        self, sandbox: str, entry: dict[str, Any], kind: str, moment: datetime, now: float
    ) -> dict[str, Any]:
        """A run: its query submitted now, its id the base64 of ``<kind>__<moment>``."""
        while True:
            run_id = base64.b64encode(f"{kind}__{moment.isoformat()}".encode()).decode()
            if run_id not in entry["runs"]:
                break
            moment += timedelta(microseconds=1)
        schedule = entry["schedule"]
        query = self.queries.submit(
            sandbox, dict(schedule["query"]), {}, client="scheduler", user=schedule["userId"], now=now
        )
        run = {
            "id": run_id,
            "externalTrigger": "true" if kind == "manual" else "false",
            "created": moment,
            "query_id": query["query"]["id"],
        }
        entry["runs"][run_id] = run
        return run

    # -- runs -------------------------------------------------------------------------------------

    def trigger(self, sandbox: str, schedule_id: str) -> dict[str, Any]:
        """``POST /schedules/{id}/runs``: a run now, whatever the schedule's state and caps."""
        now = time.time()
        with self.state.lock:
            entry = self._found(sandbox, schedule_id)
            self._start(sandbox, entry, "manual", datetime.fromtimestamp(now, tz=timezone.utc), now)
        return {"message": "Request to trigger run of a scheduled query accepted.", "statusCode": 202}

    def list_runs(
        self, sandbox: str, schedule_id: str, params: list[tuple[str, str]], base_url: str
    ) -> dict[str, Any]:
        """``GET /schedules/{id}/runs``: ``property`` (state, externalTrigger, created), ``orderby``, ``limit``."""
        with self.state.lock:
            entry = self._found(sandbox, schedule_id)
            runs = [self._run(sandbox, entry, run, base_url) for run in entry["runs"].values()]
        return listing(
            runs,
            params,
            fields={
                "id": lambda r: r["id"],
                "state": lambda r: r["state"],
                "externalTrigger": lambda r: r["externalTrigger"],
                "created": lambda r: parse_time(r["created"], "created"),
                "updated": lambda r: parse_time(r["updated"], "updated"),
            },
            # Adobe documents >, <, == and != for a schedule's runs (>= and <= for queries only).
            operators=("==", "!=", ">", "<"),
            key="runsSchedules",
            url=f"{base_url}{QUERY_PATH}/schedules/{schedule_id}/runs",
            version=1,
        )

    def get_run(self, sandbox: str, schedule_id: str, run_id: str, base_url: str) -> dict[str, Any]:
        """``GET /schedules/{id}/runs/{runId}``: the run with its task (the query, by ``queryId``)."""
        with self.state.lock:
            entry = self._found(sandbox, schedule_id)
            run = self._run_found(entry, run_id)
            shown = self._run(sandbox, entry, run, base_url)
            query = self.queries.entry(sandbox, run["query_id"])
        task = _task(query["query"] if query else None, entry["task_id"], run["query_id"])
        return {
            "state": shown["state"],
            "taskStatusList": [task],
            "version": 1,
            "id": run_id,
            "scheduleId": schedule_id,
            "externalTrigger": shown["externalTrigger"],
            "created": shown["created"],
            "updated": shown["updated"],
            "_links": shown["_links"],
        }

    def cancel_run(self, sandbox: str, schedule_id: str, run_id: str, body: Any) -> dict[str, Any]:
        """``PATCH /schedules/{id}/runs/{runId}`` ``{"op": "cancel"}``: its query is KILLED (if not ended)."""
        with self.state.lock:
            run = self._run_found(self._found(sandbox, schedule_id), run_id)
            op = body.get("op") if isinstance(body, dict) else None
            if op != "cancel":
                raise query_error(400, f'op must be "cancel", not {op!r}')
            self.queries.cancel(sandbox, run["query_id"])
        return {"message": "Request to cancel run of a scheduled query accepted", "statusCode": 202}

    @staticmethod
    def _run_found(entry: dict[str, Any], run_id: str) -> dict[str, Any]:
        run: dict[str, Any] | None = entry["runs"].get(run_id)
        if run is None:
            raise query_error(404, f"Run {run_id} of schedule {entry['schedule']['id']} not found")
        return run

    def _run(self, sandbox: str, entry: dict[str, Any], run: dict[str, Any], base_url: str) -> dict[str, Any]:
        """A run as the runs listing shows it; its state is its query's."""
        query = self.queries.entry(sandbox, run["query_id"])
        state = RUN_STATES.get(query["query"]["state"], "PENDING") if query else "FAILED"
        href = f"{base_url}{QUERY_PATH}/schedules/{entry['schedule']['id']}/runs/{run['id']}"
        created = _iso_seconds(run["created"])
        return {
            "state": state,
            "version": 1,
            "id": run["id"],
            "externalTrigger": run["externalTrigger"],
            "created": created,
            "updated": query["query"]["updated"] if query else created,
            "_links": {
                "self": {"href": href, "method": "GET"},
                "cancel": {"href": href, "method": "PATCH", "body": '{ "op": "cancel" }'},
            },
        }


def _changes(body: Any) -> list[tuple[str, Any]]:
    """A schedule PATCH's changes: ("state", "enable"/"disable") or ("cron", Cron), all checked."""
    operations = body.get("body") if isinstance(body, dict) else None
    if not isinstance(operations, list) or not operations:
        raise query_error(400, 'The body must be {"body": [{"op": "replace", "path": ..., "value": ...}]}')
    changes: list[tuple[str, Any]] = []
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict) or str(operation.get("op", "")).lower() != "replace":
            raise query_error(400, f'body[{index}].op must be "replace"')
        path, value = operation.get("path"), operation.get("value")
        if path == "/state":
            if not isinstance(value, str) or value.lower() not in ("enable", "disable"):
                raise query_error(
                    400, f'body[{index}].value for /state must be "enable" or "disable", not {value!r}'
                )
            changes.append(("state", value.lower()))
        elif path == "/schedule/schedule":
            changes.append(("cron", _cron(value, f"body[{index}].value")))
        else:
            raise query_error(400, f"body[{index}].path must be /state or /schedule/schedule, not {path!r}")
    return changes


def _task(query: dict[str, Any] | None, task_id: str, query_id: str) -> dict[str, Any]:
    """The run's one task, as Adobe's run detail lists it, with the query's id to read it by."""
    if query is None:
        return {
            "duration": None,
            "endDate": None,
            "state": "FAILED",
            "message": "The query is gone",
            "startDate": None,
            "taskId": task_id,
            "queryId": query_id,
        }
    state = RUN_STATES.get(query["state"], "PENDING")
    started = parse_time(query["created"], "created")
    ended = parse_time(query["updated"], "updated") if query["state"] in TERMINAL else None
    if query["state"] == "FAILED":
        message = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in query["errors"]) or "Failed"
    else:
        message = {"SUCCESS": "Processed Successfully", "KILLED": "Cancelled"}.get(query["state"], "")
    return {
        "duration": round((ended - started).total_seconds()) if ended else None,
        "endDate": _naive(ended) if ended else None,
        "state": state,
        "message": message,
        "startDate": _naive(started),
        "taskId": task_id,
        "queryId": query_id,
    }


def _cron(value: Any, name: str) -> cron.Cron:
    try:
        return cron.parse(value)
    except cron.CronError as err:
        raise query_error(400, f"{name}: {err}") from None


def _iso_seconds(moment: datetime) -> str:
    """``2020-01-08T12:30:00Z`` (with the fraction when there is one), as runs' ``created``."""
    text = moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat()
    return text + "Z"


def _naive(moment: datetime) -> str:
    """``2020-01-08T23:49:02.346318``: a task's dates, as Adobe's example prints them (UTC)."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds")


def _from_ms(text: str) -> datetime:
    return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc)
