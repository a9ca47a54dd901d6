"""The Segmentation API under ``/data/core/ups``: segment definitions (audiences) and segment
jobs; and ``/_emulator/audiences``, where tests and demos add audiences to a sandbox."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from aep_emulator.routes.common import AEP, Checked, json_body
from aep_emulator.segmentation import ups_error

UPS = "/data/core/ups"
router = APIRouter()


@router.get(f"{UPS}/segment/definitions")
async def list_definitions(request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
    start, limit = (request.query_params.get(k, d) for k, d in (("start", "0"), ("limit", "100")))
    if not (start.isdigit() and limit.isdigit() and int(limit) > 0):
        raise ups_error(
            400, "1000-400", "Bad Request", "start and limit must be whole numbers (limit above 0)"
        )
    return aep.segmentation.list_definitions(caller.sandbox, int(start), int(limit))


@router.get(f"{UPS}/segment/definitions/{{segment_id}}")
async def get_definition(segment_id: str, aep: AEP, caller: Checked) -> dict[str, Any]:
    return aep.segmentation.get_definition(caller.sandbox, segment_id)


@router.post(f"{UPS}/segment/jobs")
async def create_job(request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
    # 200, not 201: Adobe's example answers a create with the job and 200.
    return aep.segmentation.create_job(caller.sandbox, await json_body(request))


@router.get(f"{UPS}/segment/jobs")
async def list_jobs(request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
    return aep.segmentation.list_jobs(caller.sandbox, list(request.query_params.multi_items()))


@router.post(f"{UPS}/segment/jobs/bulk-get")
async def bulk_get(request: Request, aep: AEP, caller: Checked) -> JSONResponse:
    return JSONResponse(aep.segmentation.bulk_get(caller.sandbox, await json_body(request)), status_code=207)


@router.get(f"{UPS}/segment/jobs/{{job_id}}")
async def get_job(job_id: str, aep: AEP, caller: Checked) -> dict[str, Any]:
    return aep.segmentation.get_job(caller.sandbox, job_id)


@router.delete(f"{UPS}/segment/jobs/{{job_id}}")
async def cancel_job(job_id: str, aep: AEP, caller: Checked) -> dict[str, Any]:
    # Adobe documents "204 with the following information"; a 204 carries no body, so 200 does.
    return aep.segmentation.cancel_job(caller.sandbox, job_id)


@router.post("/_emulator/audiences")
async def add_audiences(request: Request, aep: AEP) -> dict[str, Any]:
    """Add audiences (``{"name", "id"?, "description"?, "sandbox"?}``, or a list) to a sandbox."""
    return {"added": aep.segmentation.add_audiences(await json_body(request))}
