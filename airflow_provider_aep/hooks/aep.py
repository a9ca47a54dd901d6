"""AEPHook: the only place that speaks HTTP to Adobe Experience Platform.

IMS auth, headers, sandbox, the retry policy, error mapping, paging, and one method per Flow
Service endpoint the tutorials use. Operators never build URLs.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import requests
from airflow.providers.common.compat.sdk import BaseHook

from airflow_provider_aep import __version__
from airflow_provider_aep.assets import ExportLocation, export_location
from airflow_provider_aep.catalog import DATA_LAKE_SPEC_ID, find_destination
from airflow_provider_aep.exceptions import (
    AEPAmbiguousWriteError,
    AEPApiError,
    AEPAuthError,
    AEPError,
    AEPValidationError,
)
from airflow_provider_aep.hooks import ims
from airflow_provider_aep.hooks.audience_mapping import AudienceMappingMixin
from airflow_provider_aep.hooks.connection import (
    AEPConnectionSettings,
    Service,
    dataflow_page_url,
    form_message,
    proxies_for,
)
from airflow_provider_aep.hooks.connection_form import connection_form_widgets, field_behaviour
from airflow_provider_aep.hooks.create_once import CreateOnceMixin
from airflow_provider_aep.hooks.query_service import QueryServiceMixin
from airflow_provider_aep.hooks.responses import (
    continuation_token,
    decode_json,
    raise_if_transient,
    single_entity,
)
from airflow_provider_aep.hooks.retry import (
    RetryableResponse,
    RetryPolicy,
    not_processed,
    retrying,
)
from airflow_provider_aep.hooks.segmentation import SegmentationMixin
from airflow_provider_aep.utils.ids import (
    ENTITY_NAMES,
    EntityKind,
    check_id,
    check_name,
    check_path,
    check_sandbox_name,
    collection,
    entity_path,
    path_segment,
)
from airflow_provider_aep.utils.run_statuses import DEFAULT_FAILURE_STATUSES
from airflow_provider_aep.utils.runs import (
    RUN_CLOCK_SKEW_MS,
    run_filters,
    run_status,
)

USER_AGENT = f"airflow-provider-aep/{__version__}"
JsonDict = dict[str, Any]
#: The Test button answers a person who waits: one try, no backoff.
TEST_RETRY_POLICY = RetryPolicy(max_attempts=1)
#: Seconds Test waits to connect, and at most for an answer.
TEST_CONNECT_TIMEOUT = 5.0
TEST_READ_TIMEOUT = 20.0
#: The Flow Service collections a pipeline creates, reads and deletes.


def _connection_type_info() -> dict[str, Any]:
    from airflow_provider_aep.get_provider_info import get_provider_info

    [info] = get_provider_info()["connection-types"]
    return dict(info)


def quote_etag(etag: str) -> str:
    """AEP etags carry their own double quotes; If-Match must send them quoted."""
    etag = etag.strip()
    return etag if etag.startswith('"') or etag.startswith('W/"') else f'"{etag}"'


class AEPHook(AudienceMappingMixin, SegmentationMixin, QueryServiceMixin, CreateOnceMixin, BaseHook):
    """Talks to the Flow Service with an ``aep`` connection.

    :param aep_conn_id: the Airflow connection (login = client ID, password = client secret,
        host = Platform URL, extra: org_id, sandbox_name, scopes, ims_url).
    :param sandbox_name: overrides the connection's sandbox for every call of this hook.
    :param timeout: (connect, read) seconds for each request; default: 10 s to connect and the
        connection's ``timeout`` extra (60 s) to read.
    :param retry_policy: attempts and total wait for transient failures.
    """

    conn_name_attr = "aep_conn_id"
    default_conn_name = "aep_default"
    conn_type = "aep"
    hook_name = "Adobe Experience Platform"

    def __init__(
        self,
        aep_conn_id: str = default_conn_name,
        *,
        sandbox_name: str | None = None,
        timeout: tuple[float, float] | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        super().__init__()
        self.aep_conn_id = aep_conn_id
        self.sandbox_override = sandbox_name
        self._timeout = timeout
        self.retry_policy = retry_policy or RetryPolicy()

    # -- the connection form on Airflow 3.0/3.1 (3.2+ reads conn-fields from the provider info) --

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The form's extra fields, from the provider info's ``conn-fields`` (Airflow 3.0/3.1).

        :return: WTForms fields by extra name; Airflow 3.2+ reads ``conn-fields`` and never asks.
        """
        return connection_form_widgets(_connection_type_info()["conn-fields"])

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden, relabelled and placeholder fields, from the provider info (Airflow 3.0/3.1).

        :return: ``hidden_fields``, ``relabeling`` and ``placeholders`` of ``ui-field-behaviour``.
        """
        return field_behaviour(_connection_type_info()["ui-field-behaviour"])

    # -- set-up --------------------------------------------------------------------------------

    @cached_property
    def settings(self) -> AEPConnectionSettings:
        return AEPConnectionSettings.from_connection(self.get_connection(self.aep_conn_id))

    @property
    def timeout(self) -> tuple[float, float]:
        return self._timeout or self.settings.timeout

    @property
    def sandbox_name(self) -> str:
        return self.sandbox_override or self.settings.sandbox_name

    def flow_page_url(self, flow_id: str) -> str:
        """Where a person sees this dataflow (the "AEP dataflow" extra link).

        :param flow_id: the dataflow.
        :return: the connection's ``ui_url`` filled in, else the dataflow's page in the AEP UI.
        """
        return dataflow_page_url(self.settings, flow_id, self.sandbox_name)

    @property
    def log(self) -> Any:
        """The hook's logger, every line scrubbed of known secrets and credential shapes."""
        from airflow_provider_aep.utils.scrubbed_logs import scrubbed

        return scrubbed(super().log)

    @cached_property
    def session(self) -> requests.Session:
        """One keep-alive session per hook; it keeps no cookie (AEP is stateless)."""
        from airflow_provider_aep.hooks.cookies import RefuseAllCookies

        session = requests.Session()
        session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        session.cookies.set_policy(RefuseAllCookies())
        return session

    def get_conn(self) -> requests.Session:
        """Airflow's name for the client.

        :return: the hook's keep-alive session (auth headers are added per request).
        """
        return self.session

    def close(self) -> None:
        """Close the session's connections, if it was opened."""
        if "session" in self.__dict__:
            self.session.close()

    # -- auth ------------------------------------------------------------------------------------

    def access_token(self, stale: str | None = None, *, renew: bool = False) -> str:
        """An IMS token for this client, from the process-wide cache.

        :param stale: a token the Platform just refused (401): fetch a new one unless another
            caller already did.
        :param renew: always ask IMS (the connection Test proves the credentials it was given).
        :return: the bearer token.
        """
        settings = self.settings
        return ims.TOKENS.get(ims.cache_key(settings), self._fetch_token, stale=stale, renew=renew)

    def _fetch_token(self) -> ims.AccessToken:
        settings = self.settings
        try:
            for attempt in retrying(self.retry_policy, self.log, f"IMS token request to {settings.ims_url}"):
                with attempt:
                    response = self.session.post(
                        settings.ims_url,
                        data=ims.token_form(settings),
                        timeout=self.timeout,
                        allow_redirects=False,
                        proxies=proxies_for(settings.ims_url),
                    )
                    raise_if_transient(response)
        except RetryableResponse as exhausted:
            raise AEPAuthError(
                exhausted.status, "unavailable", "IMS kept failing; retries exhausted"
            ) from None
        except (requests.ConnectionError, requests.Timeout) as unreachable:
            raise AEPAuthError.unreachable(
                settings.ims_url, f"{type(unreachable).__name__}: {unreachable}"
            ) from None
        body = decode_json(response)
        return ims.parse_token_response(response.status_code, body)

    # -- the one request path ---------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        sandbox_name: str | None = None,
        missing_ok: bool = False,
        idempotent: bool = True,
        service: Service = "flowservice",
    ) -> tuple[int, Any]:
        """Send one Flow Service call with auth, retries and error mapping; (status, JSON body).

        A 401 gets one new token and one more try. ``missing_ok`` turns 404 into (404, None).
        A non-``idempotent`` call (a create) is retried only when AEP certainly did not act on it;
        otherwise it raises AEPAmbiguousWriteError, so the caller can look before it repeats.

        :param method: the HTTP method.
        :param path: the path under the Flow Service, e.g. ``/flows``; ids in it must be encoded
            (``entity_path``).
        :param params: query parameters (pairs, so ``property`` can repeat).
        :param json: the JSON body.
        :param headers: more headers, e.g. ``If-Match``.
        :param sandbox_name: the sandbox for this call instead of the hook's.
        :param missing_ok: answer (404, None) instead of raising on a 404.
        :param idempotent: False for a call that must not be repeated blindly.
        :param service: the Platform API ``path`` lives under (default the Flow Service).
        :return: (HTTP status, decoded JSON body).
        """
        url = self.settings.service_url(service) + check_path(path)
        sandbox_name = check_sandbox_name("sandbox_name", sandbox_name or self.sandbox_name)
        what = f"AEP {method} {path}"
        refreshed = False
        response: requests.Response | None = None
        try:
            for attempt in retrying(self.retry_policy, self.log, what, idempotent=idempotent):
                with attempt:
                    token = self.access_token()
                    response = self._send(method, url, token, params, json, headers, sandbox_name)
                    if response.status_code == 401 and not refreshed:
                        refreshed = True
                        self.log.info(
                            "%s got HTTP 401; asking IMS for a new token and trying once more", what
                        )
                        token = self.access_token(stale=token)
                        response = self._send(method, url, token, params, json, headers, sandbox_name)
                    raise_if_transient(response)
        except RetryableResponse as exhausted:
            if not idempotent and exhausted.status not in (429, 503):
                raise AEPAmbiguousWriteError(
                    method, path, f"HTTP {exhausted.status}", still_running=exhausted.status == 504
                ) from None
            raise AEPApiError.from_response(
                status=exhausted.status,
                method=method,
                path=path,
                body=exhausted.body,
                headers=exhausted.headers,
            ) from None
        except requests.RequestException as err:
            if idempotent or not_processed(err):
                raise
            raise AEPAmbiguousWriteError(
                method, path, type(err).__name__, still_running=isinstance(err, requests.ReadTimeout)
            ) from None
        if response is None:  # the retry loop always sends at least once
            raise AEPError(f"AEP {method} {path}: no response")
        body = decode_json(response)
        if response.status_code == 404 and missing_ok:
            return 404, None
        if response.status_code >= 300:  # AEP does not redirect; one that does is not followed
            raise AEPApiError.from_response(
                status=response.status_code, method=method, path=path, body=body, headers=response.headers
            )
        return response.status_code, body

    def _send(
        self,
        method: str,
        url: str,
        token: str,
        params: Any,
        body: Any,
        extra_headers: Mapping[str, str] | None,
        sandbox_name: str,
    ) -> requests.Response:
        headers = self.settings.platform_headers(token, sandbox_name)
        if body is not None:
            headers["Content-Type"] = "application/json"
        headers.update(extra_headers or {})
        started = time.monotonic()
        # Redirects are not followed: a 3xx could carry the body (credentials) to another host.
        response = self.session.request(
            method,
            url,
            params=params,
            json=body,
            headers=headers,
            timeout=self.timeout,
            allow_redirects=False,
            proxies=proxies_for(url),
        )
        self.log.debug(
            "AEP %s %s -> %s in %.0f ms",
            method,
            urlsplit(url).path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response

    # -- catalog -----------------------------------------------------------------------------------

    def list_connection_specs(self, properties: Iterable[str] = ()) -> list[JsonDict]:
        """The connection specs the sandbox sees (the connection Test reads them).

        :param properties: ``property`` filters, e.g. ``name==Amazon S3``.
        :return: the specs.
        """
        _, body = self.request("GET", "/connectionSpecs", params=[("property", p) for p in properties])
        return list((body or {}).get("items", []))

    def get_connection_spec(self, spec_id: str) -> JsonDict:
        """One connection spec: its auth specs and target params schema.

        :param spec_id: the connection spec id.
        :return: the spec.
        """
        _, body = self.request("GET", f"/connectionSpecs/{path_segment('connection_spec_id', spec_id)}")
        return single_entity(body)

    def get_flow_spec(self, spec_id: str) -> JsonDict:
        """One flow spec: which source and target connection specs it joins.

        :param spec_id: the flow spec id.
        :return: the spec.
        """
        _, body = self.request("GET", f"/flowSpecs/{path_segment('flow_spec_id', spec_id)}")
        return single_entity(body)

    def iter_eligible_datasets(
        self, page_size: int = 100, properties: str = "name,state"
    ) -> Iterator[JsonDict]:
        """Datasets that can be exported, page by page (``pageInfo``), lazily.

        :param page_size: datasets per request, 1 to 100.
        :param properties: the dataset fields AEP returns.
        :return: an iterator of datasets (``id``, ``name``, ...).
        """
        page_size = max(1, min(page_size, 100))
        start = 0
        while True:
            _, body = self.request(
                "GET",
                f"/connectionSpecs/{DATA_LAKE_SPEC_ID}/configs",
                params={
                    "outputType": "activationDatasets",
                    "outputField": "datasets",
                    "start": start,
                    "limit": page_size,
                    "properties": properties,
                },
            )
            items = list((body or {}).get("items", []))
            yield from items
            page = (body or {}).get("pageInfo") or {}
            if not items or not page.get("hasNext"):
                return
            following = int(page.get("end", start + len(items) - 1)) + 1
            if following <= start:  # a page that does not move on would repeat forever
                raise AEPError(f"AEP's dataset listing did not advance past start={start}")
            start = following

    # -- creation ----------------------------------------------------------------------------------

    def create_entity(self, kind: EntityKind, body: Mapping[str, Any]) -> JsonDict:
        """``POST /<kind>``: create an entity, once (a lost answer is not retried blindly).

        :param kind: ``connections``, ``sourceConnections``, ``targetConnections`` or ``flows``.
        :param body: the request body.
        :return: ``{"id", "etag"}`` of what AEP created.
        """
        return self._create(f"/{collection(kind)}", body)

    def _create(self, path: str, body: Mapping[str, Any]) -> JsonDict:
        _, answer = self.request("POST", path, json=dict(body), idempotent=False)
        created = single_entity(answer)
        if not created.get("id"):
            raise AEPError(f"AEP POST {path} answered without an id")
        return {"id": created["id"], "etag": created.get("etag")}

    # -- reading -----------------------------------------------------------------------------------

    def iter_entities(self, kind: EntityKind, properties: Iterable[str] = ()) -> Iterator[JsonDict]:
        """The entities of one collection, all pages, lazily.

        :param kind: ``connections``, ``sourceConnections``, ``targetConnections`` or ``flows``.
        :param properties: ``property`` filters, e.g. ``name==Daily export``.
        :return: an iterator of entities.
        """
        return self._iter_listing(f"/{collection(kind)}", properties, None, None)

    def get_entity(self, kind: EntityKind, entity_id: str) -> JsonDict | None:
        """One entity, if it exists.

        :param kind: the collection, as for :meth:`iter_entities`.
        :param entity_id: the entity's id.
        :return: the entity, or None when it does not exist (any more).
        """
        status, body = self.request("GET", entity_path(kind, entity_id), missing_ok=True)
        return None if status == 404 else single_entity(body)

    def get_flow(self, flow_id: str) -> JsonDict:
        """One dataflow; an error when it does not exist.

        :param flow_id: the dataflow.
        :return: the flow, with its ``etag`` and ``scheduleParams``.
        """
        return self._get_existing("flows", flow_id)

    def export_location(self, flow_id: str, storage_account: str | None = None) -> ExportLocation:
        """Where a dataflow's files land, from its target connection (and base connection hosts).

        :param flow_id: the dataflow.
        :param storage_account: the Azure storage account, which AEP keeps secret.
        :return: the location, named as Airflow's storage providers name it.
        """
        flow = self.get_flow(flow_id)
        [target_id, *_] = flow.get("targetConnectionIds") or [None]
        if not target_id:
            raise AEPError(f"Dataflow {flow_id} has no target connection: nothing says where its files are")
        target = self._get_existing("targetConnections", str(target_id))
        spec_id = str((target.get("connectionSpec") or {}).get("id") or "")
        destination = find_destination(spec_id)
        if destination is None:
            raise AEPError(
                f"Dataflow {flow_id} writes to connection spec {spec_id!r}, which is not a known destination"
            )
        params = dict(target.get("params") or {})
        # Hosts and account names live on the base connection (AEP shows them; it hides secrets).
        needs_base = (
            destination.key == "adls_gen2"
            or "remotePath" in params
            or bool(params.get("container") and not storage_account)
        )
        base_params: dict[str, Any] = {}
        if needs_base and target.get("baseConnectionId"):
            base = self.get_entity("connections", str(target["baseConnectionId"])) or {}
            base_params = dict((base.get("auth") or {}).get("params") or {})
        return export_location(
            destination,
            params,
            base_params,
            sandbox=self.sandbox_name,
            org_id=self.settings.org_id,
            storage_account=storage_account,
        )

    def iter_flows(
        self, properties: Iterable[str] = (), orderby: str | None = None, *, limit: int | None = None
    ) -> Iterator[JsonDict]:
        """Dataflows, all pages, lazily.

        :param properties: ``property`` filters, e.g. ``scheduleParams.endTime<1790000000``.
        :param orderby: e.g. ``-createdAt``.
        :param limit: flows per page, at most 100 (AEP's default page is smaller).
        :return: an iterator of flows.
        """
        return self._iter_listing("/flows", properties, orderby, limit)

    def find_flow_by_name(self, name: str) -> JsonDict:
        """The one dataflow with exactly this name (``GET /flows?property=name==<name>``).

        AEP's filter may ignore case, trims spaces and reads a comma as "or", so the names it
        answers are compared exactly here too; when none matches exactly, the whole listing is
        read once: it finds a name the filter cannot express, and the close names to suggest.

        :param name: the dataflow's name, as AEP shows it.
        :return: the flow.
        :raises AEPValidationError: no dataflow has the name (close names are listed), or
            several have it (their ids are listed).
        """
        check_name("flow_name", name)
        found = [flow for flow in self.iter_flows([f"name=={name}"]) if flow.get("name") == name]
        everything: list[JsonDict] = []
        if not found:
            everything = list(self.iter_flows())
            found = [flow for flow in everything if flow.get("name") == name]
        if len(found) == 1:
            return found[0]
        where = f"in sandbox {self.sandbox_name!r}"
        if found:
            ids = ", ".join(sorted(str(flow.get("id")) for flow in found))
            raise AEPValidationError(
                "flow_name",
                name,
                f"a name only one dataflow has: {len(found)} {where} have it ({ids}); pass flow_id",
            )
        names = sorted({str(flow["name"]) for flow in everything if flow.get("name")})
        close = [n for n in names if n.strip().lower() == name.strip().lower()]
        close += [n for n in difflib.get_close_matches(name, names, n=3, cutoff=0.6) if n not in close]
        hint = "did you mean " + ", ".join(map(repr, close[:3])) + "?" if close else "no name is close to it"
        raise AEPValidationError("flow_name", name, f"the name of a dataflow {where}: none has it; {hint}")

    def users_of(self, kind: EntityKind, entity_id: str) -> list[tuple[EntityKind, str]]:
        """What still references an entity: the dataflows using a source or target connection,
        and the source and target connections built on a base connection.

        AEP lists flows by their connection ids (``property=sourceConnectionIds==<id>``) and
        connections by their base connection (``baseConnectionId==<id>``): a teardown reads
        these before it deletes, so it never pulls a connection from under another pipeline.

        :param kind: ``connections``, ``sourceConnections`` or ``targetConnections``.
        :param entity_id: the connection's id.
        :return: ``(kind, id)`` of each user, sorted.
        """
        check_id("connection_id", entity_id)
        users: list[tuple[EntityKind, str]] = []
        if kind == "connections":
            linked: tuple[EntityKind, ...] = ("sourceConnections", "targetConnections")
            for linked_kind in linked:
                users += [
                    (linked_kind, str(entity["id"]))
                    for entity in self.iter_entities(linked_kind, [f"baseConnectionId=={entity_id}"])
                    if entity.get("baseConnectionId") == entity_id
                ]
            return sorted(users)
        key = {"sourceConnections": "sourceConnectionIds", "targetConnections": "targetConnectionIds"}[kind]
        return sorted(
            ("flows", str(flow["id"]))
            for flow in self.iter_flows([f"{key}=={entity_id}"])
            if entity_id in (flow.get(key) or [])
        )

    def iter_runs(
        self,
        flow_id: str | None = None,
        *,
        properties: Iterable[str] = (),
        orderby: str | None = None,
        limit: int | None = None,
    ) -> Iterator[JsonDict]:
        """Runs, newest first, following ``_links.next`` continuation tokens.

        :param flow_id: only the runs of this dataflow.
        :param properties: more ``property`` filters, e.g. ``createdAt>1790000000000``.
        :param orderby: e.g. ``-createdAt``.
        :param limit: runs per page, at most 100.
        :return: an iterator of runs.
        """
        props = (run_filters(flow_id, None) if flow_id is not None else []) + list(properties)
        return self._iter_listing("/runs", props, orderby, limit)

    def get_run(self, run_id: str) -> JsonDict:
        """One dataflow run, with its status and metrics.

        :param run_id: the run.
        :return: the run.
        """
        return single_entity(self.request("GET", entity_path("runs", run_id))[1])

    def _iter_listing(
        self, path: str, properties: Iterable[str], orderby: str | None, limit: int | None
    ) -> Iterator[JsonDict]:
        params: list[tuple[str, Any]] = [("property", p) for p in properties]
        if orderby:
            params.append(("orderby", orderby))
        if limit:
            params.append(("limit", min(int(limit), 100)))
        seen: set[str] = set()
        while True:
            _, body = self.request("GET", path, params=params)
            yield from (body or {}).get("items", [])
            token = continuation_token(body)
            if not token:
                return
            if token in seen:  # a server that hands out a token twice would loop forever
                raise AEPError(f"AEP GET {path} repeated a continuation token; the listing stops here")
            seen.add(token)
            # Follow the token on our own host: a ``next`` link elsewhere never gets the token.
            params = [p for p in params if p[0] != "continuationToken"] + [("continuationToken", token)]

    # -- changing an entity -------------------------------------------------------------------------

    def update_entity(
        self,
        kind: EntityKind,
        entity_id: str,
        compute: Callable[[JsonDict], Sequence[Mapping[str, Any]]],
        *,
        current: JsonDict | None = None,
        etag: str | None = None,
        attempts: int = 3,
    ) -> JsonDict:
        """Patch an entity with what ``compute(entity)`` says it still lacks, never with a stale patch.

        ``compute`` gets the entity as it is now and returns the JSON Patch operations still
        needed (none: nothing is sent). The PATCH carries ``If-Match``: ``etag`` on the first try
        (e.g. the ``etag`` XCom of ``create_flow``), else the etag of ``current`` (the caller's
        own read) or of a read made here. A 412 (someone changed the entity) or a PATCH whose
        answer was lost (dropped connection, read timeout, 500/502/504) re-reads the entity and
        computes again, so what landed is not sent twice; if something is still missing it goes
        with the fresh etag. Both copies of a patch carry the same etag, so AEP applies at most
        one of them. At most ``attempts`` patches are sent; then an error names the entity and
        the paths it still lacks (never their values: they may be credentials).

        :param kind: ``flows``, ``connections``, ``sourceConnections`` or ``targetConnections``.
        :param entity_id: the entity's id.
        :param compute: the operations the entity, as read, still needs.
        :param current: the entity as the caller just read it (saves a read).
        :param etag: the etag to send with the first PATCH.
        :param attempts: how many PATCHes at most.
        :return: ``{"id", "etag", "entity", "operations", "patched"}``: ``entity`` as last read
            (before the patch), ``operations`` the patch that landed, ``patched`` whether one of
            ours did.
        """
        name = ENTITY_NAMES[kind]
        if current is None or not (etag or current.get("etag")):
            current = self._get_existing(kind, entity_id)
        if_match = etag or current.get("etag")
        maybe_landed = False  # a patch whose answer was lost: the next read tells
        failure: AEPError | None = None
        operations: list[dict[str, Any]] = []
        for attempt in range(attempts + 1):
            operations = [dict(op) for op in compute(current)]
            if not operations:
                return {
                    "id": entity_id,
                    "etag": current.get("etag"),
                    "entity": current,
                    "operations": [],
                    "patched": maybe_landed,
                }
            if attempt == attempts:
                break
            if not if_match:
                raise AEPError(f"{name} {entity_id} has no etag to send with If-Match")
            try:
                answer = self._patch(kind, entity_id, operations, if_match)
                return {**answer, "entity": current, "operations": operations, "patched": True}
            except AEPApiError as err:
                if err.status != 412:
                    raise
                failure = err
                self.log.warning(
                    "%s %s changed since it was read (HTTP 412); reading it again to recompute the patch",
                    name.capitalize(),
                    entity_id,
                )
            except AEPAmbiguousWriteError as err:
                failure, maybe_landed = err, True
                self.log.warning("%s; reading %s %s again to see what landed", err, name, entity_id)
            current = self._get_existing(kind, entity_id)
            if_match = current.get("etag")
        raise self._gave_up(name, entity_id, attempts, failure, operations)

    def _get_existing(self, kind: EntityKind, entity_id: str) -> JsonDict:
        return single_entity(self.request("GET", entity_path(kind, entity_id))[1])

    @staticmethod
    def _gave_up(
        name: str,
        entity_id: str,
        attempts: int,
        failure: AEPError | None,
        operations: Sequence[Mapping[str, Any]],
    ) -> AEPError:
        """The error after the last try: which entity, how often, what it still lacks (paths, no values)."""
        lacking = ", ".join(f"{op.get('op')} {op.get('path')}" for op in operations)
        if isinstance(failure, AEPApiError):
            return AEPApiError(
                status=failure.status,
                method=failure.method,
                path=failure.path,
                code=failure.code,
                title=failure.title,
                detail=f"{name} {entity_id} changed before each of {attempts} patches; it still lacks: {lacking}",
                request_id=failure.request_id,
            )
        return AEPError(
            f"{name.capitalize()} {entity_id}: {attempts} patches got no answer ({failure}) and it still "
            f"lacks: {lacking}. Running the task again is safe: it patches only what is missing."
        )

    def patch_entity(
        self,
        kind: EntityKind,
        entity_id: str,
        operations: Sequence[Mapping[str, Any]],
        etag: str | None = None,
    ) -> JsonDict:
        """JSON Patch with If-Match. Prefer :meth:`update_entity`, which computes the patch.

        The operations go as given on the first try (against ``etag``, or the entity read now).
        After a 412 or a lost answer only those the fresh entity does not show yet are sent (see
        ``unapplied_operations``): the stale patch is never re-applied blindly.

        :param kind: the collection, as for :meth:`update_entity`.
        :param entity_id: the entity's id.
        :param operations: JSON Patch operations.
        :param etag: the etag to send with the first PATCH (else the entity's, read now).
        :return: ``{"id", "etag"}`` of the patched entity.
        """
        from airflow_provider_aep.payloads.patch import unapplied_operations

        wanted = [dict(op) for op in operations]
        tries = 0

        def still_needed(entity: JsonDict) -> list[dict[str, Any]]:
            nonlocal tries
            tries += 1
            return wanted if tries == 1 else unapplied_operations(entity, wanted)

        current = {"id": entity_id, "etag": etag} if etag else None
        done = self.update_entity(kind, entity_id, still_needed, current=current)
        return {"id": done["id"], "etag": done["etag"]}

    def _patch(
        self, kind: EntityKind, entity_id: str, operations: Sequence[Mapping[str, Any]], etag: str
    ) -> JsonDict:
        """One PATCH, not retried when its outcome is unknown: :meth:`update_entity` looks first."""
        _, body = self.request(
            "PATCH",
            entity_path(kind, entity_id),
            json=[dict(op) for op in operations],
            headers={"If-Match": quote_etag(etag)},
            idempotent=False,
        )
        answer = single_entity(body)
        # The tutorial shows 202 with no body, the spec 200 with {id, etag}: accept both.
        return {"id": answer.get("id", entity_id), "etag": answer.get("etag")}

    def enable_flow(self, flow_id: str) -> JsonDict:
        """``POST /flows/{id}/action?op=ENABLE``: the flow runs on its schedule again.

        :param flow_id: the dataflow.
        :return: ``{"id", "etag"}``.
        """
        return self._flow_action(flow_id, "enable")

    def disable_flow(self, flow_id: str) -> JsonDict:
        """``POST /flows/{id}/action?op=DISABLE``: no scheduled run starts until it is enabled.

        :param flow_id: the dataflow.
        :return: ``{"id", "etag"}``.
        """
        return self._flow_action(flow_id, "disable")

    def _flow_action(self, flow_id: str, op: str) -> JsonDict:
        _, body = self.request("POST", entity_path("flows", flow_id) + "/action", params={"op": op})
        answer = single_entity(body)
        return {"id": answer.get("id", flow_id), "etag": answer.get("etag")}

    # -- runs on demand ---------------------------------------------------------------------------

    def start_run(self, flow_id: str, start_time_ms: int | None = None) -> JsonDict:
        """``POST /runs``: start a run of a one-time flow now; ``{"id", "etag"}`` of the run.

        Sent once: when the answer is lost, the runs of the flow that started since the request
        are read, and the one found is adopted instead of starting a second export.

        :param flow_id: the dataflow; AEP takes runs only for flows scheduled for one-time runs.
        :param start_time_ms: when the run starts, epoch milliseconds (AEP's default: now).
        :return: ``{"id", "etag"}`` of the new run.
        """
        body: dict[str, Any] = {"flowId": check_id("flow_id", flow_id)}
        if start_time_ms is not None:
            body["params"] = {"startTime": int(start_time_ms)}
        asked_at_ms = int(time.time() * 1000) - RUN_CLOCK_SKEW_MS
        try:
            _, answer = self.request("POST", "/runs", json=body, idempotent=False)
        except AEPAmbiguousWriteError as err:
            started = self.runs_created_since(flow_id, asked_at_ms)
            if len(started) == 1:
                self.log.warning("%s; the run it started was found: %s", err, started[0].get("id"))
                return {"id": started[0]["id"], "etag": started[0].get("etag")}
            raise AEPError(
                f"{err}. Runs of dataflow {flow_id} started since: {len(started)}; look before starting "
                "another, or the data is exported twice."
            ) from err
        run = single_entity(answer)
        if not run.get("id"):
            raise AEPError("AEP POST /runs answered without an id")
        return {"id": run["id"], "etag": run.get("etag")}

    def runs_created_since(self, flow_id: str, since_ms: int) -> list[JsonDict]:
        """The runs of a flow created at or after a moment, oldest first: what a lost start began.

        :param flow_id: the dataflow.
        :param since_ms: epoch milliseconds.
        :return: the runs, by ``createdAt`` then id.
        """
        runs = [r for r in self.iter_runs(flow_id) if int(r.get("createdAt") or 0) >= since_ms]
        return sorted(runs, key=lambda r: (int(r.get("createdAt") or 0), str(r.get("id"))))

    def retrigger_run(
        self, run_id: str, failure_statuses: Iterable[str] = DEFAULT_FAILURE_STATUSES
    ) -> JsonDict:
        """``POST /runs/{id}/action?op=RE_TRIGGER``: run a failed run again; the run as AEP answers it.

        Sent once. When the answer is lost, or AEP refuses because someone else re-triggered the
        run first, the run is read: one no longer in a failure status counts as re-triggered.
        A refusal of a run still failed whose flow is disabled raises ``AEPDataflowDisabled``
        with AEP's words: no re-trigger will be taken until the flow is enabled.

        :param run_id: the failed run.
        :param failure_statuses: the statuses that count as failed (case-insensitive).
        :return: the run (same id, running again).
        """
        from airflow_provider_aep.exceptions import AEPDataflowDisabled
        from airflow_provider_aep.utils.runs import flow_is_disabled

        failed = {s.lower() for s in failure_statuses}
        path = entity_path("runs", run_id) + "/action"
        try:
            _, answer = self.request("POST", path, params={"op": "RE_TRIGGER"}, idempotent=False)
        except (AEPAmbiguousWriteError, AEPApiError) as err:
            if isinstance(err, AEPApiError) and err.status not in (400, 409):
                raise
            run = self.get_run(run_id)
            if run_status(run).lower() in failed:
                flow_id = str(run.get("flowId") or "")
                if isinstance(err, AEPApiError) and flow_id:
                    try:  # not knowing whether the flow is disabled leaves AEP's error as it is
                        disabled = flow_is_disabled(self.get_flow(flow_id))
                    except AEPError:
                        disabled = False
                    if disabled:
                        raise AEPDataflowDisabled(flow_id, str(err)) from err
                raise err
            self.log.warning("%s; run %s is %s now, so it was re-triggered", err, run_id, run_status(run))
            return run
        return single_entity(answer) if answer else self.get_run(run_id)

    # -- deleting ---------------------------------------------------------------------------------

    def delete_entity(self, kind: EntityKind, entity_id: str, missing_ok: bool = False) -> bool:
        """Delete one entity; AEP refuses to delete a connection a dataflow still uses.

        :param kind: the collection, as for :meth:`iter_entities`.
        :param entity_id: the entity's id.
        :param missing_ok: an entity already gone is no error.
        :return: True when deleted now, False when it was already gone (and ``missing_ok``).
        """
        return self._delete(entity_path(kind, entity_id), missing_ok)

    def _delete(self, path: str, missing_ok: bool) -> bool:
        """True when deleted now, False when it was already gone (and ``missing_ok``). 202 or 204."""
        status, _ = self.request("DELETE", path, missing_ok=missing_ok)
        return status != 404

    # -- UI test button ---------------------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """The connection form's Test button: a token from IMS, then the Platform's connection specs.

        A person waits for the answer, so each side gets one try (no retry, 5 s to connect); a
        refused field is named by its label in the form, not by the throwaway connection id the
        api-server tests under.

        :return: (whether both worked, a message that says which side failed and why, or how
            many connection specs the sandbox sees).
        """
        try:
            settings = self.settings
        except AEPValidationError as err:
            return False, form_message(err)
        except AEPError as err:
            return False, f"Connection settings: {err}"
        saved = self.retry_policy, self._timeout
        self.retry_policy = TEST_RETRY_POLICY
        self._timeout = self._timeout or (TEST_CONNECT_TIMEOUT, min(settings.read_timeout, TEST_READ_TIMEOUT))
        try:
            return self._test_connection(settings)
        finally:
            self.retry_policy, self._timeout = saved

    def _test_connection(self, settings: AEPConnectionSettings) -> tuple[bool, str]:
        try:
            # Never a cached token: Test must prove the credentials in the form, now.
            self.access_token(renew=True)
        except AEPAuthError as err:
            return (
                False,
                f"IMS ({settings.ims_url}) refused the client credentials: HTTP {err.status} {err.error}",
            )
        except requests.RequestException as err:
            return False, f"IMS ({settings.ims_url}) could not be reached: {type(err).__name__}"
        try:
            specs = self.list_connection_specs()
        except AEPApiError as err:
            return (
                False,
                f"Platform ({settings.platform_url}) answered HTTP {err.status}: {err.code or ''} {err.title or ''}".strip(),
            )
        except requests.RequestException as err:
            return False, f"Platform ({settings.platform_url}) could not be reached: {type(err).__name__}"
        except AEPError as err:  # e.g. a sandbox override that is no sandbox name
            return False, str(err)
        return True, f"Connected to sandbox {self.sandbox_name!r}: {len(specs)} connection specs visible"
