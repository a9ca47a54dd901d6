"""Adobe IMS OAuth Server-to-Server tokens, fetched once per process and client.

IMS issues tokens valid for about 24 hours and no refresh token, so the cache asks again five
minutes before ``expires_in`` runs out, or at once when Platform answers 401. Every token is
registered with Airflow's secret masker before anyone can log it.

An ``expires_in`` that is missing, 0, negative or short never makes every call fetch a token: a
token is kept at least ``MIN_TOKEN_LIFETIME_SECONDS``, and the margin shrinks with the lifetime
(a 401 still gets a new token at once). One that is no number is IMS's error, not ours.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import secrets
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_aep.exceptions import AEPAuthError
from airflow_provider_aep.hooks.connection import AEPConnectionSettings
from airflow_provider_aep.redaction.secrets import mask

REFRESH_MARGIN_SECONDS = 300.0
#: A short-lived token is replaced when this share of its lifetime is left (five minutes at
#: most): a 120 s token is used for 90 s, not refreshed on every call for being inside 300 s.
REFRESH_MARGIN_SHARE = 0.25
#: A token whose ``expires_in`` is missing, 0, negative or shorter is kept this long.
MIN_TOKEN_LIFETIME_SECONDS = 60.0
#: IMS's tokens live 24 hours; a longer (or endless) ``expires_in`` is not taken at its word.
MAX_TOKEN_LIFETIME_SECONDS = 86400.0


def refresh_margin(lifetime: float) -> float:
    """Seconds before expiry a token is replaced: five minutes, less for a short-lived token."""
    return min(REFRESH_MARGIN_SECONDS, lifetime * REFRESH_MARGIN_SHARE)


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_at: float  # time.monotonic() seconds
    #: Seconds before ``expires_at`` the token counts as stale.
    margin: float = REFRESH_MARGIN_SECONDS

    def fresh(self, now: float | None = None) -> bool:
        return (now if now is not None else time.monotonic()) < self.expires_at - self.margin


CacheKey = tuple[str, str, str, str]

#: Keys the secret's digest, so the cache never holds the secret and a digest means nothing
#: outside this process.
_DIGEST_KEY = secrets.token_bytes(32)


def cache_key(settings: AEPConnectionSettings) -> CacheKey:
    """A token is served only to the same IMS URL, client id, scopes and client secret:
    a rotated or mistyped secret asks IMS (and fails there) instead of riding on a cached token."""
    digest = hmac.new(_DIGEST_KEY, settings.client_secret.encode(), hashlib.sha256).hexdigest()
    return (settings.ims_url, settings.client_id, settings.scopes, digest)


def token_form(settings: AEPConnectionSettings) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": settings.client_id,
        "client_secret": settings.client_secret,
        "scope": settings.scopes,
    }


def parse_token_response(status: int, body: Any) -> AccessToken:
    """Read IMS's answer; a refusal becomes AEPAuthError with IMS's own error words."""
    if status != 200 or not isinstance(body, dict) or not body.get("access_token"):
        error = description = ""
        if isinstance(body, dict):
            error = str(body.get("error") or body.get("error_code") or "")
            description = str(body.get("error_description") or body.get("message") or "")
        raise AEPAuthError(
            status, error or "invalid_response", description or "no access token in the answer"
        )
    token = str(body["access_token"])
    mask(token)
    lifetime = token_lifetime(status, body.get("expires_in"))
    return AccessToken(token, time.monotonic() + lifetime, refresh_margin(lifetime))


def token_lifetime(status: int, expires_in: Any) -> float:
    """Seconds to keep a token, from IMS's ``expires_in`` (seconds, a number or its text).

    Missing, 0 or negative is the shortest lifetime; a value that is no finite number is an
    AEPAuthError that quotes neither the value nor the token.
    """
    if expires_in is None or expires_in == "":
        return MIN_TOKEN_LIFETIME_SECONDS
    try:
        if isinstance(expires_in, bool):
            raise TypeError(expires_in)
        seconds = float(expires_in)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds):
        raise AEPAuthError(
            status, "invalid_response", "expires_in in the token answer is not a number of seconds"
        )
    return min(max(seconds, MIN_TOKEN_LIFETIME_SECONDS), MAX_TOKEN_LIFETIME_SECONDS)


class TokenCache:
    """Process-wide tokens by (IMS URL, client id, scopes, secret digest); safe across threads
    and event loops."""

    def __init__(self) -> None:
        self._tokens: dict[CacheKey, AccessToken] = {}
        self._lock = threading.Lock()
        self._key_locks: dict[CacheKey, threading.Lock] = {}
        self._async_locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[CacheKey, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()
        self.fetches = 0

    def get(
        self,
        key: CacheKey,
        fetch: Callable[[], AccessToken],
        *,
        stale: str | None = None,
        renew: bool = False,
    ) -> str:
        """A fresh token; ``stale`` names a token Platform refused, which is then replaced;
        ``renew`` always asks IMS (the connection Test proves the credentials it was given)."""
        cached = None if renew else self._usable(key, stale)
        if cached:
            return cached
        with self._key_lock(key):
            cached = None if renew else self._usable(key, stale)
            if cached:
                return cached
            token = fetch()
            self._store(key, token)
            return token.value

    async def aget(
        self, key: CacheKey, fetch: Callable[[], Awaitable[AccessToken]], *, stale: str | None = None
    ) -> str:
        """As ``get``, for coroutines: one fetch per event loop however many triggers ask."""
        cached = self._usable(key, stale)
        if cached:
            return cached
        async with self._async_lock(key):
            cached = self._usable(key, stale)
            if cached:
                return cached
            token = await fetch()
            self._store(key, token)
            return token.value

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()
            self.fetches = 0

    def _usable(self, key: CacheKey, stale: str | None) -> str | None:
        token = self._tokens.get(key)
        if token and token.fresh() and token.value != stale:
            return token.value
        return None

    def _store(self, key: CacheKey, token: AccessToken) -> None:
        with self._lock:
            self._tokens[key] = token
            self.fetches += 1

    def _key_lock(self, key: CacheKey) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def _async_lock(self, key: CacheKey) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._lock:
            return self._async_locks.setdefault(loop, {}).setdefault(key, asyncio.Lock())


TOKENS = TokenCache()
