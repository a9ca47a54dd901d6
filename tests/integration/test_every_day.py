"""Pipelines that run every day: no duplicates across runs, task retries or lost responses."""

from __future__ import annotations

import json
import sqlite3

import pytest

pytestmark = pytest.mark.integration


def _named(emulator, kind, name):
    return [e["id"] for e in emulator.entities(kind).values() if e["name"] == name]


def test_running_the_setup_dag_twice_creates_each_entity_once(test_dags_home, emulator):
    test_dags_home.dags_test("aep_daily_setup", {})
    first = {
        task: test_dags_home.xcom("aep_daily_setup", task) for task in ("source", "base", "target", "flow")
    }
    test_dags_home.dags_test("aep_daily_setup", {})
    second = {
        task: test_dags_home.xcom("aep_daily_setup", task) for task in ("source", "base", "target", "flow")
    }
    assert first == second
    for kind, name in (("sourceConnections", "daily: Data Lake"), ("connections", "daily: DLZ"),
                       ("targetConnections", "daily: DLZ target"), ("flows", "daily: loyalty export")):  # fmt: skip
        assert len(_named(emulator, kind, name)) == 1, kind


def test_a_task_retried_after_its_create_leaves_one_entity(test_dags_home, emulator):
    result = test_dags_home.dags_test("aep_retry_safe", {})
    assert "worker lost after creating" in result.stdout + result.stderr
    assert "created by an earlier try of this task" in result.stdout + result.stderr
    with sqlite3.connect(test_dags_home.home / "airflow.db") as db:
        [(state, tries)] = db.execute(
            "SELECT state, try_number FROM task_instance WHERE dag_id = 'aep_retry_safe' ORDER BY start_date DESC LIMIT 1"
        ).fetchall()
    assert (state, tries) == ("success", 2)
    assert _named(emulator, "connections", "retry-safe SFTP") == [
        test_dags_home.xcom("aep_retry_safe", "base")
    ]


def test_a_lost_create_response_in_a_dag_run_leaves_one_dataflow(airflow_home, emulator):
    emulator.add_fault(method="POST", path="/data/foundation/flowservice/flows", drop_after=True)
    airflow_home.dags_test("aep_export_datasets", {"destination": "data_landing_zone"})
    flow_id = airflow_home.xcom("aep_export_datasets", "create_dataflow")
    name = emulator.entities("flows")[flow_id]["name"]
    assert _named(emulator, "flows", name) == [flow_id]
    posts = [
        r
        for r in emulator.requests()
        if r["method"] == "POST" and r["path"].endswith("/flows") and r["fault"]
    ]
    assert posts, "the fault plan did not hit the create"
    assert json.loads(json.dumps(emulator.admin.get("/faults").json()))["rules"][-1]["hits"] == 1


def test_the_delete_operator_cleans_up_as_a_teardown_after_a_failure(test_dags_home, emulator):
    result = test_dags_home.run("dags", "test", "aep_teardown")
    assert result.returncode != 0  # the DAG run failed...
    assert "something downstream of" in result.stdout + result.stderr
    with sqlite3.connect(test_dags_home.home / "airflow.db") as db:
        states = dict(db.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = 'aep_teardown' AND run_id = "
            "(SELECT run_id FROM dag_run WHERE dag_id = 'aep_teardown' ORDER BY id DESC LIMIT 1)"
        ).fetchall())  # fmt: skip
    assert states["use_the_flow"] == "failed"
    assert states["cleanup"] == "success"  # ...and the teardown still ran
    for kind, name in (("flows", "teardown: export"), ("targetConnections", "teardown: DLZ target"),
                       ("sourceConnections", "teardown: Data Lake"), ("connections", "teardown: DLZ")):  # fmt: skip
        assert _named(emulator, kind, name) == [], kind
