"""AEPQueryTrigger: one event per query end (no SQL in it), a timeout, every failure an error event,
cancel on kill."""

from __future__ import annotations

import asyncio
import importlib
import json

from airflow_provider_aep.exceptions import AEPApiError
from airflow_provider_aep.hooks.aep_async import AEPAsyncHook
from airflow_provider_aep.triggers.query import AEPQueryTrigger

SQL = "CREATE TABLE gold AS SELECT * FROM loyalty_members WHERE email = 'secret-ish@example.com'"


class FakeClient:
    """What the async hook sends through: answers for GET, a record of every call and body."""

    def __init__(self, answers, cancel_answer=None):
        self.answers = list(answers)
        self.cancel_answer = cancel_answer
        self.sent = []

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None

    async def request(self, method, path, params=None, service="flowservice", json=None):
        self.sent.append((method, path, service, json))
        if method == "PATCH":
            if isinstance(self.cancel_answer, Exception):
                raise self.cancel_answer
            return {"message": "Query cancel request received", "statusCode": 202}
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def run_trigger(trigger, client, mocker, what="run"):
    mocker.patch("airflow_provider_aep.hooks.async_client.AsyncAEPClient", return_value=client)
    mocker.patch.object(AEPAsyncHook, "_read_settings", autospec=True, return_value=object())
    mocker.patch("asyncio.sleep", new=_no_sleep)

    async def collect():
        if what == "kill":
            return await trigger.on_kill()
        return [e.payload async for e in trigger.run()]

    return asyncio.run(collect())


async def _no_sleep(_seconds):
    return None


def q(state, **more):
    return {"id": "q-1", "state": state, "request": {"sql": SQL, "name": "n"}, **more}


def test_serializes_to_json_and_back():
    trigger = AEPQueryTrigger(query_id="q-1", aep_conn_id="c", poll_interval=3, deadline=9.5, timeout=[1, 2])
    classpath, kwargs = trigger.serialize()
    json.dumps(kwargs)
    assert classpath == "airflow_provider_aep.triggers.query.AEPQueryTrigger"
    module, _, name = classpath.rpartition(".")
    assert getattr(importlib.import_module(module), name)(**kwargs).serialize() == (classpath, kwargs)


def test_polls_until_the_query_succeeded_and_sends_no_sql_in_the_event(mocker):
    client = FakeClient(
        [q("SUBMITTED"), q("IN_PROGRESS"), q("SUCCESS", rowCount=12, elapsedTime=900, isCTAS=True)]
    )
    [event] = run_trigger(AEPQueryTrigger(query_id="q-1", poll_interval=0), client, mocker)
    assert event["status"] == "succeeded"
    assert event["query"]["rowCount"] == 12
    assert event["query"]["isCTAS"] is True
    assert "sql" not in json.dumps(event["query"]["request"])
    assert SQL not in json.dumps(event)
    assert [s[:3] for s in client.sent] == [("GET", "/queries/q-1", "query")] * 3


def test_a_failed_query_is_a_failed_event_with_aeps_words(mocker):
    error = {"code": "42P01", "message": "table not found: nope", "position": 15}
    [event] = run_trigger(
        AEPQueryTrigger(query_id="q-1", poll_interval=0), FakeClient([q("FAILED", errors=[error])]), mocker
    )
    assert event["status"] == "failed"
    assert event["message"] == "42P01: table not found: nope (at character 15 of the SQL)"
    assert event["query"]["state"] == "FAILED"


def test_the_deadline_ends_the_wait_with_a_timeout_event(mocker):
    [event] = run_trigger(
        AEPQueryTrigger(query_id="q-1", poll_interval=0, deadline=0), FakeClient([q("IN_PROGRESS")]), mocker
    )
    assert event == {"status": "timeout", "query_id": "q-1", "message": "query q-1 is still IN_PROGRESS"}


def test_an_api_error_is_an_error_event(mocker):
    failure = AEPApiError(status=403, method="GET", path="/queries/q-1", title="Forbidden")
    [event] = run_trigger(AEPQueryTrigger(query_id="q-1", poll_interval=0), FakeClient([failure]), mocker)
    assert event["status"] == "error"
    assert "HTTP 403" in event["message"]


def test_on_kill_cancels_the_query_with_adobes_patch(mocker):
    client = FakeClient([q("IN_PROGRESS")])
    run_trigger(AEPQueryTrigger(query_id="q-1"), client, mocker, what="kill")
    assert client.sent == [("PATCH", "/queries/q-1", "query", {"op": "cancel"})]


def test_on_kill_of_a_query_already_over_is_quiet(mocker):
    over = AEPApiError(status=400, method="PATCH", path="/queries/q-1", title="query is already SUCCESS")
    client = FakeClient([q("SUCCESS")], cancel_answer=over)
    logger = mocker.patch.object(AEPQueryTrigger, "log", new_callable=mocker.PropertyMock).return_value
    run_trigger(AEPQueryTrigger(query_id="q-1"), client, mocker, what="kill")
    assert client.sent[0][0] == "PATCH"
    # Nothing was cancelled, and nothing is said to have been; no warning either.
    assert logger.info.call_args_list == []
    assert logger.warning.call_args_list == []


def test_one_info_line_per_change_of_state_and_each_poll_at_debug(mocker):
    client = FakeClient([q("SUBMITTED"), q("IN_PROGRESS"), q("IN_PROGRESS"), q("IN_PROGRESS"), q("SUCCESS")])
    logger = mocker.patch.object(AEPQueryTrigger, "log", new_callable=mocker.PropertyMock).return_value
    [event] = run_trigger(AEPQueryTrigger(query_id="q-1", poll_interval=0), client, mocker)
    assert event["status"] == "succeeded"
    said = [c.args[0] % c.args[1:] for c in logger.info.call_args_list]
    assert [line.split(";")[0] for line in said] == ["Query q-1 is SUBMITTED", "Query q-1 is IN_PROGRESS"]
    assert len(logger.debug.call_args_list) == 2
