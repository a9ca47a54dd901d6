"""Activate audiences to a batch destination, step by step as the batch-activation tutorial does it.

Profile Store source → destination base connection (credentials) → target connection (location,
CSV) → segment dataflow → activate segments and profile attributes → wait for the export run.

Choose the destination when triggering: ``{"destination": "oracle_eloqua"}``. Credentials come
from the Airflow connection ``aep_<destination>_credentials``. Email-marketing destinations
(Adobe Campaign, Oracle Eloqua, Oracle Responsys, Salesforce Marketing Cloud) keep their files on
S3, Azure Blob or SFTP: the location's keys say which.
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

#: Where each destination's CSV files go.
LOCATIONS = {
    "adobe_campaign": {"bucketName": "acme-campaign-drop", "path": "aep/audiences"},
    "amazon_s3_audiences": {"bucketName": "acme-audiences", "path": "aep/audiences"},
    "azure_blob_audiences": {"container": "audiences", "path": "aep/audiences"},
    "oracle_eloqua": {"remotePath": "/imports/aep"},
    "oracle_responsys": {"remotePath": "/imports/aep"},
    "salesforce_marketing_cloud": {"bucketName": "acme-sfmc-drop", "path": "aep/audiences"},
    "sftp_audiences": {"remotePath": "/audiences"},
}

#: The tutorial's two audiences: a one-off full export and an incremental one every six hours.
SEGMENTS = [
    {
        "id": "9f7d37fd-7039-4454-94ef-2b0cd6c3206a",
        "name": "Interested in Mountain Biking",
        "filenameTemplate": "%DESTINATION_NAME%_%SEGMENT_ID%_%DATETIME(YYYYMMdd_HHmmss)%",
        "exportMode": "DAILY_FULL_EXPORT",
        "schedule": {"frequency": "ONCE", "startTime": "00:00"},
    },
    {
        "id": "25768be6-ebd5-45cc-8913-12fb3f348613",
        "name": "Loyalty Segment",
        "filenameTemplate": "%DESTINATION_NAME%_%SEGMENT_ID%_%DATETIME(YYYYMMdd_HHmmss)%",
        "exportMode": "FIRST_FULL_THEN_INCREMENTAL",
        "schedule": {"frequency": "EVERY_6_HOURS", "startTime": "00:00"},
    },
]

with DAG(
    dag_id="aep_activate_segments",
    description="Activate audiences to a batch destination and wait for the export run",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    user_defined_macros={"LOCATIONS": LOCATIONS},
    params={
        "destination": Param("adobe_campaign", enum=list(LOCATIONS), description="Where the audiences go"),
        "segments": Param(SEGMENTS, type="array", description="Segment selector values (id, schedule, ...)"),
        "attributes": Param(
            ["person.name.firstName", "person.name.lastName", "personalEmail.address"],
            type="array",
            description="Profile attributes exported as CSV columns",
        ),
    },
    tags=["aep", "example"],
) as dag:
    # 1-2. Connect to the Profile Store (base and source connection).
    create_source = AEPCreateSourceConnectionOperator(
        task_id="create_source_connection",
        name="Connecting to Profile Store",
        source="profile_store",
    )

    # 3. Connect to the destination: credentials, then location and format.
    create_base = AEPCreateBaseConnectionOperator(
        task_id="create_base_connection",
        destination="{{ params.destination }}",
        name="{{ params.destination }} base connection",
        credentials_conn_id="aep_{{ params.destination }}_credentials",
    )
    create_target = AEPCreateTargetConnectionOperator(
        task_id="create_target_connection",
        destination="{{ params.destination }}",
        name="{{ params.destination }} target connection",
        base_connection_id=create_base.output,
        location="{{ LOCATIONS[params.destination] }}",
    )

    # 4. The dataflow, with the empty GeneralTransform activation fills in.
    create_flow = AEPCreateDataflowOperator(
        task_id="create_dataflow",
        destination="{{ params.destination }}",
        name="Activate segments to {{ params.destination }} ({{ run_id }})",
        description="Audience activation created by Airflow",
        source_connection_id=create_source.output,
        target_connection_id=create_target.output,
    )

    # 5-6. Activate segments and attributes, then check the flow shows them.
    activate = AEPActivateSegmentsOperator(
        task_id="activate_segments",
        flow_id=create_flow.output,
        etag="{{ ti.xcom_pull(task_ids='create_dataflow', key='etag') }}",
        segments="{{ params.segments }}",
        profile_attributes="{{ params.attributes }}",
        mandatory_fields=["person.name.lastName"],
        primary_fields=["personalEmail.address"],
    )

    # 7. Wait for the export run and its counts per segment.
    wait_for_run = AEPDataflowRunSensor(
        task_id="wait_for_activation_run",
        flow_id=create_flow.output,
        deferrable=True,
        poke_interval=2,
        timeout=900,
    )

    @task
    def report(summary: dict) -> dict:
        for segment in summary["segments"]:
            print(
                f"Segment {segment['id']}: {segment['output_records']} of {segment['input_records']} profiles exported"
            )
        return summary

    activate >> wait_for_run
    report(wait_for_run.output)
