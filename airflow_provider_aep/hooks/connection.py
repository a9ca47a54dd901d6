"""What an ``aep`` Airflow connection says, read once and checked.

Shared by the synchronous hook and the asynchronous trigger client so both speak to the same
hosts with the same headers.
"""

from __future__ import annotations

import ipaddress
import json
import string
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit
from urllib.request import getproxies

from urllib3.util import parse_url

from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.redaction.secrets import mask
from airflow_provider_aep.utils.ids import check_sandbox_name

DEFAULT_PLATFORM_URL = "https://platform.adobe.io"
DEFAULT_IMS_URL = "https://ims-na1.adobelogin.com/ims/token/v3"
DEFAULT_SCOPES = "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"
DEFAULT_SANDBOX = "prod"
FLOW_SERVICE_PATH = "/data/foundation/flowservice"

#: The Platform APIs the hook speaks, by the path each lives under.
Service = Literal["flowservice", "segmentation", "activation", "conversion", "identity", "query", "catalog"]
SERVICE_PATHS: dict[str, str] = {
    "flowservice": FLOW_SERVICE_PATH,
    "segmentation": "/data/core/ups",
    "activation": "/data/core/activation",
    "conversion": "/data/foundation/conversion",
    "identity": "/data/core/idnamespace",
    "query": "/data/foundation/query",
    "catalog": "/data/foundation/catalog",
}
AEP_UI = "https://experience.adobe.com"
CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
#: What ``ui_url`` may name; anything else would fail only after a dataflow was created.
UI_URL_PLACEHOLDERS = ("org_id", "sandbox", "flow_id")
#: Each connection field as Airflow's connection form labels it (``get_provider_info``): a
#: message shown in the UI names what the person sees there.
FORM_LABELS = {
    "login": "Client ID",
    "password": "Client secret",
    "host": "Platform URL",
    "port": "Platform port",
    "extra.org_id": "Org ID",
    "extra.sandbox_name": "Sandbox",
    "extra.scopes": "Scopes",
    "extra.timeout": "Read timeout (seconds)",
    "extra.ims_url": "IMS token URL",
    "extra.ui_url": "Dataflow page URL",
}
#: Fields without which there is no connection: an empty one is "required", not "not valid".
REQUIRED_FIELDS = ("login", "password", "extra.org_id")


@dataclass(frozen=True)
class AEPConnectionSettings:
    """An ``aep`` connection, read once and checked: build it with :meth:`from_connection`.

    The client secret never appears in its ``repr``; URLs are https (plain http only to a
    loopback host) by the time it exists.
    """

    client_id: str
    client_secret: str = field(repr=False)
    org_id: str
    sandbox_name: str = DEFAULT_SANDBOX
    scopes: str = DEFAULT_SCOPES
    ims_url: str = DEFAULT_IMS_URL
    platform_url: str = DEFAULT_PLATFORM_URL
    #: Template of a dataflow's page in the AEP UI; ``{org_id}``, ``{sandbox}``, ``{flow_id}``.
    ui_url: str | None = None
    #: Seconds to wait for an answer (extra ``timeout``); past it a read is retried or, for a
    #: create, looked up by name before any retry.
    read_timeout: float = DEFAULT_READ_TIMEOUT
    #: Whether the sensors of this connection sleep while a flow's schedule can start no run
    #: (extra ``schedule_aware_waits``, default true; see ``utils.poll_plan``). A sensor's own
    #: ``schedule_aware`` wins.
    schedule_aware_waits: bool = True

    @property
    def timeout(self) -> tuple[float, float]:
        """(connect, read) seconds, as requests and httpx take them."""
        return (CONNECT_TIMEOUT, self.read_timeout)

    @property
    def flow_service_url(self) -> str:
        return self.service_url("flowservice")

    def service_url(self, service: Service) -> str:
        """The base URL of one Platform API (Flow Service, Segmentation, ad-hoc activation, ...)."""
        return self.platform_url.rstrip("/") + SERVICE_PATHS[service]

    @property
    def org_header(self) -> str:
        """AEP wants ``{ORG}@AdobeOrg``; accept the org id with or without the suffix."""
        return self.org_id if self.org_id.endswith("@AdobeOrg") else f"{self.org_id}@AdobeOrg"

    def platform_headers(self, token: str, sandbox_name: str | None = None) -> dict[str, str]:
        """The headers every Platform call carries (the tutorials' curl examples)."""
        return {
            "Authorization": f"Bearer {token}",
            "x-api-key": self.client_id,
            "x-gw-ims-org-id": self.org_header,
            "x-sandbox-name": sandbox_name or self.sandbox_name,
        }

    @classmethod
    def from_connection(cls, conn: Any) -> AEPConnectionSettings:
        """Build from an Airflow Connection (login, password, host, port, extra)."""
        extra = _extra(conn)
        client_id = (conn.login or "").strip()
        if not client_id:
            raise AEPValidationError(f"connection {conn.conn_id!r} login", conn.login, "the IMS client ID")
        if not conn.password:
            raise AEPValidationError(
                f"connection {conn.conn_id!r} password", None, "the IMS client secret", secret=True
            )
        org_id = str(extra.get("org_id") or "").strip()
        if not org_id:
            raise AEPValidationError(
                f"connection {conn.conn_id!r} extra.org_id",
                extra.get("org_id"),
                "your IMS org id (…@AdobeOrg)",
            )
        scopes = extra.get("scopes") or DEFAULT_SCOPES
        if isinstance(scopes, (list, tuple)):
            scopes = ",".join(scopes)
        where = f"connection {conn.conn_id!r}"
        # Registered before anything can fail: an error text built later is scrubbed of it.
        mask(conn.password)
        return cls(
            client_id=client_id,
            client_secret=conn.password,
            org_id=org_id,
            sandbox_name=check_sandbox_name(
                f"{where} extra.sandbox_name", str(extra.get("sandbox_name") or DEFAULT_SANDBOX)
            ),
            scopes=str(scopes),
            ims_url=require_tls(f"{where} extra.ims_url", str(extra.get("ims_url") or DEFAULT_IMS_URL)),
            platform_url=require_tls(f"{where} host", _platform_url(conn, where)),
            ui_url=_ui_url(f"{where} extra.ui_url", extra.get("ui_url")),
            read_timeout=_read_timeout(conn.conn_id, extra.get("timeout")),
            schedule_aware_waits=_flag(
                f"{where} extra.schedule_aware_waits", extra.get("schedule_aware_waits")
            ),
        )


def form_message(err: AEPValidationError) -> str:
    """A refused connection field as the connection form shows it: its label, not a connection id.

    The Test button checks a copy of the connection under a throwaway id, which means nothing to
    the person at the form; the label and the key (``Org ID (extra.org_id)``) do.
    """
    where, _, key = err.field.rpartition(" ")
    label = FORM_LABELS.get(key)
    if not where.startswith("connection ") or label is None:
        return f"Connection settings: {err}"
    if key in REQUIRED_FIELDS and (key == "password" or err.value in (None, "")):
        return f"{label} ({key}) is required: {err.allowed}"
    return f"{label} ({key}){str(err).removeprefix(err.field)}"


def dataflow_page_url(settings: AEPConnectionSettings, flow_id: str, sandbox_name: str | None = None) -> str:
    """Where a person sees this dataflow: the connection's ``ui_url`` template, else the AEP UI."""
    sandbox = sandbox_name or settings.sandbox_name
    if settings.ui_url:
        return settings.ui_url.format(org_id=settings.org_id, sandbox=sandbox, flow_id=flow_id)
    return f"{AEP_UI}/#/@{settings.org_id}/sname:{sandbox}/platform/destination/browse/dataflows/{flow_id}"


def require_tls(field: str, url: str) -> str:
    """The URL when it is https, or plain http to this machine (a local test server): the client
    secret and the bearer token never cross a network in clear."""
    allowed = "an https:// URL (plain http:// only to a loopback host such as 127.0.0.1)"
    shown = without_password(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise AEPValidationError(field, shown, allowed) from None
    # One reading of the URL for the check and for the HTTP client: no userinfo, no backslash,
    # no blanks, nothing that urllib3 would split at another place than urlsplit does.
    if (
        parts.username is not None
        or any(c in url for c in "\\@ ")
        or any(ord(c) < 33 or ord(c) == 127 for c in url)
        or parse_url(url).host != _bracketed(parts.hostname)
        or port == 0
    ):
        raise AEPValidationError(field, shown, allowed)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and is_loopback(parts.hostname):
        return url
    raise AEPValidationError(field, shown, allowed)


def without_password(url: str) -> str:
    """The URL with the password of its ``user:password@`` replaced by ``***``, read as widely as
    any parser would (up to the first ``/``, ``?`` or ``#`` after the scheme, the last ``@``):
    a refused URL is quoted back, its password never."""
    start = url.find("://")
    start = 0 if start < 0 else start + 3
    end = min((i for i in (url.find(c, start) for c in "/?#") if i >= 0), default=len(url))
    userinfo, at, host = url[start:end].rpartition("@")
    user, colon, _ = userinfo.partition(":")
    if not (at and colon):
        return url
    return f"{url[:start]}{user}:***@{host}{url[end:]}"


def _bracketed(host: str | None) -> str | None:
    """urllib3 keeps IPv6 literals in brackets; urlsplit drops them."""
    return f"[{host}]" if host and ":" in host else host


def proxies_for(url: str) -> dict[str, Any] | None:
    """No proxy at all for plain http to loopback: a proxy would carry the client secret and the
    token off the machine in clear. Elsewhere (https) the environment's proxies apply as usual.

    requests fills in every proxy the environment names (``HTTP_PROXY``, but also ``ALL_PROXY``,
    ``all_proxy``, ``SOCKS_PROXY``...) unless the request sets that key to None, so each is.
    """
    if not is_loopback(urlsplit(url).hostname):
        return None
    return dict.fromkeys({"http", "https", "all", *getproxies()} - {"no"})


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _ui_url(field: str, value: Any) -> str | None:
    """The template, checked now: a bad one must not fail after a dataflow was created."""
    if value in (None, ""):
        return None
    allowed = "a URL template using only " + ", ".join("{" + p + "}" for p in UI_URL_PLACEHOLDERS)
    if not isinstance(value, str):
        raise AEPValidationError(field, value, allowed)
    try:
        fields = [
            (name, spec, conv) for _, name, spec, conv in string.Formatter().parse(value) if name is not None
        ]
    except ValueError:
        raise AEPValidationError(field, value, allowed) from None
    if any(name not in UI_URL_PLACEHOLDERS or spec or conv for name, spec, conv in fields):
        raise AEPValidationError(field, value, allowed)
    if urlsplit(value).scheme not in ("https", "http"):
        raise AEPValidationError(field, value, "an http(s) URL template")
    return value


def _read_timeout(conn_id: str, value: Any) -> float:
    if value in (None, ""):
        return DEFAULT_READ_TIMEOUT
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if not 0 < seconds <= 3600:
        raise AEPValidationError(
            f"connection {conn_id!r} extra.timeout", value, "seconds, above 0 and at most 3600"
        )
    return seconds


def _flag(field: str, value: Any, default: bool = True) -> bool:
    """A yes/no extra: JSON true/false, or the words the connection form stores."""
    if value in (None, ""):
        return default
    if isinstance(value, bool):
        return value
    words = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
    if isinstance(value, (str, int)) and str(value).strip().lower() in words:
        return words[str(value).strip().lower()]
    raise AEPValidationError(field, value, "true or false")


def _extra(conn: Any) -> dict[str, Any]:
    extra = conn.extra_dejson if hasattr(conn, "extra_dejson") else json.loads(conn.extra or "{}")
    # The connection form stores its fields flat; older UIs prefix them.
    return {k.removeprefix("extra__aep__"): v for k, v in dict(extra).items()}


def _platform_url(conn: Any, where: str) -> str:
    """``host`` as a URL, with ``port`` when one is set. A port of 0 is no port: Airflow's
    connection list sends 0 for an empty port, so it must not change the URL."""
    host = (conn.host or "").strip().rstrip("/") or DEFAULT_PLATFORM_URL
    if "://" not in host:
        scheme = conn.schema or "https"
        host = f"{scheme}://{host}"
    port = conn.port
    if port in (None, "", 0, "0"):
        return host
    try:
        parts = urlsplit(host)
        own = parts.port
    except ValueError:
        return host  # require_tls refuses it, naming the host field
    try:
        number = int(port)
    except (TypeError, ValueError):
        number = -1
    if not 0 < number < 65536:
        raise AEPValidationError(f"{where} port", port, "a TCP port, 1 to 65535, or empty")
    if own is not None:
        if own != number:
            raise AEPValidationError(
                f"{where} port", port, f"empty, 0, or the port of the Platform URL {host} ({own})"
            )
        return host
    return urlunsplit(parts._replace(netloc=f"{parts.netloc}:{number}"))
