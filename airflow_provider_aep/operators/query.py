"""Query Service (Data Distiller) operators: run SQL in AEP, and keep a scheduled query.

The pipeline Adobe documents for shaped data out of AEP is a query, then a dataset export: a
``CREATE TABLE ... AS SELECT`` builds a derived dataset that a dataset export flow then ships.
:class:`AEPQueryOperator` is the first half; the export operators are the second. What a task
does once it runs lives in ``airflow_provider_aep.tasks.query_run`` and
``airflow_provider_aep.tasks.scheduled_query``: parsing a DAG file loads neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.operators.base import AEPBaseOperator
from airflow_provider_aep.tasks.mixins import check_when_literal, says_what_exists

if TYPE_CHECKING:
    import airflow.providers.openlineage.extractors
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_aep.triggers.query import AEPQueryTrigger

WAIT_MODES = ("poke", "reschedule")


def _seconds(value: float | timedelta | None) -> float | None:
    return value.total_seconds() if isinstance(value, timedelta) else value


class AEPQueryOperator(AEPBaseOperator):
    """Run SQL in the Query Service (``POST /data/foundation/query/queries``) and wait until it ends.

    Returns (XCom) ``{"query_id", "name", "state", "duration_ms", "rows", "is_ctas",
    "is_insert_into", "output_dataset", "errors"}``: ``rows`` is AEP's ``rowCount`` (rows
    written by a CTAS or INSERT INTO), ``output_dataset`` the ``{"id", "name"}`` of the dataset a
    CTAS or INSERT INTO wrote, found by name in the Catalog. A query that ends FAILED, KILLED or
    CANCELLED fails the task with AEP's words: the SQL error's code, text and position
    (:class:`~airflow_provider_aep.exceptions.AEPQueryFailed`).

    The query is named after the task instance (``airflow:<dag>.<task>:<run id>``), and its id
    kept in the task state store (Airflow 3.3+): a retried task whose query is still running
    waits for it instead of submitting it again, and a submit whose answer was lost is looked
    for by name before anything is sent again. When the task is killed (``on_kill``, or the
    deferred task in the triggerer) or its ``timeout`` passes, the query is cancelled. With
    ``outlets``, a query that wrote a dataset emits an asset event for it
    (``aep://<org>/<sandbox>/<dataset id>``): an :class:`~airflow.sdk.AssetAlias` outlet gets
    that asset, an :class:`~airflow.sdk.Asset` outlet its event's ``extra``.

    :param sql: the statement, or a ``.sql`` file (found next to the DAG or on the DAG's
        ``template_searchpath``); templated.
    :param name: the query's name in AEP's query log (default: named after the task instance).
    :param description: shown in AEP's query log.
    :param query_parameters: values for ``$name`` parameters in the SQL (Adobe's
        ``queryParameters``); templated.
    :param mode: how a worker waits: ``"poke"`` (holds its slot) or ``"reschedule"`` (frees it
        between looks; needs the task state store, Airflow 3.3+).
    :param deferrable: wait in the triggerer instead (default: ``[operators] default_deferrable``).
    :param poke_interval: seconds between looks at the query (default 30).
    :param timeout: seconds (or a timedelta) the query may take; then it is cancelled and the task
        fails (default: ``[sensors] default_timeout``).
    :param aep_conn_id: the ``aep`` Airflow connection (default ``aep_default``).
    :param sandbox_name: the sandbox the SQL runs in (its ``<sandbox>:all`` database) instead of
        the connection's.
    """

    template_fields: Sequence[str] = (
        "sql",
        "name",
        "description",
        "query_parameters",
        "sandbox_name",
        "aep_conn_id",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"sql": "sql", "query_parameters": "json"}
    ui_color = "#c9e4f2"

    def __init__(
        self,
        *,
        sql: str,
        name: str | None = None,
        description: str | None = None,
        query_parameters: Mapping[str, Any] | None = None,
        mode: str = "poke",
        deferrable: bool | None = None,
        poke_interval: float = 30.0,
        timeout: float | timedelta | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sql = sql
        self.name = name
        self.description = description
        self.query_parameters = query_parameters
        self.mode = mode
        #: None: ``[operators] default_deferrable``, read when the task runs (not at DAG parse).
        self.deferrable = deferrable
        self.poke_interval = poke_interval
        self.timeout = _seconds(timeout)
        #: The query this task submitted or found, for ``on_kill``.
        self.query_id: str | None = None
        #: The summary of the finished query, for the lineage of a completed task.
        self.query_summary: dict[str, Any] | None = None
        from airflow_provider_aep.utils.waiting import check_wait

        check_wait(mode, self.deferrable, poke_interval, self.timeout, WAIT_MODES)
        check_when_literal({"sql": sql}, self._check_sql)

    def _check_sql(self) -> None:
        from airflow_provider_aep.exceptions import AEPValidationError

        if not isinstance(self.sql, str) or not self.sql.strip():
            raise AEPValidationError("sql", self.sql, "an SQL statement (text), or the path of a .sql file")

    @says_what_exists
    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_aep.tasks.query_run import run_query

        self._check_sql()
        return run_query(self, context)

    def new_trigger(self, **kwargs: Any) -> AEPQueryTrigger:
        """The trigger this operator defers to, imported only when it defers (not at DAG parse).

        :param kwargs: the trigger's arguments, as the wait works them out.
        :return: the trigger.
        """
        from airflow_provider_aep.triggers.query import AEPQueryTrigger

        return AEPQueryTrigger(**kwargs)

    def execute_complete(
        self, context: Context, event: dict[str, Any], query_id: str | None = None
    ) -> dict[str, Any]:
        """Back from the triggerer: the query's summary, or its failure, timeout or the wait's error."""
        from airflow_provider_aep.tasks.query_run import query_event

        return query_event(self, context, event, query_id)

    def on_kill(self) -> None:
        """The task was killed: cancel its query, so AEP stops working for nobody."""
        if self.query_id:
            from airflow_provider_aep.tasks.query_run import cancel_query

            cancel_query(self, None, self.query_id, "the task was killed")

    def get_openlineage_facets_on_start(self) -> airflow.providers.openlineage.extractors.OperatorLineage:
        """The SQL's input and output tables (OpenLineage's SQL parser) and the SQL itself.

        :return: inputs, outputs and the ``sql`` job facet.
        """
        from airflow_provider_aep.lineage import lineage_or_empty, query_lineage

        return lineage_or_empty(
            lambda: query_lineage(self.hook, self.sql), task_id=self.task_id, logger=self.log
        )

    def get_openlineage_facets_on_complete(
        self, task_instance: Any
    ) -> airflow.providers.openlineage.extractors.OperatorLineage:
        """As on start, with the query's id and the dataset it wrote.

        :param task_instance: the finished task instance (unused: the operator kept the summary).
        :return: inputs, outputs, the ``sql`` job facet and ``externalQuery``.
        """
        from airflow_provider_aep.lineage import lineage_or_empty, query_lineage

        return lineage_or_empty(
            lambda: query_lineage(self.hook, self.sql, summary=self.query_summary),
            task_id=self.task_id,
            logger=self.log,
        )


class AEPScheduledQueryOperator(AEPBaseOperator):
    """Create a scheduled query (``POST /data/foundation/query/schedules``), or reuse the one of
    the same name: AEP runs the SQL on its own cron, and the task returns the schedule's id.

    Reuse follows the dataflow rules: one scheduled query with this name whose SQL, cron, start
    and end are those asked for is reused (a disabled one is enabled again); one that differs is
    ``drift``: with ``if_drifted="fail"`` (the default) the task fails naming what differs,
    with ``"update"`` the cron is patched (the only change AEP takes; other SQL, start or end
    still fail); several with the name fail the task listing their ids. Give fixed dates, not
    the DAG run's: a start that moves each day is drift each day.

    :param name: the query's name (the schedule is found by it).
    :param sql: the statement, or a ``.sql`` file; templated.
    :param schedule: a cron expression (5 fields) or ``@once``, ``@hourly``, ``@daily``,
        ``@weekly``, ``@monthly``.
    :param schedule_start_date: when the schedule starts: a datetime or ISO 8601 text (UTC when
        naive). Not ``start_date``, which is Airflow's (when the task itself may start, and what
        ``default_args`` set).
    :param schedule_end_date: when it ends (optional).
    :param description: shown in AEP.
    :param if_drifted: ``"fail"`` or ``"update"``.
    :param aep_conn_id: the ``aep`` Airflow connection (default ``aep_default``).
    :param sandbox_name: the sandbox instead of the connection's.
    """

    template_fields: Sequence[str] = (
        "name", "sql", "schedule", "schedule_start_date", "schedule_end_date", "description", "sandbox_name",
        "aep_conn_id",
    )  # fmt: skip
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"sql": "sql"}
    ui_color = "#c9e4f2"

    def __init__(
        self,
        *,
        name: str,
        sql: str,
        schedule: str,
        schedule_start_date: datetime | str,
        schedule_end_date: datetime | str | None = None,
        description: str | None = None,
        if_drifted: str = "fail",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.sql = sql
        self.schedule = schedule
        self.schedule_start_date = schedule_start_date
        self.schedule_end_date = schedule_end_date
        self.description = description
        self.if_drifted = if_drifted
        check_when_literal(
            {
                "name": name,
                "sql": sql,
                "schedule": schedule,
                "schedule_start_date": schedule_start_date,
                "schedule_end_date": schedule_end_date,
            },
            self._body,
        )
        from airflow_provider_aep.exceptions import AEPValidationError

        if if_drifted not in ("fail", "update"):
            raise AEPValidationError("if_drifted", if_drifted, "'fail' or 'update'")

    def _body(self) -> dict[str, Any]:
        from airflow_provider_aep.payloads.query import schedule_body

        return schedule_body(
            name=self.name,
            sql=self.sql,
            db_name="unused:all",
            schedule=self.schedule,
            start_date=self.schedule_start_date,
            end_date=self.schedule_end_date,
            description=self.description,
        )

    @says_what_exists
    def execute(self, context: Context) -> str:
        from airflow_provider_aep.tasks.scheduled_query import create_or_reuse_schedule

        return create_or_reuse_schedule(self, context)


class AEPRunScheduledQueryOperator(AEPBaseOperator):
    """Run a scheduled query now (``POST /schedules/{id}/runs``) and return the new run's id, for
    :class:`~airflow_provider_aep.sensors.scheduled_query.AEPScheduledQueryRunSensor` (``run_id=``).

    AEP answers without the run's id: it is found afterwards among the schedule's on-demand runs
    (``externalTrigger==true``) created since the request.

    :param schedule_id: the scheduled query (``AEPScheduledQueryOperator``'s output).
    :param aep_conn_id: the ``aep`` Airflow connection (default ``aep_default``).
    :param sandbox_name: the sandbox instead of the connection's.
    """

    template_fields: Sequence[str] = ("schedule_id", "sandbox_name", "aep_conn_id")
    ui_color = "#c9e4f2"

    def __init__(self, *, schedule_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schedule_id = schedule_id

    @says_what_exists
    def execute(self, context: Context) -> str:
        from airflow_provider_aep.tasks.scheduled_query import run_schedule_now

        return run_schedule_now(self, context)
