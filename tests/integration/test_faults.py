"""The example DAGs under the emulator's fault plan, in real Airflow: each pipeline completes with
exactly one of each entity and the right run summary, or says what exists when retries run out."""

from __future__ import annotations

import json
import subprocess
import time
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from aep_emulator.datasets import BY_ID
from aep_emulator.segments import population
from aep_emulator.server import RunningEmulator, free_port
from dags_examples.activate_segments import SEGMENTS
from tests.integration.conftest import AIRFLOW, failure_excerpt

EXPORT = "aep_export_datasets"
ACTIVATE = "aep_activate_segments"
DEVICES = BY_ID["5ef3e3259ad2a1191ab7dd7d"]
FLOWS = "/data/foundation/flowservice"
pytestmark = pytest.mark.integration


@pytest.fixture
def faulty(emulator):
    """The shared emulator, emptied: every entity afterwards is this test's."""
    emulator.admin.post("/reset").raise_for_status()
    yield emulator
    emulator.admin.delete("/faults").raise_for_status()


def _faults(emulator: RunningEmulator, *rules: dict[str, Any]) -> None:
    emulator.admin.post("/faults", json=list(rules)).raise_for_status()


def _every_fault_fired(emulator: RunningEmulator) -> None:
    rules = emulator.admin.get("/faults").json()["rules"]
    assert [(r["path"], r["hits"]) for r in rules] == [(r["path"], r["times"]) for r in rules]


def _entity_counts(emulator: RunningEmulator) -> dict[str, int]:
    kinds = ("connections", "sourceConnections", "targetConnections", "flows")
    return {kind: len(emulator.entities(kind)) for kind in kinds}


def _export_completed(home, emulator: RunningEmulator) -> dict[str, Any]:
    """One of each entity, and the sensor's summary matches the emulator's run and files."""
    assert set(home.task_states(EXPORT).values()) == {"success"}, home.task_states(EXPORT)
    assert _entity_counts(emulator) == {
        "connections": 1, "sourceConnections": 1, "targetConnections": 1, "flows": 1,
    }  # fmt: skip
    flow_id = home.xcom(EXPORT, "create_dataflow")
    summary = home.xcom(EXPORT, "wait_for_export_run")
    assert (summary["flow_id"], summary["status"]) == (flow_id, "success")
    assert summary["output_records"] == summary["input_records"] == DEVICES.record_count
    run = emulator.entities("runs")[summary["run_id"]]
    assert run["flowId"] == flow_id
    files = run["metrics"]["recordSummary"]["targetSummaries"][0]["entitySummaries"]
    assert summary["files_out"] == len(files) == 1
    assert (emulator.config.exports_dir / files[0]["id"]).stat().st_size == summary["output_bytes"]
    return summary


def _hits(emulator: RunningEmulator, method: str, path_end: str) -> Counter[int]:
    """Answers by status to requests of a method whose path ends so."""
    return Counter(
        r["status"] for r in emulator.requests() if r["method"] == method and r["path"].endswith(path_end)
    )


def test_429_storms_with_retry_after(airflow_home, faulty):
    _faults(
        faulty,
        {"path": "/ims/token/v3", "status": 429, "retry_after": 1, "times": 2},
        {"path": f"{FLOWS}/*", "status": 429, "retry_after": 1, "times": 3},
        {"method": "POST", "path": f"{FLOWS}/flows", "status": 429, "retry_after": 2, "times": 2},
        {"method": "GET", "path": f"{FLOWS}/runs", "status": 429, "retry_after": 1, "times": 3},
    )
    airflow_home.dags_test(EXPORT, {"destination": "amazon_s3"})
    _every_fault_fired(faulty)
    _export_completed(airflow_home, faulty)
    assert _hits(faulty, "POST", "/flows") == {429: 2, 201: 1}
    assert _hits(faulty, "POST", "/ims/token/v3")[429] == 2


def test_500_and_503_bursts(airflow_home, faulty):
    _faults(
        faulty,
        {"method": "POST", "path": f"{FLOWS}/targetConnections", "status": 503, "retry_after": 1, "times": 3},
        # A 500 on a create: AEP may have acted, so the operator looks by name before it repeats.
        {"method": "POST", "path": f"{FLOWS}/flows", "status": 500, "times": 1},
        {"method": "GET", "path": f"{FLOWS}/connections", "status": 502, "times": 2},
        {"method": "GET", "path": f"{FLOWS}/runs", "status": 503, "times": 2},
        {"method": "GET", "path": f"{FLOWS}/runs", "status": 500, "times": 2},
    )
    airflow_home.dags_test(EXPORT, {"destination": "sftp"})
    _every_fault_fired(faulty)
    _export_completed(airflow_home, faulty)
    assert _hits(faulty, "POST", "/targetConnections") == {503: 3, 201: 1}
    assert _hits(faulty, "POST", "/flows") == {500: 1, 201: 1}


def test_dropped_connections_and_lost_responses(airflow_home, faulty):
    _faults(
        faulty,
        {"method": "GET", "path": f"{FLOWS}/sourceConnections", "drop": True, "times": 2},
        # AEP created these, but the answer never arrived: the operator finds them by name.
        {"method": "POST", "path": f"{FLOWS}/sourceConnections", "drop_after": True},
        {"method": "POST", "path": f"{FLOWS}/flows", "drop_after": True},
        {"method": "GET", "path": f"{FLOWS}/runs", "drop": True, "times": 2},
    )
    airflow_home.dags_test(EXPORT, {"destination": "google_cloud_storage"})
    _every_fault_fired(faulty)
    _export_completed(airflow_home, faulty)
    assert sum(_hits(faulty, "POST", "/flows").values()) == 1  # the lost create was not sent again
    assert sum(_hits(faulty, "POST", "/sourceConnections").values()) == 1


def test_responses_slower_than_the_read_timeout(airflow_home, faulty):
    connection = json.loads(faulty.connection())
    connection["extra"]["timeout"] = 2
    _faults(
        faulty,
        {"method": "GET", "path": f"{FLOWS}/connections", "latency": 4},
        # The create outlives the client's patience; AEP finishes it, the operator waits and finds it.
        {"method": "POST", "path": f"{FLOWS}/targetConnections", "latency": 4},
        {"method": "GET", "path": f"{FLOWS}/runs", "latency": 4},
    )
    airflow_home.dags_test(
        EXPORT, {"destination": "azure_blob"}, env={"AIRFLOW_CONN_AEP_DEFAULT": json.dumps(connection)}
    )
    _every_fault_fired(faulty)
    _export_completed(airflow_home, faulty)
    assert sum(_hits(faulty, "POST", "/targetConnections").values()) == 1


def test_a_token_that_expires_mid_dag(airflow_home, faulty):
    _faults(
        faulty,
        {"method": "POST", "path": f"{FLOWS}/targetConnections", "expire_tokens": True},
        {"method": "GET", "path": f"{FLOWS}/runs", "expire_tokens": True},
    )
    airflow_home.dags_test(EXPORT, {"destination": "adls_gen2"})
    _every_fault_fired(faulty)
    _export_completed(airflow_home, faulty)
    # Each expiry cost one 401 and one new token, nothing more.
    assert _hits(faulty, "POST", "/targetConnections") == {401: 1, 201: 1}
    assert _hits(faulty, "POST", "/ims/token/v3") == {200: 3}


def test_a_412_race_during_activation(airflow_home, faulty):
    """Someone else updates the dataflow between our read of its etag and our PATCH."""
    _faults(faulty, {"method": "PATCH", "path": f"{FLOWS}/flows/*", "concurrent_update": True})
    airflow_home.dags_test(ACTIVATE, {"destination": "sftp_audiences"})
    _every_fault_fired(faulty)
    assert set(airflow_home.task_states(ACTIVATE).values()) == {"success"}
    assert _entity_counts(faulty) == {
        "connections": 2, "sourceConnections": 1, "targetConnections": 1, "flows": 1,
    }  # fmt: skip
    assert _hits(faulty, "PATCH", "") == {412: 1, 200: 1}
    flow = faulty.entities("flows")[airflow_home.xcom(ACTIVATE, "create_dataflow")]
    selectors = flow["transformations"][0]["params"]["segmentSelectors"]["selectors"]
    assert [s["value"]["id"] for s in selectors] == [s["id"] for s in SEGMENTS]  # applied once
    summary = airflow_home.xcom(ACTIVATE, "wait_for_activation_run")
    assert summary["status"] == "success"
    for segment in summary["segments"]:
        size = population(segment["id"])
        assert (segment["input_records"], segment["output_records"]) == (size, size - size // 10)


def test_when_retries_run_out_the_error_says_what_exists(airflow_home, faulty):
    _faults(
        faulty,
        {"method": "POST", "path": f"{FLOWS}/flows", "status": 503, "retry_after": 1, "times": 100},
    )
    result = airflow_home.run("dags", "test", EXPORT, "--conf", json.dumps({"destination": "amazon_s3"}))
    states = airflow_home.task_states(EXPORT)
    assert states["create_dataflow"] == "failed", states
    assert _entity_counts(faulty) == {
        "connections": 1, "sourceConnections": 1, "targetConnections": 1, "flows": 0,
    }  # fmt: skip
    output = result.stdout + result.stderr
    assert "AEP API POST /flows failed with HTTP 503" in output
    said = output.split("Already in AEP from earlier tasks of this DAG run", 1)[1].splitlines()[0]
    for task_id, kind in [
        ("create_source_connection", "source connection"),
        ("create_base_connection", "base connection"),
        ("create_target_connection", "target connection"),
    ]:
        entity_id = airflow_home.xcom(EXPORT, task_id)
        assert entity_id in faulty.entities(
            {"source connection": "sourceConnections", "base connection": "connections"}.get(
                kind, "targetConnections"
            )
        )
        assert f"{kind} {entity_id} (task {task_id})" in said
    assert _hits(faulty, "POST", "/flows") == {503: 6}  # the retry policy's six attempts


def test_an_emulator_restart_while_the_sensor_waits(airflow_home, tmp_path):
    """AEP goes away while the sensor waits in the triggerer and comes back with its state."""
    config = replace(
        airflow_home.emulator.config,
        port=free_port(),
        state_file=tmp_path / "state.json",
        exports_dir=tmp_path / "exports",
        first_run_delay=8.0,
        run_duration=1.0,
    )
    first = RunningEmulator(config).start()
    env = {**airflow_home.env, "AIRFLOW_CONN_AEP_DEFAULT": first.connection()}
    command = [AIRFLOW, "dags", "test", EXPORT, "--conf", json.dumps({"destination": "data_landing_zone"})]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as dag:
        try:
            deadline = time.monotonic() + 120
            while not any(r["path"].endswith("/runs") for r in first.requests()):
                assert dag.poll() is None, "the DAG ended before its sensor polled"
                assert time.monotonic() < deadline, "the sensor never polled"
                time.sleep(0.2)
        finally:
            first.stop()
        time.sleep(2)  # AEP is down: the trigger's polls fail and are retried
        second = RunningEmulator(config).start()
        try:
            output, _ = dag.communicate(timeout=300)
            assert dag.returncode == 0, failure_excerpt(output)
            assert _entity_counts(second) == {
                "connections": 1, "sourceConnections": 1, "targetConnections": 1, "flows": 1,
            }  # fmt: skip
            summary = airflow_home.xcom(EXPORT, "wait_for_export_run")
            assert summary["flow_id"] in second.entities("flows")
            assert (summary["status"], summary["output_records"]) == ("success", DEVICES.record_count)
            assert any(r["path"].endswith("/runs") for r in second.requests())  # the sensor carried on
        finally:
            second.stop()


def test_a_deferred_sensor_that_times_out_stops_polling(test_dags_home, faulty):
    """The trigger owns the sensor's deadline: it reports the timeout and stops, leaving no poller behind."""
    from tests.emulator.conftest import Api
    from tests.emulator.pipeline import make_pipeline

    original = faulty.config.run_duration
    faulty.config.run_duration = 120.0  # the run is still going when the sensor gives up
    try:
        flow_id = make_pipeline(Api(faulty))["flow"]
        conf = json.dumps({"flow_id": flow_id})
        result = test_dags_home.run("dags", "test", "aep_deferred_timeout", "--conf", conf)
    finally:
        faulty.config.run_duration = original
    output = result.stdout + result.stderr
    assert test_dags_home.task_states("aep_deferred_timeout") == {"wait": "failed"}
    assert f"Dataflow {flow_id}: sensor timed out after 5" in output  # the trigger's own timeout event
    polls = [r["at"] for r in faulty.requests() if r["path"].endswith("/runs") and flow_id in r["query"]]
    assert 3 <= len(polls) <= 10
    assert max(polls) - min(polls) < 5 + 2  # none past the deadline (timeout 5 s, a poll every 1 s)
