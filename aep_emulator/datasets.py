"""The emulator's data lake: datasets eligible for export, each with deterministic records.

The first five are the ones the dataset-export tutorial lists; the rest make paging real.
Records are generated from the dataset id, so an export's contents can be checked exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str
    record_count: int
    #: Records added between two incremental exports.
    growth_per_run: int = 25
    description: str = "Activation profile export dataset"

    def as_eligible(self) -> dict[str, Any]:
        """As the eligible-datasets endpoint lists it (the tutorial's fields)."""
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "fileDescription": {"persisted": True, "containerFormat": "parquet", "format": "parquet"},
            "aspect": "production",
            "state": "DRAFT",
        }


DATASETS: tuple[Dataset, ...] = (
    Dataset("5ef3e324052581191aa6a466", "AAM Authenticated Profiles Meta Data", 1200),
    Dataset("5ef3e3259ad2a1191ab7dd7d", "AAM Devices Data", 2500),
    Dataset("5ef3e325582424191b1beb42", "AAM Devices Profile Meta Data", 800),
    Dataset("5ef3e328582424191b1beb44", "AAM Realtime", 3100),
    Dataset("5ef3e328fe742a191b2b3ea5", "AAM Realtime Profile Updates", 950),
    Dataset("6a1f00000000000000000001", "Loyalty Members", 1500, description="Profile dataset"),
    Dataset(
        "6a1f00000000000000000002",
        "Web Events",
        4000,
        growth_per_run=120,
        description="Experience event dataset",
    ),
    Dataset("6a1f00000000000000000003", "Email Engagement", 700, description="Experience event dataset"),
    Dataset("6a1f00000000000000000004", "Store Purchases", 1800, description="Experience event dataset"),
    Dataset(
        "6a1f00000000000000000005", "Call Center Interactions", 300, description="Experience event dataset"
    ),
    Dataset("6a1f00000000000000000006", "Product Catalog", 450, description="Lookup dataset"),
    Dataset("6a1f00000000000000000007", "Consent Preferences", 1100, description="Profile dataset"),
)

BY_ID = {d.id: d for d in DATASETS}


def records(dataset: Dataset, start: int, count: int) -> Iterator[dict[str, Any]]:
    """Records ``start`` .. ``start + count - 1`` of a dataset, the same on every call."""
    for i in range(start, start + count):
        digest = hashlib.sha1(f"{dataset.id}:{i}".encode()).hexdigest()
        yield {
            "_id": f"{dataset.id}-{i:07d}",
            "personID": digest[:16],
            "email": f"person{i}@example.com",
            "loyaltyPoints": int(digest[16:20], 16) % 5000,
            "country": ("US", "FR", "DE", "JP", "BR", "IN")[int(digest[20:22], 16) % 6],
            "timestamp": f"2026-01-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
        }
