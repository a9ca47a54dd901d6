"""Reading a sandbox's dataflows and recent runs for the health page, through the hook, briefly cached.

Two listings make the page, whatever the number of flows, read side by side: ``GET /flows``
(every page of 100) and ``GET /runs`` created in the last few days, newest first, at most
``MAX_RUN_PAGES`` pages of 100.
A flow with no run in that window still shows its ``lastRunDetails`` state. Answers are kept
``CACHE_SECONDS``, one read at a time per connection and sandbox, so a page refreshed by many
people asks AEP once. Read-only: only ``GET`` is ever sent.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any, Generic, TypeVar

from airflow_provider_aep.plugins.flow_health import DAY_MS, FlowHealth, flow_health

#: How long one reading of AEP answers the page.
CACHE_SECONDS = 30.0
#: How long a failed reading answers the page (AEP is down: no one waits out a read again).
FAILURE_CACHE_SECONDS = 10.0
#: Readings kept at most (connections times sandboxes).
MAX_CACHED_KEYS = 64
#: How far back runs are listed (older runs are on the flow's AEP page).
RUN_DAYS = 3
#: At most this many pages of 100 runs; the page says so when there were more.
MAX_RUN_PAGES = 30
RUNS_PER_PAGE = 100
FLOWS_PER_PAGE = 100


@dataclass(frozen=True)
class HealthReport:
    """One reading of a sandbox: its flows' lines, when it was read, whether runs were cut short."""

    conn_id: str
    sandbox: str
    read_at_ms: int
    flows: tuple[FlowHealth, ...]
    runs_read: int
    runs_truncated: bool


def read_health(hook: Any, *, now_ms: int | None = None, runs_hook: Any = None) -> HealthReport:
    """The sandbox's flows and their latest runs, as the page shows them.

    :param hook: an :class:`~airflow_provider_aep.hooks.aep.AEPHook` for the connection and sandbox.
    :param now_ms: the moment to read for (now by default).
    :param runs_hook: a second hook on the same connection: the run listing is then read beside
        the flow listing, in a thread of its own (a requests session is one thread's).
    """
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    since = now_ms - RUN_DAYS * DAY_MS
    cap = MAX_RUN_PAGES * RUNS_PER_PAGE

    def recent_runs(source: Any) -> list[Any]:
        listing = source.iter_runs(
            properties=[f"createdAt>{since}"], orderby="-createdAt", limit=RUNS_PER_PAGE
        )
        return list(islice(listing, cap + 1))

    if runs_hook is None:
        flows = list(hook.iter_flows(limit=FLOWS_PER_PAGE))
        runs = recent_runs(hook)
    else:
        with ThreadPoolExecutor(1) as beside:
            pending = beside.submit(recent_runs, runs_hook)
            flows = list(hook.iter_flows(limit=FLOWS_PER_PAGE))
            runs = pending.result()
    lines = flow_health(flows, runs[:cap], now_ms=now_ms, page_url=hook.flow_page_url)
    return HealthReport(
        conn_id=str(hook.aep_conn_id),
        sandbox=str(hook.sandbox_name),
        read_at_ms=now_ms,
        flows=tuple(lines),
        runs_read=min(len(runs), cap),
        runs_truncated=len(runs) > cap,
    )


Kept = TypeVar("Kept")


class HealthCache(Generic[Kept]):
    """Readings kept for ``seconds``, keyed (by connection and sandbox); one read per key at a time.

    A failed read is kept too (for ``failure_seconds``), so people refreshing a page while AEP
    is down do not each wait out a read of their own; at most ``max_keys`` readings are kept,
    the oldest dropped first.
    """

    def __init__(
        self,
        seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        *,
        failure_seconds: float = FAILURE_CACHE_SECONDS,
        max_keys: int = MAX_CACHED_KEYS,
    ) -> None:
        self.seconds = seconds
        self.failure_seconds = failure_seconds
        self.max_keys = max_keys
        self.clock = clock
        self._kept: OrderedDict[tuple[str, str], tuple[float, Kept | Exception]] = OrderedDict()
        self._locks: dict[tuple[str, str], tuple[threading.Lock, int]] = {}
        self._guard = threading.Lock()

    def get(self, key: tuple[str, str], read: Callable[[], Kept]) -> Kept:
        """The kept reading while it is fresh, else ``read()`` (others asking meanwhile wait for it).

        :raises Exception: what the read raised, also to those who asked within ``failure_seconds``.
        """
        lock = self._hold(key)
        try:
            with lock:
                found = self._fresh(key)
                if found is None:
                    try:
                        found = read()
                    except Exception as err:
                        found = err
                    self._keep(key, found)
        finally:
            self._release(key)
        if isinstance(found, Exception):
            raise found
        return found

    def _fresh(self, key: tuple[str, str]) -> Kept | Exception | None:
        with self._guard:
            kept = self._kept.get(key)
        if kept is None:
            return None
        age = self.clock() - kept[0]
        fresh_for = self.failure_seconds if isinstance(kept[1], Exception) else self.seconds
        return kept[1] if age < fresh_for else None

    def _keep(self, key: tuple[str, str], found: Kept | Exception) -> None:
        with self._guard:
            self._kept[key] = (self.clock(), found)
            self._kept.move_to_end(key)
            while len(self._kept) > self.max_keys:
                self._kept.popitem(last=False)

    def _hold(self, key: tuple[str, str]) -> threading.Lock:
        """The key's lock, counted as in use (it is dropped when no one holds or waits for it)."""
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
            return lock

    def _release(self, key: tuple[str, str]) -> None:
        with self._guard:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def clear(self) -> None:
        with self._guard:
            self._kept.clear()


def read_run_files(
    hook: Any, run_id: str, flow_id: str, storage_account: str | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """Where a run wrote and its files (``{"uri", "path", "records"}``), read from AEP.

    For the task view of a run whose task emitted no asset event (no ``outlets``): the run's
    target summaries name the files, the flow's target connection the folder.
    """
    from airflow_provider_aep.assets import files_of

    location = hook.export_location(flow_id, storage_account)
    files = files_of(hook.get_run(run_id))
    return location.uri, [{"uri": location.file_uri(f["path"]), **f} for f in files]
