"""A dataflow named, not numbered: started and waited for in one task, in real Airflow against the emulator."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from tests.emulator.conftest import Api
from tests.integration.test_flow_maintenance import one_time_flow

pytestmark = pytest.mark.integration


@pytest.fixture
def api(emulator):
    return Api(emulator)


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_a_run_started_by_name_is_waited_for_in_the_same_task(test_dags_home, emulator, api, mode):
    flow_id = one_time_flow(api)
    name = api.ok("GET", f"/flows/{flow_id}", 200)["items"][0]["name"]
    dag_id = f"aep_run_by_name_{mode}"
    test_dags_home.dags_test(dag_id, {"flow_name": name})
    assert test_dags_home.task_states(dag_id) == {"export": "success", "check_again": "success"}

    # The name was looked up with AEP's filter, and the run was started on the flow it names.
    lookups = [r for r in emulator.requests() if r["method"] == "GET" and r["path"].endswith("/flows")]
    assert any(("property", f"name=={name}") in parse_qsl(r["query"]) for r in lookups), lookups[-3:]
    [post] = [r for r in emulator.requests() if r["method"] == "POST" and r["path"].endswith("/runs")][-1:]
    assert post["body"]["flowId"] == flow_id

    # The task waited for that run and returned its summary; the sensor by name saw the same run.
    summary = test_dags_home.xcom(dag_id, "export")
    assert summary["flow_id"] == flow_id
    assert summary["status"] == "success"
    assert summary["output_records"] >= 1
    assert test_dags_home.xcom(dag_id, "check_again")["run_id"] == summary["run_id"]
