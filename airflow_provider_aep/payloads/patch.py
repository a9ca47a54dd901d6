"""JSON Patch (RFC 6902) documents: their pointers, the operations a change needs, and whether
a patch already shows in a document.

A PATCH whose answer was lost, or that met a 412, is re-checked against the entity as it is now
instead of being sent again blindly: only what the entity does not show yet goes out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: What AEP shows in place of a secret it keeps: such a value cannot be compared with ours.
HIDDEN_SECRET_VALUES = frozenset({"***", "<encrypted>", ""})


def pointer(*keys: str) -> str:
    """A JSON Pointer (RFC 6901) to a nested key: ``~`` and ``/`` in a key are escaped."""
    return "".join("/" + str(key).replace("~", "~0").replace("/", "~1") for key in keys)


def paths_of(operations: Sequence[Mapping[str, Any]]) -> str:
    """The paths a patch touches, for a log line: ``/params/path, /params/bucketName``."""
    return ", ".join(str(op["path"]) for op in operations) or "nothing"


def shows_hidden_secret(value: Any) -> bool:
    """A value AEP shows in place of a secret it keeps (``***``, ``<encrypted>``, empty)."""
    return isinstance(value, str) and value in HIDDEN_SECRET_VALUES


def changed_params(
    current: Mapping[str, Any], wanted: Mapping[str, Any], *prefix: str
) -> list[dict[str, Any]]:
    """``replace`` (or ``add``) operations for the wanted params that the entity lacks or hides."""
    return [
        {"op": "replace" if key in current else "add", "path": pointer(*prefix, key), "value": value}
        for key, value in wanted.items()
        if key not in current
        or current[key] is None
        or shows_hidden_secret(current[key])
        or current[key] != value
    ]


def unapplied_operations(
    document: Mapping[str, Any], operations: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The JSON Patch operations whose effect ``document`` does not show yet, for any patch.

    ``add``/``replace`` are in place when the pointer holds the value; an append (``.../-``) when
    the list holds an item with every key of the value (AEP adds read-only keys such as
    ``createTime``); ``remove`` when the pointer leads nowhere. Used to re-check a patch after a
    412 or a lost answer instead of sending it again blindly.
    """
    return [dict(op) for op in operations if not _in_place(document, op)]


def _in_place(document: Any, op: Mapping[str, Any]) -> bool:
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in str(op["path"]).split("/")[1:]]
    found, target = _resolve(document, tokens)
    if op["op"] == "remove":
        return not found
    if tokens and tokens[-1] == "-":
        found, items = _resolve(document, tokens[:-1])
        return found and isinstance(items, list) and any(_holds(item, op.get("value")) for item in items)
    return found and target == op.get("value")


def _resolve(node: Any, tokens: Sequence[str]) -> tuple[bool, Any]:
    for token in tokens:
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return False, None
    return True, node


def _holds(have: Any, want: Any) -> bool:
    """``have`` is ``want``, or a mapping with every key of ``want`` holding the same (recursively)."""
    if isinstance(have, Mapping) and isinstance(want, Mapping):
        return all(k in have and _holds(have[k], v) for k, v in want.items())
    return bool(have == want)
