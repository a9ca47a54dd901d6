"""Audiences to the six enhanced cloud-storage destinations: the example DAG, in real Airflow,
against the emulator, each destination with another file format."""

from __future__ import annotations

import csv
import gzip
import io
import json
import re

import pyarrow.parquet as pq
import pytest

from aep_emulator.segments import population
from airflow_provider_aep.catalog import get_destination
from dags_examples.activate_audiences_cloud_storage import AUDIENCES, COLUMNS, LOCATIONS

DAG_ID = "aep_activate_audiences_cloud_storage"
PROFILE_STORE = "8a9c3494-9708-43d7-ae3f-cda01e5030e1"
pytestmark = pytest.mark.integration

#: Each destination with one of the formats, so that every format is written once at least.
FORMATS = {
    "amazon_s3": {"file_type": "CSV", "compression": "GZIP"},
    "azure_blob": {"file_type": "JSON", "compression": "NONE"},
    "adls_gen2": {"file_type": "PARQUET", "compression": "NONE"},
    "data_landing_zone": {"file_type": "JSON", "compression": "GZIP"},
    "google_cloud_storage": {"file_type": "CSV", "compression": "NONE"},
    "sftp": {"file_type": "CSV", "compression": "GZIP"},
}


def _rows(path, file_type: str) -> list[dict[str, str]]:
    """The records of one exported file, as header -> value."""
    if file_type == "PARQUET":
        return list(pq.read_table(path).to_pylist())
    data = path.read_bytes()
    text = (gzip.decompress(data) if path.name.endswith(".gz") else data).decode()
    if file_type == "JSON":
        return [json.loads(line) for line in text.splitlines()]
    return list(csv.DictReader(io.StringIO(text), delimiter=";"))


@pytest.mark.parametrize("destination", list(LOCATIONS))
def test_activate_audiences_to_a_cloud_storage_destination(airflow_home, emulator, destination):
    chosen = FORMATS[destination]
    before = len(emulator.requests())
    airflow_home.dags_test(DAG_ID, {"destination": destination, **chosen})
    states = airflow_home.task_states(DAG_ID)
    assert set(states.values()) == {"success"}, states
    spec = get_destination(destination)
    sent = {(r["method"], r["path"].split("?")[0]): r for r in emulator.requests()[before:]}

    # The source connection as Adobe's current tutorial sends it: a name, a description, the spec.
    source = emulator.entities("sourceConnections")[airflow_home.xcom(DAG_ID, "create_source_connection")]
    assert source["connectionSpec"]["id"] == PROFILE_STORE
    assert "data" not in source

    target = emulator.entities("targetConnections")[airflow_home.xcom(DAG_ID, "create_target_connection")]
    assert target["connectionSpec"]["id"] == spec.connection_spec_id
    assert target["params"] == {
        "mode": "Server-to-server",
        **LOCATIONS[destination],
        "compression": chosen["compression"],
        "fileType": chosen["file_type"],
        "includeFileManifest": True,
        **(
            {
                "csvOptions": {
                    "delimiter": ";",
                    "quote": '"',
                    "escape": "\\",
                    "nullValue": "null",
                    "emptyValue": "",
                }
            }
            if chosen["file_type"] == "CSV"
            else {}
        ),
    }
    flow = emulator.entities("flows")[airflow_home.xcom(DAG_ID, "create_dataflow")]
    assert flow["flowSpec"]["id"] == spec.audience_flow_spec_id
    params = flow["transformations"][0]["params"]
    assert [s["value"]["id"] for s in params["segmentSelectors"]["selectors"]] == [a["id"] for a in AUDIENCES]
    assert params["mandatoryFields"] == ["lastName"]
    assert params["primaryFields"] == [{"identityNamespace": "Email", "fieldType": "IDENTITY"}]
    # The mapping set the tutorial's chain made, with the DAG's columns.
    mapping = emulator.entities("mappingSets")[params["profileMapping"]["mappingId"]]
    assert {m["destination"]: m["source"] for m in mapping["mappings"]} == COLUMNS
    assert ("POST", "/data/foundation/conversion/mappingSets") in sent
    assert ("GET", "/data/core/ups/config/entityTypes/_xdm.context.profile") in sent

    # The run's per-audience counts reached XCom.
    summary = airflow_home.xcom(DAG_ID, "wait_for_activation_run")
    assert summary["status"] == "success"
    assert [s["id"] for s in summary["segments"]] == [a["id"] for a in AUDIENCES]
    for audience in summary["segments"]:
        size = population(audience["id"])
        assert audience["input_records"] == size
        assert audience["output_records"] == size - size // 10  # every tenth has no last name (mandatory)

    # One file per audience, named from its template, with the chosen columns and format.
    run = emulator.entities("runs")[summary["run_id"]]
    entities = run["metrics"]["recordSummary"]["targetSummaries"][0]["entitySummaries"]
    files = [f["id"] for f in entities if "path" in f]
    assert len(files) == len(AUDIENCES) == summary["files_out"]
    name = re.sub(r"[^0-9A-Za-z._\-]+", "_", spec.name)
    first, second = files
    assert re.search(rf"/{name}_Interested_in_Mountain_Biking_\d{{8}}_\d{{6}}\.", first), first
    assert re.search(rf"/{name}_{AUDIENCES[1]['id']}_\d{{10}}\.", second), second
    for path, audience in zip(files, summary["segments"], strict=True):
        suffix = {"CSV": ".csv", "JSON": ".json", "PARQUET": ".parquet"}[chosen["file_type"]]
        assert path.endswith(
            suffix + (".gz" if chosen["compression"] == "GZIP" and suffix != ".parquet" else "")
        )
        rows = _rows(emulator.config.exports_dir / path, chosen["file_type"])
        assert len(rows) == audience["output_records"]
        assert list(rows[0]) == list(COLUMNS)
        assert all(row["lastName"] for row in rows)
    folder = (emulator.config.exports_dir / first).parent
    assert any(p.name == f"manifest-{flow['id']}-{run['id']}.json" for p in folder.iterdir())


def test_a_mistyped_audience_is_refused_by_name_and_the_flow_is_left_alone(airflow_home, emulator):
    typo = "9f7d37fd-7039-4454-94ef-2b0cd6c3206b"  # one letter off the example's first audience
    audiences = [AUDIENCES[0], {**AUDIENCES[1], "id": typo}]
    before = len(emulator.requests())
    result = airflow_home.run(
        "dags", "test", DAG_ID, "--conf", json.dumps({"destination": "sftp", "audiences": audiences})
    )
    states = airflow_home.task_states(DAG_ID)
    assert states["activate_audiences"] == "failed", states
    output = result.stdout + result.stderr
    assert f"segments=['{typo}'] is not valid" in output
    assert "no segment definition" in output
    sent = emulator.requests()[before:]
    assert not [r for r in sent if r["method"] == "PATCH"]
    assert not [r for r in sent if r["path"].endswith("/mappingSets")]
    assert [r["path"].rsplit("/", 1)[-1] for r in sent if "/segment/definitions/" in r["path"]] == [
        AUDIENCES[0]["id"],
        typo,
    ]
    flow = emulator.entities("flows")[airflow_home.xcom(DAG_ID, "create_dataflow")]
    assert flow["transformations"][0]["params"]["segmentSelectors"]["selectors"] == []
