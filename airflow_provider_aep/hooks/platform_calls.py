"""What the hook's API mixins call: :meth:`AEPHook.request`, declared once for the type checker.

Each mixin (segmentation, audience mapping, Query Service) builds its paths and bodies and sends
them through the hook's one request path (auth, retries, error mapping); this base says what
that path looks like, so the mixins need no stub of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow_provider_aep.hooks.connection import Service


class PlatformCalls:
    """Base of the hook's API mixins: the hook provides ``request`` and ``log``."""

    if TYPE_CHECKING:
        log: Any

        def request(
            self,
            method: str,
            path: str,
            *,
            params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
            json: Any = None,
            headers: Mapping[str, str] | None = None,
            sandbox_name: str | None = None,
            missing_ok: bool = False,
            idempotent: bool = True,
            service: Service = "flowservice",
        ) -> tuple[int, Any]: ...
