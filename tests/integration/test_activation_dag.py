"""The audience-activation example DAG, in real Airflow, against the emulator, for each of the seven destinations."""

from __future__ import annotations

import csv
import re

import pytest

from aep_emulator.segments import population
from airflow_provider_aep.catalog import get_destination
from dags_examples.activate_segments import LOCATIONS, SEGMENTS

DAG_ID = "aep_activate_segments"
MODES = {"bucketName": "S3", "container": "AZURE_BLOB", "remotePath": "FTP"}
pytestmark = pytest.mark.integration


def _writes(emulator, since):
    return [r for r in emulator.requests()[since:] if r["method"] in ("POST", "PATCH")]


@pytest.mark.parametrize("destination", list(LOCATIONS))
def test_activate_segments_dag(airflow_home, emulator, destination):
    before = len(emulator.requests())
    airflow_home.dags_test(DAG_ID, {"destination": destination})
    states = airflow_home.task_states(DAG_ID)
    assert set(states.values()) == {"success"}, states
    spec = get_destination(destination)
    writes = _writes(emulator, before)
    by_path = {}
    for r in writes:
        by_path.setdefault(r["path"].rsplit("/", 1)[-1] if r["method"] == "POST" else "PATCH", []).append(r)

    # Profile Store base + destination base, Profile Store source, the target, the flow, one PATCH.
    # The Profile Store connections have fixed names: an earlier run's are reused (if_exists="reuse").
    source = emulator.entities("sourceConnections")[airflow_home.xcom(DAG_ID, "create_source_connection")]
    assert source["connectionSpec"]["id"] == "8a9c3494-9708-43d7-ae3f-cda01e5030e1"
    assert source["data"] == {"format": "CSV", "schema": None}
    profile_base = emulator.entities("connections")[source["baseConnectionId"]]
    assert profile_base["connectionSpec"]["id"] == "8a9c3494-9708-43d7-ae3f-cda01e5030e1"
    destination_base = emulator.entities("connections")[airflow_home.xcom(DAG_ID, "create_base_connection")]
    assert destination_base["connectionSpec"]["id"] == spec.connection_spec_id

    [target] = by_path["targetConnections"]
    params = target["body"]["params"]
    assert params["format"] == "CSV"
    assert target["body"]["data"] == {"format": "json", "schema": {"id": "1.0", "version": "1.0"}}
    for key, value in LOCATIONS[destination].items():
        assert params[key] == value
    if spec.target_mode != "Cloud Storage":  # email marketing: the storage follows the location
        assert params["mode"] == MODES[next(iter(LOCATIONS[destination]))]
    [flow] = by_path["flows"]
    assert flow["body"]["flowSpec"]["id"] == spec.flow_spec_id
    [patch] = by_path["PATCH"]
    assert patch["if_match"]
    assert patch["if_match"].startswith('"')
    assert [op["value"]["value"]["id"] for op in patch["body"] if "segmentSelectors" in op["path"]] == [
        s["id"] for s in SEGMENTS
    ]

    # The operator returned the activated ids; the sensor the counts, per segment.
    assert airflow_home.xcom(DAG_ID, "activate_segments") == [s["id"] for s in SEGMENTS]
    summary = airflow_home.xcom(DAG_ID, "wait_for_activation_run")
    assert summary["status"] == "success"
    assert [s["id"] for s in summary["segments"]] == [s["id"] for s in SEGMENTS]
    for segment in summary["segments"]:
        size = population(segment["id"])
        assert segment["input_records"] == size
        assert segment["output_records"] == size - size // 10  # every tenth has no last name (mandatory)

    # CSV files named from the filenameTemplate, with the selected attributes as columns.
    run = emulator.entities("runs")[summary["run_id"]]
    entities = run["metrics"]["recordSummary"]["targetSummaries"][0]["entitySummaries"]
    files = [f["id"] for f in entities if "path" in f]  # beside the audiences' ``segment:<id>`` counts
    assert len(files) == 2
    name = re.escape(re.sub(r"[^0-9A-Za-z._\-]+", "_", spec.name))
    for path, segment in zip(files, SEGMENTS, strict=True):
        assert re.search(rf"/{name}_{segment['id']}_\d{{8}}_\d{{6}}\.csv$", path), path
        with (emulator.config.exports_dir / path).open() as handle:
            rows = list(csv.DictReader(handle))
        assert list(rows[0]) == ["person.name.firstName", "person.name.lastName", "personalEmail.address"]
        assert all(row["person.name.lastName"] for row in rows)
