"""A dataflow named by id or by name: exactly one of ``flow_id`` and ``flow_name``.

Users know their exports by name (as dbt Cloud and Databricks users know their jobs); the
sensor and the run and update operators take either. A name is resolved once per task through
:meth:`~airflow_provider_aep.hooks.aep.AEPHook.find_flow_by_name` to exactly one dataflow, and
from then on the task (and its trigger) works with the id.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_aep.hooks.aep import AEPHook

#: The ``task_state_store`` key of the id a ``flow_name`` resolved to: later pokes and tries of
#: the task use it without looking again, and a task that renamed the flow finds it on a retry.
#: It is dropped once the task has ended well, so a cleared task looks the name up again.
RESOLVED_KEY = "aep_flow_by_name"


def check_flow_ref(flow_id: Any, flow_name: Any) -> None:
    """Exactly one of the two, and that one an id or a name (None means "not given").

    :param flow_id: the dataflow's id, or None.
    :param flow_name: the dataflow's name, or None.
    """
    from airflow_provider_aep.exceptions import AEPValidationError
    from airflow_provider_aep.utils.ids import check_id, check_name

    if flow_id is not None and flow_name is not None:
        raise AEPValidationError(
            "flow_name", flow_name, "None when flow_id is given: name the dataflow by id or by name, not both"
        )
    if flow_id is None and flow_name is None:
        raise AEPValidationError(
            "flow_id", None, "a dataflow id (create_flow.output), or flow_name= the dataflow's name"
        )
    if flow_name is not None:
        check_name("flow_name", flow_name)
    else:
        check_id("flow_id", flow_id)


class FlowByNameMixin:
    """``flow_id`` or ``flow_name`` on an AEP task; :meth:`resolve_flow_id` makes it an id."""

    flow_id: Any
    flow_name: Any
    hook: AEPHook
    log: Any
    #: The id a name resolved to in this task (None until then, or when given by id).
    resolved_from_name: str | None = None

    def check_flow_ref(self) -> None:
        """Refuse both or neither, before any request (``flow_id`` set from the name counts as not given)."""
        given_id = None if self.resolved_from_name is not None else self.flow_id
        check_flow_ref(given_id, self.flow_name)

    def resolve_flow_id(self, context: Context | None = None) -> str:
        """The dataflow's id: ``flow_id``, or the one dataflow named ``flow_name`` (kept in ``flow_id``).

        :param context: the task's Airflow context: its ``task_state_store`` keeps the id the
            name resolved to for the task's later pokes and tries (Airflow 3.3+).
        :return: the id.
        """
        from airflow_provider_aep.utils.ids import check_id

        if self.resolved_from_name is not None:
            return self.resolved_from_name
        self.check_flow_ref()
        if self.flow_name is None:
            return check_id("flow_id", self.flow_id)
        from airflow_provider_aep.utils.task_state import recall, remember

        kept = recall(context, RESOLVED_KEY) if context is not None else None
        if isinstance(kept, dict) and kept.get("flow_name") == self.flow_name and kept.get("flow_id"):
            flow_id = check_id("flow_id", str(kept["flow_id"]))
        else:
            flow_id = check_id("flow_id", str(self.hook.find_flow_by_name(self.flow_name)["id"]))
            self.log.info("Dataflow %r is %s", self.flow_name, flow_id)
            if context is not None:
                remember(context, RESOLVED_KEY, {"flow_name": self.flow_name, "flow_id": flow_id})
        self.flow_id = self.resolved_from_name = flow_id
        return flow_id

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A task's ``execute`` (and its return from a deferral) forgets the kept id once it has
        ended well, so a cleared task looks the name up again; the task's own code need not."""
        super().__init_subclass__(**kwargs)
        for method in ("execute", "resume_execution"):
            if method in cls.__dict__:
                setattr(cls, method, _forgets_resolved_name(cls.__dict__[method]))

    def execute(self, context: Context) -> Any:
        """The task's work (Airflow's, for a sensor); then the kept id goes."""
        done = super().execute(context)  # type: ignore[misc]
        self._forget_resolved(context)
        return done

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        """Back from a deferral: as :meth:`execute`, the kept id goes once the task has ended well."""
        done = super().resume_execution(next_method, next_kwargs, context)  # type: ignore[misc]
        self._forget_resolved(context)
        return done

    def _forget_resolved(self, context: Context) -> None:
        if self.flow_name is not None:
            from airflow_provider_aep.utils.task_state import forget

            forget(context, RESOLVED_KEY)

    def use_resolved_flow_id(self, flow_id: str | None) -> None:
        """Take the id an earlier part of this task resolved (carried through a deferral).

        :param flow_id: the id, or None (nothing was carried: resolve again when needed).
        """
        from airflow_provider_aep.utils.ids import check_id

        if flow_id:
            self.flow_id = check_id("flow_id", flow_id)
            if self.flow_name is not None:
                self.resolved_from_name = self.flow_id


def _forgets_resolved_name(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: FlowByNameMixin, *args: Any, **kwargs: Any) -> Any:
        done = method(self, *args, **kwargs)
        context = kwargs.get("context", args[-1] if args else None)
        if context is not None:
            self._forget_resolved(context)
        return done

    return wrapper
