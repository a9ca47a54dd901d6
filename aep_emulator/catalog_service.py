"""The Catalog Service's datasets (``/data/foundation/catalog/dataSets``), free of HTTP.

Adobe's Catalog answers an object keyed by dataset id, ``{}`` when nothing matches. The
emulator serves the lookups a client of the Query Service needs: by exact ``name`` (the table a
CTAS made), by id, with ``limit`` and ``properties`` (the keys to keep). Seed and derived
datasets alike (:mod:`aep_emulator.lake`).
"""

from __future__ import annotations

from typing import Any

from aep_emulator.errors import EmulatedError
from aep_emulator.lake import DataLake
from aep_emulator.state import State

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


def catalog_error(status: int, code: str, message: str) -> EmulatedError:
    """Problem JSON with a Catalog (CAT) code, as the Platform's error guide shows."""
    return EmulatedError(
        status,
        {
            "type": f"https://ns.adobe.com/aep/errors/CAT-{code}",
            "title": "Not Found" if status == 404 else "Bad Request",
            "status": status,
            "detail": message,
            "report": {"detailed-message": message},
        },
    )


class Catalog:
    """Catalog lookups over the sandbox's data lake."""

    def __init__(self, org_id: str, state: State, lake: DataLake) -> None:
        self.org_id = org_id
        self.state = state
        self.lake = lake

    def list_datasets(self, sandbox: str, params: dict[str, str]) -> dict[str, Any]:
        """``GET /dataSets?name=&limit=&properties=``."""
        limit_text = params.get("limit", str(DEFAULT_LIMIT))
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            raise catalog_error(400, "1001-400", f"limit must be a whole number from 1 to {MAX_LIMIT}")
        wanted = params.get("name")
        keep = [p.strip() for p in params.get("properties", "").split(",") if p.strip()]
        with self.state.lock:
            found = [d for d in self.lake.all(sandbox) if wanted is None or d.name == wanted]
            chosen = found[: int(limit_text)]
            entries = {d.id: self.lake.catalog_entry(d, self.org_id, sandbox) for d in chosen}
        if keep:
            entries = {key: {k: v for k, v in entry.items() if k in keep} for key, entry in entries.items()}
        return entries

    def get(self, sandbox: str, dataset_id: str) -> dict[str, Any]:
        """``GET /dataSets/{id}``: ``{id: {...}}``, or 404."""
        with self.state.lock:
            dataset = self.lake.find(sandbox, dataset_id)
            if dataset is None:
                raise catalog_error(404, "1004-404", f"Dataset {dataset_id} not found")
            return {dataset.id: self.lake.catalog_entry(dataset, self.org_id, sandbox)}
