"""Small real HTTP servers on 127.0.0.1 for tests: a proxy that records what reaches it, and a
stand-in for IMS and the Flow Service that sets cookies and records the ones it gets back."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Seen:
    """One request a server received: its request line, headers and body, as sent."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes = b""
    raw: bytes = field(default=b"", repr=False)


class _Recorder(BaseHTTPRequestHandler):
    seen: list[Seen]

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _record(self) -> Seen:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(
            self.command,
            self.path,
            dict(self.headers.items()),
            body,
            self.requestline.encode() + b"\r\n" + bytes(self.headers) + body,
        )
        self.seen.append(seen)
        return seen

    def _answer(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Proxy(_Recorder):
    """Records every request (a proxied one names a whole URL) and forwards none of them."""

    def _refuse(self) -> None:
        self._record()
        self._answer(502, {"error": "the recording proxy forwards nothing"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_CONNECT = _refuse


class _Platform(_Recorder):
    """IMS and the Flow Service's ``/runs``: every answer sets a cookie naming the client."""

    def do_POST(self) -> None:
        seen = self._record()
        client_id = parse_qs(seen.body.decode()).get("client_id", ["?"])[0]
        body = {"access_token": f"token-of-{client_id}", "token_type": "bearer", "expires_in": 86399}
        self._answer(200, body, {"Set-Cookie": f"ims_session={client_id}; Path=/"})

    def do_GET(self) -> None:
        seen = self._record()
        tenant = seen.headers.get("x-api-key", "?")
        self._answer(200, {"items": []}, {"Set-Cookie": f"platform_session={tenant}; Path=/"})


@dataclass
class RunningServer:
    url: str
    seen: list[Seen]


@contextmanager
def _serving(handler: type[_Recorder]) -> Iterator[RunningServer]:
    seen: list[Seen] = []
    bound = type(handler.__name__, (handler,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), bound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield RunningServer(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def recording_proxy() -> Iterator[RunningServer]:
    """A proxy on 127.0.0.1 that records every request sent to it and answers each with 502."""
    with _serving(_Proxy) as server:
        yield server


@contextmanager
def cookie_setting_platform() -> Iterator[RunningServer]:
    """IMS (POST, any path) and Flow Service reads (GET) that set a cookie on every answer."""
    with _serving(_Platform) as server:
        yield server
