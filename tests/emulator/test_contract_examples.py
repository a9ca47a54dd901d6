"""Every Flow Service operation the emulator serves answers with the keys and JSON types of
Adobe's response example for it (``tests/emulator/contract.py`` says what a shape is).

The examples come from Adobe's OpenAPI files in ``tests/fixtures/openapi``: "Flow Service API -
Destinations" (``destinations.yaml``) first, since the emulator is a destinations platform, then
``flow-service.yaml``. ``CASES`` says which example each operation must match and why, where
there is a choice; ``ERRORS`` turns each error example of ``destinations.yaml`` into a request
that fails the same way. Each answer must have the example's status, and its shape.
``WAIVERS`` lists the keys where Adobe's documents disagree and the emulator follows one of them,
and the keys that hold a spec's own data (``docs/emulator-contract.md``, "Where Adobe's examples
disagree"). The schemas themselves are checked by ``test_openapi_fidelity.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests

from tests import seed_bodies as seed
from tests.emulator import contract
from tests.emulator.conftest import FS, Api
from tests.emulator.contract import DESTINATIONS, FLOW_SERVICE, Example
from tests.emulator.pipeline import make_pipeline

#: An id the emulator does not know (Adobe's own example id).
UNKNOWN_ID = "ca5c6e9a-8559-4a08-97a5-f15b756da600"
BAD_TOKEN = {"Authorization": "Bearer not-a-token"}
STALE_ETAG = {"If-Match": '"04001277-0000-0200-0000-62d9b13e00001"'}
PROFILE_STORE = {"id": "8a9c3494-9708-43d7-ae3f-cda01e5030e1", "version": "1.0"}
CAMPAIGN = {"id": "0b23e41a-cb4a-4321-a78f-3b654f5d7d97", "version": "1.0"}
LEGACY_ACTIVATION_FLOW = {"id": "71471eba-b620-49e4-90fd-23f1fa0174d8", "version": "1.0"}
S3_DATASET_FLOW = "269ba276-16fc-47db-92b0-c1049a3c131f"
PROFILE_SELECTORS = "/transformations/0/params/profileSelectors"
DATASETS_QUERY = {"outputType": "activationDatasets", "outputField": "datasets", "start": 0, "limit": 20}


@dataclass(frozen=True)
class Waiver:
    """Key paths (and what is below them) where the emulator may differ from Adobe's example."""

    operations: tuple[str, ...]  # empty: every operation
    paths: tuple[str, ...]
    why: str

    def covers(self, operation: str, path: str) -> bool:
        return (not self.operations or operation in self.operations) and any(
            path == key or path.startswith((f"{key}.", f"{key}[")) for key in self.paths
        )


CONNECTION_SPECS = ("GET /connectionSpecs", "GET /connectionSpecs/{id}")
FLOW_SPECS = ("GET /flowSpecs", "GET /flowSpecs/{id}")
AUDIT_KEYS = ("createdAt", "updatedAt", "createdBy", "updatedBy", "createdClient", "updatedClient",
              "sandboxId", "sandboxName", "imsOrgId")  # fmt: skip
CATALOG_DATASET_KEYS = ("schemaRef", "tags", "imsOrg", "sandboxId", "version", "created", "updated",
                        "createdClient", "createdUser", "updatedUser", "viewId", "basePath", "files",
                        "enableErrorDiagnostics", "lastBatchStatus", "lastBatchId", "lastSuccessfulBatch")  # fmt: skip

#: Where Adobe's documents disagree and the emulator follows one of them, or where a key holds a
#: spec's own data rather than the API's shape. docs/emulator-contract.md gives the same list.
WAIVERS: tuple[Waiver, ...] = (
    Waiver((), ("error_code",),
           "the 401 examples give the gateway's error_code as a number (401013); the gateway answers a "
           'string ("401013"), as AEP_API.md says, and the emulator follows it'),
    Waiver(("POST /connections",), ("message",),
           "the 400 example is a bare {message}; every other Flow Service error example, and AEP_API.md, "
           "is problem JSON with errorMessage and errorDetails, which the emulator answers"),
    Waiver(("GET /connectionSpecs/{id}/configs",), tuple(f"items[].{k}" for k in CATALOG_DATASET_KEYS),
           "the example is a whole Catalog dataset; the dataset-export tutorial answers the same call with "
           "id, name, description, fileDescription, aspect and state per dataset (and pageInfo), which the "
           "emulator follows"),
    Waiver(CONNECTION_SPECS, (*(f"items[].{k}" for k in AUDIT_KEYS), "items[].sourceSpec"),
           "the only connection-spec example is a source connector created by POST in a sandbox (audit keys, "
           "sourceSpec); the tutorials' GET of Adobe's destination specs shows id, name, providerId, version, "
           "authSpec, encryptionSpecs and targetSpec, which the emulator serves"),
    Waiver(CONNECTION_SPECS + FLOW_SPECS, ("items[].attributes",),
           "each spec's own data, not the API's shape: the examples' attributes are those of a Dynamics "
           "source and of a cloud-storage source flow"),
    Waiver(CONNECTION_SPECS, ("items[].authSpec[].spec.properties",),
           "each spec's own data, not the API's shape: the JSON Schema of its auth parameters (the "
           "example's: a Dynamics source's serviceUri, username and password)"),
    Waiver(FLOW_SPECS, ("items[].transformationSpec",),
           "the example writes transformationSpec (an array); FlowSpecItemDTO, the schema it illustrates, "
           "names it transformationSpecs, which the emulator serves"),
    Waiver(CONNECTION_SPECS + FLOW_SPECS, ("items[].permissionsInfo",),
           "Adobe's only spec examples are of a source connector a partner created (POST /connectionSpecs, "
           "POST /flowSpecs), with the creator's permissions; destination specs as the tutorials print "
           "them carry none"),
    Waiver(FLOW_SPECS, ("items[].optionSpec", "items[].scheduleSpec"),
           "the same source connector's flow spec: its run options and schedule limits; the destination "
           "flow specs of the tutorials have neither (their schedules are checked per workflow)"),
)  # fmt: skip

#: Error examples with no request that could fail that way, and why.
UNDRIVEN_ERRORS: dict[tuple[str, int], str] = {
    ("GET /targetConnections", 404): "a listing has no id to miss: it answers 200 with what it finds",
}


def s3_flow_that_ran(api: Api) -> dict[str, str]:
    """The dataset-export tutorial's S3 pipeline, after its first run succeeded."""
    ids = make_pipeline(api)
    return {**ids, "run": api.wait_for_run(ids["flow"])["id"]}


def one_time_flow(api: Api) -> str:
    """A one-time (``DAILY_FULL_EXPORT``) S3 dataset flow, which takes ``POST /runs``."""
    ids = make_pipeline(api)
    body = seed.dataflow("amazon_s3", ids["source"], ids["target"])
    body["scheduleParams"] = {"exportMode": "DAILY_FULL_EXPORT", "timeUnit": "day", "interval": 0,
                              "startTime": 1675901210}  # fmt: skip
    return str(api.ok("POST", "/flows", 201, json=body)["id"])


def failed_run(api: Api) -> str:
    """A run that failed (the emulator's fault plan fails its first attempt)."""
    flow = one_time_flow(api)
    api.emulator.add_fault(flow=flow, fail_run_attempts=1)
    api.ok("POST", "/runs", 201, json={"flowId": flow, "params": {"startTime": 1675901210}})
    return str(api.wait_for_run(flow, status="failed")["id"])


def audience_flow(api: Api) -> dict[str, str]:
    """The batch-activation tutorial (seed 004) to Adobe Campaign over SFTP, activated as the flow
    example shows it: an attribute with mandatory and primary fields, then, as the last operation,
    one DAILY_FULL_EXPORT ONCE audience (Adobe's Patch_Batch_Flow_Daily_Full_Once_Scheduled); after
    its first run."""
    base = api.ok("POST", "/connections", 201, json={
        "name": "Base connection to Experience Platform", "connectionSpec": PROFILE_STORE})["id"]  # fmt: skip
    source = api.ok("POST", "/sourceConnections", 201, json={
        "name": "Connecting to Profile Store", "connectionSpec": PROFILE_STORE, "baseConnectionId": base,
        "data": {"format": "CSV", "schema": None}, "params": {}})["id"]  # fmt: skip
    storage = api.ok("POST", "/connections", 201, json={
        "name": "SFTP Connection for Adobe Campaign", "connectionSpec": CAMPAIGN,
        "auth": {"specName": "SFTP with Password",
                 "params": {"domain": "example.com", "host": "sftp.example.com", "username": "u", "password": "p"}},
    })["id"]  # fmt: skip
    target = api.ok("POST", "/targetConnections", 201, json={
        "name": "TargetConnection for Adobe Campaign", "baseConnectionId": storage, "connectionSpec": CAMPAIGN,
        "data": {"format": "json", "schema": {"id": "1.0", "version": "1.0"}},
        "params": {"mode": "FTP", "remotePath": "/campaign/in", "format": "CSV"}})["id"]  # fmt: skip
    flow = api.ok("POST", "/flows", 201, json={
        "name": "Activate segments to Adobe Campaign", "flowSpec": LEGACY_ACTIVATION_FLOW,
        "sourceConnectionIds": [source], "targetConnectionIds": [target],
        "transformations": [{"name": "GeneralTransform", "params": {
            "segmentSelectors": {"selectors": []}, "profileSelectors": {"selectors": []}}}]})["id"]  # fmt: skip
    # The tutorial's attribute (AEP fills in its mapping), with mandatory and primary fields under
    # profileSelectors, where the legacy flow examples show them (the V2 ones, with profileMapping,
    # have them in /transformations/0/params, where Patch_Mandatory_Fields adds them).
    attributes = [
        {"op": "add", "path": f"{PROFILE_SELECTORS}/selectors/-",
         "value": {"type": "JSON_PATH", "value": {"path": "person.name.lastName"}}},
        {"op": "add", "path": f"{PROFILE_SELECTORS}/mandatoryFields", "value": ["person.name.lastName"]},
        {"op": "add", "path": f"{PROFILE_SELECTORS}/primaryFields",
         "value": [{"fieldType": "ATTRIBUTE", "attributePath": "person.name.lastName"}]},
    ]  # fmt: skip
    audience = contract.component_example(DESTINATIONS, "Patch_Batch_Flow_Daily_Full_Once_Scheduled")
    for ops in (attributes, audience):
        response = patch_with_etag(api, "flows", flow, ops)
        assert response.status_code in (200, 202), response.text[:500]
    api.wait_for_run(flow)
    return {"flow": flow, "source": source, "target": target}


def patch_with_etag(api: Api, kind: str, entity_id: str, ops: object) -> requests.Response:
    etag = api.ok("GET", f"/{kind}/{entity_id}")["items"][0]["etag"]
    return api.call("PATCH", f"/{kind}/{entity_id}", json=ops, headers={"If-Match": etag})


def get_first(
    kind: str, key: str, setup: Callable[[Api], dict[str, str]]
) -> Callable[[Api], requests.Response]:
    return lambda api: api.call("GET", f"/{kind}/{setup(api)[key]}")


def delete_unused(kind: str, body: Callable[[Api], dict]) -> Callable[[Api], requests.Response]:
    """Delete an entity no flow uses (one in use is refused)."""

    def drive(api: Api) -> requests.Response:
        entity = api.ok("POST", f"/{kind}", 201, json=body(api))["id"]
        return api.call("DELETE", f"/{kind}/{entity}")

    return drive


def listing(kind: str, setup: Callable[[Api], object]) -> Callable[[Api], requests.Response]:
    def drive(api: Api) -> requests.Response:
        setup(api)
        return api.call("GET", f"/{kind}")

    return drive


def both_pipelines(api: Api) -> None:
    make_pipeline(api, "amazon_s3")
    make_pipeline(api, "sftp")


def an_s3_target_body(api: Api) -> dict:
    base = api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["amazon_s3"])["id"]
    return seed.target_connection("amazon_s3", base)


def _connections(api: Api) -> tuple[str, str]:
    ids = make_pipeline(api)
    return ids["source"], ids["target"]


def run_action(api: Api) -> requests.Response:
    return api.call("POST", f"/runs/{failed_run(api)}/action", params={"op": "RE_TRIGGER"})


def create_run(api: Api) -> requests.Response:
    flow = one_time_flow(api)
    return api.call("POST", "/runs", json={"flowId": flow, "params": {"startTime": 1675901210}})


def flow_action(api: Api) -> requests.Response:
    return api.call("POST", f"/flows/{make_pipeline(api)['flow']}/action", params={"op": "disable"})


def patch_flow(api: Api) -> requests.Response:
    ops = [{"op": "replace", "path": "/scheduleParams/endTime", "value": 1985901210}]
    return patch_with_etag(api, "flows", make_pipeline(api)["flow"], ops)


def runs_of(setup: Callable[[Api], str]) -> Callable[[Api], requests.Response]:
    """``GET /runs`` filtered to the run ``setup`` made."""

    def drive(api: Api) -> requests.Response:
        run = setup(api)
        return api.call("GET", "/runs", params={"property": f"id=={run}"})

    return drive


@dataclass(frozen=True)
class Case:
    """An operation, the example of Adobe's it must match, and the request that shows it."""

    operation: str
    example: Example
    drive: Callable[[Api], requests.Response]
    #: Why this example, where the operation has several, or borrows another operation's.
    why: str = ""
    #: The operation's own success status, where the example is borrowed from another operation.
    answers: int | None = None

    @property
    def status(self) -> int:
        return self.example.status if self.answers is None else self.answers

    @property
    def id(self) -> str:
        borrowed = f" of {self.example.operation}" if self.example.operation != self.operation else ""
        return f"{self.operation} {self.status} {self.example.name}{borrowed}"


def ex(spec: str, operation: str, status: int, name: str = "example") -> Example:
    return contract.example(spec, operation, status, name)


D, F = DESTINATIONS, FLOW_SERVICE

CASES: tuple[Case, ...] = (
    # -- specs: Adobe's catalog, read only ---------------------------------------------------------
    Case("GET /connectionSpecs", ex(F, "POST /connectionSpecs", 201, "success"),
         lambda api: api.call("GET", "/connectionSpecs"),
         "no example of its own; the item schema's (ConnectionSpecItemDTO) only example, items-wrapped", answers=200),
    Case("GET /connectionSpecs/{id}", ex(F, "POST /connectionSpecs", 201, "success"),
         lambda api: api.call("GET", f"/connectionSpecs/{seed.S3_SPEC}"),
         "no example of its own; the item schema's (ConnectionSpecItemDTO) only example, items-wrapped", answers=200),
    Case("GET /connectionSpecs/{id}/configs", ex(D, "GET /connectionSpecs/{id}/configs", 200,
                                                 "Destination_Dataset_Response"),
         lambda api: api.call("GET", f"/connectionSpecs/{seed.DATA_LAKE_SPEC}/configs", params=DATASETS_QUERY),
         "destinations.yaml (eligible datasets); flow-service.yaml's is a source's column list"),
    Case("GET /flowSpecs", ex(F, "POST /flowSpecs", 201, "success"),
         lambda api: api.call("GET", "/flowSpecs"),
         "no example of its own; the item schema's (FlowSpecItemDTO) only example, items-wrapped", answers=200),
    Case("GET /flowSpecs/{id}", ex(F, "POST /flowSpecs", 201, "success"),
         lambda api: api.call("GET", f"/flowSpecs/{S3_DATASET_FLOW}"),
         "no example of its own; the item schema's (FlowSpecItemDTO) only example, items-wrapped", answers=200),
    # -- base connections ------------------------------------------------------------------------------
    Case("POST /connections", ex(D, "POST /connections", 201, "Create_Base_Connection_Response"),
         lambda api: api.call("POST", "/connections", json=seed.BASE_CONNECTIONS["amazon_s3"])),
    Case("GET /connections", ex(D, "GET /connections", 200, "Connections"), listing("connections", both_pipelines)),
    Case("GET /connections/{id}", ex(D, "GET /connections/{id}", 200, "Amazon_S3_Connection_V2"),
         get_first("connections", "base", make_pipeline),
         "the S3 connection of today's spec (4fce964d); Amazon_S3_Connection is the legacy spec's"),
    Case("GET /connections/{id}", ex(D, "GET /connections/{id}", 200, "SFTP_Connection_V2"),
         get_first("connections", "base", lambda api: make_pipeline(api, "sftp")),
         "the SFTP connection of today's spec (36965a81); SFTP_Connection is the legacy spec's"),
    Case("PATCH /connections/{id}", ex(F, "PATCH /connections/{id}", 200),
         lambda api: patch_with_etag(api, "connections", make_pipeline(api)["base"],
                                     {"op": "REPLACE", "path": "/auth/params/s3AccessKey",
                                      "value": "AKIAIOSFODNN7ROTATED"}),
         "destinations.yaml's Patch_Connection_Response names no example; flow-service.yaml's"),
    Case("DELETE /connections/{id}", contract.no_content(D, "DELETE /connections/{id}", 202),
         delete_unused("connections", lambda api: seed.BASE_CONNECTIONS["amazon_s3"]),
         "destinations.yaml's 202 with no body; flow-service.yaml says 204, AEP_API.md either"),
    # -- source connections -----------------------------------------------------------------------------
    Case("POST /sourceConnections", ex(D, "POST /sourceConnections", 201, "Create_Source_Connection_Response"),
         lambda api: api.call("POST", "/sourceConnections", json=seed.SOURCE_CONNECTION)),
    Case("GET /sourceConnections", ex(D, "GET /sourceConnections", 200, "Connections"),
         listing("sourceConnections", make_pipeline),
         "the dataset export's Data Lake source (the Profile Store one: GET /sourceConnections/{id})"),
    Case("GET /sourceConnections/{id}", ex(D, "GET /sourceConnections/{id}", 200,
                                           "SourceConnectionsResponseDataLake"),
         get_first("sourceConnections", "source", make_pipeline), "the dataset export's Data Lake source"),
    Case("GET /sourceConnections/{id}", ex(D, "GET /sourceConnections/{id}", 200, "SourceConnectionsResponseUPS"),
         get_first("sourceConnections", "source", audience_flow), "the audience activation's Profile Store source"),
    Case("PATCH /sourceConnections/{id}", ex(F, "PATCH /connections/{id}", 200),
         lambda api: patch_with_etag(api, "sourceConnections", make_pipeline(api)["source"],
                                     [{"op": "replace", "path": "/name", "value": "renamed"}]),
         "no example in either file; the base connection's PATCH answer ({id, etag}), as AEP answers"),
    Case("DELETE /sourceConnections/{id}", contract.no_content(D, "DELETE /sourceConnections/{id}", 202),
         delete_unused("sourceConnections", lambda api: seed.SOURCE_CONNECTION),
         "destinations.yaml's 202 with no body; flow-service.yaml says 204"),
    # -- target connections -----------------------------------------------------------------------------
    Case("POST /targetConnections", ex(D, "POST /targetConnections", 201, "Create_Base_Connection_Response"),
         lambda api: api.call("POST", "/targetConnections", json=an_s3_target_body(api))),
    Case("GET /targetConnections", ex(D, "GET /targetConnections", 200, "Amazon_S3_Target_Connection_Dataset_V2"),
         listing("targetConnections", make_pipeline), "the dataset export's S3 target"),
    Case("GET /targetConnections/{id}", ex(D, "GET /targetConnections/{id}", 200,
                                           "Amazon_S3_Target_Connection_Dataset_V2"),
         get_first("targetConnections", "target", make_pipeline), "the dataset export's S3 target"),
    Case("GET /targetConnections/{id}", ex(D, "GET /targetConnections/{id}", 200, "SFTP_Target_Connection"),
         get_first("targetConnections", "target", audience_flow), "an audience target on SFTP storage"),
    Case("PATCH /targetConnections/{id}", ex(F, "PATCH /connections/{id}", 200),
         lambda api: patch_with_etag(api, "targetConnections", make_pipeline(api)["target"],
                                     [{"op": "replace", "path": "/params/path", "value": "moved"}]),
         "no example in either file; the base connection's PATCH answer ({id, etag}), as AEP answers"),
    Case("DELETE /targetConnections/{id}", contract.no_content(D, "DELETE /targetConnections/{id}", 202),
         delete_unused("targetConnections", an_s3_target_body),
         "destinations.yaml's 202 with no body; flow-service.yaml says 204"),
    # -- dataflows ---------------------------------------------------------------------------------------
    Case("POST /flows", ex(D, "POST /flows", 201, "Create_Flow_Response"),
         lambda api: api.call("POST", "/flows", json=seed.dataflow("amazon_s3", *_connections(api)))),
    Case("GET /flows", ex(D, "GET /flows", 200, "Flows"), listing("flows", s3_flow_that_ran),
         "one dataset flow that ran: every flow of the example has run (lastRunDetails)"),
    Case("GET /flows/{id}", ex(D, "GET /flows/{id}", 200, "Batch_Flow_Dataset_Schedule_V2"),
         get_first("flows", "flow", s3_flow_that_ran), "the dataset export's flow, after a run"),
    Case("GET /flows/{id}", ex(D, "GET /flows/{id}", 200, "Batch_Flow_Daily_Full_Once_Scheduled"),
         get_first("flows", "flow", audience_flow),
         "an audience flow (legacy spec) after a run; the other legacy examples differ in schedule keys "
         "only (endDate, startTime), the V2 ones map profiles (profileMapping)"),
    Case("PATCH /flows/{id}", ex(D, "PATCH /flows/{id}", 200, "Patch_Flow_Response"), patch_flow),
    Case("DELETE /flows/{id}", contract.no_content(D, "DELETE /flows/{id}", 202),
         lambda api: api.call("DELETE", f"/flows/{make_pipeline(api)['flow']}"),
         "destinations.yaml's 202 with no body; flow-service.yaml says 204"),
    Case("POST /flows/{id}/action", ex(F, "POST /flows", 201), flow_action,
         "no example of its own; its schema (CreateFlowResponse) is POST /flows', whose example this is", answers=200),
    # -- runs ----------------------------------------------------------------------------------------------
    Case("GET /runs", ex(D, "GET /runs", 200, "Batch_Flow_Run"), runs_of(lambda api: s3_flow_that_ran(api)["run"])),
    Case("GET /runs", ex(D, "GET /runs", 200, "Batch_Flow_Run_Failure"), runs_of(failed_run)),
    Case("GET /runs/{id}", ex(D, "GET /runs", 200, "Batch_Flow_Run"),
         lambda api: api.call("GET", f"/runs/{s3_flow_that_ran(api)['run']}"),
         "no example of its own; GET /runs' successful run, items-wrapped as the tutorials show"),
    Case("POST /runs", contract.schema_property_example(F, "CreateFlowRunResponse"), create_run,
         "no example of its own; the property examples of its schema, CreateFlowRunResponse", answers=201),
    Case("POST /runs/{id}/action", ex(F, "PUT /runs/{id}", 200, "success"), run_action,
         "no example of its own; the only example of its schema (FlowRunItemDTO), PUT /runs/{id}'s"),
)  # fmt: skip


def _error_driver(example: Example) -> Callable[[Api], requests.Response] | None:
    """The request that fails as ``example`` shows, or None when none can."""
    method, template = example.operation.split(" ", 1)
    path = template.replace("{id}", seed.DATA_LAKE_SPEC if "connectionSpecs" in template else UNKNOWN_ID)
    body = {"GET": None, "DELETE": None, "PATCH": []}.get(method, {})
    if example.status == 401:
        return lambda api: api.call(method, path, json=body, headers=BAD_TOKEN)
    if example.status == 404 and "{id}" in template:
        return lambda api: api.call(
            method, path, json=body, headers=STALE_ETAG if method == "PATCH" else None
        )
    if example.status == 412:
        kind = template.split("/")[1]
        key = {"connections": "base", "flows": "flow"}[kind]
        return lambda api: api.call(method, f"/{kind}/{make_pipeline(api)[key]}", json=[], headers=STALE_ETAG)
    if example.operation == "POST /connections" and example.status == 400:
        body = {**seed.BASE_CONNECTIONS["amazon_s3"], "connectionSpec": {"id": UNKNOWN_ID, "version": "1.0"}}
        return lambda api: api.call(method, path, json=body)
    return None


ERROR_EXAMPLES = tuple(e for e in contract.all_examples(DESTINATIONS) if e.status >= 400)
ERRORS: tuple[Case, ...] = tuple(
    Case(e.operation, e, drive)
    for e in ERROR_EXAMPLES
    if (e.operation, e.status) not in UNDRIVEN_ERRORS and (drive := _error_driver(e)) is not None
)


def expected_shape(case: Case) -> contract.Shape:
    """The example's shape; an item example borrowed for a list or single GET, items-wrapped."""
    value = case.example.value
    if case.operation.startswith("GET ") and "items" not in value and case.example.status < 400:
        value = {"items": [value]}
    return contract.shape(value)


def waived(operation: str, path: str) -> bool:
    return any(waiver.covers(operation, path) for waiver in WAIVERS)


def check(api: Api, case: Case) -> None:
    """The answer has the example's status and shape; every difference is named at once."""
    response = case.drive(api)
    problems = []
    if response.status_code != case.status:
        problems.append(f"status: Adobe {case.status}, emulator {response.status_code}")
    if case.example.name == contract.NO_CONTENT:
        if response.content:
            problems.append(f"(body): Adobe none, emulator {response.text[:200]!r}")
    else:
        found = contract.differences(expected_shape(case), response.json())
        problems += [str(d) for d in found if not waived(case.operation, d.path)]
    why = f" ({case.why})" if case.why else ""
    assert not problems, f"{case.operation} differs from {case.example.label}{why}:\n" + "\n".join(problems)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_answers_have_the_shape_of_adobes_example(api, case):
    check(api, case)


@pytest.mark.parametrize("case", ERRORS, ids=lambda c: c.id)
def test_errors_have_the_shape_of_adobes_error_example(api, case):
    check(api, case)


def served_operations(emu) -> set[str]:
    """The Flow Service operations the emulator's app serves (its OpenAPI document lists them);
    its own routes (``/_emulator``: admin, UI, docs) and IMS (no Flow Service spec) are not Adobe's
    Flow Service."""
    paths = emu.admin.get("/openapi.json").json()["paths"]
    return {
        contract.operation_key(method, path.removeprefix(FS))
        for path, methods in paths.items()
        if path.startswith(f"{FS}/")
        for method in methods
    }


def test_every_served_operation_has_a_contract(emu):
    assert served_operations(emu) == {case.operation for case in CASES}


def test_every_error_example_of_a_served_operation_is_driven(emu):
    served = served_operations(emu)
    driven = {(case.operation, case.example.status, case.example.name) for case in ERRORS}
    left = {
        (e.operation, e.status, e.name)
        for e in ERROR_EXAMPLES
        if e.operation in served and (e.operation, e.status) not in UNDRIVEN_ERRORS
    }
    assert left == driven


def test_waivers_name_keys_of_adobes_examples():
    """Each waived path is a key of an example its operations match (not a typo, not stale)."""
    for waiver in WAIVERS:
        cases = [c for c in CASES + ERRORS if not waiver.operations or c.operation in waiver.operations]
        assert cases, waiver.operations
        named = {key for case in cases for key in contract.keys(expected_shape(case))}
        assert set(waiver.paths) <= named, set(waiver.paths) - named


#: Operations both files give an example for, where the examples disagree: the file followed.
FILES_DISAGREE = {
    ("GET /connectionSpecs/{id}/configs", 200): DESTINATIONS,  # flow-service.yaml's: a source's columns
}


def test_where_both_files_have_an_example_they_agree_or_the_choice_is_written():
    """The same operation and status in both files: the same shape, or listed in FILES_DISAGREE."""
    by_place: dict[tuple[str, int], dict[str, list[contract.Shape]]] = {}
    for spec in contract.SPEC_FILES:
        for found in contract.all_examples(spec):
            place = by_place.setdefault((found.operation, found.status), {})
            place.setdefault(spec, []).append(contract.shape(found.value))
    both = {place: shapes for place, shapes in by_place.items() if len(shapes) == 2}
    assert both, "the files share no operation any more"
    disagree = {
        place
        for place, shapes in both.items()
        if not any(a == b for a in shapes[DESTINATIONS] for b in shapes[FLOW_SERVICE])
    }
    assert disagree == set(FILES_DISAGREE)
    for (operation, status), spec in FILES_DISAGREE.items():
        assert all(
            c.example.spec == spec for c in CASES if (c.operation, c.example.status) == (operation, status)
        )


def test_the_only_mixed_types_in_the_examples_are_json_patch_values():
    """Where elements of one example disagree on a type, it is a JSON Patch ``value`` (any JSON)."""
    mixed = {(c.id, path) for c in CASES for path in contract.mixed(expected_shape(c))}
    assert {path for _, path in mixed} <= {"items[].lastOperation.ops[].value"}


def test_the_shape_rules():
    """null matches anything, int and float are one number, extra keys pass, missing ones do not,
    and a key only some list elements have is optional."""
    expected = contract.shape({"a": None, "n": 1, "o": {"s": "x"}, "l": [{"k": 1, "only": True}, {"k": 2.5}]})
    assert (
        contract.differences(expected, {"a": [1], "n": 2.0, "o": {"s": "y", "more": 1}, "l": [{"k": 3}]})
        == []
    )
    found = [str(d) for d in contract.differences(expected, {"n": "1", "o": {}, "l": [{"k": 1, "only": 1}]})]
    assert found == [
        "a: Adobe any, emulator missing",  # a null says nothing of the type, but the key is Adobe's
        "n: Adobe number, emulator string",
        "o.s: Adobe string, emulator missing",
        "l[].only: Adobe boolean, emulator number",
    ]
    assert contract.differences(contract.shape({"b": True}), {"b": 1}) == [
        contract.Difference("b", "boolean", "number")
    ]


def test_examples_are_found_by_ref_and_inline():
    """``$ref`` to components/examples, inline ``examples``, a bare ``example``, and no-content answers."""
    assert (
        ex(D, "GET /flows/{id}", 200, "Batch_Flow_Dataset_Schedule_V2").value["items"][0]["transformations"]
        == []
    )
    assert ex(F, "PATCH /connections/{id}", 200).value.keys() == {"id", "etag"}
    assert ex(D, "GET /flows", 401).value == {"error_code": 401013, "message": "Oauth token is not valid"}
    with pytest.raises(KeyError):
        ex(D, "PATCH /connections/{id}", 200, "Patch_Connection_Response")  # a $ref to nothing
    assert contract.no_content(D, "DELETE /flows/{id}", 202).name == contract.NO_CONTENT
    with pytest.raises(KeyError):
        contract.no_content(D, "GET /flows", 200)
