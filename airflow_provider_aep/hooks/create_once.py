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

A same-named entity configured otherwise than asked (see :mod:`.drift`) is never reused
silently: ``if_exists="reuse"`` refuses it, naming each field and both values, and
``if_exists="update"`` patches it in place (JSON Patch with If-Match, recomputed on a 412).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_aep.exceptions import AEPAmbiguousWriteError, AEPError, AEPValidationError
from airflow_provider_aep.utils.drift import differences, find_drift, patch_for
from airflow_provider_aep.utils.ids import ENTITY_NAMES

if TYPE_CHECKING:
    from airflow_provider_aep.utils.ids import EntityKind

IfExists = Literal["reuse", "update", "fail", "create"]
IF_EXISTS = ("reuse", "update", "fail", "create")
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


def seniority(entity: Mapping[str, Any]) -> tuple[int, str]:
    """The order racers agree on: created first wins, the lower id breaks a tie."""
    return int(entity.get("createdAt") or 0), str(entity.get("id"))


def created_key(kind: EntityKind) -> str:
    """The ``task_state_store`` key that says whether this task created its entity (not reused it)."""
    return f"aep_{kind}_created"


def _remember(state_store: Any, kind: EntityKind, entity_id: str, *, created: bool) -> None:
    if state_store is not None:
        state_store.set(f"aep_{kind}_id", entity_id)
        state_store.set(created_key(kind), created)


class CreateOnceMixin:
    """The hook's creates that leave one entity whatever happens: retries, lost answers, races.

    Mixed into :class:`~airflow_provider_aep.hooks.aep.AEPHook`, whose entity methods
    (``iter_entities``, ``get_entity``, ``create_entity``, ``update_entity``, ``delete_entity``)
    these drive.
    """

    if TYPE_CHECKING:  # what the hook provides

        @property
        def timeout(self) -> tuple[float, float]: ...

        def iter_entities(
            self, kind: EntityKind, properties: Iterable[str] = ()
        ) -> Iterator[dict[str, Any]]: ...

        def get_entity(self, kind: EntityKind, entity_id: str) -> dict[str, Any] | None: ...

        def create_entity(self, kind: EntityKind, body: Mapping[str, Any]) -> dict[str, Any]: ...

        def update_entity(
            self,
            kind: EntityKind,
            entity_id: str,
            compute: Callable[[dict[str, Any]], Sequence[Mapping[str, Any]]],
            *,
            current: dict[str, Any] | None = None,
            etag: str | None = None,
            attempts: int = 3,
        ) -> dict[str, Any]: ...

        def delete_entity(self, kind: EntityKind, entity_id: str, missing_ok: bool = False) -> bool: ...

    def create_once(
        self,
        kind: EntityKind,
        body: Mapping[str, Any],
        *,
        if_exists: str,
        state_store: Any,
        log: Any,
        defaulted: Collection[str] = (),
    ) -> dict[str, Any]:
        """Create the entity unless an earlier try or run already did; return ``{id, etag, reused, created}``.

        ``created`` is True only when this task (this try or an earlier one) provably created the
        entity: a teardown may delete that, and nothing it merely reused. An entity found (by an
        earlier try or by name) that is configured otherwise than ``body`` is refused or, with
        ``if_exists="update"``, patched (:meth:`reconcile`); ``defaulted`` names the fields of
        ``body`` filled by a default that moves between runs, which are not compared.
        """
        what = ENTITY_NAMES[kind]
        key = f"aep_{kind}_id"
        # 1. A retry of this task: the id an earlier try created (or reused), if it still exists.
        prior = state_store.get(key) if state_store is not None else None
        earlier = self.get_entity(kind, str(prior)) if prior else None
        if earlier is not None:
            created_before = bool(state_store.get(created_key(kind)))
            log.info(
                "Reusing %s %s %s by an earlier try of this task",
                what, prior, "created" if created_before else "found",
            )  # fmt: skip
            etag = None
            if if_exists != "create":  # the task may be cleared after its DAG changed: compare again
                etag = self.reconcile(kind, earlier, body, if_exists=if_exists, defaulted=defaulted, log=log)
            return {"id": str(prior), "etag": etag, "reused": True, "created": created_before}
        # 2. Another run: a same-named entity.
        if if_exists != "create":
            existing = self.same_named(kind, body)
            if existing:
                ids = ", ".join(e["id"] for e in existing)
                if if_exists == "fail":
                    raise AEPError(
                        f"A {what} named {body['name']!r} already exists ({ids}) and if_exists='fail'"
                    )
                first = existing[0]
                etag = self.reconcile(kind, first, body, if_exists=if_exists, defaulted=defaulted, log=log)
                log.info("Reusing %s %r: %s (if_exists=%r)", what, body["name"], first["id"], if_exists)
                _remember(state_store, kind, first["id"], created=False)
                return {"id": first["id"], "etag": etag, "reused": True, "created": False}
        # 3. Create; if the answer was lost, look before trying again.
        started_ms = int(time.time() * 1000) - 1000
        owned = True  # the id is certainly the entity this call created
        try:
            created = self.create_entity(kind, body)
        except AEPAmbiguousWriteError as unknown:
            settle = max(CREATE_SETTLE_SECONDS, self.timeout[1]) if unknown.still_running else 0.0
            landed = self.created_since(kind, body, since_ms=started_ms, settle=settle, log=log)
            if landed:
                # Which of them is ours is unknown (a racer may have created one too): take the most
                # senior, and never delete any of them below.
                log.warning("%s; the %s was created after all: %s", unknown, what, landed[0]["id"])
                created = {"id": landed[0]["id"], "etag": landed[0].get("etag")}
                owned = False
            else:
                log.warning("%s; no %s named %r exists, so creating it again", unknown, what, body["name"])
                created = self.create_entity(kind, body)
        if if_exists != "create":
            created = self.converge(kind, body, created, log=log, owned=owned, defaulted=defaulted)
            if created.get("reused") and if_exists == "fail":
                raise AEPError(
                    f"A {what} named {body['name']!r} was created at the same moment by another run "
                    f"({created['id']}) and if_exists='fail'"
                )
        mine = owned and not created.get("reused")
        _remember(state_store, kind, created["id"], created=mine)
        return {"reused": False, **created, "created": mine}

    def reconcile(
        self,
        kind: EntityKind,
        existing: Mapping[str, Any],
        body: Mapping[str, Any],
        *,
        if_exists: str,
        defaulted: Collection[str] = (),
        log: Any,
    ) -> str | None:
        """Make sure an entity about to be reused is configured as ``body`` asks; return its etag.

        Nothing is sent when it is. Otherwise ``if_exists="update"`` patches the differences
        (:meth:`~airflow_provider_aep.hooks.aep.AEPHook.update_entity`: JSON Patch computed from the
        entity as read, sent with If-Match, computed again after a 412) and logs each field changed
        (a secret by name only); any other mode refuses, naming each field and both values.
        """
        what = ENTITY_NAMES[kind]
        entity_id = str(existing["id"])
        drift = find_drift(kind, existing, body, defaulted=defaulted)
        if not drift:
            return existing.get("etag")
        if if_exists != "update":
            in_place = all(d.path is not None for d in drift)
            raise AEPError(
                f"A {what} named {body['name']!r} already exists ({entity_id}) with another configuration: "
                + "; ".join(d.describe() for d in drift)
                + f". Nothing was changed (if_exists={if_exists!r}): give this one another name"
                + (", set if_exists='update' to change that one in place," if in_place else "")
                + " or set if_exists='create' for a second one."
            )
        changed: list[Any] = []

        def still_needed(current: Mapping[str, Any]) -> list[dict[str, Any]]:
            operations, drift_now = patch_for(kind, what, current, body, defaulted=defaulted)
            changed[:] = drift_now
            return operations

        update = self.update_entity(kind, entity_id, still_needed, current=dict(existing))
        if update["operations"]:
            log.info(
                "Updated %s %s (%r) in place (if_exists='update'): %s",
                what, entity_id, body["name"], "; ".join(d.change() for d in changed),
            )  # fmt: skip
        else:
            log.info("%s %s is already as asked: no PATCH sent", what.capitalize(), entity_id)
        return update.get("etag") or (update.get("entity") or {}).get("etag")

    def converge(
        self,
        kind: EntityKind,
        body: Mapping[str, Any],
        created: Mapping[str, Any],
        *,
        log: Any,
        owned: bool = True,
        defaulted: Collection[str] = (),
    ) -> dict[str, Any]:
        """After our create, look again: when a racing run created the same entity, keep one.

        The winner is the most senior (:func:`seniority`) same-named entity of the same
        configuration; every racer computes the same one. When it is not ours, ours is deleted and
        the winner's ``{id, etag, reused: True}`` returned; otherwise ours, unchanged.
        """
        what = ENTITY_NAMES[kind]
        if CONVERGE_SETTLE_SECONDS > 0:
            time.sleep(CONVERGE_SETTLE_SECONDS)
        ours = str(created["id"])
        twins = self.same_named(kind, body)
        rivals = [e for e in twins if e.get("id") != ours]
        others = [e for e in rivals if differences(kind, e, body, defaulted=defaulted)]
        if others:
            log.warning(
                "Another run created a %s named %r with another configuration (%s); it is not the same "
                "entity, so ours (%s) stays. Give one of them another name: names should be unique.",
                what, body["name"], ", ".join(str(e["id"]) for e in others), ours,
            )  # fmt: skip
        same = [e for e in rivals if not differences(kind, e, body, defaulted=defaulted)]
        if not same:
            return dict(created)
        # Ours may not show in the listing yet; its createdAt decides, so read it.
        mine = next((e for e in twins if e.get("id") == ours), None) or self.get_entity(kind, ours)
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
            self.delete_entity(kind, ours, missing_ok=True)
        else:
            # Not provably ours (a create whose answer was lost): join the winner, delete nothing.
            log.warning("Joining the older %s %s; %s is left as it is", what, winner["id"], ours)
        return {"id": str(winner["id"]), "etag": winner.get("etag"), "reused": True}

    def same_named(
        self, kind: EntityKind, body: Mapping[str, Any], *, since_ms: int | None = None
    ) -> list[dict[str, Any]]:
        """Entities of the same spec and name, oldest first, then by id (optionally only those created since a moment)."""
        matches = [
            dict(e)
            for e in self.iter_entities(kind, _spec_filter(kind, body))
            if e.get("name") == body["name"]
            and (since_ms is None or int(e.get("createdAt") or 0) >= since_ms)
        ]
        return sorted(matches, key=seniority)

    def created_since(
        self, kind: EntityKind, body: Mapping[str, Any], *, since_ms: int, settle: float, log: Any
    ) -> list[dict[str, Any]]:
        """Same-named entities created since the attempt; while AEP may still be working on the
        create (a read timeout), keep looking for up to ``settle`` seconds before concluding none."""
        deadline = time.monotonic() + settle
        landed = self.same_named(kind, body, since_ms=since_ms)
        pause = 1.0
        while not landed and time.monotonic() < deadline:
            pause = min(pause * 2, 10.0, max(0.0, deadline - time.monotonic()))
            log.info("No %s named %r yet; looking again in %.1fs", ENTITY_NAMES[kind], body["name"], pause)
            time.sleep(pause)
            landed = self.same_named(kind, body, since_ms=since_ms)
        return landed
