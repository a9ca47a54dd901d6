"""Query, then export: a Data Distiller query builds a derived dataset, a dataset export ships it.

Adobe's pipeline for shaped data out of AEP: a ``CREATE TABLE ... AS SELECT`` in the Query Service
writes a new dataset into the data lake, and a dataset export flow sends that dataset's rows to
cloud storage. Each day this DAG

1. drops the day's table if a cleared run built it already (so a re-run rebuilds it),
2. builds ``loyalty_gold_<day>`` from ``sql/loyalty_gold.sql`` (the members with at least
   ``min_points`` loyalty points) and records the dataset as an asset,
3. exports that dataset to Amazon S3 once, as the dataset-export tutorial does (source
   connection, base connection, target connection, dataflow),
4. waits for the export run's record counts, and checks the files hold every row the query wrote.

Credentials come from the Airflow connection ``aep_amazon_s3_credentials``, so none sit here.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, AssetAlias, Param, task

from airflow_provider_aep.operators.connections import (
    AEPCreateBaseConnectionOperator,
    AEPCreateSourceConnectionOperator,
    AEPCreateTargetConnectionOperator,
)
from airflow_provider_aep.operators.dataflows import AEPCreateDataflowOperator
from airflow_provider_aep.operators.query import AEPQueryOperator
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor

DESTINATION = "amazon_s3"
LOCATION = {"bucketName": "acme-aep-exports", "path": "derived/loyalty_gold"}
TABLE = "loyalty_gold_{{ ds_nodash }}"
#: The dataset the query wrote, as its task returned it.
DERIVED = "ti.xcom_pull(task_ids='build_derived_dataset')['output_dataset']"
#: Downstream DAGs can be scheduled on the datasets this DAG builds.
DERIVED_DATASETS = AssetAlias("aep-derived-datasets")

with DAG(
    dag_id="aep_query_then_export",
    description="Build a derived dataset with a Query Service CTAS, then export it to Amazon S3",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    render_template_as_native_obj=True,
    params={"min_points": Param(4000, type="integer", minimum=0, description="Gold members' least points")},
    tags=["aep", "example", "query-service"],
) as dag:
    # 1. A cleared run rebuilds the day's table: drop what an earlier try built.
    drop_previous = AEPQueryOperator(
        task_id="drop_previous_build",
        sql=f"DROP TABLE IF EXISTS {TABLE}",
        deferrable=True,
        poke_interval=1,
        timeout=600,
    )

    # 2. The derived dataset: a CTAS from a .sql file (templated: the day, the threshold).
    build = AEPQueryOperator(
        task_id="build_derived_dataset",
        sql="sql/loyalty_gold.sql",
        description="Gold loyalty members of the day",
        deferrable=True,
        poke_interval=1,
        timeout=1800,
        outlets=[DERIVED_DATASETS],
    )

    # 3. Export it once, as the dataset-export tutorial does.
    create_source = AEPCreateSourceConnectionOperator(
        task_id="create_source_connection",
        name="Derived dataset {{ " + DERIVED + "['name'] }} ({{ " + DERIVED + "['id'] }})",
        description="Data Lake source connection to a Query Service output",
        datasets="{{ [" + DERIVED + "['id']] }}",
    )
    create_base = AEPCreateBaseConnectionOperator(
        task_id="create_base_connection",
        destination=DESTINATION,
        name="amazon_s3 base connection",
        credentials_conn_id="aep_amazon_s3_credentials",
    )
    create_target = AEPCreateTargetConnectionOperator(
        task_id="create_target_connection",
        destination=DESTINATION,
        name="amazon_s3 JSON target connection (derived datasets)",
        base_connection_id=create_base.output,
        location=LOCATION,
        dataset_file_type="JSON",
        compression="GZIP",
    )
    create_flow = AEPCreateDataflowOperator(
        task_id="create_dataflow",
        destination=DESTINATION,
        name="Export " + TABLE + " ({{ run_id }})",
        description="Export of a Query Service output, created by Airflow",
        source_connection_id=create_source.output,
        target_connection_id=create_target.output,
        export_mode="DAILY_FULL_EXPORT",
        time_unit="day",
        interval=0,
        start_time="{{ dag_run.start_date.timestamp() | int }}",
        end_time="{{ (dag_run.start_date + macros.timedelta(days=1)).timestamp() | int }}",
    )

    # 4. The export run's record counts.
    wait_for_run = AEPDataflowRunSensor(
        task_id="wait_for_export_run",
        flow_id=create_flow.output,
        deferrable=True,
        poke_interval=2,
        timeout=900,
    )

    @task
    def reconcile(query: dict, run: dict) -> dict:
        """The files hold every row the query wrote, or the DAG run fails saying both counts."""
        if run["output_records"] != query["rows"]:
            raise ValueError(
                f"query {query['query_id']} wrote {query['rows']} rows into {query['output_dataset']['name']}, "
                f"but export run {run['run_id']} wrote {run['output_records']} records"
            )
        print(
            f"Query {query['query_id']} wrote {query['rows']} rows into {query['output_dataset']['name']}; "
            f"run {run['run_id']} exported all of them in {run['files_out']} file(s), {run['output_bytes']} bytes"
        )
        return {"rows": query["rows"], "dataset": query["output_dataset"], "run_id": run["run_id"]}

    drop_previous >> build >> create_source
    reconcile(build.output, wait_for_run.output)
