"""Every day, wait for the run AEP made of an existing export dataflow, then announce its files.

AEP runs a scheduled export on its own clock; this DAG does not start it. For each daily data
interval it waits (deferred, in the triggerer) for the flow's run that *started inside the
interval*, fails with AEP's error codes when that run failed, and on success emits an asset
event through the ``aep-daily-export`` alias: the event's URI is the export's real folder
(``s3://bucket/path``, ...) and its ``extra`` the run's record counts and file URIs, so DAGs
scheduled on the alias (``load_exported_files.py``) start when the data has landed.

The choices, for a day that does not go as planned:

- A run that started *before* the interval belongs to the previous day's DAG run; widen
  ``since`` (e.g. ``data_interval_start - macros.timedelta(hours=1)``) if AEP's schedule runs a
  little before midnight.
- No run in the interval: once the interval has ended (plus ``until_grace``), the task fails
  with ``AEPDataflowRunMissing``; no event, so nothing downstream starts on missing data.
- A failed run: the task fails with AEP's codes (after ``retrigger_failed`` re-triggers); no event.

Which flow: the ``flow_id`` param of a manual run, else the Airflow Variable
``aep_daily_export_flow_id``. With neither, the run is skipped, saying how to set one.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, AssetAlias, Param, task

from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor

#: What downstream DAGs schedule on; each event names the folder the day's files landed in.
DAILY_EXPORT = AssetAlias("aep-daily-export")
FLOW_ID = "{{ params.flow_id or var.value.get('aep_daily_export_flow_id', '') }}"

with DAG(
    dag_id="aep_monitor_daily_export",
    description="Wait for each day's AEP export run, then announce its files as an asset event",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=3,
    params={"flow_id": Param(None, type=["null", "string"], description="The export dataflow to watch")},
    tags=["aep", "example"],
) as dag:

    @task.short_circuit
    def flow_is_configured(flow_id: str) -> bool:
        """Skip, with a hint, rather than fail when no flow has been chosen yet."""
        if not flow_id:
            print("No flow to watch: trigger with {'flow_id': ...} or set Variable aep_daily_export_flow_id")
        return bool(flow_id)

    wait_for_daily_run = AEPDataflowRunSensor(
        task_id="wait_for_daily_run",
        flow_id=FLOW_ID,
        since="{{ data_interval_start.isoformat() }}",
        until="{{ data_interval_end.isoformat() }}",
        until_grace=300,
        deferrable=True,
        poke_interval=30,
        timeout=6 * 3600,
        retrigger_failed=1,
        outlets=[DAILY_EXPORT],
    )

    @task
    def report(summary: dict) -> None:
        """One line per day in the task log: what landed."""
        print(
            f"Run {summary['run_id']}: {summary['output_records']} records in {summary['files_out']} file(s), "
            f"{summary['output_bytes']} bytes (attempt {summary['attempts']})"
        )

    flow_is_configured(FLOW_ID) >> wait_for_daily_run
    report(wait_for_daily_run.output)
