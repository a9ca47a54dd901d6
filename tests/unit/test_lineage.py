"""OpenLineage of dataflows: exact names and facets per destination, read through the real hook
from a scripted AEP; nothing secret in them; a failure never fails the task; no import cost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_aep.catalog import get_destination
from airflow_provider_aep.lineage import (
    DATASET_FACET,
    RUN_FACET,
    aep_namespace,
    build_lineage,
    dataflow_lineage,
    flow_segments,
    source_datasets,
)
from airflow_provider_aep.operators.dataflows import AEPActivateSegmentsOperator, AEPCreateDataflowOperator
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor
from tests.conftest import CLIENT_SECRET, ORG_ID
from tests.unit.fake_http import TOKEN, Call, response

#: From the openlineage extra, which the version matrix's older-Airflow venvs go without.
Serde = pytest.importorskip("openlineage.client.serde", reason="the openlineage extra is not installed").Serde

ROOT = Path(__file__).resolve().parents[2]
AEP_NS = f"aep://{ORG_ID}/prod"
FLOW_ID = "f0f0f0f0-1111-2222-3333-444455556666"
DEVICES = {"dataSetId": "5ef3e3259ad2a1191ab7dd7d", "name": "AAM Devices Data"}
REALTIME = {"dataSetId": "6fd4e4360ab3b2202bc8ee8e", "name": "AAM Realtime"}
SEGMENT_A = {"id": "9f7d37fd-7039-4454-94ef-2b0cd6c3206a", "name": "Interested in Mountain Biking"}
SEGMENT_B = {"id": "25768be6-ebd5-45cc-8913-12fb3f348613"}
#: What a destination's credentials might hold: none of it may reach a lineage event.
SECRETS = (
    "AKIAIOSFODNN7SECRET01",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY0",
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0MTIzNDU2Nzg5MA==",
    "sftp-Passw0rd-XYZ",
)


def _dataset_flow(target: dict[str, Any], base: dict[str, Any] | None, datasets: list[dict[str, Any]]):
    """The entities of one dataflow, as AEP shows them (base connection secrets included, to be safe)."""
    return {
        ("flows", FLOW_ID): {
            "id": FLOW_ID,
            "sourceConnectionIds": ["src-1"],
            "targetConnectionIds": ["tgt-1"],
            "transformations": [],
        },
        ("sourceConnections", "src-1"): {"id": "src-1", "params": {"datasets": datasets}},
        ("targetConnections", "tgt-1"): {"id": "tgt-1", "baseConnectionId": "base-1", **target},
        ("connections", "base-1"): {"id": "base-1", "auth": {"params": base or {}}},
    }


def _target(destination: str, params: dict[str, Any]) -> dict[str, Any]:
    spec = get_destination(destination).connection_spec_id
    return {"connectionSpec": {"id": spec, "version": "1.0"}, "params": params}


CASES = {
    "amazon_s3": (
        _target("amazon_s3", {"bucketName": "acme-aep-exports", "path": "/datasets/daily/"}),
        {"s3AccessKey": SECRETS[0], "s3SecretKey": SECRETS[1]},
        ("s3://acme-aep-exports", "datasets/daily"),
    ),
    "azure_blob": (
        _target("azure_blob", {"container": "aep-exports", "path": "datasets/daily"}),
        {
            "connectionString": "DefaultEndpointsProtocol=https;AccountName=acmestore;"
            f"AccountKey={SECRETS[2]};EndpointSuffix=core.windows.net"
        },
        ("wasbs://aep-exports@acmestore.blob.core.windows.net", "datasets/daily"),
    ),
    "sftp": (
        _target("sftp", {"remotePath": "/exports/aep/daily"}),
        {"domain": "sftp.acme.test", "port": 2222, "username": "aep", "password": SECRETS[3]},
        ("sftp://sftp.acme.test:2222", "exports/aep/daily"),
    ),
    "data_landing_zone": (
        _target("data_landing_zone", {"path": "datasets/daily"}),
        None,
        (f"aep-dlz://{ORG_ID}", "prod/datasets/daily"),
    ),
}


@pytest.fixture
def aep(fake, sleeps):
    """A scripted AEP that answers GETs of entities (and the dataset listing) from a dict."""
    world: dict[tuple[str, str], dict[str, Any]] = {}
    listing: list[dict[str, Any]] = []

    def answer(call: Call):
        parts = call.flow_path.strip("/").split("/")
        if call.method == "GET" and parts[-1] == "configs":
            return response(200, {"items": listing, "pageInfo": {"start": 0, "hasNext": False}})
        if call.method == "GET" and len(parts) == 2 and tuple(parts) in world:
            return response(200, {"items": [world[(parts[0], parts[1])]]})
        return response(404, {"code": "404", "message": "not found"})

    fake.default = answer
    fake.world, fake.listing = world, listing
    return fake


def as_json(lineage) -> dict[str, Any]:
    """The lineage as OpenLineage serializes it into an event."""
    return {
        "inputs": [Serde.to_dict(d) for d in lineage.inputs],
        "outputs": [Serde.to_dict(d) for d in lineage.outputs],
        "run": {key: Serde.to_dict(f) for key, f in lineage.run_facets.items()},
    }


def _plain(facet: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in facet.items() if not k.startswith("_")}


def assert_nothing_secret(lineage) -> None:
    text = json.dumps(as_json(lineage))
    for secret in (*SECRETS, CLIENT_SECRET, TOKEN):
        assert secret not in text


@pytest.mark.parametrize("destination", list(CASES))
def test_a_dataset_flow_names_the_aep_datasets_and_the_destination_folder(aep, hook, destination):
    target, base, (namespace, name) = CASES[destination]
    aep.world.update(_dataset_flow(target, base, [DEVICES, REALTIME]))

    lineage = as_json(dataflow_lineage(hook, FLOW_ID))

    assert [(d["namespace"], d["name"]) for d in lineage["inputs"]] == [
        (AEP_NS, DEVICES["dataSetId"]),
        (AEP_NS, REALTIME["dataSetId"]),
    ]
    assert [_plain(d["facets"][DATASET_FACET]) for d in lineage["inputs"]] == [
        {"type": "dataset", "name": "AAM Devices Data"},
        {"type": "dataset", "name": "AAM Realtime"},
    ]
    [output] = lineage["outputs"]
    assert (output["namespace"], output["name"]) == (namespace, name)
    assert output["outputFacets"] == {}  # no run yet: no statistics
    assert _plain(lineage["run"][RUN_FACET]) == {
        "flowId": FLOW_ID,
        "sandbox": "prod",
        "destination": destination,
    }
    assert "externalQuery" not in lineage["run"]
    assert_nothing_secret(dataflow_lineage(hook, FLOW_ID))


def test_an_audience_flow_names_its_segments_and_the_storage_behind_the_destination(aep, hook):
    aep.world.update(
        _dataset_flow(
            _target("amazon_s3_audiences", {"bucketName": "acme-audiences", "path": "aep/audiences"}), {}, []
        )
    )
    selectors = [{"type": "PLATFORM_SEGMENT", "value": {**s, "exportMode": "DAILY_FULL_EXPORT"}} for s in (SEGMENT_A, SEGMENT_B)]  # fmt: skip
    aep.world[("flows", FLOW_ID)]["transformations"] = [
        {
            "name": "GeneralTransform",
            "params": {"segmentSelectors": {"selectors": selectors}, "profileSelectors": {"selectors": []}},
        }
    ]

    lineage = as_json(dataflow_lineage(hook, FLOW_ID))

    assert [(d["namespace"], d["name"], _plain(d["facets"][DATASET_FACET])) for d in lineage["inputs"]] == [
        (AEP_NS, f"segment:{SEGMENT_A['id']}", {"type": "segment", "name": SEGMENT_A["name"]}),
        (AEP_NS, f"segment:{SEGMENT_B['id']}", {"type": "segment"}),
    ]
    assert [(d["namespace"], d["name"]) for d in lineage["outputs"]] == [
        ("s3://acme-audiences", "aep/audiences")
    ]
    # An audience flow has no source datasets to read: its Profile Store source is never asked for.
    assert not [c for c in aep.api_calls if "sourceConnections" in c.path]


def test_run_summary_gives_statistics_and_the_run_facets():
    location_keys = {"bucketName": "b", "path": ""}
    from airflow_provider_aep.assets import export_location

    location = export_location(get_destination("amazon_s3"), location_keys, {}, sandbox="dev", org_id=ORG_ID)
    summary = {
        "run_id": "run-42", "flow_id": FLOW_ID, "status": "success",
        "started_at": "2026-01-02T00:00:00+00:00", "completed_at": "2026-01-02T00:05:00+00:00",
        "input_records": 120, "output_records": 118, "skipped_records": 2, "failed_records": 0,
        "output_bytes": 4096, "files_out": 3, "attempts": 2,
        "sources": [
            {"id": DEVICES["dataSetId"], "input_records": 100, "output_records": 99},
            # Exported by the run, though the flow as read no longer lists it.
            {"id": REALTIME["dataSetId"], "input_records": 20, "output_records": 19},
        ],
        "segments": [],
        "errors": [],
    }  # fmt: skip

    lineage = as_json(
        build_lineage(
            namespace=aep_namespace(ORG_ID, "dev"),
            entities=source_datasets({"params": {"datasets": [DEVICES]}}),
            location=location,
            flow_id=FLOW_ID,
            summary=summary,
        )
    )

    assert [(d["name"], _plain(d["inputFacets"]["inputStatistics"])) for d in lineage["inputs"]] == [
        (DEVICES["dataSetId"], {"rowCount": 100}),
        (REALTIME["dataSetId"], {"rowCount": 20}),
    ]
    assert lineage["inputs"][0]["namespace"] == f"aep://{ORG_ID}/dev"
    [output] = lineage["outputs"]
    assert (output["namespace"], output["name"]) == ("s3://b", "/")  # the bucket's root
    assert _plain(output["outputFacets"]["outputStatistics"]) == {
        "rowCount": 118,
        "size": 4096,
        "fileCount": 3,
    }
    assert _plain(lineage["run"][RUN_FACET]) == {
        "flowId": FLOW_ID, "sandbox": "dev", "destination": "amazon_s3", "runId": "run-42",
        "status": "success", "startedAt": "2026-01-02T00:00:00+00:00",
        "completedAt": "2026-01-02T00:05:00+00:00", "inputRecords": 120, "outputRecords": 118,
        "skippedRecords": 2, "failedRecords": 0, "outputBytes": 4096, "filesOut": 3, "attempts": 2,
    }  # fmt: skip
    assert _plain(lineage["run"]["externalQuery"]) == {
        "externalQueryId": "run-42",
        "source": f"aep://{ORG_ID}/dev",
    }


def test_unnamed_datasets_are_named_from_one_listing_that_stops_when_all_are_found(aep, hook):
    target, base, _ = CASES["amazon_s3"]
    aep.world.update(_dataset_flow(target, base, [{"dataSetId": DEVICES["dataSetId"]}, REALTIME]))
    aep.listing[:] = [
        {"id": "other", "name": "Other"},
        {"id": DEVICES["dataSetId"], "name": "AAM Devices Data"},
    ]

    lineage = as_json(dataflow_lineage(hook, FLOW_ID))

    assert [d["facets"][DATASET_FACET]["name"] for d in lineage["inputs"]] == [
        "AAM Devices Data",
        "AAM Realtime",
    ]
    assert len([c for c in aep.api_calls if c.flow_path.endswith("/configs")]) == 1


def test_named_datasets_cost_no_listing(aep, hook):
    target, base, _ = CASES["amazon_s3"]
    aep.world.update(_dataset_flow(target, base, [DEVICES]))
    dataflow_lineage(hook, FLOW_ID)
    assert not [c for c in aep.api_calls if c.flow_path.endswith("/configs")]


def test_selectors_and_source_params_are_read_defensively():
    flow = {"transformations": [{"params": {"segmentSelectors": {"selectors": [
        {"value": SEGMENT_A}, {"value": SEGMENT_A}, {"value": {"id": ""}}, {"value": None}, "junk",
    ]}}}]}  # fmt: skip
    assert [(s.id, s.name) for s in flow_segments(flow)] == [(SEGMENT_A["id"], SEGMENT_A["name"])]
    assert flow_segments({"transformations": []}) == []
    source = {"params": {"datasets": [DEVICES, DEVICES, {"dataSetId": None}, "junk"]}}
    assert [d.id for d in source_datasets(source)] == [DEVICES["dataSetId"]]


# -- the operators -------------------------------------------------------------------------------


def _create_flow_operator() -> AEPCreateDataflowOperator:
    return AEPCreateDataflowOperator(
        task_id="create_dataflow",
        destination="amazon_s3",
        name="Daily export",
        source_connection_id="src-1",
        target_connection_id="tgt-1",
    )


def test_the_create_operator_names_the_flow_it_created_on_complete(aep, hook):
    target, base, _ = CASES["amazon_s3"]
    aep.world.update(_dataset_flow(target, base, [DEVICES]))
    operator = _create_flow_operator()
    assert as_json(operator.get_openlineage_facets_on_start()) == {"inputs": [], "outputs": [], "run": {}}
    assert as_json(operator.get_openlineage_facets_on_complete(None))["inputs"] == []  # no flow yet

    operator.flow_id = FLOW_ID  # what execute sets
    lineage = as_json(operator.get_openlineage_facets_on_complete(None))

    assert [(d["namespace"], d["name"]) for d in lineage["inputs"]] == [(AEP_NS, DEVICES["dataSetId"])]
    assert [(d["namespace"], d["name"]) for d in lineage["outputs"]] == [
        ("s3://acme-aep-exports", "datasets/daily")
    ]
    assert lineage["run"][RUN_FACET]["flowId"] == FLOW_ID


@pytest.mark.parametrize("failure", ["missing flow", "server error"])
def test_a_lineage_failure_is_logged_and_never_fails_the_task(aep, hook, logged, failure):
    if failure == "server error":
        aep.default = lambda call: response(503, {"message": "down"})
    operator = _create_flow_operator()
    operator.flow_id = FLOW_ID

    lineage = operator.get_openlineage_facets_on_complete(None)

    assert (lineage.inputs, lineage.outputs, lineage.run_facets) == ([], [], {})
    assert "OpenLineage facets for task create_dataflow could not be built" in logged()


def test_the_activate_operator_names_the_audiences_on_the_flow(aep, hook):
    aep.world.update(
        _dataset_flow(
            _target("sftp_audiences", {"remotePath": "/audiences"}), {"domain": "sftp.acme.test"}, []
        )
    )
    aep.world[("flows", FLOW_ID)]["transformations"] = [
        {"params": {"segmentSelectors": {"selectors": [{"value": SEGMENT_A}]}}}
    ]
    operator = AEPActivateSegmentsOperator(task_id="activate", flow_id=FLOW_ID, segments=[SEGMENT_A["id"]])

    lineage = as_json(operator.get_openlineage_facets_on_complete(None))

    assert [d["name"] for d in lineage["inputs"]] == [f"segment:{SEGMENT_A['id']}"]
    assert [(d["namespace"], d["name"]) for d in lineage["outputs"]] == [
        ("sftp://sftp.acme.test", "audiences")
    ]


def _summary(**counts: Any) -> dict[str, Any]:
    return {
        "run_id": "run-7", "flow_id": FLOW_ID, "status": "success", "input_records": 10,
        "output_records": 10, "skipped_records": 0, "failed_records": 0, "output_bytes": 512,
        "files_out": 1, "attempts": 1, "errors": [], "segments": [],
        "sources": [{"id": DEVICES["dataSetId"], "input_records": 10, "output_records": 10}], **counts,
    }  # fmt: skip


def test_the_sensor_names_the_flow_on_start_and_the_run_it_waited_for_on_complete(aep, hook):
    target, base, _ = CASES["amazon_s3"]
    aep.world.update(_dataset_flow(target, base, [DEVICES]))
    sensor = AEPDataflowRunSensor(task_id="wait", flow_id=FLOW_ID, deferrable=False)

    start = as_json(sensor.get_openlineage_facets_on_start())
    assert _names_of(start) == (
        [(AEP_NS, DEVICES["dataSetId"])],
        [("s3://acme-aep-exports", "datasets/daily")],
    )
    assert "runId" not in start["run"][RUN_FACET]

    sensor.run_summary = _summary()  # what a successful wait keeps
    complete = as_json(sensor.get_openlineage_facets_on_complete(None))
    assert _names_of(complete) == _names_of(start)
    assert _plain(complete["run"][RUN_FACET])["runId"] == "run-7"
    assert complete["run"]["externalQuery"]["externalQueryId"] == "run-7"
    assert _plain(complete["outputs"][0]["outputFacets"]["outputStatistics"]) == {
        "rowCount": 10,
        "size": 512,
        "fileCount": 1,
    }


def test_the_sensor_uses_the_location_its_asset_events_resolved(aep, hook):
    from airflow_provider_aep.assets import ExportLocation

    target, base, _ = CASES["amazon_s3"]
    aep.world.update(_dataset_flow(target, base, [DEVICES]))
    sensor = AEPDataflowRunSensor(task_id="wait", flow_id=FLOW_ID, deferrable=False)
    sensor.run_summary = _summary()
    sensor.location = ExportLocation("s3", "acme-aep-exports", "datasets/daily", "amazon_s3", "prod")

    complete = as_json(sensor.get_openlineage_facets_on_complete(None))

    assert _names_of(complete)[1] == [("s3://acme-aep-exports", "datasets/daily")]
    assert not [c for c in aep.api_calls if "targetConnections" in c.path]  # not read again


def test_the_sensor_completes_an_azure_uri_with_its_storage_account(aep, hook):
    aep.world.update(
        _dataset_flow(_target("azure_blob", {"container": "exports", "path": "d"}), {}, [DEVICES])
    )
    sensor = AEPDataflowRunSensor(
        task_id="wait", flow_id=FLOW_ID, deferrable=False, storage_account="acmestore"
    )

    lineage = as_json(sensor.get_openlineage_facets_on_complete(None))

    assert _names_of(lineage)[1] == [("wasbs://exports@acmestore.blob.core.windows.net", "d")]
    assert "outputStatistics" not in lineage["outputs"][0]["outputFacets"]  # no successful wait


def test_a_sensor_lineage_failure_never_fails_the_task(aep, hook, logged):
    sensor = AEPDataflowRunSensor(task_id="wait", flow_id=FLOW_ID, deferrable=False)
    sensor.run_summary = _summary()
    lineage = sensor.get_openlineage_facets_on_complete(None)  # the flow is not there: 404
    assert (lineage.inputs, lineage.outputs, lineage.run_facets) == ([], [], {})
    assert "OpenLineage facets for task wait could not be built" in logged()


def _names_of(lineage: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    return (
        [(d["namespace"], d["name"]) for d in lineage["inputs"]],
        [(d["namespace"], d["name"]) for d in lineage["outputs"]],
    )


# -- import cost ---------------------------------------------------------------------------------

#: OpenLineage's own modules (Airflow's provider discovery may still read the provider's info).
OPENLINEAGE = ("openlineage", "airflow.providers.openlineage.", "airflow.providers.common.compat.openlineage")
LOAD = f"""
import importlib, importlib.abc, runpy, sys
from pathlib import Path

class OpenLineageMissing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.startswith({OPENLINEAGE!r}) and not name.endswith(".get_provider_info"):
            raise ImportError(name + " is not installed")

if sys.argv[1] == "missing":
    sys.meta_path.insert(0, OpenLineageMissing())
import airflow.sdk
before = set(sys.modules)
for module in ("airflow_provider_aep.operators.dataflows", "airflow_provider_aep.sensors.dataflow_run",
               "airflow_provider_aep.lineage"):
    importlib.import_module(module)
print(sorted(m for m in set(sys.modules) - before if m.startswith({OPENLINEAGE!r})))
for path in sorted(Path("dags_examples").glob("*.py")):
    dags = [v for v in runpy.run_path(str(path)).values() if type(v).__name__ == "DAG"]
    print(path.name, len(dags))
"""


@pytest.mark.parametrize("openlineage", ["installed", "missing"])
def test_the_operators_import_no_openlineage_module_and_the_dags_parse_without_it(openlineage):
    done = subprocess.run(
        [sys.executable, "-c", LOAD, openlineage], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded, *dags = done.stdout.strip().splitlines()
    assert loaded == "[]"
    assert "export_datasets.py 1" in dags


QUERY_SQL = (
    "CREATE TABLE loyalty_gold AS SELECT m.personID, e.email FROM loyalty_members m "
    "JOIN email_engagement e ON m.personID = e.personID"
)


def test_a_query_names_the_tables_its_sql_reads_and_writes_and_carries_the_sql(hook):
    from airflow_provider_aep.lineage import query_lineage

    lineage = query_lineage(hook, QUERY_SQL)
    namespace = f"aep://{hook.settings.org_id}/{hook.sandbox_name}"
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        (namespace, "email_engagement"),
        (namespace, "loyalty_members"),
    ]
    assert [(d.namespace, d.name) for d in lineage.outputs] == [(namespace, "loyalty_gold")]
    assert lineage.job_facets["sql"].query == QUERY_SQL
    assert lineage.run_facets == {}


def test_a_finished_query_names_its_output_by_dataset_id_as_an_export_names_its_input(hook):
    from airflow_provider_aep.lineage import query_lineage

    summary = {
        "query_id": "q-1",
        "rows": 12,
        "output_dataset": {"id": "6b0f00000000000000000001", "name": "loyalty_gold"},
    }
    lineage = as_json(query_lineage(hook, QUERY_SQL, summary=summary))
    [output] = lineage["outputs"]
    assert output["name"] == "6b0f00000000000000000001"
    assert output["facets"]["aep_dataset"]["name"] == "loyalty_gold"
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 12
    assert lineage["run"]["externalQuery"]["externalQueryId"] == "q-1"
