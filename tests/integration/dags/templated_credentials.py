"""Credentials rendered from Airflow Variables into ``auth_params``: the rendered fields must be masked.

The Variable names say nothing secret, so Airflow's own name-based masking does not apply; the
operator has to mask the values itself before Airflow stores the rendered fields.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_provider_aep.operators.connections import (
    AEPCreateBaseConnectionOperator,
    AEPCreateTargetConnectionOperator,
)

with DAG(
    dag_id="aep_templated_credentials", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")
):
    base = AEPCreateBaseConnectionOperator(
        task_id="create_base_connection",
        destination="amazon_s3",
        name="templated S3 credentials",
        auth_params={
            "s3AccessKey": "{{ var.value.export_key_id }}",
            "s3SecretKey": "{{ var.value.export_key_b }}",
        },
    )
    AEPCreateTargetConnectionOperator(
        task_id="create_target_connection",
        destination="amazon_s3",
        name="templated S3 target",
        base_connection_id=base.output,
        location={"bucketName": "acme-aep-exports", "path": "templated"},
    )
