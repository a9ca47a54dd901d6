"""Whether a JSON Patch (RFC 6902) already shows in a document, for any patch of a flow.

A PATCH whose answer was lost, or that met a 412, is re-checked against the flow as it is now
instead of being sent again blindly: only what the flow does not show yet goes out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


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
