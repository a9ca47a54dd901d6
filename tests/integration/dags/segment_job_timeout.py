"""A segment job that outlives its task's timeout, waited for in poke or deferrable mode
(integration tests only): the task must cancel the job before it fails."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_aep.operators.segment_jobs import AEPSegmentJobOperator

with DAG(
    dag_id="aep_segment_job_timeout",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
):
    AEPSegmentJobOperator(
        task_id="evaluate",
        segment_ids=["9f7d37fd-7039-4454-94ef-2b0cd6c3206a"],
        deferrable=False,
        poke_interval=1,
        timeout=4,
    )
    AEPSegmentJobOperator(
        task_id="evaluate_deferred",
        segment_ids=["25768be6-ebd5-45cc-8913-12fb3f348613"],
        deferrable=True,
        poke_interval=1,
        timeout=4,
    )
