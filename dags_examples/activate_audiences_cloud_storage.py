"""Activate audiences to a cloud-storage destination, as Adobe's current activation tutorial does it.

The enhanced cloud-storage destinations (Amazon S3, Azure Blob, ADLS Gen2, Data Landing Zone,
Google Cloud Storage, SFTP) take audiences as well as datasets, by the same keys the dataset
export uses, with ``export="audiences"``:

Profile Store source (no base connection) → destination base connection (credentials) → target
connection (location, file type, compression, CSV options, manifest) → audience dataflow →
audiences, columns (a mapping set) and deduplication key → wait for the run's per-audience counts.

Choose the destination when triggering: ``{"destination": "sftp"}``. Credentials come from the
Airflow connection ``aep_<destination>_credentials``.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_aep.operators.connections import (
    AEPCreateBaseConnectionOperator,
    AEPCreateSourceConnectionOperator,
    AEPCreateTargetConnectionOperator,
)
from airflow_provider_aep.operators.dataflows import AEPActivateSegmentsOperator, AEPCreateDataflowOperator
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor

#: Where each destination's audience files go.
LOCATIONS = {
    "amazon_s3": {"bucketName": "acme-audiences", "path": "aep/audiences"},
    "azure_blob": {"container": "audiences", "path": "aep/audiences"},
    "adls_gen2": {"path": "aep/audiences"},
    "data_landing_zone": {"path": "audiences"},
    "google_cloud_storage": {"bucketName": "acme-audiences", "path": "aep/audiences"},
    "sftp": {"remotePath": "audiences"},
}

#: Column header -> profile attribute (or identityMap.<namespace>, one identity at most).
COLUMNS = {
    "firstName": "person.name.firstName",
    "lastName": "person.name.lastName",
    "personalEmail_address": "personalEmail.address",
    "Email": "identityMap.Email",
}

#: Two audiences: a one-off full export and an incremental one every six hours.
AUDIENCES = [
    {
        "id": "9f7d37fd-7039-4454-94ef-2b0cd6c3206a",
        "name": "Interested in Mountain Biking",
        "filenameTemplate": "%DESTINATION%_%SEGMENT_NAME%_%DATETIME(YYYYMMdd_HHmmss)%",
        "exportMode": "DAILY_FULL_EXPORT",
        "schedule": {"frequency": "ONCE", "startTime": "00:00"},
    },
    {
        "id": "25768be6-ebd5-45cc-8913-12fb3f348613",
        "name": "Loyalty Segment",
        "filenameTemplate": "%DESTINATION%_%SEGMENT_ID%_%TIMESTAMP%",
        "exportMode": "FIRST_FULL_THEN_INCREMENTAL",
        "schedule": {"frequency": "EVERY_6_HOURS", "startTime": "00:00"},
    },
]

with DAG(
    dag_id="aep_activate_audiences_cloud_storage",
    description="Activate audiences to a cloud-storage destination and wait for the export run",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    user_defined_macros={"LOCATIONS": LOCATIONS},
    params={
        "destination": Param("amazon_s3", enum=list(LOCATIONS), description="Where the audience files go"),
        "audiences": Param(
            AUDIENCES, type="array", description="Audience selector values (id, schedule, ...)"
        ),
        "columns": Param(COLUMNS, type="object", description="Column header -> profile attribute"),
        "file_type": Param("CSV", enum=["CSV", "JSON", "PARQUET"], description="The files' format"),
        "compression": Param("GZIP", enum=["GZIP", "NONE"], description="The files' compression"),
        "csv_options": Param(
            {"delimiter": ";", "quote": '"', "escape": "\\", "nullValue": "null", "emptyValue": ""},
            type="object",
            description="CSV formatting (CSV files only)",
        ),
    },
    tags=["aep", "example"],
) as dag:
    # 1. The Profile Store source, as the current tutorial sends it: no base connection.
    create_source = AEPCreateSourceConnectionOperator(
        task_id="create_source_connection",
        name="Connect to Profile store",
        source="profile_store",
        create_base_connection=False,
    )

    # 2-3. The destination: credentials, then where and how the files are written.
    create_base = AEPCreateBaseConnectionOperator(
        task_id="create_base_connection",
        destination="{{ params.destination }}",
        name="{{ params.destination }} audience export base connection",
        credentials_conn_id="aep_{{ params.destination }}_credentials",
    )
    create_target = AEPCreateTargetConnectionOperator(
        task_id="create_target_connection",
        destination="{{ params.destination }}",
        export="audiences",
        name="{{ params.destination }} audiences ({{ params.file_type }}, {{ params.compression }})",
        base_connection_id=create_base.output,
        location="{{ LOCATIONS[params.destination] }}",
        file_type="{{ params.file_type }}",
        compression="{{ params.compression }}",
        csv_options="{{ params.csv_options if params.file_type == 'CSV' else None }}",
        include_file_manifest=True,
    )

    # 4. The audience dataflow (the destination's audience flow spec).
    create_flow = AEPCreateDataflowOperator(
        task_id="create_dataflow",
        destination="{{ params.destination }}",
        export="audiences",
        name="Activate audiences to {{ params.destination }} ({{ run_id }})",
        description="Audience activation created by Airflow",
        source_connection_id=create_source.output,
        target_connection_id=create_target.output,
    )

    # 5-7. Audiences, columns (mapping set) and keys, then check the flow shows them.
    activate = AEPActivateSegmentsOperator(
        task_id="activate_audiences",
        flow_id=create_flow.output,
        etag="{{ ti.xcom_pull(task_ids='create_dataflow', key='etag') }}",
        segments="{{ params.audiences }}",
        columns="{{ params.columns }}",
        mandatory_fields=["person.name.lastName"],
        primary_fields=["identityMap.Email"],
    )

    # 8. Wait for the export run and its counts per audience.
    wait_for_run = AEPDataflowRunSensor(
        task_id="wait_for_activation_run",
        flow_id=create_flow.output,
        deferrable=True,
        poke_interval=2,
        timeout=900,
    )

    @task
    def report(summary: dict) -> dict:
        for audience in summary["segments"]:
            print(
                f"Audience {audience['id']}: {audience['output_records']} of {audience['input_records']} profiles exported"
            )
        print(f"{summary['files_out']} file(s), {summary['output_bytes']} bytes")
        return summary

    activate >> wait_for_run
    report(wait_for_run.output)
