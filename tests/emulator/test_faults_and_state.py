"""The fault plan and the state file."""

from __future__ import annotations

import time

import requests

from aep_emulator.config import EmulatorConfig
from aep_emulator.server import running_emulator
from tests import seed_bodies as seed
from tests.emulator.conftest import Api


def test_status_fault_with_retry_after_for_the_next_n_requests(api, emu):
    emu.add_fault(method="GET", path="/data/foundation/flowservice/flows", times=2, status=429, retry_after=3)
    first, second, third = (api.call("GET", "/flows") for _ in range(3))
    assert (first.status_code, first.headers["Retry-After"]) == (429, "3")
    assert second.status_code == 429
    assert third.status_code == 200
    assert [r["hits"] for r in emu.admin.get("/faults").json()["rules"]] == [2]


def test_server_error_fault_only_hits_matching_routes(api, emu):
    emu.add_fault(path="/data/foundation/flowservice/connections*", status=503, retry_after=1)
    assert api.call("GET", "/flows").status_code == 200
    assert api.call("GET", "/connections").status_code == 503


def test_latency_fault(api, emu):
    emu.add_fault(path="*/flows", latency=0.4)
    started = time.monotonic()
    assert api.call("GET", "/flows").status_code == 200
    assert time.monotonic() - started >= 0.4


def test_dropped_connection_fault(api, emu):
    emu.add_fault(path="*/flows", drop=True)
    try:
        api.call("GET", "/flows").json()
    except requests.RequestException:
        pass
    else:
        raise AssertionError("the dropped response should not read as a whole one")
    assert api.call("GET", "/flows").status_code == 200


def test_expire_tokens_fault_makes_the_callers_token_stale(api, emu):
    emu.add_fault(path="*/flows", expire_tokens=True)
    answer = api.call("GET", "/flows")
    assert answer.status_code == 401
    assert api.call("GET", "/connections").status_code == 401  # every issued token, not one request


def test_concurrent_update_fault_changes_the_flows_etag_first(api, emu):
    from tests.emulator.pipeline import make_pipeline

    flow_id = make_pipeline(api)["flow"]
    etag = api.ok("GET", f"/flows/{flow_id}")["items"][0]["etag"]
    emu.add_fault(method="PATCH", path="*/flows/*", concurrent_update=True)
    patch = [{"op": "replace", "path": "/name", "value": "renamed"}]
    stale = api.call("PATCH", f"/flows/{flow_id}", json=patch, headers={"If-Match": etag})
    assert stale.status_code == 412
    fresh = api.ok("GET", f"/flows/{flow_id}")["items"][0]["etag"]
    assert fresh != etag
    assert api.call("PATCH", f"/flows/{flow_id}", json=patch, headers={"If-Match": fresh}).status_code == 200


def test_the_request_log_records_calls_with_secrets_redacted(api, emu):
    api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["amazon_s3"])
    logged = [r for r in emu.requests() if r["path"].endswith("/connections")]
    assert logged[-1]["method"] == "POST"
    assert logged[-1]["status"] == 201
    assert logged[-1]["body"]["auth"]["params"]["s3SecretKey"] == "***"
    assert logged[-1]["body"]["auth"]["params"]["s3AccessKey"] == seed.S3_ACCESS_KEY


def test_state_survives_a_restart(tmp_path):
    state_file = tmp_path / "state.json"
    config = EmulatorConfig(state_file=state_file, exports_dir=tmp_path / "out")
    with running_emulator(config) as first:
        api = Api(first)
        created = api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["sftp"])["id"]
        token = api.headers["Authorization"]
    with running_emulator(EmulatorConfig(state_file=state_file, exports_dir=tmp_path / "out")) as second:
        again = Api(second)
        again.headers["Authorization"] = token  # tokens survive too
        assert (
            again.ok("GET", f"/connections/{created}")["items"][0]["name"]
            == "SFTP with password Base Connection"
        )


def test_reset_forgets_everything(api, emu):
    created = api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["sftp"])["id"]
    emu.admin.post("/reset")
    fresh = Api(emu)
    assert fresh.call("GET", f"/connections/{created}").status_code == 404


def test_echo_fault_quotes_the_request_back_as_a_careless_server_would(api, emu):
    emu.add_fault(method="POST", path="*/connections", status=400, echo=True)
    answer = api.call("POST", "/connections", json=seed.BASE_CONNECTIONS["amazon_s3"])
    assert answer.status_code == 400
    message = answer.json()["message"]
    assert api.headers["Authorization"] in message
    assert seed.S3_SECRET_KEY in message
    emu.add_fault(method="POST", path="/ims/token/v3", status=401, echo=True)
    refused = requests.post(
        emu.url + "/ims/token/v3",
        data={
            "grant_type": "client_credentials",
            "client_id": "c",
            "client_secret": "echo-me-123",
            "scope": "s",
        },
    )
    assert refused.status_code == 401
    assert "client_secret=echo-me-123" in refused.json()["error_description"]
    assert api.call("GET", "/connections").json()["items"] == []  # nothing was created
