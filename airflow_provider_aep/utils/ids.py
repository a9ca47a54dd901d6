"""AEP ids and sandbox names as they may appear in a URL or a header: checked, then encoded.

An id is spliced into a Flow Service path, so an id such as ``x/../../connections/<id>`` would
address another entity and ``?`` would start a query string. Every id passes through
:func:`path_segment` before it reaches a URL: refused when it cannot be an AEP id, and
percent-encoded as exactly one path segment either way.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import quote

from airflow_provider_aep.exceptions import AEPValidationError

#: AEP ids are UUIDs (connections, flows, runs, specs) or 24 hex digits (datasets); this
#: admits those and the readable ids of tests, and nothing that changes a URL's meaning.
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
#: A Data Lake dataset id: 24 hex digits (anything else is taken for a dataset's name).
DATASET_ID = re.compile(r"^[0-9a-f]{24}$")
#: AEP sandbox names: lowercase letters, digits and hyphens (``prod``, ``dev-2``).
SANDBOX_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
#: A Flow Service path as the hook sends it: segments that need no encoding, or encoded ones.
PATH_PATTERN = re.compile(r"(?:/[A-Za-z0-9._:@%-]+)+")


#: What a template renders when the value it reads is missing (``{{ ti.xcom_pull(...) }}`` of a
#: task that returned nothing): never an id or a name, and refused before it reaches a URL.
RENDERED_NOTHING = ("None", "")


def refuse_rendered_nothing(field: str, value: Any) -> None:
    """Refuse the text ``None`` (or an empty string): a template rendered a missing value."""
    if isinstance(value, str) and value.strip() in RENDERED_NOTHING:
        none = value.strip() == "None"
        raise AEPValidationError(
            field,
            value,
            f"an AEP id or name, not {'the text None' if none else 'an empty string'}: the template "
            f"rendered {'None' if none else 'nothing'} (an upstream task returned nothing, or the "
            "XCom or variable it reads is missing)",
        )


def check_id(field: str, value: Any) -> str:
    """The id, or AEPValidationError naming the field when it cannot be an AEP id."""
    refuse_rendered_nothing(field, value)
    if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
        raise AEPValidationError(
            field,
            value,
            "an AEP id: 1 to 128 letters, digits and . _ : @ - (no '/', '?', '#', '%', spaces), "
            "e.g. create_flow.output",
        )
    return value


def check_name(field: str, value: Any) -> str:
    """An entity's name as a lookup takes it: text that is not what a missing value renders."""
    refuse_rendered_nothing(field, value)
    if not isinstance(value, str) or not value.strip():
        raise AEPValidationError(field, value, "the entity's name, as AEP shows it")
    return value


def path_segment(field: str, value: Any) -> str:
    """A checked id, percent-encoded as one URL path segment."""
    return quote(check_id(field, value), safe="")


def check_path(path: str) -> str:
    """The hook's last look at a path: whole segments only, no ``.``/``..``, no query, no fragment."""
    segments = path.split("/")[1:]
    if not PATH_PATTERN.fullmatch(path) or any(s in (".", "..") for s in segments):
        raise AEPValidationError("path", path, "a Flow Service path of plain or percent-encoded segments")
    return path


def check_sandbox_name(field: str, value: Any) -> str:
    """The sandbox name, or AEPValidationError: it becomes the ``x-sandbox-name`` header."""
    if not isinstance(value, str) or not SANDBOX_PATTERN.fullmatch(value):
        raise AEPValidationError(
            field, value, "an AEP sandbox name: lowercase letters, digits and hyphens, e.g. 'prod'"
        )
    return value


#: The Flow Service collections addressed by id, and the name their ids go by in errors.
ID_FIELDS = {
    "connections": "base_connection_id",
    "sourceConnections": "source_connection_id",
    "targetConnections": "target_connection_id",
    "flows": "flow_id",
    "runs": "run_id",
}

#: The Flow Service collections whose entities the provider creates, reads and deletes.
EntityKind = Literal["connections", "sourceConnections", "targetConnections", "flows"]

#: What each collection's entities are called in messages.
ENTITY_NAMES = {
    "connections": "base connection",
    "sourceConnections": "source connection",
    "targetConnections": "target connection",
    "flows": "dataflow",
    "runs": "dataflow run",
}


def collection(kind: str) -> str:
    """A Flow Service collection name, or ValueError: it is a path segment too."""
    if kind not in ID_FIELDS:
        raise ValueError(f"unknown Flow Service collection {kind!r}; one of {', '.join(ID_FIELDS)}")
    return kind


def entity_path(kind: str, entity_id: Any) -> str:
    """``/flows/<id>``: the id checked and encoded as one segment, named by its field in errors."""
    return f"/{collection(kind)}/{path_segment(ID_FIELDS[kind], entity_id)}"
