"""Operators for dataflows: create one joining a source and a target connection on a schedule."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
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
from airflow_provider_aep.utils.rendered import int_if_digits

if TYPE_CHECKING:
    import airflow.providers.openlineage.extractors
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_aep.utils.ids import EntityKind


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
            lambda: (
                self._operations(utc_today()) if columns is None else self._enhanced_operations(utc_today())
            ),
        )

    def _enhanced_operations(self, today: date) -> tuple[dict[str, str], list[dict[str, Any]]]:
        """The columns, then the selectors and field lists, of an enhanced flow's activation."""
        from airflow_provider_aep.exceptions import AEPValidationError
        from airflow_provider_aep.payloads.activation import as_attribute_list, segment_operations
        from airflow_provider_aep.payloads.audiences import (
            check_columns,
            columns_from_attributes,
            field_operations,
        )

        attributes = as_attribute_list(self.profile_attributes or None)
        if self.columns and attributes:
            raise AEPValidationError(
                "profile_attributes", attributes, "columns or profile_attributes, not both"
            )
        if not self.columns and not attributes:
            raise AEPValidationError(
                "columns",
                self.columns,
                "the exported columns (or profile_attributes) for an enhanced destination",
            )
        columns = check_columns(self.columns or columns_from_attributes(attributes))
        operations = segment_operations(self.segments, today=today, enhanced=True)
        operations += field_operations(
            columns,
            as_attribute_list(self.mandatory_fields or None),
            as_attribute_list(self.primary_fields or None),
        )
        return columns, operations

    def _operations(self, today: date) -> list[dict[str, Any]]:
        from airflow_provider_aep.payloads.activation import build_activation_patch

        return build_activation_patch(
            segments=self.segments,
            profile_attributes=self.profile_attributes or (),
            mandatory_fields=self.mandatory_fields or (),
            primary_fields=self.primary_fields or (),
            today=today,
        )

    @says_what_exists
    def execute(self, context: Context) -> list[str]:
        from airflow_provider_aep.exceptions import AEPError
        from airflow_provider_aep.payloads.activation import (
            SEGMENT_SELECTORS,
            activation_still_needed,
            missing_after_activation,
        )
        from airflow_provider_aep.utils.ids import check_id

        flow_id = check_id("flow_id", self.flow_id)
        logical = context.get("logical_date") or (
            context.get("dag_run") and getattr(context["dag_run"], "run_after", None)
        )
        today = logical.date() if isinstance(logical, datetime) else utc_today()
        self._check_before_reading(today)
        self.aep_dataflow_url = self.hook.flow_page_url(flow_id)
        if enhanced_flow(flow := self.hook.get_flow(flow_id)):
            wanted = self._activate_enhanced(flow, today)  # audiences checked there
        elif self.columns:
            from airflow_provider_aep.exceptions import AEPValidationError

            raise AEPValidationError(
                "columns",
                self.columns,
                f"profile_attributes: dataflow {flow_id} goes to a legacy destination, which has no mapping set",
            )
        else:
            wanted = self._operations(today)
            self._check_audiences_exist(flow, wanted)
        update = self.hook.update_entity(
            "flows",
            flow_id,
            lambda now: activation_still_needed(now, wanted),
            current=flow,
            etag=self.etag or None,
        )
        if update["operations"]:
            self.log.info("Dataflow %s: sent %s", flow_id, _describe(update["operations"]))
        if update["patched"]:
            flow = self.hook.get_flow(flow_id)  # the tutorial's validate step
        else:
            self.log.info(
                "Dataflow %s already shows every segment and attribute asked for: no PATCH sent", flow_id
            )
            flow = update["entity"]
        missing = missing_after_activation(flow, wanted)
        if missing:
            raise AEPError(f"Dataflow {flow_id} was patched but does not show: {', '.join(missing)}")
        activated = [op["value"]["value"]["id"] for op in wanted if op["path"] == SEGMENT_SELECTORS]
        self.log.info(
            "Active on dataflow %s: %d segment(s): %s", flow_id, len(activated), ", ".join(activated)
        )
        self.push_etag(context, flow.get("etag") or update.get("etag"))
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

    def _check_before_reading(self, today: date) -> None:
        """Bad input is refused before any request, whichever form the flow turns out to have:
        ``columns`` mean an enhanced flow; otherwise what the legacy form refuses is refused,
        unless the enhanced form (read from the flow next) would take it."""
        from airflow_provider_aep.exceptions import AEPValidationError

        if self.columns is not None:
            self._enhanced_operations(today)
            return
        try:
            self._operations(today)
        except AEPValidationError as legacy_error:
            try:
                self._enhanced_operations(today)
            except AEPValidationError:
                raise legacy_error from None

    def _check_audiences_exist(self, flow: Mapping[str, Any], wanted: Sequence[Mapping[str, Any]]) -> None:
        """Each audience to add exists in the sandbox (Segmentation API), before the flow changes:
        a mistyped id is refused by name, as a mistyped dataset name is. One already on the flow
        is not looked up again."""
        from airflow_provider_aep.exceptions import AEPValidationError
        from airflow_provider_aep.payloads.activation import SEGMENT_SELECTORS, activation_still_needed

        adding = [
            op["value"]["value"]["id"]
            for op in activation_still_needed(flow, wanted)
            if op["path"] == SEGMENT_SELECTORS
        ]
        missing = self.hook.missing_audiences(adding) if adding else []
        if missing:
            raise AEPValidationError(
                "segments",
                missing,
                f"the id of an audience in sandbox {self.hook.sandbox_name!r}: AEP has no segment "
                f"definition with {'this id' if len(missing) == 1 else 'these ids'} (nothing was changed)",
            )

    def _activate_enhanced(self, flow: Mapping[str, Any], today: date) -> list[dict[str, Any]]:
        """The selectors and fields, and the mapping set (made now, or the flow's own when it maps the
        same columns): what the tutorial's PATCHes send to an enhanced flow."""
        from airflow_provider_aep.exceptions import AEPValidationError
        from airflow_provider_aep.payloads.audiences import columns_of_mapping_set, profile_mapping_operation

        columns, wanted = self._enhanced_operations(today)
        self._check_audiences_exist(flow, wanted)  # before a mapping set is made for them
        params = ((flow.get("transformations") or [{}])[0] or {}).get("params") or {}
        mapping = params.get("profileMapping") or {}
        if mapping.get("mappingId"):
            mapping_set = self.hook.get_mapping_set(str(mapping["mappingId"]))
            have = columns_of_mapping_set(mapping_set)
            if have != columns:
                raise AEPValidationError(
                    "columns",
                    columns,
                    f"the columns of dataflow {flow['id']}'s mapping set {mapping['mappingId']}, {have}: "
                    "a dataflow's columns are set once; activate to another dataflow for other columns",
                )
            mapping_set = {"id": mapping["mappingId"], "version": mapping.get("mappingVersion", 0)}
        else:
            target_id = (flow.get("targetConnectionIds") or [None])[0]
            target = self.hook.get_entity("targetConnections", str(target_id)) or {}
            spec_id = str((target.get("connectionSpec") or {}).get("id"))
            mapping_set = self.hook.create_audience_mapping(
                spec_id, columns, name=f"{flow.get('name')} columns"
            )
            self.log.info("Created mapping set %s for columns %s", mapping_set.get("id"), ", ".join(columns))
        return [*wanted, profile_mapping_operation(mapping_set)]


def enhanced_flow(flow: Mapping[str, Any]) -> bool:
    """A flow to an enhanced cloud-storage destination: an audience flow spec of the catalog, or a
    GeneralTransform that has (or awaits) a ``profileMapping``."""
    from airflow_provider_aep.catalog import DESTINATIONS

    spec_id = (flow.get("flowSpec") or {}).get("id")
    if spec_id and any(d.audience_flow_spec_id == spec_id for d in DESTINATIONS.values()):
        return True
    params = ((flow.get("transformations") or [{}])[0] or {}).get("params") or {}
    return "profileMapping" in params


def _describe(operations: Sequence[Mapping[str, Any]]) -> str:
    """``add segment s-1, add attribute person.lastName``: what a patch does, for the log."""
    said = []
    for op in operations:
        value = op.get("value")
        inner = value.get("value") if isinstance(value, Mapping) else None
        if isinstance(inner, Mapping) and "id" in inner:
            said.append(f"{op['op']} segment {inner['id']}")
        elif isinstance(inner, Mapping) and "path" in inner:
            said.append(f"{op['op']} attribute {inner['path']}")
        else:
            said.append(f"{op['op']} {op['path']}")
    return ", ".join(said)


DAY = 86400
#: Where a dataflow update keeps the end it aims at, so a retried task does not extend twice.
TARGET_END_KEY = "aep_target_end_time"


def _check_days(field: str, value: Any) -> None:
    from airflow_provider_aep.exceptions import AEPValidationError

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

    def _changes_schedule(self) -> bool:
        return any(
            v not in (None, "")
            for v in (self.end_time, self.extend_by_days, self.export_mode, self.time_unit, self.interval)
        )

    def _target_end(self, first: Mapping[str, Any], now: int) -> int | None:
        """The end asked for, fixed at the first read: ``end_time``, or N days past today or the end."""
        if self.extend_by_days not in (None, ""):
            return max(int(first.get("endTime") or now), now) + int(int_if_digits(self.extend_by_days)) * DAY
        if self.end_time not in (None, ""):
            return int(int_if_digits(self.end_time))
        return None

    def _new_schedule(self, current: Mapping[str, Any], target_end: int | None) -> dict[str, Any]:
        from airflow_provider_aep.payloads.schedule import build_schedule_params

        end = current.get("endTime")
        if target_end is not None and self.extend_by_days not in (None, ""):
            end = max(int(end or 0), target_end)  # extending never shortens, nor extends twice
        elif target_end is not None:
            end = target_end
        built = build_schedule_params(
            export_mode=self.export_mode or current.get("exportMode", "FIRST_FULL_THEN_INCREMENTAL"),
            time_unit=self.time_unit or current.get("timeUnit"),
            interval=int_if_digits(self.interval)
            if self.interval not in (None, "")
            else current.get("interval"),
            start_time=current["startTime"],
            end_time=end,
            folder_name_template=current.get("foldernameTemplate"),
        )
        return {**current, **built}

    def _planner(
        self, first: Mapping[str, Any], now: int, state_store: Any = None
    ) -> Callable[[Mapping[str, Any]], list[dict[str, Any]]]:
        """What a flow still needs to be as asked; run on the first read and again after a 412.

        The target end is kept in the task's state store (Airflow 3.3+): a retry after a PATCH
        that landed finds the end already there instead of extending by N days once more.
        """
        from airflow_provider_aep.exceptions import AEPValidationError

        kept = state_store.get(TARGET_END_KEY) if state_store is not None else None
        target_end = int(kept) if kept else self._target_end(first.get("scheduleParams") or {}, now)
        if state_store is not None and target_end is not None and not kept:
            state_store.set(TARGET_END_KEY, target_end)

        def operations(flow: Mapping[str, Any]) -> list[dict[str, Any]]:
            ops: list[dict[str, Any]] = []
            if self._changes_schedule():
                current = flow.get("scheduleParams")
                if not current:
                    raise AEPValidationError(
                        "flow_id", self.flow_id, "a dataset dataflow (it has no scheduleParams)"
                    )
                schedule = self._new_schedule(current, target_end)
                if schedule != current:
                    ops.append({"op": "replace", "path": "/scheduleParams", "value": schedule})
            for field in ("name", "description"):
                value = getattr(self, field)
                if value not in (None, "") and value != flow.get(field):
                    ops.append({"op": "replace", "path": f"/{field}", "value": value})
            return ops

        return operations

    @says_what_exists
    def execute(self, context: Context) -> str:
        self._check()
        flow_id = self.resolve_flow_id(context)
        flow = self.hook.get_flow(flow_id)
        plan = self._planner(flow, int(time.time()), context.get("task_state_store"))
        update = self.hook.update_entity("flows", flow_id, plan, current=flow, etag=self.etag or None)
        for op in update["operations"]:
            if op["path"] == "/scheduleParams":
                before = update["entity"].get("scheduleParams")
                self.log.info("Dataflow %s schedule: %s -> %s", flow_id, before, op["value"])
            else:
                self.log.info("Dataflow %s %s: %r", flow_id, op["path"].lstrip("/"), op["value"])
        if not update["patched"]:
            self.log.info("Dataflow %s is already as asked: no PATCH sent", flow_id)
        flow = update["entity"]
        etag = update["etag"] or flow.get("etag")
        if self.state and self.state != flow.get("state"):
            action = self.hook.enable_flow if self.state == "enabled" else self.hook.disable_flow
            etag = action(flow_id).get("etag") or etag
            self.log.info("Dataflow %s is now %s", flow_id, self.state)
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
        from airflow_provider_aep.tasks.teardown import label

        self._check()
        result: dict[str, Any] = {"deleted": [], "already_gone": [], "kept": [], "why_kept": {}}
        if self.flow_id is None or self._nothing_created_upstream():
            self.log.info("No dataflow was created upstream: nothing to delete")
            return result
        flow = self.hook.get_entity("flows", self.flow_id)
        if flow is None:
            self.log.info("Dataflow %s is already gone", self.flow_id)
            result["already_gone"].append(label("flows", self.flow_id))
            return result
        plan = [("flows", self.flow_id), *(self._connections_of(flow) if self.delete_connections else [])]
        keep_all = self._reason_to_keep_everything(context)
        created = self._created(context)
        for kind, entity_id in plan:
            name = label(kind, entity_id)
            reason = keep_all or self._reason_to_keep(kind, entity_id, created, result)
            if reason is None:
                reason = self._delete(kind, entity_id, name, result)
            if reason is not None:
                self.log.warning("Kept %s: %s", name, reason)
                result["kept"].append(name)
                result["why_kept"][name] = reason
                if kind == "flows":  # its connections are in use by the flow that stays
                    keep_all = f"its dataflow {self.flow_id} is kept"
        self.log.info(
            "Deleted %s; already gone %s; kept %s", result["deleted"], result["already_gone"], result["kept"]
        )
        return result

    def _connections_of(self, flow: Mapping[str, Any]) -> list[tuple[EntityKind, str]]:
        """The flow's target and source connections, then their base connections.

        A Data Lake source connection names its sandbox's implicit Data Lake base connection
        (AEP's answer carries one though the tutorial sends none): no DAG created that, every
        Data Lake source of the sandbox shares it, and it is never deleted.
        """
        from airflow_provider_aep.catalog import DATA_LAKE_SPEC_ID

        plan: list[tuple[EntityKind, str]] = []
        bases: list[str] = []
        linked: tuple[tuple[EntityKind, str], ...] = (
            ("targetConnections", "targetConnectionIds"),
            ("sourceConnections", "sourceConnectionIds"),
        )
        for kind, key in linked:
            for entity_id in flow.get(key) or []:
                entity = self.hook.get_entity(kind, entity_id) or {}
                plan.append((kind, entity_id))
                base = entity.get("baseConnectionId")
                implicit = (entity.get("connectionSpec") or {}).get("id") == DATA_LAKE_SPEC_ID
                if base and not implicit and base not in bases:
                    bases.append(base)
        return plan + [("connections", base) for base in bases]

    def _reason_to_keep_everything(self, context: Context) -> str | None:
        """Another run of this DAG reuses the same names: it may be using what this one made."""
        from airflow_provider_aep.tasks.teardown import other_active_runs

        others = other_active_runs(self, context)
        if others is None:
            return "this Airflow cannot tell whether other runs of the DAG are still using it"
        if others:
            return f"{others} other run(s) of DAG {self.dag_id} are queued or running and may reuse it"
        return None

    def _created(self, context: Context) -> set[str] | None:
        """What this run created; None when anything goes (``only_created_by_this_run=False``)."""
        from airflow_provider_aep.tasks.teardown import created_by_this_run

        return created_by_this_run(self, context) if self.only_created_by_this_run else None

    def _reason_to_keep(
        self, kind: EntityKind, entity_id: str, created: set[str] | None, result: Mapping[str, Any]
    ) -> str | None:
        if created is not None and entity_id not in created:
            return (
                "this DAG run did not create it (it reused it, or got it by id); "
                "only_created_by_this_run=False deletes it"
            )
        if kind == "flows":
            return None
        from airflow_provider_aep.tasks.teardown import label

        gone = set(result["deleted"]) | set(result["already_gone"])
        users = [label(*user) for user in self.hook.users_of(kind, entity_id)]
        still = [user for user in users if user not in gone]  # AEP's listings may lag a delete
        return f"still used by {', '.join(still)}" if still else None

    def _delete(self, kind: EntityKind, entity_id: str, name: str, result: dict[str, Any]) -> str | None:
        """Delete one entity; the reason AEP gave when it refuses (a base connection in use)."""
        from airflow_provider_aep.exceptions import AEPApiError

        try:
            deleted = self.hook.delete_entity(kind, entity_id, missing_ok=True)
        except AEPApiError as err:
            if kind == "connections" and err.status == 400:
                return str(err.detail or err)
            raise
        result["deleted" if deleted else "already_gone"].append(name)
        return None


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
        self._check()
        now = int(time.time())
        cutoff = now + int(int_if_digits(self.within_days)) * DAY
        filters = [
            f"scheduleParams.endTime>{now}",
            f"scheduleParams.endTime<{cutoff}",
            "inheritedAttributes.properties.isDestinationFlow==true",
        ]
        extended = []
        for flow in self.hook.iter_flows(filters):
            if self.name_prefix and not str(flow.get("name", "")).startswith(self.name_prefix):
                continue
            before = int(flow["scheduleParams"]["endTime"])
            target = max(before, now) + int(int_if_digits(self.extend_by_days)) * DAY
            if not self.report_only:
                self.hook.update_entity("flows", flow["id"], _end_at_least(target), current=dict(flow))
            extended.append(
                {
                    "flow_id": flow["id"],
                    "name": flow.get("name"),
                    "end_time_before": before,
                    "end_time_after": target,
                }
            )
            self.log.info("%s dataflow %r (%s): end %s -> %s", "Would extend" if self.report_only else "Extended",
                          flow.get("name"), flow["id"], before, target)  # fmt: skip
        self.log.info("%d dataflow(s) ended within %s days", len(extended), self.within_days)
        return extended


def _end_at_least(target: int) -> Callable[[Mapping[str, Any]], list[dict[str, Any]]]:
    """The patch that moves a flow's end to ``target``; none when it already ends then or later.

    Computed from the flow as read, so a lost answer that landed is not extended a second time.
    """

    def operations(flow: Mapping[str, Any]) -> list[dict[str, Any]]:
        schedule = dict(flow.get("scheduleParams") or {})
        if int(schedule.get("endTime") or 0) >= target:
            return []
        return [{"op": "replace", "path": "/scheduleParams", "value": {**schedule, "endTime": target}}]

    return operations
