"""Every DAG file (the examples and the test DAGs) imports cleanly in Airflow."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_example_dags_parse(airflow_home):
    listed = airflow_home.run("dags", "list", "--local", "--output", "json")
    assert listed.returncode == 0, listed.stderr[-2000:]
    for dag_id in (
        "aep_export_datasets",
        "aep_activate_segments",
        "aep_activate_audiences_cloud_storage",
        "aep_extend_dataflow_end_dates",
        "aep_rotate_destination_credentials",
        "aep_monitor_daily_export",
        "aep_load_exported_files",
        "aep_evaluate_and_activate_now",
        "aep_query_then_export",
    ):
        assert dag_id in listed.stdout
    errors = airflow_home.run("dags", "list-import-errors", "--local", "--output", "json")
    assert errors.returncode == 0
    assert "dags_examples" not in errors.stdout


def test_test_dags_parse(test_dags_home):
    listed = test_dags_home.run("dags", "list", "--local", "--output", "json")
    for dag_id in (
        "aep_daily_setup",
        "aep_retry_safe",
        "aep_teardown",
        "aep_sensor_poke",
        "aep_sensor_reschedule",
        "aep_on_demand_deferrable",
        "aep_wait_for_disabled_flow",
        "aep_change_in_place",
        "aep_retrigger_failed_run",
        "aep_segment_job_timeout",
    ):
        assert dag_id in listed.stdout
    errors = test_dags_home.run("dags", "list-import-errors", "--local", "--output", "json")
    assert "daily_setup.py" not in errors.stdout
    assert "sensor_modes.py" not in errors.stdout
    assert "flow_maintenance.py" not in errors.stdout
