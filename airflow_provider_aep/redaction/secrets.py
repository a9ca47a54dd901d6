"""Secrets this process knows, kept out of every log line and every error text.

Airflow's masker hides registered secrets in log output; error texts also travel to places it
does not watch (trigger events, XCom, the exception a DAG author catches). So each secret is
registered here too, and :func:`scrub` takes it out of any text before that text is built.
A server that echoes the client secret, the token or a destination key back in an error body
must not carry it into the task log or the metadata database.

A structured secret is registered with its quotable parts (the ``AccountKey`` of an Azure
connection string, each line of a PEM key), since a server may quote one part alone; and
:func:`scrub` also redacts credential shapes (:mod:`.shapes`), for the processes that never
read the secret at all (the sensor, the triggerer).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
from typing import Any
from urllib.parse import quote, quote_plus, unquote

from airflow_provider_aep.redaction.shapes import REDACTED, redact_shapes

#: Shorter values would be scrubbed out of ordinary words; AEP's secrets are much longer.
MIN_SECRET_LENGTH = 5
#: A part shorter than this (the last line of a PEM body, ``AB==``) is too common to register.
MIN_PART_LENGTH = 16

_known: set[str] = set()
_lock = threading.Lock()


def mask(secret: Any) -> None:
    """Register a secret with Airflow's masker (log lines) and with :func:`scrub` (error texts).

    A mapping or list registers each value in it; a string also registers the forms a server
    may echo it in (JSON-escaped, URL-encoded), so an echo of ``a/b`` as ``a\\/b`` or ``a%2Fb``
    is caught too, and its quotable parts (:func:`secret_parts`) in the same forms.
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
    parts = secret_parts(secret)
    forms = _echoed_forms(secret)
    for part in parts:
        forms |= _echoed_forms(part)
    with _lock:
        new = forms - _known
        _known.update(new)
    if not new:
        return
    # Airflow's masker (log lines) gets the parts as they are, the shortest first: it compiles
    # all its patterns again for each new one, and a PEM key's lines in every form cost seconds.
    for form in sorted(new & (_echoed_forms(secret) | parts), key=len):
        _mask_in_airflow(form)


#: Registrations handed from a triggerer's event loop to a thread (Airflow 3.0), kept until done.
_pending: set[Any] = set()


def _mask_in_airflow(secret: str) -> None:
    """Airflow's ``mask_secret``: this process's masker and, when it can be told, the supervisor's.

    Airflow 3.0 tells the supervisor first, through ``async_to_sync``, which raises on a
    triggerer's event-loop thread ("You cannot use AsyncToSync in the same thread as an async
    event loop"). There the call is handed to asgiref's ``sync_to_async`` thread, whose
    ``async_to_sync`` calls go back to this loop: the secret is masked a moment later, in both
    processes, and :func:`scrub` hides it from this provider's own lines meanwhile.
    """
    from airflow.providers.common.compat.sdk import mask_secret

    try:
        mask_secret(secret)
        return
    except RuntimeError as refused:
        failure = refused
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise failure from None  # not on a loop: another failure, and it must show
    from asgiref.sync import sync_to_async

    task = loop.create_task(sync_to_async(mask_secret)(secret))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


#: Connection-string keys whose value is a secret of its own (Azure storage, Service Bus, SAS).
_SECRET_SEGMENTS = frozenset({"accountkey", "sharedaccesskey", "sharedaccesssignature"})
_SAS_SIGNATURE = re.compile(r"(?i)(?<![A-Za-z0-9])sig=([^&;\s\"']+)")
#: A JSON key file's secret fields (a Google service account key).
_KEY_FILE_FIELDS = ("private_key", "private_key_id", "client_secret")
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/=\s]{40,}")


def secret_parts(secret: str) -> set[str]:
    """The parts of a structured secret a server may quote alone.

    Azure connection strings give their ``AccountKey``/``SharedAccessKey``/``SharedAccessSignature``
    values and any SAS ``sig``; a PEM key (or base64 of one: an SFTP ``sshKey``) each body line;
    a JSON key file its ``private_key`` (and that key's lines).
    """
    parts: set[str] = set()
    for segment in secret.split(";"):
        name, equals, value = segment.strip().partition("=")
        if equals and name.lower() in _SECRET_SEGMENTS:
            parts.add(value)
    for signature in _SAS_SIGNATURE.findall(secret):
        parts.update({signature, unquote(signature)})
    pem = secret if "-----BEGIN" in secret else _decoded_pem(secret)
    if pem:
        if pem is not secret:
            parts.add(pem)
        for line in pem.replace("\\r", "\n").replace("\\n", "\n").splitlines():
            line = line.strip()
            if not line.startswith("-----") and ":" not in line:
                parts.add(line)
    if secret.lstrip().startswith("{"):
        parts |= _key_file_parts(secret)
    return {part for part in parts if len(part) >= MIN_PART_LENGTH and part != secret}


def _decoded_pem(secret: str) -> str | None:
    """The PEM key a base64 text holds, if it holds one."""
    if not _BASE64_TEXT.fullmatch(secret):
        return None
    try:
        text = base64.b64decode("".join(secret.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return text if "-----BEGIN" in text else None


def _key_file_parts(secret: str) -> set[str]:
    try:
        key_file = json.loads(secret)
    except ValueError:
        return set()
    if not isinstance(key_file, dict):
        return set()
    parts: set[str] = set()
    for name in _KEY_FILE_FIELDS:
        value = key_file.get(name)
        if isinstance(value, str) and value:
            parts |= {value} | secret_parts(value)
    return parts


def _echoed_forms(secret: str) -> set[str]:
    escaped = json.dumps(secret)[1:-1]
    return {secret, escaped, escaped.replace("/", "\\/"), quote(secret, safe=""), quote_plus(secret)}


def scrub(text: str) -> str:
    """The text with every known secret replaced by ``***``, longest first, then every
    credential shape (:func:`~airflow_provider_aep.redaction.shapes.redact_shapes`)."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return redact_shapes(text)


def scrub_data(value: Any) -> Any:
    """:func:`scrub` through JSON-like data: what AEP said about a run, before it becomes XCom."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: scrub_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_data(v) for v in value]
    return value
