"""The Query Service API (Data Distiller): queries, scheduled queries and their runs.

Mixed into :class:`~airflow_provider_aep.hooks.aep.AEPHook`: every call goes through its one
request path under ``/data/foundation/query`` (``service="query"``); the output dataset of a
``CREATE TABLE ... AS SELECT`` is found by name in the Catalog Service
(``/data/foundation/catalog``). The pure readers of a query (state, errors, summary) live here
too, so the operator and the trigger read a query the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from airflow_provider_aep.exceptions import AEPApiError, AEPError, AEPValidationError, as_error_list
from airflow_provider_aep.hooks.platform_calls import PlatformCalls
from airflow_provider_aep.utils.ids import check_id, path_segment

JsonDict = dict[str, Any]

#: Query states (Adobe's): SUBMITTED and IN_PROGRESS are still running.
QUERY_SUCCEEDED = "SUCCESS"
QUERY_FAILURE_STATES = ("FAILED", "KILLED", "CANCELLED")
QUERY_TERMINAL_STATES = (QUERY_SUCCEEDED, *QUERY_FAILURE_STATES)
#: A scheduled query's run ids are base64 (``scheduled__<time>``), which may hold ``+ / =``.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9+/=_-]{1,256}")
#: A scheduled query's id: ``<org>_<uuid>_<slug of the query's name><random>``.
SCHEDULE_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,511}")
#: The table a CTAS or an INSERT INTO writes: the statement's first words, comments skipped.
_LEADING_COMMENTS = re.compile(r"^(?:\s*(?:--[^\n]*(?:\n|$)|/\*.*?\*/))*\s*", re.DOTALL)
_WRITES = re.compile(
    r"(?:CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?|INSERT\s+INTO\s+)"
    r"(?P<table>\"[^\"]+\"|[A-Za-z_][A-Za-z0-9_.]*)",
    re.IGNORECASE,
)
#: Pages of a listing read at most (100 items each): far more than any organisation keeps.
MAX_PAGES = 50


def query_state(query: Mapping[str, Any]) -> str:
    """A query's (or a scheduled run's) state, upper case (``UNKNOWN`` when AEP sent none)."""
    return str(query.get("state") or "unknown").upper()


def query_is_over(query: Mapping[str, Any]) -> bool:
    """SUCCESS, FAILED, KILLED or CANCELLED: the query will not change any more."""
    return query_state(query) in QUERY_TERMINAL_STATES


def query_errors(query: Mapping[str, Any]) -> str:
    """AEP's words for a failed query: each error's code, message and position in the SQL."""
    said = []
    for error in as_error_list(query.get("errors")):
        code = error.get("code") or error.get("errorCode")
        text = str(error.get("message") or error.get("description") or "").strip()
        position = error.get("position")
        where = f" (at character {position} of the SQL)" if isinstance(position, int) else ""
        said.append((f"{code}: {text}" if code else text) + where)
    return "; ".join(s for s in said if s.strip()) or "AEP gave no error text"


def written_table(sql: str) -> str | None:
    """The table a ``CREATE TABLE ... AS SELECT`` or an ``INSERT INTO`` writes, else None.

    :param sql: the statement as sent.
    :return: the table's name (AEP's dataset name), unquoted.
    """
    rest = _LEADING_COMMENTS.sub("", sql, count=1)
    match = _WRITES.match(rest)
    return match.group("table").strip('"') if match else None


def summarize_query(query: Mapping[str, Any], output_dataset: Mapping[str, Any] | None = None) -> JsonDict:
    """What the query task returns (XCom, JSON): ids, state, duration, rows and the output dataset.

    :param query: the query as AEP answered it.
    :param output_dataset: ``{"id", "name"}`` of the dataset a CTAS or INSERT INTO wrote.
    :return: the summary.
    """
    from airflow_provider_aep.redaction.secrets import scrub

    request = query.get("request")
    request = request if isinstance(request, Mapping) else {}
    state = query_state(query)
    return {
        "query_id": query.get("id"),
        "name": request.get("name"),
        "state": state,
        "duration_ms": query.get("elapsedTime"),
        "rows": query.get("rowCount"),
        "is_ctas": bool(query.get("isCTAS")),
        "is_insert_into": bool(query.get("isInsertInto")),
        "output_dataset": dict(output_dataset) if output_dataset else None,
        "errors": scrub(query_errors(query)) if state in QUERY_FAILURE_STATES else None,
    }


def check_run_id(field: str, value: Any) -> str:
    """A scheduled query run's id (base64 text), or AEPValidationError naming the field."""
    if not isinstance(value, str) or not RUN_ID_PATTERN.fullmatch(value):
        raise AEPValidationError(field, value, "a scheduled query run id (base64 letters, digits, + / = _ -)")
    return value


class QueryServiceMixin(PlatformCalls):
    """Queries, scheduled queries and their runs, and the Catalog's dataset lookup, as hook methods."""

    # -- queries ---------------------------------------------------------------------------------

    def create_query(
        self,
        sql: str,
        *,
        db_name: str,
        name: str | None = None,
        description: str | None = None,
        query_parameters: Mapping[str, Any] | None = None,
    ) -> JsonDict:
        """``POST /queries``: submit SQL; AEP answers 202 with the query, ``SUBMITTED``.

        Sent once (a second POST would run the SQL twice): a lost answer raises
        ``AEPAmbiguousWriteError``; :meth:`queries_named` finds what it started.

        :param sql: the statement.
        :param db_name: ``<sandbox>:all``, the database the SQL runs in.
        :param name: the query's name in AEP (the operator names it after the task instance).
        :param description: shown in AEP's query log.
        :param query_parameters: values for the ``$name`` parameters in the SQL.
        :return: the query, with its ``id`` and ``state``.
        """
        body: JsonDict = {"dbName": db_name, "sql": sql}
        if name:
            body["name"] = name
        if description:
            body["description"] = description
        if query_parameters:
            body["queryParameters"] = dict(query_parameters)
        _, query = self.request("POST", "/queries", json=body, idempotent=False, service="query")
        if not isinstance(query, dict) or not query.get("id"):
            raise AEPError("AEP POST /queries answered without a query id")
        return query

    def get_query(self, query_id: str) -> JsonDict:
        """``GET /queries/{id}``: the query, its state, row count and errors."""
        _, query = self.request("GET", _query_path(query_id), service="query")
        return query if isinstance(query, dict) else {}

    def cancel_query(self, query_id: str) -> bool:
        """``PATCH /queries/{id}`` ``{"op": "cancel"}``: ask AEP to stop the query (it ends KILLED).

        :param query_id: the query.
        :return: True when AEP took the request; False when the query is gone or already over.
        """
        try:
            status, _ = self.request(
                "PATCH", _query_path(query_id), json={"op": "cancel"}, missing_ok=True, service="query"
            )
        except AEPApiError as err:
            if err.status in (400, 409):  # already over: nothing to cancel
                return False
            raise
        return status != 404

    def queries_named(self, name: str, since: str) -> list[JsonDict]:
        """Queries named ``name`` created at or after ``since`` (ISO 8601 UTC), oldest first: what a
        create whose answer was lost, or an earlier try of the same task, started.

        :param name: the query's name, as the create sent it.
        :param since: the earliest creation time that counts (``property=created>=``, as Adobe
            documents it for queries).
        :return: the queries found, page by page (at most ``MAX_PAGES`` of 100).
        """
        params: list[tuple[str, Any]] = [
            ("property", f"created>={since}"),
            ("orderby", "-created"),
            ("limit", 100),
        ]
        found = []
        for _ in range(MAX_PAGES):
            _, body = self.request("GET", "/queries", params=params, service="query")
            body = body if isinstance(body, dict) else {}
            found += [
                q
                for q in body.get("queries") or []
                if isinstance(q, dict)
                and isinstance(q.get("request"), Mapping)
                and q["request"].get("name") == name
                and str(q.get("created") or "") >= since
            ]
            following = _next_params(body)
            if not following or following == params:
                break
            params = following
        return sorted(found, key=lambda q: (str(q.get("created") or ""), str(q.get("id"))))

    # -- the Catalog: the dataset a query wrote --------------------------------------------------

    def find_dataset(self, name: str) -> JsonDict | None:
        """The Data Lake dataset with exactly this name (``GET /dataSets?name=``), or None.

        :param name: the dataset's name (a CTAS's table).
        :return: ``{"id", "name"}``; the newest when AEP lists several.
        """
        params = [("name", name), ("limit", 10), ("properties", "name,created")]
        _, body = self.request("GET", "/dataSets", params=params, service="catalog")
        found = [
            {"id": str(dataset_id), "name": str(entry.get("name")), "created": entry.get("created") or 0}
            for dataset_id, entry in (body or {}).items()
            if isinstance(entry, Mapping) and entry.get("name") == name
        ]
        if not found:
            return None
        newest = max(found, key=lambda d: (int(d["created"]) if str(d["created"]).isdigit() else 0, d["id"]))
        return {"id": newest["id"], "name": newest["name"]}

    # -- scheduled queries -------------------------------------------------------------------------

    def iter_schedules(self) -> Iterator[JsonDict]:
        """Every scheduled query of the sandbox, page by page (``GET /schedules``)."""
        params: list[tuple[str, Any]] = [("orderby", "-created"), ("limit", 100)]
        for _ in range(MAX_PAGES):
            _, body = self.request("GET", "/schedules", params=params, service="query")
            body = body if isinstance(body, dict) else {}
            yield from (s for s in body.get("schedules") or [] if isinstance(s, dict))
            following = _next_params(body)
            if not following or following == params:
                return
            params = following

    def schedules_named(self, name: str) -> list[JsonDict]:
        """The scheduled queries whose query is named ``name`` (AEP does not keep names unique)."""
        return [s for s in self.iter_schedules() if _schedule_query(s).get("name") == name]

    def create_schedule(self, body: Mapping[str, Any]) -> JsonDict:
        """``POST /schedules``: a new scheduled query (202, ``REGISTERING``); sent once.

        :param body: ``{"query": {...}, "schedule": {...}}`` (``payloads.query.schedule_body``).
        :return: the scheduled query, with its ``id``.
        """
        _, schedule = self.request("POST", "/schedules", json=dict(body), idempotent=False, service="query")
        if not isinstance(schedule, dict) or not schedule.get("id"):
            raise AEPError("AEP POST /schedules answered without a schedule id")
        return schedule

    def get_schedule(self, schedule_id: str) -> JsonDict:
        """``GET /schedules/{id}``: the scheduled query, its state and schedule."""
        _, schedule = self.request("GET", _schedule_path(schedule_id), service="query")
        return schedule if isinstance(schedule, dict) else {}

    def update_schedule(self, schedule_id: str, operations: Sequence[Mapping[str, Any]]) -> None:
        """``PATCH /schedules/{id}`` with ``{"body": [operations]}``: ``/state`` (``enable`` or
        ``disable``) or ``/schedule/schedule`` (a cron), the two paths AEP accepts."""
        body = {"body": [dict(op) for op in operations]}
        self.request("PATCH", _schedule_path(schedule_id), json=body, service="query")

    def delete_schedule(self, schedule_id: str) -> bool:
        """``DELETE /schedules/{id}`` (AEP wants it disabled first); False when already gone."""
        status, _ = self.request("DELETE", _schedule_path(schedule_id), missing_ok=True, service="query")
        return status != 404

    def trigger_schedule_run(self, schedule_id: str) -> None:
        """``POST /schedules/{id}/runs``: run the scheduled query now (202, no run id in the answer).

        Sent once; the run is found afterwards by :meth:`schedule_runs` (``externalTrigger``).
        """
        self.request("POST", f"{_schedule_path(schedule_id)}/runs", idempotent=False, service="query")

    def schedule_runs(
        self,
        schedule_id: str,
        *,
        created_from: datetime | None = None,
        created_before: datetime | None = None,
        external: bool | None = None,
        oldest_first: bool = False,
    ) -> list[JsonDict]:
        """The runs of a scheduled query, oldest first, filtered as AEP filters them.

        Adobe documents ``>``, ``<``, ``==`` and ``!=`` for a schedule's runs: ``created_from``
        is sent as ``created>`` a second before it, and the edge is checked here.

        :param schedule_id: the scheduled query.
        :param created_from: runs created before it are left out.
        :param created_before: runs created at or after it are left out.
        :param external: True for runs started on demand, False for scheduled ones.
        :param oldest_first: ask AEP for the oldest 100 that match (default: the newest 100).
        :return: the runs, oldest first.
        """
        filters = []
        if created_from is not None:
            filters.append(f"created>{_iso_seconds(created_from - timedelta(seconds=1))}")
        if created_before is not None:
            filters.append(f"created<{_iso_seconds(created_before)}")
        if external is not None:
            filters.append(f"externalTrigger=={str(external).lower()}")
        params: list[tuple[str, Any]] = [
            ("orderby", "created" if oldest_first else "-created"),
            ("limit", 100),
        ]
        if filters:
            params.append(("property", ",".join(filters)))
        _, body = self.request("GET", f"{_schedule_path(schedule_id)}/runs", params=params, service="query")
        runs = body.get("runsSchedules") if isinstance(body, dict) else None
        found = [
            r
            for r in runs or []
            if isinstance(r, dict) and _in_range(r.get("created"), created_from, created_before)
        ]
        return sorted(found, key=lambda r: (_created(r.get("created")), str(r.get("id"))))

    def get_schedule_run(self, schedule_id: str, run_id: str) -> JsonDict:
        """``GET /schedules/{id}/runs/{runId}``: the run, its state and ``taskStatusList``."""
        _, run = self.request("GET", _run_path(schedule_id, run_id), service="query")
        return run if isinstance(run, dict) else {}

    def cancel_schedule_run(self, schedule_id: str, run_id: str) -> bool:
        """``PATCH /schedules/{id}/runs/{runId}`` ``{"op": "cancel"}``; False when gone or over."""
        try:
            status, _ = self.request(
                "PATCH",
                _run_path(schedule_id, run_id),
                json={"op": "cancel"},
                missing_ok=True,
                service="query",
            )
        except AEPApiError as err:
            if err.status in (400, 409):
                return False
            raise
        return status != 404


def _iso_seconds(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _created(value: Any) -> datetime:
    """A run's ``created`` (ISO 8601, with or without ``Z``; naive is UTC), or the epoch."""
    try:
        moment = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        return datetime.fromtimestamp(0, tz=timezone.utc)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _in_range(value: Any, since: datetime | None, before: datetime | None) -> bool:
    created = _created(value)
    return (since is None or created >= since) and (before is None or created < before)


def _query_path(query_id: str) -> str:
    return f"/queries/{path_segment('query_id', query_id)}"


def check_schedule_id(field: str, value: Any) -> str:
    """A scheduled query's id: Adobe's embed a slug of the query's name, so they may be long."""
    if not isinstance(value, str) or not SCHEDULE_ID_PATTERN.fullmatch(value):
        raise AEPValidationError(
            field, value, "a scheduled query id (letters, digits and . _ : @ -, at most 512)"
        )
    return value


def _schedule_path(schedule_id: str) -> str:
    return f"/schedules/{quote(check_schedule_id('schedule_id', schedule_id), safe='')}"


def _run_path(schedule_id: str, run_id: str) -> str:
    return f"{_schedule_path(schedule_id)}/runs/{quote(check_run_id('run_id', run_id), safe='')}"


def _schedule_query(schedule: Mapping[str, Any]) -> Mapping[str, Any]:
    query = schedule.get("query")
    return query if isinstance(query, Mapping) else {}


def _next_params(body: Mapping[str, Any]) -> list[tuple[str, Any]] | None:
    """The query parameters of a listing's ``_links.next.href``, or None on the last page."""
    links = body.get("_links")
    following = links.get("next") if isinstance(links, Mapping) else None
    href = following.get("href") if isinstance(following, Mapping) else None
    if not isinstance(href, str) or not href:
        return None
    return [(k, v) for k, v in parse_qsl(urlsplit(href).query)]


def db_name_for(sandbox: str) -> str:
    """The Query Service database of a sandbox: ``<sandbox>:all`` (Adobe's examples: ``prod:all``)."""
    return f"{check_id('sandbox_name', sandbox)}:all"
