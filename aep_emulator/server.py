"""Run the emulator in a background thread: for tests, the demo, and offline DAG development."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import uvicorn

from aep_emulator.airflow_connections import aep_connection
from aep_emulator.app import Emulator
from aep_emulator.config import KEEP_ALIVE_SECONDS, EmulatorConfig


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def airflow_connection(config: EmulatorConfig, sandbox: str = "prod") -> str:
    """The ``AIRFLOW_CONN_AEP_DEFAULT`` value that points Airflow at this emulator."""
    return aep_connection(config, sandbox)


class RunningEmulator:
    """A started emulator: its URL, an admin client, and ``stop()``."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.emulator = Emulator(config)
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.emulator.app,
                host=config.host,
                port=config.port,
                log_level="warning",
                access_log=False,
                lifespan="on",
                timeout_keep_alive=KEEP_ALIVE_SECONDS,
            )
        )
        self._thread = threading.Thread(target=self._server.run, name="aep-emulator", daemon=True)
        self.admin = httpx.Client(base_url=f"{config.url}/_emulator", timeout=10)

    @property
    def url(self) -> str:
        return self.config.url

    def connection(self, sandbox: str = "prod") -> str:
        return airflow_connection(self.config, sandbox)

    def start(self, timeout: float = 15.0) -> RunningEmulator:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the AEP emulator did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.admin.close()
        self._server.should_exit = True
        self._thread.join(timeout=10)

    # -- admin helpers for tests -----------------------------------------------------------------

    def entities(self, kind: str, sandbox: str = "prod") -> dict[str, dict[str, Any]]:
        state = self.admin.get("/state").json()
        entities: dict[str, dict[str, Any]] = state["sandboxes"].get(sandbox, {}).get(kind, {})
        return entities

    def requests(self) -> list[dict[str, Any]]:
        log: list[dict[str, Any]] = self.admin.get("/requests").json()
        return log

    def add_fault(self, **rule: Any) -> None:
        self.admin.post("/faults", json=rule).raise_for_status()

    def fingerprint(self, params: dict[str, Any]) -> str:
        """The fingerprint this emulator's run records show for these auth params."""
        return self.emulator.fingerprint(params)


@contextlib.contextmanager
def running_emulator(config: EmulatorConfig | None = None, **overrides: Any) -> Iterator[RunningEmulator]:
    """Start an emulator on a free port (unless one is given) and stop it on the way out."""
    config = replace(config or EmulatorConfig(), **overrides)
    if "port" not in overrides and (config is None or config.port in (0, 8765)):
        config.port = free_port(config.host)
    running = RunningEmulator(config).start()
    try:
        yield running
    finally:
        running.stop()
