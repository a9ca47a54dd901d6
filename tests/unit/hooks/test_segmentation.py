"""AEPHook's Segmentation API and ad-hoc activation methods: paths, bodies, headers, answers."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_aep.exceptions import AEPAmbiguousWriteError, AEPApiError, AEPValidationError
from airflow_provider_aep.hooks.segmentation import (
    ADHOC_ACCEPT,
    job_errors,
    run_id_of,
    summarize_segment_job,
)
from tests.unit.fake_http import response

UPS = "/data/core/ups"


def api_calls(fake):
    return [c for c in fake.calls if not c.path.endswith("/ims/token/v3")]


def test_create_segment_job_sends_the_array_body_once(hook, fake):
    fake.queue.append(response(200, {"id": "job-1", "status": "NEW"}))
    assert hook.create_segment_job(["a", "b"]) == {"id": "job-1", "status": "NEW"}
    [call] = api_calls(fake)
    assert (call.method, call.path) == ("POST", f"{UPS}/segment/jobs")
    assert call.json == [{"segmentId": "a"}, {"segmentId": "b"}]
    assert call.headers["Content-Type"] == "application/json"


def test_a_lost_create_is_not_sent_again(hook, fake):
    fake.queue.extend([response(502, {"error_code": "502000"})] * 4)
    with pytest.raises(AEPAmbiguousWriteError):
        hook.create_segment_job(["a"])
    assert len(api_calls(fake)) == 1


@pytest.mark.parametrize(
    ("ids", "words"),
    [
        ([], "non-empty list"),
        ("a", "non-empty list"),
        (["a", "a"], "each audience once"),
        (["a/../b"], "[0]"),
    ],
)
def test_bad_audience_ids_are_refused_before_any_request(hook, fake, ids, words):
    with pytest.raises(AEPValidationError, match="segment_ids") as refused:
        hook.create_segment_job(ids)
    assert words in str(refused.value)
    assert api_calls(fake) == []


def test_more_than_1500_audiences_are_refused_without_listing_them(hook, fake):
    with pytest.raises(AEPValidationError, match="at most 1500") as refused:
        hook.create_segment_job([f"s{i}" for i in range(1501)])
    assert "s1499" not in str(refused.value)


def test_get_and_cancel_encode_the_job_id_as_one_segment(hook, fake):
    fake.queue.extend([response(200, {"id": "j:1", "status": "PROCESSING"}), response(204), response(404)])
    assert hook.get_segment_job("j:1")["status"] == "PROCESSING"
    assert hook.cancel_segment_job("j:1") is True
    assert hook.cancel_segment_job("gone") is False  # 404: nothing to cancel
    assert [(c.method, c.path) for c in api_calls(fake)] == [
        ("GET", f"{UPS}/segment/jobs/j%3A1"),
        ("DELETE", f"{UPS}/segment/jobs/j%3A1"),
        ("DELETE", f"{UPS}/segment/jobs/gone"),
    ]
    with pytest.raises(AEPValidationError, match="segment_job_id"):
        hook.get_segment_job("../flows")


def test_cancel_takes_the_documented_204_with_a_body_and_a_200(hook, fake):
    fake.queue.extend([response(200, {"status": True, "message": "marked for cancelling"})])
    assert hook.cancel_segment_job("j-1") is True


def test_missing_audiences_names_those_without_a_definition(hook, fake):
    fake.queue.extend([response(200, {"id": "a", "name": "A"}), response(404, {"title": "not found"})])
    assert hook.missing_audiences(["a", "typo", "a"]) == ["typo"]
    assert [c.path for c in api_calls(fake)] == [
        f"{UPS}/segment/definitions/a",
        f"{UPS}/segment/definitions/typo",
    ]


def test_segment_jobs_since_finds_the_job_a_lost_create_started(hook, fake):
    jobs = [
        {"id": "old", "creationTime": 100, "segments": [{"segmentId": "a"}]},
        {"id": "other", "creationTime": 300, "segments": [{"segmentId": "a"}, {"segmentId": "c"}]},
        {"id": "mine", "creationTime": 200, "segments": [{"segmentId": "b"}, {"segmentId": "a"}]},
    ]
    fake.queue.append(response(200, {"children": jobs, "_page": {"totalCount": 3}}))
    assert [j["id"] for j in hook.segment_jobs_since(["a", "b"], since_ms=150)] == ["mine"]
    [call] = api_calls(fake)
    assert ("property", "segments~segmentId==a") in call.params


def test_adhoc_activate_sends_v2_with_its_accept_header(hook, fake):
    order = [
        {
            "segment": "a",
            "order": "f-1",
            "statusURL": "https://platform.adobe.io/data/foundation/flowservice/runs/r-1",
        }
    ]
    fake.queue.append(response(200, {"order": order}))
    assert hook.adhoc_activate({"f-1": ["a", "b"]}) == {"order": order}
    [call] = api_calls(fake)
    assert (call.method, call.path) == ("POST", "/data/core/activation/disflowprovider/adhocrun")
    assert call.json == {"activationInfo": {"f-1": ["a", "b"]}}
    assert call.headers["Accept"] == ADHOC_ACCEPT
    assert call.headers["x-api-key"]


def test_adhocs_refusal_carries_aeps_message(hook, fake):
    detail = "Run already going on for audience a for order f-1 with run id r-0"
    fake.queue.append(
        response(
            409, {"type": "https://ns.adobe.com/aep/errors/X-1-409", "title": "Conflict", "detail": detail}
        )
    )
    with pytest.raises(AEPApiError, match="Run already going on"):
        hook.adhoc_activate({"f-1": ["a"]})
    assert len(api_calls(fake)) == 1  # not retried


def test_run_id_of_a_status_url():
    assert (
        run_id_of("https://platform.adobe.io/data/foundation/flowservice/runs/88d6da63-dc97")
        == "88d6da63-dc97"
    )
    with pytest.raises(Exception, match="statusURL"):
        run_id_of(None)


def test_the_summary_of_a_job_reads_both_spellings_of_the_counter():
    job = {
        "id": "j",
        "status": "SUCCEEDED",
        "segments": [{"segmentId": "a"}, {"segmentId": "b"}],
        "metrics": {
            "segmentProfileCounter": {"a": 3},
            "totalProfiles": 10,
            "totalTime": {"totalTimeInMs": 5},
        },
    }
    assert summarize_segment_job(job) == {
        "job_id": "j",
        "status": "SUCCEEDED",
        "segments": [{"id": "a", "profiles": 3}, {"id": "b", "profiles": None}],
        "total_profiles": 10,
        "duration_ms": 5,
        "errors": None,
    }
    assert (
        summarize_segment_job({"id": "j", "status": "processing", "metrics": None})["status"] == "PROCESSING"
    )
    assert job_errors({"errors": [{"code": "C-1", "msg": "boom"}, "plain"]}) == "C-1: boom; plain"


def test_no_request_reaches_a_network(fake):
    assert requests.Session.request is not None  # the fake fixture replaced it
