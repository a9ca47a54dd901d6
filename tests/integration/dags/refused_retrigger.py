"""A sensor whose re-trigger AEP refuses, with one task retry: the retry must not take the old
failure for "re-triggered, waiting" and sit until the sensor's timeout."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor

for mode in ("poke", "deferrable"):
    with DAG(
        dag_id=f"aep_refused_retrigger_{mode}",
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        params={"flow_id": Param(type="string"), "run_id": Param(type="string")},
    ):
        AEPDataflowRunSensor(
            task_id="wait",
            flow_id="{{ params.flow_id }}",
            run_id="{{ params.run_id }}",
            retrigger_failed=2,
            deferrable=mode == "deferrable",
            poke_interval=1,
            # Long enough that a retry waiting for the old failure shows as a timeout, not a pass.
            timeout=120,
            retries=1,
            retry_delay=timedelta(seconds=1),
        )
