"""What a task keeps between its pokes and tries: Airflow 3.3's ``task_state_store``, when there.

On older Airflow the context has no store: reading gives None and writing does nothing, and
each caller says what it does without one (:func:`task_state_store` logs it once).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.utils.airflow_lacks import say_once
from airflow_provider_aep.version_compat import AIRFLOW_V_3_3_PLUS

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


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


def recall(context: Context, key: str) -> Any:
    """The value kept under ``key`` for this task instance, or None."""
    store = task_state_store(context)
    return store.get(key) if store is not None else None


def remember(context: Context, key: str, value: Any) -> None:
    """Keep a JSON value under ``key`` for this task instance's later pokes and tries."""
    store = task_state_store(context)
    if store is not None:
        store.set(key, value)


def forget(context: Context, key: str) -> None:
    """Drop what is kept under ``key``, so a cleared task starts afresh."""
    store = task_state_store(context)
    if store is not None and store.get(key) is not None:
        store.delete(key)
