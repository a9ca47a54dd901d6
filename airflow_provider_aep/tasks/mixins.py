"""What the operators and the sensor share, as mixins: the connection, the hook, parse-time checks.

Operators and sensors are siblings: neither imports the other, both take their plumbing from
here (as Amazon's providers take theirs from ``AwsBaseHookMixin``). Importing this module costs
nothing DAG parsing does not pay anyway: the hook, requests and the catalog load on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from airflow.sdk import XComArg

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_aep.hooks.aep import AEPHook

#: XCom key of the entity's etag, for a later If-Match.
ETAG_XCOM_KEY = "etag"
#: XCom key of a create task: the ids this task created in this DAG run (empty when it reused
#: what it found). A teardown (``AEPDeleteDataflowOperator``) deletes only what its own run created.
CREATED_XCOM_KEY = "created"

Execute = TypeVar("Execute", bound=Callable[..., Any])


def resolved_at_run_time(value: Any) -> bool:
    """An ``XComArg`` (``task.output``) or anything resolved like one (a mapped task group's
    argument): Airflow's public resolve protocol, ``resolve`` and ``iter_references``."""
    return isinstance(value, XComArg) or (
        callable(getattr(value, "resolve", None)) and callable(getattr(value, "iter_references", None))
    )


def is_literal(value: Any) -> bool:
    """True when a value is known at parse time: no Jinja, no XComArg, recursively."""
    if isinstance(value, str):
        return "{{" not in value and "{%" not in value
    if isinstance(value, dict):
        return all(is_literal(k) and is_literal(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return all(is_literal(v) for v in value)
    return not resolved_at_run_time(value)


def check_when_literal(values: dict[str, Any], check: Callable[[], Any]) -> None:
    """Run ``check`` at DAG-parse time when every value it reads (``{name: value}``) is known."""
    if all(is_literal(v) for v in values.values()):
        check()


def check_destination_when_literal(destination: Any) -> None:
    """A literal ``destination`` is checked at DAG parse on its own, whatever else is templated."""

    def check() -> None:
        from airflow_provider_aep.catalog import resolve_destination

        resolve_destination(destination)

    check_when_literal({"destination": destination}, check)


def check_id_when_literal(field: str, value: Any) -> None:
    """A literal id (``base_connection_id="..."``) is checked at DAG parse; an XComArg at run time."""

    def check() -> None:
        from airflow_provider_aep.utils.ids import check_id

        check_id(field, value)

    check_when_literal({field: value}, check)


def check_sandbox_override(value: Any) -> None:
    """An operator's ``sandbox_name``: not given (None or empty), or an AEP sandbox name."""
    if value not in (None, ""):
        from airflow_provider_aep.utils.ids import check_sandbox_name

        check_sandbox_name("sandbox_name", value)


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


class CreatesEntitiesMixin:
    """Marks a task that creates AEP entities: its id is its ``return_value`` XCom, and what it
    created (not what it reused) is its ``created`` XCom, read by an error and by a teardown."""

    #: What the task's id XCom names, e.g. "base connection".
    entity_name: str = "entity"


def upstream_creators(task: Any) -> list[Any]:
    """The tasks of ``task``'s DAG upstream of it that create entities (:class:`CreatesEntitiesMixin`)."""
    if not task.has_dag():
        return []
    upstream = {relative.task_id for relative in task.get_flat_relatives(upstream=True)}
    return [t for t in task.dag.tasks if t.task_id in upstream and isinstance(t, CreatesEntitiesMixin)]


def created_upstream(task: Any, context: Context) -> list[str]:
    """What the upstream creation tasks of this DAG run left in AEP, for an error to name.

    :param task: the failing task.
    :param context: the task's Airflow context.
    :return: ``base connection <id> (task <task_id>)`` for each upstream creation task that
        returned an id.
    """
    found = []
    for creator in upstream_creators(task):
        entity_id = context["ti"].xcom_pull(task_ids=creator.task_id)
        if entity_id:
            found.append(f"{creator.entity_name} {entity_id} (task {creator.task_id})")
    return found


def says_what_exists(execute: Execute) -> Execute:
    """Decorate an operator's ``execute``: an :class:`~airflow_provider_aep.exceptions.AEPError`
    it raises carries what the DAG run's earlier creation tasks left in AEP (``already_in_aep``),
    so a failure mid-pipeline says what exists."""

    @functools.wraps(execute)
    def wrapper(self: Any, context: Context, *args: Any, **kwargs: Any) -> Any:
        from airflow_provider_aep.exceptions import AEPError

        try:
            return execute(self, context, *args, **kwargs)
        except AEPError as error:
            try:
                error.already_in_aep = tuple(created_upstream(self, context))
            except Exception:  # the list is a courtesy: it must never replace the real error
                self.log.warning("Could not list what earlier tasks created", exc_info=True)
            raise

    wrapper.says_what_exists = True  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


class MasksRenderedAuthParamsMixin:
    """Registers rendered ``auth_params`` values with the secret masker as they are rendered, so
    Airflow's rendered-fields view and every later log line hide them.

    ``render_template`` is Airflow's public rendering step, called on the task itself for a plain
    task and for each expansion of a mapped one, before the rendered fields are stored.
    """

    auth_params: Mapping[str, Any] | None

    def render_template(self, content: Any, context: Any, *args: Any, **kwargs: Any) -> Any:
        rendered = super().render_template(content, context, *args, **kwargs)  # type: ignore[misc]
        if (
            content is not None
            and content is getattr(self, "auth_params", None)
            and isinstance(rendered, Mapping)
        ):
            from airflow_provider_aep.redaction.secrets import mask

            for value in rendered.values():
                mask(value)
        return rendered
