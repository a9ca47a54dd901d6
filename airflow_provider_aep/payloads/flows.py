"""Body of ``POST /flows``: a dataset-export or a segment-activation dataflow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_aep.catalog import SPEC_VERSION
from airflow_provider_aep.exceptions import AEPValidationError


def empty_general_transform() -> dict[str, Any]:
    """The transformation a segment flow starts with; activation PATCHes selectors into it."""
    return {
        "name": "GeneralTransform",
        "params": {"segmentSelectors": {"selectors": []}, "profileSelectors": {"selectors": []}},
    }


def build_dataflow(
    *,
    name: str,
    flow_spec_id: str,
    source_connection_id: str,
    target_connection_id: str,
    description: str | None = None,
    schedule_params: Mapping[str, Any] | None = None,
    transformations: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A dataflow joining one source and one target connection under a flow spec."""
    for field, value in (
        ("name", name),
        ("flow_spec_id", flow_spec_id),
        ("source_connection_id", source_connection_id),
        ("target_connection_id", target_connection_id),
    ):
        if not isinstance(value, str) or not value.strip():
            raise AEPValidationError(field, value, "a non-empty string")
    body: dict[str, Any] = {"name": name}
    if description:
        body["description"] = description
    body["flowSpec"] = {"id": flow_spec_id, "version": SPEC_VERSION}
    body["sourceConnectionIds"] = [source_connection_id]
    body["targetConnectionIds"] = [target_connection_id]
    body["transformations"] = [dict(t) for t in transformations]
    if schedule_params is not None:
        body["scheduleParams"] = dict(schedule_params)
    return body
