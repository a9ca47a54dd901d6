"""The emulator's HTTP face: IMS, the Flow Service routes, and admin routes under ``/_emulator``.

Every route is also served with a trailing slash (Adobe's spec and Postman collection write
some paths so), with no redirect: the path is read without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from aep_emulator import credentials
from aep_emulator.body import (
    LOG_BODY_BYTES,
    BadJSON,
    BodyTooLarge,
    declared_length,
    parse_json,
    read_limited,
)
from aep_emulator.config import EmulatorConfig
from aep_emulator.errors import EmulatedError, bad_request, flow_error, not_found
from aep_emulator.faults import FaultPlan
from aep_emulator.listing import matches, page, parse_count, parse_filters, parse_limit
from aep_emulator.patching import as_operations
from aep_emulator.run_actions import RunActions
from aep_emulator.runs import RunEngine
from aep_emulator.service import SANDBOX_NAME, FlowService, sandbox_name
from aep_emulator.state import State
from aep_emulator.validation import connection_specs, flow_specs
from airflow_provider_aep.catalog import DATA_LAKE_SPEC_ID, all_connection_specs

FS = "/data/foundation/flowservice"
_DIGITS = re.compile(r"[0-9]{1,9}", re.ASCII)
logger = logging.getLogger(__name__)
ENTITY_ROUTES = {
    "connections": "connections",
    "sourceConnections": "sourceConnections",
    "targetConnections": "targetConnections",
}


class Emulator:
    """One emulator: its state, fault plan, Flow Service behaviour and run engine."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.state = State(config.state_file)
        self.faults = FaultPlan(config.faults)
        self.service = FlowService(config, self.state, self.faults)
        self.engine = RunEngine(config, self.state, self.faults)
        self.run_actions = RunActions(self.state, self.engine)
        self.app = create_app(self)

    def fingerprint(self, params: dict[str, Any]) -> str:
        """What this emulator's run records show for these auth params (for in-process tests);
        the key stays in memory, so no route answers this."""
        return credentials.fingerprint(params, self.state.fingerprint_key)


def create_app(emulator: Emulator) -> Any:
    service, engine, state, config = emulator.service, emulator.engine, emulator.state, emulator.config
    run_actions = emulator.run_actions

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def tick() -> None:
            """The run clock; a failing tick is logged and the clock goes on."""
            while True:
                try:
                    engine.advance()
                except Exception:
                    logger.exception("AEP emulator: the run clock tick failed")
                await asyncio.sleep(0.2)

        task = asyncio.create_task(tick())
        try:
            yield
        finally:
            task.cancel()

    app = FastAPI(
        title="AEP emulator",
        docs_url="/_emulator/docs",
        openapi_url="/_emulator/openapi.json",
        lifespan=lifespan,
        redirect_slashes=False,
    )

    @app.exception_handler(EmulatedError)
    async def emulated_error(_: Request, exc: EmulatedError) -> JSONResponse:
        return JSONResponse(exc.body, status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def no_route(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        """Paths and methods the emulator does not serve, in the gateway's shape."""
        body = {"error_code": f"{exc.status_code}000", "message": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def emulator_bug(request: Request, exc: Exception) -> JSONResponse:
        """An emulator bug: a visible 500 in AEP's shape (and the traceback in the server log)."""
        detail = f"The AEP emulator failed on {request.method} {request.url.path}: {type(exc).__name__}"
        error = flow_error(500, "1000-500", "Internal Server Error", detail)
        return JSONResponse(error.body, status_code=500)

    def caller(request: Request) -> tuple[str, str]:
        """(sandbox, client id) after the gateway checks; also lets due runs happen first."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        client = service.authenticate(headers)
        engine.advance_due()
        return sandbox_name(headers), client

    async def json_body(request: Request) -> Any:
        try:
            return parse_json(await request.body())
        except BadJSON as err:
            raise bad_request(str(err), code="1000-400") from None

    def listed(request: Request, items: list[dict[str, Any]]) -> dict[str, Any]:
        return page(
            items,
            limit=parse_limit(request.query_params.get("limit")),
            token=request.query_params.get("continuationToken"),
            default_size=config.page_size,
            base_path=request.url.path.removeprefix(FS),
            query=list(request.query_params.multi_items()),
            count=parse_count(request.query_params.get("count")),
        )

    def if_match(request: Request) -> str | None:
        """``If-Match`` from the header, or the ``if-match`` query parameter (Adobe's Postman collection)."""
        return request.headers.get("if-match") or request.query_params.get("if-match")

    # -- IMS ---------------------------------------------------------------------------------------

    @app.post("/ims/token/v3")
    async def ims_token(request: Request) -> JSONResponse:
        try:
            form = dict(parse_qsl((await request.body()).decode()))
        except UnicodeDecodeError:
            raise EmulatedError(
                400, {"error": "invalid_request", "error_description": "the form is not UTF-8"}
            ) from None
        return JSONResponse(service.issue_token(form))

    # -- catalog -----------------------------------------------------------------------------------

    @app.get(f"{FS}/connectionSpecs")
    async def list_connection_specs(request: Request) -> dict[str, Any]:
        caller(request)

        filters = parse_filters(request.query_params.getlist("property"))
        return {"items": [s for s in all_connection_specs() if matches(s, filters)]}

    @app.get(f"{FS}/connectionSpecs/{{spec_id}}")
    async def get_connection_spec(spec_id: str, request: Request) -> dict[str, Any]:
        caller(request)
        spec = connection_specs().get(spec_id)
        if spec is None:
            raise not_found("Connection spec", spec_id)
        return {"items": [spec]}

    @app.get(f"{FS}/connectionSpecs/{{spec_id}}/configs")
    async def eligible_datasets(spec_id: str, request: Request) -> dict[str, Any]:
        caller(request)
        q = request.query_params
        if (
            spec_id != DATA_LAKE_SPEC_ID
            or q.get("outputType") != "activationDatasets"
            or q.get("outputField") != "datasets"
        ):
            raise bad_request(
                "configs are served for the Data Lake spec with outputType=activationDatasets&outputField=datasets"
            )
        raw_start, raw_limit = q.get("start", "0"), q.get("limit", "20")
        if not all(_DIGITS.fullmatch(v) for v in (raw_start, raw_limit)):
            raise bad_request("start and limit must be whole numbers (start from 0, limit from 1 to 100)")
        return service.eligible_datasets(int(raw_start), int(raw_limit))

    @app.get(f"{FS}/flowSpecs")
    async def list_flow_specs(request: Request) -> dict[str, Any]:
        caller(request)
        return {"items": list(flow_specs().values())}

    @app.get(f"{FS}/flowSpecs/{{spec_id}}")
    async def get_flow_spec(spec_id: str, request: Request) -> dict[str, Any]:
        caller(request)
        spec = flow_specs().get(spec_id)
        if spec is None:
            raise not_found("Flow spec", spec_id)
        return {"items": [spec]}

    # -- connections ---------------------------------------------------------------------------------

    creators = {
        "connections": service.create_connection,
        "sourceConnections": service.create_source_connection,
        "targetConnections": service.create_target_connection,
        "flows": service.create_flow,
    }

    def add_entity_routes(kind: str) -> None:
        @app.post(f"{FS}/{kind}", name=f"create_{kind}")
        async def create(request: Request) -> JSONResponse:
            sandbox, client = caller(request)
            return JSONResponse(creators[kind](sandbox, client, await json_body(request)), status_code=201)

        @app.get(f"{FS}/{kind}", name=f"list_{kind}")
        async def listing(request: Request) -> dict[str, Any]:
            sandbox, _ = caller(request)
            items = service.listing(
                sandbox, kind, request.query_params.getlist("property"), request.query_params.get("orderby")
            )
            return listed(request, items)

        @app.get(f"{FS}/{kind}/{{entity_id}}", name=f"get_{kind}")
        async def get(entity_id: str, request: Request) -> dict[str, Any]:
            sandbox, _ = caller(request)
            return {"items": [service.get(sandbox, kind, entity_id)]}

        @app.delete(f"{FS}/{kind}/{{entity_id}}", name=f"delete_{kind}")
        async def delete(entity_id: str, request: Request) -> Response:
            sandbox, _ = caller(request)
            service.delete(sandbox, kind, entity_id)
            return Response(status_code=202)

    def add_connection_patch(kind: str) -> None:
        @app.patch(f"{FS}/{kind}/{{entity_id}}", name=f"patch_{kind}")
        async def patch(entity_id: str, request: Request) -> dict[str, Any]:
            sandbox, client = caller(request)
            body = await json_body(request)
            operations = as_operations(body) if kind == "connections" else body
            return service.patch_connection(sandbox, client, kind, entity_id, if_match(request), operations)

    for kind in ("connections", "sourceConnections", "targetConnections", "flows"):
        add_entity_routes(kind)
    for kind in ("connections", "sourceConnections", "targetConnections"):
        add_connection_patch(kind)

    @app.patch(f"{FS}/flows/{{flow_id}}")
    async def patch_flow(flow_id: str, request: Request) -> JSONResponse:
        sandbox, client = caller(request)
        answer = service.patch_flow(sandbox, client, flow_id, if_match(request), await json_body(request))
        return JSONResponse(answer, status_code=202)

    @app.post(f"{FS}/flows/{{flow_id}}/action")
    async def flow_action(flow_id: str, request: Request) -> dict[str, Any]:
        sandbox, _ = caller(request)
        return service.flow_action(sandbox, flow_id, request.query_params.get("op"))

    # -- runs ----------------------------------------------------------------------------------------

    @app.get(f"{FS}/runs")
    async def list_runs(request: Request) -> dict[str, Any]:
        sandbox, _ = caller(request)
        items = service.listing(
            sandbox, "runs", request.query_params.getlist("property"), request.query_params.get("orderby")
        )
        return listed(request, items)

    @app.post(f"{FS}/runs")
    async def create_run(request: Request) -> JSONResponse:
        sandbox, _ = caller(request)
        return JSONResponse(run_actions.create(sandbox, await json_body(request)), status_code=201)

    @app.get(f"{FS}/runs/{{run_id}}")
    async def get_run(run_id: str, request: Request) -> dict[str, Any]:
        sandbox, _ = caller(request)
        return {"items": [service.get(sandbox, "runs", run_id)]}

    @app.post(f"{FS}/runs/{{run_id}}/action")
    async def run_action(run_id: str, request: Request) -> dict[str, Any]:
        sandbox, _ = caller(request)
        return run_actions.act(sandbox, run_id, request.query_params.get("op"))

    # -- admin -----------------------------------------------------------------------------------------

    @app.get("/_emulator/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "url": config.url}

    @app.get("/_emulator/state")
    async def read_state() -> dict[str, Any]:
        engine.advance(every=True)
        with state.lock:
            return {
                "sandboxes": state.data["sandboxes"],
                "tokens_issued": len(state.tokens),
                "run_attempts": run_actions.attempts(),
            }

    @app.get("/_emulator/runs/{run_id}/credentials")
    async def run_credentials(run_id: str) -> dict[str, Any]:
        """Which credentials a run used (per attempt): ids, identifiers, keyed fingerprints; no secret."""
        engine.advance(every=True)
        return run_actions.credentials(run_id)

    @app.post("/_emulator/reset")
    async def reset() -> dict[str, Any]:
        state.reset()
        emulator.faults.clear()
        return {"reset": True}

    @app.post("/_emulator/advance")
    async def advance() -> dict[str, Any]:
        engine.advance(every=True)
        return {"advanced": True}

    @app.get("/_emulator/requests")
    async def request_log() -> list[dict[str, Any]]:
        with state.lock:
            return list(state.data["requests"])

    @app.delete("/_emulator/requests")
    async def clear_request_log() -> dict[str, Any]:
        with state.lock:
            state.data["requests"].clear()
        return {"cleared": True}

    @app.get("/_emulator/faults")
    async def list_faults() -> dict[str, Any]:
        return {
            "rules": [r.as_dict() for r in emulator.faults.rules],
            "run_rules": [r.as_dict() for r in emulator.faults.run_rules],
            "failing_runs": emulator.faults.failing_runs,
        }

    @app.post("/_emulator/faults")
    async def add_faults(request: Request) -> dict[str, Any]:
        body = await json_body(request)
        rules = body.get("rules", [body]) if isinstance(body, dict) else body
        try:
            added = [emulator.faults.add(rule).as_dict() for rule in rules]
        except (TypeError, ValueError) as err:
            raise bad_request(f"fault rule not understood: {err}") from None
        return {"added": added}

    @app.delete("/_emulator/faults")
    async def clear_faults() -> dict[str, Any]:
        emulator.faults.clear()
        return {"cleared": True}

    @app.post("/_emulator/tokens/expire")
    async def expire_tokens() -> dict[str, Any]:
        return {"expired": service.expire_tokens()}

    @app.post("/_emulator/flows/{flow_id}/fail-next-run")
    async def fail_next_run(flow_id: str, request: Request) -> dict[str, Any]:
        body = await json_body(request)
        emulator.faults.fail_next_run(flow_id, (body or {}).get("errors") if isinstance(body, dict) else None)
        return {"flow": flow_id, "next_run": "fails"}

    @app.get("/_emulator/exports")
    async def exported_files() -> list[dict[str, Any]]:
        root = config.exports_dir
        if not root.exists():
            return []
        return [
            {"path": str(p.relative_to(root)), "bytes": p.stat().st_size}
            for p in sorted(root.rglob("*"))
            if p.is_file()
        ]

    @app.get("/_emulator/ui/flows/{flow_id}", response_class=HTMLResponse)
    async def flow_page(flow_id: str) -> str:
        """What the operator extra link opens when Airflow points at the emulator."""
        engine.advance(every=True)
        with state.lock:
            for sandbox in state.sandboxes():
                flow = state.entities(sandbox, "flows").get(flow_id)
                if flow is not None:
                    runs = [r for r in state.entities(sandbox, "runs").values() if r["flowId"] == flow_id]
                    break
            else:
                raise not_found("Flow", flow_id)
        rows = "".join(
            f"<tr><td>{html.escape(r['id'])}</td><td>{html.escape(r['metrics']['statusSummary']['status'])}</td>"
            f"<td>{r['metrics'].get('recordSummary', {}).get('outputRecordCount', '')}</td></tr>"
            for r in sorted(runs, key=lambda r: r["createdAt"], reverse=True)
        )
        return (
            f"<html><head><title>{html.escape(flow['name'])}</title></head><body>"
            f"<h1>{html.escape(flow['name'])}</h1><p>Dataflow {html.escape(flow_id)} in sandbox "
            f"{html.escape(flow['sandboxName'])}: {html.escape(flow['state'])}</p>"
            f"<table><tr><th>Run</th><th>Status</th><th>Records out</th></tr>{rows}</table></body></html>"
        )

    return FaultsAndLog(app, emulator)


def _replaying(messages: list[dict[str, Any]], receive: Any) -> Any:
    """A ``receive`` that hands out the body read already, then listens to the client again."""

    async def replay() -> Any:
        return messages.pop(0) if messages else await receive()

    return replay


def _echo(scope: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """An error body that quotes the request back: IMS's shape for the token endpoint (the form
    with the client secret), the gateway's elsewhere (the bearer token and the JSON body)."""
    text = raw.decode("utf-8", errors="replace")
    if scope["path"].startswith("/ims"):
        return {"error": "invalid_client", "error_description": f"could not verify {text}"}
    authorization = _headers(scope).get("authorization", "")
    return {"error_code": "400000", "message": f"rejected {authorization} with body {text}"}


class FaultsAndLog:
    """Pure ASGI around the app: limits bodies, applies the fault plan and records every request.

    Pure ASGI (not a Starlette middleware) because dropping a connection means starting a
    response and then aborting it, which only the raw ``send`` allows; and because a body over
    the limit must be refused while it streams in, before anything holds it whole.
    """

    def __init__(self, app: Any, emulator: Emulator) -> None:
        self.app = app
        self.emulator = emulator

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.time()
        status: dict[str, int] = {}
        try:
            messages = await self._read_body(scope, receive)
        except BodyTooLarge as err:
            body = {"error_code": "413001", "message": f"Request entity too large: {err}"}
            await self._send_json(send, 413, body)
            if not scope["path"].startswith("/_emulator"):
                self._log(scope, b"", 413, started, False)
            return
        raw = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        receive = _replaying(messages, receive)
        logged = scope
        scope = _without_trailing_slash(scope)
        if scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return

        async def recording_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        rule = self.emulator.faults.take(scope["method"], scope["path"])
        try:
            if rule and rule.latency:
                # AEP has the whole request before it is slow (the body was read above): a client
                # that stops waiting does not stop the work, so the entity can appear after the
                # client's read timeout.
                await asyncio.sleep(rule.latency)
            if rule and rule.expire_tokens:
                self.emulator.service.expire_tokens()
            if rule and rule.concurrent_update:
                sandbox = _headers(scope).get("x-sandbox-name") or "prod"
                if SANDBOX_NAME.fullmatch(sandbox):
                    self.emulator.service.touch_flow(sandbox, scope["path"].rstrip("/").rsplit("/", 1)[-1])
            if rule and rule.drop:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
                    }
                )
                await send({"type": "http.response.body", "body": b'{"items": [', "more_body": True})
                status["code"] = 0
                raise ConnectionAbortedError("fault plan: connection dropped mid-response")
            if rule and rule.status:
                echoed = _echo(scope, raw) if rule.echo else None
                await self._fault_response(rule.status, rule.retry_after, send, echoed)
                status["code"] = rule.status
                return
            if rule and rule.drop_after:
                await self.app(scope, receive, self._cut_off(send, status))
                return
            await self.app(scope, receive, recording_send)

        finally:
            self._log(logged, raw, status.get("code"), started, rule is not None)

    async def _read_body(self, scope: dict[str, Any], receive: Any) -> list[dict[str, Any]]:
        """The body's messages, refused (BodyTooLarge) by its declared length or as it streams in."""
        limit = self.emulator.config.max_body_bytes
        declared = declared_length(scope.get("headers", []))
        if declared is not None and declared > limit:
            raise BodyTooLarge(f"Content-Length {declared} is over the limit of {limit} bytes")
        return await read_limited(receive, limit)

    @staticmethod
    async def _send_json(send: Any, code: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": code, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    @staticmethod
    def _cut_off(send: Any, status: dict[str, int]) -> Any:
        """A ``send`` that lets the answer start, then breaks the connection: a lost response."""

        async def cut_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
                await send({**message, "headers": [*headers, (b"content-length", b"4096")]})
            elif message["type"] == "http.response.body":
                await send(
                    {"type": "http.response.body", "body": message.get("body", b"")[:2], "more_body": True}
                )
                raise ConnectionAbortedError("fault plan: response lost after the request was processed")

        return cut_send

    @staticmethod
    async def _fault_response(
        code: int, retry_after: float | None, send: Any, echoed: dict[str, Any] | None = None
    ) -> None:
        if echoed is not None:
            body = echoed
        elif code == 429:
            body = {"error_code": "429001", "message": "Too many requests"}
        else:
            body = {"error_code": f"{code}000", "message": "Service temporarily unavailable (injected fault)"}
        payload = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        if retry_after is not None:
            headers.append((b"retry-after", str(int(retry_after)).encode()))
        await send({"type": "http.response.start", "status": code, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    def _log(
        self, scope: dict[str, Any], raw: bytes, code: int | None, started: float, faulted: bool
    ) -> None:
        headers = _headers(scope)
        entry = {
            "at": started,
            "method": scope["method"],
            "path": scope["path"],
            "query": scope.get("query_string", b"").decode("latin-1"),
            "status": code,
            "sandbox": headers.get("x-sandbox-name", "prod"),
            "if_match": headers.get("if-match"),
            "body": credentials.redact(_loggable(raw, scope["path"])),
            "ms": round((time.time() - started) * 1000, 1),
            "fault": faulted,
        }
        with self.emulator.state.lock:
            self.emulator.state.log_request(entry)


def _without_trailing_slash(scope: dict[str, Any]) -> dict[str, Any]:
    """The scope with its path read without a trailing slash: ``/flows/{id}/`` is ``/flows/{id}``."""
    path = scope["path"]
    if len(path) > 1 and path.endswith("/"):
        return {**scope, "path": path.rstrip("/") or "/"}
    return scope


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    """Request headers as text; latin-1, as HTTP (and Starlette) read them, so no byte can fail."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def _loggable(raw: bytes, path: str) -> Any:
    """What the request log keeps of a body: its JSON, or a short note when it is not usable JSON."""
    if not raw:
        return None
    if len(raw) > LOG_BODY_BYTES:
        return f"<{len(raw)} bytes>"
    try:
        return parse_json(raw)
    except BadJSON:
        return "<form>" if path.startswith("/ims") else raw[:200].decode(errors="replace")
