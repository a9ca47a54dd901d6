"""The fault plan: what the emulator does wrong on purpose, and when.

A rule matches requests by method and path (a glob) and applies to the next ``times`` of them:
answer ``status`` (with ``Retry-After`` for 429/503), add ``latency`` seconds first, or ``drop``
the connection halfway through the response. Plans come from ``--faults`` (a JSON file) and
from ``POST /_emulator/faults``.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FaultRule:
    path: str = "*"
    method: str = "*"
    times: int = 1
    status: int | None = None
    retry_after: float | None = None
    latency: float = 0.0
    drop: bool = False
    hits: int = field(default=0)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        known = {
            k: data[k]
            for k in ("path", "method", "times", "status", "retry_after", "latency", "drop")
            if k in data
        }
        rule = cls(**known)
        if rule.status is None and not rule.drop and not rule.latency:
            raise ValueError("a fault rule needs a status, a latency or drop")
        return rule

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method.upper())) and fnmatch.fnmatchcase(path, self.path)

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "method": self.method,
            "times": self.times,
            "status": self.status,
            "retry_after": self.retry_after,
            "latency": self.latency,
            "drop": self.drop,
            "hits": self.hits,
        }


class FaultPlan:
    def __init__(self, rules: list[dict[str, Any]] | None = None) -> None:
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = [FaultRule.from_dict(r) for r in rules or []]
        #: flow id (or "*") → errors the flow's next run fails with.
        self.failing_runs: dict[str, list[dict[str, str]]] = {}

    def add(self, rule: dict[str, Any]) -> FaultRule:
        parsed = FaultRule.from_dict(rule)
        with self._lock:
            self.rules.append(parsed)
        return parsed

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.failing_runs.clear()

    def take(self, method: str, path: str) -> FaultRule | None:
        """The first live rule for this request, counted as used."""
        with self._lock:
            for rule in self.rules:
                if rule.hits < rule.times and rule.matches(method, path):
                    rule.hits += 1
                    return rule
        return None

    def fail_next_run(self, flow_id: str, errors: list[dict[str, str]] | None = None) -> None:
        with self._lock:
            self.failing_runs[flow_id] = errors or [
                {
                    "code": "CONNECTOR-2001-500",
                    "message": "The destination refused the upload (injected fault)",
                }
            ]

    def take_run_failure(self, flow_id: str) -> list[dict[str, str]] | None:
        with self._lock:
            return self.failing_runs.pop(flow_id, None) or self.failing_runs.pop("*", None)
