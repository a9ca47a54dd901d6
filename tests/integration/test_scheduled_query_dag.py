"""Scheduled queries in real Airflow against the emulator: one schedule per name, a run now, and
the waits for that run and for the first run the schedule's own cron started."""

from __future__ import annotations

import pytest

DAG_ID = "aep_scheduled_query"
SCHEDULES = "/data/foundation/query/schedules"
pytestmark = pytest.mark.integration


def test_keep_run_now_and_wait_for_runs(test_dags_home, emulator):
    before = len(emulator.requests())
    result = test_dags_home.run("dags", "test", DAG_ID)
    states = test_dags_home.task_states(DAG_ID)
    assert set(states.values()) == {"success"}, (states, (result.stdout + result.stderr)[-3000:])
    sent = emulator.requests()[before:]

    # One schedule, created once in Adobe's form and reused by the second task.
    [created] = [r for r in sent if r["method"] == "POST" and r["path"] == SCHEDULES]
    assert created["body"]["query"]["dbName"] == "prod:all"
    assert created["body"]["schedule"]["schedule"] == "0 * * * *"
    schedule_id = test_dags_home.xcom(DAG_ID, "keep_schedule")
    assert test_dags_home.xcom(DAG_ID, "keep_schedule_again") == schedule_id

    # The run started now is found and waited for; the cron's first run too, each with its rows.
    [asked] = [r for r in sent if r["method"] == "POST" and r["path"] == f"{SCHEDULES}/{schedule_id}/runs"]
    assert asked["status"] == 202
    now = test_dags_home.xcom(DAG_ID, "wait_for_run_now")
    assert now["run_id"] == test_dags_home.xcom(DAG_ID, "run_now")
    assert (now["state"], now["external"], now["rows"]) == ("SUCCESS", True, 6)  # six countries
    scheduled = test_dags_home.xcom(DAG_ID, "wait_for_scheduled_run")
    assert (scheduled["state"], scheduled["external"], scheduled["rows"]) == ("SUCCESS", False, 6)
    assert scheduled["run_id"] != now["run_id"]
    assert scheduled["query_id"]
    assert scheduled["query_id"] != now["query_id"]
