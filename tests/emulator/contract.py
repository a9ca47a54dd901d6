"""Adobe's response examples as contracts: the keys and JSON types an answer must have.

An example's *shape* is, recursively: for an object, its keys, each with the shape of its value;
for an array, the shape of its elements, merged; for a scalar, its JSON type (``string``,
``number`` for int and float alike, ``boolean``). A ``null`` says nothing about the type, so it
matches anything. Merging the elements of an array keeps every key; a key that some elements
lack is optional (checked for its type where an answer has it), since one list holds entities of
different kinds (an S3 and an SFTP connection have different ``auth.params``). Where elements
give a key different types (the ``value`` of JSON Patch operations), the shape is :class:`Either`
of them, and :func:`mixed` lists where.

An answer matches a shape when every required key is there with the same type; more keys are
fine. :func:`differences` lists what does not match, one line per key path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SPECS = Path(__file__).parent.parent / "fixtures" / "openapi"
DESTINATIONS = "destinations.yaml"
FLOW_SERVICE = "flow-service.yaml"
SPEC_FILES = (DESTINATIONS, FLOW_SERVICE)
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Obj:
    """An object's shape: each key's shape, and the keys not every merged element has."""

    fields: Mapping[str, Shape]
    optional: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Arr:
    """An array's shape: its elements' shapes merged (``None`` for an empty array: any element)."""

    element: Shape


@dataclass(frozen=True)
class Either:
    """Elements that disagree on a key's type: one shape per JSON type they give it."""

    options: tuple[Shape, ...]


#: ``None`` (Adobe's ``null``, or an empty array's element): anything goes.
Shape = str | Obj | Arr | Either | None


@dataclass(frozen=True)
class Example:
    """One response example of one operation in one of Adobe's OpenAPI files."""

    spec: str
    operation: str
    status: int
    name: str
    value: Any = field(compare=False, repr=False)

    @property
    def label(self) -> str:
        return f"{self.spec} {self.operation} {self.status} {self.name}"


@dataclass(frozen=True)
class Difference:
    """A key of Adobe's example that the answer lacks, or has with another JSON type."""

    path: str
    adobe: str
    emulator: str

    def __str__(self) -> str:
        return f"{self.path or '(body)'}: Adobe {self.adobe}, emulator {self.emulator}"


def operation_key(method: str, path: str) -> str:
    """``GET /flows/{id}`` for any spelling of the path parameter, with or without a trailing slash."""
    normal = re.sub(r"\{[^}]+\}", "{id}", path.rstrip("/") or "/")
    return f"{method.upper()} {normal}"


@cache
def load(spec: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((SPECS / spec).read_text())
    return document


def _resolve(document: dict[str, Any], ref: str) -> Any:
    """A local ``$ref`` (``#/components/...``), or None when it names nothing (Adobe's files have such)."""
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _media_examples(document: dict[str, Any], media: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(name, value) of one response body: ``example``, ``examples.*`` (inline or ``$ref`` to
    ``components/examples``) and the ``example`` of the body's schema (``components/schemas``)."""
    if "example" in media:
        yield "example", media["example"]
    for name, entry in (media.get("examples") or {}).items():
        if "$ref" in entry:
            entry = _resolve(document, entry["$ref"])
        if isinstance(entry, dict) and "value" in entry:
            yield name, entry["value"]
    schema = media.get("schema") or {}
    if "$ref" in schema:
        schema = _resolve(document, schema["$ref"]) or {}
    if "example" in schema:
        yield "schema example", schema["example"]


@cache
def all_examples(spec: str) -> tuple[Example, ...]:
    """Every JSON response example of every operation of one OpenAPI file."""
    document = load(spec)
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            for status, response in (operation.get("responses") or {}).items():
                media = ((response or {}).get("content") or {}).get("application/json") or {}
                for name, value in _media_examples(document, media):
                    found.append(Example(spec, operation_key(method, path), int(status), name, value))
    return tuple(found)


def example(spec: str, operation: str, status: int, name: str = "example") -> Example:
    """One example, found by where it is; KeyError names what is missing."""
    for candidate in all_examples(spec):
        if (candidate.operation, candidate.status, candidate.name) == (operation, status, name):
            return candidate
    raise KeyError(f"{spec} has no {status} example {name!r} for {operation}")


#: The name of an :class:`Example` that stands for an answer with no body.
NO_CONTENT = "no content"


def no_content(spec: str, operation: str, status: int) -> Example:
    """An answer the spec documents with no body (``DELETE``'s 202): the contract is an empty body."""
    method = operation.split(" ", 1)[0]
    for spec_path, operations in load(spec)["paths"].items():
        if operation_key(method, spec_path) == operation:
            response = operations[method.lower()]["responses"].get(str(status), {"content": "absent"})
            if not (response or {}).get("content"):
                return Example(spec, operation, status, NO_CONTENT, None)
    raise KeyError(f"{spec} documents no {status} without a body for {operation}")


def component_example(spec: str, name: str) -> object:
    """The value of ``components/examples/<name>`` (a request body, for the requests that drive a case)."""
    value: object = load(spec)["components"]["examples"][name]["value"]
    return value


def schema_property_example(spec: str, schema: str) -> Example:
    """The object a flat schema's property examples make (``components/schemas/<schema>``)."""
    properties = load(spec)["components"]["schemas"][schema]["properties"]
    value = {key: prop["example"] for key, prop in properties.items()}
    return Example(spec, f"components/schemas/{schema}", 0, "property examples", value)


def shape(value: Any, path: str = "") -> Shape:
    """The shape of a JSON value (see the module docstring)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        element: Shape = None
        for item in value:
            element = merge(element, shape(item, f"{path}[]"))
        return Arr(element)
    if isinstance(value, dict):
        return Obj({key: shape(item, _join(path, key)) for key, item in value.items()})
    raise TypeError(f"{path}: {type(value).__name__} is not JSON")


def merge(a: Shape, b: Shape) -> Shape:
    """Two elements' shapes as one: keys of either, optional unless both have them."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, Either) or isinstance(b, Either) or kind(a) != kind(b):
        options = list(a.options) if isinstance(a, Either) else [a]
        for new in b.options if isinstance(b, Either) else (b,):
            same = [i for i, old in enumerate(options) if kind(old) == kind(new)]
            if same:
                options[same[0]] = merge(options[same[0]], new)
            else:
                options.append(new)
        return Either(tuple(options)) if len(options) > 1 else options[0]
    if isinstance(a, Obj) and isinstance(b, Obj):
        keys = list(a.fields) + [k for k in b.fields if k not in a.fields]
        fields = {
            k: merge(a.fields[k], b.fields[k])
            if k in a.fields and k in b.fields
            else a.fields.get(k, b.fields.get(k))
            for k in keys
        }
        return Obj(fields, a.optional | b.optional | (set(a.fields) ^ set(b.fields)))
    if isinstance(a, Arr) and isinstance(b, Arr):
        return Arr(merge(a.element, b.element))
    return a


def kind(value: Shape) -> str:
    """The JSON type a shape stands for."""
    if value is None:
        return "any"
    if isinstance(value, Obj):
        return "object"
    if isinstance(value, Arr):
        return "array"
    if isinstance(value, Either):
        return "|".join(sorted(kind(option) for option in value.options))
    return value


def json_type(value: Any) -> str:
    """The JSON type of a value (``null`` included)."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return kind(shape(value))


def differences(expected: Shape, actual: Any, path: str = "") -> list[Difference]:
    """What ``actual`` (a JSON answer) lacks of ``expected``, each key path once."""
    found: dict[str, Difference] = {}
    _compare(expected, actual, path, found)
    return list(found.values())


def _compare(expected: Shape, actual: Any, path: str, found: dict[str, Difference]) -> None:
    if expected is None:
        return
    if isinstance(expected, Either):
        expected = next((o for o in expected.options if kind(o) == json_type(actual)), expected)
    if kind(expected) != json_type(actual):
        found.setdefault(path, Difference(path, kind(expected), json_type(actual)))
        return
    if isinstance(expected, Obj):
        for key, sub in expected.fields.items():
            where = _join(path, key)
            if key in actual:
                _compare(sub, actual[key], where, found)
            elif key not in expected.optional:
                found.setdefault(where, Difference(where, kind(sub), "missing"))
    elif isinstance(expected, Arr):
        for item in actual:
            _compare(expected.element, item, f"{path}[]", found)


def keys(value: Shape, path: str = "") -> Iterator[str]:
    """Every key path of a shape (to check that a waiver names a key Adobe's example has)."""
    if isinstance(value, Obj):
        for key, sub in value.fields.items():
            where = _join(path, key)
            yield where
            yield from keys(sub, where)
    elif isinstance(value, Arr):
        yield from keys(value.element, f"{path}[]")
    elif isinstance(value, Either):
        for option in value.options:
            yield from keys(option, path)


def mixed(value: Shape, path: str = "") -> Iterator[str]:
    """Key paths whose elements disagree on the type (an :class:`Either`)."""
    if isinstance(value, Either):
        yield path
        for option in value.options:
            yield from mixed(option, path)
    elif isinstance(value, Obj):
        for key, sub in value.fields.items():
            yield from mixed(sub, _join(path, key))
    elif isinstance(value, Arr):
        yield from mixed(value.element, f"{path}[]")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
