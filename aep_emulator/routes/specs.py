"""Connection and flow specs (Adobe's catalog, read only) and the Data Lake spec's eligible datasets."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request

from aep_emulator.catalog import DATA_LAKE_SPEC_ID, all_connection_specs
from aep_emulator.errors import bad_request, not_found
from aep_emulator.listing import matches, parse_filters
from aep_emulator.routes.common import AEP, FS, Checked
from aep_emulator.validation import connection_specs, flow_specs

_DIGITS = re.compile(r"[0-9]{1,9}", re.ASCII)

router = APIRouter()


@router.get(f"{FS}/connectionSpecs")
async def list_connection_specs(request: Request, _: Checked) -> dict[str, Any]:
    filters = parse_filters(request.query_params.getlist("property"))
    return {"items": [s for s in all_connection_specs() if matches(s, filters)]}


@router.get(f"{FS}/connectionSpecs/{{spec_id}}")
async def get_connection_spec(spec_id: str, _: Checked) -> dict[str, Any]:
    spec = connection_specs().get(spec_id)
    if spec is None:
        raise not_found("Connection spec", spec_id)
    return {"items": [spec]}


@router.get(f"{FS}/connectionSpecs/{{spec_id}}/configs")
async def eligible_datasets(spec_id: str, request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
    q = request.query_params
    if (
        spec_id != DATA_LAKE_SPEC_ID
        or q.get("outputType") != "activationDatasets"
        or q.get("outputField") != "datasets"
    ):
        raise bad_request(
            "configs are served for the Data Lake spec with outputType=activationDatasets&outputField=datasets"
        )
    raw_start, raw_limit = q.get("start", "0"), q.get("limit", "20")
    if not all(_DIGITS.fullmatch(v) for v in (raw_start, raw_limit)):
        raise bad_request("start and limit must be whole numbers (start from 0, limit from 1 to 100)")
    return aep.service.eligible_datasets(caller.sandbox, int(raw_start), int(raw_limit))


@router.get(f"{FS}/flowSpecs")
async def list_flow_specs(_: Checked) -> dict[str, Any]:
    return {"items": list(flow_specs().values())}


@router.get(f"{FS}/flowSpecs/{{spec_id}}")
async def get_flow_spec(spec_id: str, _: Checked) -> dict[str, Any]:
    spec = flow_specs().get(spec_id)
    if spec is None:
        raise not_found("Flow spec", spec_id)
    return {"items": [spec]}
