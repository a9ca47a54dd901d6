"""The specs the emulator serves and the destinations it writes exports for.

The emulator installs without the provider (and without Airflow), so it carries its own copy of
the provider catalog's data: ``specs.json`` (Adobe's connection and flow specs, as the tutorials
print them) and each destination's key, which names its export folder. The copy is data only;
``tests/unit/test_packaging.py`` keeps it identical to ``airflow_provider_aep/catalog``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

DATA_LAKE_SPEC_ID = "23598e46-f560-407b-88d5-ea6207e49db0"
PROFILE_STORE_SPEC_ID = "8a9c3494-9708-43d7-ae3f-cda01e5030e1"


@dataclass(frozen=True)
class Destination:
    """A destination of the tutorials, as the emulator names its exports."""

    #: The provider catalog's key: the export folder under the sandbox.
    key: str
    #: The connection spec's name: the ``%DESTINATION%`` of activation file names.
    name: str
    workflow: Literal["datasets", "segments"]


#: Connection spec id -> (key, workflow) of the provider catalog's destinations.
_KEYS: dict[str, tuple[str, Literal["datasets", "segments"]]] = {
    "4fce964d-3f37-408f-9778-e597338a21ee": ("amazon_s3", "datasets"),
    "6d6b59bf-fb58-4107-9064-4d246c0e5bb2": ("azure_blob", "datasets"),
    "be2c3209-53bc-47e7-ab25-145db8b873e1": ("adls_gen2", "datasets"),
    "10440537-2a7b-4583-ac39-ed38d4b848e8": ("data_landing_zone", "datasets"),
    "c5d93acb-ea8b-4b14-8f53-02138444ae99": ("google_cloud_storage", "datasets"),
    "36965a81-b1c6-401b-99f8-22508f1e6a26": ("sftp", "datasets"),
    "0b23e41a-cb4a-4321-a78f-3b654f5d7d97": ("adobe_campaign", "segments"),
    "4890fc95-5a1f-4983-94bb-e060c08e3f81": ("amazon_s3_audiences", "segments"),
    "e258278b-a4cf-43ac-b158-4fa0ca0d948b": ("azure_blob_audiences", "segments"),
    "c1e44b6b-e7c8-404b-9031-58f0ef760604": ("oracle_eloqua", "segments"),
    "a5e28ddf-e265-426e-83a1-9d03a3a6822b": ("oracle_responsys", "segments"),
    "f599a5b3-60a7-4951-950a-cc4115c7ea27": ("salesforce_marketing_cloud", "segments"),
    "64ef4b8b-a6e0-41b5-9677-3805d1ee5dd0": ("sftp_audiences", "segments"),
}

#: The dataset-export destinations' keys, in the catalog's order (the demo's choices).
DATASET_EXPORT_DESTINATIONS = tuple(key for key, workflow in _KEYS.values() if workflow == "datasets")


@cache
def _specs() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("specs.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def _partner_schema() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("partner_schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def all_connection_specs() -> list[dict[str, Any]]:
    """The connection specs as AEP answers them: a cloud-storage spec that audiences can be
    exported to also names its partner schema (the output schema of the audience mapping)."""
    specs = [dict(s) for s in _specs()["connectionSpecs"]]
    audience_targets = enhanced_audience_targets()
    for spec in specs:
        if spec["id"] in audience_targets:
            target = dict(spec["targetSpec"])
            target["attributes"] = {
                **target.get("attributes", {}),
                "partnerSchema": {"jsonSchema": _partner_schema()},
            }
            spec["targetSpec"] = target
    return specs


@cache
def enhanced_audience_targets() -> frozenset[str]:
    """The connection specs of the cloud-storage destinations that take both datasets and
    audiences (Adobe's enhanced file-based destinations): a flow spec of each workflow names them."""
    by_workflow: dict[str, set[str]] = {}
    for flow_spec in _specs()["flowSpecs"]:
        by_workflow.setdefault(flow_spec["attributes"]["_workflow"], set()).update(
            flow_spec["targetConnectionSpecIds"]
        )
    return frozenset(by_workflow.get("DATASETS", set()) & by_workflow.get("SEGMENTS", set()))


def is_enhanced_audience_flow(flow_spec: dict[str, Any]) -> bool:
    """An audience flow spec of an enhanced destination: mapping sets, optional file-name macros."""
    return flow_spec["attributes"]["_workflow"] == "SEGMENTS" and bool(
        set(flow_spec["targetConnectionSpecIds"]) & enhanced_audience_targets()
    )


def all_flow_specs() -> list[dict[str, Any]]:
    return [dict(s) for s in _specs()["flowSpecs"]]


@cache
def destinations() -> dict[str, Destination]:
    """Every destination by its connection spec id."""
    names = {s["id"]: s["name"] for s in _specs()["connectionSpecs"]}
    return {spec_id: Destination(key, names[spec_id], workflow) for spec_id, (key, workflow) in _KEYS.items()}


def find_destination(spec_id: str) -> Destination | None:
    """The destination of a connection spec id; None for a spec no destination uses."""
    return destinations().get(spec_id.strip())
