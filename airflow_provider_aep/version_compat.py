"""Which Airflow 3 release this is, as flags, the way official providers keep them.

Supported: Airflow 3.0, 3.1, 3.2 and 3.3 (docs/airflow-versions.md says what is tested on which).
The Airflow names that moved between releases come from ``apache-airflow-providers-common-compat``
(``airflow.providers.common.compat.sdk``); where this provider does something differently on an
older release, the module doing it reads one of these flags:

==============================  =============================================================
behaviour                       where
==============================  =============================================================
connection read in a trigger    ``hooks/aep_async.py``: ``aget_connection`` (3.1+), else
                                asgiref's ``sync_to_async`` (3.0)
mask_secret on a trigger loop   ``redaction/secrets.py``: Airflow 3.0 cannot tell the supervisor
                                from the loop's thread, so asgiref's thread does
connection form                 ``hooks/connection_form.py``: the hook's ``get_*`` methods
                                (3.0/3.1); 3.2+ reads the provider info's ``conn-fields``
task_state_store                ``utils/task_state.py``: in the task context from 3.3; before,
                                one log line and each caller's fallback
==============================  =============================================================
"""

from __future__ import annotations

import re

from airflow import __version__ as AIRFLOW_VERSION


def get_base_airflow_version_tuple(version: str = AIRFLOW_VERSION) -> tuple[int, int, int]:
    """``"3.1.8"`` → ``(3, 1, 8)``; pre-releases and local versions count as their release."""
    found = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    if found is None:
        raise ValueError(f"not an Airflow version: {version!r}")
    major, minor, micro = found.groups()
    return int(major), int(minor), int(micro or 0)


AIRFLOW_VERSION_TUPLE = get_base_airflow_version_tuple()
AIRFLOW_V_3_1_PLUS = AIRFLOW_VERSION_TUPLE >= (3, 1, 0)
AIRFLOW_V_3_2_PLUS = AIRFLOW_VERSION_TUPLE >= (3, 2, 0)
AIRFLOW_V_3_3_PLUS = AIRFLOW_VERSION_TUPLE >= (3, 3, 0)

__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_VERSION_TUPLE",
    "AIRFLOW_V_3_1_PLUS",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "get_base_airflow_version_tuple",
]
