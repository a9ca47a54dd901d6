"""Everything the emulator remembers, in memory and (with ``--state FILE``) on disk.

Entities are kept per sandbox exactly as Flow Service returns them; scheduling bookkeeping sits
beside them under ``meta`` and never leaves the emulator. Base connection credentials as sent
(``credentials``) are kept in memory only: the state file holds their masked form. A state
file that cannot be read whole or is wrongly shaped stops the start
(:class:`~aep_emulator.state_file.StateFileError`), never a 500 per request.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from aep_emulator import credentials, state_file
from aep_emulator.state_file import KINDS


class State:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.data: dict[str, Any] = self._empty()
        #: base connection id → ``{"params": ...}`` as sent (secrets included); never saved.
        self.credentials: dict[str, dict[str, Any]] = {}
        #: The key of the credentials fingerprints (HMAC): made here, never saved or shown.
        self.fingerprint_key = credentials.new_fingerprint_key()
        #: Flows and runs whose bookkeeping was handed out since the run engine last looked:
        #: it reschedules just these instead of scanning every flow and run.
        self._touched: tuple[set[str], set[str]] = (set(), set())
        #: sandbox → flow id → ids of its runs, so listing a flow's runs need not scan them all.
        self._runs_by_flow: dict[str, dict[str, list[str]]] = {}
        self._indexed_runs: dict[str, int] = {}
        if path and path.exists():
            self.data = state_file.load(path, self._empty())

    @staticmethod
    def _empty() -> dict[str, Any]:
        return {"sandboxes": {}, "tokens": {}, "meta": {"flows": {}, "runs": {}}, "requests": []}

    def entities(self, sandbox: str, kind: str) -> dict[str, dict[str, Any]]:
        sandboxes = self.data["sandboxes"]
        box = sandboxes.setdefault(sandbox, {k: {} for k in KINDS})
        entities: dict[str, dict[str, Any]] = box[kind]
        return entities

    def sandboxes(self) -> list[str]:
        return list(self.data["sandboxes"])

    @property
    def tokens(self) -> dict[str, dict[str, Any]]:
        tokens: dict[str, dict[str, Any]] = self.data["tokens"]
        return tokens

    def flow_meta(self, flow_id: str) -> dict[str, Any]:
        """A flow's scheduling bookkeeping, to read or change; the run engine looks at it again."""
        meta: dict[str, Any] = self.data["meta"]["flows"].setdefault(flow_id, {})
        self._touched[0].add(flow_id)
        return meta

    def run_meta(self, run_id: str) -> dict[str, Any]:
        """A run's bookkeeping, to read or change; the run engine looks at it again."""
        meta: dict[str, Any] = self.data["meta"]["runs"].setdefault(run_id, {})
        self._touched[1].add(run_id)
        return meta

    def take_touched(self) -> tuple[set[str], set[str]]:
        """(flow ids, run ids) handed out by flow_meta/run_meta since the last call."""
        touched, self._touched = self._touched, (set(), set())
        return touched

    def runs_of_flows(self, sandbox: str, flow_ids: list[str]) -> list[dict[str, Any]]:
        """The runs of these flows (ids compared as filters compare text: ignoring case), found
        by index; the index is rebuilt when runs came or went unseen."""
        runs = self.entities(sandbox, "runs")
        index = self._runs_by_flow.get(sandbox)
        if index is None or self._indexed_runs.get(sandbox) != len(runs):
            index = self._runs_by_flow[sandbox] = {}
            for run in runs.values():
                index.setdefault(str(run.get("flowId")).lower(), []).append(run["id"])
            self._indexed_runs[sandbox] = len(runs)
        wanted = dict.fromkeys(flow_id.lower() for flow_id in flow_ids)
        found = (runs.get(run_id) for flow_id in wanted for run_id in index.get(flow_id, ()))
        return [run for run in found if run is not None]

    def add_run(self, sandbox: str, run: dict[str, Any]) -> None:
        """Store a new run and index it by its flow."""
        runs = self.entities(sandbox, "runs")
        runs[run["id"]] = run
        index = self._runs_by_flow.get(sandbox)
        if index is not None and self._indexed_runs.get(sandbox) == len(runs) - 1:
            index.setdefault(str(run.get("flowId")).lower(), []).append(run["id"])
            self._indexed_runs[sandbox] = len(runs)

    def log_request(self, entry: dict[str, Any], keep: int = 5000) -> None:
        requests: list[dict[str, Any]] = self.data["requests"]
        requests.append(entry)
        del requests[:-keep]

    def reset(self) -> None:
        with self.lock:
            self.data = self._empty()
            self.credentials = {}
            self._touched = (set(), set())
            self._runs_by_flow, self._indexed_runs = {}, {}
            self.save()

    def save(self) -> None:
        """Write atomically, so a crash never leaves a half-written state file."""
        if not self.path:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.data, handle)
        os.replace(tmp, self.path)


def json_copy(value: Any) -> Any:
    """A deep copy of JSON data (dicts, lists, scalars), several times faster than ``copy.deepcopy``."""
    if isinstance(value, dict):
        return {key: json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_copy(item) for item in value]
    return value


class ReadCopies:
    """The copy a read answers for each run, made once while the run is unchanged.

    Thousands of waits read the same runs every few seconds, and copying each run on every read
    kept the emulator from keeping up. Every change the engine makes to a run (start, finish,
    re-trigger) gives it a new etag, and a state reset or a state file read gives new run
    objects: a copy is reused only for the same run object with the same etag. A copy is shared
    by every read that gets it: the routes serialize it and never change it.
    """

    def __init__(self, state: State) -> None:
        self.state = state
        self._data: dict[str, Any] | None = None
        #: run id → (the run, its etag when copied, the copy).
        self._copies: dict[str, tuple[dict[str, Any], Any, dict[str, Any]]] = {}

    def of(self, run: dict[str, Any]) -> dict[str, Any]:
        """The run as a read answers it (call under the state's lock)."""
        if self.state.data is not self._data:
            self._data = self.state.data
            self._copies.clear()
        key = str(run.get("id"))
        kept = self._copies.get(key)
        if kept is not None and kept[0] is run and kept[1] == run.get("etag"):
            return kept[2]
        copied: dict[str, Any] = json_copy(run)
        self._copies[key] = (run, run.get("etag"), copied)
        return copied
