"""What the emulator knows about destination credentials, and what it lets out of them.

Flow Service keeps a base connection's secrets and shows only their masked form. The emulator
does the same: the entity in its state holds ``***`` for every ``format: password`` parameter,
and the parameters as sent are kept in memory alone (``State.credentials``), never written to
the state file, a response or the request log. What leaves is a run's record of which
credentials it used: the non-secret identifiers and a fingerprint.

The fingerprint is an HMAC keyed with random bytes each emulator makes at start and never lets
out: an unkeyed hash beside the identifiers would let anyone holding it (the admin route, the
state file) confirm a guessed password offline. Keyed, it compares credentials within one
emulator (the same key, the same params: the same fingerprint) and means nothing elsewhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime, timezone
from typing import Any

from aep_emulator.catalog import all_connection_specs

MASK = "***"


def secret_names(auth_spec: dict[str, Any]) -> frozenset[str]:
    """The parameters an auth spec marks ``format: password``."""
    props = auth_spec.get("spec", {}).get("properties", {})
    return frozenset(name for name, rule in props.items() if rule.get("format") == "password")


def masked(params: dict[str, Any], auth_spec: dict[str, Any]) -> dict[str, Any]:
    """The parameters as GET shows them: secrets replaced by ``***``.

    A parameter another auth spec marks secret is masked too (a ``password`` sent beside an
    SSH key is still a password).
    """
    secret = secret_names(auth_spec) | SECRET_PARAMS
    return {k: (MASK if k in secret else v) for k, v in params.items()}


#: The date the credentials were given, which AEP shows among a connection's auth params.
AUTHORIZED_DATE = "authorizedDate"


def shown(params: dict[str, Any], auth_spec: dict[str, Any]) -> dict[str, Any]:
    """The parameters as a GET shows them (:func:`masked`), with ``authorizedDate``: today, UTC,
    when the credentials were given (as in Adobe's connection examples)."""
    today = datetime.now(timezone.utc).date().isoformat()
    return {AUTHORIZED_DATE: today, **masked(without_authorized_date(params), auth_spec)}


def without_authorized_date(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters a client gave, without the date AEP adds to them."""
    return {k: v for k, v in params.items() if k != AUTHORIZED_DATE}


def identifiers(params: dict[str, Any], auth_spec: dict[str, Any]) -> dict[str, Any]:
    """The parameters the auth spec declares and does not mark secret (access key ids, users, hosts).

    Undeclared parameters are left out: nothing says they are not secrets.
    """
    declared = auth_spec.get("spec", {}).get("properties", {})
    secret = secret_names(auth_spec)
    return {k: v for k, v in params.items() if k in declared and k not in secret}


def canonical_json(params: dict[str, Any]) -> str:
    """Keys sorted, no spaces, ASCII escapes: ``json.dumps(p, sort_keys=True, separators=(",", ":"))``."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def new_fingerprint_key() -> bytes:
    """A fingerprint key for one emulator: 32 random bytes, kept in its memory alone."""
    return secrets.token_bytes(32)


def fingerprint(params: dict[str, Any], key: bytes) -> str:
    """HMAC-SHA-256 hex, under this emulator's ``key``, of the canonical JSON of every auth
    parameter, secrets included."""
    return hmac.new(key, canonical_json(params).encode("utf-8"), hashlib.sha256).hexdigest()


def auth_spec_of(connection_spec_id: str, spec_name: Any) -> dict[str, Any] | None:
    for spec in all_connection_specs():
        if spec["id"] == connection_spec_id:
            for auth in spec.get("authSpec", []):
                if auth["name"] == spec_name:
                    return dict(auth)
    return None


def used_by_run(base: dict[str, Any] | None, kept: dict[str, Any] | None, key: bytes) -> dict[str, Any]:
    """What a run records of its flow's base connection when it starts.

    ``kept`` is the in-memory record of the parameters as sent; without it (the emulator was
    restarted from a state file) the masked parameters stand in, so secrets are not known.
    ``key`` is the emulator's fingerprint key.
    """
    if base is None:
        return {
            "baseConnectionId": None,
            "authSpecName": None,
            "identifiers": {},
            "fingerprint": None,
            "secretsKnown": False,
        }
    auth = base.get("auth") or {}
    params = (kept or {}).get("params", auth.get("params") or {})
    spec = auth_spec_of(base["connectionSpec"]["id"], auth.get("specName"))
    return {
        "baseConnectionId": base["id"],
        "authSpecName": auth.get("specName"),
        "identifiers": identifiers(params, spec) if spec else {},
        "fingerprint": fingerprint(params, key),
        "secretsKnown": kept is not None or not auth,
    }


# -- the request log ---------------------------------------------------------------------------

SECRET_PARAMS = frozenset(
    name
    for spec in all_connection_specs()
    for auth in spec.get("authSpec", [])
    for name in secret_names(auth)
)
_SECRET_LOWER = frozenset(n.lower() for n in SECRET_PARAMS) | {"client_secret"}
_IDENTIFIER_LOWER = (
    frozenset(
        name.lower()
        for spec in all_connection_specs()
        for auth in spec.get("authSpec", [])
        for name in auth["spec"].get("properties", {})
    )
    - _SECRET_LOWER
)


def redact(body: Any) -> Any:
    """A request body fit for the log: secret keys masked, and JSON Patch values under ``/auth``.

    A patch of ``/auth/params/s3SecretKey`` carries the secret as a bare ``value``, so every
    value written under ``/auth`` is masked unless it is a declared identifier.
    """
    if isinstance(body, list):
        return [_redact_operation(v) if _is_auth_operation(v) else redact(v) for v in body]
    if isinstance(body, dict):
        if _is_auth_operation(body):
            return _redact_operation(body)
        return {k: (MASK if str(k).lower() in _SECRET_LOWER else redact(v)) for k, v in body.items()}
    return body


def _is_auth_operation(item: Any) -> bool:
    if not isinstance(item, dict) or not isinstance(item.get("path"), str):
        return False
    return item["path"].lstrip("/").lower().startswith("auth")


def _redact_operation(operation: dict[str, Any]) -> dict[str, Any]:
    value = operation.get("value")
    last = operation["path"].rstrip("/").rsplit("/", 1)[-1].lower()
    if isinstance(value, (dict, list)):
        value = redact(value)
    elif "value" in operation and last not in _IDENTIFIER_LOWER:
        value = MASK
    safe = {k: redact(v) for k, v in operation.items() if k != "value"}
    return {**safe, "value": value} if "value" in operation else safe
