"""Rotate the S3 keys an export uses, without recreating anything, and see the next run use them.

Keys are rotated every few months. Put the new ones in the Airflow connection
``aws_aep_export`` (an ``aws`` connection: login = access key id, password = secret key), then
trigger this DAG with the export's base connection and dataflow ids. It patches the base
connection in place (``If-Match``, only what changed; secrets are never logged), so the dataflow,
its schedule and its history stay as they are, and waits for the first run that starts after the
new keys are in AEP.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_aep.operators.updates import AEPUpdateBaseConnectionOperator
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor

with DAG(
    dag_id="aep_rotate_destination_credentials",
    description="Put new S3 keys on an AEP export's base connection and wait for a run that uses them",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "base_connection_id": Param(type="string", minLength=1),
        "flow_id": Param(type="string", minLength=1),
        "credentials_conn_id": Param("aws_aep_export", type="string", minLength=1),
    },
    tags=["aep", "example", "maintenance"],
) as dag:
    rotate_keys = AEPUpdateBaseConnectionOperator(
        task_id="rotate_keys",
        base_connection_id="{{ params.base_connection_id }}",
        destination="amazon_s3",
        credentials_conn_id="{{ params.credentials_conn_id }}",
    )

    next_run = AEPDataflowRunSensor(
        task_id="wait_for_next_run",
        flow_id="{{ params.flow_id }}",
        # The first run that starts once the new keys are in AEP.
        since="{{ ti.xcom_pull(task_ids='rotate_keys', key='updated_at') }}",
        deferrable=True,
        poke_interval=30,
        timeout=2 * 24 * 3600,
    )

    rotate_keys >> next_run
