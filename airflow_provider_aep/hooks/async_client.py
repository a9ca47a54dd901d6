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
    is_transient,
    retry_after_first_failure,
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
            index = self._pick_lane()
            self.busy[index] += 1
            try:
                yield self.lanes[index]
            finally:
                self.busy[index] -= 1

    async def send(
        self, method: str, url: str, headers: httpx.Headers, timeout: httpx.Timeout, json: Any = None
    ) -> httpx.Response:
        """One request on a lane with a free connection: :meth:`lane` without a context manager
        object per request (thousands wait at once, each holding what it made).

        Once through the gate, the request runs in a task of its own: anyio (under httpcore)
        keeps state for every task that ever sent a request, for as long as the task lives,
        and a trigger's task lives the whole wait. Cancelling the caller cancels the request.
        """
        async with self.gate:
            index = self._pick_lane()
            self.busy[index] += 1
            try:
                return await asyncio.get_running_loop().create_task(
                    self.lanes[index].request(method, url, json=json, headers=headers, timeout=timeout)
                )
            finally:
                self.busy[index] -= 1

    def _pick_lane(self) -> int:
        """The least busy lane; a new one when every open lane is busy and there is room."""
        busy = self.busy
        index = min(range(len(busy)), key=busy.__getitem__) if busy else -1
        if index < 0 or (busy[index] and len(self.lanes) < LANES):
            index = self._open_lane()
        return index

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
        loop = asyncio.get_running_loop()
        shared = self._shared.get(loop)
        if shared is None:  # not setdefault: it makes a weak reference on every call
            shared = self._shared[loop] = {}
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


class _NoCookies(httpx.Cookies):
    """Cookies that are never kept, without looking at the answer: refusing each cookie one by
    one (the jar's policy) made httpx build a urllib request for every answer."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _CookielessClient(httpx.AsyncClient):
    """An httpx client whose cookies are :class:`_NoCookies` (the jar refuses any set anyway)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._none_kept = _NoCookies(CookieJar(policy=RefuseAllCookies()))

    @property
    def cookies(self) -> httpx.Cookies:
        return self._none_kept

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        return None  # none is ever kept


def _new_client(*, trust_env: bool) -> httpx.AsyncClient:
    return _CookielessClient(
        verify=_tls_context(),
        trust_env=trust_env,
        limits=httpx.Limits(max_connections=LANE_CONNECTIONS, max_keepalive_connections=LANE_CONNECTIONS),
        headers={"User-Agent": f"airflow-provider-aep/{__version__}", "Accept": "application/json"},
    )


CLIENTS = SharedClients()

#: Platform headers (token, client id, org, sandbox) → the httpx headers every client sending
#: them shares: httpx would build them for each request, and a copy per client costs memory.
_HEADERS: dict[tuple[str, ...], httpx.Headers] = {}
_HEADERS_KEPT = 64

#: What every client without settings of its own shares: thousands of waits each holding a copy
#: were that many more objects for Python's garbage collector to walk.
_DEFAULT_POLICY = RetryPolicy()


@functools.lru_cache(maxsize=16)
def _timeout(connect: float, read: float) -> httpx.Timeout:
    """The httpx timeout for (connect, read) seconds, one for every client that uses it."""
    return httpx.Timeout(read, connect=connect)


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
        self.retry_policy = retry_policy or _DEFAULT_POLICY
        self.log = scrubbed(logger)
        connect, read = timeout or settings.timeout
        self.timeout = _timeout(connect, read)
        # Plain http to loopback (a local test server) never goes through any proxy the
        # environment names (HTTP_PROXY, ALL_PROXY, ...): httpx then reads none of them.
        self.trust_env = not any(proxies_for(url) for url in (settings.ims_url, settings.platform_url))
        self.transport_key: TransportKey = (settings.platform_url, settings.ims_url, self.trust_env)
        self._shared: SharedTransport | None = None
        self._own: httpx.AsyncClient | None = None
        self._token_key = ims.cache_key(settings)
        #: The last URL this client sent, with its query merged once: a wait sends the same one
        #: (its runs) poll after poll, and merging the query was a good part of a poll. One URL,
        #: kept as text: every object a sleeping wait holds is walked by Python's garbage
        #: collector, and a string is not.
        self._url_key: tuple[str, tuple[tuple[str, Any], ...]] | None = None
        self._url: str | None = None

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
        return await ims.TOKENS.aget(self._token_key, self._fetch_token, stale=stale)

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
        url = self._request_url(self.settings.service_url(service) + check_path(path), params)
        refreshed = False

        async def attempt() -> httpx.Response:
            nonlocal refreshed
            token = await self.access_token()
            response = await self._send(method, url, token, json)
            if response.status_code == 401 and not refreshed:
                refreshed = True
                token = await self.access_token(stale=token)
                response = await self._send(method, url, token, json)
            raise_if_transient(response)
            return response

        try:
            try:
                response = await attempt()
            except Exception as first:
                if not is_transient(first):
                    raise
                response = await retry_after_first_failure(
                    self.retry_policy, self.log, f"AEP {method} {path}", first, attempt
                )
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

    def _request_url(self, url: str, params: Sequence[tuple[str, Any]] | Mapping[str, Any] | None) -> str:
        """``url`` with ``params`` (merged as httpx merges a request's), merged once while a
        caller keeps sending the same pairs (a mapping, which may hold lists, is merged each time)."""
        if isinstance(params, Mapping):
            return str(httpx.URL(url).copy_merge_params(dict(params))) if params else url
        pairs = tuple(params or ())
        key = (url, pairs)
        if self._url is not None and key == self._url_key:
            return self._url
        built = str(httpx.URL(url).copy_merge_params(list(pairs))) if pairs else url
        self._url_key, self._url = key, built
        return built

    def _platform_headers(self, token: str) -> httpx.Headers:
        """The Platform headers for ``token``, built once for every client that sends the same."""
        plain = self.settings.platform_headers(token, self.sandbox_name)
        key = tuple(plain.values())
        headers = _HEADERS.get(key)
        if headers is None:
            if len(_HEADERS) >= _HEADERS_KEPT:
                _HEADERS.clear()
            headers = _HEADERS[key] = httpx.Headers(plain)
        return headers

    async def _send(self, method: str, url: str, token: str, json: Any = None) -> httpx.Response:
        headers = self._platform_headers(token)
        if self._own is None and self._shared is not None:
            return await self._shared.send(method, url, headers, self.timeout, json)
        return await self.http.request(method, url, json=json, headers=headers, timeout=self.timeout)

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
