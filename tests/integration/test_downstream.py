"""Downstream of AEP in a real Airflow (scheduler, triggerer, api-server, dag-processor):
a day's asset event starts the load DAG with the right counts; a failed day starts nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from aep_emulator.config import DEMO_CLIENT_SECRET
from aep_emulator.demo import DEMO_CREDENTIALS
from aep_emulator.demo_daily import LOAD_DAG, MONITOR_DAG, run_days
from tests.integration.conftest import ROOT
from tests.stack import Listener, assert_loopback_only

pytestmark = pytest.mark.integration
LOCATION = "s3://acme-aep-exports/datasets/daily"


@pytest.fixture(scope="module")
def two_days(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path, list[Listener]]:
    """Day 1's AEP run succeeds; every attempt of day 2's fails. Also: what the services listened on."""
    work = tmp_path_factory.mktemp("daily") / "work"
    listening: list[Listener] = []
    transport = {"type": "file", "log_file_path": str(work.parent / "openlineage.ndjson"), "append": True}
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(ROOT)
        reports = run_days(
            2,
            work,
            failing_day=2,
            on_running=lambda pids: listening.extend(assert_loopback_only(pids)),
            extra_env={"AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport)},
        )
    return reports, work, listening


def query(work: Path, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(work / "airflow" / "airflow.db") as db:
        return db.execute(sql, args).fetchall()


def test_the_days_asset_event_starts_the_load_with_the_runs_counts(two_days):
    (day1, _), work, _ = two_days
    assert day1["monitor"] == "success"
    summary, load = day1["summary"], day1["load"]
    assert load["state"] == "success"
    assert load["run_id"] == summary["run_id"]
    assert load["location"] == LOCATION
    assert load["records_loaded"] == load["records_exported"] == summary["output_records"] > 0
    assert load["files"] == summary["files_out"]
    # The load DAG ran because of the event, not on a clock.
    runs = query(work, "SELECT run_type, state FROM dag_run WHERE dag_id = ?", LOAD_DAG)
    assert runs == [("asset_triggered", "success")]


def test_the_event_names_the_folder_and_carries_the_summary(two_days):
    (day1, _), work, _ = two_days
    [(uri, source_run, extra)] = query(
        work,
        "SELECT a.uri, e.source_run_id, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id",
    )
    extra = json.loads(extra)
    assert (uri, source_run) == (LOCATION, "day-1")
    assert extra["run_id"] == day1["summary"]["run_id"]
    assert extra["flow_id"] == day1["summary"]["flow_id"]
    assert extra["output_records"] == day1["summary"]["output_records"]
    assert extra["destination"] == "amazon_s3"
    assert extra["sandbox"] == "prod"
    [file] = extra["files"]
    assert file["uri"].startswith(LOCATION + "/")
    assert file["uri"].endswith(".json.gz")
    assert file["records"] == extra["output_records"]


def test_a_failed_day_fails_its_monitor_and_emits_nothing(two_days):
    (_, day2), work, _ = two_days
    assert day2["monitor"] == "failed"
    assert day2["load"] is None
    states = dict(
        query(
            work,
            "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = 'day-2'",
            MONITOR_DAG,
        )
    )
    assert states["wait_for_daily_run"] == "failed"
    assert query(work, "SELECT count(*) FROM asset_event WHERE source_run_id = 'day-2'") == [(0,)]


def test_the_sensor_waited_in_the_triggerer(two_days):
    _, work, _ = two_days
    logs = work / "airflow" / "logs" / f"dag_id={MONITOR_DAG}"
    trigger_logs = list(logs.glob("run_id=day-*/task_id=wait_for_daily_run/*.trigger.*.log"))
    assert {p.parts[-3] for p in trigger_logs} == {"run_id=day-1", "run_id=day-2"}


def test_no_secret_reaches_the_metadata_db_or_the_logs(two_days):
    _, work, _ = two_days
    secrets = {DEMO_CLIENT_SECRET, *(c["password"] for c in DEMO_CREDENTIALS.values() if c.get("password"))}
    database = (work / "airflow" / "airflow.db").read_bytes()
    texts = [p.read_text(errors="replace") for p in (work / "airflow" / "logs").rglob("*.log")]
    texts.append((work / "airflow.log").read_text(errors="replace"))
    leaked = sorted(s for s in secrets if s.encode() in database or any(s in text for text in texts))
    assert leaked == []


def test_every_server_the_demo_starts_listens_on_loopback_only(two_days):
    *_, listening = two_days
    assert "api-server" in {listener.owner for listener in listening}
    assert {listener.ip for listener in listening} == {"127.0.0.1"}


def test_openlineage_names_the_aep_dataset_and_the_folder_of_the_days_run(two_days):
    (day1, _), work, _ = two_days
    lines = (work.parent / "openlineage.ndjson").read_text().splitlines()
    events = [json.loads(line) for line in lines if line.strip()]
    [complete] = [
        e
        for e in events
        if e["job"]["name"] == f"{MONITOR_DAG}.wait_for_daily_run"
        and e["eventType"] == "COMPLETE"
        and e["run"]["facets"].get("aep_dataflowRun", {}).get("runId") == day1["summary"]["run_id"]
    ]
    [source] = complete["inputs"]
    assert source["namespace"].startswith("aep://")
    assert source["namespace"].endswith("/prod")
    assert source["name"] == day1["summary"]["sources"][0]["id"]
    assert [(o["namespace"], o["name"]) for o in complete["outputs"]] == [
        ("s3://acme-aep-exports", "datasets/daily")
    ]
    assert (
        complete["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"]
        == day1["summary"]["output_records"]
    )
