"""What the audience mapping of Adobe's current activation tutorial reads and creates.

- the profile union schema (``/data/core/ups/config/entityTypes/_xdm.context.profile``) and the
  identity namespaces (``/data/core/idnamespace/identities``), read only;
- Data Prep schemas and mapping sets (``/data/foundation/conversion``): a mapping set names the
  columns of an audience export (source attribute -> column header), and an enhanced audience
  flow points at one with ``profileMapping``.

The mapping set's rules are the tutorial's: a column header has no dot, each header once, at
most one identity per mapping, and every source is an attribute of the input schema or an
identity namespace of the sandbox.
"""

from __future__ import annotations

import copy
import time
import uuid
from typing import Any

from aep_emulator.errors import bad_request, flow_error
from aep_emulator.state import State

IDENTITY_PREFIX = "identityMap."


def _string(title: str) -> dict[str, Any]:
    return {"type": "string", "title": title, "meta:xdmType": "string"}


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "meta:xdmType": "object", "properties": properties}


#: The union schema's attributes (an excerpt of XDM Individual Profile, with the field groups
#: the tutorials map from).
UNION_SCHEMA: dict[str, Any] = {
    "$id": "https://ns.adobe.com/xdm/context/profile__union",
    "title": "XDM Individual Profile",
    "type": "object",
    "meta:class": "https://ns.adobe.com/xdm/context/profile",
    "properties": {
        "person": _object(
            name=_object(
                firstName=_string("First name"), lastName=_string("Last name"), fullName=_string("Full name")
            ),
            birthDate=_string("Birth date"),
            gender=_string("Gender"),
        ),
        "personalEmail": _object(address=_string("Address"), status=_string("Status")),
        "mobilePhone": _object(number=_string("Number")),
        "homeAddress": _object(
            city=_string("City"), countryCode=_string("Country code"), postalCode=_string("Postal code")
        ),
        "loyalty": _object(tier=_string("Tier"), points=_string("Points")),
        "identityMap": {"type": "object", "meta:xdmType": "map", "additionalProperties": {"type": "array"}},
        "segmentMembership": {
            "type": "object",
            "meta:xdmType": "map",
            "additionalProperties": {"type": "object"},
        },
    },
}

#: The sandbox's identity namespaces (the standard ones of every organisation).
IDENTITY_NAMESPACES = [
    {"code": "ECID", "id": 4, "name": "ECID", "idType": "COOKIE"},
    {"code": "Email", "id": 6, "name": "Email", "idType": "Email"},
    {"code": "Phone", "id": 7, "name": "Phone", "idType": "Phone"},
    {"code": "Phone_E.164", "id": 16, "name": "Phone (E.164)", "idType": "Phone"},
    {"code": "GAID", "id": 20915, "name": "Google Ad ID (GAID)", "idType": "DEVICE"},
    {"code": "CRMID", "id": 21, "name": "CRM ID", "idType": "CROSS_DEVICE"},
]


def identities() -> list[dict[str, Any]]:
    return [
        {**n, "namespaceType": "Standard", "status": "ACTIVE", "custom": False, "description": n["name"]}
        for n in IDENTITY_NAMESPACES
    ]


def attribute_paths(schema: dict[str, Any], prefix: str = "") -> set[str]:
    """Every attribute path of an XDM JSON schema, objects and leaves alike."""
    paths = set()
    for name, rule in (schema.get("properties") or {}).items():
        paths.add(prefix + name)
        if isinstance(rule, dict) and rule.get("properties"):
            paths |= attribute_paths(rule, f"{prefix}{name}.")
    return paths


def namespace_of(source: str) -> str | None:
    """``identityMap.Phone_E//.164`` -> ``Phone_E.164`` (the tutorial escapes a dot with ``//``)."""
    if not source.startswith(IDENTITY_PREFIX):
        return None
    return source[len(IDENTITY_PREFIX) :].replace("//.", ".")


class Conversion:
    """Data Prep schemas and mapping sets, per sandbox."""

    def __init__(self, state: State) -> None:
        self.state = state

    def create_schema(self, sandbox: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"]:
            raise _invalid("name is required and must be a string")
        if not isinstance(body.get("jsonSchema"), dict):
            raise _invalid("jsonSchema is required and must be a JSON schema object")
        schema = {
            "id": uuid.uuid4().hex,
            "version": 0,
            "name": body["name"],
            "jsonSchema": copy.deepcopy(body["jsonSchema"]),
            "createdDate": int(time.time() * 1000),
        }
        with self.state.lock:
            self.state.entities(sandbox, "schemas")[schema["id"]] = schema
            self.state.save()
        return copy.deepcopy(schema)

    def create_mapping_set(self, sandbox: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise _invalid("the body must be a mapping set object")
        with self.state.lock:
            schemas = self.state.entities(sandbox, "schemas")
            input_schema = schemas.get(_schema_id(body, "inputSchema"))
            output_schema = schemas.get(_schema_id(body, "outputSchema"))
            if input_schema is None or output_schema is None:
                which = "inputSchema" if input_schema is None else "outputSchema"
                raise _invalid(
                    f"{which}.id {_schema_id(body, which)!r} is not a schema of sandbox {sandbox!r}"
                )
            mappings = _check_mappings(body.get("mappings"), attribute_paths(input_schema["jsonSchema"]))
            now = int(time.time() * 1000)
            mapping_set: dict[str, Any] = {
                "id": uuid.uuid4().hex,
                "version": 0,
                "inputSchema": {"id": input_schema["id"], "version": 0},
                "outputSchema": {"id": output_schema["id"], "version": 0},
                "mappings": mappings,
                "xdmVersion": str(body.get("xdmVersion") or "1.0"),
                "createdDate": now,
                "modifiedDate": now,
                "createdBy": "emulator",
                "modifiedBy": "emulator",
            }
            self.state.entities(sandbox, "mappingSets")[mapping_set["id"]] = mapping_set
            self.state.save()
        return {
            k: mapping_set[k]
            for k in ("id", "version", "createdDate", "modifiedDate", "createdBy", "modifiedBy")
        }

    def get_mapping_set(self, sandbox: str, mapping_set_id: str) -> dict[str, Any]:
        with self.state.lock:
            found = self.state.entities(sandbox, "mappingSets").get(mapping_set_id)
            if found is None:
                raise flow_error(
                    404, "1439-404", "Resource not found", f"Mapping set with id {mapping_set_id} not found"
                )
            return copy.deepcopy(found)

    def mapping_set(self, sandbox: str, mapping_set_id: Any) -> dict[str, Any] | None:
        if not isinstance(mapping_set_id, str):
            return None
        return self.state.entities(sandbox, "mappingSets").get(mapping_set_id)


def _schema_id(body: dict[str, Any], key: str) -> Any:
    ref = body.get(key)
    return ref.get("id") if isinstance(ref, dict) else None


def _check_mappings(mappings: Any, known: set[str]) -> list[dict[str, Any]]:
    if not isinstance(mappings, list) or not mappings:
        raise _invalid("mappings must be a non-empty array")
    namespaces = {n["code"] for n in IDENTITY_NAMESPACES}
    checked, headers, identities_mapped = [], set(), []
    for index, mapping in enumerate(mappings):
        where = f"mappings[{index}]"
        if not isinstance(mapping, dict):
            raise _invalid(f"{where} must be an object")
        source, header = mapping.get("source"), mapping.get("destination")
        if not isinstance(header, str) or not header or "." in header:
            raise _invalid(f"{where}.destination {header!r} must be a column name without dots")
        if header in headers:
            raise _invalid(f"{where}.destination {header!r} is mapped twice")
        headers.add(header)
        if not isinstance(source, str) or not source:
            raise _invalid(f"{where}.source must be an attribute path")
        namespace = namespace_of(source)
        if namespace is not None:
            if namespace not in namespaces:
                raise _invalid(
                    f"{where}.source {source!r}: {namespace!r} is not an identity namespace of the sandbox"
                )
            identities_mapped.append(source)
        elif source not in known and not source.startswith("segmentMembership."):
            raise _invalid(f"{where}.source {source!r} is not an attribute of the input schema")
        checked.append(
            {"destination": header, "source": source, "sourceType": mapping.get("sourceType", "ATTRIBUTE")}
        )
    if len(identities_mapped) > 1:
        raise _invalid(f"only one identity may be mapped per dataflow, not {', '.join(identities_mapped)}")
    return checked


def _invalid(detail: str) -> Exception:
    return bad_request(detail, code="1051-400")
