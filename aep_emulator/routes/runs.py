"""Dataflow runs: list and read (the run engine writes them), ``POST /runs`` (a run on demand)
and the run actions (``RE_TRIGGER``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from aep_emulator.routes.common import AEP, FS, Checked, json_body, list_query, listed

router = APIRouter()


@router.get(f"{FS}/runs")
async def list_runs(request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
    query = list_query(request)
    items = aep.service.listing(caller.sandbox, "runs", query.getlist("property"), query.get("orderby"))
    return listed(request, aep, query, items)


@router.post(f"{FS}/runs")
async def create_run(request: Request, aep: AEP, caller: Checked) -> JSONResponse:
    return JSONResponse(aep.run_actions.create(caller.sandbox, await json_body(request)), status_code=201)


@router.get(f"{FS}/runs/{{run_id}}")
async def get_run(run_id: str, aep: AEP, caller: Checked) -> dict[str, Any]:
    return {"items": [aep.service.get(caller.sandbox, "runs", run_id)]}


@router.post(f"{FS}/runs/{{run_id}}/action")
async def run_action(run_id: str, request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
    return aep.run_actions.act(caller.sandbox, run_id, request.query_params.get("op"))
