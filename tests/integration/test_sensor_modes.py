"""The run sensor in poke and reschedule mode in real Airflow, and the stored extra link."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_sensor_mode(test_dags_home, emulator, mode):
    dag_id = f"aep_sensor_{mode}"
    result = test_dags_home.dags_test(dag_id, {})
    assert set(test_dags_home.task_states(dag_id).values()) == {"success"}
    summary = test_dags_home.xcom(dag_id, "wait")
    assert summary["status"] == "success"
    assert summary["output_records"] == 3100  # AAM Realtime
    if mode == "reschedule":
        assert "up_for_reschedule" in (result.stdout + result.stderr).lower()

    # The "AEP dataflow" link Airflow stored for the UI opens the emulator's page of that flow.
    flow_id = test_dags_home.xcom(dag_id, "flow")
    for task in ("flow", "wait"):
        link = test_dags_home.xcom(dag_id, task, key="_link_AEPDataflowLink")
        assert link == f"{emulator.url}/_emulator/ui/flows/{flow_id}"
    page = httpx.get(link)
    assert page.status_code == 200
    assert f"sensor {mode}" in page.text
