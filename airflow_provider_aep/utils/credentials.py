"""Destination credentials from an Airflow connection, mapped to the auth spec's parameter names.

The connection's ``extra`` may hold the AEP names directly (``{"s3AccessKey": ...}``); otherwise
each auth param is read from where Airflow's own connection types keep it (:data:`SOURCES`), so
an ``aws``, ``wasb``, ``adls``, ``azure_data_lake``, ``sftp`` or ``ssh`` connection works as it
is. What cannot be found is reported by the Airflow field to fill, never by a value.
Every value is registered with the secret masker the moment it is read.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_aep.catalog import DESTINATIONS, AuthSpec, Destination, resolve_destination
from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.redaction.secrets import mask


@dataclass(frozen=True)
class ConnectionFields:
    """The parts of an Airflow connection credentials come from (any object with these attributes)."""

    conn_id: str
    conn_type: str
    login: str | None
    password: str | None
    host: str | None
    extra: Mapping[str, Any]

    @classmethod
    def of(cls, conn: Any) -> ConnectionFields:
        return cls(
            conn_id=str(getattr(conn, "conn_id", None) or "?"),
            conn_type=str(getattr(conn, "conn_type", None) or "").lower(),
            login=getattr(conn, "login", None) or None,
            password=getattr(conn, "password", None) or None,
            host=getattr(conn, "host", None) or None,
            extra=dict(getattr(conn, "extra_dejson", None) or {}),
        )

    def extra_field(self, name: str) -> Any:
        """An extra by its Airflow name, or in the old ``extra__<type>__<name>`` form."""
        value = self.extra.get(name)
        if value not in (None, ""):
            return value
        for key, old in self.extra.items():
            if str(key).startswith("extra__") and str(key).endswith(f"__{name}") and old not in (None, ""):
                return old
        return None


@dataclass(frozen=True)
class Source:
    """One place of an Airflow connection an auth param is read from, named as the user fills it."""

    where: str
    read: Callable[[ConnectionFields], Any]


LOGIN = Source("Login", lambda c: c.login)
PASSWORD = Source("Password", lambda c: c.password)
HOST = Source("Host", lambda c: c.host)


def extra(name: str, note: str = "") -> Source:
    return Source(f"Extra → {name}{f' ({note})' if note else ''}", lambda c: c.extra_field(name))


#: Markers of an Azure storage connection string (the Azure portal's "Access keys" → Connection string).
_CONNECTION_STRING_KEYS = (
    "accountkey=",
    "sharedaccesssignature=",
    "blobendpoint=",
    "defaultendpointsprotocol=",
)


def _looks_like_connection_string(value: Any) -> bool:
    return isinstance(value, str) and any(key in value.lower() for key in _CONNECTION_STRING_KEYS)


def _account_name(c: ConnectionFields) -> str | None:
    """The storage account: Login, or the first label of an account URL in Host."""
    if c.login and "." not in c.login and "/" not in c.login:
        return c.login
    if c.host:
        netloc = urlsplit(c.host if "//" in c.host else f"//{c.host}").hostname or ""
        if netloc.endswith(".core.windows.net"):
            return netloc.split(".")[0]
    return None


def _account_key_connection_string(c: ConnectionFields) -> str | None:
    """A wasb connection's shared key (account name + account key) as the connection string AEP takes.

    Not for a service principal (Extra → tenant_id): its Login and Password are no account key.
    """
    if c.extra_field("tenant_id"):
        return None
    key = c.extra_field("shared_access_key") or c.extra_field("account_key") or c.password
    account = _account_name(c)
    if not key or not account or _looks_like_connection_string(key):
        return None
    return f"DefaultEndpointsProtocol=https;AccountName={account};AccountKey={key};EndpointSuffix=core.windows.net"


def _adls_url(value: Any) -> str | None:
    """An ADLS Gen2 endpoint from an account URL or an account name."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if "//" in value:
        return value.rstrip("/")
    if "." in value:  # a host name without its scheme
        return f"https://{value.rstrip('/')}"
    return f"https://{value}.dfs.core.windows.net"


def _pem_as_base64(value: Any) -> Any:
    """AEP takes an SSH key as base64 of the key file; Airflow keeps the key file's text."""
    if isinstance(value, str) and value.lstrip().startswith("-----BEGIN"):
        return base64.b64encode(value.strip().encode("utf-8") + b"\n").decode("ascii")
    return value


_ACCESS_KEY = (LOGIN, extra("aws_access_key_id"))
_SECRET_KEY = (PASSWORD, extra("aws_secret_access_key"))

#: AEP auth param → where an Airflow connection keeps it, in the order they are tried (after
#: the param's own name in Extra, which always wins).
SOURCES: dict[str, tuple[Source, ...]] = {
    # Amazon S3 ("Access Key") and the email-marketing destinations' S3 storage ("S3").
    "s3AccessKey": _ACCESS_KEY,
    "s3SecretKey": _SECRET_KEY,
    "accessId": _ACCESS_KEY,
    "secretKey": _SECRET_KEY,
    # Google Cloud Storage: an HMAC key (Cloud Storage → Settings → Interoperability).
    "accessKeyId": (LOGIN, extra("aws_access_key_id")),
    "secretAccessKey": (PASSWORD, extra("aws_secret_access_key")),
    # Azure Blob Storage.
    "connectionString": (
        extra("connection_string", "the Azure provider's field"),
        Source("Password (a whole connection string)", lambda c: c.password if _looks_like_connection_string(c.password) else None),
        Source(
            "Login (the storage account name) and Password or Extra → shared_access_key (its account key)",
            _account_key_connection_string,
        ),
    ),
    # ADLS Gen2: a service principal.
    "servicePrincipalId": (LOGIN, extra("client_id")),
    "servicePrincipalKey": (PASSWORD, extra("client_secret")),
    "tenant": (extra("tenant_id"), extra("tenant", "the azure_data_lake field, and AEP's name")),
    "url": (
        Source("Host (https://<account>.dfs.core.windows.net, or the account name)", lambda c: _adls_url(c.host)),
        Source("Extra → account_name", lambda c: _adls_url(c.extra_field("account_name"))),
    ),
    # SFTP: the server (``domain`` in the enhanced specs, ``host`` in the legacy ones).
    "domain": (HOST,),
    "host": (HOST,),
    "username": (LOGIN,),
    "password": (PASSWORD,),
    "sshKey": (
        Source("Extra → private_key (the key file's text, unencrypted)", lambda c: c.extra_field("private_key")),
    ),
}  # fmt: skip


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
        # wasb / adls / azure_data_lake
        "tenant_id", "shared_access_key", "sas_token", "account_name", "client_secret_auth_config",
        "managed_identity_client_id", "workload_identity_tenant_id", "proxies", "use_azure_cli",
        "account_key", "account_host",
        # credentials under their Airflow names: an AEP auth spec names its own
        "aws_access_key_id", "aws_secret_access_key", "external_id", "connection_string",
        "client_id", "client_secret", "api_key", "private_key",
        # google_cloud_platform
        "project", "key_path", "keyfile_dict", "key_secret_name", "key_secret_project_id", "scope",
        "num_retries", "impersonation_chain", "credential_config_file", "is_anonymous",
    }
)  # fmt: skip

#: Extras of a ``google_cloud_platform`` connection that hold a service-account key (or point to one).
GCP_KEY_EXTRAS = ("keyfile_dict", "key_path", "key_secret_name", "credential_config_file")


@cache
def _catalog_params(auth_spec_name: str) -> tuple[str, ...]:
    """The params of the catalog's auth specs with this name (for a raw connection spec id)."""
    names: dict[str, None] = {}
    for destination in DESTINATIONS.values():
        for spec in destination.auth_specs:
            if spec.name == auth_spec_name:
                names.update(dict.fromkeys(spec.params))
    return tuple(names)


def auth_params_from_connection(
    conn: Any, auth_spec_name: str | None, accepted: Collection[str] | None = None
) -> dict[str, Any]:
    """Auth params from a connection: extra by AEP name, then the fields :data:`SOURCES` names.

    With ``accepted`` (the auth spec's params) only those are taken; without it (a raw spec id)
    every extra but the standard extras of Airflow's connection types is, and the Airflow fields
    are mapped when the auth spec's name is one the catalog knows.
    """
    fields = ConnectionFields.of(conn)
    by_name = {
        str(k): v
        for k, v in fields.extra.items()
        # ``extra__<type>__...`` are the old connection forms' fields: never AEP names.
        if v not in (None, "") and not str(k).startswith("extra__")
    }
    params = {
        k: v
        for k, v in by_name.items()
        if (k in accepted if accepted is not None else k not in STANDARD_EXTRAS)
    }
    mapped = accepted if accepted is not None else _catalog_params(auth_spec_name or "")
    for param in mapped:
        if param in params:
            continue
        value = next((v for v in (s.read(fields) for s in SOURCES.get(param, ())) if v), None)
        if value:
            params[param] = value
    if "sshKey" in params:
        mask(params["sshKey"])  # the key file's text, before it is encoded
        params["sshKey"] = _pem_as_base64(params["sshKey"])
    for value in params.values():
        mask(value)  # a nested value (a key file as a dict) is masked leaf by leaf
    return params


def auth_from_connection(
    conn: Any, destination: Destination, auth_spec_name: str | None, given: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """The auth spec and its params for ``destination`` from an Airflow connection (and ``given``).

    Several auth specs (SFTP, email marketing): the first the connection fills is used, of those
    matching the connection's type when there are any (an ``sftp`` connection never fills the S3
    spec). None filled: an error naming the connection and the Airflow fields to fill, never a
    value.
    """
    given = dict(given or {})
    fields = ConnectionFields.of(conn)
    preferred = PREFERRED_AUTH_TYPES.get(fields.conn_type, ())
    # An sftp connection's login and password are never tried as S3 keys, nor the reverse.
    specs = (
        [destination.auth_spec(auth_spec_name)]
        if auth_spec_name
        else [s for s in destination.auth_specs if s.type in preferred] or list(destination.auth_specs)
    )
    for spec in specs:
        filled = {**auth_params_from_connection(conn, spec.name, spec.params), **given}
        if set(spec.required) <= set(filled):
            _check_ssh_key_usable(fields, filled, given)
            return spec.name, filled
    raise missing_credentials_error(conn, destination, specs, given)


def _check_ssh_key_usable(
    fields: ConnectionFields, filled: Mapping[str, Any], given: Mapping[str, Any]
) -> None:
    """AEP takes only an SSH key without a passphrase: say so before AEP refuses it."""
    if "sshKey" in filled and "sshKey" not in given and fields.extra_field("private_key_passphrase"):
        raise AEPValidationError(
            "credentials_conn_id",
            fields.conn_id,
            f"connection {fields.conn_id!r} has an SSH key protected by a passphrase "
            "(Extra → private_key_passphrase): AEP takes only a private key without one; "
            "fill Extra → private_key with an unencrypted key",
        )


def where_to_fill(param: str) -> str:
    """The Airflow connection fields an auth param is read from, as a user fills them."""
    places = [s.where for s in SOURCES.get(param, ())]
    if not any(place.startswith(f"Extra → {param}") for place in places):
        places.append(f"Extra → {param} (AEP's name)")
    return ", or ".join(places)


def missing_credentials_error(
    conn: Any, destination: Destination, specs: Sequence[AuthSpec], given: Mapping[str, Any]
) -> AEPValidationError:
    """What to fill in the connection, for each auth spec tried."""
    fields = ConnectionFields.of(conn)
    label = f"connection {fields.conn_id!r}" + (f" ({fields.conn_type})" if fields.conn_type else "")
    if destination.key == "google_cloud_storage" and (
        fields.conn_type == "google_cloud_platform" or any(fields.extra_field(k) for k in GCP_KEY_EXTRAS)
    ):
        return AEPValidationError("credentials_conn_id", fields.conn_id, _gcs_hint(fields, label))
    needs = []
    for spec in specs:
        filled = {**auth_params_from_connection(conn, spec.name, spec.params), **given}
        order = {param: i for i, param in enumerate(spec.params)}
        missing = sorted(
            (p for p in spec.required if p not in filled), key=lambda p: order.get(p, len(order))
        )
        fill = (
            f"fill {where_to_fill(missing[0])}"
            if len(missing) == 1
            else "; ".join(f"{p}: fill {where_to_fill(p)}" for p in missing)
        )
        needs.append(f"no {', '.join(missing)} for {destination.name} ({spec.name!r} auth): {fill}")
    if "connectionString" in " ".join(needs) and fields.extra_field("tenant_id"):
        needs.append(
            "its Login and Password are a service principal (Extra → tenant_id), which AEP's "
            "Azure Blob destinations do not take"
        )
    return AEPValidationError(
        "credentials_conn_id",
        fields.conn_id,
        f"{label} has " + "; and ".join(needs),
    )


def _gcs_hint(fields: ConnectionFields, label: str) -> str:
    held = [k for k in GCP_KEY_EXTRAS if fields.extra_field(k)]
    what = f"{label} holds a service-account key (Extra → {', '.join(held)})" if held else label
    return (
        f"{what}, but AEP's Google Cloud Storage destination takes an HMAC key "
        "(Cloud Storage → Settings → Interoperability), not a service-account key file: fill "
        "Login = the HMAC access ID and Password = the HMAC secret (or Extra → accessKeyId and "
        "secretAccessKey). The google_cloud_platform form hides Login and Password: set them with "
        "`airflow connections add --conn-login ... --conn-password ...` or AIRFLOW_CONN_ JSON, "
        "or use a generic connection"
    )


def auth_params_for(
    destination: str,
    auth_params: Mapping[str, Any] | None,
    credentials_conn_id: str | None,
    auth_spec_name: str | None,
) -> tuple[str | None, dict[str, Any]]:
    """The auth spec name and params of a base connection: the given ones, completed from the
    Airflow connection ``credentials_conn_id``.

    Several auth specs (SFTP, email marketing): the first the connection fills is used, only
    those matching the connection's type (sftp, aws, wasb, ...) tried; a connection that fills
    none is refused, naming the connection and the fields to fill.
    """
    params = dict(auth_params or {})
    if not credentials_conn_id:
        return auth_spec_name, params
    from airflow.providers.common.compat.sdk import BaseHook

    conn = BaseHook.get_connection(credentials_conn_id)
    _, found = resolve_destination(destination)
    if found is None or not found.auth_specs:
        return auth_spec_name, {**auth_params_from_connection(conn, auth_spec_name), **params}
    return auth_from_connection(conn, found, auth_spec_name, params)
