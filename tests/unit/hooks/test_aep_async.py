"""AEPAsyncHook: the connection read from the triggerer's loop on every Airflow 3 line, and the
Flow Service reads through the loop's shared transport."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_aep.hooks import aep_async
from airflow_provider_aep.hooks.aep_async import AEPAsyncHook
from airflow_provider_aep.hooks.async_client import CLIENTS
from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger


def test_it_is_an_airflow_hook_of_the_aep_connection_type():
    assert issubclass(AEPAsyncHook, BaseHook)
    assert (AEPAsyncHook.conn_type, AEPAsyncHook.conn_name_attr, AEPAsyncHook.default_conn_name) == (
        "aep",
        "aep_conn_id",
        "aep_default",
    )
    assert AEPAsyncHook.hook_name


# -- the connection lookup -------------------------------------------------------------------------


class TriggererComms:
    """Airflow 3.0's triggerer comms: ``send`` is ``async_to_sync(asend)``, and ``asend`` reads the
    supervisor's answer from a stream of the triggerer's event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.reader = asyncio.StreamReader()

    async def asend(self, conn_id: str) -> dict[str, str]:
        answer = json.dumps({"conn_id": conn_id}).encode() + b"\n"
        self.loop.call_soon_threadsafe(self.loop.call_later, 0.02, self.reader.feed_data, answer)
        return dict(json.loads(await self.reader.readline()))

    def send(self, conn_id: str) -> dict[str, str]:
        from asgiref.sync import async_to_sync

        return async_to_sync(self.asend)(conn_id)


def _on_a_triggerer_loop(monkeypatch: pytest.MonkeyPatch, lookup: Any) -> Any:
    """``await lookup(comms)`` on a loop whose connection lookups go through 3.0-style comms."""

    async def main() -> Any:
        comms = TriggererComms()
        monkeypatch.setattr(BaseHook, "get_connection", classmethod(lambda cls, conn_id: comms.send(conn_id)))
        return await lookup(comms)

    return asyncio.run(main())


def test_on_airflow_3_0_a_connection_is_looked_up_on_the_triggerers_own_loop(monkeypatch):
    monkeypatch.setattr(aep_async, "AIRFLOW_V_3_1_PLUS", False)

    conn = _on_a_triggerer_loop(monkeypatch, lambda comms: AEPAsyncHook.get_async_connection("aep_default"))

    assert conn == {"conn_id": "aep_default"}


def test_on_airflow_3_0_the_connection_is_read_where_the_supervisor_can_be_told(monkeypatch):
    # Reading extra_dejson masks secrets, which on 3.0 tells the supervisor through async_to_sync.
    monkeypatch.setattr(aep_async, "AIRFLOW_V_3_1_PLUS", False)

    def lookup(comms: TriggererComms) -> Any:
        return AEPAsyncHook.read_connection(
            "aep_default", lambda conn: {**conn, "told": comms.send("mask")["conn_id"]}
        )

    assert _on_a_triggerer_loop(monkeypatch, lookup) == {"conn_id": "aep_default", "told": "mask"}


def test_the_lookup_the_trigger_made_before_fails_on_airflow_3_0(monkeypatch):
    # asyncio.to_thread: async_to_sync in that thread opens a second loop, which cannot wait on
    # the triggerer's stream (what took the triggerer down in issue 12).
    with pytest.raises(RuntimeError, match="attached to a different loop"):
        _on_a_triggerer_loop(
            monkeypatch,
            lambda comms: asyncio.to_thread(BaseHook.get_connection, "aep_default"),
        )


def test_on_airflow_3_1_plus_the_async_lookup_of_airflow_is_used(monkeypatch):
    seen = []

    async def aget_connection(cls, conn_id):
        seen.append(threading.current_thread() is threading.main_thread())
        return {"conn_id": conn_id, "async": True}

    monkeypatch.setattr(aep_async, "AIRFLOW_V_3_1_PLUS", True)
    monkeypatch.setattr(BaseHook, "aget_connection", classmethod(aget_connection), raising=False)

    conn = asyncio.run(AEPAsyncHook.get_async_connection("aep_default"))

    assert conn == {"conn_id": "aep_default", "async": True}
    assert seen == [True]  # awaited on the loop, no thread


def test_the_trigger_reads_its_connection_through_the_hooks_lookup(monkeypatch):
    asked = []

    async def lookup(cls, conn_id):
        asked.append(conn_id)
        from airflow.sdk import Connection

        return Connection(
            conn_id=conn_id,
            conn_type="aep",
            login="client",
            password="secret-value-1234",
            host="http://127.0.0.1:1",
            extra=json.dumps({"org_id": "ORG@AdobeOrg", "sandbox_name": "dev"}),
        )

    monkeypatch.setattr(aep_async, "AIRFLOW_V_3_1_PLUS", True)
    monkeypatch.setattr(AEPAsyncHook, "get_async_connection", classmethod(lookup))
    trigger = AEPDataflowRunTrigger(flow_id="f1", aep_conn_id="my_aep")

    settings = asyncio.run(trigger.hook().get_settings())

    assert asked == ["my_aep"]
    assert (settings.org_id, settings.sandbox_name) == ("ORG@AdobeOrg", "dev")


# -- the shared transport --------------------------------------------------------------------------


def test_the_hook_polls_only_while_entered_and_gives_its_transport_back(aep_conn, mocker):
    import httpx

    async def send(client, request, **kwargs):
        if request.url.path.endswith("/ims/token/v3"):
            return httpx.Response(
                200, json={"access_token": "t-123456789", "expires_in": 3600}, request=request
            )
        return httpx.Response(200, json={"items": [{"id": "f-1", "state": "enabled"}]}, request=request)

    mocker.patch.object(httpx.AsyncClient, "send", send)

    async def go() -> tuple[dict[str, Any], int, int]:
        hook = AEPAsyncHook(sandbox_name="dev")
        with pytest.raises(RuntimeError, match="inside `async with`"):
            await hook.get_flow("f-1")
        async with hook:
            flow = await hook.get_flow("f-1")
            inside = CLIENTS.open_transports()
        return flow, inside, CLIENTS.open_transports()

    flow, inside, after = asyncio.run(go())
    assert flow == {"id": "f-1", "state": "enabled"}
    assert (inside, after) == (1, 0)
