"""The one retry policy for every AEP call, synchronous or not.

Retried: 429 (after ``Retry-After``, seconds or an HTTP date), 500/502/503/504, dropped
connections and timeouts. Bounded by attempts and by total wait; each wait is logged with its
reason. Everything else is final and surfaces as AEPApiError at once.
"""

from __future__ import annotations

import logging
import random
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar

import tenacity

from airflow_provider_aep.utils.scrubbed_logs import scrubbed

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How long a transient failure is retried: bounded by attempts and by the total wait.

    :param max_attempts: tries in all, the first included.
    :param max_total_wait: seconds spent retrying at most; no wait, not even a ``Retry-After``,
        goes past it.
    :param base_wait: the first backoff, in seconds; it doubles with each retry, with jitter.
    :param max_wait: the longest single backoff, in seconds.
    """

    max_attempts: int = 6
    max_total_wait: float = 300.0
    base_wait: float = 1.0
    max_wait: float = 60.0


class RetryableResponse(Exception):
    """A response worth another try; carries what the final error needs if tries run out."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str], retry_after: float | None) -> None:
        self.status = status
        self.body = body
        self.headers = dict(headers)
        self.retry_after = retry_after
        super().__init__(f"HTTP {status}")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    current = now if now is not None else time.time()
    return max(0.0, moment.timestamp() - current)


def is_transient(exc: BaseException) -> bool:
    """A failure worth another try: a retryable answer (429, 5xx), a dropped connection or a timeout."""
    return _is_transient(exc)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, RetryableResponse):
        return True
    requests = sys.modules.get("requests")
    # ChunkedEncodingError: the connection dropped halfway through the response body.
    transient = (
        (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)
        if requests
        else ()
    )
    if transient and isinstance(exc, transient):
        return True
    httpx = sys.modules.get("httpx")
    return httpx is not None and isinstance(exc, httpx.TransportError)


def not_processed(exc: BaseException) -> bool:
    """The server certainly did not act on the request: safe to send a create again."""
    if isinstance(exc, RetryableResponse):
        return exc.status in (429, 503)
    requests = sys.modules.get("requests")
    if requests is None:
        return False
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(
        exc, requests.exceptions.ChunkedEncodingError
    ):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return type(reason).__name__ in ("NewConnectionError", "NameResolutionError") or isinstance(
            reason, ConnectionRefusedError
        )
    return False


def describe(exc: BaseException | None) -> str:
    if isinstance(exc, RetryableResponse):
        extra = f" (Retry-After {exc.retry_after:g}s)" if exc.retry_after is not None else ""
        return f"HTTP {exc.status}{extra}"
    return type(exc).__name__ if exc else "unknown"


class _Wait(tenacity.wait.wait_base):
    """Retry-After when the server gives one, else capped exponential backoff with jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(exc, RetryableResponse) and exc.retry_after is not None:
            wait = exc.retry_after
        else:
            backoff = self.policy.base_wait * 2 ** (retry_state.attempt_number - 1)
            wait = min(self.policy.max_wait, backoff) * (0.5 + random.random() / 2)
        return max(0.0, min(wait, self.policy.max_total_wait - _spent(retry_state)))


def _spent(retry_state: tenacity.RetryCallState) -> float:
    """Time used so far: waited (``idle_for``) or elapsed, whichever is larger."""
    return max(retry_state.seconds_since_start or 0.0, retry_state.idle_for)


class _BudgetSpent(tenacity.stop.stop_base):
    def __init__(self, budget: float) -> None:
        self.budget = budget

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return _spent(retry_state) >= self.budget


def _stop(policy: RetryPolicy) -> tenacity.stop.stop_base:
    return tenacity.stop_any(
        tenacity.stop_after_attempt(policy.max_attempts), _BudgetSpent(policy.max_total_wait)
    )


def _logger(log: logging.Logger | Any, what: str, policy: RetryPolicy) -> Any:
    log = scrubbed(log)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s got %s; retry %d of %d in %.1fs",
            what,
            describe(exc),
            state.attempt_number,
            policy.max_attempts - 1,
            wait,
        )

    return before_sleep


def retrying(
    policy: RetryPolicy, log: logging.Logger | Any, what: str, *, idempotent: bool = True
) -> tenacity.Retrying:
    """Retry transient failures; for a non-idempotent call only those the server never acted on."""
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(_is_transient if idempotent else not_processed),
        wait=_Wait(policy),
        stop=_stop(policy),
        before_sleep=_logger(log, what, policy),
        reraise=True,
    )


def async_retrying(policy: RetryPolicy, log: logging.Logger | Any, what: str) -> tenacity.AsyncRetrying:
    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(_is_transient),
        wait=_Wait(policy),
        stop=_stop(policy),
        before_sleep=_logger(log, what, policy),
        reraise=True,
    )


async def retry_after_first_failure(
    policy: RetryPolicy,
    log: logging.Logger | Any,
    what: str,
    first: BaseException,
    again: Callable[[], Awaitable[T]],
) -> T:
    """The retries of a call whose first try, made without tenacity, failed transiently with ``first``.

    Most calls succeed at once, and building tenacity's state for each of them was a good part
    of a poll's CPU and of each waiting request's memory; so the first try goes bare and only a
    failure pays for the machinery. ``first`` counts as the first attempt: its ``Retry-After``,
    the backoff, the log lines and the attempt limit are as if tenacity had made it.
    """
    pending: BaseException | None = first
    async for attempt in async_retrying(policy, log, what):
        with attempt:
            if pending is not None:
                failed, pending = pending, None
                raise failed
            result = await again()
    return result
