"""How Flow Service judges a create: specs, auth schemas, references, schedules, transformations.

Uses a real JSON Schema validator (draft 7, as the specs declare) and never the client's own
checker, so the emulator judges the provider independently.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft7Validator

from aep_emulator.catalog import all_connection_specs, all_flow_specs
from aep_emulator.errors import bad_request, flow_error
from aep_emulator.segments import check_enhanced_params, check_selectors

SCHEDULE_RULES: dict[str, dict[str, tuple[int, ...]]] = {
    "DAILY_FULL_EXPORT": {"day": (0,)},
    "FIRST_FULL_THEN_INCREMENTAL": {"day": (1,), "hour": (3, 6, 9, 12)},
}
MAX_UNIX_SECONDS = 9_999_999_999
#: AEP documents both spellings of the folder name template (⚠ in AEP_API.md).
FOLDER_TEMPLATE_KEYS = ("foldernameTemplate", "folderNameTemplate")
MAX_TEMPLATE_CHARS = 255


@cache
def connection_specs() -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in all_connection_specs()}


@cache
def flow_specs() -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in all_flow_specs()}


def require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise flow_error(400, "1000-400", "Bad Request", "The request body must be a JSON object")
    return body


def require_name(body: dict[str, Any]) -> None:
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        raise bad_request("name is required and must be a non-empty string")


def connection_spec_of(body: dict[str, Any], kinds: tuple[str, ...] = ("authSpec",)) -> dict[str, Any]:
    """The spec a body names; unknown → 400, missing version → 422 (as AEP answers)."""
    ref = body.get("connectionSpec")
    if not isinstance(ref, dict) or not ref.get("id"):
        raise bad_request("connectionSpec.id is required", code="1014-400")
    spec = connection_specs().get(str(ref["id"]))
    if spec is None:
        raise bad_request(f"connectionSpec.id {ref['id']!r} is not a known connection spec", code="1014-400")
    check_version(ref, "connectionSpec")
    return spec


def check_version(ref: dict[str, Any], where: str) -> str:
    """A spec reference's version: missing → 422 (as AEP answers), not text → 400."""
    version = ref.get("version")
    if version is None or version == "":
        raise flow_error(422, "1005-422", "Unprocessable Entity", f"{where}.version is required")
    if not isinstance(version, str):
        raise bad_request(f'{where}.version {version!r} must be a string such as "1.0"', code="1014-400")
    return version


def check_auth(body: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any] | None:
    """The auth spec used, after its params pass the spec's JSON Schema."""
    auth = body.get("auth")
    specs = {a["name"]: a for a in spec.get("authSpec", [])}
    if not specs:
        return None
    if not isinstance(auth, dict):
        raise bad_request(
            f"auth is required for {spec['name']}: specName one of {', '.join(specs)}", code="1017-400"
        )
    chosen = specs.get(str(auth.get("specName")))
    if chosen is None:
        raise bad_request(
            f"auth.specName {auth.get('specName')!r} is not an auth spec of {spec['name']}: "
            f"use one of {', '.join(specs)}",
            code="1017-400",
        )
    check_schema(chosen["spec"], auth.get("params"), "auth.params", code="1016-400", hide_values=True)
    return chosen


def check_schema(
    schema: dict[str, Any],
    value: Any,
    where: str,
    *,
    code: str,
    skip_required: tuple[str, ...] = (),
    hide_values: bool = False,
) -> None:
    """The first schema error as a 400, never quoting a secret.

    A ``format: password`` field's value is never quoted; with ``hide_values`` (credentials)
    neither is the whole value, which holds the secrets when it is of the wrong shape.
    """
    if skip_required:
        schema = {**schema, "required": [r for r in schema.get("required", []) if r not in skip_required]}
    errors = sorted(
        Draft7Validator(schema).iter_errors(value if value is not None else {}),
        key=lambda e: [str(p) for p in e.path],
    )
    if errors:
        first = errors[0]
        field = ".".join([where, *map(str, first.path)])
        whole = hide_values and not first.path and first.validator != "required"
        secret = _is_secret(schema, first) or whole
        message = first.message if not secret else "the value does not match the expected format"
        raise bad_request(f"{field}: {message}", code=code)


def _is_secret(schema: dict[str, Any], error: Any) -> bool:
    if not error.path:
        return False
    prop = schema.get("properties", {}).get(str(error.path[0]), {})
    return prop.get("format") == "password"


def check_file_options(params: dict[str, Any]) -> None:
    """The audience file options the target spec leaves to prose: a boolean manifest switch, CSV
    options only with CSV files, and one file type per workflow."""
    if "includeFileManifest" in params and not isinstance(params["includeFileManifest"], bool):
        raise bad_request("params.includeFileManifest must be a boolean", code="1016-400")
    if "csvOptions" in params and params.get("fileType") != "CSV":
        raise bad_request(
            f"params.csvOptions go with fileType CSV, not {params.get('fileType')!r}", code="1016-400"
        )
    if "datasetFileType" in params and "fileType" in params:
        raise bad_request(
            "params.fileType (audiences) and params.datasetFileType (datasets) exclude each other",
            code="1016-400",
        )


def conditional_fields(spec: dict[str, Any], workflow: str) -> tuple[str, ...]:
    """Target fields whose ``conditional`` names another workflow: not required here."""
    props = spec.get("targetSpec", {}).get("spec", {}).get("properties", {})
    return tuple(name for name, rule in props.items() if not _applies(rule.get("conditional"), workflow))


def _applies(conditional: Any, workflow: str) -> bool:
    """Whether a field's ``conditional`` on the flow spec's workflow holds for ``workflow``."""
    if not isinstance(conditional, dict) or conditional.get("field") != "flowSpec.attributes._workflow":
        return True
    same = conditional.get("value") == workflow
    return not same if conditional.get("operator") == "NOT_CONTAINS" else same


def check_schedule(params: Any) -> dict[str, Any]:
    """The rules table of dataset exports, with Unix seconds and endTime after startTime."""
    if not isinstance(params, dict):
        raise bad_request("scheduleParams is required for a dataset dataflow", code="1050-400")
    mode = params.get("exportMode", "FIRST_FULL_THEN_INCREMENTAL")
    units = SCHEDULE_RULES.get(mode) if isinstance(mode, str) else None
    if units is None:
        raise bad_request(
            f"scheduleParams.exportMode {mode!r} must be one of {', '.join(SCHEDULE_RULES)}", code="1050-400"
        )
    unit, interval = params.get("timeUnit"), params.get("interval")
    if not isinstance(unit, str) or unit not in units:
        raise bad_request(
            f"scheduleParams.timeUnit {unit!r} is not allowed with {mode}: use {', '.join(units)}",
            code="1050-400",
        )
    if isinstance(interval, bool) or interval not in units[unit]:
        allowed = ", ".join(map(str, units[unit]))
        raise bad_request(
            f"scheduleParams.interval {interval!r} is not allowed with {mode}/{unit}: use {allowed}",
            code="1050-400",
        )
    for key in ("startTime", "endTime"):
        value = params.get(key)
        if value is None and key == "endTime":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_UNIX_SECONDS:
            raise bad_request(f"scheduleParams.{key} {value!r} must be Unix time in seconds", code="1050-400")
    if params.get("endTime") is not None and params["endTime"] <= params["startTime"]:
        raise bad_request("scheduleParams.endTime must be after startTime", code="1050-400")
    for key in FOLDER_TEMPLATE_KEYS:
        template = params.get(key)
        if template is not None and (not isinstance(template, str) or len(template) > MAX_TEMPLATE_CHARS):
            raise bad_request(
                f"scheduleParams.{key} must be a string of at most {MAX_TEMPLATE_CHARS} characters",
                code="1050-400",
            )
    return params


def general_transform(transformations: Any) -> dict[str, Any] | None:
    """The GeneralTransform entry of a flow's transformations, if there is one."""
    for transformation in transformations if isinstance(transformations, list) else []:
        if isinstance(transformation, dict) and transformation.get("name") == "GeneralTransform":
            return transformation
    return None


def check_transformations(transformations: Any) -> list[Any]:
    """``transformations`` is an array of objects (a dataset export's is empty)."""
    if transformations is None:
        return []
    if not isinstance(transformations, list) or not all(isinstance(t, dict) for t in transformations):
        raise bad_request("transformations must be an array of objects", code="1051-400")
    return transformations


def check_general_transform(transformations: Any, *, enhanced: bool = False) -> dict[str, Any]:
    """The GeneralTransform of an audience flow, its selector arrays and every selector checked.

    ``enhanced``: a flow to an enhanced cloud-storage destination, whose columns come from a
    mapping set (``profileMapping``) and whose field lists sit beside the selectors.
    """
    transformation = general_transform(check_transformations(transformations))
    if transformation is None:
        raise bad_request("A segment dataflow needs a GeneralTransform transformation", code="1051-400")
    params = transformation.get("params")
    if not isinstance(params, dict):
        raise bad_request("GeneralTransform params must be an object", code="1051-400")
    if enhanced:
        group = params.get("segmentSelectors")
        if not isinstance(group, dict) or not isinstance(group.get("selectors"), list):
            raise bad_request(
                "GeneralTransform params.segmentSelectors.selectors must be an array", code="1051-400"
            )
        check_enhanced_params(params)
        return transformation
    for key in ("segmentSelectors", "profileSelectors"):
        group = params.get(key)
        if not isinstance(group, dict) or not isinstance(group.get("selectors"), list):
            raise bad_request(f"GeneralTransform params.{key}.selectors must be an array", code="1051-400")
    check_selectors(params)
    return transformation


def optional_string(body: dict[str, Any], key: str) -> str:
    """A field that may be absent or null, but is text when given (``description``)."""
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{key} must be a string")
    return value or ""


def check_id_list(body: dict[str, Any], field: str) -> str:
    """The one id of ``sourceConnectionIds`` / ``targetConnectionIds``."""
    ids = body.get(field)
    if not isinstance(ids, list) or len(ids) != 1 or not isinstance(ids[0], str) or not ids[0]:
        raise bad_request(f"{field} must hold exactly one id")
    return ids[0]


def require_dict(value: Any, where: str, code: str = "1006-400") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"{where} must be an object", code=code)
    return value
