"""Dataflows: the entity routes, PATCH (JSON Patch under ``If-Match``) and the enable/disable action."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from aep_emulator.routes.common import AEP, FS, Checked, if_match, json_body
from aep_emulator.routes.entities import add_entity_routes
from aep_emulator.service import FlowService

router = APIRouter()
add_entity_routes(router, "flows", FlowService.create_flow)


@router.patch(f"{FS}/flows/{{flow_id}}")
async def patch_flow(flow_id: str, request: Request, aep: AEP, caller: Checked) -> JSONResponse:
    body = await json_body(request)
    answer = aep.service.patch_flow(caller.sandbox, caller.client, flow_id, if_match(request), body)
    # 200 with {id, etag}: Adobe's example and the newest activation tutorial (seed 004 showed 202).
    return JSONResponse(answer, status_code=200)


@router.post(f"{FS}/flows/{{flow_id}}/action")
async def flow_action(flow_id: str, request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
    return aep.service.flow_action(caller.sandbox, flow_id, request.query_params.get("op"))
