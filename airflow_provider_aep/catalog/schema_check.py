"""Check parameters against the JSON Schema subset AEP's connection specs use.

The specs use ``required``, ``type: string``, ``enum`` and ``pattern`` only, so this small
checker gives the same verdict as a full validator without importing one at DAG-parse time, and
it words the error the way a DAG author needs it: the field, the value and what is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from airflow_provider_aep.exceptions import AEPValidationError


def check_params(
    schema: Mapping[str, Any],
    params: Mapping[str, Any],
    *,
    field_prefix: str,
    skip_required: Iterable[str] = (),
) -> None:
    """Raise AEPValidationError for the first parameter that breaks ``schema``."""
    props: Mapping[str, Any] = schema.get("properties", {})
    skipped = set(skip_required)
    for name in schema.get("required", ()):
        if name not in skipped and _is_missing(params.get(name)):
            raise AEPValidationError(f"{field_prefix}.{name}", params.get(name), "a value is required")
    for name, value in params.items():
        rule = props.get(name)
        if rule is None or value is None:
            continue
        secret = rule.get("format") == "password"
        field = f"{field_prefix}.{name}"
        if rule.get("type") == "string" and not isinstance(value, str):
            raise AEPValidationError(field, value, "a string", secret=secret)
        if "enum" in rule and value not in rule["enum"]:
            raise AEPValidationError(
                field, value, "one of " + ", ".join(map(str, rule["enum"])), secret=secret
            )
        pattern = rule.get("pattern")
        if pattern and isinstance(value, str) and not _compiled(pattern).search(value):
            description = rule.get("description") or rule.get("title") or name
            raise AEPValidationError(
                field, value, f"{description} must match the pattern {pattern}", secret=secret
            )


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)
