"""Bodies of audience activation to the enhanced cloud-storage destinations (Adobe's current tutorial).

Amazon S3, Azure Blob, ADLS Gen2, Data Landing Zone, Google Cloud Storage and SFTP take audiences
as well as datasets. Compared with the batch-activation tutorial's legacy destinations:

- the target connection says the file type (CSV, JSON, PARQUET), the compression, the CSV
  formatting options and whether a manifest file is written;
- the dataflow starts with the GeneralTransform skeleton (``mandatoryFields``, ``primaryFields``,
  ``profileMapping``, ``segmentSelectors``);
- the columns come from a mapping set (Data Prep): profile attribute or identity -> column
  header, attached to the flow as ``profileMapping``;
- file names take the enhanced macros, all optional (``%DESTINATION%``, ``%SEGMENT_NAME%``, ...).

Every rule is checked here, before any request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_provider_aep.catalog import Destination
from airflow_provider_aep.exceptions import AEPValidationError

FILE_TYPES = ("CSV", "JSON", "PARQUET")
COMPRESSIONS = ("NONE", "GZIP")
TARGET_MODE = "Server-to-server"
PARAMS = "/transformations/0/params"
PROFILE_MAPPING = f"{PARAMS}/profileMapping"
MANDATORY_FIELDS = f"{PARAMS}/mandatoryFields"
PRIMARY_FIELDS = f"{PARAMS}/primaryFields"
#: The union schema's identities are mapped from ``identityMap.<namespace>``.
IDENTITY_PREFIX = "identityMap."
#: A column's source: an XDM attribute path, or an identity namespace (``Phone_E//.164`` escapes a dot).
_SOURCE = re.compile(r"^(identityMap\.([A-Za-z0-9_]|//\.)+|[A-Za-z_]\w*(\.[A-Za-z_]\w*)*)$")
_HEADER = re.compile(r"^[A-Za-z0-9_\-]+$")


def enhanced_general_transform() -> dict[str, Any]:
    """The transformation an audience flow starts with (the tutorial's Blob tab and Adobe's V2
    example); the later PATCHes address ``/transformations/0/params/...`` inside it."""
    return {
        "name": "GeneralTransform",
        "params": {
            "mandatoryFields": [],
            "primaryFields": [],
            "profileMapping": {},
            "segmentSelectors": {"selectors": []},
        },
    }


def csv_option_values(destination: Destination) -> dict[str, tuple[str, ...]]:
    """Each CSV option and the values the destination's target spec allows (its ``oneOf`` consts)."""
    options = destination.target_schema.get("properties", {}).get("csvOptions", {}).get("properties", {})
    return {
        name: tuple(choice["const"] for choice in rule.get("oneOf", ())) for name, rule in options.items()
    }


def audience_target_params(
    destination: Destination,
    location: Mapping[str, Any],
    *,
    file_type: Any,
    compression: Any,
    csv_options: Mapping[str, Any] | None = None,
    include_file_manifest: Any = None,
) -> dict[str, Any]:
    """A target connection's ``params`` for audiences, in the tutorial's order, every option checked.

    :param destination: an enhanced cloud-storage destination of the catalog.
    :param location: its location keys (``bucketName`` and ``path``, ``container``, ``remotePath``).
    :param file_type: ``CSV``, ``JSON`` or ``PARQUET``.
    :param compression: ``NONE`` or ``GZIP``.
    :param csv_options: for CSV only: ``delimiter``, ``quote``, ``escape``, ``nullValue``, ``emptyValue``.
    :param include_file_manifest: True to have AEP write a manifest file next to the exported files.
    """
    if file_type not in FILE_TYPES:
        raise AEPValidationError("file_type", file_type, "one of " + ", ".join(FILE_TYPES))
    if compression not in COMPRESSIONS:
        raise AEPValidationError("compression", compression, "one of " + ", ".join(COMPRESSIONS))
    params: dict[str, Any] = {
        "mode": TARGET_MODE,
        **location,
        "compression": compression,
        "fileType": file_type,
    }
    if include_file_manifest is not None:
        if not isinstance(include_file_manifest, bool):
            raise AEPValidationError("include_file_manifest", include_file_manifest, "True or False")
        params["includeFileManifest"] = include_file_manifest
    if csv_options:
        if file_type != "CSV":
            raise AEPValidationError(
                "csv_options", dict(csv_options), f"CSV options go with file_type CSV, not {file_type}"
            )
        params["csvOptions"] = _checked_csv_options(destination, csv_options)
    return params


def _checked_csv_options(destination: Destination, options: Mapping[str, Any]) -> dict[str, str]:
    if not isinstance(options, Mapping):
        raise AEPValidationError("csv_options", options, "a mapping of CSV options, e.g. {'delimiter': ';'}")
    allowed = csv_option_values(destination)
    for name, value in options.items():
        if name not in allowed:
            raise AEPValidationError("csv_options", name, "options " + ", ".join(allowed))
        if value not in allowed[name]:
            raise AEPValidationError(
                f"csv_options.{name}", value, "one of " + ", ".join(repr(v) for v in allowed[name])
            )
    return dict(options)


def check_columns(columns: Any) -> dict[str, str]:
    """Column header -> profile attribute path (or ``identityMap.<namespace>``), as the mapping set takes them.

    AEP's rules: a header holds no dot, each header once, at most one identity per dataflow.
    """
    if not isinstance(columns, Mapping) or not columns:
        raise AEPValidationError(
            "columns",
            columns,
            "a mapping of column header to attribute, e.g. {'Email': 'personalEmail.address'}",
        )
    identities = []
    for header, source in columns.items():
        if not isinstance(header, str) or not _HEADER.match(header):
            raise AEPValidationError(
                "columns", header, "a column header of letters, digits, _ and - (no dots)"
            )
        if not isinstance(source, str) or not _SOURCE.match(source):
            raise AEPValidationError(
                f"columns[{header!r}]",
                source,
                "an XDM attribute path such as person.name.firstName, or identityMap.<namespace>",
            )
        if source.startswith(IDENTITY_PREFIX):
            identities.append(source)
    if len(identities) > 1:
        raise AEPValidationError(
            "columns", identities, "at most one identity (identityMap.<namespace>) per dataflow"
        )
    return dict(columns)


def columns_from_attributes(paths: Sequence[str]) -> dict[str, str]:
    """Headers for plain attribute paths, as AEP names migrated columns: ``person.name.lastName`` ->
    ``person_name_lastName``."""
    return {path.replace(".", "_"): path for path in paths}


def build_mapping_set(
    input_schema_id: str, output_schema_id: str, columns: Mapping[str, str]
) -> dict[str, Any]:
    """The Data Prep mapping set (``POST /conversion/mappingSets``) that names the exported columns."""
    return {
        "inputSchema": {"id": input_schema_id},
        "outputSchema": {"id": output_schema_id},
        "mappings": [
            {"destination": header, "source": source, "sourceType": "ATTRIBUTE"}
            for header, source in columns.items()
        ],
        "xdmVersion": "1.0",
    }


def columns_of_mapping_set(mapping_set: Mapping[str, Any]) -> dict[str, str]:
    """The columns a mapping set makes (header -> source), to compare with the ones asked for."""
    return {str(m.get("destination")): str(m.get("source")) for m in mapping_set.get("mappings") or []}


def field_operations(
    columns: Mapping[str, str], mandatory_fields: Sequence[str], primary_fields: Sequence[str]
) -> list[dict[str, Any]]:
    """``mandatoryFields`` (column headers) and ``primaryFields`` of an enhanced flow, from attribute paths.

    :raises AEPValidationError: for a path that is not one of the columns.
    """
    headers = {source: header for header, source in columns.items()}
    operations: list[dict[str, Any]] = []
    for field, paths in (("mandatory_fields", mandatory_fields), ("primary_fields", primary_fields)):
        outside = [p for p in paths if p not in headers]
        if outside:
            raise AEPValidationError(
                field, outside, "attributes that are also columns: " + ", ".join(headers)
            )
    if mandatory_fields:
        operations.append(
            {"op": "add", "path": MANDATORY_FIELDS, "value": [headers[p] for p in mandatory_fields]}
        )
    if primary_fields:
        operations.append(
            {"op": "add", "path": PRIMARY_FIELDS, "value": [primary_field(p) for p in primary_fields]}
        )
    return operations


def primary_field(path: str) -> dict[str, str]:
    """A deduplication key: an identity namespace, or an attribute."""
    if path.startswith(IDENTITY_PREFIX):
        return {"identityNamespace": path[len(IDENTITY_PREFIX) :], "fieldType": "IDENTITY"}
    return {"attributePath": path, "fieldType": "ATTRIBUTE"}


def profile_mapping_operation(mapping_set: Mapping[str, Any]) -> dict[str, Any]:
    """The tutorial's last mapping step: the mapping set on the flow."""
    return {
        "op": "add",
        "path": PROFILE_MAPPING,
        "value": {
            "mappingId": str(mapping_set["id"]),
            "mappingVersion": int(mapping_set.get("version") or 0),
        },
    }


def xdm_paths(schema: Mapping[str, Any], prefix: str = "") -> set[str]:
    """Every attribute path of an XDM JSON schema (the union schema), objects and leaves alike."""
    paths: set[str] = set()
    for name, rule in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        paths.add(path)
        if isinstance(rule, Mapping) and rule.get("properties"):
            paths |= xdm_paths(rule, f"{path}.")
    return paths


def unknown_columns(
    columns: Mapping[str, str], union_schema: Mapping[str, Any], namespaces: Sequence[str]
) -> dict[str, str]:
    """The columns whose source neither the union schema nor the sandbox's identity namespaces has."""
    known = xdm_paths(union_schema)
    unknown = {}
    for header, source in columns.items():
        if source.startswith(IDENTITY_PREFIX):
            if source[len(IDENTITY_PREFIX) :].replace("//.", ".") not in namespaces:
                unknown[header] = source
        elif source not in known and not source.startswith("segmentMembership."):
            unknown[header] = source
    return unknown
