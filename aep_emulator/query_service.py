"""The Query Service's queries (``/data/foundation/query/queries``), free of HTTP.

A query goes SUBMITTED, IN_PROGRESS, then SUCCESS or FAILED over ``query_duration`` real
seconds (longer when a ``delay_queries`` rule says so), or KILLED when cancelled first. Its SQL
runs when its time is up (:mod:`aep_emulator.sql_engine`, one DuckDB database per sandbox), so
a cancelled query writes nothing; a SQL error is a FAILED query with ``errors`` (code, message,
position), never an HTTP error. ``CREATE TABLE ... AS SELECT`` makes a derived dataset in the
sandbox's data lake (:mod:`aep_emulator.lake`), ``INSERT INTO`` appends to one and ``DROP
TABLE`` removes one; the seed datasets are read only.

Queries live in memory only, as segment jobs do: a reset, or a state file read anew, forgets
them, with the sandboxes' SQL databases and derived datasets.
"""

from __future__ import annotations

import copy
import re
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from aep_emulator.config import EmulatorConfig
from aep_emulator.faults import FaultPlan
from aep_emulator.lake import DataLake, DerivedDataset
from aep_emulator.query_listing import iso_ms, listing, parse_time, query_error
from aep_emulator.sql_engine import Outcome, SandboxEngine, SQLError, Statement, classify
from aep_emulator.state import State

QUERY_PATH = "/data/foundation/query"
CATALOG_PATH = "/data/foundation/catalog"
TERMINAL = ("SUCCESS", "FAILED", "KILLED")
_PARAMETER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_REQUEST_KEYS = ("dbName", "sql", "name", "description")


class QueryService:
    """Queries per sandbox, and the SQL engine of each sandbox."""

    def __init__(self, config: EmulatorConfig, state: State, faults: FaultPlan, lake: DataLake) -> None:
        self.config = config
        self.state = state
        self.faults = faults
        self.lake = lake
        #: sandbox → query id → entry (``query``: the answer's fields, the rest bookkeeping).
        self._boxes: dict[str, dict[str, dict[str, Any]]] = {}
        self._engines: dict[str, SandboxEngine] = {}
        self._data: dict[str, Any] | None = None

    def _box(self, sandbox: str) -> dict[str, dict[str, Any]]:
        """The sandbox's queries (call with the state's lock held); forgotten on a reset."""
        self._forget_if_reset()
        return self._boxes.setdefault(sandbox, {})

    def _forget_if_reset(self) -> None:
        if self.state.data is self._data:
            return
        self._data, self._boxes = self.state.data, {}
        engines, self._engines = self._engines, {}
        for engine in engines.values():
            engine.close()

    def _engine(self, sandbox: str) -> SandboxEngine:
        self._forget_if_reset()
        engine = self._engines.get(sandbox)
        if engine is None:
            engine = self._engines[sandbox] = SandboxEngine()
        return engine

    # -- submitting -------------------------------------------------------------------------------

    def create(self, sandbox: str, client: str, body: Any, base_url: str) -> dict[str, Any]:
        """``POST /queries``: ``dbName`` and ``sql`` (``$key`` replaced from ``queryParameters``)."""
        if not isinstance(body, dict):
            raise query_error(400, "The body must be a JSON object with dbName and sql")
        if "sql" not in body and (body.get("templateId") or body.get("templateID")):
            raise query_error(400, "templateId: query templates are not emulated; send the SQL as sql")
        for name in ("dbName", "sql"):
            if not isinstance(body.get(name), str) or not body[name].strip():
                raise query_error(400, f"{name} is required (a non-empty string)")
        for name in ("name", "description"):
            if name in body and body[name] is not None and not isinstance(body[name], str):
                raise query_error(400, f"{name} must be a string")
        parameters = body.get("queryParameters")
        if parameters is not None and (
            not isinstance(parameters, dict)
            or not all(isinstance(v, (str, int, float, bool)) for v in parameters.values())
        ):
            raise query_error(400, "queryParameters must map names to text or numbers")
        request = {k: body[k] for k in _REQUEST_KEYS if body.get(k) is not None}
        with self.state.lock:
            entry = self.submit(sandbox, request, parameters or {}, client=client, user=f"{client}@AdobeID")
            return self._shown(entry, base_url)

    def submit(
        self,
        sandbox: str,
        request: dict[str, Any],
        parameters: dict[str, Any],
        *,
        client: str = "API",
        user: str,
        now: float | None = None,
    ) -> dict[str, Any]:
        """A new query (also a scheduled query's run); the fault plan decides its delay and failure."""
        now = time.time() if now is None else now
        sql = _substitute(str(request["sql"]), parameters)
        statement: Statement | SQLError
        try:
            statement = classify(sql)
        except SQLError as err:
            statement = err
        stamp = iso_ms(datetime.fromtimestamp(now, tz=timezone.utc))
        query_id = str(uuid.uuid4())
        query = {
            "isInsertInto": isinstance(statement, Statement) and statement.kind == "insert",
            "request": dict(request),
            "state": "SUBMITTED",
            "rowCount": 0,
            "errors": [],
            "isCTAS": isinstance(statement, Statement) and statement.kind == "ctas",
            "version": 1,
            "id": query_id,
            "elapsedTime": 0,
            "updated": stamp,
            "client": "API" if client != "scheduler" else "Scheduled Query",
            "userId": user,
            "created": stamp,
        }
        delay = self.faults.take_query_delay(sql) or 0.0
        entry = {
            "query": query,
            "sql": sql,
            "statement": statement,
            "started": now,
            "done_at": now + self.config.query_duration + delay,
            "fail_with": self.faults.take_query_failure(sql),
            "referenced": None,
            "deleted": False,
        }
        self._box(sandbox)[query_id] = entry
        return entry

    # -- reading ----------------------------------------------------------------------------------

    def get(self, sandbox: str, query_id: str, base_url: str) -> dict[str, Any]:
        with self.state.lock:
            return self._shown(self._found(sandbox, query_id), base_url)

    def entry(self, sandbox: str, query_id: str) -> dict[str, Any] | None:
        """A query's entry as it stands now (for scheduled runs), deleted or not; None if unknown."""
        with self.state.lock:
            entry = self._box(sandbox).get(query_id)
            if entry is not None:
                self._advance(sandbox, entry, time.time())
            return entry

    def _found(self, sandbox: str, query_id: str) -> dict[str, Any]:
        entry = self._box(sandbox).get(query_id)
        if entry is None or entry["deleted"]:
            raise query_error(404, f"Query {query_id} not found")
        self._advance(sandbox, entry, time.time())
        return entry

    def list_queries(self, sandbox: str, params: list[tuple[str, str]], base_url: str) -> dict[str, Any]:
        """``GET /queries``: ``property`` (state, id, created, updated), ``orderby``, ``limit``, ``start``."""
        now = time.time()
        with self.state.lock:
            entries = [e for e in self._box(sandbox).values() if not e["deleted"]]
            for entry in entries:
                self._advance(sandbox, entry, now)
            shown = [self._shown(e, base_url) for e in entries]
        return listing(
            shown,
            params,
            fields={
                "id": lambda q: q["id"],
                "state": lambda q: q["state"],
                "created": lambda q: parse_time(q["created"], "created"),
                "updated": lambda q: parse_time(q["updated"], "updated"),
            },
            key="queries",
            url=f"{base_url}{QUERY_PATH}/queries",
            version=1,
        )

    def _shown(self, entry: dict[str, Any], base_url: str) -> dict[str, Any]:
        """The query as Adobe answers it, its links on the request's base URL."""
        query = copy.deepcopy(entry["query"])
        href = f"{base_url}{QUERY_PATH}/queries/{query['id']}"
        links: dict[str, Any] = {
            "self": {"href": href, "method": "GET"},
            "soft_delete": {"href": href, "method": "PATCH", "body": '{ "op": "soft_delete"}'},
            "cancel": {"href": href, "method": "PATCH", "body": '{ "op": "cancel"}'},
        }
        if entry["referenced"] is not None:
            links["referenced_datasets"] = [
                {"id": d, "href": f"{base_url}{CATALOG_PATH}/dataSets/{d}"} for d in entry["referenced"]
            ]
        query["_links"] = links
        return query

    # -- changing ---------------------------------------------------------------------------------

    def patch(self, sandbox: str, query_id: str, body: Any) -> dict[str, Any]:
        """``PATCH /queries/{id}``: ``{"op": "cancel"}`` or ``{"op": "soft_delete"}``."""
        with self.state.lock:
            entry = self._found(sandbox, query_id)
            op = body.get("op") if isinstance(body, dict) else None
            if op not in ("cancel", "soft_delete"):
                raise query_error(400, f'op must be "cancel" or "soft_delete", not {op!r}')
            if op == "soft_delete":
                entry["deleted"] = True
                return {"message": "Query soft delete request received", "statusCode": 202}
            state = entry["query"]["state"]
            if state in TERMINAL:
                raise query_error(
                    400, f"Query {query_id} is in state {state}: only a query not yet ended can be cancelled"
                )
            self.kill(entry, time.time())
        return {"message": "Query cancel request received", "statusCode": 202}

    def cancel(self, sandbox: str, query_id: str) -> None:
        """Kill a query if it has not ended (a scheduled run's cancel)."""
        with self.state.lock:
            entry = self._box(sandbox).get(query_id)
            if entry is not None:
                self._advance(sandbox, entry, time.time())
                if entry["query"]["state"] not in TERMINAL:
                    self.kill(entry, time.time())

    def kill(self, entry: dict[str, Any], now: float) -> None:
        self._end(entry, "KILLED", now)

    # -- the clock --------------------------------------------------------------------------------

    def advance(self, now: float | None = None) -> None:
        """End every query whose time is up (the run clock calls this, so a CTAS lands unread)."""
        now = time.time() if now is None else now
        with self.state.lock:
            self._forget_if_reset()
            for sandbox, box in list(self._boxes.items()):
                for entry in list(box.values()):
                    self._advance(sandbox, entry, now)

    def _advance(self, sandbox: str, entry: dict[str, Any], now: float) -> None:
        query = entry["query"]
        if query["state"] in TERMINAL:
            return
        if now < entry["done_at"]:
            state = "SUBMITTED" if now < entry["started"] + self.config.query_duration / 4 else "IN_PROGRESS"
            if state != query["state"]:
                query["state"] = state
                query["updated"] = iso_ms(datetime.fromtimestamp(now, tz=timezone.utc))
            query["elapsedTime"] = int((now - entry["started"]) * 1000)
            return
        if entry["fail_with"]:
            query["errors"] = copy.deepcopy(entry["fail_with"])
            self._end(entry, "FAILED", now)
            return
        try:
            outcome = self._execute(sandbox, entry, now)
        except SQLError as err:
            query["errors"] = [err.as_error()]
            self._end(entry, "FAILED", now)
            return
        query["rowCount"] = outcome.row_count
        self._end(entry, "SUCCESS", now)

    def _end(self, entry: dict[str, Any], state: str, now: float) -> None:
        query = entry["query"]
        query["state"] = state
        query["updated"] = iso_ms(datetime.fromtimestamp(now, tz=timezone.utc))
        query["elapsedTime"] = int((now - entry["started"]) * 1000)

    # -- running the SQL --------------------------------------------------------------------------

    def _execute(self, sandbox: str, entry: dict[str, Any], now: float) -> Outcome:
        """Run the query's SQL; the lake follows what it wrote. :class:`SQLError` if it fails."""
        statement = entry["statement"]
        if isinstance(statement, SQLError):
            raise statement
        engine = self._engine(sandbox)
        table = statement.table or ""
        output: DerivedDataset | None = None
        if statement.kind == "ctas":
            existing = self.lake.by_table(sandbox, table) or (table if engine.has_table(table) else None)
            if existing is not None:
                if statement.if_clause:
                    entry["referenced"] = []
                    return Outcome(0)
                raise SQLError(
                    "42P07",
                    f'Table with name "{table}" already exists: choose another name, or INSERT INTO it',
                    None,
                )
        elif statement.kind in ("insert", "drop"):
            target = self.lake.by_table(sandbox, table)
            if target is not None and not isinstance(target, DerivedDataset):
                verb = "INSERT INTO" if statement.kind == "insert" else "DROP TABLE"
                raise SQLError(
                    "42501",
                    f"{verb} {table}: {target.name} is a read-only dataset; only datasets a CREATE TABLE AS SELECT made can be written",
                    None,
                )
            if target is None:
                if statement.kind == "drop" and statement.if_clause:
                    entry["referenced"] = []
                    return Outcome(0)
                raise SQLError("42P01", f'Table with name "{table}" does not exist', None)
            output = target
        outcome = engine.run(entry["sql"], statement)
        if statement.kind == "ctas":
            output = self.lake.create(sandbox, table, outcome.rows, now)
        elif statement.kind == "insert" and output is not None:
            self.lake.append(output, outcome.rows, now)
        elif statement.kind == "drop" and output is not None:
            self.lake.drop(sandbox, output)
        entry["referenced"] = [
            found.id
            for name in outcome.read_tables
            if (found := self.lake.by_table(sandbox, name)) is not None
        ]
        return outcome


def _substitute(sql: str, parameters: dict[str, Any]) -> str:
    """``$key`` replaced with its ``queryParameters`` value (Adobe's syntax); other ``$`` text stays."""
    if not parameters:
        return sql

    def value(found: re.Match[str]) -> str:
        name = found.group(1)
        return str(parameters[name]) if name in parameters else found.group(0)

    return _PARAMETER.sub(value, sql)
