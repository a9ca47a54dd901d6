"""Reading Flow Service answers, the same for the synchronous hook (requests) and the trigger's
async client (httpx): both response types have ``content``, ``json()``, ``text``, ``status_code``
and ``headers``, so one reading serves both."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_aep.hooks.retry import RETRYABLE_STATUSES, RetryableResponse, parse_retry_after


def decode_json(response: Any) -> Any:
    """The JSON body, the text when it is not JSON, None when there is none."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def raise_if_transient(response: Any) -> None:
    """RetryableResponse for an answer worth another try (429, 5xx), with its ``Retry-After``."""
    if response.status_code in RETRYABLE_STATUSES:
        raise RetryableResponse(
            response.status_code,
            decode_json(response),
            response.headers,
            parse_retry_after(response.headers.get("Retry-After")),
        )


def continuation_token(body: Any) -> str | None:
    """The ``continuationToken`` of ``_links.next``; only the token is followed, never the link's host."""
    if not isinstance(body, dict):
        return None
    href = ((body.get("_links") or {}).get("next") or {}).get("href")
    if not href:
        return None
    values = parse_qs(urlsplit(href).query).get("continuationToken")
    return values[0] if values else None


def single_entity(body: Any) -> dict[str, Any]:
    """Single GETs come wrapped in ``items``; accept both wrapped and bare."""
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        if not body["items"]:
            return {}
        item = body["items"][0]
        return item if isinstance(item, dict) else {}
    return body if isinstance(body, dict) else {}
