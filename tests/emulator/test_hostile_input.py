"""No request makes the emulator answer 5xx unless a fault rule asks for it.

Malformed, deep, huge, non-UTF-8 and wrong-typed input gets AEP's 4xx shapes; a PATCH cannot
touch what AEP owns; and nothing a request stores can stop the run clock.
"""

from __future__ import annotations

import copy
import logging
import socket
import time
from typing import Any

import pytest
import requests

from aep_emulator import config as emulator_config
from aep_emulator.config import EmulatorConfig
from aep_emulator.server import running_emulator
from tests import seed_bodies as seed
from tests.emulator.conftest import FS, Api
from tests.emulator.pipeline import make_pipeline
from tests.emulator.test_activation import SELECTOR, activate, campaign_flow

DLZ = {"id": seed.DLZ_SPEC, "version": "1.0"}
PROFILE_STORE = {"id": "8a9c3494-9708-43d7-ae3f-cda01e5030e1", "version": "1.0"}
SEGMENTS_PATH = "/transformations/0/params/segmentSelectors/selectors/-"
_DELETE = object()


def _with(body: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """``body`` with one field (a dotted path) set, or removed with ``_DELETE``."""
    changed = copy.deepcopy(body)
    *parents, last = dotted.split(".")
    node = changed
    for key in parents:
        node = node[key]
    if value is _DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return changed


def _flow_problem(response: requests.Response, status: int = 400) -> str:
    """The detail of an AEP problem JSON answer, after checking its status and shape."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["type"].startswith("https://ns.adobe.com/aep/errors/FLOW-")
    return str(body["report"]["detailed-message"])


# -- bodies that are not JSON the emulator can use --------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,  # json.loads gives up with a RecursionError
        b'{"name": ' + b"[" * 70 + b"]" * 70 + b"}",  # parses, but deeper than AEP's bodies go
        b'{"name": "x", "params": NaN}',
        b'{"name": "x", "params": 1e400}',
        b"\xff\xfe{}",
        b'{"name": "x"',
        b"1" * 5000,  # an integer over Python's 4300-digit conversion limit
    ],
)
def test_bodies_that_are_not_usable_json_are_a_400(api, raw):
    response = api.call("POST", "/connections", data=raw, headers={"Content-Type": "application/json"})
    assert "request body" in _flow_problem(response)
    assert response.json()["type"].endswith("FLOW-1000-400")


@pytest.mark.parametrize("name", [r'"\ud800"', r'"ok\udfff"'])
def test_a_lone_surrogate_is_refused_so_reads_can_still_render(api, name):
    raw = b'{"name": %s, "connectionSpec": {"id": "%s", "version": "1.0"}}' % (
        name.encode(),
        seed.DLZ_SPEC.encode(),
    )
    response = api.call("POST", "/connections", data=raw, headers={"Content-Type": "application/json"})
    assert "Unicode" in _flow_problem(response)
    assert api.call("GET", "/connections").status_code == 200


def test_non_finite_numbers_are_not_stored_where_reads_would_fail(api):
    base = api.ok("POST", "/connections", 201, json={"name": "p", "connectionSpec": PROFILE_STORE})["id"]
    raw = (
        b'{"name": "s", "connectionSpec": {"id": "%s", "version": "1.0"}, "baseConnectionId": "%s",'
        b' "data": {"format": "CSV"}, "params": {"n": NaN}}'
    ) % (PROFILE_STORE["id"].encode(), base.encode())
    response = api.call("POST", "/sourceConnections", data=raw, headers={"Content-Type": "application/json"})
    _flow_problem(response)
    assert api.call("GET", "/sourceConnections").status_code == 200


def test_a_form_that_is_not_utf8_is_an_oauth_error(emu):
    response = requests.post(
        emu.url + "/ims/token/v3",
        data=b"grant_type=client_credentials&client_id=\xff",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


# -- wrong-typed fields -------------------------------------------------------------------------------


S3_BASE = seed.BASE_CONNECTIONS["amazon_s3"]
DLZ_BASE = {"name": "dlz", "connectionSpec": DLZ}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (_with(S3_BASE, "name", 5), "name"),
        (_with(S3_BASE, "description", {"a": 1}), "description"),
        (_with(S3_BASE, "connectionSpec", "4fce964d"), "connectionSpec"),
        (_with(S3_BASE, "connectionSpec.version", {"v": 1}), "version"),
        (_with(S3_BASE, "auth.params", ["s3AccessKey"]), "auth.params"),
        (_with(DLZ_BASE, "auth", {"specName": [1], "params": [1]}), None),  # ignored: DLZ takes none
    ],
)
def test_wrong_typed_connection_fields(api, body, words):
    response = api.call("POST", "/connections", json=body)
    if words is None:
        assert response.status_code == 201
        created = api.ok("GET", f"/connections/{response.json()['id']}")["items"][0]
        assert "auth" not in created
        return
    assert words in _flow_problem(response)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("params", [{"dataSetId": "5ef3e3259ad2a1191ab7dd7d"}]),
        ("params.datasets", [1, "x"]),
        ("params.datasets", [{"dataSetId": ["5ef3e3259ad2a1191ab7dd7d"]}]),
        ("params.datasets", "5ef3e3259ad2a1191ab7dd7d"),
    ],
)
def test_wrong_typed_data_lake_source_fields(api, field, value):
    _flow_problem(api.call("POST", "/sourceConnections", json=_with(seed.SOURCE_CONNECTION, field, value)))


@pytest.mark.parametrize(("field", "value"), [("data", ["CSV"]), ("data", "CSV"), ("params", [1])])
def test_wrong_typed_profile_store_source_fields(api, field, value):
    base = api.ok("POST", "/connections", 201, json={"name": "p", "connectionSpec": PROFILE_STORE})["id"]
    body = {
        "name": "s",
        "connectionSpec": PROFILE_STORE,
        "baseConnectionId": base,
        "data": {"format": "CSV"},
        "params": {},
    }
    assert field in _flow_problem(api.call("POST", "/sourceConnections", json=_with(body, field, value)))


@pytest.mark.parametrize(
    ("field", "value"), [("params", ["x"]), ("data", [1]), ("baseConnectionId", {"id": 1})]
)
def test_wrong_typed_target_fields(api, field, value):
    base = api.ok("POST", "/connections", 201, json=S3_BASE)["id"]
    body = _with(seed.target_connection("amazon_s3", base), field, value)
    _flow_problem(api.call("POST", "/targetConnections", json=body))


FLOW_CHANGES = [
    ("flowSpec", ["269ba276-16fc-47db-92b0-c1049a3c131f", "1.0"]),
    ("flowSpec", "269ba276-16fc-47db-92b0-c1049a3c131f"),
    ("flowSpec.id", {"id": "x"}),
    ("flowSpec.version", 1),
    ("sourceConnectionIds", "abc"),
    ("sourceConnectionIds", [{"id": "abc"}]),
    ("targetConnectionIds", 5),
    ("transformations", 5),
    ("transformations", [1]),
    ("description", ["text"]),
    ("scheduleParams", [1]),
    ("scheduleParams.exportMode", ["DAILY_FULL_EXPORT"]),
    ("scheduleParams.timeUnit", ["hour"]),
    ("scheduleParams.interval", True),
    ("scheduleParams.startTime", 10**20),
    ("scheduleParams.startTime", -1),
    ("scheduleParams.startTime", "1675901210"),
    ("scheduleParams.startTime", 1.5),
    ("scheduleParams.endTime", 2**70),
    ("scheduleParams.foldernameTemplate", 5),
    ("scheduleParams.foldernameTemplate", "x" * 1000),
    ("scheduleParams.folderNameTemplate", ["%DATASET_ID%"]),
]


@pytest.mark.parametrize(("field", "value"), FLOW_CHANGES)
def test_wrong_typed_dataset_flow_fields(api, field, value):
    ids = make_pipeline(api)
    body = _with(seed.dataflow("amazon_s3", ids["source"], ids["target"]), field, value)
    _flow_problem(api.call("POST", "/flows", json=body))
    assert api.call("GET", "/flows").status_code == 200


SELECTOR_CHANGES = [
    ("type", ["PLATFORM_SEGMENT"]),
    ("value", "seg"),
    ("value.id", ["seg"]),
    ("value.id", 7),
    ("value.name", {"n": 1}),
    ("value.exportMode", ["DAILY_FULL_EXPORT"]),
    ("value.schedule", ["ONCE"]),
    ("value.schedule.frequency", ["ONCE"]),
    ("value.schedule.startDate", "2024-02-30"),
    ("value.schedule.startDate", "0000-01-01"),
    ("value.schedule.startDate", "2024-01-01\n"),
    ("value.schedule.startDate", "\uff12\uff10\uff12\uff14-01-01"),  # full-width digits
    ("value.schedule.startDate", 20240101),
    ("value.schedule.startTime", "24:00"),
    ("value.schedule.startTime", "\uff11\uff12:00"),
    ("value.filenameTemplate", 5),
    ("value.filenameTemplate", ["%DESTINATION_NAME%", "%SEGMENT_ID%"]),
]


@pytest.mark.parametrize(("field", "value"), SELECTOR_CHANGES)
def test_wrong_typed_selectors_in_an_activation_patch(api, field, value):
    flow = campaign_flow(api)["flow"]
    before = api.ok("GET", f"/flows/{flow}")["items"][0]
    response = activate(api, flow, [_with(SELECTOR, field, value)], ["person.name.lastName"])
    assert response.json()["type"].endswith("FLOW-1051-400"), response.text
    assert api.ok("GET", f"/flows/{flow}")["items"][0]["etag"] == before["etag"]


def test_an_end_date_before_the_start_date_is_refused(api):
    flow = campaign_flow(api)["flow"]
    daily = _with(
        _with(SELECTOR, "value.schedule.frequency", "DAILY"), "value.schedule.endDate", "2021-12-01"
    )
    assert "before" in _flow_problem(activate(api, flow, [daily], ["a.b"]))


@pytest.mark.parametrize(
    ("extra", "value"),
    [("mandatoryFields", "person.name.lastName"), ("mandatoryFields", [{"path": "a"}]), ("primaryFields", 5)],
)
def test_wrong_typed_profile_selector_lists(api, extra, value):
    flow = campaign_flow(api)["flow"]
    response = activate(api, flow, [SELECTOR], ["person.name.lastName"], **{extra: value})
    assert extra in _flow_problem(response)


def test_a_profile_selector_path_must_be_text(api):
    flow = campaign_flow(api)["flow"]
    etag = api.ok("GET", f"/flows/{flow}")["items"][0]["etag"]
    ops = [
        {
            "op": "add",
            "path": SEGMENTS_PATH.replace("segment", "profile"),
            "value": {"type": "JSON_PATH", "value": {"path": ["a"]}},
        }
    ]
    _flow_problem(api.call("PATCH", f"/flows/{flow}", json=ops, headers={"If-Match": etag}))


# -- listings ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"orderby": "lastRunDetails"}, "object or an array"),
        ({"orderby": "inheritedAttributes"}, "object or an array"),
        ({"orderby": "-scheduleParams"}, "object or an array"),
        ({"orderby": "transformations"}, "object or an array"),
        ({"orderby": "nope"}, "not a field"),
        ({"orderby": "a..b"}, "not a field"),
        ({"orderby": "-"}, "not a field"),
        ({"limit": "abc"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"limit": "\u0663"}, "limit"),  # an Arabic-Indic three
        ({"limit": "1e3"}, "limit"),
        ({"limit": "99999999999999999999"}, "limit"),
        ({"continuationToken": "garbage"}, "continuationToken"),
        ({"continuationToken": "b2Zmc2V0Oi01"}, "continuationToken"),  # offset:-5
        ({"continuationToken": "b2Zmc2V0OmFiYw=="}, "continuationToken"),  # offset:abc
        ({"property": "=="}, "property"),
        ({"property": "name==x\ny"}, "property"),
    ],
)
def test_bad_listing_parameters_are_a_400(api, params, words):
    make_pipeline(api)
    make_pipeline(api)  # two flows whose lastRunDetails are objects once they ran
    api.wait_for_runs(api.ok("GET", "/flows")["items"][0]["id"], 1)
    assert words in _flow_problem(api.call("GET", "/flows", params=params))


@pytest.mark.parametrize(
    "params",
    [
        {"orderby": "-lastRunDetails.startedAtUTC"},
        {"orderby": "name"},
        {"orderby": "+updatedAt"},
        {"property": "a..b==1"},
        {"property": "scheduleParams.endTime>abc"},
        {"property": "lastRunDetails==1"},
        {"property": "transformations==[]"},
        {"limit": "1"},
    ],
)
def test_odd_but_valid_listing_parameters_are_served(api, params):
    make_pipeline(api)
    make_pipeline(api)
    assert api.call("GET", "/flows", params=params).status_code == 200


# -- PATCH: what AEP owns, and what a patch may store ---------------------------------------------------

OWNED = [
    "id", "state", "etag", "version", "createdAt", "updatedAt", "createdBy", "updatedBy", "createdClient",
    "updatedClient", "sandboxId", "sandboxName", "imsOrgId", "flowSpec", "inheritedAttributes",
    "lastRunDetails", "options", "runs", "lastOperation",
]  # fmt: skip


@pytest.mark.parametrize("field", OWNED)
@pytest.mark.parametrize("op", ["replace", "remove", "add"])
def test_a_patch_cannot_touch_fields_aep_owns(api, field, op):
    ids = make_pipeline(api)
    before = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]
    path = f"/{field}/id" if field == "flowSpec" and op == "add" else f"/{field}"
    ops = [{"op": op, "path": path, "value": "other"}]
    response = api.call("PATCH", f"/flows/{ids['flow']}", json=ops, headers={"If-Match": before["etag"]})
    assert path in _flow_problem(response)
    assert "owned by AEP" in response.json()["report"]["detailed-message"]
    after = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]
    assert after["etag"] == before["etag"]
    assert after.get(field) == before.get(field) or field == "lastRunDetails"  # a run may have finished since


@pytest.mark.parametrize(
    ("ops", "words"),
    [
        ([{"op": "add", "path": "/x", "value": 1}], "/x"),
        ([{"op": "add", "path": "/", "value": 1}], "does not name a field"),
        ([{"op": "replace", "path": "/name", "value": 5}], "name"),
        ([{"op": "remove", "path": "/name"}], "name"),
        ([{"op": "replace", "path": "/description", "value": {"a": 1}}], "description"),
        ([{"op": "replace", "path": "/sourceConnectionIds", "value": 5}], "sourceConnectionIds"),
        ([{"op": "replace", "path": "/sourceConnectionIds", "value": [{"id": 1}]}], "sourceConnectionIds"),
        ([{"op": "replace", "path": "/targetConnectionIds/0", "value": "nope"}], "nope"),
        ([{"op": "replace", "path": "/transformations", "value": 5}], "transformations"),
        ([{"op": "replace", "path": "/scheduleParams", "value": "daily"}], "scheduleParams"),
        (
            [{"op": "replace", "path": "/scheduleParams/exportMode", "value": ["DAILY_FULL_EXPORT"]}],
            "exportMode",
        ),
        ([{"op": "replace", "path": "/scheduleParams/timeUnit", "value": {"u": "hour"}}], "timeUnit"),
        ([{"op": "replace", "path": "/scheduleParams/startTime", "value": "now"}], "startTime"),
        ([{"op": "add", "path": "/scheduleParams/foldernameTemplate", "value": 5}], "foldernameTemplate"),
        ([{"op": "replace", "path": "/transformations/\u00b2", "value": 1}], "array index"),
    ],
)
def test_a_patch_that_would_store_a_broken_dataset_flow_is_refused(api, ops, words):
    ids = make_pipeline(api)
    before = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]
    response = api.call("PATCH", f"/flows/{ids['flow']}", json=ops, headers={"If-Match": before["etag"]})
    assert words in _flow_problem(response)
    assert api.ok("GET", f"/flows/{ids['flow']}")["items"][0]["etag"] == before["etag"]


@pytest.mark.parametrize(
    "ops",
    [
        [{"op": "replace", "path": "/transformations", "value": 5}],
        [{"op": "replace", "path": "/transformations/0/params", "value": [1]}],
        [{"op": "replace", "path": "/transformations/0/params/segmentSelectors", "value": [1]}],
        [{"op": "add", "path": "/scheduleParams", "value": {"startTime": 1}}],
        [{"op": "add", "path": "/transformations/0/params/profileSelectors/mandatoryFields", "value": 5}],
    ],
)
def test_a_patch_that_would_store_a_broken_audience_flow_is_refused(api, ops):
    flow = campaign_flow(api)["flow"]
    assert activate(api, flow, [SELECTOR], ["person.name.lastName"]).status_code == 200
    before = api.ok("GET", f"/flows/{flow}")["items"][0]
    _flow_problem(api.call("PATCH", f"/flows/{flow}", json=ops, headers={"If-Match": before["etag"]}))
    assert api.ok("GET", f"/flows/{flow}")["items"][0]["etag"] == before["etag"]


def test_uppercase_patch_ops_as_adobes_spec_writes_them(api):
    ids = make_pipeline(api)
    etag = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]["etag"]
    ops = [{"op": "REPLACE", "path": "/name", "value": "renamed"}]
    api.ok("PATCH", f"/flows/{ids['flow']}", 200, json=ops, headers={"If-Match": etag})
    assert api.ok("GET", f"/flows/{ids['flow']}")["items"][0]["name"] == "renamed"


def test_a_patch_can_move_a_flow_to_another_matching_target(api):
    ids = make_pipeline(api)
    other = api.ok("POST", "/targetConnections", 201, json=seed.target_connection("amazon_s3", ids["base"]))[
        "id"
    ]
    etag = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]["etag"]
    ops = [{"op": "replace", "path": "/targetConnectionIds/0", "value": other}]
    api.ok("PATCH", f"/flows/{ids['flow']}", 200, json=ops, headers={"If-Match": etag})
    flow = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]
    assert flow["inheritedAttributes"]["targetConnections"][0]["id"] == other


def test_a_patch_to_a_target_of_another_destination_is_refused(api):
    ids = make_pipeline(api)
    sftp_base = api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["sftp"])["id"]
    sftp = api.ok("POST", "/targetConnections", 201, json=seed.target_connection("sftp", sftp_base))["id"]
    etag = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]["etag"]
    ops = [{"op": "replace", "path": "/targetConnectionIds/0", "value": sftp}]
    assert "does not match" in _flow_problem(
        api.call("PATCH", f"/flows/{ids['flow']}", json=ops, headers={"If-Match": etag})
    )


# -- the run clock ---------------------------------------------------------------------------------------


def test_a_flow_the_engine_cannot_run_is_set_aside_and_the_others_run(api, emu, caplog):
    """What a PATCH cannot store (validation) could still come from an old state file."""
    ids = make_pipeline(api)
    body = seed.dataflow("amazon_s3", ids["source"], ids["target"])
    body["scheduleParams"]["startTime"] = int(time.time()) + 86400  # not due before it is broken
    broken = api.ok("POST", "/flows", 201, json=body)["id"]
    state = emu.emulator.state
    with state.lock:
        state.entities("prod", "flows")[broken]["scheduleParams"]["interval"] = "every hour"
    with caplog.at_level(logging.ERROR, logger="aep_emulator.runs"):
        assert api.wait_for_run(ids["flow"])["metrics"]["statusSummary"]["status"] == "success"
        assert api.call("GET", "/flows").status_code == 200
    assert any(broken in record.getMessage() for record in caplog.records)
    assert not api.ok("GET", "/runs", params={"property": f"flowId=={broken}"})["items"]


def test_an_export_that_cannot_be_written_fails_its_run_only(api, emu):
    ids = make_pipeline(api, path="a" * 200 + "/" + "b/" * 3000)  # too long for any file system
    failed = api.wait_for_run(ids["flow"], status="failed")
    assert failed["metrics"]["statusSummary"]["errors"][0]["code"].startswith("CONNECTOR-")
    healthy = make_pipeline(api)["flow"]
    assert api.wait_for_run(healthy)["metrics"]["statusSummary"]["status"] == "success"


def test_the_clock_keeps_ticking_after_a_tick_fails(api, emu, monkeypatch):
    """Runs start on their own (no request ticks the clock here) after a failed tick."""
    engine = emu.emulator.engine
    real_advance = engine.advance
    failures = []

    def flaky(now: float | None = None) -> None:
        if not failures:
            failures.append(now)
            raise RuntimeError("a tick that fails once")
        real_advance(now)

    flow = make_pipeline(api)["flow"]
    monkeypatch.setattr(engine, "advance", flaky)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with emu.emulator.state.lock:
            runs = [r for r in emu.emulator.state.entities("prod", "runs").values() if r["flowId"] == flow]
        if runs and failures:
            break
        time.sleep(0.05)
    assert failures
    assert runs, "the clock stopped after one failed tick"


# -- the gateway: size, routes, and emulator bugs ----------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """An emulator that takes bodies of at most 1 KiB."""
    config = EmulatorConfig(exports_dir=tmp_path_factory.mktemp("small"), max_body_bytes=1024)
    with running_emulator(config) as emulator:
        yield emulator


def _token_headers(emulator) -> dict[str, str]:
    return Api(emulator).headers


def test_the_body_limit_is_4_mib_by_default_and_a_cli_option():
    from aep_emulator.cli import parse_args

    assert EmulatorConfig().max_body_bytes == emulator_config.MAX_BODY_BYTES == 4 * 1024 * 1024
    assert parse_args(["--max-body-bytes", "2048"]).max_body_bytes == 2048


def test_a_body_over_the_limit_is_a_413_in_the_gateway_shape_and_not_kept(small):
    headers = _token_headers(small)
    body = b'{"name": "' + b"x" * 2000 + b'"}'
    response = requests.post(small.url + FS + "/connections", data=body, headers=headers, timeout=10)
    assert response.status_code == 413
    assert response.json()["error_code"] == "413001"
    assert set(response.json()) == {"error_code", "message"}
    logged = small.requests()[-1]
    assert (logged["status"], logged["body"]) == (413, None)
    assert requests.get(small.url + FS + "/flows", headers=headers, timeout=10).status_code == 200


def test_a_streamed_body_is_refused_once_it_passes_the_limit(small):
    headers = _token_headers(small)

    def chunks():
        yield b'{"name": "'
        for _ in range(64):
            yield b"x" * 100
        yield b'"}'

    response = requests.post(small.url + FS + "/connections", data=chunks(), headers=headers, timeout=10)
    assert (response.status_code, response.json()["error_code"]) == (413, "413001")


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(small):
    """Content-Length is checked first: the answer comes though the body never does."""
    host, port = small.config.host, small.config.port
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.sendall(
            f"POST {FS}/connections HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10**12}\r\n\r\n".encode()
        )
        answer = b""
        while b"413001" not in answer:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b'"413001"' in answer


def test_a_body_under_the_limit_is_served(small):
    headers = _token_headers(small)
    response = requests.post(
        small.url + FS + "/connections",
        json={"name": "dlz", "connectionSpec": DLZ},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 201


def test_routes_the_emulator_does_not_serve_answer_in_the_gateway_shape(api):
    response = api.call("GET", "/connections/abc/explore")
    assert (response.status_code, response.json()["error_code"]) == (404, "404000")
    response = api.call("PUT", "/flows")
    assert (response.status_code, response.json()["error_code"]) == (405, "405000")


def test_delete_with_the_trailing_slash_of_adobes_spec(api):
    base = api.ok("POST", "/connections", 201, json={"name": "dlz", "connectionSpec": DLZ})["id"]
    assert api.call("DELETE", f"/connections/{base}/", allow_redirects=False).status_code == 202
    assert api.call("GET", f"/connections/{base}").status_code == 404


def test_an_emulator_bug_is_a_visible_500_in_aeps_shape(api, emu, monkeypatch):
    def bug(*_: Any) -> None:
        raise RuntimeError("an emulator bug")

    monkeypatch.setattr(emu.emulator.service, "get", bug)
    response = api.call("GET", "/flows/any")
    assert response.status_code == 500
    assert response.json()["type"].endswith("FLOW-1000-500")
    assert "RuntimeError" in response.json()["report"]["detailed-message"]


@pytest.mark.parametrize(
    "rule",
    [{"status": "503"}, {"status": 99}, {"drop": 1}, {"latency": -1}, {"times": "2", "status": 503}, 5, [1]],
)
def test_fault_rules_of_the_wrong_type_are_refused(emu, rule):
    response = emu.admin.post("/faults", json=rule)
    assert response.status_code == 400
    assert emu.admin.get("/faults").json()["rules"] == []
