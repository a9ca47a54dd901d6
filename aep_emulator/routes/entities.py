"""Create, list, read and delete: the same four routes for each kind of Flow Service entity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from aep_emulator.routes.common import AEP, FS, Checked, json_body, list_query, listed
from aep_emulator.service import FlowService

#: The FlowService method that creates one: (service, sandbox, client id, body) -> the entity.
Create = Callable[[FlowService, str, str, Any], dict[str, Any]]


def add_entity_routes(router: APIRouter, kind: str, create_one: Create) -> None:
    """``POST``, ``GET`` (the list and one) and ``DELETE`` of ``kind`` on ``router``."""

    @router.post(f"{FS}/{kind}", name=f"create_{kind}")
    async def create(request: Request, aep: AEP, caller: Checked) -> JSONResponse:
        entity = create_one(aep.service, caller.sandbox, caller.client, await json_body(request))
        return JSONResponse(entity, status_code=201)

    @router.get(f"{FS}/{kind}", name=f"list_{kind}")
    async def listing(request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
        query = list_query(request)
        items = aep.service.listing(caller.sandbox, kind, query.getlist("property"), query.get("orderby"))
        return listed(request, aep, query, items)

    @router.get(f"{FS}/{kind}/{{entity_id}}", name=f"get_{kind}")
    async def get(entity_id: str, aep: AEP, caller: Checked) -> dict[str, Any]:
        return {"items": [aep.service.get(caller.sandbox, kind, entity_id)]}

    @router.delete(f"{FS}/{kind}/{{entity_id}}", name=f"delete_{kind}")
    async def delete(entity_id: str, aep: AEP, caller: Checked) -> Response:
        aep.service.delete(caller.sandbox, kind, entity_id)
        return Response(status_code=202)
