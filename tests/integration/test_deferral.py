"""The deferrable sensor through ``dag.test()``, and under a real scheduler and triggerer."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aep_emulator.demo import DEMO_CREDENTIALS
from tests.integration.conftest import ROOT
from tests.stack import AirflowStack

DAG_ID = "aep_export_datasets"
pytestmark = pytest.mark.integration


def test_deferrable_path_through_dag_test(airflow_home, emulator, monkeypatch):
    # The run must still be going when the sensor first looks, or it never defers: dag.test()
    # on Airflow 3.0/3.1 takes seconds between tasks, ten and more on a busy 2-core machine.
    monkeypatch.setattr(emulator.config, "first_run_delay", 8.0)
    monkeypatch.setattr(emulator.config, "run_duration", 12.0)
    script = Path(__file__).with_name("dag_test_in_process.py")
    env = {**airflow_home.env, "PYTHONPATH": str(ROOT)}
    conf = {"destination": "google_cloud_storage", "file_type": "PARQUET", "export_mode": "DAILY_FULL_EXPORT"}
    result = subprocess.run(
        [sys.executable, str(script), json.dumps(conf)], env=env, capture_output=True, text=True, timeout=600
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    [line] = [line for line in result.stdout.splitlines() if line.startswith("DAG-TEST-RESULT ")]
    outcome = json.loads(line.removeprefix("DAG-TEST-RESULT "))
    assert outcome["state"] == "success"
    assert set(outcome["tasks"].values()) == {"success"}
    assert "Pausing task as DEFERRED" in output
    assert "running trigger in line" in output
    summary = airflow_home.xcom(DAG_ID, "wait_for_export_run")
    assert summary["status"] == "success"
    run = emulator.entities("runs")[summary["run_id"]]
    [written] = run["metrics"]["recordSummary"]["targetSummaries"][0]["entitySummaries"]
    assert written["id"].endswith(".gz.parquet")
    flow = emulator.entities("flows")[summary["flow_id"]]
    assert flow["scheduleParams"]["exportMode"] == "DAILY_FULL_EXPORT"
    assert flow["scheduleParams"]["interval"] == 0


def test_scheduler_and_triggerer_run_the_deferred_sensor(airflow_home, emulator, tmp_path):
    stack = AirflowStack(
        airflow_home, tmp_path, env={"AIRFLOW__API_AUTH__JWT_SECRET": "integration-test-jwt-secret"}
    )
    # Slow runs, so the run is still going when the sensor starts: it must defer, not finish at once.
    original = emulator.config.run_duration
    emulator.config.run_duration = 12.0
    try:
        stack.start(migrate=False)
        run_id = f"scheduled-by-test-{stack.port}"
        stack.trigger(DAG_ID, run_id, {"destination": "sftp"})
        run_state = stack.wait_for_run(DAG_ID, run_id, timeout=360)
        states = airflow_home.task_states(DAG_ID)
        assert run_state == "success", states
        stack.assert_loopback_only({"emulator (this process)": os.getpid()}, [emulator.config.port])
    finally:
        emulator.config.run_duration = original
        stack.stop()

    sensor_logs = sorted(
        (
            airflow_home.home
            / "logs"
            / f"dag_id={DAG_ID}"
            / f"run_id={run_id}"
            / "task_id=wait_for_export_run"
        ).glob("*")
    )
    task_log = "".join(
        p.read_text()
        for p in sensor_logs
        if not p.name.endswith(".trigger.2.log") and ".trigger." not in p.name
    )
    trigger_log = "".join(p.read_text() for p in sensor_logs if ".trigger." in p.name)
    assert "Pausing task as DEFERRED" in task_log
    assert "Trigger fired event" in trigger_log
    assert "'status': 'success'" in trigger_log
    # The trigger's own lines (one logger for all its class's triggers) reach this task's trigger log.
    assert re.search(r"Dataflow [0-9a-f-]+: [^\n]*polling again in \d+s", trigger_log), trigger_log[-4000:]
    assert "records in" in task_log  # resumed in a worker, which logged the summary

    # No secret in any log file: tasks, triggerer, scheduler, dag-processor, api-server.
    secrets = [
        emulator.config.client_secret,
        DEMO_CREDENTIALS["sftp"]["password"],
        *emulator.emulator.state.tokens,
    ]
    logs = [p for p in [*(airflow_home.home / "logs").rglob("*"), *tmp_path.glob("*.log")] if p.is_file()]
    assert len(logs) >= 10
    for path in logs:
        text = path.read_text(errors="replace")
        assert [s for s in secrets if s in text] == [], path
