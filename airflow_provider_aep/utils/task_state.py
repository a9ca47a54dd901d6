"""What a task keeps between its pokes and tries: Airflow 3.3's ``task_state_store``, when there.

On older Airflow the context has no store: reading gives None and writing does nothing, and
each caller says what it does without one (``version_compat.task_state_store`` logs it once).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_aep.version_compat import task_state_store

if TYPE_CHECKING:
    from airflow_provider_aep.version_compat import Context


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
