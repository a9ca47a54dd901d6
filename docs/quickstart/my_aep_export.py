"""My first AEP DAG: export a dataset to S3 every day, and wait for the first run's record counts.

It reads two Airflow connections: ``aep_default`` (AEP itself) and ``aep_amazon_s3_credentials``
(the bucket's keys). Against the emulator both are what ``aep-emulator`` prints; against AEP,
give the same names your own.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_aep.operators.connections import (
    AEPCreateBaseConnectionOperator,
    AEPCreateSourceConnectionOperator,
    AEPCreateTargetConnectionOperator,
)
from airflow_provider_aep.operators.dataflows import AEPCreateDataflowOperator
from airflow_provider_aep.operators.datasets import AEPListDatasetsOperator
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor

with DAG(
    dag_id="my_aep_export",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
):
    datasets = AEPListDatasetsOperator(task_id="find_dataset", names=["AAM Devices Data"])

    source = AEPCreateSourceConnectionOperator(
        task_id="source_connection", name="My datasets", datasets=datasets.output
    )
    credentials = AEPCreateBaseConnectionOperator(
        task_id="base_connection",
        destination="amazon_s3",
        name="My S3 bucket",
        credentials_conn_id="aep_amazon_s3_credentials",
    )
    target = AEPCreateTargetConnectionOperator(
        task_id="target_connection",
        destination="amazon_s3",
        name="My S3 folder",
        base_connection_id=credentials.output,
        location={"bucketName": "my-bucket", "path": "aep/daily"},
        dataset_file_type="JSON",
    )
    flow = AEPCreateDataflowOperator(
        task_id="dataflow",
        destination="amazon_s3",
        name="My daily export",
        source_connection_id=source.output,
        target_connection_id=target.output,
    )
    AEPDataflowRunSensor(task_id="wait_for_first_run", flow_id=flow.output, poke_interval=2, timeout=600)
