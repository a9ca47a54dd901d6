"""Each create is judged as AEP judges it: the good path and every rejection."""

from __future__ import annotations

import copy

import pytest

from tests import seed_bodies as seed
from tests.emulator.pipeline import make_pipeline

S3_BASE = seed.BASE_CONNECTIONS["amazon_s3"]


def _with(body, path, value):
    body = copy.deepcopy(body)
    node = body
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return body


_DELETE = object()


def _problem(response, status, code=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == status
    if code:
        assert body["type"] == f"https://ns.adobe.com/aep/errors/FLOW-{code}"
    return body["report"]["detailed-message"]


@pytest.mark.parametrize(
    ("body", "status", "code", "words"),
    [
        (
            _with(S3_BASE, "connectionSpec.id", "11111111-1111-1111-1111-111111111111"),
            400,
            "1014-400",
            "not a known connection spec",
        ),
        (_with(S3_BASE, "connectionSpec.version", _DELETE), 422, "1005-422", "version"),
        (_with(S3_BASE, "auth.specName", "Secret Key"), 400, "1017-400", "'Secret Key'"),
        (_with(S3_BASE, "auth", _DELETE), 400, "1017-400", "auth is required"),
        (
            _with(S3_BASE, "auth.params.s3AccessKey", "lowercase-key"),
            400,
            "1016-400",
            "auth.params.s3AccessKey",
        ),
        (_with(S3_BASE, "auth.params.s3SecretKey", _DELETE), 400, "1016-400", "s3SecretKey"),
        (_with(S3_BASE, "name", ""), 400, "1006-400", "name"),
    ],
)
def test_base_connection_rejections(api, body, status, code, words):
    assert words in _problem(api.call("POST", "/connections", json=body), status, code)


def test_secret_values_are_not_echoed_in_errors_or_reads(api):
    bad = _with(S3_BASE, "auth.params.s3SecretKey", "short-SECRET-value")
    response = api.call("POST", "/connections", json=bad)
    assert response.status_code == 400
    assert "short-SECRET-value" not in response.text
    created = api.ok("POST", "/connections", 201, json=S3_BASE)["id"]
    read = api.ok("GET", f"/connections/{created}")["items"][0]
    assert read["auth"]["params"]["s3SecretKey"] == "***"
    assert read["auth"]["params"]["s3AccessKey"] == seed.S3_ACCESS_KEY


def test_malformed_json_is_a_400(api):
    response = api.call(
        "POST", "/connections", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    _problem(response, 400, "1000-400")


def test_source_connection_datasets_must_exist(api):
    body = _with(seed.SOURCE_CONNECTION, "params.datasets", [{"dataSetId": "000000000000000000000000"}])
    assert "000000000000000000000000" in _problem(
        api.call("POST", "/sourceConnections", json=body), 400, "1041-400"
    )
    body = _with(seed.SOURCE_CONNECTION, "params.datasets", [])
    _problem(api.call("POST", "/sourceConnections", json=body), 400, "1016-400")


def test_target_connection_needs_a_base_connection_of_the_same_spec(api):
    target = seed.target_connection("amazon_s3", "no-such-base")
    assert "no-such-base" in _problem(api.call("POST", "/targetConnections", json=target), 400, "1032-400")
    sftp_base = api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["sftp"])["id"]
    target = seed.target_connection("amazon_s3", sftp_base)
    _problem(api.call("POST", "/targetConnections", json=target), 400, "1033-400")


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("bucketName", "Not_A_Bucket"),
        ("path", "has spaces"),
        ("datasetFileType", "CSV"),
        ("compression", "ZIP"),
    ],
)
def test_target_params_are_checked_against_the_target_spec(api, param, value):
    base = api.ok("POST", "/connections", 201, json=S3_BASE)["id"]
    body = seed.target_connection("amazon_s3", base)
    body["params"][param] = value
    assert f"params.{param}" in _problem(api.call("POST", "/targetConnections", json=body), 400, "1016-400")


def test_flow_needs_existing_connections_and_a_matching_flow_spec(api):
    ids = make_pipeline(api)
    body = seed.dataflow("amazon_s3", "missing-source", ids["target"])
    _problem(api.call("POST", "/flows", json=body), 400, "1032-400")
    body = seed.dataflow("amazon_s3", ids["source"], "missing-target")
    _problem(api.call("POST", "/flows", json=body), 400, "1032-400")
    body = seed.dataflow("sftp", ids["source"], ids["target"])  # SFTP flow spec, S3 target
    assert "does not match" in _problem(api.call("POST", "/flows", json=body), 400, "1034-400")
    body = _with(seed.dataflow("amazon_s3", ids["source"], ids["target"]), "flowSpec.id", "nope")
    _problem(api.call("POST", "/flows", json=body), 400, "1014-400")


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        ({"exportMode": "DAILY_FULL_EXPORT", "timeUnit": "day", "interval": 1}, "interval"),
        ({"exportMode": "DAILY_FULL_EXPORT", "timeUnit": "hour", "interval": 3}, "timeUnit"),
        ({"exportMode": "FIRST_FULL_THEN_INCREMENTAL", "timeUnit": "hour", "interval": 8}, "interval"),
        ({"exportMode": "WEEKLY", "timeUnit": "day", "interval": 1}, "exportMode"),
        (
            {
                "exportMode": "FIRST_FULL_THEN_INCREMENTAL",
                "timeUnit": "day",
                "interval": 1,
                "startTime": 1675901210000,
            },
            "startTime",
        ),
        (
            {
                "exportMode": "FIRST_FULL_THEN_INCREMENTAL",
                "timeUnit": "day",
                "interval": 1,
                "endTime": 1600000000,
            },
            "endTime",
        ),
    ],
)
def test_schedule_rules_table(api, schedule, words):
    ids = make_pipeline(api)
    body = seed.dataflow("amazon_s3", ids["source"], ids["target"])
    body["scheduleParams"] = {"startTime": 1675901210, **schedule}
    assert words in _problem(api.call("POST", "/flows", json=body), 400, "1050-400")


def test_missing_end_time_defaults_to_six_months(api):
    ids = make_pipeline(api)
    body = seed.dataflow("amazon_s3", ids["source"], ids["target"])
    del body["scheduleParams"]["endTime"]
    flow = api.ok("POST", "/flows", 201, json=body)["id"]
    stored = api.ok("GET", f"/flows/{flow}")["items"][0]
    assert stored["scheduleParams"]["endTime"] - stored["createdAt"] // 1000 == 183 * 86400


def _segment_pipeline(api):
    profile_base = api.ok("POST", "/connections", 201, json={
        "name": "Base connection to Experience Platform",
        "connectionSpec": {"id": "8a9c3494-9708-43d7-ae3f-cda01e5030e1", "version": "1.0"},
    })["id"]  # fmt: skip
    source = api.ok("POST", "/sourceConnections", 201, json={
        "name": "Connecting to Profile Store", "description": "Optional",
        "connectionSpec": {"id": "8a9c3494-9708-43d7-ae3f-cda01e5030e1", "version": "1.0"},
        "baseConnectionId": profile_base, "data": {"format": "CSV", "schema": None}, "params": {},
    })["id"]  # fmt: skip
    base = api.ok("POST", "/connections", 201, json={
        "name": "Connect to SFTP with password",
        "connectionSpec": {"id": "64ef4b8b-a6e0-41b5-9677-3805d1ee5dd0", "version": "1.0"},
        "auth": {"specName": "Basic Authentication for sftp", "params": {"host": "h", "username": "u", "password": "p"}},
    })["id"]  # fmt: skip
    target = api.ok("POST", "/targetConnections", 201, json={
        "name": "TargetConnection for SFTP", "baseConnectionId": base,
        "connectionSpec": {"id": "64ef4b8b-a6e0-41b5-9677-3805d1ee5dd0", "version": "1.0"},
        "data": {"format": "json", "schema": {"id": "1.0", "version": "1.0"}},
        "params": {"mode": "Cloud Storage", "remotePath": "/audiences"},
    })["id"]  # fmt: skip
    return source, target


def test_segment_flow_needs_the_general_transform(api):
    source, target = _segment_pipeline(api)
    body = {
        "name": "Activate segments to SFTP",
        "flowSpec": {"id": "71471eba-b620-49e4-90fd-23f1fa0174d8", "version": "1.0"},
        "sourceConnectionIds": [source],
        "targetConnectionIds": [target],
        "transformations": [],
    }
    assert "GeneralTransform" in _problem(api.call("POST", "/flows", json=body), 400, "1051-400")
    body["transformations"] = [
        {
            "name": "GeneralTransform",
            "params": {"segmentSelectors": {"selectors": []}, "profileSelectors": {"selectors": []}},
        }
    ]
    flow = api.ok("POST", "/flows", 201, json=body)["id"]
    stored = api.ok("GET", f"/flows/{flow}")["items"][0]
    assert "scheduleParams" not in stored
    assert stored["transformations"] == body["transformations"]


def test_profile_store_source_needs_its_own_base_connection(api):
    body = {
        "name": "Connecting to Profile Store",
        "connectionSpec": {"id": "8a9c3494-9708-43d7-ae3f-cda01e5030e1", "version": "1.0"},
        "baseConnectionId": "missing", "data": {"format": "CSV", "schema": None}, "params": {},
    }  # fmt: skip
    _problem(api.call("POST", "/sourceConnections", json=body), 400, "1032-400")
