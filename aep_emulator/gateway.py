"""AEP's gateway in front of the routes, as pure ASGI: limits bodies, applies the fault plan and
records every request (the admin routes under ``/_emulator`` are neither faulted nor logged)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aep_emulator import credentials
from aep_emulator.backend import Backend
from aep_emulator.body import LOG_BODY_BYTES, BadJSON, BodyTooLarge, declared_length, parse_json, read_limited
from aep_emulator.service import SANDBOX_NAME


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

    def __init__(self, app: Any, emulator: Backend) -> None:
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
            "query": _loggable_query(scope),
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


#: Query parameters the request log never keeps the value of (IMS's v2 form carries the secret there).
SECRET_QUERY_KEYS = frozenset({"client_secret", "code", "password", "refresh_token", "access_token"})


def _loggable_query(scope: dict[str, Any]) -> str:
    """The query string as the request log keeps it: a secret parameter's value is redacted."""
    raw = scope.get("query_string", b"").decode("latin-1")
    # Keys are compared decoded: ``client%5Fsecret`` is the same parameter to the server.
    pairs = parse_qsl(raw, keep_blank_values=True)
    if not any(key.lower() in SECRET_QUERY_KEYS for key, _ in pairs):
        return raw
    return urlencode([(k, "REDACTED" if k.lower() in SECRET_QUERY_KEYS else v) for k, v in pairs])


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
