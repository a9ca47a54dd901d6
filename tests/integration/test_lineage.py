"""OpenLineage events from a real DAG run: the real provider, its file transport, the emulator.

One ``airflow dags test`` of the export DAG with OpenLineage writing every event to a file; the
events must parse, and the dataflow's and the sensor's must name the AEP dataset (input), the
destination folder (output) and, for the sensor, the run the sensor's XCom reports.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from aep_emulator.datasets import BY_ID
from aep_emulator.demo import DEMO_CREDENTIALS

DAG_ID = "aep_export_datasets"
DEVICES = BY_ID["5ef3e3259ad2a1191ab7dd7d"]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def lineage_run(airflow_home, tmp_path_factory) -> dict[str, Any]:
    """The events of one export DAG run with OpenLineage on, and the run's XComs."""
    events_file = tmp_path_factory.mktemp("openlineage") / "events.ndjson"
    transport = {"type": "file", "log_file_path": str(events_file), "append": True}
    airflow_home.dags_test(
        DAG_ID,
        {"destination": "amazon_s3"},
        env={
            "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
            "AIRFLOW__OPENLINEAGE__NAMESPACE": "aep-tests",
        },
    )
    text = events_file.read_text()
    return {
        "aep_namespace": f"aep://{airflow_home.emulator.config.org_id}/prod",
        "secrets": (airflow_home.emulator.config.client_secret, DEMO_CREDENTIALS["amazon_s3"]["password"]),
        "text": text,
        "events": [json.loads(line) for line in text.splitlines() if line.strip()],
        "flow_id": airflow_home.xcom(DAG_ID, "create_dataflow"),
        "summary": airflow_home.xcom(DAG_ID, "wait_for_export_run"),
    }


def _event(events: list[dict[str, Any]], task_id: str, event_type: str) -> dict[str, Any]:
    found = [
        e for e in events if e["job"]["name"] == f"{DAG_ID}.{task_id}" and e.get("eventType") == event_type
    ]
    assert found, f"no {event_type} event for {task_id}: {sorted({e['job']['name'] for e in events})}"
    return found[-1]


def _names(datasets: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(d["namespace"], d["name"]) for d in datasets]


def test_the_dataflow_task_emits_the_aep_dataset_and_the_destination_folder(lineage_run):
    events = lineage_run["events"]
    assert all(e["producer"] and e["job"]["namespace"] == "aep-tests" for e in events)
    complete = _event(events, "create_dataflow", "COMPLETE")

    assert _names(complete["inputs"]) == [(lineage_run["aep_namespace"], DEVICES.id)]
    assert complete["inputs"][0]["facets"]["aep_dataset"]["name"] == DEVICES.name
    assert _names(complete["outputs"]) == [("s3://acme-aep-exports", "datasets/daily")]
    facet = complete["run"]["facets"]["aep_dataflowRun"]
    assert (facet["flowId"], facet["destination"], facet["sandbox"]) == (
        lineage_run["flow_id"],
        "amazon_s3",
        "prod",
    )


def test_no_secret_reaches_an_event(lineage_run):
    for secret in lineage_run["secrets"]:
        assert secret not in lineage_run["text"]


def test_the_sensor_emits_the_run_it_waited_for(lineage_run):
    events, summary = lineage_run["events"], lineage_run["summary"]
    start = _event(events, "wait_for_export_run", "START")
    complete = _event(events, "wait_for_export_run", "COMPLETE")

    for event in (start, complete):
        assert _names(event["inputs"]) == [(lineage_run["aep_namespace"], DEVICES.id)]
        [output] = event["outputs"]
        assert f"{output['namespace']}/{output['name']}" == "s3://acme-aep-exports/datasets/daily"
    facet = complete["run"]["facets"]["aep_dataflowRun"]
    assert (facet["flowId"], facet["runId"], facet["status"]) == (
        lineage_run["flow_id"],
        summary["run_id"],
        "success",
    )
    assert facet["outputRecords"] == summary["output_records"] == DEVICES.record_count
    assert complete["run"]["facets"]["externalQuery"]["externalQueryId"] == summary["run_id"]
    statistics = complete["outputs"][0]["outputFacets"]["outputStatistics"]
    assert (statistics["rowCount"], statistics["size"], statistics["fileCount"]) == (
        summary["output_records"],
        summary["output_bytes"],
        summary["files_out"],
    )
    assert complete["inputs"][0]["inputFacets"]["inputStatistics"]["rowCount"] == DEVICES.record_count
