"""AEPSegmentJobTrigger: one event per job end, a timeout, every failure an error event, cancel on kill."""

from __future__ import annotations

import asyncio
import importlib
import json

import pytest

from airflow_provider_aep.exceptions import AEPApiError
from airflow_provider_aep.hooks.aep_async import AEPAsyncHook
from airflow_provider_aep.triggers.segment_job import AEPSegmentJobTrigger


class FakeClient:
    """What the async hook sends through: answers for GET, a record of DELETEs."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.sent = []

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return None

    async def request(self, method, path, params=None, service="flowservice"):
        self.sent.append((method, path, service))
        if method == "DELETE":
            return {"status": True}
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


def test_serializes_to_json_and_back():
    trigger = AEPSegmentJobTrigger(
        job_id="j-1", aep_conn_id="c", poll_interval=3, deadline=9.5, timeout=[1, 2]
    )
    classpath, kwargs = trigger.serialize()
    json.dumps(kwargs)
    module, _, name = classpath.rpartition(".")
    assert getattr(importlib.import_module(module), name)(**kwargs).serialize() == (classpath, kwargs)


def test_polls_until_the_job_succeeded(mocker):
    client = FakeClient(
        [
            {"id": "j-1", "status": "NEW"},
            {"id": "j-1", "status": "PROCESSING"},
            {
                "id": "j-1",
                "status": "SUCCEEDED",
                "segments": [{"segmentId": "a"}],
                "metrics": {"segmentedProfileCounter": {"a": 4}},
            },
        ]
    )
    [event] = run_trigger(AEPSegmentJobTrigger(job_id="j-1", poll_interval=0), client, mocker)
    assert event["status"] == "succeeded"
    assert event["summary"]["segments"] == [{"id": "a", "profiles": 4}]
    assert client.sent == [("GET", "/segment/jobs/j-1", "segmentation")] * 3


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED"])
def test_a_failed_job_fires_failed_with_aeps_words(mocker, status):
    client = FakeClient([{"id": "j-1", "status": status, "errors": [{"code": "C", "message": "m"}]}])
    [event] = run_trigger(AEPSegmentJobTrigger(job_id="j-1"), client, mocker)
    assert (event["status"], event["message"], event["summary"]["status"]) == ("failed", "C: m", status)


def test_past_the_deadline_it_fires_timeout(mocker):
    client = FakeClient([{"id": "j-1", "status": "PROCESSING"}])
    [event] = run_trigger(AEPSegmentJobTrigger(job_id="j-1", deadline=0.0), client, mocker)
    assert event["status"] == "timeout"
    assert "PROCESSING" in event["message"]


@pytest.mark.parametrize(
    ("failure", "words"),
    [
        (AEPApiError(status=403, method="GET", path="/segment/jobs/j-1", title="Forbidden"), "HTTP 403"),
        (ValueError("odd"), "the wait failed: ValueError: odd"),
    ],
)
def test_every_exception_becomes_an_error_event(mocker, failure, words):
    [event] = run_trigger(AEPSegmentJobTrigger(job_id="j-1"), FakeClient([failure]), mocker)
    assert event["status"] == "error"
    assert words in event["message"]


def test_on_kill_cancels_the_job(mocker):
    client = FakeClient([{}])
    run_trigger(AEPSegmentJobTrigger(job_id="j-1"), client, mocker, what="kill")
    assert client.sent == [("DELETE", "/segment/jobs/j-1", "segmentation")]
