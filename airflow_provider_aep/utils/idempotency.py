"""Creating an entity once: across DAG runs (same name), task retries, lost responses and races.

A DAG that sets up an export runs again tomorrow, and a task that dies after AEP created an
entity is retried; neither may leave a duplicate (a duplicate dataflow exports the data twice).

Two DAG runs on two workers may also create the same-named entity at the same moment: both look,
see nothing, and create. So with ``if_exists="reuse"`` (or ``"fail"``) a create is followed by a
second look, and every racer keeps the same deterministic winner among the same-named entities
of the same configuration: the oldest (``createdAt``), then the lowest id. A racer whose own
entity lost deletes it and goes on with the winner's id (the task's state store remembers the
winner, so a retry reuses it), so all of them end with one entity and one id.

The window: the second look comes :data:`CONVERGE_SETTLE_SECONDS` after the create returned,
so a rival whose entity shows in AEP's listings no later than that is always seen (on a local
test server, at once; the pause also covers two creates stamped in the same millisecond). A
rival slower to show than that can still leave two; the next run then reuses the oldest.
Deleting a losing dataflow is safe: it was created a moment ago, and AEP starts no run in a
flow's first seconds (the first run waits for the schedule). A same-named rival with another
configuration is not the same entity: ours is kept and a warning names both.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_aep.exceptions import AEPAmbiguousWriteError, AEPError, AEPValidationError
from airflow_provider_aep.utils.secrets import HIDDEN_SECRET_VALUES

if TYPE_CHECKING:
    from airflow_provider_aep.hooks.aep import AEPHook, EntityKind

IfExists = Literal["reuse", "fail", "create"]
IF_EXISTS = ("reuse", "fail", "create")
KIND_NAMES = {
    "connections": "base connection",
    "sourceConnections": "source connection",
    "targetConnections": "target connection",
    "flows": "dataflow",
}
#: How long AEP may still finish a create its client stopped waiting for (a gateway's limit).
CREATE_SETTLE_SECONDS = 60.0
#: The pause between a create and the second look for a racing twin (see the module docstring).
CONVERGE_SETTLE_SECONDS = 0.2


def check_if_exists(value: str) -> None:
    if value not in IF_EXISTS:
        raise AEPValidationError("if_exists", value, "one of " + ", ".join(IF_EXISTS))


def _spec_filter(kind: EntityKind, body: Mapping[str, Any]) -> list[str]:
    if kind == "flows":
        return [f"flowSpec.id=={body['flowSpec']['id']}"]
    return [f"connectionSpec.id=={body['connectionSpec']['id']}"]


def differences(kind: EntityKind, existing: Mapping[str, Any], body: Mapping[str, Any]) -> list[str]:
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
            if have not in HIDDEN_SECRET_VALUES and have != want:
                found.append(f"auth.params.{key} differs")
    if kind == "sourceConnections" and "datasets" in (body.get("params") or {}):
        have = sorted(d.get("dataSetId") for d in (existing.get("params") or {}).get("datasets", []))
        compare("params.datasets", have, sorted(d["dataSetId"] for d in body["params"]["datasets"]))
    if kind == "targetConnections":
        for key, want in (body.get("params") or {}).items():
            compare(f"params.{key}", (existing.get("params") or {}).get(key), want)
    return found


def same_named(
    hook: AEPHook, kind: EntityKind, body: Mapping[str, Any], *, since_ms: int | None = None
) -> list[dict[str, Any]]:
    """Entities of the same spec and name, oldest first, then by id (optionally only those created since a moment)."""
    matches = [
        dict(e)
        for e in hook.iter_entities(kind, _spec_filter(kind, body))
        if e.get("name") == body["name"] and (since_ms is None or int(e.get("createdAt") or 0) >= since_ms)
    ]
    return sorted(matches, key=seniority)


def seniority(entity: Mapping[str, Any]) -> tuple[int, str]:
    """The order racers agree on: created first wins, the lower id breaks a tie."""
    return int(entity.get("createdAt") or 0), str(entity.get("id"))


def created_since(
    hook: AEPHook, kind: EntityKind, body: Mapping[str, Any], *, since_ms: int, settle: float, log: Any
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
    kind: EntityKind,
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
    owned = True  # the id is certainly the entity this call created
    try:
        created = hook.create_entity(kind, body)
    except AEPAmbiguousWriteError as unknown:
        settle = max(CREATE_SETTLE_SECONDS, hook.timeout[1]) if unknown.still_running else 0.0
        landed = created_since(hook, kind, body, since_ms=started_ms, settle=settle, log=log)
        if landed:
            # Which of them is ours is unknown (a racer may have created one too): take the most
            # senior, and never delete any of them below.
            log.warning("%s; the %s was created after all: %s", unknown, what, landed[0]["id"])
            created = {"id": landed[0]["id"], "etag": landed[0].get("etag")}
            owned = False
        else:
            log.warning("%s; no %s named %r exists, so creating it again", unknown, what, body["name"])
            created = hook.create_entity(kind, body)
    if if_exists != "create":
        created = converge(hook, kind, body, created, log=log, owned=owned)
        if created.get("reused") and if_exists == "fail":
            raise AEPError(
                f"A {what} named {body['name']!r} was created at the same moment by another run "
                f"({created['id']}) and if_exists='fail'"
            )
    _remember(state_store, key, created["id"])
    return {"reused": False, **created}


def converge(
    hook: AEPHook,
    kind: EntityKind,
    body: Mapping[str, Any],
    created: Mapping[str, Any],
    *,
    log: Any,
    owned: bool = True,
) -> dict[str, Any]:
    """After our create, look again: when a racing run created the same entity, keep one.

    The winner is the most senior (:func:`seniority`) same-named entity of the same
    configuration; every racer computes the same one. When it is not ours, ours is deleted and
    the winner's ``{id, etag, reused: True}`` returned; otherwise ours, unchanged.
    """
    what = KIND_NAMES[kind]
    if CONVERGE_SETTLE_SECONDS > 0:
        time.sleep(CONVERGE_SETTLE_SECONDS)
    ours = str(created["id"])
    twins = same_named(hook, kind, body)
    rivals = [e for e in twins if e.get("id") != ours]
    others = [e for e in rivals if differences(kind, e, body)]
    if others:
        log.warning(
            "Another run created a %s named %r with another configuration (%s); it is not the same "
            "entity, so ours (%s) stays. Give one of them another name: names should be unique.",
            what, body["name"], ", ".join(str(e["id"]) for e in others), ours,
        )  # fmt: skip
    same = [e for e in rivals if not differences(kind, e, body)]
    if not same:
        return dict(created)
    # Ours may not show in the listing yet; its createdAt decides, so read it.
    mine = next((e for e in twins if e.get("id") == ours), None) or hook.get_entity(kind, ours)
    if mine is None:
        # Ours cannot be read yet (AEP's reads may lag a create): its age is unknown, so it
        # neither wins nor loses; it stays, and the next run reuses the oldest.
        log.warning("%s %s cannot be read back yet; keeping it beside %s", what, ours, same[0]["id"])
        return dict(created)
    winner = min([mine, *same], key=seniority)
    if winner is mine:
        log.info(
            "Another run created %s %r at the same moment (%s); ours (%s) is older and stays",
            what, body["name"], ", ".join(str(e["id"]) for e in same), ours,
        )  # fmt: skip
        return dict(created)
    if owned:
        log.warning(
            "Another run created %s %r at the same moment: keeping the older %s, deleting ours (%s)",
            what, body["name"], winner["id"], ours,
        )  # fmt: skip
        hook.delete_entity(kind, ours, missing_ok=True)
    else:
        # Not provably ours (a create whose answer was lost): join the winner, delete nothing.
        log.warning("Joining the older %s %s; %s is left as it is", what, winner["id"], ours)
    return {"id": str(winner["id"]), "etag": winner.get("etag"), "reused": True}


def _remember(state_store: Any, key: str, entity_id: str) -> None:
    if state_store is not None:
        state_store.set(key, entity_id)
