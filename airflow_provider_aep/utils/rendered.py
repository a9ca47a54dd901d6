"""What a rendered template gives back: text, where the task needs a number."""

from __future__ import annotations

from typing import Any


def int_if_digits(value: Any) -> Any:
    """Rendered templates are strings: ``"1975901210"`` becomes 1975901210, other values pass."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return value
