"""What every AEP operator shares: the connection, a lazily built hook, and parse-time checks."""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.version_compat import RESOLVED_AT_RUN_TIME as _RESOLVED_AT_RUN_TIME
from airflow_provider_aep.version_compat import BaseOperator, task_state_store

if TYPE_CHECKING:
    from airflow_provider_aep.hooks.aep import AEPHook, EntityKind
    from airflow_provider_aep.version_compat import Context

ETAG_XCOM_KEY = "etag"
#: XCom key of a create task: the ids this task created in this DAG run (empty when it reused
#: what it found). A teardown (``AEPDeleteDataflowOperator``) deletes only what its own run created.
CREATED_XCOM_KEY = "created"


def is_literal(value: Any) -> bool:
    """True when a value is known at parse time: no Jinja, no XComArg, recursively."""
    if isinstance(value, str):
        return "{{" not in value and "{%" not in value
    if isinstance(value, dict):
        return all(is_literal(k) and is_literal(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return all(is_literal(v) for v in value)
    return not isinstance(value, _RESOLVED_AT_RUN_TIME)


def check_when_literal(values: dict[str, Any], check: Callable[[], Any]) -> None:
    """Run ``check`` at DAG-parse time when every value it reads (``{name: value}``) is known."""
    if all(is_literal(v) for v in values.values()):
        check()


def check_sandbox_override(value: Any) -> None:
    """An operator's ``sandbox_name``: not given (None or empty), or an AEP sandbox name."""
    if value not in (None, ""):
        from airflow_provider_aep.utils.ids import check_sandbox_name

        check_sandbox_name("sandbox_name", value)


def int_if_digits(value: Any) -> Any:
    """Rendered templates are strings: ``"1975901210"`` becomes 1975901210, other values pass."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value


class AEPHookMixin:
    """What the operators and the sensor share: ``aep_conn_id``, the sandbox override, the hook."""

    aep_conn_id: str
    sandbox_name: str | None

    def init_connection(self, aep_conn_id: str, sandbox_name: str | None) -> None:
        """Keep the connection settings; a literal sandbox name is checked now, at DAG parse.

        :param aep_conn_id: the ``aep`` Airflow connection.
        :param sandbox_name: the sandbox to use instead of the connection's, or None.
        """
        self.aep_conn_id = aep_conn_id
        self.sandbox_name = sandbox_name
        check_when_literal({"sandbox_name": sandbox_name}, lambda: check_sandbox_override(sandbox_name))

    @property
    def log(self) -> Any:
        """Airflow's task logger, every line scrubbed of known secrets and credential shapes."""
        from airflow_provider_aep.utils.scrubbed_logs import scrubbed

        return scrubbed(super().log)  # type: ignore[misc]

    @cached_property
    def hook(self) -> AEPHook:
        # Imported here: DAG parsing must not pay for requests and tenacity.
        from airflow_provider_aep.hooks.aep import AEPHook

        return AEPHook(self.aep_conn_id, sandbox_name=self.sandbox_name or None)


class AEPBaseOperator(AEPHookMixin, BaseOperator):
    """Base of the AEP operators: ``aep_conn_id``, an optional sandbox override, and the hook.

    Subclasses implement ``execute_step``; ``execute`` adds to any
    :class:`~airflow_provider_aep.exceptions.AEPError` what the DAG run's earlier creation tasks
    left in AEP, so a failure mid-pipeline says what exists. Other keyword arguments
    (``task_id``, ``retries``, ...) go to Airflow's ``BaseOperator``.

    :param aep_conn_id: the ``aep`` Airflow connection (default ``aep_default``).
    :param sandbox_name: the sandbox this task works in instead of the connection's; one
        connection then serves several sandboxes. Checked at DAG parse when literal.
    """

    def __init__(
        self, *, aep_conn_id: str = "aep_default", sandbox_name: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.init_connection(aep_conn_id, sandbox_name)

    def execute(self, context: Context) -> Any:
        from airflow_provider_aep.exceptions import AEPError

        try:
            return self.execute_step(context)
        except AEPError as error:
            try:
                error.already_in_aep = tuple(self.created_upstream(context))
            except Exception:  # the list is a courtesy: it must never replace the real error
                self.log.warning("Could not list what earlier tasks created", exc_info=True)
            raise

    def execute_step(self, context: Context) -> Any:
        raise NotImplementedError

    def created_upstream(self, context: Context) -> list[str]:
        """What upstream creation tasks of this DAG run created, for an error to name.

        :param context: the task's Airflow context.
        :return: ``base connection <id> (task <task_id>)`` for each upstream creation task that
            returned an id.
        """
        if not self.has_dag():
            return []
        upstream = {task.task_id for task in self.get_flat_relatives(upstream=True)}
        found = []
        for task in self.dag.tasks:
            if task.task_id in upstream and isinstance(task, AEPCreateOperator):
                entity_id = context["ti"].xcom_pull(task_ids=task.task_id)
                if entity_id:
                    found.append(f"{task.entity_name} {entity_id} (task {task.task_id})")
        return found

    def push_etag(self, context: Context, etag: str | None) -> None:
        """Push the entity's etag under the ``etag`` XCom key, for a later If-Match.

        :param context: the task's Airflow context.
        :param etag: the etag AEP answered; nothing is pushed when it sent none.
        """
        if etag:
            context["ti"].xcom_push(key=ETAG_XCOM_KEY, value=etag)


class AEPCreateOperator(AEPBaseOperator):
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

    #: What the task's id XCom names, e.g. "base connection".
    entity_name: str = "entity"

    def __init__(self, *, if_exists: str = "reuse", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from airflow_provider_aep.utils.idempotency import check_if_exists

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
        from airflow_provider_aep.utils.idempotency import create_once

        done = create_once(
            self.hook,
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
