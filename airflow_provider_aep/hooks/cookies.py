"""No cookie is kept or sent by the provider's HTTP clients.

AEP is stateless, and the triggerer's client is shared by every connection (tenant) on the same
hosts: a cookie one tenant's Platform set would ride on another tenant's requests.
"""

from __future__ import annotations

from http.cookiejar import Cookie, DefaultCookiePolicy


class RefuseAllCookies(DefaultCookiePolicy):
    """A cookie policy that stores none and sends none."""

    def set_ok(self, cookie: Cookie, request: object) -> bool:
        return False

    def return_ok(self, cookie: Cookie, request: object) -> bool:
        return False
