"""The evaluate-then-activate-now example DAG, in real Airflow, against the emulator."""

from __future__ import annotations

import pytest

from aep_emulator.segments import population
from dags_examples.evaluate_and_activate_now import AUDIENCES, COLUMNS

DAG_ID = "aep_evaluate_and_activate_now"
pytestmark = pytest.mark.integration


def test_evaluate_then_activate_now_then_wait(airflow_home, emulator):
    before = len(emulator.requests())
    airflow_home.dags_test(DAG_ID, {})
    states = airflow_home.task_states(DAG_ID)
    assert set(states.values()) == {"success"}, states
    sent = emulator.requests()[before:]

    # The segment job: Adobe's array body, for the DAG's audiences; AEP's profile counts back.
    [job_request] = [r for r in sent if r["method"] == "POST" and r["path"] == "/data/core/ups/segment/jobs"]
    assert job_request["body"] == [{"segmentId": s} for s in AUDIENCES]
    evaluated = airflow_home.xcom(DAG_ID, "evaluate")
    assert evaluated["status"] == "SUCCEEDED"
    assert evaluated["segments"] == [{"id": s, "profiles": population(s)} for s in AUDIENCES]

    # The ad-hoc activation: one request, v2 body, on the flow the DAG made; its run awaited.
    flow_id = airflow_home.xcom(DAG_ID, "create_dataflow")
    [adhoc] = [r for r in sent if r["path"] == "/data/core/activation/disflowprovider/adhocrun"]
    assert adhoc["body"] == {"activationInfo": {flow_id: AUDIENCES}}
    assert adhoc["status"] == 200
    run_ids = airflow_home.xcom(DAG_ID, "activate_now")
    assert len(run_ids) == 1
    orders = airflow_home.xcom(DAG_ID, "activate_now", key="orders")
    assert orders == [{"segment": s, "order": flow_id, "run_id": run_ids[0]} for s in AUDIENCES]
    exported = airflow_home.xcom(DAG_ID, "wait_for_adhoc_export")
    assert exported["run_id"] == run_ids[0]
    assert exported["run_id"] != airflow_home.xcom(DAG_ID, "wait_for_scheduled_export")["run_id"]
    assert exported["status"] == "success"

    # Per audience: as many profiles exported as evaluated, less those without a last name.
    counts = airflow_home.xcom(DAG_ID, "report")
    for segment in AUDIENCES:
        size = population(segment)
        assert counts[segment] == {"profiles": size, "exported": size - size // 10}
    run = emulator.entities("runs")[run_ids[0]]
    assert run["flowId"] == flow_id
    # On Adobe's current S3 destination: the audience flow spec, the mapping set's column headers.
    flow = emulator.entities("flows")[flow_id]
    assert flow["flowSpec"]["id"] == "1a0514a6-33d4-4c7f-aff8-594799c47549"
    files = [
        f["id"]
        for f in run["metrics"]["recordSummary"]["targetSummaries"][0]["entitySummaries"]
        if "path" in f
    ]
    assert len(files) == len(AUDIENCES)
    for path in files:
        header = (emulator.config.exports_dir / path).read_text().splitlines()[0]
        assert header.split(",") == list(COLUMNS)
