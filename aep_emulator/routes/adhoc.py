"""Adobe's ad-hoc activation API: ``POST /data/core/activation/disflowprovider/adhocrun`` (v2)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from aep_emulator.routes.common import AEP, Checked, json_body

router = APIRouter()


@router.post("/data/core/activation/disflowprovider/adhocrun")
async def adhoc_run(request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
    """Export audiences now: one run per dataflow, each order's ``statusURL`` the run to poll."""
    body = await json_body(request)
    accept = request.headers.get("accept", "")
    return aep.segmentation.adhoc_run(caller.sandbox, accept, body, str(request.base_url))
