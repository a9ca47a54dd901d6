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

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.catalog import DATA_LAKE_SPEC_ID
from airflow_provider_aep.exceptions import AEPApiError

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_aep.hooks.aep import AEPHook
    from airflow_provider_aep.utils.ids import EntityKind

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


def tear_down(operator: Any, context: Context, flow_id: str) -> dict[str, Any]:
    """Delete the flow and, with ``delete_connections``, its connections, keeping what must stay.

    :param operator: the ``AEPDeleteDataflowOperator`` (its hook, log, DAG and flags).
    :param context: the task's Airflow context.
    :param flow_id: the dataflow.
    :return: ``{"deleted", "already_gone", "kept", "why_kept"}``.
    """
    hook: AEPHook = operator.hook
    result: dict[str, Any] = {"deleted": [], "already_gone": [], "kept": [], "why_kept": {}}
    flow = hook.get_entity("flows", flow_id)
    if flow is None:
        operator.log.info("Dataflow %s is already gone", flow_id)
        result["already_gone"].append(label("flows", flow_id))
        return result
    plan = [("flows", flow_id), *(connections_of(hook, flow) if operator.delete_connections else [])]
    keep_all = _reason_to_keep_everything(operator, context)
    created = created_by_this_run(operator, context) if operator.only_created_by_this_run else None
    for kind, entity_id in plan:
        name = label(kind, entity_id)
        reason = keep_all or _reason_to_keep(hook, kind, entity_id, created, result)
        if reason is None:
            reason = _delete(hook, kind, entity_id, name, result)
        if reason is not None:
            operator.log.warning("Kept %s: %s", name, reason)
            result["kept"].append(name)
            result["why_kept"][name] = reason
            if kind == "flows":  # its connections are in use by the flow that stays
                keep_all = f"its dataflow {flow_id} is kept"
    operator.log.info(
        "Deleted %s; already gone %s; kept %s", result["deleted"], result["already_gone"], result["kept"]
    )
    return result


def connections_of(hook: AEPHook, flow: Mapping[str, Any]) -> list[tuple[EntityKind, str]]:
    """The flow's target and source connections, then their base connections.

    A Data Lake source connection names its sandbox's implicit Data Lake base connection
    (AEP's answer carries one though the tutorial sends none): no DAG created that, every
    Data Lake source of the sandbox shares it, and it is never deleted.
    """
    plan: list[tuple[EntityKind, str]] = []
    bases: list[str] = []
    linked: tuple[tuple[EntityKind, str], ...] = (
        ("targetConnections", "targetConnectionIds"),
        ("sourceConnections", "sourceConnectionIds"),
    )
    for kind, key in linked:
        for entity_id in flow.get(key) or []:
            entity = hook.get_entity(kind, entity_id) or {}
            plan.append((kind, entity_id))
            base = entity.get("baseConnectionId")
            implicit = (entity.get("connectionSpec") or {}).get("id") == DATA_LAKE_SPEC_ID
            if base and not implicit and base not in bases:
                bases.append(base)
    return plan + [("connections", base) for base in bases]


def _reason_to_keep_everything(operator: Any, context: Context) -> str | None:
    """Another run of this DAG reuses the same names: it may be using what this one made."""
    others = other_active_runs(operator, context)
    if others is None:
        return "this Airflow cannot tell whether other runs of the DAG are still using it"
    if others:
        return f"{others} other run(s) of DAG {operator.dag_id} are queued or running and may reuse it"
    return None


def _reason_to_keep(
    hook: AEPHook, kind: EntityKind, entity_id: str, created: set[str] | None, result: Mapping[str, Any]
) -> str | None:
    if created is not None and entity_id not in created:
        return (
            "this DAG run did not create it (it reused it, or got it by id); "
            "only_created_by_this_run=False deletes it"
        )
    if kind == "flows":
        return None
    gone = set(result["deleted"]) | set(result["already_gone"])
    users = [label(*user) for user in hook.users_of(kind, entity_id)]
    still = [user for user in users if user not in gone]  # AEP's listings may lag a delete
    return f"still used by {', '.join(still)}" if still else None


def _delete(hook: AEPHook, kind: EntityKind, entity_id: str, name: str, result: dict[str, Any]) -> str | None:
    """Delete one entity; the reason AEP gave when it refuses (a base connection in use)."""
    try:
        deleted = hook.delete_entity(kind, entity_id, missing_ok=True)
    except AEPApiError as err:
        if kind == "connections" and err.status == 400:
            return str(err.detail or err)
        raise
    result["deleted" if deleted else "already_gone"].append(name)
    return None
