"""An idle connection stays open longer than httpx keeps one: a client never reuses a connection
the emulator has just closed (a "Server disconnected" the client must retry)."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

import httpx

from aep_emulator import cli
from aep_emulator.config import KEEP_ALIVE_SECONDS, EmulatorConfig


def test_an_idle_connection_is_still_open_after_httpx_would_have_dropped_it(emu):
    httpx_expiry = httpx.Limits(max_connections=1).keepalive_expiry
    assert httpx_expiry is not None
    assert 2 * httpx_expiry < KEEP_ALIVE_SECONDS
    address = urlsplit(emu.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
    try:
        connection.request("GET", "/_emulator/health")
        assert connection.getresponse().read()
        socket_before = connection.sock
        assert socket_before is not None
        time.sleep(httpx_expiry + 1)  # uvicorn's default would have closed it by now
        connection.request("GET", "/_emulator/health")
        answer = connection.getresponse()
        assert answer.status == 200
        assert connection.sock is socket_before  # the same connection answered
    finally:
        connection.close()


def test_the_command_line_server_keeps_idle_connections_as_long(tmp_path):
    server = cli.server(object(), EmulatorConfig(exports_dir=tmp_path), on_started=lambda: None)
    assert server.config.timeout_keep_alive == KEEP_ALIVE_SECONDS
