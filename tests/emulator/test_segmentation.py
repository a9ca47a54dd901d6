"""The Segmentation API (audiences, segment jobs) and ad-hoc activation in the emulator, over HTTP."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
import requests

from aep_emulator.segments import population
from tests.emulator.conftest import Api
from tests.emulator.test_activation import SELECTOR, activate, campaign_flow

UPS = "/data/core/ups"
ADHOC = "/data/core/activation/disflowprovider/adhocrun"
V2 = {"Accept": "application/vnd.adobe.adhoc.activation+json; version=2"}
BIKES = "9f7d37fd-7039-4454-94ef-2b0cd6c3206a"
LOYALTY = "25768be6-ebd5-45cc-8913-12fb3f348613"


def call(api: Api, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {**api.headers, **kwargs.pop("headers", {})}
    return api.http.request(method, api.emulator.url + path, headers=headers, timeout=10, **kwargs)


def wait_for_job(api: Api, job_id: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = call(api, "GET", f"{UPS}/segment/jobs/{job_id}").json()
        if job["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"segment job {job_id} did not end within {timeout}s")


def problem(response: requests.Response, status: int) -> str:
    """The detail of an AEP problem-JSON answer with this status."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["type"].startswith("https://ns.adobe.com/aep/errors/")
    assert body["report"]["detailed-message"] == body["detail"]
    return str(body["detail"])


# -- audiences ------------------------------------------------------------------------------------


def test_the_examples_audiences_are_there_and_an_unknown_one_is_a_404(api):
    seeded = call(api, "GET", f"{UPS}/segment/definitions/{BIKES}")
    assert seeded.status_code == 200
    assert seeded.json()["name"] == "Interested in Mountain Biking"
    assert seeded.json()["expression"]["type"] == "PQL"
    missing = call(api, "GET", f"{UPS}/segment/definitions/no-such-audience")
    assert "no-such-audience" in problem(missing, 404)
    assert missing.json()["type"].endswith("-404")


def test_audiences_added_by_the_admin_route_belong_to_their_sandbox(api, emu):
    added = emu.admin.post("/audiences", json={"id": "vip-customers", "name": "VIP", "sandbox": "dev"})
    assert added.status_code == 200, added.text
    assert call(api, "GET", f"{UPS}/segment/definitions/vip-customers").status_code == 404
    dev = call(api, "GET", f"{UPS}/segment/definitions/vip-customers", headers={"x-sandbox-name": "dev"})
    assert dev.status_code == 200
    assert dev.json()["name"] == "VIP"
    listed = call(api, "GET", f"{UPS}/segment/definitions", headers={"x-sandbox-name": "dev"}).json()
    assert "vip-customers" in [s["id"] for s in listed["segments"]]
    assert emu.admin.post("/audiences", json={"id": "x"}).status_code == 400  # a name is required


def test_the_segmentation_api_needs_the_gateways_headers(api):
    response = requests.get(api.emulator.url + f"{UPS}/segment/definitions/{BIKES}", timeout=10)
    assert response.status_code == 401
    assert response.json()["error_code"] == "401013"


# -- segment jobs ---------------------------------------------------------------------------------


def test_a_segment_job_goes_new_processing_succeeded_with_profile_counts(api):
    created = call(api, "POST", f"{UPS}/segment/jobs", json=[{"segmentId": BIKES}, {"segmentId": LOYALTY}])
    assert created.status_code == 200, created.text
    job = created.json()
    assert job["status"] == "NEW"
    assert [s["segmentId"] for s in job["segments"]] == [BIKES, LOYALTY]
    assert job["segments"][0]["segment"]["id"] == BIKES
    assert job["_links"]["cancel"] == {"href": f"/segment/jobs/{job['id']}", "method": "DELETE"}
    assert job["metrics"]["profileSegmentationTime"] == {}  # partial until it is done
    done = wait_for_job(api, job["id"])
    assert done["status"] == "SUCCEEDED"
    metrics = done["metrics"]
    assert metrics["segmentedProfileCounter"] == {BIKES: population(BIKES), LOYALTY: population(LOYALTY)}
    assert metrics["totalProfiles"] >= max(metrics["segmentedProfileCounter"].values())
    assert metrics["totalTime"]["totalTimeInMs"] >= 0
    assert done["updateTime"] >= done["creationTime"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ([{"segmentId": "nobody-knows-it"}], "nobody-knows-it"),
        ([], "At least one"),
        ({"segmentId": BIKES}, "array"),
        ([{"segment": BIKES}], "[0].segmentId"),
        ([{"segmentId": f"s{i}"} for i in range(1501)], "1500"),
    ],
)
def test_a_job_aep_would_refuse_is_a_400_in_aeps_shape(api, body, words):
    assert words in problem(call(api, "POST", f"{UPS}/segment/jobs", json=body), 400)


def test_all_audiences_with_the_star_form(api):
    body = {"schema": {"name": "_xdm.context.profile"}, "segments": [{"segmentId": "*"}]}
    job = call(api, "POST", f"{UPS}/segment/jobs", json=body).json()
    assert job["segments"] == [{"segmentId": "*"}]
    assert BIKES in wait_for_job(api, job["id"])["metrics"]["segmentedProfileCounter"]


def test_delete_cancels_a_running_job(api):
    job = call(api, "POST", f"{UPS}/segment/jobs", json=[{"segmentId": BIKES}]).json()
    cancelled = call(api, "DELETE", f"{UPS}/segment/jobs/{job['id']}")
    assert cancelled.status_code == 200
    assert cancelled.json() == {
        "status": True,
        "message": f"Segment job with id '{job['id']}' has been marked for cancelling",
    }
    assert call(api, "GET", f"{UPS}/segment/jobs/{job['id']}").json()["status"] == "CANCELLING"
    assert wait_for_job(api, job["id"])["status"] == "CANCELLED"
    assert problem(call(api, "DELETE", f"{UPS}/segment/jobs/no-such-job"), 404)


def test_list_filters_by_status_and_by_audience(api):
    first = call(api, "POST", f"{UPS}/segment/jobs", json=[{"segmentId": BIKES}]).json()
    second = call(api, "POST", f"{UPS}/segment/jobs", json=[{"segmentId": LOYALTY}]).json()
    call(api, "DELETE", f"{UPS}/segment/jobs/{second['id']}")
    wait_for_job(api, first["id"])
    wait_for_job(api, second["id"])
    listed = call(api, "GET", f"{UPS}/segment/jobs", params={"sort": "creationTime:desc"}).json()
    assert [j["id"] for j in listed["children"]] == [second["id"], first["id"]]
    assert listed["_page"] == {"totalCount": 2, "pageSize": 2}
    succeeded = call(api, "GET", f"{UPS}/segment/jobs", params={"status": "SUCCEEDED"}).json()
    assert [j["id"] for j in succeeded["children"]] == [first["id"]]
    by_audience = call(
        api, "GET", f"{UPS}/segment/jobs", params={"property": f"segments~segmentId=={LOYALTY}"}
    )
    assert [j["id"] for j in by_audience.json()["children"]] == [second["id"]]
    paged = call(api, "GET", f"{UPS}/segment/jobs", params={"limit": 1}).json()
    assert len(paged["children"]) == 1
    assert paged["_links"]["next"]["href"] == "/segment/jobs?start=1&limit=1"
    bulk = call(api, "POST", f"{UPS}/segment/jobs/bulk-get", json={"ids": [{"id": first["id"]}]})
    assert bulk.status_code == 207
    assert bulk.json()["results"][first["id"]]["status"] == "SUCCEEDED"


def test_a_fault_rule_makes_the_next_job_for_an_audience_fail(api, emu):
    emu.add_fault(fail_segment_jobs=1, segment=LOYALTY, message="Merge policy unavailable")
    other = call(api, "POST", f"{UPS}/segment/jobs", json=[{"segmentId": BIKES}]).json()
    failing = call(api, "POST", f"{UPS}/segment/jobs", json=[{"segmentId": LOYALTY}]).json()
    again = call(api, "POST", f"{UPS}/segment/jobs", json=[{"segmentId": LOYALTY}]).json()
    assert wait_for_job(api, other["id"])["status"] == "SUCCEEDED"
    failed = wait_for_job(api, failing["id"])
    assert failed["status"] == "FAILED"
    assert failed["errors"] == [{"code": "UPS-1500-500", "message": "Merge policy unavailable"}]
    assert "segmentedProfileCounter" not in failed["metrics"]
    assert wait_for_job(api, again["id"])["status"] == "SUCCEEDED"  # the rule was for one job


def test_a_delay_rule_keeps_the_next_job_processing_until_it_is_cancelled(api, emu):
    emu.add_fault(delay_segment_jobs=1, seconds=300, segment=BIKES)
    slow = call(api, "POST", f"{UPS}/segment/jobs", json=[{"segmentId": BIKES}]).json()
    quick = call(api, "POST", f"{UPS}/segment/jobs", json=[{"segmentId": BIKES}]).json()
    assert wait_for_job(api, quick["id"])["status"] == "SUCCEEDED"  # the rule was for one job
    assert call(api, "GET", f"{UPS}/segment/jobs/{slow['id']}").json()["status"] in ("NEW", "PROCESSING")
    assert call(api, "DELETE", f"{UPS}/segment/jobs/{slow['id']}").status_code in (200, 204)
    assert wait_for_job(api, slow["id"])["status"] == "CANCELLED"
    listed = emu.admin.get("/faults").json()["segment_job_delays"]
    assert listed == [{"delay_segment_jobs": 1, "seconds": 300, "segment": BIKES, "used": 1}]


@pytest.mark.parametrize(
    ("rule", "words"),
    [({"delay_segment_jobs": 1}, "seconds"), ({"delay_segment_jobs": 0, "seconds": 1}, "at least 1")],
)
def test_a_bad_delay_rule_is_refused(emu, rule, words):
    answer = emu.admin.post("/faults", json=rule)
    assert answer.status_code == 400
    assert words in answer.text


# -- ad-hoc activation ----------------------------------------------------------------------------


@pytest.fixture
def flow(api) -> str:
    """An Adobe Campaign flow with both audiences, after its first scheduled export (and an hour)."""
    ids = campaign_flow(api)
    second = copy.deepcopy(SELECTOR)
    second["value"].update(id=LOYALTY, name="Loyalty Segment")
    assert activate(api, ids["flow"], [SELECTOR, second], ["personalEmail.address"]).status_code == 200
    api.wait_for_run(ids["flow"])
    time.sleep(0.15)  # an emulated hour at this emulator's clock (time_scale 36000)
    return ids["flow"]


def test_adhoc_activation_starts_a_run_whose_counts_are_per_audience(api, flow):
    answer = call(api, "POST", ADHOC, headers=V2, json={"activationInfo": {flow: [BIKES]}})
    assert answer.status_code == 200, answer.text
    [order] = answer.json()["order"]
    assert order["segment"] == BIKES
    assert order["order"] == flow
    run_id = order["statusURL"].rsplit("/", 1)[-1]
    assert order["statusURL"] == f"{api.emulator.url}/data/foundation/flowservice/runs/{run_id}"
    deadline = time.monotonic() + 10
    while (run := api.ok("GET", f"/runs/{run_id}")["items"][0])["metrics"]["statusSummary"][
        "status"
    ] != "success":
        assert time.monotonic() < deadline, run
        time.sleep(0.05)
    assert run["flowId"] == flow
    written = run["metrics"]["recordSummary"]["targetSummaries"][0]["entitySummaries"]
    assert [e["id"] for e in written if "path" not in e] == [
        f"segment:{BIKES}"
    ]  # only the audience asked for
    assert written[0]["outputRecordCount"] == population(BIKES)


def test_a_second_adhoc_run_of_an_audience_while_one_is_going_is_refused(api, flow):
    first = call(api, "POST", ADHOC, headers=V2, json={"activationInfo": {flow: [BIKES]}}).json()
    run_id = first["order"][0]["statusURL"].rsplit("/", 1)[-1]
    again = call(api, "POST", ADHOC, headers=V2, json={"activationInfo": {flow: [LOYALTY, BIKES]}})
    assert (
        problem(again, 409)
        == f"Run already going on for audience {BIKES} for order {flow} with run id {run_id}"
    )


def test_an_audience_not_in_the_dataflow_is_refused_by_name(api, flow, emu):
    emu.admin.post("/audiences", json={"id": "vip", "name": "VIP customers"})
    refused = call(api, "POST", ADHOC, headers=V2, json={"activationInfo": {flow: [BIKES, "vip"]}})
    assert (
        problem(refused, 400)
        == "Segments VIP customers are not part of this dataflow or out of schedule range!"
    )


@pytest.mark.parametrize(
    ("headers", "status", "words"),
    [
        ({}, 400, "exportIds"),
        ({"Accept": "application/vnd.adobe.adhoc.activation+json; version=3"}, 406, "version=2"),
    ],
)
def test_version_2_needs_its_accept_header(api, flow, headers, status, words):
    refused = call(api, "POST", ADHOC, headers=headers, json={"activationInfo": {flow: [BIKES]}})
    assert words in problem(refused, status)


def test_the_guardrails_aep_documents(api, flow):
    too_many = {flow: [f"a{i}" for i in range(81)]}
    assert "at most 80" in problem(
        call(api, "POST", ADHOC, headers=V2, json={"activationInfo": too_many}), 400
    )
    unknown = call(api, "POST", ADHOC, headers=V2, json={"activationInfo": {"no-such-flow": [BIKES]}})
    assert unknown.status_code == 404
    assert "activationInfo" in problem(call(api, "POST", ADHOC, headers=V2, json={"activationInfo": {}}), 400)


def test_no_adhoc_run_before_an_hour_after_the_first_scheduled_export(api):
    ids = campaign_flow(api)
    assert activate(api, ids["flow"], [SELECTOR], ["personalEmail.address"]).status_code == 200
    early = call(api, "POST", ADHOC, headers=V2, json={"activationInfo": {ids["flow"]: [BIKES]}})
    assert "less than an hour ago" in problem(early, 400)
