"""The example DAG, in real Airflow, against the emulator, for each of the six destinations."""

from __future__ import annotations

import gzip
import re

import pytest

from aep_emulator.datasets import BY_ID
from airflow_provider_aep.catalog import get_destination
from dags_examples.export_datasets import LOCATIONS
from tests.conftest import CLIENT_SECRET

DAG_ID = "aep_export_datasets"
DEVICES = BY_ID["5ef3e3259ad2a1191ab7dd7d"]
pytestmark = pytest.mark.integration


def _posts(emulator, path, since):
    return [r for r in emulator.requests()[since:] if r["method"] == "POST" and r["path"].endswith(path)]


@pytest.mark.parametrize("destination", list(LOCATIONS))
def test_export_datasets_dag(airflow_home, emulator, destination):
    before = len(emulator.requests())
    result = airflow_home.dags_test(DAG_ID, {"destination": destination})
    states = airflow_home.task_states(DAG_ID)
    assert set(states.values()) == {"success"}, states

    # The bodies AEP received are the tutorial's, for this destination.
    spec = get_destination(destination)
    # The source connection has a fixed name: an earlier run's is reused (if_exists="reuse").
    source = emulator.entities("sourceConnections")[airflow_home.xcom(DAG_ID, "create_source_connection")]
    assert source["params"]["datasets"] == [{"dataSetId": DEVICES.id, "name": DEVICES.name}]
    assert (
        len([s for s in emulator.entities("sourceConnections").values() if s["name"] == source["name"]]) == 1
    )

    # Base and target connections are named by destination (and format): earlier runs' are reused.
    base = emulator.entities("connections")[airflow_home.xcom(DAG_ID, "create_base_connection")]
    assert base["connectionSpec"] == {"id": spec.connection_spec_id, "version": "1.0"}
    assert base["name"] == f"{destination} base connection"
    target = emulator.entities("targetConnections")[airflow_home.xcom(DAG_ID, "create_target_connection")]
    assert target["baseConnectionId"] == base["id"]
    assert target["params"] == {
        **LOCATIONS[destination], "mode": "Server-to-server", "datasetFileType": "JSON", "compression": "GZIP",
    }  # fmt: skip
    for kind, entity in (("connections", base), ("targetConnections", target)):
        assert len([e for e in emulator.entities(kind).values() if e["name"] == entity["name"]]) == 1

    [flow] = _posts(emulator, "/flows", before)
    assert flow["body"]["flowSpec"] == {"id": spec.flow_spec_id, "version": "1.0"}
    schedule = flow["body"]["scheduleParams"]
    assert (schedule["exportMode"], schedule["timeUnit"], schedule["interval"]) == (
        "FIRST_FULL_THEN_INCREMENTAL",
        "day",
        1,
    )
    assert schedule["endTime"] - schedule["startTime"] == 182 * 86400

    # Ids went downstream through XCom, and the sensor returned the run's counts.
    flow_id = airflow_home.xcom(DAG_ID, "create_dataflow")
    assert flow_id in emulator.entities("flows")
    assert emulator.entities("flows")[flow_id]["targetConnectionIds"] == [
        airflow_home.xcom(DAG_ID, "create_target_connection")
    ]
    summary = airflow_home.xcom(DAG_ID, "wait_for_export_run")
    assert summary["flow_id"] == flow_id
    assert summary["status"] == "success"
    assert summary["output_records"] == summary["input_records"] == DEVICES.record_count
    assert summary["files_out"] == 1
    assert airflow_home.xcom(DAG_ID, "report") == summary

    # The file is where AEP would put it, with every record.
    run = emulator.entities("runs")[summary["run_id"]]
    [written] = run["metrics"]["recordSummary"]["targetSummaries"][0]["entitySummaries"]
    assert re.match(
        rf"^prod/{destination}/.+/{DEVICES.id}/exportTime=\d{{12}}/part-.+\.json\.gz$", written["id"]
    )
    for part in LOCATIONS[destination].values():
        assert part in written["id"]
    lines = gzip.decompress((emulator.config.exports_dir / written["id"]).read_bytes()).splitlines()
    assert len(lines) == DEVICES.record_count

    # The deferrable sensor went through the trigger, and nothing secret was printed.
    output = result.stdout + result.stderr
    assert "running trigger in line" in output
    for secret in (
        CLIENT_SECRET,
        emulator.config.client_secret,
        "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY12",
        "demo-sftp-password",
    ):
        assert secret not in output
