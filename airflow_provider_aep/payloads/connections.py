"""Bodies of ``POST /connections``, ``/sourceConnections`` and ``/targetConnections``.

Each builder gives the body the tutorial shows and validates against the destination's
connection spec first, so bad input fails before any request is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_aep.catalog import (
    DATA_LAKE_SPEC_ID,
    PROFILE_STORE_SPEC_ID,
    SPEC_VERSION,
    Destination,
    find_destination,
)
from airflow_provider_aep.catalog.schema_check import check_params
from airflow_provider_aep.exceptions import AEPValidationError

DATASET_FILE_TYPES = ("JSON", "PARQUET")
COMPRESSIONS = ("GZIP", "NONE")


def spec_ref(spec_id: str) -> dict[str, str]:
    return {"id": spec_id, "version": SPEC_VERSION}


def choose_auth_spec(destination: Destination, auth_params: Mapping[str, Any]) -> str | None:
    """The auth spec the params fit: the only one, or (SFTP) the one whose params were given."""
    specs = destination.auth_specs
    if not specs:
        return None
    if len(specs) == 1:
        return specs[0].name
    given = {k for k, v in auth_params.items() if v is not None}
    fitting = [s.name for s in specs if set(s.required) <= given]
    if len(fitting) == 1:
        return fitting[0]
    allowed = "; ".join(f"{s.name!r} takes {', '.join(s.required)}" for s in specs)
    raise AEPValidationError(
        "auth_spec_name",
        None,
        f"{destination.name} has several auth specs; name one or give exactly its params: {allowed}",
    )


def check_base_connection(
    *,
    connection_spec_id: str,
    auth_spec_name: str | None = None,
    auth_params: Mapping[str, Any] | None = None,
) -> str | None:
    """Check a base connection's credentials against its spec; the auth spec they fit, if any."""
    require_text("connection_spec_id", connection_spec_id)
    params = dict(auth_params or {})
    destination = find_destination(connection_spec_id)
    if destination is None:
        return auth_spec_name
    if auth_spec_name is None:
        auth_spec_name = choose_auth_spec(destination, params)
    if auth_spec_name is not None:
        spec = destination.auth_spec(auth_spec_name)
        unknown = sorted(set(params) - set(spec.params))
        if unknown:
            raise AEPValidationError(
                "auth_params", unknown, f"{auth_spec_name!r} takes only " + ", ".join(spec.params)
            )
        check_params(spec.schema, params, field_prefix="auth_params")
    elif params:
        raise AEPValidationError("auth_params", sorted(params), f"{destination.name} takes no credentials")
    return auth_spec_name


def build_base_connection(
    *,
    name: str,
    connection_spec_id: str,
    auth_spec_name: str | None = None,
    auth_params: Mapping[str, Any] | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """A base connection: the credentials AEP keeps for a destination."""
    require_text("name", name)
    params = dict(auth_params or {})
    auth_spec_name = check_base_connection(
        connection_spec_id=connection_spec_id, auth_spec_name=auth_spec_name, auth_params=params
    )
    body: dict[str, Any] = {"name": name}
    if description:
        body["description"] = description
    if auth_spec_name is not None:
        body["auth"] = {"specName": auth_spec_name, "params": params}
    body["connectionSpec"] = spec_ref(connection_spec_id)
    return body


def build_data_lake_source_connection(
    *, name: str, datasets: Iterable[Mapping[str, Any]], description: str | None = None
) -> dict[str, Any]:
    """The Data Lake source connection: which datasets to export (they cannot change later)."""
    require_text("name", name)
    listed: list[dict[str, Any]] = []
    for i, dataset in enumerate(datasets):
        dataset_id = dataset["dataSetId"] if "dataSetId" in dataset else dataset.get("id")
        if not isinstance(dataset_id, str) or not dataset_id.strip():
            raise AEPValidationError(
                f"datasets[{i}].dataSetId", dataset_id, "a dataset id (a non-empty string)"
            )
        entry = {"dataSetId": dataset_id}
        if dataset.get("name"):
            entry["name"] = str(dataset["name"])
        listed.append(entry)
    if not listed:
        raise AEPValidationError("datasets", [], "at least one dataset")
    duplicates = sorted(
        {d["dataSetId"] for d in listed if sum(x["dataSetId"] == d["dataSetId"] for x in listed) > 1}
    )
    if duplicates:
        raise AEPValidationError("datasets", duplicates, "each dataset once")
    body: dict[str, Any] = {"name": name}
    if description:
        body["description"] = description
    body["connectionSpec"] = spec_ref(DATA_LAKE_SPEC_ID)
    body["params"] = {"datasets": listed}
    return body


def build_profile_store_base_connection(*, name: str, description: str | None = None) -> dict[str, Any]:
    """The Profile Store base connection that segment activation reads from (no auth)."""
    return build_base_connection(name=name, connection_spec_id=PROFILE_STORE_SPEC_ID, description=description)


def build_profile_store_source_connection(
    *, name: str, base_connection_id: str | None, description: str | None = None
) -> dict[str, Any]:
    """The Profile Store source connection of audience activation.

    With a base connection: the batch-activation tutorial's form. Without: the form of Adobe's
    current tutorial, only a name and the spec (AEP supplies the base connection).
    """
    require_text("name", name)
    body: dict[str, Any] = {"name": name}
    if description:
        body["description"] = description
    body["connectionSpec"] = spec_ref(PROFILE_STORE_SPEC_ID)
    if base_connection_id is None:
        return body
    require_text("base_connection_id", base_connection_id)
    body["baseConnectionId"] = base_connection_id
    body["data"] = {"format": "CSV", "schema": None}
    body["params"] = {}
    return body


def check_target_params(connection_spec_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """A target connection's ``params`` checked against its spec, with AEP's defaults filled in."""
    require_text("connection_spec_id", connection_spec_id)
    target = dict(params)
    destination = find_destination(connection_spec_id)
    if destination is None:
        return target
    if destination.audience_flow_spec_id and "fileType" in target and "datasetFileType" not in target:
        # Audiences to an enhanced cloud-storage destination (see payloads.audiences).
        target.setdefault("mode", destination.target_mode)
        check_params(
            destination.target_schema, target, field_prefix="params", skip_required=("datasetFileType",)
        )
    elif destination.workflow == "datasets":
        target.setdefault("mode", destination.target_mode)
        check_dataset_export_format(target.get("datasetFileType"), target.get("compression"))
        # ``fileType`` is required by the spec for audience exports only.
        check_params(destination.target_schema, target, field_prefix="params", skip_required=("fileType",))
    else:
        target.setdefault("mode", storage_mode(destination, target))
        target.setdefault("format", "CSV")
        check_params(destination.target_schema, target, field_prefix="params")
        _check_storage_mode_params(destination, target)
    return target


def build_target_connection(
    *,
    name: str,
    base_connection_id: str,
    connection_spec_id: str,
    params: Mapping[str, Any],
    description: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A target connection: where the files go and in which format."""
    require_text("name", name)
    require_text("base_connection_id", base_connection_id)
    target = check_target_params(connection_spec_id, params)
    destination = find_destination(connection_spec_id)
    body: dict[str, Any] = {"name": name}
    if description:
        body["description"] = description
    body["baseConnectionId"] = base_connection_id
    if data is not None:
        body["data"] = dict(data)
    elif destination is not None and destination.workflow == "segments":
        body["data"] = {"format": "json", "schema": {"id": "1.0", "version": "1.0"}}
    body["params"] = target
    body["connectionSpec"] = spec_ref(connection_spec_id)
    return body


def check_dataset_export_format(dataset_file_type: Any, compression: Any) -> None:
    """JSON or Parquet; GZIP or NONE; JSON exports only compressed (NDJSON ``.json.gz``)."""
    if dataset_file_type not in DATASET_FILE_TYPES:
        raise AEPValidationError(
            "datasetFileType", dataset_file_type, "one of " + ", ".join(DATASET_FILE_TYPES)
        )
    if compression not in COMPRESSIONS:
        raise AEPValidationError("compression", compression, "one of " + ", ".join(COMPRESSIONS))
    if dataset_file_type == "JSON" and compression != "GZIP":
        raise AEPValidationError(
            "compression",
            compression,
            "GZIP: AEP exports JSON only compressed (use PARQUET for uncompressed files)",
        )


def storage_mode(destination: Destination, target: Mapping[str, Any]) -> str:
    """Email-marketing destinations keep files on S3, Azure Blob or SFTP: the location keys tell which."""
    if destination.target_mode not in _STORAGE_LOCATION_KEYS:
        return destination.target_mode
    if target.get("remotePath"):
        return "FTP"
    if target.get("container"):
        return "AZURE_BLOB"
    return "S3"


_STORAGE_LOCATION_KEYS = {
    "S3": ("bucketName", "path"),
    "AZURE_BLOB": ("container", "path"),
    "FTP": ("remotePath",),
}


def storage_location_keys(destination: Destination) -> dict[str, tuple[str, ...]]:
    """Storage mode → its location keys, for the email-marketing destinations (empty for the others)."""
    if destination.target_mode not in _STORAGE_LOCATION_KEYS:
        return {}
    modes = destination.target_schema.get("properties", {}).get("mode", {}).get("enum", ())
    return {mode: _STORAGE_LOCATION_KEYS[mode] for mode in modes if mode in _STORAGE_LOCATION_KEYS}


def _check_storage_mode_params(destination: Destination, target: Mapping[str, Any]) -> None:
    """Email-marketing destinations keep files on S3, Azure Blob or SFTP: the mode's keys must be there."""
    mode = target.get("mode")
    for key in _STORAGE_LOCATION_KEYS.get(str(mode), ()):
        if not target.get(key):
            raise AEPValidationError(
                f"params.{key}", target.get(key), f"a value is required with mode {mode!r}"
            )


def require_text(field: str, value: Any) -> None:
    if not isinstance(value, str) or not value.strip():
        raise AEPValidationError(field, value, "a non-empty string")
