"""A scheduled query kept by name, run now, and its runs waited for (integration tests only)."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_aep.operators.query import AEPRunScheduledQueryOperator, AEPScheduledQueryOperator
from airflow_provider_aep.sensors.scheduled_query import AEPScheduledQueryRunSensor

SCHEDULE = {
    "name": "hourly member count {{ run_id }}",
    "sql": "SELECT country, count(*) AS members FROM loyalty_members GROUP BY country",
    "schedule": "0 * * * *",
    "schedule_start_date": "{{ dag_run.start_date }}",
}

with DAG(
    dag_id="aep_scheduled_query",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
):
    keep = AEPScheduledQueryOperator(task_id="keep_schedule", **SCHEDULE)
    keep_again = AEPScheduledQueryOperator(task_id="keep_schedule_again", **SCHEDULE)
    run_now = AEPRunScheduledQueryOperator(task_id="run_now", schedule_id=keep.output)
    wait_now = AEPScheduledQueryRunSensor(
        task_id="wait_for_run_now",
        schedule_id=keep.output,
        run_id=run_now.output,
        poke_interval=1,
        timeout=120,
    )
    wait_scheduled = AEPScheduledQueryRunSensor(
        task_id="wait_for_scheduled_run",
        schedule_id=keep.output,
        since="{{ dag_run.start_date }}",
        until="{{ dag_run.start_date + macros.timedelta(days=1) }}",
        poke_interval=1,
        timeout=120,
    )
    keep >> keep_again >> run_now
