"""AEPScheduledQueryRunSensor: wait for the run of a scheduled query that belongs to this DAG run.

AEP runs a scheduled query on its own cron; a DAG that ships the query's output waits for the run
of its data interval, and fails at once, never at its timeout, when no such run can come.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_aep.tasks.mixins import AEPHookMixin

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context


class AEPScheduledQueryRunSensor(AEPHookMixin, BaseSensorOperator):
    """Wait for a scheduled query's run to end, and return its summary (state, query, rows).

    Which run: ``run_id`` when given (``AEPRunScheduledQueryOperator``'s output); else the first
    run created at or after ``since`` and before ``until`` (default: the DAG run's data
    interval). A run that ends FAILED or KILLED fails the task with AEP's words
    (:class:`~airflow_provider_aep.exceptions.AEPQueryFailed`). The task fails at once
    (:class:`~airflow_provider_aep.exceptions.AEPScheduledQueryRunMissing`) when no run can
    come: the schedule is disabled, it ended before ``until``, or ``until`` plus ``until_grace``
    has passed with no run in the window. Other keyword arguments go to Airflow's
    ``BaseSensorOperator`` (``poke_interval``, ``timeout``, ``mode``).

    Returns (XCom) ``{"schedule_id", "run_id", "state", "created", "external", "query_id",
    "rows", "duration_ms", "errors"}``; ``rows`` is the run's query's ``rowCount``.

    :param schedule_id: the scheduled query (``AEPScheduledQueryOperator``'s output).
    :param run_id: wait for this run.
    :param since: ISO 8601 text or a datetime; runs created before it are not this wait's.
    :param until: ISO 8601 text or a datetime; runs created at or after it are not this wait's.
    :param until_grace: seconds after ``until`` to keep looking for a run created in the window.
    :param aep_conn_id: the ``aep`` Airflow connection (default ``aep_default``).
    :param sandbox_name: the sandbox to look in instead of the connection's.
    """

    template_fields: Sequence[str] = (
        "schedule_id",
        "run_id",
        "since",
        "until",
        "sandbox_name",
        "aep_conn_id",
    )
    ui_color = "#c9e4f2"

    def __init__(
        self,
        *,
        schedule_id: str,
        run_id: str | None = None,
        since: Any = "{{ data_interval_start }}",
        until: Any = "{{ data_interval_end }}",
        until_grace: float = 3600.0,
        aep_conn_id: str = "aep_default",
        sandbox_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.init_connection(aep_conn_id, sandbox_name)
        self.schedule_id = schedule_id
        self.run_id = run_id
        self.since = since
        self.until = until
        self.until_grace = until_grace
        #: The run this wait found, kept between pokes of one worker.
        self.found_run_id: str | None = None
        self._last_state: str | None = None
        #: Looks that found no run yet: the schedule is read on the first and every few after.
        self.empty_looks = 0

    def poke(self, context: Context) -> PokeReturnValue:
        from airflow_provider_aep.tasks.scheduled_query_wait import poke_schedule_run

        return poke_schedule_run(self, context)
