"""The HTML of the health pages: Jinja2 templates shipped in the package, always autoescaped.

Flow names, error texts and DAG ids come from AEP and from users: autoescape makes every one of
them text, never markup, and the ``segment`` filter encodes each value put in a link's path.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import cache
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape


def quoted(value: Any) -> str:
    """One path segment of an Airflow UI link (``/`` and every other reserved character encoded)."""
    return quote(str(value), safe="")


def when(value: Any) -> str:
    """An ISO 8601 moment as ``2026-12-03 06:00 UTC``; anything else as it is."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("airflow_provider_aep.plugins", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["segment"] = quoted
    environment.filters["when"] = when
    return environment


def render(template: str, **values: Any) -> str:
    """A template of ``templates/`` filled in with ``values``."""
    return _environment().get_template(template).render(**values)
