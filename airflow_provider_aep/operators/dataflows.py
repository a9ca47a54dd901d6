"""Operators for dataflows: create one joining a source and a target connection on a schedule."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.links import AEPDataflowLink
from airflow_provider_aep.operators._base import AEPBaseOperator, as_int, check_when_literal
from airflow_provider_aep.operators.connections import resolve_destination
from airflow_provider_aep.payloads.flows import build_dataflow, empty_general_transform
from airflow_provider_aep.payloads.schedule import build_schedule_params

if TYPE_CHECKING:
    from airflow.sdk import Context


class AEPCreateDataflowOperator(AEPBaseOperator):
    """Create a dataflow (``POST /flows``): the destination's flow spec, the schedule, the two connections.

    Dataset exports take a schedule (``export_mode``, ``time_unit``, ``interval``, ``start_time``,
    ``end_time``, ``folder_name_template``, checked against AEP's rules table); segment destinations
    get the empty GeneralTransform that activation fills in.

    :param destination: a catalog key (its flow spec is used) or, with ``flow_spec_id``, anything.
    :param start_time: Unix seconds or a datetime; default: when the task runs.
    :param end_time: Unix seconds or a datetime; without it AEP stops the flow after six months.
    """

    template_fields: Sequence[str] = (
        "destination", "name", "description", "source_connection_id", "target_connection_id", "flow_spec_id",
        "export_mode", "time_unit", "interval", "start_time", "end_time", "folder_name_template", "sandbox_name",
    )  # fmt: skip
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
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
        check_when_literal(
            {
                "d": destination, "n": name, "f": flow_spec_id, "m": export_mode, "u": time_unit, "i": interval,
                "s": start_time, "e": end_time, "t": folder_name_template,
            },
            lambda: self._body("source-connection-id", "target-connection-id", now=int(time.time())),
        )  # fmt: skip

    def _body(self, source_id: str, target_id: str, *, now: int) -> dict[str, Any]:
        _, destination = resolve_destination(self.destination)
        flow_spec_id = self.flow_spec_id or (destination.flow_spec_id if destination else None)
        if not flow_spec_id:
            raise AEPValidationError(
                "flow_spec_id", None, "a flow spec id (needed when destination is a raw spec id)"
            )
        segments = destination is not None and destination.workflow == "segments"
        schedule: Mapping[str, Any] | None = None
        transformations: list[dict[str, Any]] = []
        if segments:
            transformations = [empty_general_transform()]
        else:
            schedule = build_schedule_params(
                export_mode=self.export_mode,
                time_unit=self.time_unit or None,
                interval=as_int(self.interval) if self.interval not in ("", None) else None,
                start_time=as_int(self.start_time) if self.start_time not in ("", None) else now,
                end_time=as_int(self.end_time) if self.end_time not in ("", None) else None,
                folder_name_template=self.folder_name_template or None,
            )
        return build_dataflow(
            name=self.name,
            description=self.description,
            flow_spec_id=flow_spec_id,
            source_connection_id=source_id,
            target_connection_id=target_id,
            schedule_params=schedule,
            transformations=transformations,
        )

    def execute(self, context: Context) -> str:
        from airflow_provider_aep.hooks.settings import dataflow_page_url

        body = self._body(self.source_connection_id, self.target_connection_id, now=int(time.time()))
        created = self.hook.create_flow(body)
        flow_id = str(created["id"])
        self.aep_dataflow_url = dataflow_page_url(self.hook.settings, flow_id, self.hook.sandbox_name)
        self.log.info("Created dataflow %r: %s (%s)", self.name, flow_id, self.aep_dataflow_url)
        if body.get("scheduleParams"):
            self.log.info("Schedule: %s", body["scheduleParams"])
        self.push_etag(context, created.get("etag"))
        return flow_id


class AEPActivateSegmentsOperator(AEPBaseOperator):
    """Activate segments (audiences) and profile attributes on a segment dataflow, then check them.

    Sends the tutorial's JSON Patch with ``If-Match`` (the flow's etag is read when not given; a
    412 re-reads it and re-applies once), reads the flow back, and fails unless every selector is
    there. Returns the activated segment ids.

    :param segments: segment ids, or selector values as in the tutorial
        (``{"id", "name", "description", "filenameTemplate", "exportMode", "schedule": {...}}``).
        Defaults: ``DAILY_FULL_EXPORT``, frequency ``ONCE`` from the run's date at ``00:00``.
    :param profile_attributes: XDM paths exported as columns, e.g. ``person.name.firstName``.
    :param mandatory_fields: attributes a profile must have to be exported.
    :param primary_fields: attributes that deduplicate profiles (``fieldType: ATTRIBUTE``).
    :param etag: the flow's etag (``create_flow``'s ``etag`` XCom); read from the flow when absent.
    """

    template_fields: Sequence[str] = (
        "flow_id", "segments", "profile_attributes", "mandatory_fields", "primary_fields", "etag", "sandbox_name",
    )  # fmt: skip
    operator_extra_links = (AEPDataflowLink(),)
    ui_color = "#f6b78f"

    def __init__(
        self,
        *,
        flow_id: str,
        segments: Sequence[str | Mapping[str, Any]],
        profile_attributes: Sequence[str] = (),
        mandatory_fields: Sequence[str] = (),
        primary_fields: Sequence[str] = (),
        etag: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flow_id = flow_id
        self.segments = segments
        self.profile_attributes = profile_attributes
        self.mandatory_fields = mandatory_fields
        self.primary_fields = primary_fields
        self.etag = etag
        self.aep_dataflow_url: str | None = None
        check_when_literal(
            {"s": segments, "p": profile_attributes, "m": mandatory_fields, "f": primary_fields},
            lambda: self._operations(date.today()),
        )

    def _operations(self, today: date) -> list[dict[str, Any]]:
        from airflow_provider_aep.payloads.activation import build_activation_patch

        return build_activation_patch(
            segments=self.segments,
            profile_attributes=self.profile_attributes or (),
            mandatory_fields=self.mandatory_fields or (),
            primary_fields=self.primary_fields or (),
            today=today,
        )

    def execute(self, context: Context) -> list[str]:
        from airflow_provider_aep.exceptions import AEPError
        from airflow_provider_aep.hooks.settings import dataflow_page_url
        from airflow_provider_aep.payloads.activation import missing_after_activation

        logical = context.get("logical_date") or (
            context.get("dag_run") and getattr(context["dag_run"], "run_after", None)
        )
        operations = self._operations(logical.date() if isinstance(logical, datetime) else date.today())
        self.aep_dataflow_url = dataflow_page_url(self.hook.settings, self.flow_id, self.hook.sandbox_name)
        answer = self.hook.patch_flow(self.flow_id, operations, etag=self.etag or None)
        flow = self.hook.get_flow(self.flow_id)
        missing = missing_after_activation(flow, operations)
        if missing:
            raise AEPError(f"Dataflow {self.flow_id} was patched but does not show: {', '.join(missing)}")
        activated = [
            op["value"]["value"]["id"]
            for op in operations
            if op["path"].endswith("segmentSelectors/selectors/-")
        ]
        self.log.info(
            "Activated %d segment(s) on dataflow %s: %s", len(activated), self.flow_id, ", ".join(activated)
        )
        self.push_etag(context, flow.get("etag") or answer.get("etag"))
        return activated
