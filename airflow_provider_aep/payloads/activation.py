"""The JSON Patch that activates segments and profile attributes on a segment dataflow.

Rules of the batch-activation tutorial, checked before any request:

| exportMode                  | frequency                                                     |
|-----------------------------|---------------------------------------------------------------|
| DAILY_FULL_EXPORT           | ONCE, DAILY                                                   |
| FIRST_FULL_THEN_INCREMENTAL | DAILY, EVERY_3_HOURS, EVERY_6_HOURS, EVERY_8_HOURS, EVERY_12_HOURS |

No ``endDate`` with ``ONCE``; ``startDate``/``endDate`` are ``YYYY-MM-DD``, ``startTime`` is
``HH:MM``; ``filenameTemplate`` holds ``%DESTINATION_NAME%`` and ``%SEGMENT_ID%``. A schedule
whose dates all lie before ``today`` (a ``ONCE`` export on an earlier day, an ``endDate`` before
today) would never run, and is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any

from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.payloads.audiences import MANDATORY_FIELDS as ENHANCED_MANDATORY_FIELDS
from airflow_provider_aep.payloads.audiences import PRIMARY_FIELDS as ENHANCED_PRIMARY_FIELDS
from airflow_provider_aep.payloads.audiences import PROFILE_MAPPING

SEGMENT_SELECTORS = "/transformations/0/params/segmentSelectors/selectors/-"
PROFILE_SELECTORS = "/transformations/0/params/profileSelectors/selectors/-"
PROFILE_PARAMS = "/transformations/0/params/profileSelectors"

FREQUENCIES: dict[str, tuple[str, ...]] = {
    "DAILY_FULL_EXPORT": ("ONCE", "DAILY"),
    "FIRST_FULL_THEN_INCREMENTAL": (
        "DAILY",
        "EVERY_3_HOURS",
        "EVERY_6_HOURS",
        "EVERY_8_HOURS",
        "EVERY_12_HOURS",
    ),
}
FILENAME_MACROS = (
    "%DESTINATION_NAME%",
    "%SEGMENT_ID%",
    "%SEGMENT_NAME%",
    "%DATETIME(YYYYMMdd_HHmmss)%",
    "%TIMESTAMP%",
)
REQUIRED_MACROS = ("%DESTINATION_NAME%", "%SEGMENT_ID%")
DEFAULT_FILENAME = "%DESTINATION_NAME%_%SEGMENT_ID%_%DATETIME(YYYYMMdd_HHmmss)%"
#: The enhanced cloud-storage destinations' macros: all optional, one of the two time stamps.
ENHANCED_FILENAME_MACROS = (
    "%DESTINATION%",
    "%SEGMENT_ID%",
    "%SEGMENT_NAME%",
    "%DESTINATION_INSTANCE_ID%",
    "%DESTINATION_INSTANCE_NAME%",
    "%ORGANIZATION_NAME%",
    "%SANDBOX_NAME%",
    "%DATETIME(YYYYMMdd_HHmmss)%",
    "%TIMESTAMP%",
)
ENHANCED_DEFAULT_FILENAME = "%DESTINATION%_%SEGMENT_ID%_%DATETIME(YYYYMMdd_HHmmss)%"

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def segment_selector(
    segment: str | Mapping[str, Any], index: int, *, today: date, enhanced: bool = False
) -> dict[str, Any]:
    """One ``PLATFORM_SEGMENT`` selector, defaults filled in, every rule checked.

    ``enhanced``: for an enhanced cloud-storage destination, whose file names take other macros
    (all optional) and whose scheduled exports start on the hour.
    """
    where = f"segments[{index}]"
    given: dict[str, Any] = {"id": segment} if isinstance(segment, str) else dict(segment)
    segment_id = given.get("id")
    if not isinstance(segment_id, str) or not segment_id.strip():
        raise AEPValidationError(f"{where}.id", segment_id, "the segment (audience) id")
    mode = given.get("exportMode", "DAILY_FULL_EXPORT")
    if mode not in FREQUENCIES:
        raise AEPValidationError(f"{where}.exportMode", mode, "one of " + ", ".join(FREQUENCIES))
    schedule = dict(given.get("schedule") or {})
    frequency = schedule.setdefault("frequency", FREQUENCIES[mode][0])
    if frequency not in FREQUENCIES[mode]:
        raise AEPValidationError(
            f"{where}.schedule.frequency", frequency, f"{mode} takes " + ", ".join(FREQUENCIES[mode])
        )
    start = schedule.setdefault("startDate", today.isoformat())
    start_day = _check_date(f"{where}.schedule.startDate", start)
    if "endDate" in schedule:
        if frequency == "ONCE":
            raise AEPValidationError(
                f"{where}.schedule.endDate", schedule["endDate"], "no endDate with frequency ONCE"
            )
        end_day = _check_date(f"{where}.schedule.endDate", schedule["endDate"])
        if end_day < start_day:
            raise AEPValidationError(
                f"{where}.schedule.endDate", schedule["endDate"], f"a date on or after startDate {start}"
            )
        if end_day < today:
            raise AEPValidationError(
                f"{where}.schedule.endDate",
                schedule["endDate"],
                "a date on or after today: the whole schedule would lie in the past",
            )
    if frequency == "ONCE" and start_day < today:
        raise AEPValidationError(
            f"{where}.schedule.startDate",
            start,
            "a date on or after today for a ONCE export: its one run would lie in the past",
        )
    start_time = schedule.setdefault("startTime", "00:00")
    if not isinstance(start_time, str) or not _TIME.match(start_time):
        raise AEPValidationError(f"{where}.schedule.startTime", start_time, "HH:MM, 00:00 to 23:59")
    if enhanced and not start_time.endswith(":00"):
        raise AEPValidationError(f"{where}.schedule.startTime", start_time, "a full hour, HH:00")
    template = given.get("filenameTemplate", ENHANCED_DEFAULT_FILENAME if enhanced else DEFAULT_FILENAME)
    check_filename_template(f"{where}.filenameTemplate", template, enhanced=enhanced)
    unknown = sorted(set(given) - {"id", "name", "description", "filenameTemplate", "exportMode", "schedule"})
    if unknown:
        raise AEPValidationError(
            where, unknown, "only id, name, description, filenameTemplate, exportMode, schedule"
        )
    value: dict[str, Any] = {"id": segment_id}
    for key in ("name", "description"):
        if given.get(key):
            value[key] = str(given[key])
    value.update({"filenameTemplate": template, "exportMode": mode, "schedule": schedule})
    return {"type": "PLATFORM_SEGMENT", "value": value}


def check_filename_template(field: str, template: Any, *, enhanced: bool = False) -> None:
    if not isinstance(template, str) or not template.strip():
        raise AEPValidationError(field, template, "a file name template")
    known = ENHANCED_FILENAME_MACROS if enhanced else FILENAME_MACROS
    missing = [] if enhanced else [m for m in REQUIRED_MACROS if m not in template]
    if missing:
        raise AEPValidationError(field, template, "must hold " + " and ".join(REQUIRED_MACROS))
    macros = re.findall(r"%[^%]*%", template)
    for macro in macros:
        if macro not in known:
            raise AEPValidationError(field, template, f"unknown macro {macro}; known: " + ", ".join(known))
    if enhanced and {"%DATETIME(YYYYMMdd_HHmmss)%", "%TIMESTAMP%"} <= set(macros):
        raise AEPValidationError(
            field, template, "one time stamp: %DATETIME(YYYYMMdd_HHmmss)% or %TIMESTAMP%"
        )


def _check_date(field: str, value: Any) -> date:
    if not isinstance(value, str) or not _DATE.match(value):
        raise AEPValidationError(field, value, "a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise AEPValidationError(field, value, "a real calendar date as YYYY-MM-DD") from None


def as_attribute_list(value: str | Iterable[Any] | None) -> list[Any]:
    """One string is one attribute (``"person.lastName"``), never its letters; None is none."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _check_paths(field: str, paths: Iterable[Any]) -> list[str]:
    checked = []
    for index, path in enumerate(as_attribute_list(paths)):
        if not isinstance(path, str) or not _PATH.match(path):
            raise AEPValidationError(
                f"{field}[{index}]", path, "an XDM attribute path such as person.name.firstName"
            )
        checked.append(path)
    return checked


def build_activation_patch(
    *,
    segments: Sequence[str | Mapping[str, Any]],
    profile_attributes: str | Sequence[str] = (),
    mandatory_fields: str | Sequence[str] = (),
    primary_fields: str | Sequence[str] = (),
    today: date,
) -> list[dict[str, Any]]:
    """The tutorial's PATCH: one ``add`` per segment and per profile attribute, then the field lists.

    This is the whole activation as asked, checked; :func:`activation_still_needed` cuts it down
    to what a flow does not show yet. An attribute list given as one string is that one attribute.
    """
    operations = segment_operations(segments, today=today)
    attributes = _check_paths("profile_attributes", profile_attributes)
    mandatory_fields = _check_paths("mandatory_fields", mandatory_fields)
    primary_fields = _check_paths("primary_fields", primary_fields)
    for field, paths in (("mandatory_fields", mandatory_fields), ("primary_fields", primary_fields)):
        outside = [p for p in paths if p not in attributes]
        if outside:
            raise AEPValidationError(field, outside, "attributes that are also in profile_attributes")
    operations += [
        {"op": "add", "path": PROFILE_SELECTORS, "value": {"type": "JSON_PATH", "value": {"path": p}}}
        for p in attributes
    ]
    if mandatory_fields:
        operations.append(
            {"op": "add", "path": f"{PROFILE_PARAMS}/mandatoryFields", "value": list(mandatory_fields)}
        )
    if primary_fields:
        operations.append(
            {
                "op": "add",
                "path": f"{PROFILE_PARAMS}/primaryFields",
                "value": [{"fieldType": "ATTRIBUTE", "attributePath": p} for p in primary_fields],
            }
        )
    return operations


def segment_operations(
    segments: Sequence[str | Mapping[str, Any]], *, today: date, enhanced: bool = False
) -> list[dict[str, Any]]:
    """One ``add`` of a selector per segment, each checked, each segment once."""
    if isinstance(segments, (str, Mapping)) or not segments:
        raise AEPValidationError(
            "segments", segments, "at least one segment (a list of ids or selector values)"
        )
    selectors = [segment_selector(s, i, today=today, enhanced=enhanced) for i, s in enumerate(segments)]
    ids = [s["value"]["id"] for s in selectors]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise AEPValidationError("segments", repeated, "each segment once")
    return [{"op": "add", "path": SEGMENT_SELECTORS, "value": s} for s in selectors]


def missing_after_activation(flow: Mapping[str, Any], operations: Sequence[Mapping[str, Any]]) -> list[str]:
    """What the PATCH added that the flow, read back, does not show (the tutorial's validate step)."""
    params = ((flow.get("transformations") or [{}])[0] or {}).get("params") or {}
    have_segments = {
        s.get("value", {}).get("id") for s in (params.get("segmentSelectors") or {}).get("selectors", [])
    }
    have_paths = {
        s.get("value", {}).get("path") for s in (params.get("profileSelectors") or {}).get("selectors", [])
    }
    missing = []
    for op in operations:
        if op["path"] == SEGMENT_SELECTORS and op["value"]["value"]["id"] not in have_segments:
            missing.append(f"segment {op['value']['value']['id']}")
        elif op["path"] == PROFILE_SELECTORS and op["value"]["value"]["path"] not in have_paths:
            missing.append(f"attribute {op['value']['value']['path']}")
        elif op["path"] == PROFILE_MAPPING and params.get("profileMapping") != op["value"]:
            missing.append(f"mapping set {op['value'].get('mappingId')}")
    return missing


# -- the patch against the flow as it is now ---------------------------------------------------------

MANDATORY_FIELDS = f"{PROFILE_PARAMS}/mandatoryFields"
PRIMARY_FIELDS = f"{PROFILE_PARAMS}/primaryFields"


def _params(flow: Mapping[str, Any]) -> Mapping[str, Any]:
    transformations = flow.get("transformations") or [{}]
    return (transformations[0] or {}).get("params") or {}


def activation_still_needed(
    flow: Mapping[str, Any], wanted: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The part of ``wanted`` (from :func:`build_activation_patch`) the flow does not show yet.

    Running an activation again, or after a lost answer, must not add a selector twice:

    - a segment already on the flow (same id) stays as it is, schedule included, and is not
      added again; an attribute already exported (same path) likewise;
    - ``mandatoryFields`` and ``primaryFields`` become the union of what the flow has and what is
      asked (activation only adds, as the selectors do), in that order; nothing is sent when the
      flow already has them all. ``replace`` when the flow has the list, ``add`` when it has not.

    An empty answer means the flow is already activated as asked: no PATCH is needed.
    """
    params = _params(flow)
    profile = params.get("profileSelectors") or {}
    segments = {
        s.get("value", {}).get("id") for s in (params.get("segmentSelectors") or {}).get("selectors", [])
    }
    paths = {s.get("value", {}).get("path") for s in profile.get("selectors", [])}
    needed: list[dict[str, Any]] = []
    for op in wanted:
        if op["path"] == SEGMENT_SELECTORS:
            key, seen = op["value"]["value"]["id"], segments
        elif op["path"] == PROFILE_SELECTORS:
            key, seen = op["value"]["value"]["path"], paths
        elif op["path"] in (MANDATORY_FIELDS, PRIMARY_FIELDS):
            needed += _union_of_fields(profile, op)
            continue
        elif op["path"] in (ENHANCED_MANDATORY_FIELDS, ENHANCED_PRIMARY_FIELDS):
            needed += _union_of_fields(params, op)  # an enhanced flow keeps them beside the selectors
            continue
        elif op["path"] == PROFILE_MAPPING:
            if params.get("profileMapping") != op["value"]:
                needed.append(dict(op))
            continue
        else:
            needed.append(dict(op))
            continue
        if key not in seen:
            seen.add(key)
            needed.append(dict(op))
    return needed


def _union_of_fields(container: Mapping[str, Any], op: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``mandatoryFields`` / ``primaryFields``: what the flow has plus what it lacks, or no operation."""
    name = op["path"].rsplit("/", 1)[-1]
    have = list(container.get(name) or [])

    def key(field: Any) -> Any:
        return field.get("attributePath") if isinstance(field, Mapping) else field

    known = {key(f) for f in have}
    new = [f for f in op["value"] if key(f) not in known]
    if not new:
        return []
    return [{"op": "replace" if name in container else "add", "path": op["path"], "value": have + new}]
