"""The one logger all triggers of a class write to, scrubbed of credential shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.triggers.base import BaseTrigger

#: One scrubbed logger per trigger class, made on first use.
_SHARED: dict[type, Any] = {}


def shared_log(trigger_class: type[BaseTrigger]) -> Any:
    """The scrubbed logger of ``trigger_class`` (named as Airflow names a trigger's log).

    Airflow's ``LoggingMixin`` builds a logger for each instance: six objects that Python's
    garbage collector walks in every one of fifty thousand waits. The triggerer sends each line
    to its trigger's task log through context variables bound for that trigger, so one logger per
    class loses nothing.

    :param trigger_class: a ``BaseTrigger`` subclass.
    :return: its logger, every line scrubbed.
    """
    log = _SHARED.get(trigger_class)
    if log is None:
        from airflow_provider_aep.utils.scrubbed_logs import scrubbed

        if "_log" not in vars(trigger_class):
            # LoggingMixin caches a class's logger in ``_log``: without one of its own, a
            # subclass would be handed its parent's, named after the parent.
            trigger_class._log = None
        log = _SHARED[trigger_class] = scrubbed(trigger_class.logger())
    return log
