"""One fast emulator for the session, reset before each test, and a raw HTTP client for it.

These tests speak HTTP directly (requests), not through AEPHook: they outcome_of the emulator alone.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from aep_emulator.config import EmulatorConfig
from aep_emulator.server import RunningEmulator, running_emulator

FS = "/data/foundation/flowservice"


@pytest.fixture(scope="session")
def _emulator(tmp_path_factory) -> Iterator[RunningEmulator]:
    exports = tmp_path_factory.mktemp("exports")
    config = EmulatorConfig(
        exports_dir=exports, first_run_delay=0.2, run_duration=0.3, time_scale=36000, page_size=5
    )
    with running_emulator(config) as emulator:
        yield emulator


@pytest.fixture
def emu(_emulator) -> RunningEmulator:
    _emulator.admin.post("/reset").raise_for_status()
    return _emulator


class Api:
    """Raw Flow Service calls with a valid token and the AEP headers."""

    def __init__(self, emulator: RunningEmulator, sandbox: str = "prod") -> None:
        self.emulator = emulator
        self.base = emulator.url + FS
        self.sandbox = sandbox
        self.http = requests.Session()
        token = self.http.post(
            emulator.url + "/ims/token/v3",
            data={
                "grant_type": "client_credentials",
                "client_id": emulator.config.client_id,
                "client_secret": emulator.config.client_secret,
                "scope": "openid,AdobeID",
            },
        ).json()["access_token"]
        self.headers = {
            "Authorization": f"Bearer {token}",
            "x-api-key": emulator.config.client_id,
            "x-gw-ims-org-id": emulator.config.org_id,
            "x-sandbox-name": sandbox,
        }

    def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        merged = {**self.headers, **(headers or {})}
        return self.http.request(method, self.base + path, headers=merged, timeout=10, **kwargs)

    def ok(
        self, method: str, path: str, status: int | tuple[int, ...] = (200, 201, 202), **kwargs: Any
    ) -> Any:
        response = self.call(method, path, **kwargs)
        expected = (status,) if isinstance(status, int) else status
        assert response.status_code in expected, (response.status_code, response.text)
        return response.json() if response.content else None

    def wait_for_run(self, flow_id: str, status: str = "success", timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.ok("GET", "/runs", params={"property": f"flowId=={flow_id}"})["items"]
            done = [r for r in runs if r["metrics"]["statusSummary"]["status"] == status]
            if done:
                return done[0]
            time.sleep(0.1)
        raise AssertionError(f"no {status} run of {flow_id} within {timeout}s")

    def wait_for_runs(self, flow_id: str, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        """At least ``count`` successful runs of a flow (scheduled ones come on the accelerated clock)."""
        deadline = time.monotonic() + timeout
        while True:
            filters = [f"flowId=={flow_id}", "metrics.statusSummary.status==success"]
            runs = self.ok("GET", "/runs", params={"property": filters})["items"]
            if len(runs) >= count or time.monotonic() > deadline:
                return runs
            time.sleep(0.1)


@pytest.fixture
def api(emu) -> Api:
    return Api(emu)


def as_sent(auth: dict[str, Any]) -> dict[str, Any]:
    """A connection's ``auth`` as read, without the ``authorizedDate`` AEP adds to its params
    (checked to be a date first): what the client sent, secrets masked."""
    params = dict(auth["params"])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", params.pop("authorizedDate")), auth
    return {**auth, "params": params}
