"""The emulator answers the request and response forms of Adobe's own clients as AEP does.

Each test names the form: a Postman request of Adobe's Flow Service collection, an example of
Adobe's OpenAPI files, or the IMS request Adobe's server-to-server samples send.
"""

from __future__ import annotations

import requests

from tests import seed_bodies as seed
from tests.emulator.pipeline import make_pipeline

S3_FLOWS = "inheritedAttributes.targetConnections[].connectionSpec.id==" + seed.S3_SPEC


def test_adobes_example_filter_on_an_array_path_lists_the_s3_dataflows(api):
    s3 = make_pipeline(api, "amazon_s3")
    sftp = make_pipeline(api, "sftp")
    listed = [f["id"] for f in api.ok("GET", "/flows", params={"property": S3_FLOWS})["items"]]
    assert listed == [s3["flow"]]
    others = api.ok("GET", "/flows", params={"property": S3_FLOWS.replace("==", "!=")})["items"]
    assert [f["id"] for f in others] == [sftp["flow"]]


def test_a_flow_records_its_last_operation_and_where_its_runs_are(api):
    ids = make_pipeline(api)
    flow = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]
    ops = [{"op": "replace", "path": "/name", "value": "renamed"}]
    api.ok("PATCH", f"/flows/{ids['flow']}", json=ops, headers={"If-Match": flow["etag"]})
    patched = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]
    assert patched["lastOperation"]["operation"] == "update"
    assert patched["lastOperation"]["ops"] == ops
    assert patched["lastOperation"]["percentCompleted"] == 100
    run = api.wait_for_run(ids["flow"])
    last = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]["lastRunDetails"]
    assert (last["id"], last["state"]) == (run["id"], "success")
    assert last["completedAtUTC"] >= last["startedAtUTC"]
    listed = api.ok("GET", "/runs", params={"property": patched["runs"].split("property=", 1)[1]})
    assert [r["id"] for r in listed["items"]] == [run["id"]]


def test_connections_carry_their_base_connection_as_adobes_examples_do(api):
    ids = make_pipeline(api)
    target = api.ok("GET", f"/targetConnections/{ids['target']}")["items"][0]
    assert target["inheritedAttributes"]["baseConnection"] == {
        "id": ids["base"],
        "connectionSpec": target["connectionSpec"],
    }
    source = api.ok("GET", f"/sourceConnections/{ids['source']}")["items"][0]
    assert source["baseConnectionId"] == source["inheritedAttributes"]["baseConnection"]["id"]
    # The Data Lake's base connection is implicit: one per sandbox, shared by its sources.
    again = api.ok("POST", "/sourceConnections", 201, json=seed.SOURCE_CONNECTION)["id"]
    assert (
        api.ok("GET", f"/sourceConnections/{again}")["items"][0]["baseConnectionId"]
        == source["baseConnectionId"]
    )


def test_error_details_are_text_as_in_adobes_error_examples(api):
    body = api.call("GET", "/flows/no-such-flow").json()
    assert body["errorDetails"] == body["errorMessage"]
    assert isinstance(body["errorDetails"], str)
    assert "no-such-flow" in body["errorDetails"]


def test_the_ims_v2_form_with_credentials_in_the_query_gets_a_token(emu):
    config = emu.config
    credentials = {
        "grant_type": "client_credentials",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "scope": "openid,AdobeID",
    }
    answer = requests.post(emu.url + "/ims/token/v2", params=credentials, timeout=10)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    headers = {
        "Authorization": f"Bearer {token}",
        "x-api-key": config.client_id,
        "x-gw-ims-org-id": config.org_id,
    }
    assert requests.get(emu.url + "/data/foundation/flowservice/flows", headers=headers, timeout=10).ok
    wrong = requests.post(
        emu.url + "/ims/token/v2", params={**credentials, "client_secret": "nope"}, timeout=10
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    # The request log keeps the query, never the secret in it.
    logged = [r for r in emu.requests() if r["path"] == "/ims/token/v2"]
    assert len(logged) == 2
    assert all(
        config.client_secret not in r["query"] and "client_secret=REDACTED" in r["query"] for r in logged
    )


def test_an_activation_run_counts_each_audience_as_adobes_run_example(api):
    """``segment:<id>`` entities: read in the source summary, written in the target summary."""
    from tests.emulator.test_activation import SELECTOR, activate, campaign_flow

    ids = campaign_flow(api)
    assert activate(api, ids["flow"], [SELECTOR], ["personalEmail.address"]).status_code == 200
    run = api.wait_for_run(ids["flow"])
    records = run["metrics"]["recordSummary"]
    entity = f"segment:{SELECTOR['value']['id']}"
    assert [e["id"] for e in records["sourceSummaries"][0]["entitySummaries"]] == [entity]
    written = [e for e in records["targetSummaries"][0]["entitySummaries"] if e["id"] == entity]
    assert written[0]["outputRecordCount"] == records["outputRecordCount"] == records["createdRecordCount"]
    (activity,) = run["activities"]
    assert run["metrics"]["statusSummary"]["activityRefs"] == [activity["id"]]
    assert activity["recordSummary"]["outputRecordCount"] == records["outputRecordCount"]
