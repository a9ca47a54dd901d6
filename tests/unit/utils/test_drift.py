"""Every field the user set is compared with a same-named entity; a difference is refused or patched."""

from __future__ import annotations

import copy
import logging
import types
from typing import Any
from unittest import mock

import pytest

from airflow_provider_aep.exceptions import AEPApiError, AEPError
from airflow_provider_aep.hooks import create_once as create_once_module
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.hooks.create_once import CreateOnceMixin
from airflow_provider_aep.utils.drift import differences

log = logging.getLogger("test.drift")
S3_SPEC = "4fce964d-3f37-408f-9778-e597338a21ee"
S3_FLOW_SPEC = "269ba276-16fc-47db-92b0-c1049a3c131f"
SFTP_SPEC = "36965a81-b1c6-401b-99f8-22508f1e6a26"
START, END_1, END_2 = 1767139200, 1767225600, 1798761600

FLOW = {
    "name": "Daily export",
    "description": "v1",
    "flowSpec": {"id": S3_FLOW_SPEC, "version": "1.0"},
    "sourceConnectionIds": ["s-1"],
    "targetConnectionIds": ["t-1"],
    "transformations": [],
    "scheduleParams": {
        "exportMode": "FIRST_FULL_THEN_INCREMENTAL",
        "timeUnit": "day",
        "interval": 1,
        "startTime": START,
        "endTime": END_1,
    },
}
SFTP_BASE = {
    "name": "SFTP base",
    "connectionSpec": {"id": SFTP_SPEC, "version": "1.0"},
    "auth": {
        "specName": "SFTP with Password",
        "params": {"domain": "sftp.acme.example", "username": "exporter", "password": "pw-old-7f3a"},
    },
}


def changed(body: dict[str, Any], **schedule: Any) -> dict[str, Any]:
    copied = copy.deepcopy(body)
    copied["scheduleParams"].update(schedule)
    return copied


# -- what is compared -----------------------------------------------------------------------------


def test_a_different_end_time_is_named_with_both_values():
    assert differences("flows", {**FLOW, "id": "f-1"}, changed(FLOW, endTime=END_2)) == [
        f"scheduleParams.endTime is {END_1} there, {END_2} here"
    ]
    # An end not asked for is not compared (AEP sets one six months out).
    body = copy.deepcopy(FLOW)
    del body["scheduleParams"]["endTime"]
    assert differences("flows", FLOW, body) == []


def test_a_start_time_is_compared_only_when_the_user_gave_it():
    body = changed(FLOW, startTime=START + 3600)
    assert differences("flows", FLOW, body) == [
        f"scheduleParams.startTime is {START} there, {START + 3600} here"
    ]
    assert differences("flows", FLOW, body, defaulted=("scheduleParams.startTime",)) == []


def test_description_and_folder_template_are_compared_when_given():
    body = changed(FLOW, foldernameTemplate="%DATASET_ID%")
    body["description"] = "v2"
    assert differences("flows", FLOW, body) == [
        "description is 'v1' there, 'v2' here",
        "scheduleParams.foldernameTemplate is not set there, '%DATASET_ID%' here",
    ]
    # AEP's spec spells it folderNameTemplate: a flow stored so has the template all the same.
    stored = changed(FLOW, folderNameTemplate="%DATASET_ID%")
    assert differences("flows", stored, changed(FLOW, foldernameTemplate="%DATASET_ID%")) == []
    without = copy.deepcopy(FLOW)
    del without["description"]
    assert differences("flows", FLOW, without) == []
    # A segment flow's selectors are the activation's business, not the create's.
    body = {**without, "transformations": [{"name": "GeneralTransform", "params": {}}]}
    body.pop("scheduleParams")
    activated = {
        **body,
        "transformations": [{"name": "GeneralTransform", "params": {"segmentSelectors": {}}}],
    }
    assert differences("flows", activated, body) == []


def test_auth_params_show_values_but_never_a_secret():
    body = copy.deepcopy(SFTP_BASE)
    body["auth"]["params"].update(domain="sftp2.acme.example", password="pw-new-91c2")
    found = differences("connections", SFTP_BASE, body)
    assert found == [
        "auth.params.domain is 'sftp.acme.example' there, 'sftp2.acme.example' here",
        "auth.params.password differs (a secret: values not shown)",
    ]
    # What AEP shows in place of a secret cannot be compared: it is not a difference.
    masked = copy.deepcopy(SFTP_BASE)
    masked["auth"]["params"]["password"] = "***"
    assert differences("connections", masked, {**SFTP_BASE}) == []


def test_params_of_an_unknown_connection_spec_are_taken_for_secrets():
    spec = {"id": "0b23e41a-0000-4321-a78f-3b654f5d7d97", "version": "1.0"}
    stored = {"name": "n", "connectionSpec": spec, "auth": {"specName": "Key", "params": {"k": "old-value"}}}
    body = {**stored, "auth": {"specName": "Key", "params": {"k": "new-value"}}}
    assert differences("connections", stored, body) == ["auth.params.k differs (a secret: values not shown)"]


def test_data_format_and_description_of_connections_are_compared():
    spec = {"id": "8a9c3494-9708-43d7-ae3f-cda01e5030e1", "version": "1.0"}
    stored = {"name": "p", "connectionSpec": spec, "baseConnectionId": "b-1", "data": {"format": "CSV"}}
    body = {**stored, "description": "Profile Store", "data": {"format": "JSON", "schema": None}}
    assert differences("sourceConnections", stored, body) == [
        "data.format is 'CSV' there, 'JSON' here",
        "description is not set there, 'Profile Store' here",
    ]


# -- create_once: refuse, or update ---------------------------------------------------------------


class Store(dict):
    def set(self, key: str, value: Any) -> None:
        self[key] = value


@pytest.fixture(autouse=True)
def _no_pause(monkeypatch):
    monkeypatch.setattr(create_once_module, "CONVERGE_SETTLE_SECONDS", 0.0)


def listing_hook(*entities: dict[str, Any]) -> mock.MagicMock:
    """A hook whose entity calls are mocks and whose create-once logic is the real one."""
    hook = mock.MagicMock(spec=AEPHook)
    for name in ("create_once", "reconcile", "converge", "same_named", "created_since"):
        setattr(hook, name, types.MethodType(getattr(CreateOnceMixin, name), hook))
    hook.iter_entities.side_effect = lambda kind, properties=(): iter([dict(e) for e in entities])
    hook.get_entity.side_effect = lambda kind, entity_id: next(
        (dict(e) for e in entities if e["id"] == entity_id), None
    )
    return hook


STORED = {**FLOW, "id": "f-1", "etag": '"e-1"', "createdAt": 1}


def test_reuse_refuses_and_sends_nothing():
    hook = listing_hook(STORED)
    with pytest.raises(AEPError, match=rf"scheduleParams\.endTime is {END_1} there, {END_2} here"):
        hook.create_once("flows", changed(FLOW, endTime=END_2), if_exists="reuse", state_store=None, log=log)
    hook.update_entity.assert_not_called()
    hook.create_entity.assert_not_called()


def test_a_retry_compares_what_the_earlier_try_left_too():
    """A task cleared after its DAG changed must not reuse the earlier try's flow silently."""
    hook = listing_hook(STORED)
    store = Store(aep_flows_id="f-1", aep_flows_created=True)
    with pytest.raises(AEPError, match=r"scheduleParams\.endTime"):
        hook.create_once("flows", changed(FLOW, endTime=END_2), if_exists="reuse", state_store=store, log=log)
    hook.update_entity.assert_not_called()


def test_update_patches_through_update_entity_from_the_entity_as_read(caplog):
    hook = listing_hook(STORED)
    hook.update_entity.side_effect = lambda kind, entity_id, compute, current: {
        "id": entity_id,
        "etag": '"e-2"',
        "entity": current,
        "operations": compute(current),
        "patched": True,
    }
    body = changed(FLOW, endTime=END_2)
    with caplog.at_level(logging.INFO, logger="test.drift"):
        result = hook.create_once("flows", body, if_exists="update", state_store=Store(), log=log)
    assert result == {"id": "f-1", "etag": '"e-2"', "reused": True, "created": False}
    ((kind, entity_id, compute), kwargs) = hook.update_entity.call_args
    assert (kind, entity_id, kwargs["current"]["etag"]) == ("flows", "f-1", '"e-1"')
    assert compute(STORED) == [{"op": "replace", "path": "/scheduleParams/endTime", "value": END_2}]
    # Recomputed after a 412 from the flow as it is then: what is there already is not sent.
    assert compute(changed(STORED, endTime=END_2)) == []
    assert f"scheduleParams.endTime {END_1} -> {END_2}" in caplog.text
    hook.create_entity.assert_not_called()


def test_update_logs_a_secret_by_name_only(caplog):
    stored = {**SFTP_BASE, "id": "b-1", "etag": '"e-1"', "createdAt": 1}
    hook = listing_hook(stored)
    hook.update_entity.side_effect = lambda kind, entity_id, compute, current: {
        "id": entity_id,
        "etag": '"e-2"',
        "entity": current,
        "operations": compute(current),
        "patched": True,
    }
    body = copy.deepcopy(SFTP_BASE)
    body["auth"]["params"]["password"] = "pw-new-91c2"
    with caplog.at_level(logging.INFO, logger="test.drift"):
        hook.create_once("connections", body, if_exists="update", state_store=None, log=log)
    ((_, _, compute), kwargs) = hook.update_entity.call_args
    assert compute(kwargs["current"]) == [
        {"op": "replace", "path": "/auth/params/password", "value": "pw-new-91c2"}
    ]
    assert "auth.params.password (a secret)" in caplog.text
    assert "pw-new-91c2" not in caplog.text
    assert "pw-old-7f3a" not in caplog.text


def test_update_refuses_what_aep_cannot_change_in_place():
    hook = listing_hook(STORED)
    body = {**FLOW, "sourceConnectionIds": ["s-2"]}
    hook.update_entity.side_effect = lambda kind, entity_id, compute, current: compute(current)
    with pytest.raises(
        AEPError, match=r"sourceConnectionIds is \['s-1'\] there, \['s-2'\] here: AEP does not"
    ):
        hook.create_once("flows", body, if_exists="update", state_store=None, log=log)
    hook.create_entity.assert_not_called()


def test_a_412_makes_the_hook_read_again_and_compute_from_the_fresh_flow():
    """AEPHook.update_entity with one stale etag: the second PATCH is computed from the fresh read."""
    hook = AEPHook.__new__(AEPHook)
    fresh = {**changed(STORED, interval=1), "etag": '"e-9"', "description": "changed meanwhile"}
    sent: list[tuple[list[dict[str, Any]], str]] = []

    def patch(kind: str, entity_id: str, operations: Any, etag: str) -> dict[str, Any]:
        sent.append((list(operations), etag))
        if etag == '"e-1"':
            raise AEPApiError(status=412, method="PATCH", path=f"/flows/{entity_id}")
        return {"id": entity_id, "etag": '"e-10"'}

    with (
        mock.patch.object(AEPHook, "_patch", side_effect=patch),
        mock.patch.object(AEPHook, "_get_existing", return_value=fresh),
        mock.patch.object(AEPHook, "iter_entities", side_effect=lambda *a, **k: iter([dict(STORED)])),
        mock.patch.object(AEPHook, "log", create=True),
    ):
        result = hook.create_once(
            "flows", changed(FLOW, endTime=END_2), if_exists="update", state_store=None, log=log
        )
    op = {"op": "replace", "path": "/scheduleParams/endTime", "value": END_2}
    # The second patch is what the fresh flow lacks: the DAG's description, changed meanwhile, too.
    restore = {"op": "replace", "path": "/description", "value": "v1"}
    assert sent == [([op], '"e-1"'), ([restore, op], '"e-9"')]
    assert result["etag"] == '"e-10"'
