"""The data lake as each sandbox sees it: the seed datasets, and the datasets its queries made.

The seed datasets (:data:`aep_emulator.datasets.DATASETS`) are in every sandbox and read only.
A Query Service ``CREATE TABLE ... AS SELECT`` adds a *derived* dataset to its sandbox, holding
exactly the rows the SELECT produced; ``INSERT INTO`` appends rows to it and ``DROP TABLE``
removes it. The Flow Service lists derived datasets as eligible for export and dataset export
runs write their rows, so a query's result can be exported like any dataset.

Derived datasets live in memory only, as segment jobs do: a reset, or a state file read anew,
forgets them (a flow that still names one then fails its next run: the dataset is gone).
Callers hold the state's lock.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from aep_emulator.datasets import BY_ID, DATASETS, Dataset
from aep_emulator.state import State

#: When the seed datasets were "created" (ms), for the Catalog's answers.
SEED_CREATED_MS = 1_700_000_000_000
DERIVED_DESCRIPTION = "Derived dataset (Query Service CREATE TABLE AS SELECT)"


def table_name(dataset_name: str) -> str:
    """The SQL table of a dataset: its name in snake case (``Web Events`` → ``web_events``)."""
    return re.sub(r"[^0-9a-z]+", "_", dataset_name.lower()).strip("_")


#: Seed table name → seed dataset.
SEED_TABLES: dict[str, Dataset] = {table_name(d.name): d for d in DATASETS}


@dataclass
class DerivedDataset:
    """A dataset a query created: its rows are the query's, appended to by ``INSERT INTO``."""

    id: str
    name: str
    created: int
    updated: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    description: str = DERIVED_DESCRIPTION

    def as_eligible(self) -> dict[str, Any]:
        """As the eligible-datasets endpoint lists it (the seed datasets' fields)."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "fileDescription": {"persisted": True, "containerFormat": "parquet", "format": "parquet"},
            "aspect": "production",
            "state": "DRAFT",
        }


AnyDataset = Dataset | DerivedDataset


class DataLake:
    """Seed and derived datasets per sandbox."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._boxes: dict[str, dict[str, DerivedDataset]] = {}
        self._data: dict[str, Any] | None = None

    def _box(self, sandbox: str) -> dict[str, DerivedDataset]:
        """The sandbox's derived datasets by id; forgotten when the state is replaced (a reset)."""
        if self.state.data is not self._data:
            self._data, self._boxes = self.state.data, {}
        return self._boxes.setdefault(sandbox, {})

    def derived(self, sandbox: str) -> list[DerivedDataset]:
        return list(self._box(sandbox).values())

    def find(self, sandbox: str, dataset_id: str) -> AnyDataset | None:
        """The dataset with this id in the sandbox (seed or derived), or None."""
        return BY_ID.get(dataset_id) or self._box(sandbox).get(dataset_id)

    def all(self, sandbox: str) -> list[AnyDataset]:
        """The seed datasets, then the sandbox's derived ones in the order they were made."""
        return [*DATASETS, *self.derived(sandbox)]

    def derived_by_table(self, sandbox: str, table: str) -> DerivedDataset | None:
        return next((d for d in self.derived(sandbox) if d.name.lower() == table.lower()), None)

    def by_table(self, sandbox: str, table: str) -> AnyDataset | None:
        """The dataset a SQL table name names (table names are not case sensitive)."""
        return SEED_TABLES.get(table.lower()) or self.derived_by_table(sandbox, table)

    def create(self, sandbox: str, name: str, rows: list[dict[str, Any]], now: float) -> DerivedDataset:
        stamp = int(now * 1000)
        dataset = DerivedDataset(_new_id(), name, stamp, stamp, list(rows))
        self._box(sandbox)[dataset.id] = dataset
        return dataset

    def append(self, dataset: DerivedDataset, rows: list[dict[str, Any]], now: float) -> None:
        dataset.rows.extend(rows)
        dataset.updated = int(now * 1000)

    def drop(self, sandbox: str, dataset: DerivedDataset) -> None:
        self._box(sandbox).pop(dataset.id, None)

    def catalog_entry(self, dataset: AnyDataset, org_id: str, sandbox: str) -> dict[str, Any]:
        """The dataset as Adobe's Catalog Service answers ``GET /dataSets/{id}`` (the value part)."""
        derived = isinstance(dataset, DerivedDataset)
        created = dataset.created if isinstance(dataset, DerivedDataset) else SEED_CREATED_MS
        updated = dataset.updated if isinstance(dataset, DerivedDataset) else SEED_CREATED_MS
        return {
            "name": dataset.name,
            "description": dataset.description,
            "imsOrg": org_id,
            "sandboxName": sandbox,
            "tags": {},
            "version": "1.0.0",
            "created": created,
            "updated": updated,
            "createdClient": "acp_query_service" if derived else "acp_foundation_catalog",
            "createdUser": "acp_query_service@AdobeID" if derived else "acp_foundation_catalog@AdobeID",
            "updatedUser": "acp_query_service@AdobeID" if derived else "acp_foundation_catalog@AdobeID",
            "fileDescription": {"persisted": True, "containerFormat": "parquet", "format": "parquet"},
            "files": f"@/dataSets/{dataset.id}/views/{dataset.id}/files",
            "lastBatchStatus": "success",
        }


def _new_id() -> str:
    """A Catalog id: 24 hexadecimal digits, as AEP's dataset ids are."""
    return secrets.token_hex(12)
