"""A trigger's log handed to its hook before any line is written, looked up on the first one."""

from __future__ import annotations

from typing import Any


class _LogOnFirstUse:
    """Stands for ``owner.log`` and looks it up when a line is first written to it.

    A hook logs only its retries, and building a trigger's logger (structlog wraps one for each)
    up front cost ten thousand triggers started together a good part of their start-up burst.

    :param owner: the trigger (anything with a ``log``) whose log this stands for.
    """

    __slots__ = ("_owner",)

    def __init__(self, owner: Any) -> None:
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._owner.log, name)
