"""The fault plan: what the emulator does wrong on purpose, and when.

A rule matches requests by method and path (a glob) and applies to the next ``times`` of them:
answer ``status`` (with ``Retry-After`` for 429/503), add ``latency`` seconds first, ``drop``
the connection halfway through the response (``drop_after``: once the request is processed), or
``expire_tokens`` or make a ``concurrent_update`` to the flow before answering; with ``echo``,
the ``status`` answer quotes the request back (its bearer token, its body) as a careless server
would. Plans come from ``--faults`` (a JSON file) and from ``POST /_emulator/faults``.

A rule with ``fail_run_attempts`` is about runs, not requests: every run of its ``flow`` (an id,
or ``*`` for all) fails its first N attempts with ``code`` and ``message``, so a failed run can be
shown to succeed after a ``RE_TRIGGER``.

``{"fail_queries": {...}}`` and ``{"delay_queries": {...}}`` are about Query Service queries
(ad-hoc ones and the runs of scheduled ones): the next ``times`` queries whose SQL contains
``sql_contains`` end FAILED with ``errors``, or stay IN_PROGRESS ``seconds`` longer.
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import asdict, dataclass, field, fields
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
    #: Process the request, then drop the connection before the answer is whole: the entity
    #: exists, but the client cannot know it (a lost response).
    drop_after: bool = False
    #: Expire every issued token before answering: the caller's token runs out mid-DAG.
    expire_tokens: bool = False
    #: Another writer updates the flow in the path first: its etag changes, so If-Match fails.
    concurrent_update: bool = False
    #: With ``status``: the error quotes the request (Authorization, client secret, credentials),
    #: so a client can prove it keeps what a server echoes out of its errors and logs.
    echo: bool = False

    hits: int = field(default=0)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        settable = {f.name for f in fields(cls)} - {"hits"}
        unknown = set(data) - settable
        if unknown:
            raise ValueError(f"unknown fault rule keys: {', '.join(sorted(unknown))}")
        for key, value in data.items():
            if not _typed(key, value):
                raise ValueError(f"fault rule key {key!r} has a value of the wrong type: {value!r}")
        rule = cls(**data)
        actions = (rule.drop, rule.drop_after, rule.latency, rule.expire_tokens, rule.concurrent_update)
        if rule.status is None and not any(actions):
            raise ValueError(
                "a fault rule needs a status, a latency, drop, drop_after, expire_tokens or concurrent_update"
            )

        return rule

    def matches(self, method: str, path: str) -> bool:
        return (self.method in ("*", method.upper())) and fnmatch.fnmatchcase(path, self.path)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunFailureRule:
    """The runs of ``flow`` fail their first ``fail_run_attempts`` attempts with ``code``."""

    fail_run_attempts: int
    flow: str = "*"
    code: str = "CONNECTOR-2001-500"
    message: str = "The destination refused the upload (injected fault)"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunFailureRule:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown run fault rule keys: {', '.join(sorted(unknown))}")
        attempts = data.get("fail_run_attempts")
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ValueError(f"fail_run_attempts must be a whole number of at least 1, not {attempts!r}")
        for key in ("flow", "code", "message"):
            if key in data and (not isinstance(data[key], str) or not data[key]):
                raise ValueError(f"run fault rule key {key!r} must be a non-empty string")
        return cls(**data)

    def errors_for(self, flow_id: str, attempt: int) -> list[dict[str, str]] | None:
        if self.flow in ("*", flow_id) and attempt <= self.fail_run_attempts:
            return [{"code": self.code, "message": self.message}]
        return None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SegmentJobFailureRule:
    """The next ``fail_segment_jobs`` segment jobs that evaluate ``segment`` (an id, or ``*``)
    end FAILED with ``code`` and ``message``."""

    fail_segment_jobs: int
    segment: str = "*"
    code: str = "UPS-1500-500"
    message: str = "The segment job could not evaluate the audience (injected fault)"
    used: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentJobFailureRule:
        unknown = set(data) - {f.name for f in fields(cls)} | ({"used"} & set(data))
        if unknown:
            raise ValueError(f"unknown segment job fault rule keys: {', '.join(sorted(unknown))}")
        count = data.get("fail_segment_jobs")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"fail_segment_jobs must be a whole number of at least 1, not {count!r}")
        for key in ("segment", "code", "message"):
            if key in data and (not isinstance(data[key], str) or not data[key]):
                raise ValueError(f"segment job fault rule key {key!r} must be a non-empty string")
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SegmentJobDelayRule:
    """The next ``delay_segment_jobs`` segment jobs that evaluate ``segment`` (an id, or ``*``)
    take ``seconds`` instead of the run duration: a job that outlives a task's timeout."""

    delay_segment_jobs: int
    seconds: float
    segment: str = "*"
    used: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentJobDelayRule:
        unknown = set(data) - {f.name for f in fields(cls)} | ({"used"} & set(data))
        if unknown:
            raise ValueError(f"unknown segment job delay rule keys: {', '.join(sorted(unknown))}")
        count, seconds = data.get("delay_segment_jobs"), data.get("seconds")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"delay_segment_jobs must be a whole number of at least 1, not {count!r}")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ValueError(f"seconds must be a positive number, not {seconds!r}")
        if "segment" in data and (not isinstance(data["segment"], str) or not data["segment"]):
            raise ValueError("segment job delay rule key 'segment' must be a non-empty string")
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _query_rule_body(name: str, data: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    """The object under ``name`` in ``{name: {...}}``, its keys known and ``times``/``sql_contains`` typed."""
    if set(data) != {name} or not isinstance(data[name], dict):
        raise ValueError(f'a {name} rule is {{"{name}": {{...}}}} and nothing else')
    body: dict[str, Any] = data[name]
    unknown = set(body) - allowed
    if unknown:
        raise ValueError(f"unknown {name} keys: {', '.join(sorted(unknown))}")
    times = body.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise ValueError(f"{name}.times must be a whole number of at least 1, not {times!r}")
    if "sql_contains" in body and (not isinstance(body["sql_contains"], str) or not body["sql_contains"]):
        raise ValueError(f"{name}.sql_contains must be a non-empty string")
    return body


@dataclass
class QueryFailureRule:
    """The next ``times`` queries whose SQL contains ``sql_contains`` (any, without it) end
    FAILED with ``errors`` (each ``{"code", "message"}``) instead of running."""

    times: int = 1
    sql_contains: str | None = None
    errors: list[dict[str, Any]] = field(
        default_factory=lambda: [{"code": "58000", "message": "The query failed (injected fault)"}]
    )
    used: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueryFailureRule:
        body = _query_rule_body("fail_queries", data, {"times", "sql_contains", "errors"})
        errors = body.get("errors")
        if errors is not None and (
            not isinstance(errors, list)
            or not errors
            or not all(
                isinstance(e, dict) and isinstance(e.get("code"), str) and isinstance(e.get("message"), str)
                for e in errors
            )
        ):
            raise ValueError('fail_queries.errors must be a non-empty list of {"code", "message"} strings')
        return cls(**body)

    def matches(self, sql: str) -> bool:
        return self.used < self.times and (self.sql_contains is None or self.sql_contains in sql)

    def as_dict(self) -> dict[str, Any]:
        return {"fail_queries": {k: v for k, v in asdict(self).items() if k != "used"}, "used": self.used}


@dataclass
class QueryDelayRule:
    """The next ``times`` queries whose SQL contains ``sql_contains`` stay IN_PROGRESS ``seconds``
    longer: a query that outlives a task's timeout, or waits to be cancelled."""

    seconds: float
    times: int = 1
    sql_contains: str | None = None
    used: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QueryDelayRule:
        body = _query_rule_body("delay_queries", data, {"times", "sql_contains", "seconds"})
        seconds = body.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ValueError(f"delay_queries.seconds must be a positive number, not {seconds!r}")
        return cls(**body)

    def matches(self, sql: str) -> bool:
        return self.used < self.times and (self.sql_contains is None or self.sql_contains in sql)

    def as_dict(self) -> dict[str, Any]:
        return {"delay_queries": {k: v for k, v in asdict(self).items() if k != "used"}, "used": self.used}


_TYPES: dict[str, tuple[type, ...]] = {
    "path": (str,),
    "method": (str,),
    "times": (int,),
    "status": (int, type(None)),
    "retry_after": (int, float, type(None)),
    "latency": (int, float),
}


def _typed(key: str, value: Any) -> bool:
    """Whether a rule value has its field's type (booleans are flags only; a status is 100-599)."""
    if key not in _TYPES:
        return isinstance(value, bool)
    if isinstance(value, bool) or not isinstance(value, _TYPES[key]):
        return False
    if key == "status" and value is not None:
        return 100 <= value <= 599
    return not isinstance(value, (int, float)) or value >= 0


AnyRule = (
    FaultRule
    | RunFailureRule
    | SegmentJobFailureRule
    | SegmentJobDelayRule
    | QueryFailureRule
    | QueryDelayRule
)


class FaultPlan:
    def __init__(self, rules: list[dict[str, Any]] | None = None) -> None:
        self._lock = threading.Lock()
        self.rules: list[FaultRule] = []
        #: flow id (or "*") → errors the flow's next run fails with.
        self.failing_runs: dict[str, list[dict[str, str]]] = {}
        self.run_rules: list[RunFailureRule] = []
        self.segment_job_rules: list[SegmentJobFailureRule] = []
        self.segment_job_delays: list[SegmentJobDelayRule] = []
        self.query_failures: list[QueryFailureRule] = []
        self.query_delays: list[QueryDelayRule] = []
        for rule in rules or []:
            self.add(rule)

    def add(self, rule: Any) -> AnyRule:
        """A request rule, a run rule when it has ``fail_run_attempts``, a segment job rule when
        it has ``fail_segment_jobs`` (or ``delay_segment_jobs``), a query rule when it is
        ``{"fail_queries": ...}`` (or ``delay_queries``)."""
        if not isinstance(rule, dict):
            raise TypeError(f"a fault rule is a JSON object, not {type(rule).__name__}")
        parsed: AnyRule
        with self._lock:
            if "fail_queries" in rule:
                parsed = QueryFailureRule.from_dict(rule)
                self.query_failures.append(parsed)
            elif "delay_queries" in rule:
                parsed = QueryDelayRule.from_dict(rule)
                self.query_delays.append(parsed)
            elif "delay_segment_jobs" in rule:
                parsed = SegmentJobDelayRule.from_dict(rule)
                self.segment_job_delays.append(parsed)
            elif "fail_segment_jobs" in rule:
                parsed = SegmentJobFailureRule.from_dict(rule)
                self.segment_job_rules.append(parsed)
            elif "fail_run_attempts" in rule:
                parsed = RunFailureRule.from_dict(rule)
                self.run_rules.append(parsed)
            else:
                parsed = FaultRule.from_dict(rule)
                self.rules.append(parsed)
        return parsed

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.failing_runs.clear()
            self.run_rules.clear()
            self.segment_job_rules.clear()
            self.segment_job_delays.clear()
            self.query_failures.clear()
            self.query_delays.clear()

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

    def take_run_failure(self, flow_id: str, attempt: int = 1) -> list[dict[str, str]] | None:
        """The errors this attempt of a run of ``flow_id`` fails with, if any.

        A ``fail-next-run`` order is used up by the first attempt it meets; run rules stay.
        """
        with self._lock:
            once = self.failing_runs.pop(flow_id, None) or self.failing_runs.pop("*", None)
            if once:
                return once
            for rule in self.run_rules:
                errors = rule.errors_for(flow_id, attempt)
                if errors:
                    return errors
        return None

    def take_segment_job_delay(self, segment_ids: list[str]) -> float | None:
        """How long a new segment job for these audiences takes, if a delay rule still applies."""
        with self._lock:
            for rule in self.segment_job_delays:
                if rule.used < rule.delay_segment_jobs and (
                    rule.segment == "*" or rule.segment in segment_ids
                ):
                    rule.used += 1
                    return float(rule.seconds)
        return None

    def take_segment_job_failure(self, segment_ids: list[str]) -> list[dict[str, str]] | None:
        """The errors a new segment job for these audiences fails with, if a rule still applies."""
        with self._lock:
            for rule in self.segment_job_rules:
                if rule.used < rule.fail_segment_jobs and (
                    rule.segment == "*" or rule.segment in segment_ids
                ):
                    rule.used += 1
                    return [{"code": rule.code, "message": rule.message}]
        return None

    def take_query_delay(self, sql: str) -> float | None:
        """The extra seconds a new query with this SQL stays IN_PROGRESS, if a delay rule applies."""
        with self._lock:
            for rule in self.query_delays:
                if rule.matches(sql):
                    rule.used += 1
                    return float(rule.seconds)
        return None

    def take_query_failure(self, sql: str) -> list[dict[str, Any]] | None:
        """The errors a new query with this SQL fails with, if a failure rule applies."""
        with self._lock:
            for rule in self.query_failures:
                if rule.matches(sql):
                    rule.used += 1
                    return [{"position": None, **error} for error in rule.errors]
        return None
