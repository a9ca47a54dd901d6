"""Two runs creating the same-named entity at once converge on one: the oldest, then the lowest id."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_aep.exceptions import AEPError
from airflow_provider_aep.hooks import create_once as create_once_module
from airflow_provider_aep.hooks.create_once import CreateOnceMixin

log = logging.getLogger("test")
SPEC = {"id": "4fce964d-3f37-408f-9778-e597338a21ee", "version": "1.0"}
BODY = {"name": "S3 base", "connectionSpec": SPEC, "auth": {"specName": "Access Key", "params": {"k": "v"}}}


class Store(dict):
    def set(self, key: str, value: Any) -> None:
        self[key] = value


class FakeHook(CreateOnceMixin):
    """Base connections in memory; ``on_create`` runs inside a create, where the race window is."""

    timeout = (10.0, 60.0)

    def __init__(self) -> None:
        self.entities: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []
        self.next_id = iter(f"b-{n}" for n in range(1, 100))
        self.clock = 1000
        self.before_create: Callable[[], Any] | None = None
        self.on_create: Callable[[], Any] | None = None
        self.lock = threading.Lock()

    def add(self, entity_id: str, created_at: int, **changes: Any) -> dict[str, Any]:
        entity = {**BODY, **changes, "id": entity_id, "etag": f'"{entity_id}"', "createdAt": created_at}
        self.entities[entity_id] = entity
        return entity

    def iter_entities(self, kind: str, properties: Any = ()) -> Any:
        return iter([dict(e) for e in self.entities.values()])

    def get_entity(self, kind: str, entity_id: str) -> dict[str, Any] | None:
        return self.entities.get(entity_id)

    def create_entity(self, kind: str, body: Any) -> dict[str, Any]:
        if self.before_create:
            self.before_create()
        with self.lock:
            self.clock += 5
            entity = self.add(next(self.next_id), self.clock)
        if self.on_create:
            self.on_create()
        return {"id": entity["id"], "etag": entity["etag"]}

    def delete_entity(self, kind: str, entity_id: str, missing_ok: bool = False) -> bool:
        self.deleted.append(entity_id)
        return self.entities.pop(entity_id, None) is not None


@pytest.fixture(autouse=True)
def _no_pause(monkeypatch):
    monkeypatch.setattr(create_once_module, "CONVERGE_SETTLE_SECONDS", 0.0)


@pytest.fixture
def hook() -> FakeHook:
    return FakeHook()


def test_an_older_twin_created_in_the_window_wins_and_ours_is_deleted(hook):
    hook.on_create = lambda: hook.add("z-older", created_at=hook.clock - 1)
    store = Store()
    result = hook.create_once("connections", BODY, if_exists="reuse", state_store=store, log=log)
    assert result == {"id": "z-older", "etag": '"z-older"', "reused": True, "created": False}
    assert hook.deleted == ["b-1"]
    assert list(hook.entities) == ["z-older"]
    # A retry of the task reuses the winner, and knows it did not create it.
    assert store == {"aep_connections_id": "z-older", "aep_connections_created": False}


def test_a_younger_twin_loses_and_ours_stays(hook):
    hook.on_create = lambda: hook.add("a-younger", created_at=hook.clock + 1)
    result = hook.create_once("connections", BODY, if_exists="reuse", state_store=None, log=log)
    assert result == {"id": "b-1", "etag": '"b-1"', "reused": False, "created": True}
    assert hook.deleted == []  # its own run deletes it


@pytest.mark.parametrize(("rival", "winner"), [("a-rival", "a-rival"), ("c-rival", "b-1")])
def test_the_same_millisecond_goes_to_the_lowest_id(hook, rival, winner):
    hook.on_create = lambda: hook.add(rival, created_at=hook.clock)
    assert hook.create_once("connections", BODY, if_exists="reuse", state_store=None, log=log)["id"] == winner
    assert hook.deleted == ([] if winner == "b-1" else ["b-1"])


def test_a_twin_with_another_configuration_is_not_the_same_entity(hook, caplog):
    other_auth = {"specName": "Access Key", "params": {"k": "other"}}
    hook.on_create = lambda: hook.add("z-older", created_at=hook.clock - 1, auth=other_auth)
    with caplog.at_level(logging.WARNING):
        result = hook.create_once("connections", BODY, if_exists="reuse", state_store=None, log=log)
    assert result["id"] == "b-1"
    assert hook.deleted == []
    assert "another configuration (z-older)" in caplog.text
    assert "'other'" not in caplog.text  # no credential in the log


def test_if_exists_create_does_not_converge(hook):
    hook.add("z-older", created_at=1)
    result = hook.create_once("connections", BODY, if_exists="create", state_store=None, log=log)
    assert result["id"] == "b-1"
    assert hook.deleted == []


def test_if_exists_fail_loses_the_race_with_an_error_and_leaves_the_winner(hook):
    hook.on_create = lambda: hook.add("z-older", created_at=hook.clock - 1)
    with pytest.raises(AEPError, match=r"created at the same moment by another run \(z-older\)"):
        hook.create_once("connections", BODY, if_exists="fail", state_store=None, log=log)
    assert list(hook.entities) == ["z-older"]


def test_the_listing_may_not_show_ours_yet(hook):
    """Ours is read by id when the listing lags; its createdAt still decides."""
    hook.on_create = lambda: hook.add("z-older", created_at=hook.clock - 1)
    listed = hook.iter_entities
    hook.iter_entities = lambda kind, properties=(): iter([e for e in listed(kind) if e["id"] != "b-1"])
    assert (
        hook.create_once("connections", BODY, if_exists="reuse", state_store=None, log=log)["id"] == "z-older"
    )
    assert hook.deleted == ["b-1"]


def test_two_racers_end_with_the_same_id_and_one_entity(hook):
    """Both look (nothing), both create, then both look again: the same winner for both."""
    both_looked, both_created = threading.Barrier(2, timeout=10), threading.Barrier(2, timeout=10)
    hook.before_create, hook.on_create = both_looked.wait, both_created.wait
    results: list[str] = []

    def racer() -> None:
        results.append(
            hook.create_once("connections", BODY, if_exists="reuse", state_store=None, log=log)["id"]
        )

    threads = [threading.Thread(target=racer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(results) == 2
    assert results[0] == results[1] == "b-1"
    assert list(hook.entities) == ["b-1"]
    assert hook.deleted == ["b-2"]


def test_ours_that_cannot_be_read_back_yet_is_kept_not_swapped_for_another(hook):
    """AEP's reads may lag a create: an entity of unknown age neither wins nor is deleted."""
    listing = hook.iter_entities

    def lagging(kind: str, properties: Any = ()) -> Any:
        return iter([e for e in listing(kind, properties) if e["id"] != "b-1"])

    hook.iter_entities = lagging  # type: ignore[method-assign]
    hook.get_entity = lambda kind, entity_id: None  # type: ignore[method-assign]
    hook.on_create = lambda: hook.add("a-rival", created_at=hook.clock + 1)
    result = hook.create_once("connections", BODY, if_exists="reuse", state_store=Store(), log=log)
    assert result["id"] == "b-1"
    assert hook.deleted == []


def test_a_create_whose_answer_was_lost_joins_the_oldest_and_deletes_nothing(hook):
    """Among several that landed, which one is ours is unknown: none of them may be deleted."""
    from airflow_provider_aep.exceptions import AEPAmbiguousWriteError

    def lost_answer(kind: str, body: Any) -> dict[str, Any]:
        hook.add("rival-older", created_at=10**13)
        hook.add("maybe-ours", created_at=10**13 + 5)
        raise AEPAmbiguousWriteError("POST", "/connections", "ReadTimeout")

    hook.create_entity = lost_answer  # type: ignore[method-assign]
    result = hook.create_once("connections", BODY, if_exists="reuse", state_store=Store(), log=log)
    assert result["id"] == "rival-older"
    assert hook.deleted == []
    assert set(hook.entities) == {"rival-older", "maybe-ours"}
