"""Export AEP datasets to cloud storage, step by step as the dataset-export tutorial does it.

list eligible datasets → source connection (Data Lake) → base connection (credentials)
→ target connection (location, format) → dataflow (schedule) → wait for the run's record counts.

Choose the destination when triggering: ``{"destination": "sftp"}``. Credentials come from the
Airflow connection ``aep_<destination>_credentials`` (its extra holds the auth params by AEP
name, or login/password/host mapped per auth spec), so none sit in this file.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_aep.operators.connections import (
    AEPCreateBaseConnectionOperator,
    AEPCreateSourceConnectionOperator,
    AEPCreateTargetConnectionOperator,
)
from airflow_provider_aep.operators.dataflows import AEPCreateDataflowOperator
from airflow_provider_aep.operators.datasets import AEPListDatasetsOperator
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor

DESTINATIONS = ["amazon_s3", "azure_blob", "adls_gen2", "data_landing_zone", "google_cloud_storage", "sftp"]

#: Where each destination's files go; the target connection takes the destination's keys.
LOCATIONS = {
    "amazon_s3": {"bucketName": "acme-aep-exports", "path": "datasets/daily"},
    "azure_blob": {"container": "aep-exports", "path": "datasets/daily"},
    "adls_gen2": {"path": "aep/datasets/daily"},
    "data_landing_zone": {"path": "datasets/daily"},
    "google_cloud_storage": {"bucketName": "acme-aep-exports", "path": "datasets/daily"},
    "sftp": {"remotePath": "exports/aep/daily"},
}

with DAG(
    dag_id="aep_export_datasets",
    description="Export AEP datasets to a cloud storage destination and wait for the run's record counts",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    user_defined_macros={"LOCATIONS": LOCATIONS},
    params={
        "destination": Param("amazon_s3", enum=DESTINATIONS, description="Where the datasets go"),
        "datasets": Param(["AAM Devices Data"], type="array", description="Dataset names (or ids) to export"),
        "file_type": Param("JSON", enum=["JSON", "PARQUET"]),
        "export_mode": Param(
            "FIRST_FULL_THEN_INCREMENTAL", enum=["DAILY_FULL_EXPORT", "FIRST_FULL_THEN_INCREMENTAL"]
        ),
    },
    tags=["aep", "example"],
) as dag:
    # 1. Retrieve the list of eligible datasets (only the ones asked for).
    list_datasets = AEPListDatasetsOperator(task_id="list_datasets", names="{{ params.datasets }}")

    # 2. Source connection: the Data Lake datasets to export.
    create_source = AEPCreateSourceConnectionOperator(
        task_id="create_source_connection",
        name="Connecting to Data Lake",
        description="Data Lake source connection to export datasets",
        datasets=list_datasets.output,
    )

    # 3. Base connection: the destination's credentials, read from an Airflow connection.
    create_base = AEPCreateBaseConnectionOperator(
        task_id="create_base_connection",
        destination="{{ params.destination }}",
        name="{{ params.destination }} base connection",
        credentials_conn_id="aep_{{ params.destination }}_credentials",
    )

    # 4. Target connection: where the files land, and in which format.
    create_target = AEPCreateTargetConnectionOperator(
        task_id="create_target_connection",
        destination="{{ params.destination }}",
        name="{{ params.destination }} {{ params.file_type }} target connection",
        base_connection_id=create_base.output,
        location="{{ LOCATIONS[params.destination] }}",
        dataset_file_type="{{ params.file_type }}",
        compression="GZIP",
    )

    # 5. Dataflow: the schedule (every day, first a full export), ending in six months.
    create_flow = AEPCreateDataflowOperator(
        task_id="create_dataflow",
        destination="{{ params.destination }}",
        name="Export datasets to {{ params.destination }} ({{ run_id }})",
        description="Dataset export created by Airflow",
        source_connection_id=create_source.output,
        target_connection_id=create_target.output,
        export_mode="{{ params.export_mode }}",
        time_unit="day",
        interval="{{ 0 if params.export_mode == 'DAILY_FULL_EXPORT' else 1 }}",
        start_time="{{ dag_run.start_date.timestamp() | int }}",
        end_time="{{ (dag_run.start_date + macros.timedelta(days=182)).timestamp() | int }}",
    )

    # 6. Wait for the first run and its record counts, in the triggerer.
    wait_for_run = AEPDataflowRunSensor(
        task_id="wait_for_export_run",
        flow_id=create_flow.output,
        deferrable=True,
        poke_interval=2,
        timeout=900,
    )

    @task
    def report(summary: dict) -> dict:
        """Log the run summary where the Airflow UI shows it."""
        print(
            f"Run {summary['run_id']} {summary['status']}: {summary['output_records']} records exported "
            f"in {summary['files_out']} file(s), {summary['output_bytes']} bytes"
        )
        return summary

    report(wait_for_run.output)
