"""What a same-named entity in AEP has otherwise than a DAG asks, and the JSON Patch that aligns it.

``if_exists="reuse"`` hands a DAG an entity an earlier run created. If that entity is configured
otherwise (a dataflow whose exports stop on another date, a target writing to another path),
reusing it silently would ignore the DAG's change. So every field the user set is compared:
a difference is refused, naming the field and both values, or (``if_exists="update"``) patched
in place. Fields AEP fills by a default that moves on every run (a flow's ``startTime`` of
"now") are left out by the caller through ``defaulted``. Secrets AEP hides cannot be compared,
and a secret value is never quoted: such a field is only said to differ.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.exceptions import AEPError
from airflow_provider_aep.payloads.patch import pointer, shows_hidden_secret
from airflow_provider_aep.utils.ids import ENTITY_NAMES

if TYPE_CHECKING:
    from airflow_provider_aep.utils.ids import EntityKind

#: The keys of a dataset flow's ``scheduleParams`` a DAG sets (AEP's spec spells the template
#: ``folderNameTemplate``; the tutorial and this provider ``foldernameTemplate``).
SCHEDULE_KEYS = ("exportMode", "timeUnit", "interval", "startTime", "endTime", "foldernameTemplate")
_TEMPLATE_SPELLINGS = ("foldernameTemplate", "folderNameTemplate")

_NEW_FLOW = (
    "AEP does not change a dataflow's flow spec or connections in place: give the dataflow another "
    "name (a new one is created), or delete the old one first"
)


def _new_entity(what: str) -> str:
    return f"AEP does not change this in place: give the {what} another name (a new one is created)"


@dataclass(frozen=True)
class Drift:
    """One field the entity in AEP has otherwise than asked.

    ``path`` is the JSON Pointer a PATCH changes it at, None when AEP cannot change it in place
    (``instead`` then says what to do). ``secret`` fields are never quoted.
    """

    field: str
    have: Any
    want: Any
    path: str | None = None
    present: bool = True
    secret: bool = False
    instead: str = ""

    def describe(self) -> str:
        """``scheduleParams.endTime is 1767225600 there, 1798761600 here`` (a secret: ``... differs``)."""
        if self.secret:
            return f"{self.field} differs (a secret: values not shown)"
        return f"{self.field} is {_show(self.have)} there, {_show(self.want)} here"

    def change(self) -> str:
        """What an update changed, for the log: ``scheduleParams.endTime 1767225600 -> 1798761600``."""
        if self.secret:
            return f"{self.field} (a secret)"
        return f"{self.field} {_show(self.have)} -> {_show(self.want)}"

    def operation(self) -> dict[str, Any]:
        """The JSON Patch operation that gives the entity the wanted value."""
        return {"op": "replace" if self.present else "add", "path": self.path, "value": self.want}


def _show(value: Any) -> str:
    return "not set" if value is None else repr(value)


def find_drift(
    kind: EntityKind,
    existing: Mapping[str, Any],
    body: Mapping[str, Any],
    *,
    defaulted: Collection[str] = (),
) -> list[Drift]:
    """Every field of ``body`` the user set that ``existing`` (as AEP shows it) has otherwise.

    :param kind: the Flow Service collection.
    :param existing: the entity as read from AEP.
    :param body: the create body the DAG asks for.
    :param defaulted: dotted fields of ``body`` filled by a default that moves between runs
        (``scheduleParams.startTime`` of "now"): not compared.
    """
    found: list[Drift] = []

    def fixed(field: str, have: Any, want: Any, instead: str) -> None:
        if have != want:
            found.append(Drift(field, have, want, instead=instead))

    if kind == "flows":
        fixed("flowSpec.id", (existing.get("flowSpec") or {}).get("id"), body["flowSpec"]["id"], _NEW_FLOW)
        for key in ("sourceConnectionIds", "targetConnectionIds"):
            fixed(key, existing.get(key), body[key], _NEW_FLOW)
    else:
        what = ENTITY_NAMES[kind]
        spec = (existing.get("connectionSpec") or {}).get("id")
        fixed("connectionSpec.id", spec, body["connectionSpec"]["id"], _new_entity(what))
        if "baseConnectionId" in body:
            fixed(
                "baseConnectionId",
                existing.get("baseConnectionId"),
                body["baseConnectionId"],
                _new_entity(what),
            )
        want_format = (body.get("data") or {}).get("format")
        if want_format is not None:
            have_format = (existing.get("data") or {}).get("format")
            fixed("data.format", have_format, want_format, _new_entity(what))
    if body.get("description") and existing.get("description") != body["description"]:
        found.append(
            Drift(
                "description",
                existing.get("description"),
                body["description"],
                path="/description",
                present="description" in existing,
            )
        )
    if kind == "flows":
        found += _schedule_drift(
            existing.get("scheduleParams") or {}, body.get("scheduleParams") or {}, defaulted
        )
    elif kind == "connections" and body.get("auth"):
        found += _auth_drift(existing, body)
    elif kind == "sourceConnections" and "datasets" in (body.get("params") or {}):
        datasets = (existing.get("params") or {}).get("datasets") or []
        fixed(
            "params.datasets",
            sorted(str(d.get("dataSetId")) for d in datasets),
            sorted(d["dataSetId"] for d in body["params"]["datasets"]),
            "if_exists does not change a source connection's datasets (AEP's tutorial holds them "
            "fixed once created): give the source connection another name (a new one exports these "
            "datasets), or change them deliberately with AEPUpdateSourceConnectionOperator",
        )
    elif kind == "targetConnections":
        have_params = existing.get("params") or {}
        secret = _secret_names(body["connectionSpec"]["id"], None)
        for key, want in (body.get("params") or {}).items():
            have = have_params.get(key)
            if have != want:
                found.append(
                    Drift(
                        f"params.{key}",
                        have,
                        want,
                        path=pointer("params", key),
                        present=key in have_params,
                        secret=secret is None or key in secret,
                    )
                )
    return found


def differences(
    kind: EntityKind,
    existing: Mapping[str, Any],
    body: Mapping[str, Any],
    *,
    defaulted: Collection[str] = (),
) -> list[str]:
    """What the stored entity has otherwise than the body, one line a field naming both values.

    Every field the user set is compared (see :func:`find_drift`); ``defaulted`` names
    fields filled by a default that moves between runs, which are not. Secrets AEP hides
    cannot be compared, and a secret value is never quoted.
    """
    return [d.describe() for d in find_drift(kind, existing, body, defaulted=defaulted)]


def _schedule_drift(
    have: Mapping[str, Any], want: Mapping[str, Any], defaulted: Collection[str]
) -> list[Drift]:
    found = []
    for key in SCHEDULE_KEYS:
        field = f"scheduleParams.{key}"
        if field in defaulted or want.get(key) is None:
            continue
        spellings = _TEMPLATE_SPELLINGS if key == "foldernameTemplate" else (key,)
        present = [s for s in spellings if s in have]
        current = have[present[0]] if present else None
        if current != want[key]:
            found.append(
                Drift(field, current, want[key], path=pointer("scheduleParams", key), present=bool(present))
            )
            # A template stored under the spec's spelling too is changed alike.
            found += [
                Drift(f"scheduleParams.{s}", have[s], want[key], path=pointer("scheduleParams", s))
                for s in present
                if s != key and have[s] != want[key]
            ]
    return found


def _auth_drift(existing: Mapping[str, Any], body: Mapping[str, Any]) -> list[Drift]:
    auth = existing.get("auth") or {}
    spec_name = body["auth"]["specName"]
    if auth.get("specName") != spec_name:
        return [
            Drift(
                "auth.specName",
                auth.get("specName"),
                spec_name,
                instead="give the base connection another name (a new one is created), or switch its "
                "credentials with AEPUpdateBaseConnectionOperator",
            )
        ]
    have_params = auth.get("params") or {}
    secret = _secret_names(body["connectionSpec"]["id"], spec_name)
    found = []
    for key, want in (body["auth"].get("params") or {}).items():
        have = have_params.get(key)
        # A secret AEP shows masked cannot be compared: it is not a difference.
        if have != want and not shows_hidden_secret(have):
            found.append(
                Drift(
                    f"auth.params.{key}",
                    have,
                    want,
                    path=pointer("auth", "params", key),
                    present=key in have_params,
                    secret=secret is None or key in secret,
                )
            )
    return found


def _secret_names(connection_spec_id: str, auth_spec_name: str | None) -> frozenset[str] | None:
    """The params the catalog marks secret (``format: password``); None when it does not know
    the spec: then every param is taken for a secret."""
    from airflow_provider_aep.catalog import find_destination

    destination = find_destination(connection_spec_id)
    if destination is None:
        return None
    if auth_spec_name is None:
        props = destination.target_schema.get("properties", {})
        return frozenset(
            k for k, v in props.items() if isinstance(v, Mapping) and v.get("format") == "password"
        )
    spec = next((s for s in destination.auth_specs if s.name == auth_spec_name), None)
    return None if spec is None else spec.secret_params


def patch_for(
    kind: EntityKind,
    what: str,
    existing: Mapping[str, Any],
    body: Mapping[str, Any],
    *,
    defaulted: Collection[str] = (),
) -> tuple[list[dict[str, Any]], list[Drift]]:
    """The JSON Patch that gives ``existing`` what ``body`` asks, and the drift it fixes.

    Refused (AEPError naming the field and what to do instead) when a difference is one AEP
    cannot change in place; a dataflow's new schedule is checked against AEP's rules first.
    """
    drift = find_drift(kind, existing, body, defaulted=defaulted)
    fixed = [d for d in drift if d.path is None]
    if fixed:
        raise AEPError(
            f"The {what} {existing.get('id')} named {body['name']!r} cannot be updated in place "
            "(if_exists='update'): "
            + "; ".join(f"{d.describe()}: {d.instead}" for d in fixed)
            + ". Nothing was changed."
        )
    if kind == "flows" and any(d.field.startswith("scheduleParams.") for d in drift):
        _check_schedule(existing.get("scheduleParams") or {}, drift)
    return [d.operation() for d in drift], drift


def _check_schedule(have: Mapping[str, Any], drift: list[Drift]) -> None:
    """The schedule as it will be, against AEP's rules (an end before the flow's start is refused)."""
    from airflow_provider_aep.payloads.schedule import build_schedule_params

    changes = {d.field.split(".", 1)[1]: d.want for d in drift if d.field.startswith("scheduleParams.")}
    merged = {**have, **changes}
    if merged.get("startTime") is None:
        return  # not a schedule this provider can check: AEP will say
    build_schedule_params(
        # An end this update does not change is the flow's own affair (it may have run out).
        now=None if "endTime" in changes else 0,
        export_mode=merged.get("exportMode", "FIRST_FULL_THEN_INCREMENTAL"),
        time_unit=merged.get("timeUnit"),
        interval=merged.get("interval"),
        start_time=merged["startTime"],
        end_time=merged.get("endTime"),
        folder_name_template=changes.get("foldernameTemplate"),  # a stored one is AEP's to judge
    )
