"""The Catalog Service's dataset lookups under ``/data/foundation/catalog`` (seed and derived)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from aep_emulator.routes.common import AEP, Checked

CATALOG = "/data/foundation/catalog"
router = APIRouter()


@router.get(f"{CATALOG}/dataSets")
async def list_datasets(request: Request, aep: AEP, caller: Checked) -> dict[str, Any]:
    return aep.catalog.list_datasets(caller.sandbox, dict(request.query_params))


@router.get(f"{CATALOG}/dataSets/{{dataset_id}}")
async def get_dataset(dataset_id: str, aep: AEP, caller: Checked) -> dict[str, Any]:
    return aep.catalog.get(caller.sandbox, dataset_id)
