"""A dataflow by name: started and waited for in one task, then watched by a sensor by name."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_aep.operators.runs import AEPStartDataflowRunOperator
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor

for mode in ("poke", "deferrable"):
    with DAG(
        dag_id=f"aep_run_by_name_{mode}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        params={"flow_name": Param(type="string")},
    ):
        export = AEPStartDataflowRunOperator(
            task_id="export",
            flow_name="{{ params.flow_name }}",
            wait_for_completion=True,
            deferrable=mode == "deferrable",
            poke_interval=1,
            timeout=300,
            min_records=1,
        )
        export >> AEPDataflowRunSensor(
            task_id="check_again",
            flow_name="{{ params.flow_name }}",
            latest=True,
            deferrable=mode == "deferrable",
            poke_interval=1,
            timeout=120,
        )
