"""An export set up by a DAG that runs every day: fixed names, so every run finds the same entities."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_aep.operators.connections import (
    AEPCreateBaseConnectionOperator,
    AEPCreateSourceConnectionOperator,
    AEPCreateTargetConnectionOperator,
)
from airflow_provider_aep.operators.dataflows import AEPCreateDataflowOperator, AEPDeleteDataflowOperator


class FailsOnceAfterCreating(AEPCreateBaseConnectionOperator):
    """Creates the connection, then dies on the first try, as a worker lost mid-task would."""

    def execute(self, context):
        created = super().execute(context)
        if context["ti"].try_number == 1:
            raise RuntimeError(f"worker lost after creating {created}")
        return created


with DAG(dag_id="aep_daily_setup", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    source = AEPCreateSourceConnectionOperator(
        task_id="source", name="daily: Data Lake", datasets=["6a1f00000000000000000001"]
    )
    base = AEPCreateBaseConnectionOperator(task_id="base", destination="data_landing_zone", name="daily: DLZ")
    target = AEPCreateTargetConnectionOperator(
        task_id="target", destination="data_landing_zone", name="daily: DLZ target",
        base_connection_id=base.output, location={"path": "daily"},
    )  # fmt: skip
    AEPCreateDataflowOperator(
        task_id="flow", destination="data_landing_zone", name="daily: loyalty export",
        source_connection_id=source.output, target_connection_id=target.output,
        time_unit="day", interval=1, end_time=1975901210,
    )  # fmt: skip

with DAG(dag_id="aep_retry_safe", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    FailsOnceAfterCreating(
        task_id="base",
        destination="sftp",
        name="retry-safe SFTP",
        auth_params={"domain": "sftp.example.com", "username": "u", "password": "pw-12345"},
        if_exists="create",  # no name lookup: only the task's own state store can prevent a duplicate
        retries=1,
        retry_delay=timedelta(seconds=1),
    )

with DAG(dag_id="aep_teardown", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    source = AEPCreateSourceConnectionOperator(
        task_id="source", name="teardown: Data Lake", datasets=["6a1f00000000000000000003"]
    )
    base = AEPCreateBaseConnectionOperator(
        task_id="base", destination="data_landing_zone", name="teardown: DLZ"
    )
    target = AEPCreateTargetConnectionOperator(
        task_id="target", destination="data_landing_zone", name="teardown: DLZ target",
        base_connection_id=base.output, location={"path": "teardown"},
    )  # fmt: skip
    flow = AEPCreateDataflowOperator(
        task_id="flow", destination="data_landing_zone", name="teardown: export",
        source_connection_id=source.output, target_connection_id=target.output, end_time=1975901210,
    )  # fmt: skip

    @task
    def use_the_flow(flow_id: str) -> None:
        raise RuntimeError(f"something downstream of {flow_id} failed")

    cleanup = AEPDeleteDataflowOperator(task_id="cleanup", flow_id=flow.output, delete_connections=True)
    use_the_flow(flow.output) >> cleanup.as_teardown(setups=flow)
