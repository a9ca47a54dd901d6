"""Everything the emulator remembers, in memory and (with ``--state FILE``) on disk.

Entities are kept per sandbox exactly as Flow Service returns them; scheduling bookkeeping sits
beside them under ``_meta`` and never leaves the emulator. Base connection credentials as sent
(``credentials``) are kept in memory only: the state file holds their masked form.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

KINDS = ("connections", "sourceConnections", "targetConnections", "flows", "runs")


class State:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.lock = threading.RLock()
        self.data: dict[str, Any] = self._empty()
        #: base connection id → ``{"params": ...}`` as sent (secrets included); never saved.
        self.credentials: dict[str, dict[str, Any]] = {}
        if path and path.exists():
            self.data.update(json.loads(path.read_text(encoding="utf-8")))

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
        meta: dict[str, Any] = self.data["meta"]["flows"].setdefault(flow_id, {})
        return meta

    def run_meta(self, run_id: str) -> dict[str, Any]:
        meta: dict[str, Any] = self.data["meta"]["runs"].setdefault(run_id, {})
        return meta

    def log_request(self, entry: dict[str, Any], keep: int = 5000) -> None:
        requests: list[dict[str, Any]] = self.data["requests"]
        requests.append(entry)
        del requests[:-keep]

    def reset(self) -> None:
        with self.lock:
            self.data = self._empty()
            self.credentials = {}
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
