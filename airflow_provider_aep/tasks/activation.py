"""What ``AEPActivateSegmentsOperator`` does once it runs: the activation of audiences on a flow.

Two forms, told apart by the flow as read:

- a legacy flow (the batch-activation tutorial): profile selectors and field lists under
  ``profileSelectors``;
- an enhanced flow (Adobe's current tutorial, the cloud-storage destinations): the columns of a
  mapping set (``profileMapping``), the field lists beside the selectors.

Either way each audience to add is looked up first (a mistyped id is refused by name), one JSON
Patch with ``If-Match`` sends only what the flow lacks, and the flow is read back. Kept apart from
the operator's module so that parsing a DAG does not load it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.exceptions import AEPError, AEPValidationError
from airflow_provider_aep.payloads.activation import (
    SEGMENT_SELECTORS,
    activation_still_needed,
    as_attribute_list,
    build_activation_patch,
    missing_after_activation,
    segment_operations,
)
from airflow_provider_aep.payloads.audiences import (
    check_columns,
    columns_from_attributes,
    columns_of_mapping_set,
    field_operations,
    profile_mapping_operation,
)

if TYPE_CHECKING:
    from airflow_provider_aep.hooks.aep import AEPHook


@dataclass(frozen=True)
class ActivationRequest:
    """The operator's rendered arguments: what is to be activated."""

    segments: Any
    columns: Any = None
    profile_attributes: Any = ()
    mandatory_fields: Any = ()
    primary_fields: Any = ()

    def legacy_operations(self, today: date) -> list[dict[str, Any]]:
        """The batch-activation tutorial's patch, every rule checked."""
        return build_activation_patch(
            segments=self.segments,
            profile_attributes=self.profile_attributes or (),
            mandatory_fields=self.mandatory_fields or (),
            primary_fields=self.primary_fields or (),
            today=today,
        )

    def enhanced_operations(self, today: date) -> tuple[dict[str, str], list[dict[str, Any]]]:
        """The columns, then the selectors and field lists, of an enhanced flow's activation."""
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

    def check_literals(self, today: date) -> None:
        """At DAG parse: ``columns`` mean an enhanced flow, else the legacy form's rules."""
        if self.columns is None:
            self.legacy_operations(today)
        else:
            self.enhanced_operations(today)

    def check_before_reading(self, today: date) -> None:
        """Bad input is refused before any request, whichever form the flow turns out to have:
        ``columns`` mean an enhanced flow; otherwise what the legacy form refuses is refused,
        unless the enhanced form (read from the flow next) would take it."""
        if self.columns is not None:
            self.enhanced_operations(today)
            return
        try:
            self.legacy_operations(today)
        except AEPValidationError as legacy_error:
            try:
                self.enhanced_operations(today)
            except AEPValidationError:
                raise legacy_error from None


def activate(
    hook: AEPHook, flow_id: str, request: ActivationRequest, today: date, *, etag: str | None, log: Any
) -> tuple[list[str], str | None]:
    """Activate on the flow what it lacks, then check it shows everything asked for.

    :return: the audience ids asked for (all active now), and the flow's etag after.
    """
    flow = hook.get_flow(flow_id)
    if enhanced_flow(flow):
        wanted = _enhanced_plan(hook, flow, request, today, log)
    elif request.columns:
        raise AEPValidationError(
            "columns",
            request.columns,
            f"profile_attributes: dataflow {flow_id} goes to a legacy destination, which has no mapping set",
        )
    else:
        wanted = request.legacy_operations(today)
        check_audiences_exist(hook, flow, wanted)
    update = hook.update_entity(
        "flows", flow_id, lambda now: activation_still_needed(now, wanted), current=flow, etag=etag
    )
    if update["operations"]:
        log.info("Dataflow %s: sent %s", flow_id, describe(update["operations"]))
    if update["patched"]:
        flow = hook.get_flow(flow_id)  # the tutorial's validate step
    else:
        log.info("Dataflow %s already shows every segment and attribute asked for: no PATCH sent", flow_id)
        flow = update["entity"]
    missing = missing_after_activation(flow, wanted)
    if missing:
        raise AEPError(f"Dataflow {flow_id} was patched but does not show: {', '.join(missing)}")
    activated = [op["value"]["value"]["id"] for op in wanted if op["path"] == SEGMENT_SELECTORS]
    log.info("Active on dataflow %s: %d segment(s): %s", flow_id, len(activated), ", ".join(activated))
    return activated, flow.get("etag") or update.get("etag")


def check_audiences_exist(
    hook: AEPHook, flow: Mapping[str, Any], wanted: Sequence[Mapping[str, Any]]
) -> None:
    """Each audience to add exists in the sandbox (Segmentation API), before the flow changes:
    a mistyped id is refused by name, as a mistyped dataset name is. One already on the flow
    is not looked up again."""
    adding = [
        op["value"]["value"]["id"]
        for op in activation_still_needed(flow, wanted)
        if op["path"] == SEGMENT_SELECTORS
    ]
    missing = hook.missing_audiences(adding) if adding else []
    if missing:
        raise AEPValidationError(
            "segments",
            missing,
            f"the id of an audience in sandbox {hook.sandbox_name!r}: AEP has no segment "
            f"definition with {'this id' if len(missing) == 1 else 'these ids'} (nothing was changed)",
        )


def _enhanced_plan(
    hook: AEPHook, flow: Mapping[str, Any], request: ActivationRequest, today: date, log: Any
) -> list[dict[str, Any]]:
    """The selectors and fields, and the mapping set (made now, or the flow's own when it maps the
    same columns): what the tutorial's PATCHes send to an enhanced flow."""
    columns, wanted = request.enhanced_operations(today)
    check_audiences_exist(hook, flow, wanted)  # before a mapping set is made for them
    params = ((flow.get("transformations") or [{}])[0] or {}).get("params") or {}
    mapping = params.get("profileMapping") or {}
    if mapping.get("mappingId"):
        have = columns_of_mapping_set(hook.get_mapping_set(str(mapping["mappingId"])))
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
        target = hook.get_entity("targetConnections", str(target_id)) or {}
        spec_id = str((target.get("connectionSpec") or {}).get("id"))
        mapping_set = hook.create_audience_mapping(spec_id, columns, name=f"{flow.get('name')} columns")
        log.info("Created mapping set %s for columns %s", mapping_set.get("id"), ", ".join(columns))
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


def describe(operations: Sequence[Mapping[str, Any]]) -> str:
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
