"""PATCH of base, source and target connections: which paths a user may change, and the checks.

Each function takes the stored entity and the JSON Patch, and returns the patched entity after
checking it against its connection spec as a create would; nothing is stored here, so a bad
patch leaves the entity as it was.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from aep_emulator import credentials
from aep_emulator import validation as check
from aep_emulator.catalog import DATA_LAKE_SPEC_ID
from aep_emulator.datasets import BY_ID as DATASETS_BY_ID
from aep_emulator.errors import bad_request, flow_error
from aep_emulator.jsonpatch import apply_patch

_NAMING = (["name"], ["description"])


def check_etag(entity: dict[str, Any], if_match: str | None, what: str) -> None:
    """``If-Match`` is required (400 ``1403-400``) and must be the current etag (412 ``1404-412``)."""
    if not if_match:
        raise flow_error(
            400, "1403-400", "Bad Request", f"The If-Match header with the {what}'s etag is required"
        )
    if if_match.strip() != entity["etag"]:
        raise flow_error(
            412,
            "1404-412",
            "Precondition Failed",
            f"The etag {if_match[:80]} is stale for {what} {entity['id']}",
        )


def as_operations(body: Any) -> Any:
    """The spec documents ``PATCH /connections/{id}/`` with one operation as the body: a list of it."""
    return [body] if isinstance(body, dict) else body


def _named(patched: dict[str, Any]) -> None:
    check.require_name(patched)
    patched["description"] = check.optional_string(patched, "description")


# -- base connections ------------------------------------------------------------------------------


def patch_base_connection(
    entity: dict[str, Any], kept: dict[str, Any] | None, operations: Any
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The patched connection (secrets masked) and its auth params as sent, for memory only.

    ``kept`` holds the params as sent when the emulator has them; the patch applies to those,
    so replacing one key keeps the others' real values. Without them (the emulator was started
    from a state file) the masked secrets stand in, unchecked, until a patch replaces them all.

    ``/auth`` may be replaced whole (``{"specName", "params"}``): that is how a connection
    changes auth spec in place (SFTP with a password to SFTP with an SSH key). The new params
    are checked against the new auth spec alone, none of the old ones is kept, and a param that
    spec does not declare is refused (it would be an old credential riding along).
    """
    auth = entity.get("auth")
    spec = check.connection_specs()[entity["connectionSpec"]["id"]]

    def allowed(path: list[str]) -> bool:
        return path in _NAMING or (auth is not None and (path == ["auth"] or path[:2] == ["auth", "params"]))

    hint = "a base connection takes /name, /description" + (
        ", /auth whole ({specName, params}) and /auth/params/<name> (or /auth/params whole)"
        if auth is not None
        else ""
    )
    document = copy.deepcopy(entity)
    if auth is not None:
        document["auth"]["params"] = credentials.without_authorized_date(
            copy.deepcopy((kept or auth).get("params") or {})
        )
    patched = apply_patch(document, operations, allowed=allowed, allowed_hint=hint)
    _named(patched)
    if auth is None:
        return patched, None
    whole = any(op.get("path") == "/auth" for op in operations)
    auth_spec = _new_auth_spec(spec, patched.get("auth"))
    params = patched["auth"].get("params")
    if whole:
        _check_declared(auth_spec, params)
    unknown = () if kept is not None or whole else _masked_secrets(params, auth_spec)
    _check_auth_params(auth_spec, params, unknown)
    patched["auth"] = {"specName": auth_spec["name"], "params": credentials.shown(params, auth_spec)}
    if unknown:
        return patched, None  # some secret is still unknown: nothing whole to keep in memory
    return patched, params


def _new_auth_spec(spec: dict[str, Any], auth: Any) -> dict[str, Any]:
    """The auth spec the patched ``auth`` names, or a 400 (``auth`` stays: it holds the credentials)."""
    names = ", ".join(a["name"] for a in spec.get("authSpec", []))
    if not isinstance(auth, dict):
        raise bad_request(
            f"auth must stay an object {{specName, params}} for {spec['name']}: specName one of {names}",
            code="1017-400",
        )
    extra = sorted(set(auth) - {"specName", "params"})
    if extra:
        raise bad_request(
            f"auth.{extra[0][:80]} is not a field of auth: it takes specName and params", code="1017-400"
        )
    name = auth.get("specName")
    chosen = next((a for a in spec.get("authSpec", []) if a["name"] == name), None)
    if chosen is None:
        raise bad_request(
            f"auth.specName {str(name)[:80]!r} is not an auth spec of {spec['name']}: use one of {names}",
            code="1017-400",
        )
    return chosen


def _check_declared(auth_spec: dict[str, Any], params: Any) -> None:
    """A whole new ``auth`` carries only the params its auth spec declares (named, never quoted)."""
    if not isinstance(params, dict):
        return  # _check_auth_params refuses it
    declared = auth_spec["spec"].get("properties", {})
    extra = sorted(str(k) for k in params if k not in declared)
    if extra:
        raise bad_request(
            f"auth.params.{extra[0][:80]} is not a parameter of {auth_spec['name']}: "
            f"it takes {', '.join(declared)}",
            code="1016-400",
        )


def _masked_secrets(params: Any, auth_spec: dict[str, Any]) -> tuple[str, ...]:
    """Secrets still masked (their values are not in memory): not checked, as they were at create."""
    if not isinstance(params, dict):
        return ()
    return tuple(k for k in credentials.secret_names(auth_spec) if params.get(k) == credentials.MASK)


def _check_auth_params(auth_spec: dict[str, Any], params: Any, unknown: tuple[str, ...]) -> None:
    """The auth spec's JSON Schema, with messages that never quote a value (it may be a secret)."""
    schema = auth_spec["spec"]
    if unknown:
        props = {k: v for k, v in schema.get("properties", {}).items() if k not in unknown}
        schema = {**schema, "properties": props}
    if not isinstance(params, dict):
        raise bad_request("auth.params must be an object", code="1016-400")
    check.check_schema(schema, params, "auth.params", code="1016-400", hide_values=True)


# -- source connections ------------------------------------------------------------------------------


def patch_source_connection(
    entity: dict[str, Any], operations: Any, eligible: Callable[[str], bool] | None = None
) -> dict[str, Any]:
    """A Data Lake source's datasets (add, remove, replace) and any source's name and description.

    Adobe's spec allows ``/params/datasets`` in a PATCH although the dataset-export tutorial says
    a source connection's datasets cannot change: the emulator follows the spec.
    """
    data_lake = entity["connectionSpec"]["id"] == DATA_LAKE_SPEC_ID

    def allowed(path: list[str]) -> bool:
        return path in _NAMING or (data_lake and path[:2] == ["params", "datasets"])

    hint = "a source connection takes /name, /description" + (" and /params/datasets" if data_lake else "")
    patched = apply_patch(entity, operations, allowed=allowed, allowed_hint=hint)
    _named(patched)
    if data_lake:
        check_datasets(patched.get("params"), eligible)
    return patched


def check_datasets(params: Any, eligible: Callable[[str], bool] | None = None) -> None:
    """A Data Lake source's datasets: the spec's schema (at least one), each eligible, each once.

    ``eligible`` says whether an id is a dataset of the sandbox (the seed datasets, and the ones
    its queries made); without it, the seed datasets only.
    """
    known = eligible or DATASETS_BY_ID.__contains__
    spec = check.connection_specs()[DATA_LAKE_SPEC_ID]
    check.check_schema(spec["sourceSpec"]["spec"], params, "params", code="1016-400")
    seen: set[str] = set()
    for index, dataset in enumerate(params["datasets"]):
        dataset_id = dataset["dataSetId"]
        if not known(dataset_id):
            raise bad_request(
                f"params.datasets[{index}].dataSetId {dataset_id!r} is not a dataset eligible for export",
                code="1041-400",
            )
        if dataset_id in seen:
            raise bad_request(
                f"params.datasets[{index}].dataSetId {dataset_id!r} is listed twice", code="1016-400"
            )
        seen.add(dataset_id)


# -- target connections -------------------------------------------------------------------------------


def patch_target_connection(entity: dict[str, Any], operations: Any) -> dict[str, Any]:
    """A target's location and format ``params`` (one key at a time), name and description.

    The workflow (dataset export or audience activation) stays the one the target was created
    for, so the keys that workflow requires cannot be removed.
    """

    def allowed(path: list[str]) -> bool:
        return path in _NAMING or (len(path) >= 2 and path[0] == "params")

    hint = "a target connection takes /name, /description and /params/<name>"
    patched = apply_patch(entity, operations, allowed=allowed, allowed_hint=hint)
    _named(patched)
    spec = check.connection_specs()[entity["connectionSpec"]["id"]]
    workflow = "DATASETS" if "datasetFileType" in entity.get("params", {}) else "SEGMENTS"
    check.check_schema(
        spec["targetSpec"]["spec"],
        patched.get("params"),
        "params",
        code="1016-400",
        skip_required=check.conditional_fields(spec, workflow),
    )
    return patched
