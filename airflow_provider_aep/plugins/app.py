"""The AEP health app the api-server mounts at ``/aep``: server-rendered pages and their JSON.

``GET /health`` lists a sandbox's dataflows (``conn_id``, ``sandbox``), ``GET /task`` explains one
task instance of the provider (``dag_id``, ``run_id``, ``task_id``, ``map_index``); ``/api/...``
answers the same as JSON. Every route asks Airflow's auth manager first (:mod:`.access`), sends
AEP only ``GET`` requests, and answers pages that run no script: values are escaped by Jinja2's
autoescape and the Content-Security-Policy allows no script at all.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, Response

from airflow_provider_aep.hooks.retry import RetryPolicy
from airflow_provider_aep.plugins.access import (
    current_user,
    readable_aep_connections,
    readable_task_results,
    require_connection_edit,
    require_connection_read,
    require_task_instance_read,
)
from airflow_provider_aep.plugins.flow_health import HEALTH_ORDER
from airflow_provider_aep.plugins.health_reader import HealthCache, HealthReport, read_health, read_run_files
from airflow_provider_aep.plugins.pages import render

#: Airflow's connection id characters.
CONN_ID = re.compile(r"[\w.-]{1,250}")
DEFAULT_CONN_ID = "aep_default"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

#: Connect and read timeouts of the page's requests to AEP, and its retries: at most seconds.
PAGE_TIMEOUT = (5.0, 15.0)
PAGE_RETRIES = RetryPolicy(max_attempts=2, max_total_wait=3.0, base_wait=0.5, max_wait=2.0)

health_cache: HealthCache[HealthReport] = HealthCache()
#: The metadata DB's rows behind the "In this Airflow" column, read at most every 30 s.
watcher_cache: HealthCache[list[tuple[Any, ...]]] = HealthCache()
#: The user every route acts for (401/403 before the route runs when there is none).
User = Annotated[Any, Depends(current_user)]


def create_app() -> FastAPI:
    """The app, with no API docs of its own (Airflow's are the public API)."""
    app = FastAPI(title="AEP health", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def secure_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.exception_handler(HTTPException)
    async def refused(request: Request, err: HTTPException) -> Response:
        if request.url.path.rsplit("/", 2)[-2:-1] == ["api"]:
            return JSONResponse({"detail": err.detail}, status_code=err.status_code)
        page = render("refused.html", status=err.status_code, detail=str(err.detail))
        return HTMLResponse(page, status_code=err.status_code)

    @app.get("/health", response_class=HTMLResponse)
    def health_page(
        request: Request,
        user: User,
        conn_id: Annotated[str, Query()] = DEFAULT_CONN_ID,
        sandbox: Annotated[str, Query()] = "",
    ) -> HTMLResponse:
        report, problem = _report(user, conn_id, sandbox)
        flows = _with_watchers(report, user) if report else []
        page = render(
            "health.html",
            report=report,
            flows=flows,
            problem=problem,
            conn_id=conn_id,
            sandbox=sandbox,
            connections=readable_aep_connections(user),
            health_order=HEALTH_ORDER,
            airflow=_airflow_root(request),
        )
        return HTMLResponse(page, status_code=status.HTTP_502_BAD_GATEWAY if problem else status.HTTP_200_OK)

    @app.get("/api/health")
    def health_json(
        user: User, conn_id: Annotated[str, Query()] = DEFAULT_CONN_ID, sandbox: Annotated[str, Query()] = ""
    ) -> JSONResponse:
        report, problem = _report(user, conn_id, sandbox)
        if report is None:
            return JSONResponse({"detail": problem}, status_code=status.HTTP_502_BAD_GATEWAY)
        return JSONResponse(
            {
                "conn_id": report.conn_id,
                "sandbox": report.sandbox,
                "read_at_ms": report.read_at_ms,
                "runs_read": report.runs_read,
                "runs_truncated": report.runs_truncated,
                "flows": _with_watchers(report, user),
            }
        )

    @app.get("/task", response_class=HTMLResponse)
    def task_page(
        request: Request,
        user: User,
        dag_id: Annotated[str, Query()],
        run_id: Annotated[str, Query()],
        task_id: Annotated[str, Query()],
        map_index: Annotated[str, Query()] = "-1",
    ) -> HTMLResponse:
        report = _task(user, dag_id, run_id, task_id, map_index)
        page = render(
            "task.html", task=report, aep_files=_run_files(user, report), airflow=_airflow_root(request)
        )
        return HTMLResponse(page)

    @app.get("/api/task")
    def task_json(
        user: User,
        dag_id: Annotated[str, Query()],
        run_id: Annotated[str, Query()],
        task_id: Annotated[str, Query()],
        map_index: Annotated[str, Query()] = "-1",
    ) -> JSONResponse:
        report = _task(user, dag_id, run_id, task_id, map_index)
        return JSONResponse(
            {
                **vars(report),
                "asset_events": list(report.asset_events),
                "read_with": dict(report.read_with),
                "files_from_aep": _run_files(user, report),
            }
        )

    return app


def _report(user: Any, conn_id: str, sandbox: str) -> tuple[HealthReport | None, str | None]:
    """The (cached) reading for a connection and sandbox, or why there is none."""
    from airflow_provider_aep.exceptions import AEPError
    from airflow_provider_aep.redaction.secrets import scrub
    from airflow_provider_aep.utils.ids import check_sandbox_name

    if not CONN_ID.fullmatch(conn_id):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"conn_id {conn_id[:80]!r} is not a connection id: letters, digits, '_', '.' and '-' only",
        )
    try:
        if sandbox:
            check_sandbox_name("sandbox", sandbox)
    except AEPError as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(err)) from None
    require_connection_read(user, conn_id)
    own_sandbox = _aep_connection_sandbox(conn_id)
    if sandbox and sandbox != own_sandbox:
        # Reading is seeing the connection; reading another sandbox with it is using it.
        require_connection_edit(user, conn_id, f"reading sandbox {sandbox!r} instead of {own_sandbox!r}")
    hook, runs_hook = _page_hook(conn_id, sandbox), _page_hook(conn_id, sandbox)
    try:
        return health_cache.get(
            (conn_id, sandbox or own_sandbox), lambda: read_health(hook, runs_hook=runs_hook)
        ), None
    except Exception as err:  # the page says what went wrong instead of failing
        return None, scrub(f"reading AEP with connection {conn_id!r} failed: {err}")
    finally:
        hook.close()
        runs_hook.close()


def _aep_connection_sandbox(conn_id: str) -> str:
    """The sandbox of an ``aep`` connection; 404 when there is none, 400 when it is another type."""
    from airflow_provider_aep.hooks.aep import AEPHook

    try:
        connection = AEPHook.get_connection(conn_id)
    except Exception:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no connection {conn_id!r}") from None
    if connection.conn_type != "aep":
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"conn_id {conn_id!r} is a {connection.conn_type!r} connection; the page reads AEP with an 'aep' one",
        )
    return str(AEPHook(conn_id).sandbox_name)


def _page_hook(conn_id: str, sandbox: str | None) -> Any:
    """A hook that gives up within seconds: a person is waiting, and the api-server's threads
    are shared with all of Airflow's API."""
    from airflow_provider_aep.hooks.aep import AEPHook

    return AEPHook(conn_id, sandbox_name=sandbox or None, timeout=PAGE_TIMEOUT, retry_policy=PAGE_RETRIES)


def _with_watchers(report: HealthReport, user: Any) -> list[dict[str, Any]]:
    """The report's flows as dicts, each with the tasks of DAGs whose tasks and XComs this user may read."""
    from airflow_provider_aep.plugins.airflow_side import read_watcher_rows, watchers_by_flow

    rows = watcher_cache.get(("watchers", ""), read_watcher_rows)
    found = watchers_by_flow(rows, readable_task_results(user, {str(row[0]) for row in rows}))
    return [
        {**line.as_dict(), "watchers": [w.as_dict() for w in found.get(line.flow_id, [])]}
        for line in report.flows
    ]


def _map_index(value: str) -> int:
    """The task's map index; the UI leaves ``{MAP_INDEX}`` unfilled for a task that is not mapped."""
    if value in ("", "{MAP_INDEX}"):
        return -1
    try:
        return int(value)
    except ValueError:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, f"map_index {value[:40]!r} is not a whole number (-1: not mapped)"
        ) from None


def _task(user: Any, dag_id: str, run_id: str, task_id: str, map_index: str) -> Any:
    """The task instance's report; what it returned only for the provider's tasks."""
    from dataclasses import replace

    from airflow_provider_aep.plugins.airflow_side import read_task_report

    require_task_instance_read(user, dag_id)
    report = read_task_report(dag_id, run_id, task_id, _map_index(map_index))
    if report is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"no task instance {dag_id}.{task_id} in run {run_id!r}"
        )
    if not report.is_provider_task:
        return replace(report, returned=None, asset_events=(), read_with={})
    return report


def _run_files(user: Any, report: Any) -> dict[str, Any] | None:
    """The files of the run a task waited for, read from AEP when no asset event lists them:
    ``{"location", "files"}``, or ``{"problem"}``; None when the task names no run."""
    from airflow_provider_aep.redaction.secrets import scrub

    returned = report.returned
    if not report.is_provider_task or report.asset_events or not isinstance(returned, dict):
        return None
    if not (returned.get("run_id") and returned.get("flow_id")):
        return None
    conn_id = report.read_with.get("aep_conn_id")
    if not conn_id:
        return {"problem": "the task's connection is not known (its rendered fields are gone)"}
    try:
        require_connection_read(user, conn_id)
    except HTTPException:
        return {"problem": f"listing the run's files needs read access to connection {conn_id!r}"}
    hook = _page_hook(conn_id, report.read_with.get("sandbox_name"))
    try:
        location, files = read_run_files(
            hook, str(returned["run_id"]), str(returned["flow_id"]), report.read_with.get("storage_account")
        )
        return {"location": location, "files": files}
    except Exception as err:  # the page says what went wrong instead of failing
        return {"problem": scrub(f"reading the run's files from AEP failed: {err}")}
    finally:
        hook.close()


def _airflow_root(request: Request) -> str:
    """Airflow's own root path, for links to its pages (the app is mounted one level below)."""
    return str(request.scope.get("root_path", "")).rsplit("/", 1)[0]
