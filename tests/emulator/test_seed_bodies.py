"""Every request body of the dataset-export tutorial is accepted; the typo'd DLZ spec is not."""

from __future__ import annotations

import re

import pytest

from tests import seed_bodies as seed

ETAG = re.compile(r'^"[^"]+"$')


def _created(answer):
    assert set(answer) == {"id", "etag"}
    assert ETAG.match(answer["etag"]), answer["etag"]
    return answer["id"]


@pytest.mark.parametrize("key", seed.DESTINATION_KEYS)
def test_the_whole_tutorial_for_each_destination(api, key):
    source = _created(api.ok("POST", "/sourceConnections", 201, json=seed.SOURCE_CONNECTION))
    base = _created(api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS[key]))
    # Exactly the tutorial's body, JSON with compression NONE included: AEP's API accepts it.
    target = _created(api.ok("POST", "/targetConnections", 201, json=seed.target_connection(key, base)))
    flow = _created(api.ok("POST", "/flows", 201, json=seed.dataflow(key, source, target)))
    stored = api.ok("GET", f"/flows/{flow}")["items"][0]
    assert (
        stored["scheduleParams"]["foldernameTemplate"]
        == "%DESTINATION%_%DATASET_ID%_%DATETIME(YYYYMMdd_HHmmss)%"
    )
    assert stored["sourceConnectionIds"] == [source]
    assert stored["targetConnectionIds"] == [target]


def test_sftp_ssh_key_body_is_accepted(api):
    _created(api.ok("POST", "/connections", 201, json=seed.SFTP_SSH_BASE_CONNECTION))


def test_the_typod_data_landing_zone_spec_is_an_unknown_spec(api):
    response = api.call("POST", "/connections", json=seed.DLZ_TYPO_BASE_CONNECTION)
    assert response.status_code == 400
    body = response.json()
    assert body["type"].endswith("FLOW-1014-400")
    assert "3567r537" in body["report"]["detailed-message"]


def test_eligible_datasets_include_the_tutorials_and_page(api):
    path = "/connectionSpecs/23598e46-f560-407b-88d5-ea6207e49db0/configs"
    params = {
        "outputType": "activationDatasets",
        "outputField": "datasets",
        "start": 0,
        "limit": 5,
        "properties": "name,state",
    }
    first = api.ok("GET", path, params=params)
    assert first["pageInfo"] == {"start": 0, "end": 4, "total": 12, "hasNext": True}
    assert first["items"][1] == {
        "id": "5ef3e3259ad2a1191ab7dd7d",
        "name": "AAM Devices Data",
        "description": "Activation profile export dataset",
        "fileDescription": {"persisted": True, "containerFormat": "parquet", "format": "parquet"},
        "aspect": "production",
        "state": "DRAFT",
    }
    seen = []
    start = 0
    while True:
        page = api.ok("GET", path, params={**params, "start": start})
        seen += [d["id"] for d in page["items"]]
        if not page["pageInfo"]["hasNext"]:
            break
        start = page["pageInfo"]["end"] + 1
    assert len(seen) == len(set(seen)) == 12
    assert api.call("GET", path, params={**params, "limit": 101}).status_code == 400


def test_connection_specs_are_served_items_wrapped(api):
    listed = api.ok("GET", "/connectionSpecs")["items"]
    assert {s["id"] for s in listed} >= {seed.S3_SPEC, seed.SFTP_SPEC, seed.DATA_LAKE_SPEC}
    single = api.ok("GET", f"/connectionSpecs/{seed.S3_SPEC}")
    assert single["items"][0]["authSpec"][0]["name"] == "Access Key"
    assert (
        single["items"][0]["authSpec"][0]["spec"]["properties"]["s3AccessKey"]["pattern"] == "^[A-Z2-7]{20}$"
    )
    filtered = api.ok("GET", "/connectionSpecs", params={"property": "name==SFTP"})["items"]
    # The dataset-export SFTP spec and the legacy audience one share the name (docs/spec-names.md).
    assert {s["id"] for s in filtered} == {seed.SFTP_SPEC, "64ef4b8b-a6e0-41b5-9677-3805d1ee5dd0"}
    assert api.call("GET", "/connectionSpecs/00000000-0000-0000-0000-000000000000").status_code == 404
