"""AEPDataflowRunSensor: wait until a dataflow run completes and its record counts appear.

The wait itself (poke, deferral, re-triggers, fail-fast, record policy, asset events) is
``DataflowRunWait`` (``airflow_provider_aep.tasks.run_wait``), which the run operator's
``wait_for_completion`` uses too; this module adds what a user sets and sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.links import AEPDataflowLink
from airflow_provider_aep.tasks.run_wait import DataflowRunWait

if TYPE_CHECKING:
    import airflow.providers.openlineage.extractors

    from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger


class AEPDataflowRunSensor(DataflowRunWait):
    """Wait for a dataflow run to end, and return its summary (record, byte and file counts).

    Which run: ``run_id`` when given; else the newest run when ``latest``; else the first run
    started since ``since`` (default: the start of the DAG run, so a flow created upstream in the
    same DAG run is watched from its first run) and, with ``until``, before ``until``. Other
    keyword arguments go to Airflow's ``BaseSensorOperator`` (``poke_interval``, ``timeout``,
    ``mode``, ``outlets``, ...).

    With ``outlets``, a successful wait emits asset events for the folder the run wrote to
    (``s3://bucket/path``, ...; see :mod:`airflow_provider_aep.assets`): an
    :class:`~airflow.sdk.AssetAlias` outlet receives an event for that folder's asset, whatever
    its URI, and an :class:`~airflow.sdk.Asset` outlet gets its event's ``extra`` filled. The
    ``extra`` holds the run's ids, times, counts, file URIs and per-dataset or per-segment
    counts, nothing secret. A failed, missing or timed-out run emits nothing.

    :param flow_id: the dataflow (``create_flow.output``); or give ``flow_name``, not both.
    :param flow_name: the dataflow's exact name instead of its id: resolved when the task starts
        (``GET /flows?property=name==...``) to the one dataflow with that name, which the wait
        (and its trigger) then uses; none (close names are listed) or several (their ids are
        listed) fail the task before it waits.
    :param aep_conn_id: the ``aep`` Airflow connection (default ``aep_default``).
    :param sandbox_name: the sandbox to look in instead of the connection's.
    :param run_id: wait for this run.
    :param latest: wait for the newest run of the flow, whenever it started.
    :param since: a datetime, epoch milliseconds or an ISO 8601 string; runs started before it
        are ignored.
    :param success_statuses: statuses that end the wait well (case-insensitive).
    :param failure_statuses: statuses that fail the task with AEP's error codes (case-insensitive).
    :param deferrable: wait in the triggerer instead of a worker slot
        (default: ``[operators] default_deferrable``).
    :param until: a datetime, epoch milliseconds or an ISO 8601 string; runs started at or after
        it are not this wait's (for a daily DAG: ``data_interval_end``, with ``since`` at
        ``data_interval_start``).
    :param until_grace: seconds after ``until`` to keep looking for a run that started in the
        window; then the task fails with ``AEPDataflowRunMissing`` (no run will come).
    :param storage_account: the Azure storage account of an Azure Blob destination, which AEP
        keeps secret; it completes the asset URI (``wasbs://container@account...``).
    :param retrigger_failed: re-trigger a failed run (``RE_TRIGGER``) up to this many times
        before failing the task, each attempt logged with AEP's error codes; the summary's
        ``attempts`` says how many runs it took. Counted per task instance, across its tries,
        so a retried task does not re-trigger again; at most 10. A re-trigger AEP refuses for
        good (a 4xx, e.g. the flow was disabled meanwhile) fails the task at once with AEP's
        answer; one refused for now (a 5xx after the hook's retries, or a lost answer) fails
        this try, and the task's retry re-triggers again, counted against this limit.
    :param min_records: the fewest output records a successful run must write (default: no
        minimum); AEP reports an empty run as a success. A run below it fails the task at once
        (``AEPDataflowRecordPolicyBreached``, with the counts and the limit), not re-triggered.
    :param max_failed_records: the most failed records a successful run may report (default:
        no limit); AEP reports a run with failed records as a success. Above it the task fails
        at once, as for ``min_records``.
    :param schedule_aware: while no run is there, sleep until shortly before the flow's next
        scheduled start instead of polling, and poll a run in progress with a backoff bounded by
        ``poke_interval`` (see :mod:`airflow_provider_aep.utils.poll_plan`); a wait for a
        ``run_id`` or a one-time flow polls as usual. Default (None): the connection's extra
        ``schedule_aware_waits``, true unless set.

    The wait fails at once, never at the sensor's timeout, when no run can come: the flow is
    disabled (``AEPDataflowDisabled``, an
    :class:`~airflow_provider_aep.exceptions.AEPDataflowDisabled`), or its schedule has ended
    or its next scheduled run starts after ``until`` (``AEPDataflowEnded``, an
    :class:`~airflow_provider_aep.exceptions.AEPDataflowEnded`). The flow is read on the first
    poll without a run and every few after, so this costs no extra request per poll.

    ``since`` and ``until`` without a time zone (a naive datetime, ``"{{ ds }}"``) are UTC.
    """

    template_fields: Sequence[str] = (
        "flow_id",
        "flow_name",
        "run_id",
        "since",
        "until",
        "sandbox_name",
        "aep_conn_id",
        "storage_account",
        "min_records",
        "max_failed_records",
    )
    operator_extra_links = (AEPDataflowLink(),)
    ui_color = "#f7c59f"

    def new_trigger(self, **kwargs: Any) -> AEPDataflowRunTrigger:
        """The trigger this sensor defers to, imported only when it defers (not when DAGs are parsed).

        :param kwargs: the trigger's arguments, as the wait works them out.
        :return: the trigger.
        """
        from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger

        return AEPDataflowRunTrigger(**kwargs)

    def get_openlineage_facets_on_start(self) -> airflow.providers.openlineage.extractors.OperatorLineage:
        """What the watched dataflow exports (AEP datasets or audiences) and where its files land.

        Read from AEP when the wait starts, so lineage tools show a long wait's inputs and output;
        see :mod:`airflow_provider_aep.lineage` for the names. A failure to read them is logged
        and never fails the task.

        :return: inputs, the output location and the ``aep_dataflowRun`` facet with the flow id.
        """
        from airflow_provider_aep.lineage import dataflow_lineage, lineage_or_empty

        return lineage_or_empty(
            lambda: dataflow_lineage(self.hook, self.resolve_flow_id(), storage_account=self.storage_account),
            task_id=self.task_id,
            logger=self.log,
        )

    def get_openlineage_facets_on_complete(
        self, task_instance: Any
    ) -> airflow.providers.openlineage.extractors.OperatorLineage:
        """As on start, with the run the wait ended with: its id, status and record, byte and file counts.

        The run comes from ``run_summary`` and the location from ``location`` when the asset
        events already resolved it (else it is read). The run id is also the standard
        ``externalQuery`` facet; the output gets ``outputStatistics`` and each input
        ``inputStatistics``. A failure is logged and never fails the task.

        :param task_instance: the finished task instance (passed by the OpenLineage listener).
        :return: inputs, the output location with its statistics, and the run facets.
        """
        from airflow_provider_aep.lineage import dataflow_lineage, lineage_or_empty

        return lineage_or_empty(
            lambda: dataflow_lineage(
                self.hook,
                self.resolve_flow_id(),
                summary=self.run_summary,
                location=self.location,
                storage_account=self.storage_account,
            ),
            task_id=self.task_id,
            logger=self.log,
        )
