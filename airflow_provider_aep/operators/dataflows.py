"""Operators for dataflows: create one joining a source and a target connection on a schedule."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.links import AEPDataflowLink
from airflow_provider_aep.operators.base import AEPBaseOperator, AEPCreateOperator
from airflow_provider_aep.tasks.flow_ref import FlowByNameMixin
from airflow_provider_aep.tasks.mixins import (
    check_destination_when_literal,
    check_id_when_literal,
    check_when_literal,
    says_what_exists,
)

if TYPE_CHECKING:
    import airflow.providers.openlineage.extractors
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_aep.tasks.activation import ActivationRequest


def utc_today() -> date:
    """Today in UTC, as Airflow reads dates: never the worker's local day."""
    return datetime.now(timezone.utc).date()


class AEPCreateDataflowOperator(AEPCreateOperator):
    """Create a dataflow (``POST /flows``): the destination's flow spec, the schedule, the two connections.

    Dataset exports take a schedule (``export_mode``, ``time_unit``, ``interval``, ``start_time``,
    ``end_time``, ``folder_name_template``, checked against AEP's rules table); segment destinations
    get the empty GeneralTransform that activation fills in. Returns the dataflow's id and sets
    the "AEP dataflow" extra link. Takes the parameters of :class:`.AEPCreateOperator` too.

    :param destination: a catalog key (its flow spec is used) or, with ``flow_spec_id``, anything.
    :param name: the dataflow's name (what ``if_exists`` matches on). A same-named dataflow is
        compared on every field given here (source, target, flow spec, description and the
        schedule, ``start_time`` only when given): ``if_exists="reuse"`` refuses one that differs,
        ``"update"`` patches its description and schedule in place.
    :param source_connection_id: the source connection (``create_source.output``).
    :param target_connection_id: the target connection (``create_target.output``).
    :param description: shown in the AEP UI.
    :param flow_spec_id: the flow spec, for a destination given as a raw connection spec id.
    :param export_mode: ``FIRST_FULL_THEN_INCREMENTAL`` (default) or ``DAILY_FULL_EXPORT``.
    :param time_unit: ``day`` (default) or ``hour`` (incremental exports only).
    :param interval: time units between exports; default: the first the mode and unit allow
        (``0`` with ``DAILY_FULL_EXPORT``: one full export).
    :param start_time: Unix seconds or a datetime; default: when the task runs.
    :param end_time: Unix seconds or a datetime; without it AEP stops the flow after six months.
    :param folder_name_template: the export folder's name, from AEP's macros such as
        ``%DATASET_ID%`` and ``%EXPORT_TIME%``; an unknown macro is refused.
    :param export: ``"audiences"`` to activate audiences to an enhanced cloud-storage
        destination (its audience flow spec, and the transformation skeleton the activation
        fills in); default: what the destination does.
    """

    entity_name = "dataflow"
    template_fields: Sequence[str] = (
        "destination",
        "name",
        "description",
        "source_connection_id",
        "target_connection_id",
        "flow_spec_id",
        "export_mode",
        "time_unit",
        "interval",
        "start_time",
        "end_time",
        "folder_name_template",
        "export",
        "sandbox_name",
        "aep_conn_id",
    )
    operator_extra_links = (AEPDataflowLink(),)
    ui_color = "#fad1b8"

    def __init__(
        self,
        *,
        destination: str,
        name: str,
        source_connection_id: str,
        target_connection_id: str,
        description: str | None = None,
        flow_spec_id: str | None = None,
        export_mode: str = "FIRST_FULL_THEN_INCREMENTAL",
        time_unit: str | None = None,
        interval: int | str | None = None,
        start_time: int | str | datetime | None = None,
        end_time: int | str | datetime | None = None,
        folder_name_template: str | None = None,
        export: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.export = export
        self.destination = destination
        self.name = name
        self.description = description
        self.source_connection_id = source_connection_id
        self.target_connection_id = target_connection_id
        self.flow_spec_id = flow_spec_id
        self.export_mode = export_mode
        self.time_unit = time_unit
        self.interval = interval
        self.start_time = start_time
        self.end_time = end_time
        self.folder_name_template = folder_name_template
        self.aep_dataflow_url: str | None = None
        #: The dataflow this task created or reused, once ``execute`` has run (for OpenLineage).
        self.flow_id: str | None = None
        # A literal destination is checked on its own, whatever else is templated.
        check_destination_when_literal(destination)
        check_when_literal(
            {
                "destination": destination, "name": name, "flow_spec_id": flow_spec_id, "export_mode": export_mode, "time_unit": time_unit, "interval": interval,
                "start_time": start_time, "end_time": end_time, "folder_name_template": folder_name_template,
                "export": export,
            },
            lambda: self._check_arguments(now=int(time.time())),
        )  # fmt: skip

    def _check_arguments(self, *, now: int) -> None:
        from airflow_provider_aep.payloads.connections import require_text

        self._flow_spec_and_schedule(now=now)
        require_text("name", self.name)

    def _flow_spec_and_schedule(self, *, now: int) -> tuple[str, dict[str, Any] | None]:
        """The flow spec id, and the ``scheduleParams`` of a dataset flow (None for audiences)."""
        from airflow_provider_aep.catalog import check_export, resolve_destination
        from airflow_provider_aep.exceptions import AEPValidationError
        from airflow_provider_aep.payloads.schedule import build_schedule_params
        from airflow_provider_aep.utils.rendered import int_if_digits

        _, destination = resolve_destination(self.destination)
        export = check_export(self.export)
        catalog_spec = destination.flow_spec_for(export or destination.export) if destination else None
        flow_spec_id = self.flow_spec_id or catalog_spec
        if not flow_spec_id:
            raise AEPValidationError(
                "flow_spec_id", None, "a flow spec id (needed when destination is a raw spec id)"
            )
        if export == "audiences" or (destination is not None and destination.workflow == "segments"):
            return flow_spec_id, None
        return flow_spec_id, build_schedule_params(
            export_mode=self.export_mode,
            time_unit=self.time_unit or None,
            interval=int_if_digits(self.interval) if self.interval not in ("", None) else None,
            start_time=int_if_digits(self.start_time) if self.start_time not in ("", None) else now,
            end_time=int_if_digits(self.end_time) if self.end_time not in ("", None) else None,
            folder_name_template=self.folder_name_template or None,
        )

    def _body(self, source_id: str, target_id: str, *, now: int) -> dict[str, Any]:
        from airflow_provider_aep.payloads.audiences import enhanced_general_transform
        from airflow_provider_aep.payloads.flows import build_dataflow, empty_general_transform

        flow_spec_id, schedule = self._flow_spec_and_schedule(now=now)
        transformations = []
        if schedule is None:
            enhanced = self.export == "audiences" and not self._legacy_destination()
            transformations = [enhanced_general_transform() if enhanced else empty_general_transform()]
        return build_dataflow(
            name=self.name,
            description=self.description,
            flow_spec_id=flow_spec_id,
            source_connection_id=source_id,
            target_connection_id=target_id,
            schedule_params=schedule,
            transformations=transformations,
        )

    def _legacy_destination(self) -> bool:
        """A destination of the batch-activation tutorial (legacy flow spec and transformation)."""
        from airflow_provider_aep.catalog import resolve_destination

        _, destination = resolve_destination(self.destination)
        return destination is not None and destination.workflow == "segments"

    @says_what_exists
    def execute(self, context: Context) -> str:
        body = self._body(self.source_connection_id, self.target_connection_id, now=int(time.time()))
        # A start of "now" differs on every run: compared with a flow found only when it was given.
        defaulted = ("scheduleParams.startTime",) if self.start_time in ("", None) else ()
        created = self.create(context, "flows", body, defaulted=defaulted)
        flow_id = str(created["id"])
        self.flow_id = flow_id
        self.aep_dataflow_url = self.hook.flow_page_url(flow_id)
        self.log_created(created, "Created dataflow %r: %s", self.name, flow_id)
        # A line of its own, the URL last: Airflow's log view links everything up to a blank, and
        # cuts long lines at the window's edge.
        self.log.info("Dataflow page: %s", self.aep_dataflow_url)
        schedule = body.get("scheduleParams")
        if schedule:
            self.log.info("Schedule: %s", schedule)
            if "endTime" not in schedule:
                self.log.warning(
                    "No end_time given: AEP stops a dataset dataflow six months after it is created. "
                    "Set end_time, or extend it later with AEPUpdateDataflowOperator."
                )
        self.push_etag(context, created.get("etag"))
        return flow_id

    def get_openlineage_facets_on_start(self) -> airflow.providers.openlineage.extractors.OperatorLineage:
        """Nothing yet: the dataflow does not exist before the task runs; the complete event names it.

        :return: an empty OperatorLineage.
        """
        from airflow_provider_aep.lineage import empty_lineage

        return empty_lineage()

    def get_openlineage_facets_on_complete(
        self, task_instance: Any
    ) -> airflow.providers.openlineage.extractors.OperatorLineage:
        """What the new dataflow exports (AEP datasets or audiences) and the folder its files land in.

        Read from AEP once the flow exists (the flow, its source and target connections); see
        :mod:`airflow_provider_aep.lineage` for the names. A failure to read them is logged and
        leaves the event without lineage: it never fails the task.

        :param task_instance: the finished task instance (passed by the OpenLineage listener).
        :return: inputs, the output location and the ``aep_dataflowRun`` facet with the flow id.
        """
        from airflow_provider_aep.lineage import dataflow_lineage, empty_lineage, lineage_or_empty

        flow_id = self.flow_id
        if not flow_id:  # the task failed before the flow existed
            return empty_lineage()
        return lineage_or_empty(
            lambda: dataflow_lineage(self.hook, flow_id), task_id=self.task_id, logger=self.log
        )


class AEPActivateSegmentsOperator(AEPBaseOperator):
    """Activate segments (audiences) and profile attributes on a segment dataflow, then check them.

    Reads the flow and sends the tutorial's JSON Patch with ``If-Match`` for only what it lacks:
    a segment or attribute already on the flow is not added again (so running the task twice
    changes nothing), and ``mandatoryFields`` / ``primaryFields`` become the union of what is there
    and what is asked. When nothing is missing no PATCH is sent. A 412 or a lost answer re-reads
    the flow and recomputes (see ``AEPHook.update_entity``). Then it reads the flow back and fails
    unless every selector is there. Returns the segment ids asked for, all active now. Takes
    the parameters of :class:`.AEPBaseOperator` too.

    :param flow_id: the segment dataflow (``create_flow.output``).
    :param segments: segment ids, or selector values as in the tutorial
        (``{"id", "name", "description", "filenameTemplate", "exportMode", "schedule": {...}}``).
        Defaults: ``DAILY_FULL_EXPORT``, frequency ``ONCE`` from the run's date at ``00:00``.
        A segment already active keeps its schedule.
    :param profile_attributes: XDM paths exported as columns, e.g. ``person.name.firstName``
        (one string is one attribute).
    :param mandatory_fields: attributes a profile must have to be exported.
    :param primary_fields: attributes that deduplicate profiles (``fieldType: ATTRIBUTE``).
    :param etag: the flow's etag (``create_flow``'s ``etag`` XCom), sent with the first PATCH;
        the etag of the flow as read when absent.
    :param columns: for a flow to an enhanced cloud-storage destination: column header ->
        profile attribute path or ``identityMap.<namespace>`` (at most one identity), as the
        mapping set of Adobe's current tutorial names them. Default there: ``profile_attributes``,
        each under its path with ``_`` for ``.``. The first activation creates the mapping set;
        a flow that already maps other columns is refused (make another dataflow).

    An enhanced flow (its flow spec is an audience flow spec of the catalog, or it has a
    ``profileMapping``) takes the enhanced file-name macros (all optional), schedules on the
    hour, ``mandatory_fields`` as columns and ``primary_fields`` beside the selectors.
    """

    template_fields: Sequence[str] = (
        "flow_id",
        "segments",
        "columns",
        "profile_attributes",
        "mandatory_fields",
        "primary_fields",
        "etag",
        "sandbox_name",
        "aep_conn_id",
    )
    template_fields_renderers = {
        "segments": "json",
        "columns": "json",
        "profile_attributes": "json",
        "mandatory_fields": "json",
        "primary_fields": "json",
    }
    operator_extra_links = (AEPDataflowLink(),)
    ui_color = "#f6b78f"

    def __init__(
        self,
        *,
        flow_id: str,
        segments: Sequence[str | Mapping[str, Any]],
        profile_attributes: str | Sequence[str] = (),
        mandatory_fields: str | Sequence[str] = (),
        primary_fields: str | Sequence[str] = (),
        etag: str | None = None,
        columns: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flow_id = flow_id
        self.segments = segments
        self.columns = columns
        self.profile_attributes = profile_attributes
        self.mandatory_fields = mandatory_fields
        self.primary_fields = primary_fields
        self.etag = etag
        self.aep_dataflow_url: str | None = None
        check_id_when_literal("flow_id", flow_id)
        check_when_literal(
            {
                "segments": segments,
                "profile_attributes": profile_attributes,
                "mandatory_fields": mandatory_fields,
                "primary_fields": primary_fields,
                "columns": columns,
            },
            lambda: self._request().check_literals(utc_today()),
        )

    def _request(self) -> ActivationRequest:
        from airflow_provider_aep.tasks.activation import ActivationRequest

        return ActivationRequest(
            segments=self.segments,
            columns=self.columns,
            profile_attributes=self.profile_attributes,
            mandatory_fields=self.mandatory_fields,
            primary_fields=self.primary_fields,
        )

    @says_what_exists
    def execute(self, context: Context) -> list[str]:
        from airflow_provider_aep.tasks.activation import activate
        from airflow_provider_aep.utils.ids import check_id

        flow_id = check_id("flow_id", self.flow_id)
        logical = context.get("logical_date") or (
            context.get("dag_run") and getattr(context["dag_run"], "run_after", None)
        )
        today = logical.date() if isinstance(logical, datetime) else utc_today()
        request = self._request()
        request.check_before_reading(today)
        self.aep_dataflow_url = self.hook.flow_page_url(flow_id)
        activated, etag = activate(self.hook, flow_id, request, today, etag=self.etag or None, log=self.log)
        self.push_etag(context, etag)
        return activated

    def get_openlineage_facets_on_complete(
        self, task_instance: Any
    ) -> airflow.providers.openlineage.extractors.OperatorLineage:
        """The audiences now on the flow (inputs) and the folder their files land in (output).

        See :mod:`airflow_provider_aep.lineage` for the names; a failure to read AEP is logged
        and never fails the task.

        :param task_instance: the finished task instance (passed by the OpenLineage listener).
        :return: inputs, the output location and the ``aep_dataflowRun`` facet with the flow id.
        """
        from airflow_provider_aep.lineage import dataflow_lineage, lineage_or_empty

        flow_id = str(self.flow_id)
        return lineage_or_empty(
            lambda: dataflow_lineage(self.hook, flow_id), task_id=self.task_id, logger=self.log
        )


def _check_days(field: str, value: Any) -> None:
    from airflow_provider_aep.exceptions import AEPValidationError
    from airflow_provider_aep.utils.rendered import int_if_digits

    days = int_if_digits(value)
    if not isinstance(days, int) or isinstance(days, bool) or days <= 0:
        raise AEPValidationError(field, value, "a positive number of days")


class AEPUpdateDataflowOperator(FlowByNameMixin, AEPBaseOperator):
    """Change a dataset dataflow: extend its end, change its schedule within the rules, rename, enable or disable.

    Schedule changes go as one PATCH of ``/scheduleParams`` with If-Match, computed from the flow
    as read and checked against AEP's rules first; nothing is sent when the flow is already as
    asked. A 412 or a lost answer re-reads the flow and recomputes from it: the new end is fixed
    at the first read, so a lost answer never extends twice (the re-read shows the end already
    there), and an end someone else moved further is kept. Returns the dataflow's id. Takes the
    parameters of :class:`.AEPBaseOperator` too; every other parameter is optional, and only
    what is given changes.

    :param flow_id: the dataflow to change; or give ``flow_name``, not both.
    :param flow_name: the dataflow's exact (current) name instead of its id: resolved when the
        task starts to the one dataflow with that name (none, or several, fail the task before
        anything changes, listing close names or the ids). Rename it with ``name``.
    :param end_time: the new end (Unix seconds or a datetime).
    :param extend_by_days: or: move the end this many days past the later of today and the current end.
    :param export_mode: a new export mode; checked with the schedule as it will be.
    :param time_unit: a new time unit (``day`` or ``hour``).
    :param interval: a new interval, allowed for the mode and unit.
    :param name: a new name.
    :param description: a new description.
    :param state: ``"enabled"`` or ``"disabled"``.
    :param etag: the flow's etag (an ``etag`` XCom), sent with the first PATCH; default: the
        etag of the flow as read.
    """

    template_fields: Sequence[str] = (
        "flow_id",
        "flow_name",
        "end_time",
        "extend_by_days",
        "export_mode",
        "time_unit",
        "interval",
        "name",
        "description",
        "state",
        "etag",
        "sandbox_name",
        "aep_conn_id",
    )
    operator_extra_links = (AEPDataflowLink(),)
    ui_color = "#f3d6c1"

    def __init__(
        self,
        *,
        flow_id: str | None = None,
        flow_name: str | None = None,
        end_time: int | str | datetime | None = None,
        extend_by_days: int | str | None = None,
        export_mode: str | None = None,
        time_unit: str | None = None,
        interval: int | str | None = None,
        name: str | None = None,
        description: str | None = None,
        state: str | None = None,
        etag: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flow_id = flow_id
        self.flow_name = flow_name
        self.end_time = end_time
        self.extend_by_days = extend_by_days
        self.export_mode = export_mode
        self.time_unit = time_unit
        self.interval = interval
        self.name = name
        self.description = description
        self.state = state
        self.etag = etag
        self.aep_dataflow_url: str | None = None
        check_when_literal({"flow_id": flow_id, "flow_name": flow_name}, self.check_flow_ref)
        check_when_literal(
            {
                "end_time": end_time,
                "extend_by_days": extend_by_days,
                "state": state,
                "export_mode": export_mode,
                "time_unit": time_unit,
            },
            self._check,
        )

    def _check(self) -> None:
        from airflow_provider_aep.exceptions import AEPValidationError
        from airflow_provider_aep.payloads.schedule import SCHEDULE_RULES

        if self.state not in (None, "", "enabled", "disabled"):
            raise AEPValidationError("state", self.state, "'enabled' or 'disabled'")
        if self.end_time not in (None, "") and self.extend_by_days not in (None, ""):
            raise AEPValidationError("end_time", self.end_time, "either end_time or extend_by_days, not both")
        if self.extend_by_days not in (None, ""):
            _check_days("extend_by_days", self.extend_by_days)
        # The full schedule is checked against the flow's current one; these fail whatever it is.
        if self.export_mode not in (None, "") and self.export_mode not in SCHEDULE_RULES:
            raise AEPValidationError("export_mode", self.export_mode, "one of " + ", ".join(SCHEDULE_RULES))
        units = {unit for rules in SCHEDULE_RULES.values() for unit in rules}
        if self.time_unit not in (None, "") and self.time_unit not in units:
            raise AEPValidationError("time_unit", self.time_unit, "one of " + ", ".join(sorted(units)))

    @says_what_exists
    def execute(self, context: Context) -> str:
        from airflow_provider_aep.tasks.flow_updates import update_flow

        self._check()
        flow_id = self.resolve_flow_id(context)
        etag = update_flow(self, context, flow_id)
        self.aep_dataflow_url = self.hook.flow_page_url(flow_id)
        self.push_etag(context, etag)
        return flow_id


class AEPDeleteDataflowOperator(AEPBaseOperator):
    """Delete a dataflow and, on request, its connections, in AEP's order; safe as a teardown.

    Order: the flow; then its target and source connections; then their base connections. Only
    what is provably no longer used is deleted (see ``airflow_provider_aep.tasks.teardown``):
    what this DAG run's upstream create tasks created (their ``created`` XCom), while no other
    run of this DAG is queued or running, and, for a connection, while no other dataflow or
    connection references it. Anything else is kept and the reason logged; a kept flow keeps
    its connections. Anything already gone counts as deleted. Returns ``{"deleted": [...],
    "already_gone": [...], "kept": [...], "why_kept": {entity: reason}}``. Takes the parameters
    of :class:`.AEPBaseOperator` too.

    :param flow_id: the dataflow; None, or the text ``None`` a template renders of it (an
        upstream create that failed), deletes nothing.
    :param delete_connections: delete its target, source and base connections too.
    :param only_created_by_this_run: delete only what this DAG run created (default). False
        also deletes what it reused or got by id (a maintenance DAG deleting an old export);
        the checks that no other run or dataflow uses an entity still apply.
    """

    template_fields: Sequence[str] = ("flow_id", "sandbox_name", "aep_conn_id")
    ui_color = "#e8c4b0"

    def __init__(
        self,
        *,
        flow_id: str | None,
        delete_connections: bool = False,
        only_created_by_this_run: bool = True,
        **kwargs: Any,
    ) -> None:
        from airflow_provider_aep.exceptions import AEPValidationError

        super().__init__(**kwargs)
        for field, flag in (
            ("delete_connections", delete_connections),
            ("only_created_by_this_run", only_created_by_this_run),
        ):
            if not isinstance(flag, bool):
                raise AEPValidationError(field, flag, "True or False")
        self.flow_id = flow_id
        self.delete_connections = delete_connections
        self.only_created_by_this_run = only_created_by_this_run
        check_when_literal({"flow_id": flow_id}, self._check)

    def _check(self) -> None:
        # None is fine: as a teardown after a failed create there is nothing to delete.
        from airflow_provider_aep.utils.ids import check_id

        if not self._nothing_created_upstream():
            check_id("flow_id", self.flow_id)

    def _nothing_created_upstream(self) -> bool:
        """None, or the text a template makes of it (``{{ ti.xcom_pull(...) }}`` of a failed create)."""
        return self.flow_id is None or self.flow_id == "None"

    @says_what_exists
    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_aep.tasks.teardown import tear_down

        self._check()
        if self.flow_id is None or self._nothing_created_upstream():
            self.log.info("No dataflow was created upstream: nothing to delete")
            return {"deleted": [], "already_gone": [], "kept": [], "why_kept": {}}
        return tear_down(self, context, self.flow_id)


class AEPExtendDataflowEndTimesOperator(AEPBaseOperator):
    """Extend every destination dataflow whose end date falls within the next ``within_days``.

    AEP stops a dataset dataflow at its ``endTime`` (six months after creation unless set); run
    this daily so none ends by surprise. Returns what it extended (or would, with ``report_only``):
    ``[{"flow_id", "name", "end_time_before", "end_time_after"}]``. Takes the parameters of
    :class:`.AEPBaseOperator` too.

    :param within_days: extend the flows that end within this many days.
    :param extend_by_days: move each end this many days past the later of today and its end
        (182: about six months, what AEP gives a new flow).
    :param name_prefix: only flows whose name starts with this.
    :param report_only: list what would be extended, change nothing.
    """

    template_fields: Sequence[str] = (
        "within_days",
        "extend_by_days",
        "name_prefix",
        "sandbox_name",
        "aep_conn_id",
    )
    ui_color = "#f3d6c1"

    def __init__(
        self,
        *,
        within_days: int = 30,
        extend_by_days: int = 182,
        name_prefix: str | None = None,
        report_only: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.within_days = within_days
        self.extend_by_days = extend_by_days
        self.name_prefix = name_prefix
        self.report_only = report_only
        check_when_literal({"within_days": within_days, "extend_by_days": extend_by_days}, self._check)

    def _check(self) -> None:
        _check_days("within_days", self.within_days)
        _check_days("extend_by_days", self.extend_by_days)

    @says_what_exists
    def execute(self, context: Context) -> list[dict[str, Any]]:
        from airflow_provider_aep.tasks.flow_updates import extend_ending_flows

        self._check()
        return extend_ending_flows(self)
