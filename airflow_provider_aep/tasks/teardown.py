"""What a teardown may delete: only what its own DAG run created and nothing else still uses.

The documented pattern creates a pipeline with ``if_exists="reuse"`` and deletes it in a teardown.
Names are fixed, so tomorrow's run (or another DAG) reuses today's entities, and two runs of one
DAG may overlap. A teardown that deleted whatever its flow pointed to would pull a dataflow
from under a sensor still waiting on it, or a connection from under another DAG's dataflow.
So an entity is deleted only when all of these hold, and kept (with the reason logged) otherwise:

1. this DAG run created it: an upstream create task lists its id in its ``created`` XCom
   (unless the operator is told ``only_created_by_this_run=False``);
2. no other run of this DAG is queued or running: it reuses the same names, so it may be using
   the very entities this run created;
3. for a connection: no other dataflow (and, for a base connection, no other source or target
   connection) references it, as AEP lists them.

Every doubt resolves towards keeping: an entity kept stays for the runs that reuse it, and a
later teardown that finds it unused deletes it (with ``only_created_by_this_run=False``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: The Airflow DAG-run states in which another run may still use what this one created.
ACTIVE_RUN_STATES = ("queued", "running")


def created_by_this_run(operator: Any, context: Context) -> set[str]:
    """The ids the upstream create tasks of this DAG run say they created (their ``created`` XCom).

    :param operator: the teardown task (its upstream tasks are read).
    :param context: the task's Airflow context.
    :return: entity ids; empty when no upstream task created anything.
    """
    from airflow_provider_aep.tasks.mixins import CREATED_XCOM_KEY, upstream_creators

    creators = [task.task_id for task in upstream_creators(operator)]
    ids: set[str] = set()
    for task_id in creators:
        ids.update(_flatten(context["ti"].xcom_pull(task_ids=task_id, key=CREATED_XCOM_KEY)))
    return ids


def _flatten(value: Any) -> Iterable[str]:
    """A ``created`` XCom: a list of ids, or (a mapped task) a list of such lists."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _flatten(item)


def other_active_runs(operator: Any, context: Context) -> int | None:
    """How many other runs of this DAG are queued or running; None when Airflow cannot say.

    :param operator: the teardown task.
    :param context: the task's Airflow context (its ``ti`` asks the API server).
    :return: the count of other active runs, 0 outside a DAG, None when it cannot be known.
    """
    if not operator.has_dag():
        return 0
    count_runs = getattr(type(context["ti"]), "get_dr_count", None)
    dag_run = context.get("dag_run")
    if count_runs is None or dag_run is None:
        return None
    try:
        active = int(count_runs(dag_id=operator.dag_id, states=list(ACTIVE_RUN_STATES)))
    except Exception:  # an older API server: not knowing is a reason to keep, not to fail
        operator.log.warning(
            "Could not count the other active runs of DAG %s", operator.dag_id, exc_info=True
        )
        return None
    return max(active - 1, 0)  # this run is running too


def label(kind: str, entity_id: str) -> str:
    """How the result names an entity: ``flow <id>``, ``targetConnection <id>``, ``connection <id>``."""
    return f"{kind.removesuffix('s')} {entity_id}"
