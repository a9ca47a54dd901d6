"""The Query Service under ``/data/foundation/query``: queries, scheduled queries and their runs.

Answers and errors take Adobe's forms (202 with the object or a ``message``/``statusCode``
pair); links are written on the request's own base URL.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from aep_emulator.query_service import QUERY_PATH
from aep_emulator.routes.common import AEP, Checked, json_body

router = APIRouter()


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _accepted(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, status_code=202)


# -- queries ---------------------------------------------------------------------------------------


@router.post(f"{QUERY_PATH}/queries")
async def create_query(request: Request, aep: AEP, caller: Checked) -> JSONResponse:
    body = await json_body(request)
    return _accepted(aep.queries.create(caller.sandbox, caller.client, body, _base(request)))


@router.get(f"{QUERY_PATH}/queries")
async def list_queries(request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
    return aep.queries.list_queries(caller.sandbox, list(request.query_params.multi_items()), _base(request))


@router.get(f"{QUERY_PATH}/queries/{{query_id}}")
async def get_query(query_id: str, request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
    return aep.queries.get(caller.sandbox, query_id, _base(request))


@router.patch(f"{QUERY_PATH}/queries/{{query_id}}")
async def patch_query(query_id: str, request: Request, aep: AEP, caller: Checked) -> JSONResponse:
    body = await json_body(request)
    return _accepted(aep.queries.patch(caller.sandbox, query_id, body))


# -- schedules -------------------------------------------------------------------------------------


@router.post(f"{QUERY_PATH}/schedules")
async def create_schedule(request: Request, aep: AEP, caller: Checked) -> JSONResponse:
    body = await json_body(request)
    return _accepted(aep.schedules.create(caller.sandbox, caller.client, body, _base(request)))


@router.get(f"{QUERY_PATH}/schedules")
async def list_schedules(request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
    return aep.schedules.list_schedules(
        caller.sandbox, list(request.query_params.multi_items()), _base(request)
    )


@router.get(f"{QUERY_PATH}/schedules/{{schedule_id}}")
async def get_schedule(schedule_id: str, request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
    return aep.schedules.get(caller.sandbox, schedule_id, _base(request))


@router.patch(f"{QUERY_PATH}/schedules/{{schedule_id}}")
async def patch_schedule(schedule_id: str, request: Request, aep: AEP, caller: Checked) -> JSONResponse:
    body = await json_body(request)
    return _accepted(aep.schedules.patch(caller.sandbox, schedule_id, body))


@router.delete(f"{QUERY_PATH}/schedules/{{schedule_id}}")
async def delete_schedule(schedule_id: str, aep: AEP, caller: Checked) -> JSONResponse:
    return _accepted(aep.schedules.delete(caller.sandbox, schedule_id))


# -- runs of a schedule ----------------------------------------------------------------------------


@router.post(f"{QUERY_PATH}/schedules/{{schedule_id}}/runs")
async def trigger_run(schedule_id: str, aep: AEP, caller: Checked) -> JSONResponse:
    return _accepted(aep.schedules.trigger(caller.sandbox, schedule_id))


@router.get(f"{QUERY_PATH}/schedules/{{schedule_id}}/runs")
async def list_runs(schedule_id: str, request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
    params = list(request.query_params.multi_items())
    return aep.schedules.list_runs(caller.sandbox, schedule_id, params, _base(request))


@router.get(f"{QUERY_PATH}/schedules/{{schedule_id}}/runs/{{run_id}}")
async def get_run(
    schedule_id: str, run_id: str, request: Request, aep: AEP, caller: Checked
) -> dict[str, Any]:
    return aep.schedules.get_run(caller.sandbox, schedule_id, run_id, _base(request))


@router.patch(f"{QUERY_PATH}/schedules/{{schedule_id}}/runs/{{run_id}}")
async def cancel_run(
    schedule_id: str, run_id: str, request: Request, aep: AEP, caller: Checked
) -> JSONResponse:
    body = await json_body(request)
    return _accepted(aep.schedules.cancel_run(caller.sandbox, schedule_id, run_id, body))
