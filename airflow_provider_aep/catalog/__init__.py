"""The destinations and sources of the AEP tutorials, by readable key.

Pure data: no I/O beyond reading the packaged ``specs.json`` (the connection and flow specs as
the tutorials print them) the first time a spec's schema is needed. Raw spec ids still work
for destinations that are not listed here; they are simply not validated client-side.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from airflow_provider_aep.exceptions import AEPValidationError

Workflow = Literal["datasets", "segments"]
#: What a dataflow exports: Data Lake datasets or Profile Store audiences.
Export = Literal["datasets", "audiences"]
EXPORTS: tuple[Export, ...] = ("datasets", "audiences")

#: Adobe's guide for moving from the legacy audience destinations to the enhanced ones.
MIGRATION_GUIDE_URL = (
    "https://experienceleague.adobe.com/docs/experience-platform/destinations/api/"
    "api-migration-guide-cloud-storage-destinations.html"
)

DATA_LAKE_SPEC_ID = "23598e46-f560-407b-88d5-ea6207e49db0"
PROFILE_STORE_SPEC_ID = "8a9c3494-9708-43d7-ae3f-cda01e5030e1"
SPEC_VERSION = "1.0"


@dataclass(frozen=True)
class AuthSpec:
    """One way to authenticate to a destination: its ``specName`` and parameter schema."""

    name: str
    schema: dict[str, Any]
    #: AEP's auth type: KeyBased, ConnectionString, SFTP, AzureServicePrincipal, ...
    type: str = ""

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(self.schema.get("required", ()))

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(self.schema.get("properties", {}))

    @property
    def secret_params(self) -> frozenset[str]:
        """Parameters AEP marks ``format: password``: never logged, never echoed in errors."""
        props = self.schema.get("properties", {})
        return frozenset(k for k, v in props.items() if v.get("format") == "password")


@dataclass(frozen=True)
class Destination:
    """A destination of the tutorials: what to send to create connections and dataflows to it."""

    key: str
    name: str
    connection_spec_id: str
    flow_spec_id: str
    workflow: Workflow
    location_keys: tuple[str, ...]
    target_mode: str
    aliases: tuple[str, ...] = ()
    #: The audience flow spec of an enhanced cloud-storage destination, which takes audiences
    #: as well as datasets (Adobe's current audience-activation tutorial); None elsewhere.
    audience_flow_spec_id: str | None = None
    #: For a legacy audience destination: the key of the enhanced destination Adobe moved its
    #: users to (see :data:`MIGRATION_GUIDE_URL`).
    replaced_by: str | None = None

    @property
    def export(self) -> Export:
        """What the destination exports when an operator does not say: datasets or audiences."""
        return "datasets" if self.workflow == "datasets" else "audiences"

    @property
    def takes_audiences(self) -> bool:
        return self.workflow == "segments" or self.audience_flow_spec_id is not None

    @property
    def legacy(self) -> bool:
        """A legacy audience destination: it still works, and Adobe migrates its users off it."""
        return self.replaced_by is not None

    def flow_spec_for(self, export: Export) -> str:
        """The flow spec of a dataset export or of an audience activation to this destination."""
        if export == "audiences" and self.workflow == "datasets":
            if self.audience_flow_spec_id is None:
                raise AEPValidationError("export", export, f"{self.name} takes datasets only")
            return self.audience_flow_spec_id
        if export == "datasets" and self.workflow == "segments":
            raise AEPValidationError("export", export, f"{self.name} takes audiences only")
        return self.flow_spec_id

    @property
    def connection_spec(self) -> dict[str, Any]:
        return connection_spec(self.connection_spec_id)

    @property
    def auth_specs(self) -> tuple[AuthSpec, ...]:
        return tuple(
            AuthSpec(a["name"], a["spec"], a.get("type", ""))
            for a in self.connection_spec.get("authSpec", [])
        )

    @property
    def target_schema(self) -> dict[str, Any]:
        return dict(self.connection_spec.get("targetSpec", {}).get("spec", {}))

    def auth_spec(self, name: str) -> AuthSpec:
        for spec in self.auth_specs:
            if spec.name == name:
                return spec
        allowed = ", ".join(repr(s.name) for s in self.auth_specs) or "none (this destination takes no auth)"
        raise AEPValidationError("auth_spec_name", name, f"{self.name} accepts {allowed}")


DESTINATIONS: dict[str, Destination] = {
    d.key: d
    for d in (
        # Dataset export (the dataset-export tutorial).
        Destination(
            "amazon_s3",
            "Amazon S3",
            "4fce964d-3f37-408f-9778-e597338a21ee",
            "269ba276-16fc-47db-92b0-c1049a3c131f",
            "datasets",
            ("bucketName", "path"),
            "Server-to-server",
            ("s3",),
            audience_flow_spec_id="1a0514a6-33d4-4c7f-aff8-594799c47549",
        ),
        Destination(
            "azure_blob",
            "Azure Blob Storage",
            "6d6b59bf-fb58-4107-9064-4d246c0e5bb2",
            "95bd8965-fc8a-4119-b9c3-944c2c2df6d2",
            "datasets",
            ("container", "path"),
            "Server-to-server",
            audience_flow_spec_id="752d422f-b16f-4f0d-b1c6-26e448e3b388",
        ),
        Destination(
            "adls_gen2",
            "Azure Data Lake Gen2",
            "be2c3209-53bc-47e7-ab25-145db8b873e1",
            "17be2013-2549-41ce-96e7-a70363bec293",
            "datasets",
            ("path",),
            "Server-to-server",
            ("adls",),
            audience_flow_spec_id="db060570-a155-418a-a6d3-b4d97698e5dc",
        ),
        Destination(
            "data_landing_zone",
            "Data Landing Zone",
            "10440537-2a7b-4583-ac39-ed38d4b848e8",
            "cd2fc47e-e838-4f38-a581-8fff2f99b63a",
            "datasets",
            ("path",),
            "Server-to-server",
            ("dlz",),
            audience_flow_spec_id="7e635b9f-e59b-4546-8ba8-fce6496693c8",
        ),
        Destination(
            "google_cloud_storage",
            "Google Cloud Storage",
            "c5d93acb-ea8b-4b14-8f53-02138444ae99",
            "585c15c4-6cbf-4126-8f87-e26bff78b657",
            "datasets",
            ("bucketName", "path"),
            "Server-to-server",
            ("gcs",),
            audience_flow_spec_id="976d663b-80b4-4193-be6b-2d0487516623",
        ),
        Destination(
            "sftp",
            "SFTP",
            "36965a81-b1c6-401b-99f8-22508f1e6a26",
            "354d6aad-4754-46e4-a576-1b384561c440",
            "datasets",
            ("remotePath",),
            "Server-to-server",
            audience_flow_spec_id="fd36aaa4-bf2b-43fb-9387-43785eeeb799",
        ),
        # Segment activation to batch destinations (the batch-activation tutorial, legacy specs).
        # Adobe moved the cloud-storage ones to the enhanced destinations above (MIGRATION_GUIDE_URL);
        # the email-marketing destinations have no enhanced form.
        Destination(
            "adobe_campaign",
            "Adobe Campaign",
            "0b23e41a-cb4a-4321-a78f-3b654f5d7d97",
            "71471eba-b620-49e4-90fd-23f1fa0174d8",
            "segments",
            ("bucketName", "path"),
            "S3",
            ("campaign",),
        ),
        Destination(
            "amazon_s3_audiences",
            "Amazon S3",
            "4890fc95-5a1f-4983-94bb-e060c08e3f81",
            "71471eba-b620-49e4-90fd-23f1fa0174d8",
            "segments",
            ("bucketName", "path"),
            "Cloud Storage",
            ("s3_audiences",),
            replaced_by="amazon_s3",
        ),
        Destination(
            "azure_blob_audiences",
            "Azure Blob",
            "e258278b-a4cf-43ac-b158-4fa0ca0d948b",
            "71471eba-b620-49e4-90fd-23f1fa0174d8",
            "segments",
            ("container", "path"),
            "Cloud Storage",
            replaced_by="azure_blob",
        ),
        Destination(
            "oracle_eloqua",
            "Oracle Eloqua",
            "c1e44b6b-e7c8-404b-9031-58f0ef760604",
            "71471eba-b620-49e4-90fd-23f1fa0174d8",
            "segments",
            ("bucketName", "path"),
            "S3",
            ("eloqua",),
        ),
        Destination(
            "oracle_responsys",
            "Oracle Responsys",
            "a5e28ddf-e265-426e-83a1-9d03a3a6822b",
            "51d675ce-e270-408d-91fc-22717bdf2148",
            "segments",
            ("bucketName", "path"),
            "S3",
            ("responsys",),
        ),
        Destination(
            "salesforce_marketing_cloud",
            "Salesforce Marketing Cloud",
            "f599a5b3-60a7-4951-950a-cc4115c7ea27",
            "493b2bd6-26e4-4167-ab3b-5e910bba44f0",
            "segments",
            ("bucketName", "path"),
            "S3",
            ("sfmc",),
        ),
        Destination(
            "sftp_audiences",
            "SFTP",
            "64ef4b8b-a6e0-41b5-9677-3805d1ee5dd0",
            "71471eba-b620-49e4-90fd-23f1fa0174d8",
            "segments",
            ("remotePath",),
            "Cloud Storage",
            replaced_by="sftp",
        ),
    )
}

DATASET_EXPORT_DESTINATIONS = tuple(k for k, d in DESTINATIONS.items() if d.workflow == "datasets")
SEGMENT_DESTINATIONS = tuple(k for k, d in DESTINATIONS.items() if d.workflow == "segments")
#: The enhanced cloud-storage destinations, which take audiences as well as datasets.
ENHANCED_AUDIENCE_DESTINATIONS = tuple(k for k, d in DESTINATIONS.items() if d.audience_flow_spec_id)

_BY_ALIAS = {alias: d for d in DESTINATIONS.values() for alias in (d.key, *d.aliases)}
_BY_SPEC_ID = {d.connection_spec_id: d for d in DESTINATIONS.values()}


def find_destination(key_or_spec_id: str) -> Destination | None:
    """The destination for a readable key, an alias or a connection spec id; None if unknown."""
    return _BY_ALIAS.get(key_or_spec_id.strip().lower()) or _BY_SPEC_ID.get(key_or_spec_id.strip())


def check_export(export: Any) -> Export | None:
    """An operator's ``export``: ``"datasets"``, ``"audiences"`` or None (what the destination does)."""
    if export in (None, ""):
        return None
    if export not in EXPORTS:
        raise AEPValidationError(
            "export", export, "'datasets' or 'audiences' (or None: what the destination does)"
        )
    chosen: Export = export
    return chosen


def did_you_mean(value: Any, workflow: Workflow | None = None) -> list[str]:
    """Catalog keys and aliases close to a mistyped destination (``difflib``), closest first.

    :param value: what was given.
    :param workflow: only destinations of this workflow.
    :return: up to three keys or aliases; empty when none is close.
    """
    if not isinstance(value, str):
        return []
    names = [a for a, d in _BY_ALIAS.items() if workflow is None or d.workflow == workflow]
    return difflib.get_close_matches(value.strip().lower(), names, n=3, cutoff=0.6)


def accepted_destinations(workflow: Workflow | None = None) -> str:
    """The keys a ``destination`` takes, then their aliases: ``amazon_s3, ...; aliases: s3 = amazon_s3, ...``."""
    chosen = [d for d in DESTINATIONS.values() if workflow is None or d.workflow == workflow]
    aliases = ", ".join(f"{a} = {d.key}" for d in chosen for a in d.aliases)
    return ", ".join(d.key for d in chosen) + (f" (aliases: {aliases})" if aliases else "")


def unknown_destination_hint(value: Any, workflow: Workflow | None = None) -> str:
    """What an error about an unknown destination says is allowed: a did-you-mean, then the keys."""
    close = did_you_mean(value, workflow)
    if not close:
        return f"one of {accepted_destinations(workflow)}"
    return f"did you mean {' or '.join(map(repr, close))}? The keys: {accepted_destinations(workflow)}"


def get_destination(key: str, workflow: Workflow | None = None) -> Destination:
    """The destination for ``key``, or an error that suggests close keys and lists those there are."""
    found = find_destination(key)
    if found is None or (workflow and found.workflow != workflow):
        raise AEPValidationError("destination", key, unknown_destination_hint(key, workflow))
    return found


_SPEC_ID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}")


def resolve_destination(destination: Any) -> tuple[str, Destination | None]:
    """An operator's ``destination``: a catalog key, an alias or a raw connection spec id.

    :return: the connection spec id, and the catalog entry (None for a spec id it does not list).
    :raises AEPValidationError: naming ``destination``, with a did-you-mean, for anything else.
    """
    if not isinstance(destination, str) or not destination.strip():
        raise AEPValidationError(
            "destination", destination, "a destination key (e.g. 'amazon_s3') or a connection spec id"
        )
    found = find_destination(destination)
    if found is not None:
        return found.connection_spec_id, found
    if _SPEC_ID.fullmatch(destination.strip()):
        return destination.strip(), None
    raise AEPValidationError(
        "destination", destination, unknown_destination_hint(destination) + ", or a connection spec id"
    )


@cache
def _specs() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("specs.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def connection_spec(spec_id: str) -> dict[str, Any]:
    """The packaged connection spec with this id (as ``GET /connectionSpecs/{id}`` returns it)."""
    for spec in _specs()["connectionSpecs"]:
        if spec["id"] == spec_id:
            return dict(spec)
    raise KeyError(spec_id)


def all_connection_specs() -> list[dict[str, Any]]:
    return [dict(s) for s in _specs()["connectionSpecs"]]


def all_flow_specs() -> list[dict[str, Any]]:
    return [dict(s) for s in _specs()["flowSpecs"]]
