"""The transport of ``AEPAsyncHook`` (``airflow_provider_aep.hooks.aep_async``): Flow Service
reads over httpx in the triggerer's event loop, never blocking it, on clients the loop shares.

Same settings, headers, token cache and retry policy as AEPHook, so a deferred sensor behaves
like a poking one: Retry-After is honoured, a 401 gets one new token, errors read the same.
Nothing here knows Airflow: the hook reads the connection and hands over its settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from http.cookiejar import CookieJar
from typing import Any

import certifi
import httpx

from airflow_provider_aep import __version__
from airflow_provider_aep.exceptions import AEPApiError, AEPAuthError
from airflow_provider_aep.hooks import ims
from airflow_provider_aep.hooks.connection import AEPConnectionSettings, Service, proxies_for
from airflow_provider_aep.hooks.cookies import RefuseAllCookies
from airflow_provider_aep.hooks.responses import (
    continuation_token,
    decode_json,
    raise_if_transient,
    single_entity,
)
from airflow_provider_aep.hooks.retry import (
    RetryableResponse,
    RetryPolicy,
    async_retrying,
)
from airflow_provider_aep.utils.ids import check_path, check_sandbox_name, entity_path
from airflow_provider_aep.utils.scrubbed_logs import scrubbed

log = scrubbed(logging.getLogger(__name__))


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context per process. Building one reads the CA bundle (about 18 ms and 800 KB):
    per client, a triggerer with 1000 deferred sensors would block its event loop for 18 s."""
    return ssl.create_default_context(cafile=certifi.where())


#: Connections one event loop keeps open to one AEP (and its IMS), however many triggers poll:
#: a triggerer runs all its triggers in one loop, and a socket per trigger would run out of file
#: descriptors (and AEP's patience) long before memory. They are spread over small pools
#: (lanes): httpcore's pool looks at every queued request times every connection each time a
#: request comes or goes, so one pool of 64 with thousands of polls queued costs more CPU than
#: the polls themselves.
LANE_CONNECTIONS = 4
LANES = 16
MAX_CONNECTIONS = LANE_CONNECTIONS * LANES

#: (Platform URL, IMS URL, whether the environment's proxies apply): what the transport depends
#: on. Credentials, sandbox and timeouts travel with each request, so they need no client of their own.
TransportKey = tuple[str, str, bool]


class SharedTransport:
    """The httpx clients (lanes) one event loop uses for one ``TransportKey``.

    At most ``MAX_CONNECTIONS`` requests are under way; the rest wait in a first-come queue
    (a semaphore) that costs nothing per waiter. A lane is opened only when every open one is busy.
    """

    def __init__(self, key: TransportKey) -> None:
        self.key = key
        self.lanes: list[httpx.AsyncClient] = []
        self.busy: list[int] = []
        self.gate = asyncio.Semaphore(MAX_CONNECTIONS)
        self.users = 0

    def first_lane(self) -> httpx.AsyncClient:
        if not self.lanes:
            self._open_lane()
        return self.lanes[0]

    @contextlib.asynccontextmanager
    async def lane(self) -> AsyncIterator[httpx.AsyncClient]:
        """A lane with a free connection, held while the request is under way."""
        async with self.gate:
            index = min(range(len(self.busy)), key=self.busy.__getitem__) if self.busy else -1
            if index < 0 or (self.busy[index] and len(self.lanes) < LANES):
                index = self._open_lane()
            self.busy[index] += 1
            try:
                yield self.lanes[index]
            finally:
                self.busy[index] -= 1

    def _open_lane(self) -> int:
        self.lanes.append(_new_client(trust_env=self.key[2]))
        self.busy.append(0)
        return len(self.lanes) - 1

    async def aclose(self) -> None:
        for http in self.lanes:
            await http.aclose()


class SharedClients:
    """One :class:`SharedTransport` per (running event loop, transport settings), lent to every AsyncAEPClient.

    Keyed by the running loop because an httpx client (its connections, its pool's locks) belongs
    to the loop that opened it; a triggerer may run several loops over its life. The last user to
    leave closes the clients, so nothing outlives the triggers that needed it.
    """

    def __init__(self) -> None:
        self._shared: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[TransportKey, SharedTransport]
        ] = weakref.WeakKeyDictionary()

    def acquire(self, key: TransportKey) -> SharedTransport:
        """The running loop's transport for ``key``, opened on first use; pair with :meth:`release`."""
        shared = self._shared.setdefault(asyncio.get_running_loop(), {})
        transport = shared.get(key)
        if transport is None:
            transport = shared[key] = SharedTransport(key)
        transport.users += 1
        return transport

    async def release(self, transport: SharedTransport) -> None:
        """Give back a transport from :meth:`acquire`; the last user closes it."""
        transport.users -= 1
        if transport.users > 0:
            return
        shared = self._shared.get(asyncio.get_running_loop(), {})
        if shared.get(transport.key) is transport:
            del shared[transport.key]
        await transport.aclose()

    def open_transports(self) -> int:
        """Transports open on the running loop (for tests and benchmarks)."""
        return len(self._shared.get(asyncio.get_running_loop(), {}))


def _new_client(*, trust_env: bool) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=_tls_context(),
        trust_env=trust_env,
        cookies=CookieJar(policy=RefuseAllCookies()),
        limits=httpx.Limits(max_connections=LANE_CONNECTIONS, max_keepalive_connections=LANE_CONNECTIONS),
        headers={"User-Agent": f"airflow-provider-aep/{__version__}", "Accept": "application/json"},
    )


CLIENTS = SharedClients()


class AsyncAEPClient:
    """The run reads of the Flow Service over httpx, for code that runs in an event loop.

    Use it as ``async with AsyncAEPClient(settings) as client:``. Inside the block it borrows the
    running loop's shared httpx clients for these hosts (``CLIENTS``): ten thousand deferred
    sensors share at most ``MAX_CONNECTIONS`` connections and one token; the last one out
    closes them.

    :param settings: the ``aep`` connection, read and checked
        (``AEPConnectionSettings.from_connection``).
    :param sandbox_name: the sandbox instead of the connection's.
    :param timeout: (connect, read) seconds per request; default: the connection's.
    :param retry_policy: attempts and total wait for transient failures; default: as AEPHook.
    :param logger: where retries are logged (the trigger passes its own log).
    """

    def __init__(
        self,
        settings: AEPConnectionSettings,
        *,
        sandbox_name: str | None = None,
        timeout: tuple[float, float] | None = None,
        retry_policy: RetryPolicy | None = None,
        logger: logging.Logger | Any = log,
    ) -> None:
        self.settings = settings
        self.sandbox_name = check_sandbox_name("sandbox_name", sandbox_name or settings.sandbox_name)
        self.retry_policy = retry_policy or RetryPolicy()
        self.log = scrubbed(logger)
        connect, read = timeout or settings.timeout
        self.timeout = httpx.Timeout(read, connect=connect)
        # Plain http to loopback (a local test server) never goes through any proxy the
        # environment names (HTTP_PROXY, ALL_PROXY, ...): httpx then reads none of them.
        self.trust_env = not any(proxies_for(url) for url in (settings.ims_url, settings.platform_url))
        self.transport_key: TransportKey = (settings.platform_url, settings.ims_url, self.trust_env)
        self._shared: SharedTransport | None = None
        self._own: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        """The httpx client requests go through (the loop's first shared lane unless one was set)."""
        if self._own is not None:
            return self._own
        if self._shared is None:
            raise RuntimeError("AsyncAEPClient sends requests only inside `async with`")
        return self._shared.first_lane()

    @http.setter
    def http(self, client: httpx.AsyncClient) -> None:
        self._own = client

    async def __aenter__(self) -> AsyncAEPClient:
        self._shared = CLIENTS.acquire(self.transport_key)
        return self

    async def __aexit__(self, *exc: object) -> None:
        shared, self._shared = self._shared, None
        if shared is not None:
            await CLIENTS.release(shared)

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._own is not None or self._shared is None:
            yield self.http
            return
        async with self._shared.lane() as http:
            yield http

    async def access_token(self, stale: str | None = None) -> str:
        """An IMS token from the process-wide cache that AEPHook shares.

        :param stale: a token the Platform just refused (401): fetch a new one unless another
            caller already did.
        :return: the bearer token.
        """
        return await ims.TOKENS.aget(ims.cache_key(self.settings), self._fetch_token, stale=stale)

    async def _fetch_token(self) -> ims.AccessToken:
        settings = self.settings
        try:
            async for attempt in async_retrying(
                self.retry_policy, self.log, f"IMS token request to {settings.ims_url}"
            ):
                with attempt:
                    async with self._client() as http:
                        response = await http.post(
                            settings.ims_url, data=ims.token_form(settings), timeout=self.timeout
                        )
                    raise_if_transient(response)
        except RetryableResponse as exhausted:
            raise AEPAuthError(
                exhausted.status, "unavailable", "IMS kept failing; retries exhausted"
            ) from None
        except httpx.TransportError as unreachable:
            raise AEPAuthError.unreachable(
                settings.ims_url, f"{type(unreachable).__name__}: {unreachable}"
            ) from None
        return ims.parse_token_response(response.status_code, decode_json(response))

    async def request(
        self,
        method: str,
        path: str,
        params: Sequence[tuple[str, Any]] | Mapping[str, Any] | None = None,
        service: Service = "flowservice",
        json: Any = None,
    ) -> Any:
        """Send one Flow Service call with auth and retries; a 401 gets one new token.

        :param method: the HTTP method.
        :param path: the path under the Flow Service, e.g. ``/runs``.
        :param params: query parameters (pairs, so ``property`` can repeat).
        :param service: the Platform API ``path`` lives under (default the Flow Service).
        :param json: the JSON body of an idempotent change (a cancel), when there is one.
        :return: the JSON body.
        :raises AEPApiError: for an error answer, once retries are exhausted.
        """
        url = self.settings.service_url(service) + check_path(path)
        what = f"AEP {method} {path}"
        refreshed = False
        try:
            async for attempt in async_retrying(self.retry_policy, self.log, what):
                with attempt:
                    token = await self.access_token()
                    response = await self._send(method, url, token, params, json)
                    if response.status_code == 401 and not refreshed:
                        refreshed = True
                        token = await self.access_token(stale=token)
                        response = await self._send(method, url, token, params, json)
                    raise_if_transient(response)
        except RetryableResponse as exhausted:
            raise AEPApiError.from_response(
                status=exhausted.status,
                method=method,
                path=path,
                body=exhausted.body,
                headers=exhausted.headers,
            ) from None
        body = decode_json(response)
        if response.status_code >= 300:  # httpx follows no redirect; AEP sends none
            raise AEPApiError.from_response(
                status=response.status_code, method=method, path=path, body=body, headers=response.headers
            )
        return body

    async def _send(self, method: str, url: str, token: str, params: Any, json: Any = None) -> httpx.Response:
        headers = self.settings.platform_headers(token, self.sandbox_name)
        async with self._client() as http:
            return await http.request(
                method, url, params=params, json=json, headers=headers, timeout=self.timeout
            )

    async def list_runs(
        self, properties: Sequence[str], orderby: str | None = None, max_pages: int = 10
    ) -> list[dict[str, Any]]:
        """Runs matching the filters, following continuation tokens (bounded, for polling).

        :param properties: ``property`` filters, e.g. ``flowId==<id>``.
        :param orderby: e.g. ``-createdAt``.
        :param max_pages: stop after this many pages: a poll must not read the history.
        :return: the runs of the pages read.
        """
        params: list[tuple[str, Any]] = [("property", p) for p in properties]
        if orderby:
            params.append(("orderby", orderby))
        runs: list[dict[str, Any]] = []
        for _ in range(max_pages):
            body = await self.request("GET", "/runs", params) or {}
            runs.extend(body.get("items", []))
            token = continuation_token(body)
            if not token:
                break
            params = [p for p in params if p[0] != "continuationToken"] + [("continuationToken", token)]
        return runs

    async def get_flow(self, flow_id: str) -> dict[str, Any]:
        """One dataflow, for its ``state``.

        :param flow_id: the dataflow.
        :return: the flow.
        """
        return single_entity(await self.request("GET", entity_path("flows", flow_id)))

    async def get_run(self, run_id: str) -> dict[str, Any]:
        """One run, wrapped in ``items`` or not.

        :param run_id: the run.
        :return: the run.
        """
        return single_entity(await self.request("GET", entity_path("runs", run_id)))
