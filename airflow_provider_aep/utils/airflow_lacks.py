"""A feature this Airflow release lacks is said once per process, with what happens instead."""

from __future__ import annotations

import logging

from airflow_provider_aep.version_compat import AIRFLOW_VERSION

log = logging.getLogger(__name__)
_said: set[str] = set()


def say_once(feature: str, message: str) -> None:
    """Log, once per process, that this Airflow lacks ``feature`` and what happens instead."""
    if feature not in _said:
        _said.add(feature)
        log.info("Airflow %s: %s", AIRFLOW_VERSION, message)
