"""Runs on demand, re-triggered on failure, in each sensor mode; a wait on a disabled flow;
connections changed in place; a failed run re-triggered by the operator."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_aep.operators.runs import AEPRetriggerDataflowRunOperator, AEPStartDataflowRunOperator
from airflow_provider_aep.operators.updates import (
    AEPUpdateSourceConnectionOperator,
    AEPUpdateTargetConnectionOperator,
)
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor

for mode in ("poke", "reschedule", "deferrable"):
    with DAG(
        dag_id=f"aep_on_demand_{mode}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        params={"flow_id": Param(type="string")},
    ):
        start = AEPStartDataflowRunOperator(task_id="start_run", flow_id="{{ params.flow_id }}")
        AEPDataflowRunSensor(
            task_id="wait",
            flow_id="{{ params.flow_id }}",
            run_id=start.output,
            retrigger_failed=2,
            mode="poke" if mode == "deferrable" else mode,
            deferrable=mode == "deferrable",
            poke_interval=1,
            timeout=300,
        )

with DAG(
    dag_id="aep_wait_for_disabled_flow",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params={"flow_id": Param(type="string")},
):
    AEPDataflowRunSensor(
        task_id="wait", flow_id="{{ params.flow_id }}", deferrable=True, poke_interval=1, timeout=600
    )

with DAG(
    dag_id="aep_change_in_place",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params={
        "target_connection_id": Param(type="string"),
        "source_connection_id": Param(type="string"),
        "dataset": Param(type="string"),
    },
):
    AEPUpdateTargetConnectionOperator(
        task_id="move_files",
        target_connection_id="{{ params.target_connection_id }}",
        location={"path": "exports/v2"},
    )
    AEPUpdateSourceConnectionOperator(
        task_id="add_dataset",
        source_connection_id="{{ params.source_connection_id }}",
        add_datasets=["{{ params.dataset }}"],
    )

with DAG(
    dag_id="aep_retrigger_failed_run",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params={"flow_id": Param(type="string"), "run_id": Param(type="string")},
):
    again = AEPRetriggerDataflowRunOperator(task_id="retrigger", run_id="{{ params.run_id }}")
    AEPDataflowRunSensor(
        task_id="wait", flow_id="{{ params.flow_id }}", run_id=again.output, poke_interval=1, timeout=300
    )
