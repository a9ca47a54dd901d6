"""AEPAsyncHook: the ``aep`` connection for code that runs in the triggerer's event loop.

It reads the connection without blocking the loop (on every Airflow 3 line) and polls the Flow
Service through :class:`~airflow_provider_aep.hooks.async_client.AsyncAEPClient`, which lends it
the loop's shared httpx clients. The transport stays in that module: it knows nothing of Airflow,
so it is tested and benchmarked on its own. Importing this module loads neither httpx nor tenacity.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseHook, Connection

from airflow_provider_aep.version_compat import AIRFLOW_V_3_1_PLUS

if TYPE_CHECKING:
    from airflow_provider_aep.hooks.async_client import AsyncAEPClient
    from airflow_provider_aep.hooks.connection import AEPConnectionSettings
    from airflow_provider_aep.hooks.retry import RetryPolicy

#: Hooks woken per loop turn when a shared connection read ends: waking ten thousand in one
#: turn held the loop (and every other trigger's answer) for most of a second.
WAKE_PER_TURN = 256


class _SharedRead:
    """One connection read under way, and the hooks waiting for it, woken ``WAKE_PER_TURN`` a turn.

    The read runs as a task of its own, so a hook cancelled while waiting does not cancel it for
    the others.
    """

    __slots__ = ("task", "waiters")

    def __init__(self, task: asyncio.Future[Any]) -> None:
        self.task = task
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        task.add_done_callback(self._wake)

    async def result(self) -> Any:
        """What the read returned (or raised), once it is this hook's turn."""
        if not self.task.done():
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            await waiter
        return self.task.result()

    def _wake(self, _: object = None) -> None:
        waiters = self.waiters
        for _ in range(min(WAKE_PER_TURN, len(waiters))):
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
        if waiters:
            self.task.get_loop().call_soon(self._wake)


#: Connection reads under way, per event loop and connection id: hooks that start together
#: (a triggerer picking up thousands of triggers at once) share one read instead of queueing one each.
_READING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _SharedRead]] = (
    weakref.WeakKeyDictionary()
)


class AEPAsyncHook(BaseHook):
    """The Flow Service run reads, asynchronous, for triggers.

    Use it as ``async with AEPAsyncHook(conn_id) as hook: await hook.list_runs(...)``: entering
    reads the connection (one read shared by every hook of the loop that asks for the same
    connection while it is under way) and borrows the loop's shared httpx clients; leaving gives
    them back. Settings, headers, token cache and retries are those of
    :class:`~airflow_provider_aep.hooks.aep.AEPHook`, so a deferred sensor waits as a poking one.

    :param aep_conn_id: the ``aep`` Airflow connection.
    :param sandbox_name: the sandbox instead of the connection's.
    :param timeout: (connect, read) seconds per request; default: the connection's.
    :param retry_policy: attempts and total wait for transient failures; default: as AEPHook.
    :param logger: where retries are logged (a trigger passes its own log); default: the hook's.
    """

    conn_name_attr = "aep_conn_id"
    default_conn_name = "aep_default"
    conn_type = "aep"
    hook_name = "Adobe Experience Platform (async)"

    def __init__(
        self,
        aep_conn_id: str = default_conn_name,
        *,
        sandbox_name: str | None = None,
        timeout: Sequence[float] | None = None,
        retry_policy: RetryPolicy | None = None,
        logger: Any = None,
    ) -> None:
        super().__init__()
        self.aep_conn_id = aep_conn_id
        self.sandbox_name = sandbox_name
        self.timeout = (float(timeout[0]), float(timeout[1])) if timeout else None
        self.retry_policy = retry_policy
        self.retry_log = logger
        self._client: AsyncAEPClient | None = None

    # -- the connection -------------------------------------------------------------------------

    @classmethod
    async def get_async_connection(cls, conn_id: str) -> Connection:
        """The connection, looked up without blocking or leaving the triggerer's loop.

        Airflow 3.1+ offers ``BaseHook.aget_connection``. On 3.0 the only lookup is the blocking
        ``BaseHook.get_connection``, which talks to the triggerer's supervisor through
        ``async_to_sync``: from a plain thread (``asyncio.to_thread``) that opens a second event
        loop and fails with "attached to a different loop", taking the triggerer down. asgiref's
        ``sync_to_async`` runs it in a thread whose ``async_to_sync`` calls go back to this loop.

        :param conn_id: the Airflow connection id.
        :return: the connection.
        """
        if AIRFLOW_V_3_1_PLUS:
            return await cls.aget_connection(conn_id)
        from asgiref.sync import sync_to_async

        return await sync_to_async(cls.get_connection)(conn_id)

    @classmethod
    async def read_connection(cls, conn_id: str, read: Callable[[Connection], Any]) -> Any:
        """``read(connection)``: the lookup of :meth:`get_async_connection`, then ``read``.

        On Airflow 3.0 ``read`` runs in asgiref's thread too: the connection's ``extra_dejson``
        (and any secret masking) calls the supervisor through ``async_to_sync``, which fails on
        the loop.

        :param conn_id: the Airflow connection id.
        :param read: what to make of the connection (it may mask secrets).
        :return: what ``read`` returned.
        """
        if AIRFLOW_V_3_1_PLUS:
            return read(await cls.get_async_connection(conn_id))
        from asgiref.sync import sync_to_async

        return await sync_to_async(lambda: read(cls.get_connection(conn_id)))()

    async def get_settings(self) -> AEPConnectionSettings:
        """The connection's settings, read once for every hook of this loop waiting on the same read.

        Only a read under way is shared: a hook that starts later reads the connection again, so
        an edited connection is seen as it is now. The read runs as a task of its own, so a
        trigger cancelled while waiting does not cancel it for the others.

        :return: the connection, read and checked.
        """
        loop = asyncio.get_running_loop()
        reading = _READING.get(loop)
        if reading is None:  # not setdefault: it makes a weak reference on every call
            reading = _READING[loop] = {}
        shared = reading.get(self.aep_conn_id)
        if shared is None:
            task = asyncio.ensure_future(self._read_settings())
            shared = reading[self.aep_conn_id] = _SharedRead(task)
            task.add_done_callback(functools.partial(_forget, reading, self.aep_conn_id, shared))
        settings: AEPConnectionSettings = await shared.result()
        return settings

    async def _read_settings(self) -> AEPConnectionSettings:
        from airflow_provider_aep.hooks.connection import AEPConnectionSettings

        return await self.read_connection(self.aep_conn_id, AEPConnectionSettings.from_connection)

    # -- the shared transport -------------------------------------------------------------------

    async def __aenter__(self) -> AEPAsyncHook:
        from airflow_provider_aep.hooks.async_client import AsyncAEPClient

        settings = await self.get_settings()
        client = AsyncAEPClient(
            settings,
            sandbox_name=self.sandbox_name,
            timeout=self.timeout,
            retry_policy=self.retry_policy,
            logger=self.retry_log if self.retry_log is not None else self.log,
        )
        self._client = await client.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.__aexit__(*exc)

    @property
    def client(self) -> AsyncAEPClient:
        """The client requests go through, while the hook is entered (``async with``)."""
        if self._client is None:
            raise RuntimeError("AEPAsyncHook sends requests only inside `async with`")
        return self._client

    # -- the Flow Service reads -----------------------------------------------------------------

    async def list_runs(self, properties: Sequence[str]) -> list[dict[str, Any]]:
        """Runs matching the ``property`` filters, a few pages at most (a poll must not read the history).

        :param properties: ``property`` filters, e.g. ``flowId==<id>``.
        :return: the runs.
        """
        return await self.client.list_runs(properties)

    async def get_run(self, run_id: str) -> dict[str, Any]:
        """One run.

        :param run_id: the run.
        :return: the run.
        """
        return await self.client.get_run(run_id)

    async def get_flow(self, flow_id: str) -> dict[str, Any]:
        """One dataflow, for its ``state`` and schedule.

        :param flow_id: the dataflow.
        :return: the flow.
        """
        return await self.client.get_flow(flow_id)

    # -- the Segmentation API reads, for the segment job trigger --------------------------------

    async def get_segment_job(self, job_id: str) -> dict[str, Any]:
        """One segment job (``GET /data/core/ups/segment/jobs/{id}``), for its status and metrics.

        :param job_id: the segment job.
        :return: the job.
        """
        from airflow_provider_aep.utils.ids import path_segment

        path = f"/segment/jobs/{path_segment('segment_job_id', job_id)}"
        job = await self.client.request("GET", path, service="segmentation")
        return job if isinstance(job, dict) else {}

    async def cancel_segment_job(self, job_id: str) -> bool:
        """Ask AEP to cancel a segment job (``DELETE``); a job already gone is no error.

        :param job_id: the segment job.
        :return: True when AEP took the request, False when the job does not exist (404).
        """
        from airflow_provider_aep.exceptions import AEPApiError
        from airflow_provider_aep.utils.ids import path_segment

        path = f"/segment/jobs/{path_segment('segment_job_id', job_id)}"
        try:
            await self.client.request("DELETE", path, service="segmentation")
        except AEPApiError as err:
            if err.status == 404:
                return False
            raise
        return True

    # -- the Query Service reads, for the query trigger ------------------------------------------

    async def get_query(self, query_id: str) -> dict[str, Any]:
        """One query (``GET /data/foundation/query/queries/{id}``), for its state and row count.

        :param query_id: the query.
        :return: the query.
        """
        from airflow_provider_aep.utils.ids import path_segment

        path = f"/queries/{path_segment('query_id', query_id)}"
        query = await self.client.request("GET", path, service="query")
        return query if isinstance(query, dict) else {}

    async def cancel_query(self, query_id: str) -> bool:
        """Ask AEP to cancel a query (``PATCH {"op": "cancel"}``); gone or already over is no error.

        :param query_id: the query.
        :return: True when AEP took the request.
        """
        from airflow_provider_aep.exceptions import AEPApiError
        from airflow_provider_aep.utils.ids import path_segment

        path = f"/queries/{path_segment('query_id', query_id)}"
        try:
            await self.client.request("PATCH", path, json={"op": "cancel"}, service="query")
        except AEPApiError as err:
            if err.status in (400, 404, 409):
                return False
            raise
        return True


def _forget(
    reading: dict[str, _SharedRead], conn_id: str, shared: _SharedRead, done: asyncio.Future[Any]
) -> None:
    if reading.get(conn_id) is shared:
        del reading[conn_id]
    if not done.cancelled():
        done.exception()  # retrieved: a failed read is reported by the hooks that awaited it
