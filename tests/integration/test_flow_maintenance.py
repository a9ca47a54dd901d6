"""Changing pipelines in place and running flows on demand, in real Airflow against the emulator."""

from __future__ import annotations

import copy
import json
import sqlite3
import time

import pytest

from tests import seed_bodies as seed
from tests.emulator.conftest import Api
from tests.emulator.pipeline import make_pipeline

pytestmark = pytest.mark.integration

NEW_ACCESS_KEY = "AKIAROTATEDKEY234567"
NEW_SECRET_KEY = "rotatedSecretKey0123456789abcdefghijklmn"
OTHER_DATASET = "5ef3e328582424191b1beb44"


@pytest.fixture
def api(emulator):
    return Api(emulator)


def entity_counts(emulator) -> dict[str, int]:
    return {
        k: len(emulator.entities(k))
        for k in ("connections", "sourceConnections", "targetConnections", "flows")
    }


def pipeline_starting_now(api: Api) -> dict[str, str]:
    """The tutorial's pipeline, daily from now: the emulator's clock makes a day 24 seconds."""
    ids = make_pipeline(api)
    body = copy.deepcopy(seed.dataflow("amazon_s3", ids["source"], ids["target"]))
    body["name"] = f"export from now {ids['flow']}"
    body["scheduleParams"].pop("foldernameTemplate")
    body["scheduleParams"].update(startTime=int(time.time()), timeUnit="day", interval=1)
    api.ok("DELETE", f"/flows/{ids['flow']}", 202)
    return {**ids, "flow": str(api.ok("POST", "/flows", 201, json=body)["id"])}


def one_time_flow(api: Api) -> str:
    """A DAILY_FULL_EXPORT dataflow (one full export, once): the kind AEP starts runs of on request."""
    ids = make_pipeline(api)
    body = copy.deepcopy(seed.dataflow("amazon_s3", ids["source"], ids["target"]))
    body["name"] = f"one-time export {ids['flow']}"
    body["scheduleParams"].pop("foldernameTemplate")
    body["scheduleParams"].update(exportMode="DAILY_FULL_EXPORT", timeUnit="day", interval=0)
    return str(api.ok("POST", "/flows", 201, json=body)["id"])


def test_rotating_keys_patches_the_base_connection_and_the_next_run_uses_them(airflow_home, emulator, api):
    ids = pipeline_starting_now(api)
    before = entity_counts(emulator)
    aws = {"conn_type": "aws", "login": NEW_ACCESS_KEY, "password": NEW_SECRET_KEY}
    result = airflow_home.dags_test(
        "aep_rotate_destination_credentials",
        {"base_connection_id": ids["base"], "flow_id": ids["flow"]},
        env={"AIRFLOW_CONN_AWS_AEP_EXPORT": json.dumps(aws)},
    )
    assert set(airflow_home.task_states("aep_rotate_destination_credentials").values()) == {"success"}

    # Nothing was recreated: the same base connection, only its keys changed, with If-Match.
    assert entity_counts(emulator) == before
    [patch] = [r for r in emulator.requests() if r["method"] == "PATCH" and ids["base"] in r["path"]]
    assert patch["status"] == 200
    assert patch["if_match"]
    assert {op["path"] for op in patch["body"]} == {"/auth/params/s3AccessKey", "/auth/params/s3SecretKey"}
    assert airflow_home.xcom("aep_rotate_destination_credentials", "rotate_keys") == ids["base"]

    # The run the sensor waited for used the new keys; the first run had used the old ones.
    summary = airflow_home.xcom("aep_rotate_destination_credentials", "wait_for_next_run")
    used = emulator.admin.get(f"/runs/{summary['run_id']}/credentials").json()
    rotated = {"s3AccessKey": NEW_ACCESS_KEY, "s3SecretKey": NEW_SECRET_KEY}
    assert used["baseConnectionId"] == ids["base"]
    assert used["fingerprint"] == emulator.fingerprint(rotated)
    assert used["identifiers"]["s3AccessKey"] == NEW_ACCESS_KEY
    first_runs = [
        r for r in emulator.admin.get("/state").json()["sandboxes"]["prod"]["runs"].values()
        if r["flowId"] == ids["flow"] and r["id"] != summary["run_id"]
    ]  # fmt: skip
    assert first_runs
    old = emulator.admin.get(f"/runs/{first_runs[0]['id']}/credentials").json()
    assert old["fingerprint"] == emulator.fingerprint(
        {"s3AccessKey": seed.S3_ACCESS_KEY, "s3SecretKey": seed.S3_SECRET_KEY}
    )

    # The new secret is nowhere: not in the output, the XComs, the rendered fields or the log.
    assert NEW_SECRET_KEY not in result.stdout + result.stderr
    with sqlite3.connect(airflow_home.home / "airflow.db") as db:
        for table in ("xcom", "rendered_task_instance_fields"):
            assert NEW_SECRET_KEY not in json.dumps(
                db.execute(f"SELECT * FROM {table}").fetchall(), default=str
            )
    assert NEW_SECRET_KEY not in json.dumps(emulator.requests())


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_an_on_demand_run_that_fails_is_retriggered_until_it_succeeds(test_dags_home, emulator, api, mode):
    flow_id = one_time_flow(api)
    emulator.add_fault(fail_run_attempts=1, flow=flow_id, code="CONNECTOR-2001-500")
    try:
        result = test_dags_home.dags_test(f"aep_on_demand_{mode}", {"flow_id": flow_id})
    finally:
        emulator.admin.delete("/faults").raise_for_status()
    dag_id = f"aep_on_demand_{mode}"
    assert set(test_dags_home.task_states(dag_id).values()) == {"success"}
    run_id = test_dags_home.xcom(dag_id, "start_run")
    [post] = [r for r in emulator.requests() if r["method"] == "POST" and r["path"].endswith("/runs")][-1:]
    assert post["body"]["flowId"] == flow_id
    summary = test_dags_home.xcom(dag_id, "wait")
    assert (summary["run_id"], summary["status"], summary["attempts"]) == (run_id, "success", 2)
    assert summary["output_records"] > 0
    retriggers = [r for r in emulator.requests() if r["path"].endswith(f"/runs/{run_id}/action")]
    assert [(r["query"], r["status"]) for r in retriggers] == [("op=RE_TRIGGER", 200)]
    assert emulator.admin.get(f"/runs/{run_id}/credentials").json()["attempts"] == 2
    assert "CONNECTOR-2001-500" in result.stdout + result.stderr


def test_a_flow_on_a_schedule_gets_no_on_demand_run(test_dags_home, emulator, api):
    ids = make_pipeline(api)
    emulator.admin.delete("/requests").raise_for_status()
    result = test_dags_home.run(
        "dags", "test", "aep_on_demand_poke", "--conf", json.dumps({"flow_id": ids["flow"]})
    )
    assert test_dags_home.task_states("aep_on_demand_poke")["start_run"] == "failed"
    assert "only for flows scheduled for one-time runs" in result.stdout + result.stderr
    assert not [r for r in emulator.requests() if r["method"] == "POST" and r["path"].endswith("/runs")]


def test_waiting_for_a_disabled_flow_fails_at_once(test_dags_home, emulator, api):
    ids = make_pipeline(api)
    api.ok("POST", f"/flows/{ids['flow']}/action", params={"op": "DISABLE"})
    emulator.admin.delete("/requests").raise_for_status()
    result = test_dags_home.run(
        "dags", "test", "aep_wait_for_disabled_flow", "--conf", json.dumps({"flow_id": ids["flow"]})
    )
    assert test_dags_home.task_states("aep_wait_for_disabled_flow")["wait"] == "failed"
    assert f"Dataflow {ids['flow']} is disabled, so no run will start" in result.stdout + result.stderr
    # One look at the runs and one at the flow: it did not keep polling.
    reads = [r["path"] for r in emulator.requests() if r["method"] == "GET" and "/flowservice/" in r["path"]]
    assert len(reads) <= 4, reads


def test_a_target_moves_and_a_source_gains_a_dataset_in_place(test_dags_home, emulator, api):
    ids = make_pipeline(api)
    before = entity_counts(emulator)
    conf = {
        "target_connection_id": ids["target"],
        "source_connection_id": ids["source"],
        "dataset": OTHER_DATASET,
    }
    test_dags_home.dags_test("aep_change_in_place", conf)
    assert set(test_dags_home.task_states("aep_change_in_place").values()) == {"success"}
    assert entity_counts(emulator) == before
    assert emulator.entities("targetConnections")[ids["target"]]["params"]["path"] == "exports/v2"
    kept = test_dags_home.xcom("aep_change_in_place", "add_dataset")
    assert kept[-1] == OTHER_DATASET
    source = emulator.entities("sourceConnections")[ids["source"]]
    assert [d["dataSetId"] for d in source["params"]["datasets"]] == kept
    # The same change again sends nothing.
    patches = len([r for r in emulator.requests() if r["method"] == "PATCH"])
    test_dags_home.dags_test("aep_change_in_place", conf)
    assert len([r for r in emulator.requests() if r["method"] == "PATCH"]) == patches


def test_the_retrigger_operator_runs_a_failed_run_again(test_dags_home, emulator, api):
    flow_id = one_time_flow(api)
    emulator.add_fault(fail_run_attempts=1, flow=flow_id)
    try:
        failed = api.wait_for_run(flow_id, status="failed", timeout=30)
        test_dags_home.dags_test("aep_retrigger_failed_run", {"flow_id": flow_id, "run_id": failed["id"]})
    finally:
        emulator.admin.delete("/faults").raise_for_status()
    assert test_dags_home.xcom("aep_retrigger_failed_run", "retrigger") == failed["id"]
    summary = test_dags_home.xcom("aep_retrigger_failed_run", "wait")
    assert (summary["run_id"], summary["status"]) == (failed["id"], "success")
    assert emulator.admin.get(f"/runs/{failed['id']}/credentials").json()["attempts"] == 2
