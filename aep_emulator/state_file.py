"""Reading a ``--state`` file: the whole file is checked at start, so a bad one stops the start.

A state file cut short (a full disk, a copy interrupted) or one of another shape (another JSON
file named by mistake, an edit gone wrong) would otherwise start an emulator that answers every
request with a 500, or overwrite the file on its first save. Each refusal names the file and
the first place that is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

KINDS = ("connections", "sourceConnections", "targetConnections", "flows", "runs", "schemas", "mappingSets")
SECTIONS = ("sandboxes", "tokens", "meta", "requests")
META_KINDS = ("flows", "runs")
#: Bookkeeping values the run engine does arithmetic on.
NUMERIC_META = ("complete_at", "next_due", "emitted", "attempt", "index", "run_time")


class StateFileError(ValueError):
    """The state file cannot be used; the message names the file and what is wrong."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"The AEP emulator state file {path} {problem}. Fix it, or move it away to start with "
            "an empty state."
        )
        self.path = path


def load(path: Path, empty: dict[str, Any]) -> dict[str, Any]:
    """The state in ``path`` laid over ``empty``, after checking its every section."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise StateFileError(path, f"cannot be read ({type(err).__name__}: {err.strerror})") from None
    except UnicodeDecodeError:
        raise StateFileError(path, "is not UTF-8 text, so not a saved state") from None
    if not text.strip():
        raise StateFileError(path, "is empty, so not a saved state")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise StateFileError(
            path, f"is not whole JSON, perhaps cut short ({err.msg} at line {err.lineno}, column {err.colno})"
        ) from None
    if not isinstance(data, dict):
        raise StateFileError(path, f"holds {_kind(data)} of JSON, not the object the emulator saves")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise StateFileError(
            path,
            f"has {', '.join(map(repr, unknown))}, not a section of an emulator state "
            f"({', '.join(SECTIONS)}): is it another file?",
        )
    state = {**empty, **data}
    try:
        _check(state)
    except _Wrong as err:
        raise StateFileError(path, f"is not an emulator state: {err}") from None
    return state


class _Wrong(Exception):
    """Where the state is wrongly shaped and how."""


def _kind(value: Any) -> str:
    """What a JSON value is, for a message: ``a list``, ``null``..."""
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return kinds.get(type(value), "a number")


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Wrong(f"{where} is {_kind(value)}, not an object")
    return value


def _objects(value: Any, where: str) -> dict[str, dict[str, Any]]:
    """An object whose every value is an object too (entities, tokens, bookkeeping by id)."""
    for key, item in _object(value, where).items():
        _object(item, f"{where}.{key}")
    return value


def _check(state: Mapping[str, Any]) -> None:
    for name, box in _object(state["sandboxes"], "sandboxes").items():
        kinds = _object(box, f"sandboxes.{name}")
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown:
            raise _Wrong(f"sandboxes.{name} has {unknown[0]!r}, not one of {', '.join(KINDS)}")
        for kind in KINDS:
            entities = _objects(kinds.setdefault(kind, {}), f"sandboxes.{name}.{kind}")
            for entity_id, entity in entities.items():
                if entity.get("id") != entity_id:
                    raise _Wrong(f"sandboxes.{name}.{kind}.{entity_id} has the id {entity.get('id')!r}")
    _objects(state["tokens"], "tokens")
    meta = _object(state["meta"], "meta")
    unknown = sorted(set(meta) - set(META_KINDS))
    if unknown:
        raise _Wrong(f"meta has {unknown[0]!r}, not flows or runs")
    for kind in META_KINDS:
        for key, entry in _objects(meta.setdefault(kind, {}), f"meta.{kind}").items():
            _check_meta(entry, f"meta.{kind}.{key}", needs_sandbox=kind == "runs")
    requests = state["requests"]
    if not isinstance(requests, list):
        raise _Wrong(f"requests is {_kind(requests)}, not a list")
    for index, entry in enumerate(requests):
        _object(entry, f"requests[{index}]")


def _check_meta(entry: dict[str, Any], where: str, *, needs_sandbox: bool) -> None:
    sandbox = entry.get("sandbox")
    if (needs_sandbox or "sandbox" in entry) and not isinstance(sandbox, str):
        raise _Wrong(f"{where}.sandbox is {_kind(sandbox)}, not a sandbox name")
    for key in NUMERIC_META:
        value = entry.get(key)
        if key in entry and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise _Wrong(f"{where}.{key} is {_kind(value)}, not a number")
