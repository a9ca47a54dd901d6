"""Audiences to the enhanced cloud-storage destinations, over HTTP, as Adobe's current tutorial
sends them: Profile Store source without a base connection, target with file options, audience
flow spec, selectors, mapping set, and the files a run writes."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import date
from typing import Any

import pytest

from aep_emulator.segments import population

S3 = "4fce964d-3f37-408f-9778-e597338a21ee"
S3_AUDIENCES_FLOW = "1a0514a6-33d4-4c7f-aff8-594799c47549"
S3_DATASETS_FLOW = "269ba276-16fc-47db-92b0-c1049a3c131f"
PROFILE_STORE = "8a9c3494-9708-43d7-ae3f-cda01e5030e1"
SEGMENT = "9f7d37fd-7039-4454-94ef-2b0cd6c3206a"
CONVERSION = "/data/foundation/conversion"
COLUMNS = {
    "firstName": "person.name.firstName",
    "lastName": "person.name.lastName",
    "Email": "identityMap.Email",
}


def spec(spec_id: str) -> dict[str, str]:
    return {"id": spec_id, "version": "1.0"}


def platform(api, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
    """A call outside the Flow Service (Data Prep, the union schema, identities)."""
    response = api.http.request(method, api.emulator.url + path, headers=api.headers, timeout=10, **kwargs)
    assert response.status_code == status, (response.status_code, response.text)
    return response.json()


def s3_base(api) -> str:
    body = {
        "name": "Amazon S3 Base Connection",
        "auth": {"specName": "Access Key", "params": {"s3AccessKey": "A" * 20, "s3SecretKey": "s" * 40}},
        "connectionSpec": spec(S3),
    }
    return str(api.ok("POST", "/connections", json=body)["id"])


def s3_target(api, base: str, **params: Any) -> dict[str, Any]:
    body = {
        "name": "Amazon S3 Target Connection",
        "baseConnectionId": base,
        "params": {"mode": "Server-to-server", "bucketName": "acme-audiences", "path": "aep", **params},
        "connectionSpec": spec(S3),
    }
    return api.call("POST", "/targetConnections", json=body)


def profile_source(api) -> str:
    body = {
        "name": "Connect to Profile store",
        "description": "Optional",
        "connectionSpec": spec(PROFILE_STORE),
    }
    return str(api.ok("POST", "/sourceConnections", json=body)["id"])


def mapping_set(api, columns: dict[str, str]) -> dict[str, Any]:
    union = platform(
        api,
        "GET",
        "/data/core/ups/config/entityTypes/_xdm.context.profile",
        params=[("property", "fullSchema==true"), ("property", "includeRelationshipDescriptors==true")],
    )
    input_schema = platform(api, "POST", f"{CONVERSION}/schemas", json={"name": "in", "jsonSchema": union})
    partner = api.ok("GET", f"/connectionSpecs/{S3}")["items"][0]["targetSpec"]["attributes"]["partnerSchema"]
    output_schema = platform(
        api, "POST", f"{CONVERSION}/schemas", json={"name": "out", "jsonSchema": partner["jsonSchema"]}
    )
    body = {
        "inputSchema": {"id": input_schema["id"]},
        "outputSchema": {"id": output_schema["id"]},
        "mappings": [{"destination": h, "source": s, "sourceType": "ATTRIBUTE"} for h, s in columns.items()],
        "xdmVersion": "1.0",
    }
    return dict(platform(api, "POST", f"{CONVERSION}/mappingSets", json=body))


def audience_flow(api, target_id: str, transformations: list[Any] | None = None) -> dict[str, Any]:
    body = {
        "name": "Activate audiences to an Amazon S3 cloud storage destination",
        "flowSpec": spec(S3_AUDIENCES_FLOW),
        "sourceConnectionIds": [profile_source(api)],
        "targetConnectionIds": [target_id],
        "transformations": [] if transformations is None else transformations,
    }
    return dict(api.ok("POST", "/flows", json=body))


def selector(
    template: str = "%DESTINATION%_%SEGMENT_NAME%_%TIMESTAMP%", start: str = "00:00"
) -> dict[str, Any]:
    return {
        "type": "PLATFORM_SEGMENT",
        "value": {
            "id": SEGMENT,
            "name": "Interested in Mountain Biking",
            "filenameTemplate": template,
            "exportMode": "DAILY_FULL_EXPORT",
            "schedule": {"frequency": "ONCE", "startDate": date.today().isoformat(), "startTime": start},
        },
    }


def patch(api, flow_id: str, operations: list[dict[str, Any]], status: int = 200) -> Any:
    etag = api.ok("GET", f"/flows/{flow_id}")["items"][0]["etag"]
    return api.ok("PATCH", f"/flows/{flow_id}", status=status, json=operations, headers={"If-Match": etag})


def activate(api, flow_id: str, mapping: dict[str, Any], *extra: dict[str, Any]) -> None:
    patch(
        api,
        flow_id,
        [
            {
                "op": "add",
                "path": "/transformations/0/params/segmentSelectors/selectors/-",
                "value": selector(),
            },
            *extra,
            {
                "op": "ADD",  # the tutorial's case
                "path": "/transformations/0/params/profileMapping",
                "value": {"mappingId": mapping["id"], "mappingVersion": mapping["version"]},
            },
        ],
    )


def test_the_tutorial_chain_writes_the_mapped_columns_as_the_target_asks(api, emu):
    base = s3_base(api)
    options = {"delimiter": ";", "quote": '"', "escape": "\\", "nullValue": "null", "emptyValue": ""}
    target = s3_target(
        api, base, compression="GZIP", fileType="CSV", includeFileManifest=True, csvOptions=options
    )
    assert target.status_code == 201, target.text
    flow = audience_flow(api, target.json()["id"])
    stored = api.ok("GET", f"/flows/{flow['id']}")["items"][0]
    # The tutorial's S3 tab sends no transformation: AEP's answer has the skeleton the PATCHes address.
    assert stored["transformations"][0]["params"]["profileMapping"] == {}
    mapping = mapping_set(api, COLUMNS)
    activate(
        api,
        flow["id"],
        mapping,
        {"op": "add", "path": "/transformations/0/params/mandatoryFields", "value": ["lastName"]},
    )
    run = api.wait_for_run(flow["id"])

    folder = emu.config.exports_dir / "prod" / "amazon_s3" / "acme-audiences" / "aep"
    assert sorted(p.suffix for p in folder.iterdir()) == [".gz", ".json"]  # the data and the manifest
    [data_file] = sorted(folder.glob("*.csv.gz"))
    assert data_file.name.startswith("Amazon_S3_Interested_in_Mountain_Biking_")
    rows = list(csv.reader(io.StringIO(gzip.decompress(data_file.read_bytes()).decode()), delimiter=";"))
    assert rows[0] == list(COLUMNS)
    size = population(SEGMENT)
    exported = size - size // 10  # every tenth profile lacks a last name: mandatory skips it
    assert len(rows) - 1 == exported
    assert all(row[1] and "@" in row[2] for row in rows[1:])
    [manifest] = folder.glob(f"manifest-{flow['id']}-{run['id']}.json")
    listed = json.loads(manifest.read_text())
    assert listed["flowRunId"] == run["id"]
    assert [f["name"] for f in listed["exportResults"]] == [data_file.name]
    target_summary = run["metrics"]["recordSummary"]["targetSummaries"][0]
    assert target_summary["entitySummaries"][0] == {
        "id": f"segment:{SEGMENT}",
        "createdRecordCount": exported,
        "outputRecordCount": exported,
    }


def test_json_files_hold_one_object_per_profile_with_the_headers_as_keys(api, emu):
    target = s3_target(api, s3_base(api), path="json-lines", compression="NONE", fileType="JSON")
    flow = audience_flow(api, target.json()["id"])
    activate(api, flow["id"], mapping_set(api, {"first": "person.name.firstName"}))
    api.wait_for_run(flow["id"])
    [data_file] = (emu.config.exports_dir / "prod" / "amazon_s3" / "acme-audiences" / "json-lines").glob("*")
    lines = [json.loads(line) for line in data_file.read_text().splitlines()]
    assert len(lines) == population(SEGMENT)
    assert set(lines[0]) == {"first"}


@pytest.mark.parametrize(
    ("params", "said"),
    [
        (
            {"compression": "NONE", "fileType": "JSON", "csvOptions": {"delimiter": ";"}},
            "csvOptions go with fileType CSV",
        ),
        (
            {"compression": "NONE", "fileType": "CSV", "csvOptions": {"delimiter": "#"}},
            "csvOptions.delimiter",
        ),
        ({"compression": "NONE", "fileType": "XLSX"}, "fileType"),
        ({"compression": "NONE", "fileType": "CSV", "includeFileManifest": "yes"}, "includeFileManifest"),
        ({"compression": "NONE"}, "fileType"),
    ],
)
def test_target_file_options_are_checked(api, params, said):
    answer = s3_target(api, s3_base(api), **params)
    assert answer.status_code == 400
    assert said in answer.json()["errorMessage"]


def test_a_flow_spec_takes_only_a_target_made_for_its_workflow(api):
    base = s3_base(api)
    audiences_target = s3_target(api, base, compression="NONE", fileType="CSV").json()["id"]
    datasets_target = s3_target(api, base, compression="GZIP", datasetFileType="JSON").json()["id"]
    body = {
        "name": "audiences through a dataset target",
        "flowSpec": spec(S3_AUDIENCES_FLOW),
        "sourceConnectionIds": [profile_source(api)],
        "targetConnectionIds": [datasets_target],
        "transformations": [],
    }
    answer = api.call("POST", "/flows", json=body)
    assert answer.status_code == 400
    assert "params.fileType" in answer.json()["errorMessage"]
    assert audience_flow(api, audiences_target)["id"]


@pytest.mark.parametrize(
    ("columns", "said"),
    [
        ({"person.name": "person.name.firstName"}, "without dots"),
        ({"first": "person.name.nickName"}, "not an attribute of the input schema"),
        ({"a": "identityMap.Email", "b": "identityMap.ECID"}, "only one identity"),
        ({"a": "identityMap.Fax"}, "not an identity namespace"),
    ],
)
def test_mapping_sets_follow_the_tutorials_rules(api, columns, said):
    union = platform(api, "GET", "/data/core/ups/config/entityTypes/_xdm.context.profile")
    schema = platform(api, "POST", f"{CONVERSION}/schemas", json={"name": "in", "jsonSchema": union})
    body = {
        "inputSchema": {"id": schema["id"]},
        "outputSchema": {"id": schema["id"]},
        "mappings": [{"destination": h, "source": s, "sourceType": "ATTRIBUTE"} for h, s in columns.items()],
    }
    answer = api.http.post(api.emulator.url + f"{CONVERSION}/mappingSets", json=body, headers=api.headers)
    assert answer.status_code == 400
    assert said in answer.json()["errorMessage"]


def test_an_identity_with_a_dot_is_escaped_as_the_tutorial_does(api):
    made = mapping_set(api, {"Phone_E_164": "identityMap.Phone_E//.164"})
    stored = platform(api, "GET", f"{CONVERSION}/mappingSets/{made['id']}")
    assert stored["mappings"][0]["source"] == "identityMap.Phone_E//.164"
    assert any(n["code"] == "Phone_E.164" for n in platform(api, "GET", "/data/core/idnamespace/identities"))


@pytest.mark.parametrize(
    ("operation", "said"),
    [
        (
            {"op": "add", "path": "/transformations/0/params/segmentSelectors/selectors/-", "value": selector("%DESTINATION_NAME%")},
            "unknown macros",
        ),
        (
            {"op": "add", "path": "/transformations/0/params/segmentSelectors/selectors/-", "value": selector("%TIMESTAMP%_%DATETIME(YYYYMMdd_HHmmss)%")},
            "not both",
        ),
        (
            {"op": "add", "path": "/transformations/0/params/segmentSelectors/selectors/-", "value": selector(start="10:30")},
            "on the hour",
        ),
        (
            {"op": "add", "path": "/transformations/0/params/profileMapping", "value": {"mappingId": "nope", "mappingVersion": 0}},
            "is not a mapping set",
        ),
        (
            {"op": "add", "path": "/transformations/0/params/primaryFields", "value": [{"fieldType": "ATTRIBUTE"}]},
            "primaryFields[0]",
        ),
    ],
)  # fmt: skip
def test_an_enhanced_flows_patch_is_checked(api, operation, said):
    target = s3_target(api, s3_base(api), compression="NONE", fileType="CSV").json()["id"]
    flow = audience_flow(api, target)
    answer = patch(api, flow["id"], [operation], status=400)
    assert said in answer["errorMessage"]


def test_the_profile_store_source_takes_each_tutorials_form(api):
    current = api.ok("GET", f"/sourceConnections/{profile_source(api)}")["items"][0]
    # AEP supplies the base connection: the same implicit one for every such source of the sandbox.
    assert (
        current["baseConnectionId"]
        == api.ok("GET", f"/sourceConnections/{profile_source(api)}")["items"][0]["baseConnectionId"]
    )
    assert current["typeInfo"] == {"type": "ProfileFragments", "id": "ups"}
    beta = {
        "name": "beta",
        "connectionSpec": spec(PROFILE_STORE),
        "data": {"format": "CSV", "schema": None},
        "params": {},
    }
    assert api.ok("POST", "/sourceConnections", json=beta)["id"]
    wrong = {"name": "wrong", "connectionSpec": spec(PROFILE_STORE), "data": {"format": "JSON"}}
    assert api.call("POST", "/sourceConnections", json=wrong).status_code == 400


def test_the_partner_schema_is_served_with_each_enhanced_spec(api):
    for spec_id in (S3, "36965a81-b1c6-401b-99f8-22508f1e6a26"):
        target_spec = api.ok("GET", f"/connectionSpecs/{spec_id}")["items"][0]["targetSpec"]
        assert target_spec["attributes"]["partnerSchema"]["jsonSchema"]["title"] == "defaultschema"
    legacy = api.ok("GET", "/connectionSpecs/4890fc95-5a1f-4983-94bb-e060c08e3f81")["items"][0]["targetSpec"]
    assert "partnerSchema" not in legacy.get("attributes", {})
