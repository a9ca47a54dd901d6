"""The base classes of the AEP operators: the connection and the hook, and for the creation steps,
creating each entity once.

Each operator implements ``execute`` as the tutorial step it automates, decorated with
:func:`~airflow_provider_aep.tasks.mixins.says_what_exists` so a failure names what earlier
steps left in AEP. The shared plumbing lives in :mod:`airflow_provider_aep.tasks.mixins`.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_aep.tasks.mixins import (
    CREATED_XCOM_KEY,
    ETAG_XCOM_KEY,
    AEPHookMixin,
    CreatesEntitiesMixin,
)

#: The XCom key of the moment an update was in AEP (epoch milliseconds).
UPDATED_AT_XCOM_KEY = "updated_at"


if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_aep.utils.ids import EntityKind


class AEPBaseOperator(AEPHookMixin, BaseOperator):
    """Base of the AEP operators: ``aep_conn_id``, an optional sandbox override, and the hook.

    Other keyword arguments (``task_id``, ``retries``, ...) go to Airflow's ``BaseOperator``.

    :param aep_conn_id: the ``aep`` Airflow connection (default ``aep_default``).
    :param sandbox_name: the sandbox this task works in instead of the connection's; one
        connection then serves several sandboxes. Checked at DAG parse when literal.
    """

    def __init__(
        self, *, aep_conn_id: str = "aep_default", sandbox_name: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.init_connection(aep_conn_id, sandbox_name)

    def push_etag(self, context: Context, etag: str | None) -> None:
        """Push the entity's etag under the ``etag`` XCom key, for a later If-Match.

        :param context: the task's Airflow context.
        :param etag: the etag AEP answered; nothing is pushed when it sent none.
        """
        if etag:
            context["ti"].xcom_push(key=ETAG_XCOM_KEY, value=etag)


class AEPCreateOperator(CreatesEntitiesMixin, AEPBaseOperator):
    """Base of the creation operators: each entity is created once (see ``if_exists``).

    Takes the parameters of :class:`AEPBaseOperator` too.

    :param if_exists: what to do when an entity with the same name (and spec) exists:
        ``"reuse"`` (default) returns its id when every field this task sets matches, and fails
        naming each field that differs and both values (never a secret's) when one does not;
        ``"update"`` reuses it too, but patches the fields that differ in place (JSON Patch with
        If-Match, recomputed when someone changed it meanwhile) and logs what it changed; it
        refuses what AEP cannot change in place (a flow's connections or flow spec, a source
        connection's datasets, a connection spec), saying what to do instead. ``"fail"`` fails;
        ``"create"`` creates another one. Secrets AEP hides cannot be compared: rotate them with
        ``AEPUpdateBaseConnectionOperator``. A retried task also reuses what its earlier try
        created or found (``task_state_store``), compared again the same way.
    """

    def __init__(self, *, if_exists: str = "reuse", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from airflow_provider_aep.hooks.create_once import check_if_exists

        check_if_exists(if_exists)
        self.if_exists = if_exists

    def create(
        self, context: Context, kind: EntityKind, body: dict[str, Any], *, defaulted: Collection[str] = ()
    ) -> dict[str, Any]:
        """Create the entity once, as ``if_exists`` says: reuse, update, fail or create.

        :param context: the task's Airflow context (its ``task_state_store`` keeps the id for a retry).
        :param kind: the Flow Service collection, e.g. ``flows``.
        :param body: the request body.
        :param defaulted: dotted fields of ``body`` that a default filled and that move between
            runs (a flow's ``scheduleParams.startTime`` of "now"): not compared with an entity found.
        :return: ``{"id", "etag", "reused", "created"}`` of the entity created or reused; the
            ``created`` XCom lists what this task created, for a teardown downstream.
        """
        from airflow_provider_aep.utils.task_state import task_state_store

        done = self.hook.create_once(
            kind,
            body,
            if_exists=self.if_exists,
            state_store=task_state_store(context),
            log=self.log,
            defaulted=defaulted,
        )
        created_here: list[str] = self.__dict__.setdefault("_created_here", [])
        if done.get("created") and str(done["id"]) not in created_here:
            created_here.append(str(done["id"]))
        context["ti"].xcom_push(key=CREATED_XCOM_KEY, value=list(created_here))
        return done

    def log_created(self, done: dict[str, Any], message: str, *args: Any) -> None:
        """Log ``message`` ("Created ...") for an entity :meth:`create` made, not for one it reused.

        A reused entity was already logged once, as reused, by :meth:`create`.

        :param done: what :meth:`create` returned.
        :param message: the log line's format, and ``args`` its values.
        """
        if not done.get("reused"):
            self.log.info(message, *args)


class AEPConnectionUpdateOperator(AEPBaseOperator):
    """Base of the in-place updates: what they push when the change is in AEP.

    Takes the parameters of :class:`.AEPBaseOperator`.
    """

    def push_updated(self, context: Context, etag: str | None) -> None:
        """Push the new etag (``etag``) and, as ``updated_at``, when the change was in AEP.

        ``updated_at`` (epoch milliseconds) is the ``since`` of a sensor waiting for the first
        run that uses the change.

        :param context: the task's Airflow context.
        :param etag: the entity's etag after the update.
        """
        self.push_etag(context, etag)
        context["ti"].xcom_push(key=UPDATED_AT_XCOM_KEY, value=int(time.time() * 1000))
