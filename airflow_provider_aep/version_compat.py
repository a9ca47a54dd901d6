"""The Airflow names that differ between the Airflow 3 releases this provider supports.

Official providers keep one such module: every other provider module imports Airflow's base
classes, exceptions and helpers from here, so what moved between releases is decided in one
place. Supported: Airflow 3.0, 3.1, 3.2 and 3.3 (docs/airflow-versions.md says
what is tested on which release).

What moved, and where each name comes from:

============================  ======================================  ===============================
name                          Airflow 3.2+                            Airflow 3.0 / 3.1
============================  ======================================  ===============================
BaseHook                      ``airflow.sdk`` (3.1+)                  ``airflow.hooks.base`` (3.0)
AirflowFailException,         ``airflow.sdk.exceptions``              ``airflow.exceptions``
AirflowSensorTimeout,
AirflowSkipException
conf                          ``airflow.sdk.configuration``           ``airflow.configuration``
connection in a trigger       ``BaseHook.aget_connection`` (3.1+)     ``sync_to_async`` (3.0)
mask_secret in a trigger      tells the supervisor when it can        this process only (3.0)
connection form               ``conn-fields`` in the provider info    the hook's ``get_*`` methods
task_state_store              in the task context (3.3+)              none: one log line, then
                                                                      each caller's fallback
============================  ======================================  ===============================

Importing this module costs what ``airflow.sdk`` costs anyway (DAG files import it): the
configuration and the exceptions are resolved on first use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from airflow import __version__ as AIRFLOW_VERSION
from airflow.sdk import (
    BaseOperator,
    BaseOperatorLink,
    BaseSensorOperator,
    PokeReturnValue,
    XComArg,
)
from packaging.version import Version

log = logging.getLogger(__name__)
T = TypeVar("T")


def get_base_airflow_version_tuple(version: str = AIRFLOW_VERSION) -> tuple[int, int, int]:
    """``"3.1.8"`` → ``(3, 1, 8)``; pre-releases and local versions count as their release."""
    release = Version(version).release
    major, minor, micro = (*release, 0, 0)[:3]
    return major, minor, micro


AIRFLOW_VERSION_TUPLE = get_base_airflow_version_tuple()
AIRFLOW_V_3_1_PLUS = AIRFLOW_VERSION_TUPLE >= (3, 1, 0)
AIRFLOW_V_3_2_PLUS = AIRFLOW_VERSION_TUPLE >= (3, 2, 0)
AIRFLOW_V_3_3_PLUS = AIRFLOW_VERSION_TUPLE >= (3, 3, 0)

if TYPE_CHECKING:
    from airflow.sdk import BaseHook, Connection, Context
    from airflow.sdk.configuration import conf
    from airflow.sdk.definitions._internal.mixins import ResolveMixin
    from airflow.sdk.exceptions import (
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
        TaskDeferred,
    )
    from airflow.sdk.types import TaskInstanceKey
    from airflow.triggers.base import BaseTrigger, TriggerEvent
else:
    if AIRFLOW_V_3_1_PLUS:
        from airflow.sdk import BaseHook
    else:
        from airflow.hooks.base import BaseHook
    try:  # what XComArgs and mapped task groups share: values known only at run time
        from airflow.sdk.definitions._internal.mixins import ResolveMixin
    except ImportError:  # pragma: no cover - the mixin moved
        ResolveMixin = XComArg

#: Values an operator argument can hold that are resolved only when the task runs.
RESOLVED_AT_RUN_TIME: tuple[type, ...] = (XComArg, ResolveMixin)

#: Resolved on first use (module ``__getattr__``): each costs an import DAG parsing can skip.
_LAZY = {
    "AirflowFailException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowSensorTimeout": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "AirflowSkipException": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "TaskDeferred": ("airflow.sdk.exceptions", "airflow.exceptions"),
    "conf": ("airflow.sdk.configuration", "airflow.configuration"),
    # The same module on every 3.x line; only the triggerer and the sensor's defer need it.
    "BaseTrigger": ("airflow.triggers.base", "airflow.triggers.base"),
    "TriggerEvent": ("airflow.triggers.base", "airflow.triggers.base"),
    # Type annotations: resolvable at run time too, on every line.
    "Connection": ("airflow.sdk", "airflow.sdk"),
    "Context": ("airflow.sdk", "airflow.sdk"),
    "TaskInstanceKey": ("airflow.sdk.types", "airflow.models.taskinstancekey"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    newer, older = _LAZY[name]
    value = getattr(importlib.import_module(newer if AIRFLOW_V_3_2_PLUS else older), name)
    globals()[name] = value
    return value


def mask_secret(secret: Any, name: str | None = None) -> None:
    """Register a value with Airflow's secret masker, in this process and (when it can) its supervisor.

    Airflow 3.0 tells the supervisor first, through ``async_to_sync``, which raises on a
    triggerer's event-loop thread ("You cannot use AsyncToSync in the same thread as an async
    event loop"): there the value is masked in this process only, as Airflow 3.1+ does itself
    when the supervisor cannot be told.
    """
    from airflow.sdk.log import mask_secret as airflow_mask_secret

    if AIRFLOW_V_3_1_PLUS:
        airflow_mask_secret(secret, name)
        return
    try:
        airflow_mask_secret(secret, name)
    except RuntimeError:
        from airflow.sdk.execution_time.secrets_masker import _secrets_masker

        _secrets_masker().add_mask(secret, name)


async def get_async_connection(conn_id: str) -> Connection:
    """The connection, looked up from a trigger without blocking or leaving the triggerer's loop.

    Airflow 3.1+ offers ``BaseHook.aget_connection``. On 3.0 the only lookup is the blocking
    ``BaseHook.get_connection``, which talks to the triggerer's supervisor through
    ``async_to_sync``: from a plain thread (``asyncio.to_thread``) that opens a second event
    loop and fails with "attached to a different loop", taking the triggerer down. asgiref's
    ``sync_to_async`` runs it in a thread whose ``async_to_sync`` calls go back to this loop.
    """
    if AIRFLOW_V_3_1_PLUS:
        return await BaseHook.aget_connection(conn_id)
    from asgiref.sync import sync_to_async

    return await sync_to_async(BaseHook.get_connection)(conn_id)


async def read_connection_async(conn_id: str, read: Callable[[Connection], T]) -> T:
    """``read(connection)`` from a trigger: the lookup of :func:`get_async_connection`, then ``read``.

    On Airflow 3.0 ``read`` runs in asgiref's thread too: the connection's ``extra_dejson`` (and
    any secret masking) calls the supervisor through ``async_to_sync``, which fails on the loop.
    """
    if AIRFLOW_V_3_1_PLUS:
        return read(await get_async_connection(conn_id))
    from asgiref.sync import sync_to_async

    return await sync_to_async(lambda: read(BaseHook.get_connection(conn_id)))()


def connection_form_widgets(conn_fields: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Airflow 3.0/3.1's form for a connection's extra fields, from the provider info's ``conn-fields``.

    Those releases ask the hook (``get_connection_form_widgets``, WTForms fields, which their
    UI mocks when Flask-AppBuilder is not installed); Airflow 3.2+ reads ``conn-fields`` itself
    and never calls the hook. Numbers become integer fields, everything else text fields.
    """
    say_once(
        "conn-fields",
        "the connection form's extra fields come from the hook's get_connection_form_widgets "
        "(Airflow 3.2+ reads the provider info's conn-fields instead)",
    )
    from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import IntegerField, StringField

    widgets: dict[str, Any] = {}
    for name, field in conn_fields.items():
        schema = field.get("schema", {})
        types = schema.get("type", "string")
        types = {types} if isinstance(types, str) else set(types)
        kind = IntegerField if types & {"integer", "number"} else StringField
        widgets[name] = kind(
            lazy_gettext(field.get("label", name)),
            widget=BS3TextFieldWidget(),
            description=field.get("description", ""),
            default=schema.get("default"),
        )
    return widgets


def field_behaviour(behaviour: Mapping[str, Any]) -> dict[str, Any]:
    """The provider info's ``ui-field-behaviour`` as ``get_ui_field_behaviour`` returns it (3.0/3.1)."""
    return {key.replace("-", "_"): value for key, value in behaviour.items()}


_said: set[str] = set()


def say_once(feature: str, message: str) -> None:
    """Log, once per process, that this Airflow lacks ``feature`` and what happens instead."""
    if feature not in _said:
        _said.add(feature)
        log.info("Airflow %s: %s", AIRFLOW_VERSION, message)


def task_state_store(context: Mapping[str, Any]) -> Any:
    """The task's ``task_state_store`` (Airflow 3.3+), or None, said once, on older Airflow."""
    store = context.get("task_state_store")
    if store is None and not AIRFLOW_V_3_3_PLUS:
        say_once(
            "task_state_store",
            "no task_state_store (it needs Airflow 3.3+): a retried task finds what an earlier "
            "try created by its name in AEP (if_exists), a lost run request is not detected, "
            "and a sensor counts re-triggers only within one process (not in reschedule mode)",
        )
    return store


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "RESOLVED_AT_RUN_TIME",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "BaseSensorOperator",
    "BaseTrigger",
    "Connection",
    "Context",
    "PokeReturnValue",
    "ResolveMixin",
    "TaskDeferred",
    "TaskInstanceKey",
    "TriggerEvent",
    "XComArg",
    "conf",
    "connection_form_widgets",
    "field_behaviour",
    "get_async_connection",
    "mask_secret",
    "read_connection_async",
    "task_state_store",
]
