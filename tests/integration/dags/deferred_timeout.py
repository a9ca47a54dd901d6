"""A deferred sensor with a short timeout, on a flow id given at trigger time (integration tests only)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor

with DAG(
    dag_id="aep_deferred_timeout",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params={"flow_id": Param("", type="string")},
):
    AEPDataflowRunSensor(
        task_id="wait",
        flow_id="{{ params.flow_id }}",
        latest=True,
        deferrable=True,
        poke_interval=1,
        timeout=5,
    )
