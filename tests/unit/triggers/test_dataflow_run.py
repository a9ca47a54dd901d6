"""The trigger: its events for every run state and failure, its polling and its serialization."""

from __future__ import annotations

import asyncio
import importlib
import json
import time

import pytest

from airflow_provider_aep.hooks.aep_async import AEPAsyncHook
from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger, _Waiting
from tests.unit.sensors.test_dataflow_run import run


def test_trigger_serializes_to_json_and_back():
    trigger = AEPDataflowRunTrigger(
        flow_id="f-1", aep_conn_id="c", since_ms=5, poll_interval=3, deadline=99.5
    )
    classpath, kwargs = trigger.serialize()
    json.dumps(kwargs)  # must be JSON-serializable
    module, _, name = classpath.rpartition(".")
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    assert classpath == "airflow_provider_aep.triggers.dataflow_run.AEPDataflowRunTrigger"


class FakeClient:
    def __init__(self, answers, flow_state="enabled"):
        self.answers = list(answers)
        self.calls = []
        self.flow_reads = 0
        self.flow_state = flow_state

    async def get_flow(self, flow_id):
        self.flow_reads += 1
        return {"id": flow_id, "state": self.flow_state}

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None

    async def list_runs(self, properties):
        self.calls.append(properties)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def events(trigger, client, mocker):
    mocker.patch("airflow_provider_aep.hooks.async_client.AsyncAEPClient", return_value=client)
    mocker.patch.object(AEPAsyncHook, "_read_settings", autospec=True, return_value=object())

    async def collect():
        return [e async for e in trigger.run()]

    return asyncio.run(collect())


def test_trigger_success_after_polling(mocker):
    client = FakeClient([[], [run(status="inProgress", records=False)], [run()]])
    trigger = AEPDataflowRunTrigger(flow_id="f-1", since_ms=7, poll_interval=0.01)
    [event] = events(trigger, client, mocker)
    assert event.payload["status"] == "success"
    assert event.payload["summary"]["output_records"] == 9
    assert len(client.calls) == 3
    assert client.calls[0] == ["flowId==f-1", "metrics.durationSummary.startedAtUTC>=7"]


def test_trigger_failure_event(mocker):
    client = FakeClient([[run(status="Failed", errors=[{"code": "E", "message": "bad"}])]])
    [event] = events(AEPDataflowRunTrigger(flow_id="f-1", poll_interval=0.01), client, mocker)
    assert event.payload["status"] == "failed"
    assert event.payload["summary"]["errors"] == [{"code": "E", "message": "bad"}]


def test_trigger_reports_timeout_at_the_deadline(mocker):
    client = FakeClient([[run(status="inProgress", records=False)]])
    trigger = AEPDataflowRunTrigger(flow_id="f-1", poll_interval=0.05, deadline=time.time() + 0.2)
    [event] = events(trigger, client, mocker)
    assert event.payload["status"] == "timeout"
    assert "inProgress" in event.payload["message"]


def test_trigger_reports_api_errors_as_events(mocker):
    from airflow_provider_aep.exceptions import AEPApiError

    client = FakeClient([AEPApiError(status=404, method="GET", path="/runs", title="Flow not found")])
    [event] = events(AEPDataflowRunTrigger(flow_id="f-1"), client, mocker)
    assert event.payload["status"] == "error"
    assert "404" in event.payload["message"]


def test_trigger_polls_about_every_interval_and_never_past_its_deadline():
    import time

    from airflow_provider_aep.utils.poll_plan import NextLook

    trigger = AEPDataflowRunTrigger(flow_id="f", poll_interval=30)
    pauses = [trigger._pause(trigger._look(None, _Waiting())) for _ in range(200)]
    assert all(27 <= p <= 33 for p in pauses)
    assert len({round(p, 3) for p in pauses}) > 100  # spread, not in lockstep
    near = AEPDataflowRunTrigger(flow_id="f", poll_interval=30, deadline=time.time() + 5)
    assert 0 <= near._pause(NextLook(30)) <= 5


def unreachable_aep(mocker, detail: str = "[Errno 111] Connection refused") -> list[str]:
    """Every request of every httpx client fails to connect; returns the URLs tried."""
    import httpx

    tried: list[str] = []

    async def send(client, request, **kwargs):
        tried.append(str(request.url))
        raise httpx.ConnectError(detail, request=request)

    mocker.patch.object(httpx.AsyncClient, "send", send)
    return tried


QUICK_RETRIES = {"max_attempts": 2, "max_total_wait": 1.0, "base_wait": 0.01, "max_wait": 0.01}


def test_a_transport_error_that_outlives_its_retries_is_an_error_event(aep_conn, mocker):
    from airflow_provider_aep.hooks.async_client import CLIENTS

    tried = unreachable_aep(mocker)
    trigger = AEPDataflowRunTrigger(flow_id="f-1", poll_interval=0.01, retry_policy=QUICK_RETRIES)

    async def go():
        return [e.payload async for e in trigger.run()], CLIENTS.open_transports()

    events_fired, open_transports = asyncio.run(go())
    # Retried as the policy says, then given up: the token's tries are not repeated by the call's.
    assert len(tried) == QUICK_RETRIES["max_attempts"]
    assert all("ims" in url for url in tried), tried
    assert events_fired == [{"status": "error", "flow_id": "f-1", "message": events_fired[0]["message"]}]
    assert "Adobe IMS could not be reached" in events_fired[0]["message"]
    assert "ConnectError" in events_fired[0]["message"]
    assert "Connection refused" in events_fired[0]["message"]
    assert open_transports == 0


def test_an_error_event_carries_no_secret_the_failure_quoted(aep_conn, mocker):
    from tests.conftest import CLIENT_SECRET

    unreachable_aep(mocker, detail=f"proxy said: client_secret={CLIENT_SECRET}")
    trigger = AEPDataflowRunTrigger(flow_id="f-1", poll_interval=0.01, retry_policy=QUICK_RETRIES)

    async def go():
        return [e.payload async for e in trigger.run()]

    [event] = asyncio.run(go())
    assert event["status"] == "error"
    assert CLIENT_SECRET not in json.dumps(event)
    assert "proxy said" in event["message"]


def test_an_unexpected_failure_is_an_error_event_too(mocker):
    class Broken(FakeClient):
        async def list_runs(self, properties):
            raise ValueError("AEP answered something unreadable")

    [event] = events(AEPDataflowRunTrigger(flow_id="f-1"), Broken([[]]), mocker)
    assert event.payload["status"] == "error"
    assert "AEP answered something unreadable" in event.payload["message"]


def test_a_cancelled_trigger_is_cancelled_not_failed(mocker):
    started = []

    class Slow(FakeClient):
        async def list_runs(self, properties):
            started.append(properties)
            await asyncio.sleep(60)
            return []

    mocker.patch("airflow_provider_aep.hooks.async_client.AsyncAEPClient", return_value=Slow([[]]))
    mocker.patch.object(AEPAsyncHook, "_read_settings", autospec=True, return_value=object())
    fired = []

    async def go():
        async def consume():
            async for event in AEPDataflowRunTrigger(flow_id="f-1").run():
                fired.append(event)

        task = asyncio.ensure_future(consume())
        while not started:
            await asyncio.sleep(0.001)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert fired == []


def test_a_connection_that_does_not_exist_is_an_error_event_naming_it(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_NO_SUCH_AEP", raising=False)

    async def go():
        return [
            e.payload async for e in AEPDataflowRunTrigger(flow_id="f-1", aep_conn_id="no_such_aep").run()
        ]

    [event] = asyncio.run(go())
    assert event["status"] == "error"
    assert "no_such_aep" in event["message"]


def test_a_long_wait_logs_one_info_line_per_change_and_each_poll_at_debug(mocker):
    waiting = [[]] * 4 + [[run(status="inProgress", records=False)]] * 3 + [[run()]]
    client = FakeClient(waiting)
    trigger = AEPDataflowRunTrigger(flow_id="f-1", since_ms=7, poll_interval=0.001)
    logger = mocker.patch.object(AEPDataflowRunTrigger, "log", new_callable=mocker.PropertyMock).return_value
    [event] = events(trigger, client, mocker)
    assert event.payload["status"] == "success"
    said = [c.args[0] % c.args[1:] for c in logger.info.call_args_list]
    assert [line.split(";")[0] for line in said] == [
        "Dataflow f-1: no run yet",
        "Dataflow f-1: run r-1 inProgress",
    ]
    assert len(logger.debug.call_args_list) == 5  # the other polls
