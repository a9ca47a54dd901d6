"""Creating an entity once: across DAG runs (same name), task retries, and lost responses.

A DAG that sets up an export runs again tomorrow, and a task that dies after AEP created an
entity is retried; neither may leave a duplicate (a duplicate dataflow exports the data twice).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_aep.exceptions import AEPAmbiguousWriteError, AEPError, AEPValidationError

if TYPE_CHECKING:
    from airflow_provider_aep.hooks.aep import AEPHook

IfExists = Literal["reuse", "fail", "create"]
IF_EXISTS = ("reuse", "fail", "create")
KIND_NAMES = {
    "connections": "base connection",
    "sourceConnections": "source connection",
    "targetConnections": "target connection",
    "flows": "dataflow",
}
SECRET_PLACEHOLDERS = {"***", "<encrypted>", ""}
#: How long AEP may still finish a create its client stopped waiting for (a gateway's limit).
CREATE_SETTLE_SECONDS = 60.0


def check_if_exists(value: str) -> None:
    if value not in IF_EXISTS:
        raise AEPValidationError("if_exists", value, "one of " + ", ".join(IF_EXISTS))


def _spec_filter(kind: str, body: Mapping[str, Any]) -> list[str]:
    if kind == "flows":
        return [f"flowSpec.id=={body['flowSpec']['id']}"]
    return [f"connectionSpec.id=={body['connectionSpec']['id']}"]


def differences(kind: str, existing: Mapping[str, Any], body: Mapping[str, Any]) -> list[str]:
    """What the stored entity has differently from the body (secrets cannot be compared: AEP hides them)."""
    found: list[str] = []

    def compare(label: str, have: Any, want: Any) -> None:
        if have != want:
            found.append(f"{label} is {have!r} there, {want!r} here")

    if kind == "flows":
        compare("flowSpec.id", existing.get("flowSpec", {}).get("id"), body["flowSpec"]["id"])
        compare("sourceConnectionIds", existing.get("sourceConnectionIds"), body["sourceConnectionIds"])
        compare("targetConnectionIds", existing.get("targetConnectionIds"), body["targetConnectionIds"])
        for key in ("exportMode", "timeUnit", "interval", "foldernameTemplate"):
            have = (existing.get("scheduleParams") or {}).get(key)
            want = (body.get("scheduleParams") or {}).get(key)
            if want is not None:
                compare(f"scheduleParams.{key}", have, want)
        return found
    compare("connectionSpec.id", existing.get("connectionSpec", {}).get("id"), body["connectionSpec"]["id"])
    if "baseConnectionId" in body:
        compare("baseConnectionId", existing.get("baseConnectionId"), body["baseConnectionId"])
    if kind == "connections" and body.get("auth"):
        auth = existing.get("auth") or {}
        compare("auth.specName", auth.get("specName"), body["auth"]["specName"])
        for key, want in body["auth"].get("params", {}).items():
            have = (auth.get("params") or {}).get(key)
            if have not in SECRET_PLACEHOLDERS and have != want:
                found.append(f"auth.params.{key} differs")
    if kind == "sourceConnections" and "datasets" in (body.get("params") or {}):
        have = sorted(d.get("dataSetId") for d in (existing.get("params") or {}).get("datasets", []))
        compare("params.datasets", have, sorted(d["dataSetId"] for d in body["params"]["datasets"]))
    if kind == "targetConnections":
        for key, want in (body.get("params") or {}).items():
            compare(f"params.{key}", (existing.get("params") or {}).get(key), want)
    return found


def same_named(
    hook: AEPHook, kind: str, body: Mapping[str, Any], *, since_ms: int | None = None
) -> list[dict[str, Any]]:
    """Entities of the same spec and name, oldest first (optionally only those created since a moment)."""
    matches = [
        dict(e)
        for e in hook.iter_entities(kind, _spec_filter(kind, body))
        if e.get("name") == body["name"] and (since_ms is None or int(e.get("createdAt") or 0) >= since_ms)
    ]
    return sorted(matches, key=lambda e: int(e.get("createdAt") or 0))


def landed_since(
    hook: AEPHook, kind: str, body: Mapping[str, Any], *, since_ms: int, settle: float, log: Any
) -> list[dict[str, Any]]:
    """Same-named entities created since the attempt; while AEP may still be working on the
    create (a read timeout), keep looking for up to ``settle`` seconds before concluding none."""
    deadline = time.monotonic() + settle
    landed = same_named(hook, kind, body, since_ms=since_ms)
    pause = 1.0
    while not landed and time.monotonic() < deadline:
        pause = min(pause * 2, 10.0, max(0.0, deadline - time.monotonic()))
        log.info("No %s named %r yet; looking again in %.1fs", KIND_NAMES[kind], body["name"], pause)
        time.sleep(pause)
        landed = same_named(hook, kind, body, since_ms=since_ms)
    return landed


def create_once(
    hook: AEPHook,
    kind: str,
    body: Mapping[str, Any],
    *,
    if_exists: str,
    state_store: Any,
    log: Any,
) -> dict[str, Any]:
    """Create the entity unless an earlier try or run already did; return ``{id, etag, reused}``."""
    what = KIND_NAMES[kind]
    key = f"aep_{kind}_id"
    # 1. A retry of this task: the id an earlier try created, if it still exists.
    prior = state_store.get(key) if state_store is not None else None
    if prior and hook.get_entity(kind, str(prior)) is not None:
        log.info("Reusing %s %s created by an earlier try of this task", what, prior)
        return {"id": str(prior), "etag": None, "reused": True}
    # 2. Another run: a same-named entity.
    if if_exists != "create":
        existing = same_named(hook, kind, body)
        if existing:
            ids = ", ".join(e["id"] for e in existing)
            if if_exists == "fail":
                raise AEPError(f"A {what} named {body['name']!r} already exists ({ids}) and if_exists='fail'")
            first = existing[0]
            changed = differences(kind, first, body)
            if changed:
                raise AEPError(
                    f"A {what} named {body['name']!r} already exists ({first['id']}) with another configuration: "
                    + "; ".join(changed)
                    + ". Give this one another name, or set if_exists='create'."
                )
            log.info("Reusing %s %r: %s (if_exists='reuse')", what, body["name"], first["id"])
            _remember(state_store, key, first["id"])
            return {"id": first["id"], "etag": first.get("etag"), "reused": True}
    # 3. Create; if the answer was lost, look before trying again.
    started_ms = int(time.time() * 1000) - 1000
    try:
        created = hook.create_entity(kind, body)
    except AEPAmbiguousWriteError as unknown:
        settle = max(CREATE_SETTLE_SECONDS, hook.timeout[1]) if unknown.still_running else 0.0
        landed = landed_since(hook, kind, body, since_ms=started_ms, settle=settle, log=log)
        if landed:
            log.warning("%s; the %s was created after all: %s", unknown, what, landed[-1]["id"])
            created = {"id": landed[-1]["id"], "etag": landed[-1].get("etag")}
        else:
            log.warning("%s; no %s named %r exists, so creating it again", unknown, what, body["name"])
            created = hook.create_entity(kind, body)
    _remember(state_store, key, created["id"])
    return {**created, "reused": False}


def _remember(state_store: Any, key: str, entity_id: str) -> None:
    if state_store is not None:
        state_store.set(key, entity_id)
