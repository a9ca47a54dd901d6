"""Which tasks of this Airflow create or watch each flow, read from their return values."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from airflow_provider_aep.plugins.airflow_side import decode_xcom, flow_of, watchers_by_flow

WHEN = datetime(2026, 12, 1, 6, 0, tzinfo=timezone.utc)


def test_xcom_values_stored_as_json_or_json_in_json_decode():
    summary = {"flow_id": "f1", "run_id": "r1"}
    assert decode_xcom(json.dumps(summary)) == summary
    assert decode_xcom(json.dumps(json.dumps(summary))) == summary
    assert decode_xcom("f1") == "f1"
    assert decode_xcom('"f1"') == "f1"  # a string XCom is stored as JSON text too
    assert decode_xcom("{not json") == "{not json"


def test_the_flow_a_task_names_depends_on_its_operator():
    assert flow_of("AEPCreateDataflowOperator", "f1") == "f1"
    assert flow_of("AEPDataflowRunSensor", {"flow_id": "f1", "run_id": "r"}) == "f1"
    assert flow_of("AEPDataflowRunSensor", "r1") is None
    assert flow_of("PythonOperator", {"flow_id": "f1"}) is None  # not the provider's: never trusted


def test_a_task_whose_asset_event_names_the_flow_announces_its_files():
    from airflow_provider_aep.plugins.airflow_side import ASSET_EVENT

    rows = [("loads", "my_own_sensor", "r1", ASSET_EVENT, {"flow_id": "f1", "files": []}, WHEN)]
    (watcher,) = watchers_by_flow(rows, {"loads"})["f1"]
    assert (watcher.task_id, watcher.role) == ("my_own_sensor", "announces the files of")
    assert flow_of(ASSET_EVENT, {"uri": "s3://x"}) is None


def test_watchers_skip_dags_the_reader_may_not_read_and_keep_the_newest_per_task():
    rows = [
        ("daily", "wait", "run-2", "AEPDataflowRunSensor", json.dumps({"flow_id": "f1"}), WHEN),
        ("daily", "wait", "run-1", "AEPDataflowRunSensor", json.dumps({"flow_id": "f1"}), WHEN),
        ("setup", "create_dataflow", "run-0", "AEPCreateDataflowOperator", json.dumps("f1"), WHEN),
        ("secret_team", "wait", "run-9", "AEPDataflowRunSensor", json.dumps({"flow_id": "f1"}), WHEN),
        ("daily", "wait_other", "run-2", "AEPDataflowRunSensor", json.dumps({"flow_id": "f2"}), WHEN),
    ]
    found = watchers_by_flow(rows, {"daily", "setup"})
    assert [(w.dag_id, w.task_id, w.run_id, w.role) for w in found["f1"]] == [
        ("daily", "wait", "run-2", "watches"),
        ("setup", "create_dataflow", "run-0", "creates"),
    ]
    assert [w.task_id for w in found["f2"]] == ["wait_other"]
    assert found["f1"][0].when == "2026-12-01T06:00:00+00:00"


def test_of_the_rendered_fields_only_where_the_task_read_aep_is_kept():
    from airflow_provider_aep.plugins.airflow_side import where_it_read

    rendered = {
        "aep_conn_id": "aep_prod",
        "sandbox_name": "dev",
        "auth_params": {"secret": "***"},
        "flow_id": "f",
    }
    assert where_it_read(json.dumps(rendered)) == {"aep_conn_id": "aep_prod", "sandbox_name": "dev"}
    assert where_it_read(None) == {}
