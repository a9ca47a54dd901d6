"""Base, source and target connections: the entity routes, and PATCH (JSON Patch; a base
connection also takes AEP's ``{"auth": ...}`` form)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from aep_emulator.patching import as_operations
from aep_emulator.routes.common import AEP, FS, Checked, if_match, json_body
from aep_emulator.routes.entities import Create, add_entity_routes
from aep_emulator.service import FlowService

CREATE: dict[str, Create] = {
    "connections": FlowService.create_connection,
    "sourceConnections": FlowService.create_source_connection,
    "targetConnections": FlowService.create_target_connection,
}

router = APIRouter()


def add_connection_patch(kind: str) -> None:
    @router.patch(f"{FS}/{kind}/{{entity_id}}", name=f"patch_{kind}")
    async def patch(entity_id: str, request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
        body = await json_body(request)
        operations = as_operations(body) if kind == "connections" else body
        return aep.service.patch_connection(
            caller.sandbox, caller.client, kind, entity_id, if_match(request), operations
        )


for _kind, _create in CREATE.items():
    add_entity_routes(router, _kind, _create)
    add_connection_patch(_kind)
