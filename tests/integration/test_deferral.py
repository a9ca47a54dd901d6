"""The deferrable sensor through ``dag.test()``, and under a real scheduler and triggerer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aep_emulator.demo import DEMO_CREDENTIALS
from aep_emulator.server import free_port
from tests.integration.conftest import AIRFLOW, ROOT

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


class Services:
    """api-server, scheduler (LocalExecutor), dag-processor and triggerer, each its own process group."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, *command: str) -> None:
        log = (self.logs / f"{command[0]}.log").open("wb")
        self.processes.append(
            subprocess.Popen(
                [AIRFLOW, *command],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )

    def stop(self) -> None:
        for process in self.processes:
            with_group = os.getpgid(process.pid) if process.poll() is None else None
            if with_group:
                os.killpg(with_group, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(os.getpgid(process.pid), signal.SIGKILL)


def test_scheduler_and_triggerer_run_the_deferred_sensor(airflow_home, emulator, tmp_path):
    port = free_port()
    env = {
        **airflow_home.env,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__PORT": str(port),
        # One worker, Airflow 3.1+'s default: 3.0 starts four, whose children die as they start.
        "AIRFLOW__API__WORKERS": "1",
        # A busy 2-core machine answers the first task starts slower than the 5 s default.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
        "AIRFLOW__API_AUTH__JWT_SECRET": "integration-test-jwt-secret",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
    }
    services = Services(env, tmp_path)
    # Slow runs, so the run is still going when the sensor starts: it must defer, not finish at once.
    original = emulator.config.run_duration
    emulator.config.run_duration = 12.0
    try:
        services.start("api-server", "--port", str(port))
        services.start("scheduler")
        services.start("dag-processor")
        services.start("triggerer")
        deadline = time.monotonic() + 180
        run_id = f"scheduled-by-test-{port}"
        while True:  # the dag-processor has to parse the DAG first
            triggered = subprocess.run(
                [AIRFLOW, "dags", "trigger", DAG_ID, "--run-id", run_id, "--conf", json.dumps({"destination": "sftp"})],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if triggered.returncode == 0:
                break
            assert time.monotonic() < deadline, triggered.stderr[-2000:]
            time.sleep(3)
        while True:
            states = airflow_home.task_states(DAG_ID)
            run_state = _run_state(airflow_home.home, run_id)
            if run_state in ("success", "failed"):
                break
            assert time.monotonic() < deadline + 180, f"still {run_state}: {states}"
            time.sleep(2)
        assert run_state == "success", states
    finally:
        emulator.config.run_duration = original
        services.stop()

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


def _run_state(home: Path, run_id: str) -> str | None:
    import sqlite3

    with sqlite3.connect(home / "airflow.db") as db:
        row = db.execute("SELECT state FROM dag_run WHERE run_id = ?", (run_id,)).fetchone()
    return row[0] if row else None
