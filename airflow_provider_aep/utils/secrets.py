"""Secrets this process knows, kept out of every log line and every error text.

Airflow's masker hides registered secrets in log output; error texts also travel to places it
does not watch (trigger events, XCom, the exception a DAG author catches). So each secret is
registered here too, and :func:`scrub` takes it out of any text before that text is built.
A server that echoes the client secret, the token or a destination key back in an error body
must not carry it into the task log or the metadata database.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote, quote_plus

#: Shorter values would be scrubbed out of ordinary words; AEP's secrets are much longer.
MIN_SECRET_LENGTH = 5
REDACTED = "***"
#: What AEP shows in place of a secret it keeps: such a value cannot be compared with ours.
HIDDEN_SECRET_VALUES = frozenset({"***", "<encrypted>", ""})

_known: set[str] = set()
_lock = threading.Lock()


def mask(secret: Any) -> None:
    """Register a secret with Airflow's masker (log lines) and with :func:`scrub` (error texts).

    A mapping or list registers each value in it; a string also registers the forms a server
    may echo it in (JSON-escaped, URL-encoded), so an echo of ``a/b`` as ``a\\/b`` or ``a%2Fb``
    is caught too.
    """
    if isinstance(secret, dict):
        for value in secret.values():
            mask(value)
        return
    if isinstance(secret, (list, tuple)):
        for value in secret:
            mask(value)
        return
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
        return
    forms = _echoed_forms(secret)
    with _lock:
        new = forms - _known
        _known.update(new)
    if not new:
        return
    from airflow_provider_aep.version_compat import mask_secret

    for form in new:
        mask_secret(form)


def _echoed_forms(secret: str) -> set[str]:
    escaped = json.dumps(secret)[1:-1]
    return {secret, escaped, escaped.replace("/", "\\/"), quote(secret, safe=""), quote_plus(secret)}


def scrub(text: str) -> str:
    """The text with every known secret replaced by ``***``, longest first."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def scrub_data(value: Any) -> Any:
    """:func:`scrub` through JSON-like data: what AEP said about a run, before it becomes XCom."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: scrub_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_data(v) for v in value]
    return value
