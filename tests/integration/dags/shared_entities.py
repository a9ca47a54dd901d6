"""Two pipelines that share their connections by name, the way teams share one sandbox.

``aep_shared_long_lived`` sets up an export and keeps it. ``aep_shared_with_teardown`` asks for
the same connections (``if_exists="reuse"``), adds its own dataflow and tears its pipeline down.
``aep_shared_overlap`` creates everything itself and tears it down, while another of its runs
may be active. ``param another_flow`` makes a task create a second dataflow on the run's
connections before the teardown, as another team's pipeline would.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from airflow_provider_aep.operators.connections import (
    AEPCreateBaseConnectionOperator,
    AEPCreateSourceConnectionOperator,
    AEPCreateTargetConnectionOperator,
)
from airflow_provider_aep.operators.dataflows import AEPCreateDataflowOperator, AEPDeleteDataflowOperator

START = pendulum.datetime(2026, 1, 1, tz="UTC")
END = 1975901210


def pipeline(prefix: str, flow_name: str) -> tuple[AEPCreateDataflowOperator, ...]:
    source = AEPCreateSourceConnectionOperator(
        task_id="source", name=f"{prefix}: Data Lake", datasets=["6a1f00000000000000000002"]
    )
    base = AEPCreateBaseConnectionOperator(
        task_id="base", destination="data_landing_zone", name=f"{prefix}: DLZ"
    )
    target = AEPCreateTargetConnectionOperator(
        task_id="target", destination="data_landing_zone", name=f"{prefix}: DLZ target",
        base_connection_id=base.output, location={"path": prefix},
    )  # fmt: skip
    flow = AEPCreateDataflowOperator(
        task_id="flow", destination="data_landing_zone", name=flow_name,
        source_connection_id=source.output, target_connection_id=target.output, end_time=END,
    )  # fmt: skip
    return (flow,)


@task
def another_flow(flow_id: str, **context) -> str | None:
    """Another team's dataflow on this run's connections, when the run is asked to make one."""
    if not context["params"].get("another_flow"):
        return None
    from airflow_provider_aep.hooks.aep import AEPHook

    hook = AEPHook()
    flow = hook.get_flow(flow_id)
    body = {
        key: flow[key] for key in ("flowSpec", "sourceConnectionIds", "targetConnectionIds", "scheduleParams")
    }
    created = hook.create_entity(
        "flows", {**body, "name": f"another team's copy of {flow_id}", "transformations": []}
    )
    return str(created["id"])


with DAG(dag_id="aep_shared_long_lived", schedule=None, start_date=START):
    pipeline("shared", "shared: long-lived export")

with DAG(dag_id="aep_shared_with_teardown", schedule=None, start_date=START):
    (flow,) = pipeline("shared", "shared: short-lived export")
    cleanup = AEPDeleteDataflowOperator(task_id="cleanup", flow_id=flow.output, delete_connections=True)
    flow >> cleanup.as_teardown(setups=flow)

with DAG(dag_id="aep_shared_overlap", schedule=None, start_date=START, params={"another_flow": False}):
    (flow,) = pipeline("overlap", "overlap: export")
    cleanup = AEPDeleteDataflowOperator(task_id="cleanup", flow_id=flow.output, delete_connections=True)
    another_flow(flow.output) >> cleanup.as_teardown(setups=flow)
