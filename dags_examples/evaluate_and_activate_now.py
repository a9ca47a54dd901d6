"""Evaluate audiences, then activate them now, then wait for the export and its counts.

AEP evaluates audiences once a day and exports them on each activation flow's schedule. When a
DAG needs today's members in the destination now: a segment job evaluates the audiences
(Segmentation API), an ad-hoc activation exports them at once on the activation dataflow
(Adobe's ad-hoc activation API, v2), and the run sensor waits for that export's run and reads
its record counts per audience.

Ad-hoc activation needs an activation dataflow whose schedule has already exported the audience
once, and no run of it in progress: this DAG builds one first (Amazon S3, as Adobe's current
activation tutorial does) and waits for its scheduled export. On a platform with the dataflow already
there, start at ``evaluate`` with its id.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from airflow_provider_aep.operators.adhoc_activation import AEPAdhocActivationOperator
from airflow_provider_aep.operators.connections import (
    AEPCreateBaseConnectionOperator,
    AEPCreateSourceConnectionOperator,
    AEPCreateTargetConnectionOperator,
)
from airflow_provider_aep.operators.dataflows import AEPActivateSegmentsOperator, AEPCreateDataflowOperator
from airflow_provider_aep.operators.segment_jobs import AEPSegmentJobOperator
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor

DESTINATION = "amazon_s3"
LOCATION = {"bucketName": "acme-audiences", "path": "aep/activate-now"}
#: The audiences to evaluate and export now: the activation tutorials' two.
AUDIENCES = ["9f7d37fd-7039-4454-94ef-2b0cd6c3206a", "25768be6-ebd5-45cc-8913-12fb3f348613"]
#: Column header -> profile attribute.
COLUMNS = {
    "firstName": "person.name.firstName",
    "lastName": "person.name.lastName",
    "Email": "identityMap.Email",
}

with DAG(
    dag_id="aep_evaluate_and_activate_now",
    description="Evaluate audiences (segment job), export them now (ad-hoc activation), wait for the counts",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    params={
        "audiences": Param(AUDIENCES, type="array", description="Audience ids to evaluate and export now"),
    },
    tags=["aep", "example"],
) as dag:
    # 1. An activation dataflow to S3 with the audiences (Adobe's current activation tutorial).
    create_source = AEPCreateSourceConnectionOperator(
        task_id="create_source_connection",
        name="Connect to Profile store",
        source="profile_store",
        create_base_connection=False,
    )
    create_base = AEPCreateBaseConnectionOperator(
        task_id="create_base_connection",
        destination=DESTINATION,
        name="Activate now: Amazon S3 base connection",
        credentials_conn_id=f"aep_{DESTINATION}_credentials",
    )
    create_target = AEPCreateTargetConnectionOperator(
        task_id="create_target_connection",
        destination=DESTINATION,
        name="Activate now: Amazon S3 target connection",
        export="audiences",
        base_connection_id=create_base.output,
        location=LOCATION,
        file_type="CSV",
        compression="NONE",
    )
    create_flow = AEPCreateDataflowOperator(
        task_id="create_dataflow",
        destination=DESTINATION,
        export="audiences",
        name="Evaluate and activate now ({{ run_id }})",
        source_connection_id=create_source.output,
        target_connection_id=create_target.output,
    )
    activate = AEPActivateSegmentsOperator(
        task_id="activate_segments",
        flow_id=create_flow.output,
        etag="{{ ti.xcom_pull(task_ids='create_dataflow', key='etag') }}",
        segments="{{ params.audiences }}",
        columns=COLUMNS,
        mandatory_fields=["person.name.lastName"],
    )
    # AEP takes an ad-hoc activation only once the scheduled export has run, and not beside one.
    wait_for_scheduled_export = AEPDataflowRunSensor(
        task_id="wait_for_scheduled_export",
        flow_id=create_flow.output,
        deferrable=True,
        poke_interval=2,
        timeout=900,
    )

    # 2. Evaluate the audiences now; the job's profile counts are its XCom.
    evaluate = AEPSegmentJobOperator(
        task_id="evaluate",
        segment_ids="{{ params.audiences }}",
        deferrable=True,
        poke_interval=2,
        timeout=900,
    )

    # 3. Export them now, on the dataflow; the runs AEP started are the XCom.
    activate_now = AEPAdhocActivationOperator(
        task_id="activate_now", flow_id=create_flow.output, segment_ids="{{ params.audiences }}"
    )

    # 4. Wait for the ad-hoc run and its counts per audience.
    wait_for_export = AEPDataflowRunSensor(
        task_id="wait_for_adhoc_export",
        flow_id=create_flow.output,
        run_id="{{ ti.xcom_pull(task_ids='activate_now')[0] }}",
        deferrable=True,
        poke_interval=2,
        timeout=900,
    )

    @task
    def report(evaluated: dict, exported: dict) -> dict:
        profiles = {s["id"]: s["profiles"] for s in evaluated["segments"]}
        counts = {}
        for segment in exported["segments"]:
            counts[segment["id"]] = {
                "profiles": profiles.get(segment["id"]),
                "exported": segment["output_records"],
            }
            print(
                f"Audience {segment['id']}: {profiles.get(segment['id'])} profiles evaluated, "
                f"{segment['output_records']} exported (run {exported['run_id']})"
            )
        return counts

    activate >> wait_for_scheduled_export >> evaluate >> activate_now >> wait_for_export
    report(evaluate.output, wait_for_export.output)
