"""Destination credentials from an Airflow connection, mapped to the auth spec's parameter names.

The connection's ``extra`` may hold the AEP names directly (``{"s3AccessKey": ...}``); its
standard fields map per auth spec, so an ``aws``-style connection works for S3 as it is.
Every value is registered with the secret masker the moment it is read.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from airflow_provider_aep.catalog import AuthSpec
from airflow_provider_aep.utils.secrets import mask

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


#: Extras that Airflow's own connection types carry for their hooks (``aws``, ``sftp``/``ssh``,
#: ``wasb``, ``google_cloud_platform``): never AEP auth params, so never sent as such.
STANDARD_EXTRAS = frozenset(
    {
        # aws
        "region_name", "aws_session_token", "role_arn", "assume_role_method", "endpoint_url",
        "config_kwargs", "botocore_config", "profile_name", "verify", "service_config",
        # sftp / ssh
        "no_host_key_check", "key_file", "private_key_passphrase", "host_key", "timeout",
        "conn_timeout", "compress", "allow_host_key_change", "look_for_keys", "ciphers",
        "disabled_algorithms", "host_proxy_cmd",
        # wasb / azure
        "tenant_id", "shared_access_key", "sas_token", "account_name", "client_secret_auth_config",
        "managed_identity_client_id", "workload_identity_tenant_id", "proxies", "use_azure_cli",
        # credentials under their Airflow names: an AEP auth spec names its own
        "aws_access_key_id", "aws_secret_access_key", "external_id", "connection_string",
        "client_id", "client_secret", "api_key",
        # google_cloud_platform
        "project", "key_path", "keyfile_dict", "key_secret_name", "key_secret_project_id", "scope",
        "num_retries", "impersonation_chain", "credential_config_file", "is_anonymous",
    }
)  # fmt: skip
#: Extras of Airflow's connection types that hold what an AEP auth param needs.
EXTRA_MAPS: dict[str, str] = {"private_key": "sshKey"}


def auth_params_from_connection(
    conn: Any, auth_spec_name: str | None, accepted: Collection[str] | None = None
) -> dict[str, Any]:
    """Auth params from a connection: extra by AEP name, then login/password/host by the spec's map.

    With ``accepted`` (the auth spec's params) only those are taken; without it (a raw spec id)
    everything but the standard extras of Airflow's connection types is.
    """
    extra = {
        EXTRA_MAPS.get(str(k), str(k)): v
        for k, v in dict(conn.extra_dejson).items()
        # ``extra__<type>__...`` are the old connection forms' fields: never AEP names.
        if v not in (None, "") and not str(k).startswith("extra__")
    }
    params = {
        k: v
        for k, v in extra.items()
        if (k in accepted if accepted is not None else k not in STANDARD_EXTRAS)
    }
    for field, param in FIELD_MAPS.get(auth_spec_name or "", {}).items():
        value = getattr(conn, field, None)
        if value and param not in params and (accepted is None or param in accepted):
            params[param] = value
    for value in params.values():
        mask(value)  # a nested value (a key file as a dict) is masked leaf by leaf
    return params
