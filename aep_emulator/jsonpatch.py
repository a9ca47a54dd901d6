"""RFC 6902 ``add``, ``replace`` and ``remove``: the operations Flow Service accepts on its entities."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Collection
from typing import Any

from aep_emulator.errors import bad_request

ALLOWED_OPS = ("add", "replace", "remove")
_INDEX = re.compile(r"0|[1-9][0-9]*")


def apply_patch(
    document: dict[str, Any],
    operations: Any,
    owned: Collection[str] = (),
    *,
    allowed: Callable[[list[str]], bool] | None = None,
    allowed_hint: str = "",
) -> dict[str, Any]:
    """A patched copy of ``document``; a bad operation is a 400 naming it.

    ``owned`` names the top-level fields the service sets (``id``, ``etag``, ``state`` ...): an
    operation on them, or below them, is refused rather than silently undone. ``allowed``, when
    given, takes a path's reference tokens and says whether a user may change it at all.
    """
    if not isinstance(operations, list) or not operations:
        raise bad_request("The request body must be a non-empty JSON Patch array")
    patched = copy.deepcopy(document)
    for index, operation in enumerate(operations):
        if not isinstance(operation, dict):
            raise bad_request(f"Patch operation {index} is not an object")
        op, path = operation.get("op"), operation.get("path")
        # RFC 6902 and the tutorials write ops in lowercase; Adobe's spec enumerates ADD/REPLACE/REMOVE.
        op = op.lower() if isinstance(op, str) else op
        if op not in ALLOWED_OPS:
            raise bad_request(
                f"Patch operation {index}: op {op!r} is not supported; use add, replace or remove"
            )
        if not isinstance(path, str) or not path.startswith("/"):
            raise bad_request(f"Patch operation {index}: path {path!r} is not a JSON Pointer")
        if op != "remove" and "value" not in operation:
            raise bad_request(f"Patch operation {index}: {op} needs a value")
        field = _tokens(path)[0]
        if field in owned:
            raise bad_request(f"Patch operation {index}: {path} is owned by AEP and cannot be changed")
        if not field:
            raise bad_request(f"Patch operation {index}: path {path!r} does not name a field")
        if allowed is not None and not allowed(_tokens(path)):
            raise bad_request(f"Patch operation {index}: {path} cannot be changed by a PATCH; {allowed_hint}")
        _apply(patched, op, path, operation.get("value"), index)
    return patched


def _tokens(path: str) -> list[str]:
    """RFC 6901 reference tokens of a pointer that starts with ``/``."""
    return [t.replace("~1", "/").replace("~0", "~") for t in path.split("/")[1:]]


def _apply(document: Any, op: str, path: str, value: Any, index: int) -> None:
    tokens = _tokens(path)
    parent = document
    for token in tokens[:-1]:
        parent = _step(parent, token, path, index)
    last = tokens[-1]
    if isinstance(parent, list):
        if last == "-" and op == "add":
            parent.append(copy.deepcopy(value))
            return
        position = _list_index(parent, last, path, index, inserting=op == "add")
        if op == "add":
            parent.insert(position, copy.deepcopy(value))
        elif op == "replace":
            parent[position] = copy.deepcopy(value)
        else:
            del parent[position]
    elif isinstance(parent, dict):
        if op in ("replace", "remove") and last not in parent:
            raise bad_request(f"Patch operation {index}: {path} does not exist")
        if op == "remove":
            del parent[last]
        else:
            parent[last] = copy.deepcopy(value)
    else:
        raise bad_request(f"Patch operation {index}: {path} does not point into an object or array")


def _step(node: Any, token: str, path: str, index: int) -> Any:
    if isinstance(node, dict) and token in node:
        return node[token]
    if isinstance(node, list):
        return node[_list_index(node, token, path, index, inserting=False)]
    raise bad_request(f"Patch operation {index}: {path} does not exist")


def _list_index(items: list[Any], token: str, path: str, index: int, *, inserting: bool) -> int:
    if not _INDEX.fullmatch(token):
        raise bad_request(f"Patch operation {index}: {path} has a bad array index {token!r}")
    position = int(token)
    if position > len(items) or (position == len(items) and not inserting):
        raise bad_request(f"Patch operation {index}: {path} is out of range")
    return position
