"""Keep dataset exports running: every day, extend the dataflows whose end date is near.

AEP stops a dataset dataflow at its ``endTime``: six months after creation when none was set.
This DAG finds the destination dataflows ending within 30 days and moves their end 182 days on,
so no export stops by surprise.

"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_aep.operators.dataflows import AEPExtendDataflowEndTimesOperator

with DAG(
    dag_id="aep_extend_dataflow_end_dates",
    description="Extend AEP dataflows whose end date falls within the next 30 days",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "within_days": Param(30, type="integer", minimum=1),
        "extend_by_days": Param(182, type="integer", minimum=1),
    },
    tags=["aep", "example", "maintenance"],
) as dag:
    AEPExtendDataflowEndTimesOperator(
        task_id="extend_end_dates",
        within_days="{{ params.within_days }}",
        extend_by_days="{{ params.extend_by_days }}",
    )
