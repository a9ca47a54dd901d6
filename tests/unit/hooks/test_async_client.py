"""Deferred sensors share one HTTP client per event loop and hosts, one token and one connection read."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from airflow_provider_aep.hooks.aep_async import AEPAsyncHook
from airflow_provider_aep.hooks.async_client import (
    CLIENTS,
    LANE_CONNECTIONS,
    LANES,
    MAX_CONNECTIONS,
    AsyncAEPClient,
)
from airflow_provider_aep.hooks.connection import AEPConnectionSettings
from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger
from tests.conftest import CLIENT_SECRET, ORG_ID, aep_conn_json

PLATFORM = "https://platform.example.test"
IMS = "https://ims.example.test/ims/token/v3"


def settings(**changes: Any) -> AEPConnectionSettings:
    values: dict[str, Any] = {
        "client_id": "demo-client-id",
        "client_secret": CLIENT_SECRET,
        "org_id": ORG_ID,
        "ims_url": IMS,
        "platform_url": PLATFORM,
    }
    return AEPConnectionSettings(**{**values, **changes})


def success_run(flow_id: str) -> dict[str, Any]:
    return {
        "id": f"run-{flow_id}",
        "flowId": flow_id,
        "createdAt": 1_700_000_000_000,
        "metrics": {
            "durationSummary": {"startedAtUTC": 1_700_000_000_000, "completedAtUTC": 1_700_000_004_500},
            "statusSummary": {"status": "success", "errors": []},
            "recordSummary": {"inputRecordCount": 3, "outputRecordCount": 3},
        },
    }


class FakePlatform:
    """Answers every client's requests in place of the network; records what each one carried."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.clients: set[int] = set()
        self.missing: set[str] = set()
        self.waiting: set[str] = set()
        self.hold: asyncio.Event | None = None
        self.in_flight = self.most_in_flight = 0

    async def __call__(
        self, client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        self.requests.append(request)
        self.clients.add(id(client))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            held = self.hold and not request.url.path.endswith("/ims/token/v3")
            await (self.hold.wait() if held and self.hold else asyncio.sleep(0))
        finally:
            self.in_flight -= 1
        if request.url.path.endswith("/ims/token/v3"):
            client_id = dict(httpx.QueryParams(request.content.decode()))["client_id"]
            body = {"access_token": f"token-for-{client_id}", "expires_in": 86400}
            return httpx.Response(200, json=body, request=request)
        flow_id = request.url.params["property"].removeprefix("flowId==")
        if flow_id in self.missing:
            body = {"error_code": "404", "title": "Flow not found"}
            return httpx.Response(404, json=body, request=request)
        run = success_run(flow_id)
        if flow_id in self.waiting:
            run["metrics"] = {
                "durationSummary": {"startedAtUTC": 1_700_000_000_000},
                "statusSummary": {"status": "inProgress"},
            }
        return httpx.Response(200, json={"items": [run]}, request=request)

    def api_calls(self) -> list[httpx.Request]:
        return [r for r in self.requests if not r.url.path.endswith("/ims/token/v3")]

    def token_calls(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path.endswith("/ims/token/v3")]


@pytest.fixture
def platform(mocker) -> FakePlatform:
    fake = FakePlatform()

    async def send(client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        return await fake(client, request, **kwargs)

    mocker.patch.object(httpx.AsyncClient, "send", send)
    return fake


def test_clients_in_one_loop_share_one_http_client_for_the_same_hosts():
    async def go() -> tuple[list[httpx.AsyncClient], httpx.AsyncClient, int]:
        async with (
            AsyncAEPClient(settings()) as a,
            AsyncAEPClient(settings(), sandbox_name="dev") as b,
            AsyncAEPClient(settings(client_id="other-client", client_secret="another-secret-123")) as c,
            AsyncAEPClient(settings(platform_url="https://platform-eu.example.test")) as elsewhere,
        ):
            return [a.http, b.http, c.http], elsewhere.http, CLIENTS.open_transports()

    same, elsewhere, open_clients = asyncio.run(go())
    assert same[0] is same[1] is same[2]
    assert elsewhere is not same[0]
    assert open_clients == 2
    assert all(client.is_closed for client in [*same, elsewhere])


def test_requests_beyond_the_bound_wait_their_turn_on_a_few_small_pools(platform):
    async def go() -> tuple[int, list[httpx.AsyncClient]]:
        platform.hold = asyncio.Event()
        async with AsyncAEPClient(settings()) as client:
            polls = asyncio.gather(*(client.list_runs([f"flowId=={n}"]) for n in range(MAX_CONNECTIONS * 3)))
            while platform.in_flight < MAX_CONNECTIONS:
                await asyncio.sleep(0.001)
            for _ in range(20):
                await asyncio.sleep(0)
            most = platform.most_in_flight
            platform.hold.set()
            await polls
            assert client._shared is not None
            return most, client._shared.lanes

    most, lanes = asyncio.run(go())
    assert most == MAX_CONNECTIONS
    assert len(platform.api_calls()) == MAX_CONNECTIONS * 3
    assert len(lanes) == LANES
    assert all(lane._transport._pool._max_connections == LANE_CONNECTIONS for lane in lanes)  # type: ignore[attr-defined]
    assert all(lane.is_closed for lane in lanes)


def test_the_last_client_out_closes_the_shared_one_and_the_next_opens_a_new_one():
    async def go() -> tuple[bool, bool, httpx.AsyncClient, httpx.AsyncClient, int]:
        first = AsyncAEPClient(settings())
        second = AsyncAEPClient(settings())
        await first.__aenter__()
        await second.__aenter__()
        shared = first.http
        await first.__aexit__(None, None, None)
        open_while_second_uses_it = not shared.is_closed
        await second.__aexit__(None, None, None)
        closed_after_the_last = shared.is_closed
        async with AsyncAEPClient(settings()) as third:
            reopened = third.http
        return open_while_second_uses_it, closed_after_the_last, shared, reopened, CLIENTS.open_transports()

    still_open, closed, shared, reopened, open_clients = asyncio.run(go())
    assert still_open
    assert closed
    assert reopened is not shared
    assert reopened.is_closed
    assert open_clients == 0


def test_each_event_loop_gets_its_own_client():
    async def borrow() -> httpx.AsyncClient:
        async with AsyncAEPClient(settings()) as client:
            return client.http

    first, second = asyncio.run(borrow()), asyncio.run(borrow())
    assert first is not second


def test_two_loops_at_once_never_share_a_client():
    """A triggerer may run loops in several threads: a client is used only by the loop that opened it."""
    loops = [asyncio.new_event_loop(), asyncio.new_event_loop()]
    clients: list[AsyncAEPClient] = [AsyncAEPClient(settings()), AsyncAEPClient(settings())]
    try:
        for loop, client in zip(loops, clients, strict=True):
            loop.run_until_complete(client.__aenter__())
        assert clients[0].http is not clients[1].http
        for loop, client in zip(loops, clients, strict=True):
            loop.run_until_complete(client.__aexit__(None, None, None))
    finally:
        for loop in loops:
            loop.close()


def test_a_shared_client_sends_each_callers_own_headers_and_one_token_per_credentials(platform):
    async def go() -> None:
        async with (
            AsyncAEPClient(settings()) as prod,
            AsyncAEPClient(settings(), sandbox_name="dev") as dev,
            AsyncAEPClient(settings(client_id="other-client", client_secret="another-secret-123")) as other,
        ):
            await asyncio.gather(
                *(c.list_runs([f"flowId=={n}"]) for n, c in enumerate([prod, dev, other] * 3))
            )

    asyncio.run(go())
    calls = platform.api_calls()
    assert len(calls) == 9
    assert 1 <= len(platform.clients) <= LANES
    assert sorted(r.headers["x-sandbox-name"] for r in calls) == ["dev"] * 3 + ["prod"] * 6
    by_key = {(r.headers["x-api-key"], r.headers["authorization"]) for r in calls}
    assert by_key == {
        ("demo-client-id", "Bearer token-for-demo-client-id"),
        ("other-client", "Bearer token-for-other-client"),
    }
    assert len(platform.token_calls()) == 2


def trigger_conn(monkeypatch, conn_id: str = "aep_default", host: str = PLATFORM) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", aep_conn_json(host, ims_url=IMS))


async def run_all(triggers: list[AEPDataflowRunTrigger]) -> list[dict[str, Any]]:
    async def first_event(trigger: AEPDataflowRunTrigger) -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    return list(await asyncio.gather(*(first_event(t) for t in triggers)))


def test_triggers_in_one_loop_share_a_client_a_token_and_a_connection_read(monkeypatch, mocker, platform):
    trigger_conn(monkeypatch)
    reads = mocker.spy(AEPAsyncHook, "_read_settings")
    triggers = [AEPDataflowRunTrigger(flow_id=f"f-{n}", poll_interval=0.01) for n in range(50)]

    async def go() -> tuple[list[dict[str, Any]], int]:
        events = await run_all(triggers)
        return events, CLIENTS.open_transports()

    events, open_clients = asyncio.run(go())
    assert [e["status"] for e in events] == ["success"] * 50
    assert [e["flow_id"] for e in events] == [f"f-{n}" for n in range(50)]
    assert reads.call_count == 1
    assert len(platform.token_calls()) == 1
    assert 1 <= len(platform.clients) <= LANES
    assert open_clients == 0


def test_triggers_of_two_connections_read_each_once_and_keep_their_own_sandbox(monkeypatch, mocker, platform):
    trigger_conn(monkeypatch)
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEV", aep_conn_json(PLATFORM, ims_url=IMS, sandbox="dev"))
    reads = mocker.spy(AEPAsyncHook, "_read_settings")
    triggers = [
        AEPDataflowRunTrigger(
            flow_id=f"f-{n}", aep_conn_id="aep_dev" if n % 2 else "aep_default", poll_interval=0.01
        )
        for n in range(10)
    ]
    events = asyncio.run(run_all(triggers))
    assert [e["status"] for e in events] == ["success"] * 10
    assert reads.call_count == 2
    sandbox_of = {
        r.url.params["property"].removeprefix("flowId=="): r.headers["x-sandbox-name"]
        for r in platform.api_calls()
    }
    assert sandbox_of == {f"f-{n}": "dev" if n % 2 else "prod" for n in range(10)}


def test_a_failing_trigger_leaves_the_others_polling(monkeypatch, platform):
    trigger_conn(monkeypatch)
    platform.missing = {"f-3"}
    triggers = [AEPDataflowRunTrigger(flow_id=f"f-{n}", poll_interval=0.01) for n in range(6)]
    events = asyncio.run(run_all(triggers))
    assert [e["status"] for e in events] == ["success", "success", "success", "error", "success", "success"]
    assert "404" in events[3]["message"]


def test_a_connection_that_cannot_be_read_fails_every_waiting_trigger_and_is_read_again_later(
    monkeypatch, mocker, platform
):
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", aep_conn_json("http://platform.example.test", ims_url=IMS))
    reads = mocker.spy(AEPAsyncHook, "_read_settings")
    triggers = [AEPDataflowRunTrigger(flow_id=f"f-{n}", poll_interval=0.01) for n in range(3)]
    events = asyncio.run(run_all(triggers))
    assert [e["status"] for e in events] == ["error"] * 3
    assert all("host" in e["message"] for e in events)
    assert platform.requests == []
    assert reads.call_count == 1

    trigger_conn(monkeypatch)
    [later] = asyncio.run(run_all([AEPDataflowRunTrigger(flow_id="f-9", poll_interval=0.01)]))
    assert later["status"] == "success"
    assert reads.call_count == 2


def test_a_cancelled_trigger_does_not_cancel_the_connection_read_of_the_others(monkeypatch, mocker, platform):
    trigger_conn(monkeypatch)
    real = AEPAsyncHook._read_settings

    async def slow(self: AEPAsyncHook) -> Any:
        await asyncio.sleep(0.05)
        return await real(self)

    mocker.patch.object(AEPAsyncHook, "_read_settings", slow)

    async def go() -> tuple[list[dict[str, Any]], int]:
        first = asyncio.ensure_future(run_all([AEPDataflowRunTrigger(flow_id="f-0", poll_interval=0.01)]))
        others = asyncio.ensure_future(run_all([AEPDataflowRunTrigger(flow_id="f-1", poll_interval=0.01)]))
        await asyncio.sleep(0.01)
        first.cancel()
        events = await others
        return events, CLIENTS.open_transports()

    events, open_clients = asyncio.run(go())
    assert [e["status"] for e in events] == ["success"]
    assert open_clients == 0


def test_a_cancelled_trigger_gives_its_client_back(monkeypatch, platform):
    trigger_conn(monkeypatch)

    async def go() -> int:
        never_done = AEPDataflowRunTrigger(flow_id="f-0", poll_interval=60)
        platform.waiting = {"f-0"}
        task = asyncio.ensure_future(run_all([never_done]))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return CLIENTS.open_transports()

    assert asyncio.run(go()) == 0


def test_a_cookie_one_tenants_platform_sets_never_rides_on_any_later_request():
    """AEP is stateless: the shared client keeps no cookie, for another tenant or the same one."""
    from tests.local_servers import cookie_setting_platform

    with cookie_setting_platform() as server:
        tenants = [
            settings(
                client_id=f"tenant-{name}", ims_url=f"{server.url}/ims/token/v3", platform_url=server.url
            )
            for name in ("a", "b")
        ]

        async def poll() -> None:
            async with AsyncAEPClient(tenants[0]) as first, AsyncAEPClient(tenants[1]) as second:
                assert first.transport_key == second.transport_key  # one shared client for both
                for client in (first, second, first, second):
                    await client.list_runs(["flowId==f-1"])

        asyncio.run(poll())

    assert [s.method for s in server.seen].count("GET") == 4
    assert [s.headers.get("Cookie") for s in server.seen] == [None] * len(server.seen)
    assert [s.headers["x-api-key"] for s in server.seen if s.method == "GET"] == [
        "tenant-a", "tenant-b", "tenant-a", "tenant-b"
    ]  # fmt: skip
