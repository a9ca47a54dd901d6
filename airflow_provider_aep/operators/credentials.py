"""Destination credentials from an Airflow connection, mapped to the auth spec's parameter names.

The connection's ``extra`` may hold the AEP names directly (``{"s3AccessKey": ...}``); its
standard fields map per auth spec, so an ``aws``-style connection works for S3 as it is.
Every value is registered with the secret masker the moment it is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_aep.catalog import AuthSpec
from airflow_provider_aep.hooks.ims import mask

#: auth spec name → connection field → auth param
FIELD_MAPS: dict[str, dict[str, str]] = {
    "Access Key": {"login": "s3AccessKey", "password": "s3SecretKey"},
    "ConnectionString": {"password": "connectionString"},
    "Azure Blob": {"password": "connectionString"},
    "Azure Service Principal Auth": {
        "login": "servicePrincipalId",
        "password": "servicePrincipalKey",
        "host": "url",
    },
    "Google Cloud Storage authentication credentials": {
        "login": "accessKeyId",
        "password": "secretAccessKey",
    },
    "SFTP with Password": {"login": "username", "password": "password", "host": "domain"},
    "SFTP with SSH Key": {"login": "username", "host": "domain"},
    "S3": {"login": "accessId", "password": "secretKey"},
    "Basic Authentication for sftp": {"login": "username", "password": "password", "host": "host"},
    "SSH Key Authentication for sftp": {"login": "username", "host": "host"},
}


#: Airflow connection type → the AEP auth types it most likely holds credentials for.
PREFERRED_AUTH_TYPES: dict[str, tuple[str, ...]] = {
    "aws": ("KeyBased",),
    "s3": ("KeyBased",),
    "sftp": ("SFTP",),
    "ssh": ("SFTP",),
    "wasb": ("ConnectionString",),
    "azure_blob_storage": ("ConnectionString",),
    "adls": ("AzureServicePrincipal",),
    "azure_data_lake": ("AzureServicePrincipal",),
    "google_cloud_platform": ("GoogleCloudStorageAuth",),
}


def rank_auth_specs(specs: Sequence[AuthSpec], conn_type: str | None) -> list[AuthSpec]:
    """Specs matching the connection's type first: SFTP credentials are not tried as S3 keys."""
    preferred = PREFERRED_AUTH_TYPES.get((conn_type or "").lower(), ())
    return sorted(specs, key=lambda spec: spec.type not in preferred)


def auth_params_from_connection(conn: Any, auth_spec_name: str | None) -> dict[str, Any]:
    """Auth params from a connection: extra by AEP name, then login/password/host by the spec's map."""
    params: dict[str, Any] = {k: v for k, v in dict(conn.extra_dejson).items() if v not in (None, "")}
    for field, param in FIELD_MAPS.get(auth_spec_name or "", {}).items():
        value = getattr(conn, field, None)
        if value and param not in params:
            params[param] = value
    for value in params.values():
        if isinstance(value, str) and len(value) >= 5:
            mask(value)
    return params
