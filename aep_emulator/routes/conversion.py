"""The audience mapping's routes: the profile union schema and identity namespaces (read), Data
Prep schemas and mapping sets (create, read)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from aep_emulator import conversion
from aep_emulator.routes.common import AEP, Checked, json_body

CONVERSION = "/data/foundation/conversion"

router = APIRouter()


@router.get("/data/core/ups/config/entityTypes/_xdm.context.profile")
async def union_schema(_: Checked) -> dict[str, Any]:
    return conversion.UNION_SCHEMA


@router.get("/data/core/idnamespace/identities")
async def identity_namespaces(_: Checked) -> list[dict[str, Any]]:
    return conversion.identities()


@router.post(f"{CONVERSION}/schemas")
async def create_schema(request: Request, aep: AEP, caller: Checked) -> JSONResponse:
    return JSONResponse(
        aep.conversion.create_schema(caller.sandbox, await json_body(request)), status_code=200
    )


@router.post(f"{CONVERSION}/mappingSets")
async def create_mapping_set(request: Request, aep: AEP, caller: Checked) -> JSONResponse:
    answer = aep.conversion.create_mapping_set(caller.sandbox, await json_body(request))
    return JSONResponse(answer, status_code=200)


@router.get(f"{CONVERSION}/mappingSets/{{mapping_set_id}}")
async def get_mapping_set(mapping_set_id: str, aep: AEP, caller: Checked) -> dict[str, Any]:
    return aep.conversion.get_mapping_set(caller.sandbox, mapping_set_id)
