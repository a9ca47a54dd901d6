"""Audience activation in the emulator: selector rules, schedules per segment, CSV exports.

The rules are AEP's (batch-activation tutorial); they are written here again, independently of
the client's builders, so the emulator judges the client rather than echoing it.
"""

from __future__ import annotations

import csv
import hashlib
import re
import time
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from aep_emulator.errors import bad_request
from aep_emulator.exports import inside, safe_part

FREQUENCIES = {
    "DAILY_FULL_EXPORT": {"ONCE": 0, "DAILY": 86400},
    "FIRST_FULL_THEN_INCREMENTAL": {
        "DAILY": 86400, "EVERY_3_HOURS": 10800, "EVERY_6_HOURS": 21600, "EVERY_8_HOURS": 28800, "EVERY_12_HOURS": 43200,
    },
}  # fmt: skip
MACROS = (
    "%DESTINATION_NAME%",
    "%SEGMENT_ID%",
    "%SEGMENT_NAME%",
    "%DATETIME(YYYYMMdd_HHmmss)%",
    "%TIMESTAMP%",
)
#: The enhanced destinations' file-name macros, all optional (Adobe's current tutorial).
ENHANCED_MACROS = (
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
ENHANCED_DEFAULT_TEMPLATE = "%DESTINATION%_%SEGMENT_ID%_%DATETIME(YYYYMMdd_HHmmss)%"
FIELD_TYPES = ("ATTRIBUTE", "IDENTITY")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d", re.ASCII)
_SAFE = re.compile(r"[^0-9A-Za-z._\-]+")


def check_selectors(params: dict[str, Any]) -> None:
    """Each segment selector's export mode, schedule and file name; each profile selector's path."""
    for index, selector in enumerate(params["segmentSelectors"]["selectors"]):
        _check_segment(selector, f"segmentSelectors.selectors[{index}]")
    for index, selector in enumerate(params["profileSelectors"]["selectors"]):
        value = selector.get("value") if isinstance(selector, dict) else None
        path = value.get("path") if isinstance(value, dict) else None
        if selector_type(selector) != "JSON_PATH" or not isinstance(path, str) or not path:
            raise _invalid(f"profileSelectors.selectors[{index}] must be a JSON_PATH selector with a path")
    for key in ("mandatoryFields", "primaryFields"):
        fields = params["profileSelectors"].get(key)
        if fields is not None and not isinstance(fields, list):
            raise _invalid(f"profileSelectors.{key} must be an array")
    mandatory = params["profileSelectors"].get("mandatoryFields") or []
    if not all(isinstance(field, str) for field in mandatory):
        raise _invalid("profileSelectors.mandatoryFields must hold attribute paths (strings)")


def check_enhanced_params(params: dict[str, Any]) -> None:
    """An enhanced flow's selectors, field lists and mapping reference (their shapes)."""
    for index, selector in enumerate(params["segmentSelectors"]["selectors"]):
        _check_segment(selector, f"segmentSelectors.selectors[{index}]", enhanced=True)
    mandatory = params.get("mandatoryFields", [])
    if not isinstance(mandatory, list) or not all(isinstance(f, str) and f for f in mandatory):
        raise _invalid("mandatoryFields must be an array of column names")
    primary = params.get("primaryFields", [])
    if not isinstance(primary, list):
        raise _invalid("primaryFields must be an array")
    for index, field in enumerate(primary):
        kind = field.get("fieldType") if isinstance(field, dict) else None
        key = "attributePath" if kind == "ATTRIBUTE" else "identityNamespace"
        if kind not in FIELD_TYPES or not isinstance(field.get(key), str) or not field[key]:
            raise _invalid(
                f"primaryFields[{index}] must be {{fieldType: ATTRIBUTE, attributePath}} or "
                "{fieldType: IDENTITY, identityNamespace}"
            )
    mapping = params.get("profileMapping", {})
    if not isinstance(mapping, dict):
        raise _invalid("profileMapping must be an object")
    if mapping and (
        not isinstance(mapping.get("mappingId"), str)
        or isinstance(mapping.get("mappingVersion"), bool)
        or not isinstance(mapping.get("mappingVersion"), int)
    ):
        raise _invalid("profileMapping must hold a mappingId (string) and a mappingVersion (integer)")


def selector_type(selector: Any) -> Any:
    return selector.get("type") if isinstance(selector, dict) else None


def _invalid(detail: str) -> Exception:
    return bad_request(detail, code="1051-400")


def _check_segment(selector: Any, where: str, *, enhanced: bool = False) -> None:
    value = selector.get("value") if isinstance(selector, dict) else None
    if selector_type(selector) != "PLATFORM_SEGMENT" or not isinstance(value, dict):
        raise _invalid(f"{where} must be a PLATFORM_SEGMENT selector with a value")
    if not isinstance(value.get("id"), str) or not value["id"]:
        raise _invalid(f"{where}.value.id is required and must be a string")
    for key in ("name", "description"):
        if value.get(key) is not None and not isinstance(value[key], str):
            raise _invalid(f"{where}.value.{key} must be a string")
    mode = value.get("exportMode")
    if not isinstance(mode, str) or mode not in FREQUENCIES:
        raise _invalid(f"{where}.value.exportMode {mode!r} must be one of {', '.join(FREQUENCIES)}")
    _check_schedule(value.get("schedule"), mode, f"{where}.value.schedule")
    if enhanced:
        _check_enhanced_naming(value, where)
        return
    template = value.get("filenameTemplate")
    if (
        not isinstance(template, str)
        or "%DESTINATION_NAME%" not in template
        or "%SEGMENT_ID%" not in template
    ):
        raise _invalid(f"{where}.value.filenameTemplate must hold %DESTINATION_NAME% and %SEGMENT_ID%")
    unknown = [m for m in re.findall(r"%[^%]*%", template) if m not in MACROS]
    if unknown:
        raise _invalid(f"{where}.value.filenameTemplate has unknown macros {', '.join(unknown)}")


def _check_enhanced_naming(value: dict[str, Any], where: str) -> None:
    """Enhanced file names: known macros, one time stamp at most; scheduled exports on the hour."""
    template = value.get("filenameTemplate", ENHANCED_DEFAULT_TEMPLATE)
    if not isinstance(template, str) or not template:
        raise _invalid(f"{where}.value.filenameTemplate must be a string")
    macros = re.findall(r"%[^%]*%", template)
    unknown = [m for m in macros if m not in ENHANCED_MACROS]
    if unknown:
        raise _invalid(f"{where}.value.filenameTemplate has unknown macros {', '.join(unknown)}")
    if {"%DATETIME(YYYYMMdd_HHmmss)%", "%TIMESTAMP%"} <= set(macros):
        raise _invalid(f"{where}.value.filenameTemplate takes %DATETIME(...)% or %TIMESTAMP%, not both")
    start_time = (value.get("schedule") or {}).get("startTime")
    if isinstance(start_time, str) and not start_time.endswith(":00"):
        raise _invalid(f"{where}.value.schedule.startTime {start_time!r} must be on the hour (HH:00)")


def _check_schedule(schedule: Any, mode: str, where: str) -> None:
    """Frequency allowed for the mode; real dates (no 2024-02-30) and times; the end not before the start."""
    schedule = {} if schedule is None else schedule
    if not isinstance(schedule, dict):
        raise _invalid(f"{where} must be an object")
    frequency = schedule.get("frequency")
    if not isinstance(frequency, str) or frequency not in FREQUENCIES[mode]:
        raise _invalid(f"{where}.frequency {frequency!r} is not allowed with {mode}")
    if frequency == "ONCE" and schedule.get("endDate"):
        raise _invalid(f"{where}.endDate is not allowed with frequency ONCE")
    for key, pattern in (("startDate", _DATE), ("endDate", _DATE), ("startTime", _TIME)):
        if key in schedule and not _well_formed(schedule[key], pattern):
            raise _invalid(f"{where}.{key} {schedule[key]!r} is malformed")
    if not schedule.get("startDate"):
        raise _invalid(f"{where}.startDate is required")
    if schedule.get("endDate") and schedule["endDate"] < schedule["startDate"]:
        raise _invalid(f"{where}.endDate {schedule['endDate']} is before startDate {schedule['startDate']}")


def _well_formed(value: Any, pattern: re.Pattern[str]) -> bool:
    """Matches the whole pattern and, for a date, is a day the calendar has."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        return False
    if pattern is _DATE:
        try:
            date.fromisoformat(value)
        except ValueError:
            return False
    return True


def enrich(params: dict[str, Any], now: float) -> None:
    """What AEP adds on a read: create/update times on segments, mappings on attributes."""
    for selector in params["segmentSelectors"]["selectors"]:
        selector["value"].setdefault("createTime", str(int(now)))
        selector["value"].setdefault("updateTime", str(int(now)))
    for selector in (params.get("profileSelectors") or {}).get("selectors", []):
        path = selector["value"]["path"]
        selector["value"].setdefault("operator", "EXISTS")
        selector["value"].setdefault(
            "mapping",
            {
                "sourceType": "text/x.schema-path", "source": path, "destination": path, "identity": False,
                "primaryIdentity": False, "functionVersion": 0, "copyModeMapping": False,
                "sourceAttribute": path, "destinationXdmPath": path,
            },
        )  # fmt: skip


def start_epoch(schedule: dict[str, Any]) -> int:
    moment = datetime.fromisoformat(f"{schedule['startDate']}T{schedule.get('startTime', '00:00')}:00+00:00")
    return int(moment.timestamp())


def sync_schedules(
    meta: dict[str, Any], params: dict[str, Any], *, first_run_delay: float, time_scale: float
) -> None:
    """Give newly activated segments a schedule; forget the ones no longer selected."""
    schedules: dict[str, Any] = meta.setdefault("segments", {})
    now = time.time()
    selected = {s["value"]["id"]: s["value"] for s in params["segmentSelectors"]["selectors"]}
    for segment_id in list(schedules):
        if segment_id not in selected:
            del schedules[segment_id]
    for segment_id, value in selected.items():
        if segment_id in schedules:
            continue
        start = start_epoch(value["schedule"])
        end_date = value["schedule"].get("endDate")
        schedules[segment_id] = {
            "next_due": now + first_run_delay + max(0, start - now) / time_scale,
            "emitted": 0,
            "ended": False,
            "period": FREQUENCIES[value["exportMode"]][value["schedule"]["frequency"]],
            "first_time": max(start, int(now)),
            "end": int(datetime.fromisoformat(f"{end_date}T23:59:59+00:00").timestamp())
            if end_date
            else None,
            "incremental": value["exportMode"] == "FIRST_FULL_THEN_INCREMENTAL",
        }


def due_segments(
    meta: dict[str, Any], now: float, max_runs: int, time_scale: float
) -> dict[str, dict[str, Any]]:
    """Segments whose next export is due; their schedules move on to the next occurrence."""
    due = {}
    for segment_id, schedule in (meta.get("segments") or {}).items():
        if schedule["ended"] or schedule["next_due"] > now or schedule["emitted"] >= max_runs:
            continue
        k = schedule["emitted"]
        run_time = schedule["first_time"] + k * schedule["period"]
        if schedule["end"] is not None and run_time > schedule["end"]:
            schedule["ended"] = True
            continue
        due[segment_id] = {"index": k, "run_time": run_time, "incremental": schedule["incremental"] and k > 0}
        schedule["emitted"] = k + 1
        if schedule["period"] == 0:
            schedule["ended"] = True
        schedule["next_due"] += max(schedule["period"] / time_scale, 0.5)
    return due


def population(segment_id: str) -> int:
    return 200 + int(hashlib.sha1(segment_id.encode()).hexdigest()[:6], 16) % 1800


_FIRST = ("Ana", "Ben", "Chloé", "Dev", "Emi", "Farid", "Greta", "Hiro")
_LAST = ("Silva", "Okafor", "Martin", "Kowalski", "Tanaka", "Nguyen", "Schmidt", "Rossi")


def profiles(segment_id: str, start: int, count: int, paths: Sequence[str]) -> Iterator[dict[str, str]]:
    """Profiles of a segment; every tenth lacks a last name, so mandatory fields can skip it."""
    for i in range(start, start + count):
        digest = hashlib.sha1(f"{segment_id}:{i}".encode()).hexdigest()
        row = {}
        for path in paths:
            leaf = path.rsplit(".", 1)[-1].lower()
            if "first" in leaf:
                row[path] = _FIRST[int(digest[:2], 16) % len(_FIRST)]
            elif "last" in leaf:
                row[path] = "" if i % 10 == 9 else _LAST[int(digest[2:4], 16) % len(_LAST)]
            elif "address" in leaf or "email" in leaf:
                row[path] = f"profile{i}.{digest[:6]}@example.com"
            elif "country" in leaf:
                row[path] = ("US", "FR", "DE", "JP", "BR")[int(digest[4:6], 16) % 5]
            elif "status" in leaf:
                row[path] = "realized"
            else:
                row[path] = f"{leaf}-{digest[:8]}"
        yield row


def file_base_name(template: str, *, destination: str, segment: dict[str, Any], moment: datetime) -> str:
    text = template.replace("%DESTINATION_NAME%", destination)
    text = text.replace("%SEGMENT_ID%", segment["id"]).replace(
        "%SEGMENT_NAME%", segment.get("name") or segment["id"]
    )
    text = text.replace("%DATETIME(YYYYMMdd_HHmmss)%", moment.strftime("%Y%m%d_%H%M%S"))
    text = text.replace("%TIMESTAMP%", str(int(moment.timestamp())))
    return safe_part(text, _SAFE)


def write_csv_files(
    folder: Path, base: str, header: Sequence[str], rows: Sequence[dict[str, str]], split_rows: int
) -> list[Path]:
    """``base.csv``, then ``base_2.csv``, ... with at most ``split_rows`` rows each (AEP: 5 million)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    chunks = [rows[i : i + split_rows] for i in range(0, len(rows), split_rows)] or [[]]
    for number, chunk in enumerate(chunks, start=1):
        path = inside(folder, f"{base}.csv" if number == 1 else f"{base}_{number}.csv")
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(header))
            writer.writeheader()
            writer.writerows(chunk)
        written.append(path)
    return written


def utc(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, tz=timezone.utc)
