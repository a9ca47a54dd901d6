"""The rest of Flow Service a pipeline owner drives: PATCH of connections, on-demand runs,
RE_TRIGGER, which credentials a run used, Adobe's request forms and AEP's paging."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from aep_emulator.config import EmulatorConfig
from aep_emulator.server import running_emulator
from tests import seed_bodies as seed
from tests.emulator.conftest import FS, Api, as_sent
from tests.emulator.pipeline import make_pipeline

NEW_ACCESS_KEY = "AKIAIOSFODNN7ROTATED"
NEW_SECRET_KEY = "n3wS3cretK3yR0tatedByTheOwner/0123456789"
OTHER_DATASET = "5ef3e328582424191b1beb44"
ONE_TIME = {"exportMode": "DAILY_FULL_EXPORT", "timeUnit": "day", "interval": 0, "startTime": 1675901210}


def etag_of(api: Api, kind: str, entity_id: str) -> str:
    return str(api.ok("GET", f"/{kind}/{entity_id}")["items"][0]["etag"])


def patch(api: Api, kind: str, entity_id: str, ops: Any, etag: str | None = None) -> requests.Response:
    headers = {"If-Match": etag or etag_of(api, kind, entity_id)}
    return api.call("PATCH", f"/{kind}/{entity_id}", json=ops, headers=headers)


def problem(response: requests.Response, status: int, code: str) -> str:
    """The detail of an AEP problem answer, after checking its status and FLOW code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"].endswith(f"FLOW-{code}"), body["type"]
    assert body["status"] == status
    return str(body["report"]["detailed-message"])


def credentials_of(emu: Any, run_id: str) -> dict[str, Any]:
    response = emu.admin.get(f"/runs/{run_id}/credentials")
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def wait_run(api: Api, run_id: str, status: str, timeout: float = 15) -> dict[str, Any]:
    """The run once its status is ``status``."""
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = api.ok("GET", f"/runs/{run_id}")["items"][0]
        if run["metrics"]["statusSummary"]["status"] == status or time.monotonic() > deadline:
            assert run["metrics"]["statusSummary"]["status"] == status, run["metrics"]["statusSummary"]
            return run
        time.sleep(0.1)


def run_ids(api: Api, flow_id: str) -> set[str]:
    return {
        r["id"]
        for r in api.ok("GET", "/runs", params={"property": f"flowId=={flow_id}", "limit": 100})["items"]
    }


def one_time_pipeline(api: Api, **schedule: Any) -> dict[str, str]:
    ids = make_pipeline(api)
    body = seed.dataflow("amazon_s3", ids["source"], ids["target"])
    body["scheduleParams"] = {**ONE_TIME, **schedule}
    ids["flow"] = api.ok("POST", "/flows", 201, json=body)["id"]
    return ids


# -- PATCH of base connections ------------------------------------------------------------------------


def test_rotating_a_secret_gives_a_new_etag_and_keeps_it_masked(api, emu):
    ids = make_pipeline(api)
    before = etag_of(api, "connections", ids["base"])
    ops = [{"op": "replace", "path": "/auth/params/s3SecretKey", "value": NEW_SECRET_KEY}]
    response = patch(api, "connections", ids["base"], ops, before)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"id", "etag"}
    assert answer["id"] == ids["base"]
    assert answer["etag"] != before
    read = api.ok("GET", f"/connections/{ids['base']}")["items"][0]
    assert read["etag"] == answer["etag"]
    assert as_sent(read["auth"]) == {
        "specName": "Access Key",
        "params": {"s3SecretKey": "***", "s3AccessKey": seed.S3_ACCESS_KEY},
    }
    logged = json.dumps(emu.requests())
    assert NEW_SECRET_KEY not in logged
    assert NEW_SECRET_KEY not in json.dumps(emu.admin.get("/state").json())


def test_stale_and_missing_etags_on_a_connection(api):
    ids = make_pipeline(api)
    ops = [{"op": "replace", "path": "/name", "value": "renamed"}]
    stale = etag_of(api, "connections", ids["base"])
    assert patch(api, "connections", ids["base"], ops, stale).status_code == 200
    assert "stale" in problem(patch(api, "connections", ids["base"], ops, stale), 412, "1404-412")
    missing = api.call("PATCH", f"/connections/{ids['base']}", json=ops)
    assert "If-Match" in problem(missing, 400, "1403-400")
    assert problem(patch(api, "connections", "nope", ops, stale), 404, "1439-404")


@pytest.mark.parametrize("kind", ["connections", "sourceConnections", "targetConnections", "flows"])
def test_if_match_may_come_as_a_query_parameter(api, kind):
    ids = make_pipeline(api)
    entity_id = ids[
        {"connections": "base", "sourceConnections": "source", "targetConnections": "target"}.get(
            kind, "flow"
        )
    ]
    ops = [{"op": "replace", "path": "/description", "value": "from Postman"}]
    etag = etag_of(api, kind, entity_id)
    response = api.call("PATCH", f"/{kind}/{entity_id}", json=ops, params={"if-match": etag})
    assert response.status_code in (200, 202), response.text
    assert api.ok("GET", f"/{kind}/{entity_id}")["items"][0]["description"] == "from Postman"


def test_replacing_the_auth_params_whole_and_the_names(api):
    ids = make_pipeline(api)
    params = {"s3AccessKey": NEW_ACCESS_KEY, "s3SecretKey": NEW_SECRET_KEY}
    ops = [
        {"op": "Replace", "path": "/auth/params", "value": params},
        {"op": "REPLACE", "path": "/name", "value": "rotated"},
        {"op": "add", "path": "/description", "value": "keys of 2025"},
    ]
    assert patch(api, "connections", ids["base"], ops).status_code == 200
    read = api.ok("GET", f"/connections/{ids['base']}")["items"][0]
    assert as_sent(read["auth"])["params"] == {"s3AccessKey": NEW_ACCESS_KEY, "s3SecretKey": "***"}
    assert (read["name"], read["description"]) == ("rotated", "keys of 2025")


def test_the_spec_form_one_operation_with_a_trailing_slash(api):
    ids = make_pipeline(api)
    etag = etag_of(api, "connections", ids["base"])
    op = {"op": "REPLACE", "path": "/auth/params/s3AccessKey", "value": NEW_ACCESS_KEY}
    response = api.call(
        "PATCH", f"/connections/{ids['base']}/", json=op, headers={"If-Match": etag}, allow_redirects=False
    )
    assert response.status_code == 200, response.text
    assert api.ok("GET", f"/connections/{ids['base']}")["items"][0]["auth"]["params"]["s3AccessKey"] == (
        NEW_ACCESS_KEY
    )


@pytest.mark.parametrize(
    ("ops", "code", "words"),
    [
        (
            [{"op": "replace", "path": "/auth/params/s3SecretKey", "value": "too-short"}],
            "1016-400",
            "s3SecretKey",
        ),
        ([{"op": "remove", "path": "/auth/params/s3AccessKey"}], "1016-400", "s3AccessKey"),
        ([{"op": "replace", "path": "/auth/params", "value": "a-string"}], "1016-400", "auth.params"),
        ([{"op": "replace", "path": "/auth/specName", "value": "Other"}], "1006-400", "cannot be changed"),
        ([{"op": "replace", "path": "/connectionSpec/id", "value": "x"}], "1006-400", "cannot be changed"),
        ([{"op": "replace", "path": "/etag", "value": "x"}], "1006-400", "cannot be changed"),
        ([{"op": "replace", "path": "/name", "value": ""}], "1006-400", "name"),
        ([{"op": "move", "path": "/name", "from": "/description"}], "1006-400", "not supported"),
        ([], "1006-400", "non-empty"),
    ],
)
def test_bad_connection_patches_change_nothing_and_quote_no_secret(api, ops, code, words):
    ids = make_pipeline(api)
    before = api.ok("GET", f"/connections/{ids['base']}")["items"][0]
    response = patch(api, "connections", ids["base"], ops, before["etag"])
    assert words in problem(response, 400, code)
    assert "too-short" not in response.text
    assert "a-string" not in response.text
    assert api.ok("GET", f"/connections/{ids['base']}")["items"][0] == before


def test_a_connection_without_credentials_takes_no_auth_patch(api):
    base = api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["data_landing_zone"])["id"]
    ops = [{"op": "add", "path": "/auth/params", "value": {"x": "y"}}]
    assert "cannot be changed" in problem(patch(api, "connections", base, ops), 400, "1006-400")
    assert (
        patch(api, "connections", base, [{"op": "replace", "path": "/name", "value": "dlz"}]).status_code
        == 200
    )


def test_a_patch_to_auth_is_redacted_in_the_request_log_in_any_case(api, emu):
    ids = make_pipeline(api)
    ops = [
        {"op": "replace", "path": "/auth/params/s3SecretKey", "value": NEW_SECRET_KEY},
        {"op": "replace", "path": "/Auth/Params/S3SECRETKEY", "value": "typo-" + NEW_SECRET_KEY},
    ]
    patch(api, "connections", ids["base"], ops)
    logged = [r for r in emu.requests() if r["method"] == "PATCH"][-1]
    assert NEW_SECRET_KEY not in json.dumps(logged)
    assert [op["value"] for op in logged["body"]] == ["***", "***"]


def test_secrets_stay_out_of_the_state_file_and_a_restart_can_still_patch(tmp_path):
    state_file = tmp_path / "state.json"
    config = EmulatorConfig(state_file=state_file, exports_dir=tmp_path / "out")
    with running_emulator(config) as first:
        api = Api(first)
        base = api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["amazon_s3"])["id"]
        assert (
            patch(api, "connections", base, [{"op": "replace", "path": "/name", "value": "kept"}]).status_code
            == 200
        )
        token = api.headers["Authorization"]
    assert seed.S3_SECRET_KEY not in state_file.read_text()
    with running_emulator(EmulatorConfig(state_file=state_file, exports_dir=tmp_path / "out")) as second:
        again = Api(second)
        again.headers["Authorization"] = token
        ops = [{"op": "replace", "path": "/auth/params/s3AccessKey", "value": NEW_ACCESS_KEY}]
        assert patch(again, "connections", base, ops).status_code == 200  # the masked secret stands in
        bad = [{"op": "replace", "path": "/auth/params/s3SecretKey", "value": "short"}]
        assert problem(patch(again, "connections", base, bad), 400, "1016-400")
        read = again.ok("GET", f"/connections/{base}")["items"][0]
        assert as_sent(read["auth"])["params"] == {"s3SecretKey": "***", "s3AccessKey": NEW_ACCESS_KEY}


# -- PATCH of target and source connections ----------------------------------------------------------------


def test_a_new_target_path_is_where_the_next_run_writes(api, emu):
    ids = make_pipeline(api, path="first")
    api.wait_for_run(ids["flow"])
    ops = [{"op": "replace", "path": "/params/path", "value": "second/place"}]
    response = patch(api, "targetConnections", ids["target"], ops)
    assert (response.status_code, set(response.json())) == (200, {"id", "etag"})
    assert (
        api.ok("GET", f"/targetConnections/{ids['target']}")["items"][0]["params"]["path"] == "second/place"
    )
    api.wait_for_runs(ids["flow"], 2)
    paths = [f["path"] for f in emu.admin.get("/exports").json()]
    assert any("/first/" in p for p in paths)
    assert any("/second/place/" in p for p in paths)


@pytest.mark.parametrize(
    ("ops", "code", "words"),
    [
        (
            [{"op": "replace", "path": "/params/bucketName", "value": "Not A Bucket"}],
            "1016-400",
            "bucketName",
        ),
        ([{"op": "remove", "path": "/params/datasetFileType"}], "1016-400", "datasetFileType"),
        ([{"op": "replace", "path": "/params/compression", "value": "ZIP"}], "1016-400", "compression"),
        ([{"op": "replace", "path": "/params", "value": {}}], "1006-400", "cannot be changed"),
        ([{"op": "replace", "path": "/baseConnectionId", "value": "x"}], "1006-400", "cannot be changed"),
    ],
)
def test_bad_target_patches_change_nothing(api, ops, code, words):
    ids = make_pipeline(api)
    before = api.ok("GET", f"/targetConnections/{ids['target']}")["items"][0]
    assert words in problem(patch(api, "targetConnections", ids["target"], ops, before["etag"]), 400, code)
    assert api.ok("GET", f"/targetConnections/{ids['target']}")["items"][0] == before


def test_datasets_are_added_to_and_removed_from_a_source(api):
    ids = make_pipeline(api)
    add = [
        {
            "op": "add",
            "path": "/params/datasets/-",
            "value": {"dataSetId": OTHER_DATASET, "name": "AAM Realtime"},
        }
    ]
    assert patch(api, "sourceConnections", ids["source"], add).status_code == 200
    read = api.ok("GET", f"/sourceConnections/{ids['source']}")["items"][0]
    assert [d["dataSetId"] for d in read["params"]["datasets"]] == [
        seed.SOURCE_CONNECTION["params"]["datasets"][0]["dataSetId"],
        OTHER_DATASET,
    ]
    assert (
        patch(
            api, "sourceConnections", ids["source"], [{"op": "Remove", "path": "/params/datasets/0"}]
        ).status_code
        == 200
    )
    read = api.ok("GET", f"/sourceConnections/{ids['source']}")["items"][0]
    assert [d["dataSetId"] for d in read["params"]["datasets"]] == [OTHER_DATASET]


@pytest.mark.parametrize(
    ("ops", "code", "words"),
    [
        (
            [{"op": "add", "path": "/params/datasets/-", "value": {"dataSetId": "5ef3e3259ad2a1191ab7dd7d"}}],
            "1016-400",
            "twice",
        ),
        (
            [{"op": "add", "path": "/params/datasets/-", "value": {"dataSetId": "000000000000000000000000"}}],
            "1041-400",
            "not a dataset eligible",
        ),
        ([{"op": "remove", "path": "/params/datasets/0"}], "1016-400", "params.datasets"),
        ([{"op": "replace", "path": "/params/datasets", "value": "all"}], "1016-400", "params.datasets"),
        ([{"op": "replace", "path": "/connectionSpec/id", "value": "x"}], "1006-400", "cannot be changed"),
    ],
)
def test_bad_source_patches_change_nothing(api, ops, code, words):
    ids = make_pipeline(api)
    before = api.ok("GET", f"/sourceConnections/{ids['source']}")["items"][0]
    assert words in problem(patch(api, "sourceConnections", ids["source"], ops, before["etag"]), 400, code)
    assert api.ok("GET", f"/sourceConnections/{ids['source']}")["items"][0] == before


ROUTES = [
    ("connections", "base", "/description"),
    ("sourceConnections", "source", "/description"),
    ("targetConnections", "target", "/params/path"),
    ("flows", "flow", "/description"),
]


def _value_at(entity: dict[str, Any], path: str) -> Any:
    for key in path.strip("/").split("/"):
        entity = entity[key]
    return entity


@pytest.mark.parametrize("op", ["add", "Add", "ADD", "replace", "Replace", "REPLACE"])
@pytest.mark.parametrize(("kind", "key", "path"), ROUTES)
def test_json_patch_ops_in_any_case_on_every_route(api, kind, key, path, op):
    ids = make_pipeline(api)
    response = patch(api, kind, ids[key], [{"op": op, "path": path, "value": f"by-{op}"}])
    assert response.status_code in (200, 202), response.text
    assert _value_at(api.ok("GET", f"/{kind}/{ids[key]}")["items"][0], path) == f"by-{op}"


@pytest.mark.parametrize("op", ["remove", "Remove", "REMOVE"])
@pytest.mark.parametrize(("kind", "key", "path"), [r for r in ROUTES if r[2] == "/description"])
def test_remove_in_any_case_and_unsupported_ops_on_every_route(api, kind, key, path, op):
    ids = make_pipeline(api)
    patch(api, kind, ids[key], [{"op": "add", "path": path, "value": "gone soon"}])
    assert patch(api, kind, ids[key], [{"op": op, "path": path}]).status_code in (200, 202)
    assert api.ok("GET", f"/{kind}/{ids[key]}")["items"][0].get("description", "") == ""
    copied = patch(api, kind, ids[key], [{"op": "Copy", "from": "/name", "path": path}])
    assert "not supported" in problem(copied, 400, "1006-400")


# -- which credentials a run used -------------------------------------------------------------------------


def test_a_run_records_its_credentials_and_the_next_run_uses_rotated_ones(api, emu):
    ids = make_pipeline(api)
    first = api.wait_for_run(ids["flow"])
    used = credentials_of(emu, first["id"])
    sent = seed.BASE_CONNECTIONS["amazon_s3"]["auth"]["params"]
    assert used["runId"] == first["id"]
    assert used["flowId"] == ids["flow"]
    assert used["baseConnectionId"] == ids["base"]
    assert used["authSpecName"] == "Access Key"
    assert used["identifiers"] == {"s3AccessKey": seed.S3_ACCESS_KEY}
    assert used["fingerprint"] == emu.fingerprint(sent)
    assert used["attempts"] == 1
    assert seed.S3_SECRET_KEY not in json.dumps(used)

    ops = [{"op": "replace", "path": "/auth/params/s3SecretKey", "value": NEW_SECRET_KEY}]
    assert patch(api, "connections", ids["base"], ops).status_code == 200
    runs = api.wait_for_runs(ids["flow"], 2)
    later = [r for r in runs if r["createdAt"] > first["createdAt"]]
    assert later
    rotated = credentials_of(emu, later[0]["id"])
    assert rotated["fingerprint"] == emu.fingerprint({**sent, "s3SecretKey": NEW_SECRET_KEY})
    assert rotated["identifiers"] == {"s3AccessKey": seed.S3_ACCESS_KEY}
    assert NEW_SECRET_KEY not in json.dumps(rotated)


def test_credentials_of_an_unknown_run_are_a_404(emu):
    response = emu.admin.get("/runs/nope/credentials")
    assert response.status_code == 404
    assert response.json()["type"].endswith("FLOW-1439-404")


# -- POST /runs ------------------------------------------------------------------------------------------------


def test_an_on_demand_run_of_a_one_time_flow_starts_at_once_and_exports(api, emu):
    ids = one_time_pipeline(api)
    response = api.call("POST", "/runs", json={"flowId": ids["flow"], "params": {"startTime": 1675901210000}})
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == {"id", "etag"}
    run = api.ok("GET", f"/runs/{created['id']}")["items"][0]
    assert run["flowId"] == ids["flow"]
    assert run["etag"] == created["etag"]
    finished = wait_run(api, created["id"], "success")
    assert finished["metrics"]["recordSummary"]["outputRecordCount"] > 0
    assert credentials_of(emu, created["id"])["baseConnectionId"] == ids["base"]


@pytest.mark.parametrize("frequency", ["once", "ONCE", "Once"])
def test_frequency_once_in_any_case_takes_on_demand_runs(api, frequency):
    ids = make_pipeline(api)
    body = seed.dataflow("amazon_s3", ids["source"], ids["target"])
    body["scheduleParams"]["frequency"] = frequency
    flow = api.ok("POST", "/flows", 201, json=body)["id"]
    assert api.call("POST", "/runs", json={"flowId": flow}).status_code == 201


def test_runs_are_refused_for_scheduled_disabled_and_unknown_flows(api):
    ids = make_pipeline(api)
    scheduled = api.call("POST", "/runs", json={"flowId": ids["flow"]})
    assert "one-time" in problem(scheduled, 400, "1062-400")
    once = one_time_pipeline(api)["flow"]
    api.ok("POST", f"/flows/{once}/action", params={"op": "DISABLE"})
    assert "disabled" in problem(api.call("POST", "/runs", json={"flowId": once}), 400, "1061-400")
    assert problem(api.call("POST", "/runs", json={"flowId": "nope"}), 404, "1439-404")
    assert "flowId" in problem(api.call("POST", "/runs", json={"params": {}}), 400, "1006-400")
    assert problem(api.call("POST", "/runs", json=[once]), 400, "1000-400")
    bad_time = api.call("POST", "/runs", json={"flowId": once, "params": {"startTime": "soon"}})
    assert "startTime" in problem(bad_time, 400, "1006-400")


# -- RE_TRIGGER --------------------------------------------------------------------------------------------------


def test_a_failed_run_succeeds_after_one_re_trigger(api, emu):
    ids = make_pipeline(api)
    emu.add_fault(flow=ids["flow"], fail_run_attempts=1, code="CONNECTOR-2001-500")
    failed = api.wait_for_run(ids["flow"], status="failed")
    assert failed["metrics"]["statusSummary"]["errors"][0]["code"] == "CONNECTOR-2001-500"
    response = api.call("POST", f"/runs/{failed['id']}/action", params={"op": "RE_TRIGGER"})
    assert response.status_code == 200, response.text
    again = response.json()
    assert again["id"] == failed["id"]
    assert again["etag"] != failed["etag"]
    assert again["metrics"]["statusSummary"] == {"status": "inProgress"}
    assert (
        again["metrics"]["durationSummary"]["startedAtUTC"]
        > failed["metrics"]["durationSummary"]["startedAtUTC"]
    )
    assert "completedAtUTC" not in again["metrics"]["durationSummary"]
    assert "attempts" not in json.dumps(again)
    assert wait_run(api, failed["id"], "success")["metrics"]["recordSummary"]["outputRecordCount"] > 0
    assert credentials_of(emu, failed["id"])["attempts"] == 2
    assert emu.admin.get("/state").json()["run_attempts"][failed["id"]] == 2
    assert [r["fail_run_attempts"] for r in emu.admin.get("/faults").json()["run_rules"]] == [1]


def test_a_re_triggered_run_uses_the_credentials_of_its_new_start(api, emu):
    ids = make_pipeline(api)
    emu.add_fault(flow=ids["flow"], fail_run_attempts=1)
    failed = api.wait_for_run(ids["flow"], status="failed")
    ops = [{"op": "replace", "path": "/auth/params/s3SecretKey", "value": NEW_SECRET_KEY}]
    assert patch(api, "connections", ids["base"], ops).status_code == 200
    api.ok("POST", f"/runs/{failed['id']}/action", 200, params={"op": "re_trigger"})
    used = credentials_of(emu, failed["id"])
    sent = seed.BASE_CONNECTIONS["amazon_s3"]["auth"]["params"]
    assert [h["fingerprint"] for h in used["history"]] == [
        emu.fingerprint(sent),
        emu.fingerprint({**sent, "s3SecretKey": NEW_SECRET_KEY}),
    ]
    assert used["fingerprint"] == used["history"][-1]["fingerprint"]


def test_only_a_failed_run_can_be_re_triggered(api):
    ids = make_pipeline(api)
    run = api.wait_for_run(ids["flow"])
    refused = api.call("POST", f"/runs/{run['id']}/action", params={"op": "RE_TRIGGER"})
    assert "only a failed run" in problem(refused, 400, "1063-400")
    assert "RE_TRIGGER" in problem(
        api.call("POST", f"/runs/{run['id']}/action", params={"op": "CANCEL"}), 400, "1006-400"
    )
    assert problem(api.call("POST", "/runs/nope/action", params={"op": "RE_TRIGGER"}), 404, "1439-404")


def test_a_run_fault_rule_is_checked(emu):
    for bad in ({"fail_run_attempts": 0}, {"fail_run_attempts": True}, {"fail_run_attempts": 1, "flow": 3},
                {"fail_run_attempts": 1, "what": 1}):  # fmt: skip
        assert emu.admin.post("/faults", json=bad).status_code == 400


# -- ENABLE / DISABLE ----------------------------------------------------------------------------------------------


def test_a_disabled_flow_gets_no_scheduled_run(api, emu):
    ids = make_pipeline(api)
    api.ok("POST", f"/flows/{ids['flow']}/action", params={"op": "DISABLE"})
    assert api.ok("GET", f"/flows/{ids['flow']}")["items"][0]["state"] == "disabled"
    before = run_ids(api, ids["flow"])
    state = emu.emulator.state
    with state.lock:  # due at once: only the disabled state keeps it from running
        state.data["meta"]["flows"][ids["flow"]].update({"next_due": 0, "ended": False})
    emu.admin.post("/advance").raise_for_status()
    assert run_ids(api, ids["flow"]) == before
    api.ok("POST", f"/flows/{ids['flow']}/action", params={"op": "ENABLE"})
    assert api.ok("GET", f"/flows/{ids['flow']}")["items"][0]["state"] == "enabled"
    deadline = time.monotonic() + 15
    while run_ids(api, ids["flow"]) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert run_ids(api, ids["flow"]) > before


# -- Adobe's request forms --------------------------------------------------------------------------------------------


def test_every_route_is_served_with_a_trailing_slash_and_no_redirect(api):
    ids = make_pipeline(api)
    run = api.wait_for_run(ids["flow"])
    for path in (
        f"/connections/{ids['base']}/",
        f"/sourceConnections/{ids['source']}/",
        f"/targetConnections/{ids['target']}/",
        f"/flows/{ids['flow']}/",
        f"/runs/{run['id']}/",
        "/connections/",
        "/flows/",
        "/runs/",
        "/connectionSpecs/",
        "/flowSpecs/",
    ):
        response = api.call("GET", path, allow_redirects=False)
        assert response.status_code == 200, (path, response.status_code)
        assert response.json()["items"]
    created = api.call(
        "POST", "/connections/", json=seed.BASE_CONNECTIONS["data_landing_zone"], allow_redirects=False
    )
    assert created.status_code == 201
    assert (
        api.call("DELETE", f"/connections/{created.json()['id']}/", allow_redirects=False).status_code == 202
    )


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nothing-here/", 404),
        ("GET", "/connections/x/test/", 404),
        ("PUT", "/flows/x/", 405),
        ("PUT", "/runs/x", 405),
        ("DELETE", "/runs/x/", 405),
    ],
)
def test_unknown_routes_and_methods_answer_in_the_gateway_shape(api, method, path, status):
    response = api.call(method, path, allow_redirects=False)
    assert response.status_code == status
    assert response.json() == {"error_code": f"{status}000", "message": response.json()["message"]}


# -- listing parameters and paging ---------------------------------------------------------------------------------------


def _connections(api: Api, count: int) -> None:
    for i in range(count):
        api.ok(
            "POST",
            "/connections",
            201,
            json={**seed.BASE_CONNECTIONS["data_landing_zone"], "name": f"dlz-{i}"},
        )


def test_next_links_are_relative_to_flow_service_and_tokens_have_no_padding(api):
    _connections(api, 7)
    first = api.ok("GET", "/connections", params={"orderby": "name", "property": "name!=nope", "limit": 2})
    href = first["_links"]["next"]["href"]
    assert href.startswith("/connections?")
    assert not href.startswith(FS)
    token = requests.utils.urlparse(href).query.split("continuationToken=")[1]
    assert "=" not in token
    assert "%" not in token
    assert token.replace("-", "").replace("_", "").isalnum()
    names = [c["name"] for c in first["items"]]
    while "next" in first["_links"]:
        first = api.call("GET", first["_links"]["next"]["href"]).json()
        names += [c["name"] for c in first["items"]]
    assert names == [f"dlz-{i}" for i in range(7)]


def test_padded_tokens_still_read(api):
    _connections(api, 3)
    first = api.ok("GET", "/connections", params={"orderby": "name", "limit": 1})
    token = parse_qs(urlsplit(first["_links"]["next"]["href"]).query)["continuationToken"][0]
    padded = token + "=" * (-len(token) % 4)
    page = api.ok("GET", "/connections", params={"continuationToken": padded})
    assert [c["name"] for c in page["items"]] == ["dlz-1"]


def test_the_next_link_carries_only_the_token_which_remembers_the_query(api):
    """Adobe's community Python SDK reads the token as the text after the link's first ``=``."""
    _connections(api, 5)
    href = api.ok("GET", "/connections", params={"orderby": "-name", "limit": 2, "property": "name!=dlz-4"})[
        "_links"
    ]["next"]["href"]
    assert href.startswith("/connections?continuationToken=")
    assert list(parse_qs(urlsplit(href).query)) == ["continuationToken"]
    token = href.split("=", 1)[1]
    second = api.ok("GET", "/connections", params={"continuationToken": token})
    assert [c["name"] for c in second["items"]] == ["dlz-1", "dlz-0"]
    assert "next" not in second["_links"]


def test_a_forged_continuation_token_is_a_400(api):
    _connections(api, 2)
    for token in ("b2Zmc2V0OjE", "e30", "not-base64!", "eyJvZmZzZXQiOi0xLCJxdWVyeSI6W119"):
        assert "continuationToken" in problem(
            api.call("GET", "/connections", params={"continuationToken": token}), 400, "1006-400"
        )


def test_count_true_returns_the_total_that_matches(api):
    _connections(api, 7)
    counted = api.ok("GET", "/connections", params={"count": "true", "limit": 2, "property": "name!=dlz-0"})
    assert (counted["count"], len(counted["items"])) == (6, 2)
    assert "count" not in api.ok("GET", "/connections", params={"count": "false"})
    assert "count" not in api.ok("GET", "/connections")
    assert "count" in problem(api.call("GET", "/connections", params={"count": "yes"}), 400, "1006-400")


def test_orderby_takes_several_fields(api):
    _connections(api, 3)
    api.ok("POST", "/connections", 201, json={**seed.BASE_CONNECTIONS["data_landing_zone"], "name": "dlz-1"})
    listed = api.ok("GET", "/connections", params={"orderby": "-name,+createdAt", "limit": 10})["items"]
    assert [c["name"] for c in listed] == ["dlz-2", "dlz-1", "dlz-1", "dlz-0"]
    ones = [c for c in listed if c["name"] == "dlz-1"]
    assert ones[0]["createdAt"] <= ones[1]["createdAt"]
    assert problem(api.call("GET", "/connections", params={"orderby": "name,,state"}), 400, "1006-400")


def test_configs_start_and_limit_follow_the_spec(api):
    base = "/connectionSpecs/23598e46-f560-407b-88d5-ea6207e49db0/configs"
    query = {"outputType": "activationDatasets", "outputField": "datasets"}
    page = api.ok("GET", base, params={**query, "start": 2, "limit": 3})
    assert (page["pageInfo"]["start"], len(page["items"])) == (2, 3)
    for bad in ({"start": "-1"}, {"start": "x"}, {"limit": "0"}, {"limit": "101"}, {"start": "\u0663"}):
        assert api.call("GET", base, params={**query, **bad}).status_code == 400, bad
