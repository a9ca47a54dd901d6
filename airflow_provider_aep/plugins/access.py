"""Who may see the AEP health pages: Airflow's own auth manager decides, on every request.

A plugin's FastAPI app is not protected by Airflow, so each route asks here. The user comes from
the same credentials the Airflow UI sends (``Authorization: Bearer`` or its ``_token`` cookie);
no user is 401, a user the auth manager refuses is 403. The health list needs read access to the
connection it reads AEP with (and edit access to read another sandbox than the connection's);
a task instance's view needs read access to the DAG's task instances and XComs; the DAG links
on the list are only those of DAGs whose task instances and XComs the user may read.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, status

#: The cookie the Airflow UI keeps its token in.
TOKEN_COOKIE = "_token"


async def current_user(request: Request) -> Any:
    """The user the request authenticates as, by Airflow's rules: the bearer token, else the
    UI's cookie. 401 without one; 401 for an expired token, 403 for one that does not verify."""
    import inspect

    from jwt import ExpiredSignatureError, InvalidTokenError

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    token = token or request.cookies.get(TOKEN_COOKIE, "")
    if not token:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Not authenticated")
    try:
        user = _auth_manager().get_user_from_token(token)
        return await user if inspect.isawaitable(user) else user
    except ExpiredSignatureError:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Token expired") from None
    except InvalidTokenError:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Invalid token") from None


def _auth_manager() -> Any:
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager()


def require_connection_read(user: Any, conn_id: str) -> None:
    """403 unless the user may read the connection ``conn_id``."""
    from airflow.api_fastapi.auth.managers.models.resource_details import ConnectionDetails

    allowed = _auth_manager().is_authorized_connection(
        method="GET", details=ConnectionDetails(conn_id=conn_id), user=user
    )
    if not allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"reading connection {conn_id!r} is not allowed")


def require_connection_edit(user: Any, conn_id: str, why: str) -> None:
    """403 unless the user may change the connection ``conn_id`` (``why`` says what needs it)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import ConnectionDetails

    allowed = _auth_manager().is_authorized_connection(
        method="PUT", details=ConnectionDetails(conn_id=conn_id), user=user
    )
    if not allowed:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"{why} needs edit access to connection {conn_id!r}, not only read"
        )


def may_read_task_results(user: Any, dag_id: str) -> bool:
    """Whether the user may read the task instances and the XComs of DAG ``dag_id``."""
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    manager = _auth_manager()
    return all(
        manager.is_authorized_dag(
            method="GET", access_entity=entity, details=DagDetails(id=dag_id), user=user
        )
        for entity in (DagAccessEntity.TASK_INSTANCE, DagAccessEntity.XCOM)
    )


def require_task_instance_read(user: Any, dag_id: str) -> None:
    """403 unless the user may read the task instances and XComs of DAG ``dag_id``."""
    if not may_read_task_results(user, dag_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"reading the tasks of DAG {dag_id!r} is not allowed")


def readable_task_results(user: Any, dag_ids: set[str]) -> set[str]:
    """Of ``dag_ids``, those whose task instances and XComs the user may read."""
    readable = set(_auth_manager().get_authorized_dag_ids(user=user, method="GET")) & dag_ids
    return {dag_id for dag_id in readable if may_read_task_results(user, dag_id)}


def readable_aep_connections(user: Any) -> list[str]:
    """The ``aep`` connections in the metadata DB the user may read, for the page's picker."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        ids = session.execute(select(Connection.conn_id).where(Connection.conn_type == "aep")).scalars()
        found = sorted(str(conn_id) for conn_id in ids)
    allowed = _auth_manager().get_authorized_connections(user=user, method="GET")
    return [conn_id for conn_id in found if conn_id in allowed]
