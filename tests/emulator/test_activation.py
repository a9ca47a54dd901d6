"""Audience activation in the emulator, over HTTP, with the batch-activation tutorial's bodies."""

from __future__ import annotations

import copy
import csv
import re

import pytest

from aep_emulator.config import EmulatorConfig
from aep_emulator.segments import population
from aep_emulator.server import running_emulator
from tests.emulator.conftest import Api

PROFILE_STORE = {"id": "8a9c3494-9708-43d7-ae3f-cda01e5030e1", "version": "1.0"}
CAMPAIGN = {"id": "0b23e41a-cb4a-4321-a78f-3b654f5d7d97", "version": "1.0"}
SELECTOR = {
    "type": "PLATFORM_SEGMENT",
    "value": {
        "name": "Interested in Mountain Biking",
        "description": "Description of the segment that you are activating",
        "id": "9f7d37fd-7039-4454-94ef-2b0cd6c3206a",
        "filenameTemplate": "%DESTINATION_NAME%_%SEGMENT_ID%_%DATETIME(YYYYMMdd_HHmmss)%",
        "exportMode": "DAILY_FULL_EXPORT",
        "schedule": {"frequency": "ONCE", "startDate": "2021-12-20", "startTime": "17:00"},
    },
}
SEGMENTS_PATH = "/transformations/0/params/segmentSelectors/selectors/-"
PROFILE_PATH = "/transformations/0/params/profileSelectors/selectors/-"


def campaign_flow(api: Api, mode: str = "FTP") -> dict[str, str]:
    """The tutorial's steps 1-4 for Adobe Campaign with SFTP storage."""
    profile_base = api.ok("POST", "/connections", 201, json={
        "name": "Base connection to Experience Platform",
        "description": "This call establishes the connection to Experience Platform data",
        "connectionSpec": PROFILE_STORE,
    })["id"]  # fmt: skip
    source = api.ok("POST", "/sourceConnections", 201, json={
        "name": "Connecting to Profile Store", "description": "Optional", "connectionSpec": PROFILE_STORE,
        "baseConnectionId": profile_base, "data": {"format": "CSV", "schema": None}, "params": {},
    })["id"]  # fmt: skip
    base = api.ok("POST", "/connections", 201, json={
        "name": "S3 Connection for Adobe Campaign", "description": "summer advertising campaign", "connectionSpec": CAMPAIGN,
        "auth": {"specName": "SFTP with Password",
                 "params": {"domain": "example.com", "host": "sftp.example.com", "username": "u", "password": "p"}},
    })["id"]  # fmt: skip
    params = {"mode": "FTP", "remotePath": "/campaign/in", "format": "CSV"} if mode == "FTP" else {
        "mode": "S3", "bucketName": "campaign-drop", "path": "aep", "format": "CSV"}  # fmt: skip
    target = api.ok("POST", "/targetConnections", 201, json={
        "name": "TargetConnection for Adobe Campaign", "description": "Connection to Adobe Campaign",
        "baseConnectionId": base, "connectionSpec": CAMPAIGN,
        "data": {"format": "json", "schema": {"id": "1.0", "version": "1.0"}}, "params": params,
    })["id"]  # fmt: skip
    flow = api.ok("POST", "/flows", 201, json={
        "name": "Activate segments to Adobe Campaign",
        "description": "This operation creates a dataflow which we will later use to activate segments to Adobe Campaign",
        "flowSpec": {"id": "71471eba-b620-49e4-90fd-23f1fa0174d8", "version": "1.0"},
        "sourceConnectionIds": [source], "targetConnectionIds": [target],
        "transformations": [{"name": "GeneralTransform", "params": {
            "segmentSelectors": {"selectors": []}, "profileSelectors": {"selectors": []}}}],
    })["id"]  # fmt: skip
    return {"flow": flow, "target": target, "source": source}


def activate(api: Api, flow: str, selectors: list[dict], paths: list[str], **extra_ops):
    etag = api.ok("GET", f"/flows/{flow}")["items"][0]["etag"]
    ops = [{"op": "add", "path": SEGMENTS_PATH, "value": s} for s in selectors]
    ops += [
        {"op": "add", "path": PROFILE_PATH, "value": {"type": "JSON_PATH", "value": {"path": p}}}
        for p in paths
    ]
    ops += [
        {"op": "add", "path": f"/transformations/0/params/profileSelectors/{k}", "value": v}
        for k, v in extra_ops.items()
    ]
    return api.call("PATCH", f"/flows/{flow}", json=ops, headers={"If-Match": etag})


def test_the_tutorials_activation_and_validate_step(api):
    ids = campaign_flow(api)
    second = copy.deepcopy(SELECTOR)
    second["value"]["id"] = "25768be6-ebd5-45cc-8913-12fb3f348613"
    response = activate(api, ids["flow"], [SELECTOR, second], ["person.name.lastName"])
    assert response.status_code == 200
    params = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]["transformations"][0]["params"]
    assert [s["value"]["id"] for s in params["segmentSelectors"]["selectors"]] == [
        SELECTOR["value"]["id"],
        second["value"]["id"],
    ]
    assert params["segmentSelectors"]["selectors"][0]["value"]["createTime"].isdigit()
    [attribute] = params["profileSelectors"]["selectors"]
    assert attribute["value"]["operator"] == "EXISTS"
    assert attribute["value"]["mapping"]["destinationXdmPath"] == "person.name.lastName"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"schedule": {"frequency": "EVERY_6_HOURS", "startDate": "2021-12-20"}}, "frequency"),
        ({"schedule": {"frequency": "ONCE", "startDate": "2021-12-20", "endDate": "2021-12-31"}}, "endDate"),
        ({"schedule": {"frequency": "ONCE", "startDate": "20-12-2021"}}, "startDate"),
        ({"schedule": {"frequency": "ONCE", "startDate": "2021-12-20", "startTime": "5pm"}}, "startTime"),
        ({"filenameTemplate": "%SEGMENT_ID%"}, "%DESTINATION_NAME%"),
        ({"filenameTemplate": "%DESTINATION_NAME%_%SEGMENT_ID%_%DAY%"}, "unknown macros"),
        ({"exportMode": "HOURLY"}, "exportMode"),
    ],
)
def test_selector_rules(api, change, words):
    ids = campaign_flow(api)
    selector = copy.deepcopy(SELECTOR)
    selector["value"].update(change)
    response = activate(api, ids["flow"], [selector], [])
    assert response.status_code == 400
    assert response.json()["type"].endswith("FLOW-1051-400")
    assert words in response.json()["report"]["detailed-message"]


def test_a_run_per_schedule_with_counts_per_segment_and_csv_files(api, emu):
    ids = campaign_flow(api)
    second = copy.deepcopy(SELECTOR)
    second["value"].update(id="25768be6-ebd5-45cc-8913-12fb3f348613", name="Loyalty Segment")
    paths = ["person.name.firstName", "person.name.lastName", "personalEmail.address"]
    assert (
        activate(
            api, ids["flow"], [SELECTOR, second], paths, mandatoryFields=["person.name.lastName"]
        ).status_code
        == 200
    )
    run = api.wait_for_run(ids["flow"])
    records = run["metrics"]["recordSummary"]
    # As Adobe's run example: one source summary (the Profile Store connection), each audience an
    # entity ``segment:<id>`` read there and written in the target summary.
    (source,) = records["sourceSummaries"]
    assert source["id"] == ids["source"]
    read = {e["id"]: e for e in source["entitySummaries"]}
    written = {e["id"]: e for e in records["targetSummaries"][0]["entitySummaries"] if "path" not in e}
    by_segment = {}
    for segment_id in (SELECTOR["value"]["id"], second["value"]["id"]):
        size = population(segment_id)
        entity = f"segment:{segment_id}"
        assert read[entity]["inputRecordCount"] == size
        assert read[entity]["skippedRecordCount"] == size // 10  # no last name, which is mandatory
        assert (
            written[entity]["outputRecordCount"] == written[entity]["createdRecordCount"] == size - size // 10
        )
        by_segment[segment_id] = written[entity]
    assert records["skippedInfo"][0]["count"] == records["skippedRecordCount"] > 0
    files = [f["id"] for f in records["targetSummaries"][0]["entitySummaries"] if "path" in f]
    # %DATETIME% is the export's time: a start date in the past means now.
    assert re.fullmatch(
        r"prod/adobe_campaign/campaign/in/Adobe_Campaign_9f7d37fd-7039-4454-94ef-2b0cd6c3206a_\d{8}_\d{6}\.csv",
        files[0],
    )

    with (emu.config.exports_dir / files[0]).open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == paths
    assert len(rows) == by_segment[SELECTOR["value"]["id"]]["outputRecordCount"]


def test_csv_files_are_split_at_the_row_limit(tmp_path):
    with running_emulator(
        EmulatorConfig(exports_dir=tmp_path, csv_split_rows=100, first_run_delay=0.2, run_duration=0.2)
    ) as emu:
        api = Api(emu)
        ids = campaign_flow(api, mode="S3")
        assert activate(api, ids["flow"], [SELECTOR], ["personalEmail.address"]).status_code == 200
        run = api.wait_for_run(ids["flow"])
    entities = run["metrics"]["recordSummary"]["targetSummaries"][0]["entitySummaries"]
    files = [f["id"] for f in entities if "path" in f]
    size = population(SELECTOR["value"]["id"])
    assert len(files) == -(-size // 100)
    assert re.search(r"_\d{8}_\d{6}\.csv$", files[0])
    assert files[1] == files[0].removesuffix(".csv") + "_2.csv"

    assert files[0].startswith("prod/adobe_campaign/campaign-drop/aep/")
    assert sum(f["outputRecordCount"] for f in entities if "path" in f) == size


def test_incremental_segments_export_again(api):
    ids = campaign_flow(api)
    selector = copy.deepcopy(SELECTOR)
    selector["value"].update(
        exportMode="FIRST_FULL_THEN_INCREMENTAL",
        schedule={"frequency": "EVERY_3_HOURS", "startDate": "2021-12-20"},
    )
    assert activate(api, ids["flow"], [selector], ["personalEmail.address"]).status_code == 200
    runs = api.wait_for_runs(ids["flow"], 2)
    # Oldest first: the first export is full, every later one (a busy machine may see more than
    # two by now) is incremental.
    runs.sort(key=lambda r: (r["createdAt"], r["id"]))
    counts = [r["metrics"]["recordSummary"]["inputRecordCount"] for r in runs]
    size = population(selector["value"]["id"])
    assert counts[0] == size
    assert counts[1:] == [size // 20 + 1] * (len(runs) - 1)
