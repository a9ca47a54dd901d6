"""Queries that go wrong (integration tests only): SQL AEP refuses, and queries that outlive
their task's timeout in poke and in deferrable mode, which the task must cancel before it fails."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_aep.operators.query import AEPQueryOperator

with DAG(
    dag_id="aep_query_faults",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
):
    AEPQueryOperator(
        task_id="bad_sql",
        sql="SELECT personID FORM loyalty_members",
        deferrable=False,
        poke_interval=1,
        timeout=60,
    )
    AEPQueryOperator(
        task_id="slow_query",
        sql="SELECT count(*) AS slow_poke FROM web_events",
        deferrable=False,
        poke_interval=1,
        timeout=4,
    )
    AEPQueryOperator(
        task_id="slow_query_deferred",
        sql="SELECT count(*) AS slow_deferred FROM web_events",
        deferrable=True,
        poke_interval=1,
        timeout=4,
    )
