"""A refused RE_TRIGGER in real Airflow (``dags test``) against the emulator: the task's retry asks
again, or the task fails at once with AEP's answer; never a wait until the sensor's timeout."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.emulator.conftest import Api
from tests.integration.test_flow_maintenance import one_time_flow

pytestmark = pytest.mark.integration


@pytest.fixture
def api(emulator):
    return Api(emulator)


def tries_of_wait(home, dag_id: str) -> tuple[str, int]:
    with sqlite3.connect(home.home / "airflow.db") as db:
        [(state, tries)] = db.execute(
            "SELECT state, try_number FROM task_instance WHERE dag_id = ? AND task_id = 'wait' "
            "ORDER BY start_date DESC LIMIT 1",
            (dag_id,),
        ).fetchall()
    return state, tries


def retrigger_answers(emulator, run_id: str) -> list[int]:
    return [
        r["status"]
        for r in emulator.requests()
        if r["method"] == "POST" and r["path"].endswith(f"/runs/{run_id}/action")
    ]


def failed_run(emulator, api) -> tuple[str, str]:
    """A one-time flow whose first run failed (the emulator's fault plan), and that run."""
    flow_id = one_time_flow(api)
    emulator.add_fault(fail_run_attempts=1, flow=flow_id, code="CONNECTOR-2001-500")
    return flow_id, str(api.wait_for_run(flow_id, status="failed", timeout=30)["id"])


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_a_retrigger_answered_with_a_500_is_asked_again_by_the_tasks_retry(
    test_dags_home, emulator, api, mode
):
    dag_id = f"aep_refused_retrigger_{mode}"
    try:
        flow_id, run_id = failed_run(emulator, api)
        emulator.add_fault(method="POST", path=f"*/runs/{run_id}/action", status=500, times=1)
        result = test_dags_home.run(
            "dags", "test", dag_id, "--conf", json.dumps({"flow_id": flow_id, "run_id": run_id})
        )
    finally:
        emulator.admin.delete("/faults").raise_for_status()
    output = result.stdout + result.stderr
    # The first try failed on AEP's 500; its retry re-triggered again (not "stale, waiting")...
    assert retrigger_answers(emulator, run_id) == [500, 200], output[-3000:]
    assert "HTTP 500" in output
    # ...and the run it re-ran succeeded: the task ended well on its second try.
    assert tries_of_wait(test_dags_home, dag_id) == ("success", 2)
    summary = test_dags_home.xcom(dag_id, "wait")
    assert (summary["run_id"], summary["status"], summary["attempts"]) == (run_id, "success", 2)
    assert emulator.admin.get(f"/runs/{run_id}/credentials").json()["attempts"] == 2


def test_a_retrigger_refused_because_the_flow_was_disabled_fails_at_once_with_aeps_words(
    test_dags_home, emulator, api
):
    dag_id = "aep_refused_retrigger_poke"
    try:
        flow_id, run_id = failed_run(emulator, api)
        api.ok("POST", f"/flows/{flow_id}/action", params={"op": "DISABLE"})
        result = test_dags_home.run(
            "dags", "test", dag_id, "--conf", json.dumps({"flow_id": flow_id, "run_id": run_id})
        )
    finally:
        emulator.admin.delete("/faults").raise_for_status()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    # Failed on its first try, without a retry that would have waited for the old failure.
    assert tries_of_wait(test_dags_home, dag_id) == ("failed", 1)
    assert f"Dataflow {flow_id} is disabled, so no run will start" in output
    assert f"Dataflow {flow_id} is disabled: enable it before re-triggering its runs" in output  # AEP's words
    assert retrigger_answers(emulator, run_id) == [400]
