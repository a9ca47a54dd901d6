"""The emulator's responses have the shapes Adobe's OpenAPI specs document.

Waivers, each where Adobe's documents disagree with each other (see AEP_API.md):
- run status: the spec's enum is ``Success|Processing|Waiting|Failed``; every example and the
  run filters use ``success``/``failed``/``inProgress``. The enum is widened to accept both.
- ``inheritedAttributes.*.connectionSpec``: the spec types it ``string`` yet gives it ``id`` and
  ``version`` properties, and AEP returns an object; the type is corrected to ``object``.
- single GETs are ``items``-wrapped in AEP's answers and the tutorials, while the spec documents
  the bare item for connections: the item inside ``items`` is validated.
- ``ConnectionItem.auth`` reuses the request schemas (secret patterns, and SFTP spec names that
  differ from the tutorial's): reads mask secrets, so ``auth`` is checked against the request
  that created the connection instead.
- ``oneOf`` alternatives of the spec overlap (a target's params match the S3 and the SFTP shapes
  alike), so no valid instance can match exactly one: they are read as ``anyOf``.
- ``inheritedAttributes.baseConnection`` is typed ``string``, while every example of Adobe's (and
  the flows' ``inheritedAttributes``) gives it as ``{id, connectionSpec}``: the examples are
  followed and the type is corrected to ``object``; likewise a flow's
  ``inheritedAttributes.sourceConnections`` / ``targetConnections`` are typed ``object`` and are
  arrays of those objects in every flow example (see docs/emulator-contract.md).
- ``SourceConnectionItem.typeInfo`` enumerates the Profile Store only (``ups``); a Data Lake
  source names its datasets.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft4Validator

from tests import seed_bodies as seed
from tests.emulator.conftest import as_sent
from tests.emulator.pipeline import make_pipeline

SPECS = Path(__file__).parent.parent / "fixtures" / "openapi"


@cache
def _components(name: str) -> dict:
    document = yaml.safe_load((SPECS / name).read_text())
    components = copy.deepcopy(document["components"])
    schemas = components["schemas"]
    if "StatusSummary" in schemas:
        status = schemas["StatusSummary"]["properties"]["status"]
        status["enum"] = status["enum"] + [s.lower() for s in status["enum"]] + ["inProgress"]
    _retype_connection_spec(components)
    return components


def _retype_connection_spec(node):
    if isinstance(node, dict):
        if "oneOf" in node:
            node["anyOf"] = node.pop("oneOf")
        if (
            node.get("type") == "string"
            and "properties" in node
            and {"id", "version"} <= set(node["properties"])
        ):
            node["type"] = "object"
        base = (
            node.get("properties", {}).get("baseConnection")
            if isinstance(node.get("properties"), dict)
            else None
        )
        if isinstance(base, dict) and base.get("type") == "string":
            node["properties"]["baseConnection"] = {"type": "object"}
        for key in ("sourceConnections", "targetConnections"):
            inherited = (
                node.get("properties", {}).get(key) if isinstance(node.get("properties"), dict) else None
            )
            if isinstance(inherited, dict) and inherited.get("type") == "object":
                node["properties"][key] = {"type": "array", "items": inherited}
        for value in node.values():
            _retype_connection_spec(value)
    elif isinstance(node, list):
        for value in node:
            _retype_connection_spec(value)


def assert_valid(
    instance, schema_name: str, spec: str = "destinations.yaml", waive: tuple[str, ...] = ()
) -> None:
    components = _components(spec)
    if waive:
        components = copy.deepcopy(components)
        for prop in waive:
            components["schemas"][schema_name]["properties"].pop(prop, None)
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": components}
    errors = sorted(Draft4Validator(schema).iter_errors(instance), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def test_create_responses(api):
    assert_valid(
        api.ok("POST", "/sourceConnections", 201, json=seed.SOURCE_CONNECTION),
        "Create_Source_Connection_Response",
    )
    base = api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["amazon_s3"])
    assert_valid(base, "Create_Base_Connection_Response")
    target = api.ok("POST", "/targetConnections", 201, json=seed.target_connection("amazon_s3", base["id"]))
    assert_valid(target, "Create_Base_Connection_Response")


@pytest.mark.parametrize("key", ["amazon_s3", "sftp"])
def test_entity_reads(api, key):
    ids = make_pipeline(api, key)
    connection = api.ok("GET", f"/connections/{ids['base']}")["items"][0]
    sent = seed.BASE_CONNECTIONS[key]["auth"]
    assert connection["auth"]["specName"] == sent["specName"]
    assert set(as_sent(connection["auth"])["params"]) == set(sent["params"])
    assert_valid({**connection, "auth": {}}, "ConnectionItem", waive=("auth",))
    source = api.ok("GET", f"/sourceConnections/{ids['source']}")["items"][0]
    assert source["typeInfo"] == {"type": "dataset", "id": "datasets"}
    assert_valid({**source, "typeInfo": {}}, "SourceConnectionItem")
    assert_valid(api.ok("GET", f"/targetConnections/{ids['target']}")["items"][0], "TargetConnectionItem")
    assert_valid(api.ok("GET", f"/flows/{ids['flow']}"), "Batch_Flow")
    assert_valid(api.ok("GET", "/flows"), "Batch_Flow")


def test_flow_create_and_patch_responses(api):
    ids = make_pipeline(api)
    flow = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]
    ops = [{"op": "replace", "path": "/scheduleParams/endTime", "value": 1985901210}]
    assert_valid(
        api.ok("PATCH", f"/flows/{ids['flow']}", 200, json=ops, headers={"If-Match": flow["etag"]}),
        "Patch_Flow_Response",
    )
    source = api.ok("POST", "/sourceConnections", 201, json=seed.SOURCE_CONNECTION)["id"]
    assert_valid(
        api.ok("POST", "/flows", 201, json=seed.dataflow("amazon_s3", source, ids["target"])),
        "Patch_Flow_Response",
    )


def test_run_responses_in_progress_and_done(api):
    ids = make_pipeline(api)
    run = api.wait_for_run(ids["flow"], status="inProgress")
    assert_valid({"items": [run]}, "Flow_Runs")
    done = api.wait_for_run(ids["flow"])
    assert_valid(api.ok("GET", "/runs", params={"property": f"flowId=={ids['flow']}"}), "Flow_Runs")
    assert_valid(api.ok("GET", f"/runs/{done['id']}"), "FlowRunsListResponse", spec="flow-service.yaml")


def test_error_responses_are_objects(api):
    assert_valid(api.call("GET", "/flows/nope").json(), "ErrorResponse")
    assert_valid(api.call("GET", "/flows", headers={"x-api-key": ""}).json(), "ErrorResponse")


@pytest.mark.parametrize(
    ("kind", "key", "ops", "schema"),
    [
        (
            "connections",
            "base",
            {"op": "REPLACE", "path": "/auth/params/s3AccessKey", "value": "AKIAIOSFODNN7ROTATED"},
            "CreateConnectionResponse",  # the spec gives only an example: {"id", "etag"}
        ),
        (
            "sourceConnections",
            "source",
            [{"op": "replace", "path": "/name", "value": "renamed"}],
            "SourceConnectionsListResponse",
        ),
        (
            "targetConnections",
            "target",
            [{"op": "replace", "path": "/params/path", "value": "moved"}],
            "TargetConnectionsListResponse",
        ),
    ],
)
def test_connection_patch_responses(api, kind, key, ops, schema):
    ids = make_pipeline(api)
    etag = api.ok("GET", f"/{kind}/{ids[key]}")["items"][0]["etag"]
    suffix = "/" if kind == "connections" else ""  # the spec's path for this one ends with a slash
    answer = api.ok("PATCH", f"/{kind}/{ids[key]}{suffix}", 200, json=ops, headers={"If-Match": etag})
    assert set(answer) == {"id", "etag"}
    assert_valid(answer, schema, spec="flow-service.yaml")


def test_run_create_re_trigger_and_count_responses(api, emu):
    ids = make_pipeline(api)
    flow_body = seed.dataflow("amazon_s3", ids["source"], ids["target"])
    flow_body["scheduleParams"] = {"exportMode": "DAILY_FULL_EXPORT", "timeUnit": "day", "interval": 0,
                                   "startTime": 1675901210}  # fmt: skip
    flow = api.ok("POST", "/flows", 201, json=flow_body)["id"]
    emu.add_fault(flow=flow, fail_run_attempts=1)
    created = api.ok("POST", "/runs", 201, json={"flowId": flow, "params": {"startTime": 1675901210}})
    assert_valid(created, "CreateFlowRunResponse", spec="flow-service.yaml")
    failed = api.wait_for_run(flow, status="failed")
    again = api.ok("POST", f"/runs/{failed['id']}/action", 200, params={"op": "RE_TRIGGER"})
    assert_valid(again, "FlowRunItemDTO", spec="flow-service.yaml")
    counted = api.ok("GET", "/runs", params={"count": "true", "property": f"flowId=={flow}"})
    assert counted["count"] >= 1
    assert_valid(counted, "FlowRunsListResponse", spec="flow-service.yaml")
