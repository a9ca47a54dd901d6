"""The export pipeline with the run sensor in poke or reschedule mode (integration tests only)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_aep.operators.connections import (
    AEPCreateBaseConnectionOperator,
    AEPCreateSourceConnectionOperator,
    AEPCreateTargetConnectionOperator,
)
from airflow_provider_aep.operators.dataflows import AEPCreateDataflowOperator
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor

for mode in ("poke", "reschedule"):
    with DAG(
        dag_id=f"aep_sensor_{mode}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        params={"dataset": Param("5ef3e328582424191b1beb44")},
    ):
        source = AEPCreateSourceConnectionOperator(
            task_id="source", name=f"Data Lake ({mode})", datasets=["{{ params.dataset }}"]
        )
        base = AEPCreateBaseConnectionOperator(
            task_id="base", destination="data_landing_zone", name=f"DLZ ({mode})"
        )
        target = AEPCreateTargetConnectionOperator(
            task_id="target", destination="data_landing_zone", name=f"DLZ target ({mode})",
            base_connection_id=base.output, location={"path": f"sensor-{mode}"},
        )  # fmt: skip
        flow = AEPCreateDataflowOperator(
            task_id="flow", destination="data_landing_zone", name=f"sensor {mode}",
            source_connection_id=source.output, target_connection_id=target.output,
            export_mode="DAILY_FULL_EXPORT", end_time=1975901210,
        )  # fmt: skip
        AEPDataflowRunSensor(
            task_id="wait", flow_id=flow.output, mode=mode, deferrable=False, poke_interval=1, timeout=300
        )
