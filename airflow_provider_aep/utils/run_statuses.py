"""The run statuses that end a wait: AEP's ``success``, and ``failed`` (both case-insensitive).

A module of its own so the sensor's signature can name them without loading the run helpers.
"""

from __future__ import annotations

DEFAULT_SUCCESS_STATUSES: tuple[str, ...] = ("success",)
DEFAULT_FAILURE_STATUSES: tuple[str, ...] = ("failed",)
