"""What this Airflow knows of AEP dataflows: which DAGs and tasks create or watch each one, and
what one task instance of the provider reported. Read from the metadata DB, in the api-server.

Only return values (``return_value`` XComs) and asset events are read: the provider's operators
write ids, counts and file locations there, never a secret (the run summaries' error texts are
scrubbed before they are pushed), and the page scrubs them once more.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_aep.redaction.secrets import scrub_data

#: Stands for "an asset event" where the rows name an operator.
ASSET_EVENT = "<asset event>"
#: The operators whose return value names a dataflow, and what it says of the task; a task
#: whose asset event names the flow (the sensor's, a subclass's) announces its files.
ROLES: Mapping[str, str] = {
    "AEPCreateDataflowOperator": "creates",
    "AEPDataflowRunSensor": "watches",
    "AEPStartDataflowRunOperator": "starts runs of",
    "AEPRetriggerDataflowRunOperator": "re-runs",
    ASSET_EVENT: "announces the files of",
}
#: The provider's task types the task-instance view explains.
PROVIDER_PREFIX = "AEP"
#: The newest return values read to find the tasks behind the flows.
WATCHER_ROWS = 5000
#: The rendered fields the task view reads: where the task read AEP, nothing else.
WHERE_IT_READ = ("aep_conn_id", "sandbox_name", "storage_account")


@dataclass(frozen=True)
class Watcher:
    """A task of this Airflow that creates or watches a flow, as last seen."""

    dag_id: str
    task_id: str
    run_id: str
    role: str
    when: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))


def decode_xcom(value: Any) -> Any:
    """An XCom value as stored (JSON text, at times JSON inside JSON) to Python."""
    for _ in range(2):
        if isinstance(value, (bytes, bytearray)):
            value = value.decode()
        if not isinstance(value, str) or value[:1] not in '{["':
            return value
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return value


def flow_of(operator: str, value: Any) -> str | None:
    """The flow a provider task's return value names: an id, or a summary's ``flow_id``."""
    if operator not in ROLES:
        return None
    if isinstance(value, Mapping):  # a run summary, or an asset event's extra
        found = value.get("flow_id")
        return str(found) if found else None
    if operator == "AEPCreateDataflowOperator" and isinstance(value, str) and value:
        return value
    return None


def watchers_by_flow(rows: list[tuple[Any, ...]], readable_dags: Collection[str]) -> dict[str, list[Watcher]]:
    """Each flow's tasks, newest first, one line per DAG and task; DAGs the reader may not see left out.

    :param rows: ``(dag_id, task_id, run_id, operator, value, timestamp)``, the first of a task
        decides its role.
    :param readable_dags: the DAG ids the auth manager lets this user read.
    """
    found: dict[str, list[Watcher]] = {}
    seen: set[tuple[str, str, str]] = set()
    for dag_id, task_id, run_id, operator, value, stamp in rows:
        if dag_id not in readable_dags:
            continue
        flow_id = flow_of(str(operator), decode_xcom(value))
        if flow_id is None or (flow_id, dag_id, task_id) in seen:
            continue
        seen.add((flow_id, dag_id, task_id))
        when = stamp.isoformat(timespec="seconds") if hasattr(stamp, "isoformat") else None
        found.setdefault(flow_id, []).append(Watcher(dag_id, task_id, run_id, ROLES[str(operator)], when))
    return found


def read_watcher_rows(limit: int = WATCHER_ROWS) -> list[tuple[Any, ...]]:
    """The newest return values of the provider's flow tasks, then the newest asset events of any
    task, each newest first, from the metadata DB (``operator`` is ``ASSET_EVENT`` for events):
    a task that both returned a flow and announced its files is named for what it returned."""
    from airflow.models.asset import AssetEvent
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import and_, select

    query = (
        select(
            XComModel.dag_id,
            XComModel.task_id,
            XComModel.run_id,
            TaskInstance.operator,
            XComModel.value,
            XComModel.timestamp,
        )
        .join(
            TaskInstance,
            and_(
                TaskInstance.dag_id == XComModel.dag_id,
                TaskInstance.task_id == XComModel.task_id,
                TaskInstance.run_id == XComModel.run_id,
                TaskInstance.map_index == XComModel.map_index,
            ),
        )
        .where(XComModel.key == "return_value", TaskInstance.operator.in_(list(ROLES)))
        .order_by(XComModel.timestamp.desc())
        .limit(limit)
    )
    events = (
        select(
            AssetEvent.source_dag_id,
            AssetEvent.source_task_id,
            AssetEvent.source_run_id,
            AssetEvent.extra,
            AssetEvent.timestamp,
        )
        .where(AssetEvent.source_task_id.is_not(None))
        .order_by(AssetEvent.timestamp.desc())
        .limit(limit)
    )
    with create_session() as session:
        rows = [tuple(row) for row in session.execute(query).all()]
        rows += [
            (dag_id, task_id, run_id, ASSET_EVENT, extra, stamp)
            for dag_id, task_id, run_id, extra, stamp in session.execute(events).all()
        ]
    return rows


@dataclass(frozen=True)
class TaskReport:
    """One task instance of the provider: its state and tries, what it returned, its asset events."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    operator: str | None
    state: str | None
    try_number: int | None
    returned: Any
    asset_events: tuple[Mapping[str, Any], ...]
    #: The task's rendered ``aep_conn_id``, ``sandbox_name`` and ``storage_account`` (those set).
    read_with: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_provider_task(self) -> bool:
        return bool(self.operator) and str(self.operator).startswith(PROVIDER_PREFIX)


def read_task_report(dag_id: str, run_id: str, task_id: str, map_index: int) -> TaskReport | None:
    """The task instance's facts, or None when this Airflow has no such task instance."""
    from airflow.models.asset import AssetEvent
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        ti = session.execute(
            select(TaskInstance.operator, TaskInstance.state, TaskInstance.try_number).where(
                *_of_task(TaskInstance, dag_id, run_id, task_id, map_index),
            )
        ).first()
        if ti is None:
            return None
        returned = session.execute(
            select(XComModel.value).where(
                *_of_task(XComModel, dag_id, run_id, task_id, map_index),
                XComModel.key == "return_value",
            )
        ).scalar()
        events = session.execute(
            select(AssetEvent.extra)
            .where(
                AssetEvent.source_dag_id == dag_id,
                AssetEvent.source_run_id == run_id,
                AssetEvent.source_task_id == task_id,
                AssetEvent.source_map_index == map_index,
            )
            .order_by(AssetEvent.timestamp)
        ).all()
        rendered = session.execute(
            select(RenderedTaskInstanceFields.rendered_fields).where(
                *_of_task(RenderedTaskInstanceFields, dag_id, run_id, task_id, map_index),
            )
        ).scalar()
    operator, state, try_number = ti
    return TaskReport(
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        map_index=map_index,
        operator=operator,
        state=str(state) if state is not None else None,
        try_number=try_number,
        returned=scrub_data(decode_xcom(returned)),
        asset_events=tuple(scrub_data(decode_xcom(extra)) or {} for (extra,) in events),
        read_with=where_it_read(rendered),
    )


def _of_task(model: Any, dag_id: str, run_id: str, task_id: str, map_index: int) -> tuple[Any, ...]:
    """The conditions that pick one task instance's rows of ``model`` (keyed as task instances are)."""
    return (
        model.dag_id == dag_id,
        model.run_id == run_id,
        model.task_id == task_id,
        model.map_index == map_index,
    )


def where_it_read(rendered: Any) -> dict[str, str]:
    """Of a task's rendered fields (as stored), only the connection, sandbox and storage account it used."""
    rendered = decode_xcom(rendered)
    if not isinstance(rendered, Mapping):
        return {}
    return {
        key: str(rendered[key])
        for key in WHERE_IT_READ
        if isinstance(rendered.get(key), str) and rendered[key]
    }
