"""Ten DAG runs at once on PostgreSQL + Redis + CeleryExecutor with two workers and a triggerer."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path
from typing import Any

import pytest

from aep_emulator.demo import DEMO_CREDENTIALS
from tests.distributed.conftest import (
    ACTIVATION_DAG,
    ACTIVATION_DESTINATIONS,
    EXPORT_DAG,
    EXPORT_DESTINATIONS,
    RUNS,
    TWIN_DESTINATION,
    TWINS,
    WORKERS,
    Deployment,
    task_logs,
)

pytestmark = pytest.mark.distributed

EXPORT_TASKS = {
    "list_datasets", "create_source_connection", "create_base_connection", "create_target_connection",
    "create_dataflow", "wait_for_export_run", "report",
}  # fmt: skip
ACTIVATION_TASKS = {
    "create_source_connection", "create_base_connection", "create_target_connection", "create_dataflow",
    "activate_segments", "wait_for_activation_run", "report",
}  # fmt: skip


def test_every_run_and_task_succeeds(deployment: Deployment):
    assert deployment.states == {run.run_id: "success" for run in RUNS}
    for run in RUNS:
        states = deployment.airflow.task_states(run.dag_id, run.run_id)
        expected = EXPORT_TASKS if run.dag_id == EXPORT_DAG else ACTIVATION_TASKS
        assert states == dict.fromkeys(expected, "success"), run.run_id


def test_every_sensor_deferred_to_the_triggerer(deployment: Deployment):
    assert deployment.seen_deferred == {run.run_id for run in RUNS}
    for run in RUNS:
        task, trigger = task_logs(deployment.airflow.home.home, run, run.sensor)
        assert "Pausing task as DEFERRED" in task, run.run_id
        assert f"trigger {run.dag_id}/{run.run_id}/{run.sensor}/-1/1 (ID " in trigger, run.run_id
        assert "Trigger fired event" in trigger, run.run_id
        assert "'status': 'success'" in trigger, run.run_id
        assert "records in" in task, run.run_id  # resumed on a worker, which logged the summary


def test_tasks_ran_on_both_workers_from_the_default_queue(deployment: Deployment):
    rows = deployment.airflow.query(
        "SELECT hostname, queue, COUNT(*) FROM task_instance GROUP BY hostname, queue ORDER BY hostname"
    )
    by_host = {hostname: count for hostname, _, count in rows}
    assert set(by_host) == set(WORKERS), rows
    assert {queue for _, queue, _ in rows} == {"default"}
    assert sum(by_host.values()) == 6 * 7 + 4 * 7
    for worker in WORKERS:
        log = (deployment.airflow.logs / f"celery-{worker}.log").read_text(errors="replace")
        assert f"{worker}@" in log
        assert "execute_workload" in log


def _names(deployment: Deployment, kind: str) -> list[str]:
    return sorted(e["name"] for e in deployment.emulator.entities(kind).values())


def test_exactly_the_expected_entities_exist_one_per_name(deployment: Deployment):
    activated = [*ACTIVATION_DESTINATIONS, TWIN_DESTINATION]
    assert _names(deployment, "connections") == sorted(
        [f"{d} base connection" for d in [*EXPORT_DESTINATIONS, *activated]]
        + ["Connecting to Profile Store (Profile Store base)"]
    )
    assert _names(deployment, "sourceConnections") == [
        "Connecting to Data Lake",
        "Connecting to Profile Store",
    ]
    assert _names(deployment, "targetConnections") == sorted(
        [f"{d} JSON target connection" for d in EXPORT_DESTINATIONS]
        + [f"{d} target connection" for d in activated]
    )
    assert _names(deployment, "flows") == sorted(
        f"Export datasets to {run.destination} ({run.run_id})"
        if run.dag_id == EXPORT_DAG
        else f"Activate segments to {run.destination} ({run.run_id})"
        for run in RUNS
    )


def test_runs_racing_for_the_same_names_share_one_of_each(deployment: Deployment):
    airflow = deployment.airflow
    for task_id, kind in [
        ("create_source_connection", "sourceConnections"),
        ("create_base_connection", "connections"),
        ("create_target_connection", "targetConnections"),
    ]:
        ids = {airflow.xcom(ACTIVATION_DAG, twin.run_id, task_id) for twin in TWINS}
        assert len(ids) == 1, (task_id, ids)
        assert ids <= set(deployment.emulator.entities(kind)), task_id
    # Every export run uses the one Data Lake source connection that survived.
    sources = {airflow.xcom(EXPORT_DAG, run.run_id, "create_source_connection") for run in RUNS[:6]}
    assert len(sources) == 1
    assert sources <= set(deployment.emulator.entities("sourceConnections"))
    flows = {airflow.xcom(ACTIVATION_DAG, twin.run_id, "create_dataflow") for twin in TWINS}
    assert len(flows) == 2  # named after their runs: not the same entity


def records_in(path: Path) -> int:
    if path.name.endswith(".json.gz"):
        return len(gzip.decompress(path.read_bytes()).splitlines())
    if path.name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return int(pq.read_metadata(path).num_rows)
    if path.name.endswith(".csv"):
        with path.open(newline="") as handle:
            return len(list(csv.DictReader(handle)))
    raise AssertionError(f"unexpected export file {path}")


def test_the_sensors_record_counts_match_the_files_written(deployment: Deployment):
    exports = deployment.emulator.config.exports_dir
    runs = deployment.emulator.entities("runs")
    for run in RUNS:
        summary: dict[str, Any] = deployment.airflow.xcom(run.dag_id, run.run_id, run.sensor)
        assert summary["status"] == "success", run.run_id
        assert deployment.airflow.xcom(run.dag_id, run.run_id, "report") == summary
        entities = runs[summary["run_id"]]["metrics"]["recordSummary"]["targetSummaries"][0][
            "entitySummaries"
        ]
        files = [exports / f["id"] for f in entities if "path" in f]  # not the audiences' counts
        assert len(files) == summary["files_out"] >= 1, run.run_id
        assert sum(records_in(f) for f in files) == summary["output_records"] > 0, run.run_id
        assert sum(f.stat().st_size for f in files) == summary["output_bytes"], run.run_id


def test_no_secret_in_any_log_or_table(deployment: Deployment):
    tokens = list(deployment.emulator.emulator.state.tokens)
    assert tokens
    secrets = [
        deployment.emulator.config.client_secret,
        *(conn["password"] for conn in DEMO_CREDENTIALS.values() if "password" in conn),
        *tokens,
    ]
    home = deployment.airflow.home.home
    logs = [p for p in [*(home / "logs").rglob("*"), *deployment.airflow.logs.glob("*.log")] if p.is_file()]
    assert len(logs) >= len(RUNS) * 7
    for path in logs:
        text = path.read_text(errors="replace")
        assert [s for s in secrets if s in text] == [], path
    dump = deployment.postgres.dump()
    assert "COPY public.task_instance" in dump
    assert "export-amazon_s3" in dump
    assert [s for s in secrets if s in dump] == []


def test_every_server_listens_on_loopback_only(deployment: Deployment):
    servers = deployment.servers()
    found = deployment.airflow.assert_loopback_only(
        servers, [deployment.postgres.port, deployment.redis.port, deployment.emulator.config.port]
    )
    assert {listener.owner for listener in found} >= {"api-server", *servers}
