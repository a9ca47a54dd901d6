"""PATCH is not blind: computed from the flow as it is now, re-checked after a 412 or a lost answer.

The hook runs over a scripted HTTP layer whose flow store applies JSON Patch as AEP does, so the
tests see every request: what each PATCH carried, with which If-Match, and what the flow became.
"""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
import requests

from aep_emulator.jsonpatch import apply_patch
from airflow_provider_aep.exceptions import AEPApiError, AEPError, AEPValidationError
from airflow_provider_aep.operators.dataflows import (
    AEPActivateSegmentsOperator,
    AEPDeleteDataflowOperator,
    AEPExtendDataflowEndTimesOperator,
    AEPUpdateDataflowOperator,
)
from airflow_provider_aep.payloads.activation import (
    PROFILE_SELECTORS,
    SEGMENT_SELECTORS,
    activation_still_needed,
    build_activation_patch,
)
from airflow_provider_aep.payloads.patch import unapplied_operations
from airflow_provider_aep.tasks.flow_updates import DAY
from tests.unit.fake_http import Call, response

TODAY = date(2026, 11, 23)
MANDATORY = "/transformations/0/params/profileSelectors/mandatoryFields"
PRIMARY = "/transformations/0/params/profileSelectors/primaryFields"


def segment_flow(
    segments: tuple[str, ...] = (), paths: tuple[str, ...] = (), **profile: Any
) -> dict[str, Any]:
    """A segment dataflow as AEP shows it: selectors enriched with read-only keys."""
    return {
        "id": "f-1",
        "etag": '"e-1"',
        "name": "Activate",
        "transformations": [{"name": "GeneralTransform", "params": {
            "segmentSelectors": {"selectors": [
                {"type": "PLATFORM_SEGMENT", "value": {"id": s, "createTime": "1", "schedule": {}}} for s in segments
            ]},
            "profileSelectors": {"selectors": [
                {"type": "JSON_PATH", "value": {"path": p, "operator": "EXISTS"}} for p in paths
            ], **profile},
        }}],
    }  # fmt: skip


def dataset_flow(end: int = 1_900_000_000) -> dict[str, Any]:
    schedule = {
        "exportMode": "DAILY_FULL_EXPORT",
        "timeUnit": "day",
        "interval": 0,
        "startTime": 1_700_000_000,
    }
    return {
        "id": "f-1",
        "etag": '"e-1"',
        "name": "Export",
        "state": "enabled",
        "scheduleParams": {**schedule, "endTime": end},
    }


class FlowStore:
    """One flow behind ``GET``/``PATCH /flows/f-1``, with AEP's If-Match rule and scripted trouble.

    ``trouble`` is consumed one entry per PATCH: ``"lost"`` applies the patch and drops the
    answer; ``"timeout"`` drops it unapplied; an int answers that status (``"applied-502"``: after
    applying); ``"moved"`` bumps the etag first (a 412); a callable changes the flow first.
    """

    def __init__(self, flow: dict[str, Any]) -> None:
        self.flow = copy.deepcopy(flow)
        self.version = 1
        self.trouble: list[Any] = []

    def __call__(self, call: Call) -> requests.Response:
        if call.method == "GET" and call.flow_path == "/flows/f-1":
            return response(200, {"items": [copy.deepcopy(self.flow)]})
        if call.method == "PATCH":
            return self.patch(call)
        if call.method == "POST" and call.flow_path == "/flows/f-1/action":
            self.flow["state"] = "disabled" if call.params == {"op": "disable"} else "enabled"
            return response(200, {"id": "f-1", "etag": self._bump()})
        if call.method == "GET" and call.flow_path == "/flows":
            return response(200, {"items": [copy.deepcopy(self.flow)]})
        if call.method == "GET" and call.path.startswith("/data/core/ups/segment/definitions/"):
            return response(200, {"id": call.path.rsplit("/", 1)[-1]})  # every audience exists here
        raise AssertionError(f"unexpected {call.method} {call.flow_path}")

    def patch(self, call: Call) -> requests.Response:
        trouble = self.trouble.pop(0) if self.trouble else None
        if trouble == "moved":
            self._bump()
        elif callable(trouble):
            trouble(self.flow)
            self._bump()
        if call.headers.get("If-Match") != self.flow["etag"]:
            return response(
                412, {"type": "https://ns.adobe.com/aep/errors/FLOW-1404-412", "title": "Precondition Failed"}
            )
        if isinstance(trouble, int):
            return response(trouble)
        if trouble == "timeout":
            raise requests.ReadTimeout("read timed out")
        self.flow = {**apply_patch(self.flow, call.json), "etag": self.flow["etag"]}
        self._bump()
        if trouble == "lost":
            raise requests.exceptions.ChunkedEncodingError("connection dropped after the request was sent")
        if trouble == "applied-502":
            return response(502)
        return response(202)

    def _bump(self) -> str:
        self.version += 1
        self.flow["etag"] = f'"e-{self.version}"'
        return self.flow["etag"]


@pytest.fixture
def store(fake, sleeps) -> FlowStore:
    store = FlowStore(segment_flow())
    fake.default = store
    return store


def patches(fake) -> list[Call]:
    return [c for c in fake.api_calls if c.method == "PATCH"]


def activation(*segments: str, **kwargs: Any) -> list[dict[str, Any]]:
    return build_activation_patch(segments=list(segments), today=TODAY, **kwargs)


def context(mocker) -> dict[str, Any]:
    return {"ti": mocker.MagicMock(), "logical_date": None}


def segment_ids(flow: dict[str, Any]) -> list[str]:
    return [s["value"]["id"] for s in flow["transformations"][0]["params"]["segmentSelectors"]["selectors"]]


def attribute_paths(flow: dict[str, Any]) -> list[str]:
    return [s["value"]["path"] for s in flow["transformations"][0]["params"]["profileSelectors"]["selectors"]]


# -- the patch, computed from the flow ---------------------------------------------------------------


@pytest.mark.parametrize("field", ["profile_attributes", "mandatory_fields", "primary_fields"])
def test_one_string_is_one_attribute_never_its_letters(field):
    kwargs = {"profile_attributes": "person.lastName", field: "person.lastName"}
    ops = activation("seg-1", **kwargs)
    assert [op["value"] for op in ops if op["path"] == PROFILE_SELECTORS] == [
        {"type": "JSON_PATH", "value": {"path": "person.lastName"}}
    ]
    if field == "mandatory_fields":
        assert ops[-1] == {"op": "add", "path": MANDATORY, "value": ["person.lastName"]}
    if field == "primary_fields":
        assert ops[-1]["value"] == [{"fieldType": "ATTRIBUTE", "attributePath": "person.lastName"}]


def test_what_the_flow_shows_is_not_added_again():
    wanted = activation("seg-1", "seg-2", profile_attributes=["person.lastName", "person.firstName"])
    flow = segment_flow(segments=("seg-1",), paths=("person.lastName",))
    needed = activation_still_needed(flow, wanted)
    assert [
        (op["path"], op["value"]["value"].get("id") or op["value"]["value"]["path"]) for op in needed
    ] == [
        (SEGMENT_SELECTORS, "seg-2"),
        (PROFILE_SELECTORS, "person.firstName"),
    ]
    everything = segment_flow(segments=("seg-2", "seg-1"), paths=("person.firstName", "person.lastName"))
    assert activation_still_needed(everything, wanted) == []


def test_field_lists_become_the_union_of_the_flow_and_the_request():
    wanted = activation(
        "seg-1", profile_attributes=["a.b", "c.d"], mandatory_fields=["a.b", "c.d"], primary_fields=["c.d"]
    )
    bare = segment_flow(segments=("seg-1",), paths=("a.b", "c.d"))
    assert activation_still_needed(bare, wanted) == [
        {"op": "add", "path": MANDATORY, "value": ["a.b", "c.d"]},
        {"op": "add", "path": PRIMARY, "value": [{"fieldType": "ATTRIBUTE", "attributePath": "c.d"}]},
    ]
    other = {"fieldType": "ATTRIBUTE", "attributePath": "e.f"}
    partly = segment_flow(
        segments=("seg-1",),
        paths=("a.b", "c.d", "e.f"),
        mandatoryFields=["e.f", "a.b"],
        primaryFields=[other],
    )
    assert activation_still_needed(partly, wanted) == [
        {"op": "replace", "path": MANDATORY, "value": ["e.f", "a.b", "c.d"]},
        {
            "op": "replace",
            "path": PRIMARY,
            "value": [other, {"fieldType": "ATTRIBUTE", "attributePath": "c.d"}],
        },
    ]
    done = segment_flow(
        segments=("seg-1",), paths=("a.b", "c.d"), mandatoryFields=["c.d", "a.b"],
        primaryFields=[{"fieldType": "ATTRIBUTE", "attributePath": "c.d"}],
    )  # fmt: skip
    assert activation_still_needed(done, wanted) == []


def test_any_patch_can_be_checked_against_a_document():
    doc = {"name": "n", "scheduleParams": {"endTime": 5}, "list": [{"id": "a", "createTime": "1"}]}
    ops = [
        {"op": "replace", "path": "/name", "value": "n"},
        {"op": "replace", "path": "/scheduleParams/endTime", "value": 6},
        {"op": "add", "path": "/list/-", "value": {"id": "a"}},
        {"op": "add", "path": "/list/-", "value": {"id": "b"}},
        {"op": "remove", "path": "/gone"},
        {"op": "remove", "path": "/name"},
    ]
    assert unapplied_operations(doc, ops) == [ops[1], ops[3], ops[5]]


# -- AEPHook.update_entity: reads, computes, sends, looks again ---------------------------------------


def still_needed(wanted):
    return lambda flow: activation_still_needed(flow, wanted)


def test_nothing_missing_sends_no_patch(hook, fake, store):
    store.flow = segment_flow(segments=("seg-1",))
    result = hook.update_entity("flows", "f-1", still_needed(activation("seg-1")))
    assert result["patched"] is False
    assert result["etag"] == '"e-1"'
    assert patches(fake) == []


def test_a_412_recomputes_the_patch_from_the_fresh_flow(hook, fake, store):
    """Someone activated seg-1 between our read and our PATCH: the second PATCH adds only seg-2."""

    def other_writer(flow):
        flow.update(apply_patch(flow, activation("seg-1")))

    store.trouble = [other_writer]
    result = hook.update_entity("flows", "f-1", still_needed(activation("seg-1", "seg-2")))
    first, second = patches(fake)
    assert [op["value"]["value"]["id"] for op in first.json] == ["seg-1", "seg-2"]
    assert [op["value"]["value"]["id"] for op in second.json] == ["seg-2"]
    assert (first.headers["If-Match"], second.headers["If-Match"]) == ('"e-1"', '"e-2"')
    assert segment_ids(store.flow) == ["seg-1", "seg-2"]
    assert result["patched"] is True


@pytest.mark.parametrize("trouble", ["lost", "applied-502"])
def test_a_patch_whose_answer_was_lost_is_not_sent_again_when_it_landed(hook, fake, store, trouble):
    store.trouble = [trouble]
    result = hook.update_entity("flows", "f-1", still_needed(activation("seg-1", profile_attributes=["a.b"])))
    assert len(patches(fake)) == 1
    assert fake.api_calls[-1].method == "GET"  # looked instead of re-sending
    assert (segment_ids(store.flow), attribute_paths(store.flow)) == (["seg-1"], ["a.b"])
    assert result["patched"] is True


@pytest.mark.parametrize("trouble", [500, 502, 504, "timeout"])
def test_a_patch_whose_outcome_is_unknown_is_resent_only_after_a_fresh_read(hook, fake, store, trouble):
    store.trouble = [trouble]
    hook.update_entity("flows", "f-1", still_needed(activation("seg-1")))
    assert [c.method for c in fake.api_calls] == ["GET", "PATCH", "GET", "PATCH"]
    assert segment_ids(store.flow) == ["seg-1"]


@pytest.mark.parametrize("status", [429, 503])
def test_a_patch_refused_at_the_gateway_is_retried_as_is(hook, fake, store, status):
    store.trouble = [status]
    hook.update_entity("flows", "f-1", still_needed(activation("seg-1")))
    assert [c.method for c in fake.api_calls] == ["GET", "PATCH", "PATCH"]
    assert segment_ids(store.flow) == ["seg-1"]


def test_412s_are_bounded_and_the_error_names_the_flow(hook, fake, store):
    store.trouble = ["moved", "moved", "moved"]
    with pytest.raises(AEPApiError) as err:
        hook.update_entity("flows", "f-1", still_needed(activation("seg-1")))
    assert err.value.status == 412
    assert "dataflow f-1 changed before each of 3 patches" in str(err.value)
    assert f"add {SEGMENT_SELECTORS}" in str(err.value)
    assert len(patches(fake)) == 3
    assert segment_ids(store.flow) == []


def test_patches_without_an_answer_are_bounded_too(hook, fake, store):
    store.trouble = [500, 500, 500]
    with pytest.raises(AEPError, match="Dataflow f-1: 3 patches got no answer") as err:
        hook.update_entity("flows", "f-1", still_needed(activation("seg-1")))
    assert "Running the task again is safe" in str(err.value)
    assert [c.method for c in fake.api_calls] == ["GET", "PATCH", "GET", "PATCH", "GET", "PATCH", "GET"]


def test_patch_flow_rechecks_after_a_lost_answer_instead_of_reapplying(hook, fake, store):
    store.trouble = ["lost"]
    answer = hook.patch_entity("flows", "f-1", activation("seg-1"), etag='"e-1"')
    assert len(patches(fake)) == 1
    assert segment_ids(store.flow) == ["seg-1"]
    assert answer == {"id": "f-1", "etag": store.flow["etag"]}


# -- the operators --------------------------------------------------------------------------------------


def test_the_same_activation_twice_leaves_each_selector_once(store, fake, mocker):
    def activate(*segments):
        op = AEPActivateSegmentsOperator(
            task_id="a", flow_id="f-1", segments=list(segments), profile_attributes=["person.lastName"]
        )
        ctx = context(mocker)
        return op.execute(ctx), ctx

    assert activate("seg-1", "seg-2")[0] == ["seg-1", "seg-2"]
    again, ctx = activate("seg-1", "seg-2")
    assert again == ["seg-1", "seg-2"]
    assert len(patches(fake)) == 1  # the second run had nothing to send
    ctx["ti"].xcom_push.assert_called_once_with(key="etag", value=store.flow["etag"])
    activate("seg-1", "seg-2", "seg-3")
    assert [op["value"]["value"]["id"] for op in patches(fake)[-1].json] == ["seg-3"]
    assert segment_ids(store.flow) == ["seg-1", "seg-2", "seg-3"]
    assert attribute_paths(store.flow) == ["person.lastName"]


def test_activation_with_a_lost_answer_ends_correct_with_one_patch(store, fake, mocker):
    store.trouble = ["lost"]
    op = AEPActivateSegmentsOperator(task_id="a", flow_id="f-1", segments=["seg-1"], profile_attributes="a.b")
    assert op.execute(context(mocker)) == ["seg-1"]
    assert len(patches(fake)) == 1
    assert (segment_ids(store.flow), attribute_paths(store.flow)) == (["seg-1"], ["a.b"])


def test_an_extension_whose_answer_was_lost_extends_once(store, fake, mocker):
    store.flow = dataset_flow(end=1_900_000_000)
    store.trouble = ["lost"]
    AEPUpdateDataflowOperator(task_id="u", flow_id="f-1", extend_by_days=10).execute(context(mocker))
    assert store.flow["scheduleParams"]["endTime"] == 1_900_000_000 + 10 * DAY
    assert len(patches(fake)) == 1


def test_an_update_after_a_412_keeps_what_the_other_writer_did(store, fake, mocker):
    """Someone extended further and renamed it as we wanted: we only change the interval."""
    store.flow = dataset_flow(end=1_900_000_000)

    def other_writer(flow):
        flow["scheduleParams"]["endTime"] = 1_950_000_000
        flow["name"] = "Renamed"

    store.trouble = [other_writer]
    AEPUpdateDataflowOperator(
        task_id="u", flow_id="f-1", extend_by_days=10, name="Renamed", export_mode="FIRST_FULL_THEN_INCREMENTAL",
        time_unit="hour", interval=6,
    ).execute(context(mocker))  # fmt: skip
    first, second = patches(fake)
    assert {op["path"] for op in first.json} == {"/scheduleParams", "/name"}
    assert [op["path"] for op in second.json] == ["/scheduleParams"]
    assert store.flow["scheduleParams"]["endTime"] == 1_950_000_000  # theirs is later than ours
    assert store.flow["scheduleParams"]["interval"] == 6


def test_an_update_that_changes_nothing_sends_nothing(store, fake, mocker):
    store.flow = dataset_flow(end=1_900_000_000)
    AEPUpdateDataflowOperator(task_id="u", flow_id="f-1", end_time=1_900_000_000, name="Export").execute(
        context(mocker)
    )
    assert patches(fake) == []


def test_the_end_time_sweep_extends_once_when_its_answer_was_lost(store, fake, mocker):
    import time

    now = int(time.time())
    store.flow = dataset_flow(end=now + 5 * DAY)
    store.trouble = ["lost"]
    [extended] = AEPExtendDataflowEndTimesOperator(task_id="x", extend_by_days=30).execute(context(mocker))
    assert store.flow["scheduleParams"]["endTime"] == extended["end_time_after"] == now + 35 * DAY
    assert len(patches(fake)) == 1


# -- flow ids are checked before any request ----------------------------------------------------------

NOT_IDS = ["", None, "f?op=disable", "x/../../connections/b", "a b"]


BUILD = {
    "activate": lambda flow_id: AEPActivateSegmentsOperator(task_id="a", flow_id=flow_id, segments=["seg-1"]),
    "update": lambda flow_id: AEPUpdateDataflowOperator(task_id="u", flow_id=flow_id, extend_by_days=1),
}


@pytest.mark.parametrize("value", NOT_IDS)
@pytest.mark.parametrize("operator", list(BUILD))
def test_activate_and_update_refuse_a_missing_or_bad_flow_id_when_the_dag_is_parsed(operator, value):
    with pytest.raises(AEPValidationError) as err:
        BUILD[operator](value)
    assert err.value.field == "flow_id"


@pytest.mark.parametrize("value", NOT_IDS)
@pytest.mark.parametrize("operator", list(BUILD))
def test_activate_and_update_refuse_a_rendered_bad_flow_id_before_any_request(fake, mocker, operator, value):
    op = BUILD[operator]("{{ ti.xcom_pull('f') }}")
    op.flow_id = value  # what rendering produced
    with pytest.raises(AEPValidationError) as err:
        op.execute(context(mocker))
    assert err.value.field == "flow_id"
    assert fake.calls == []


@pytest.mark.parametrize("value", ["", "f?op=disable", "x/../../connections/b", 7])
def test_delete_takes_none_but_refuses_other_non_ids(fake, mocker, value):
    with pytest.raises(AEPValidationError, match="flow_id"):
        AEPDeleteDataflowOperator(task_id="d", flow_id=value)
    op = AEPDeleteDataflowOperator(task_id="d", flow_id="{{ ti.xcom_pull('f') }}")
    op.flow_id = value
    with pytest.raises(AEPValidationError, match="flow_id"):
        op.execute(context(mocker))
    op.flow_id = None
    assert op.execute(context(mocker)) == {"deleted": [], "already_gone": [], "kept": [], "why_kept": {}}
    assert fake.calls == []


class TaskStateStore(dict):
    """Airflow 3.3's ``task_state_store``: what one task keeps across its tries."""

    def set(self, key: str, value: Any) -> None:
        self[key] = value


def test_a_retried_extension_does_not_extend_again(store, fake, mocker):
    """The first try's PATCH landed, then the task died: its retry finds the end already there."""
    store.flow = dataset_flow(end=1_900_000_000)
    kept = TaskStateStore()
    for _ in range(2):  # the try, then its retry
        ctx = {**context(mocker), "task_state_store": kept}
        AEPUpdateDataflowOperator(task_id="u", flow_id="f-1", extend_by_days=10).execute(ctx)
    assert store.flow["scheduleParams"]["endTime"] == 1_900_000_000 + 10 * DAY
    assert len(patches(fake)) == 1
    assert kept == {"aep_target_end_time": 1_900_000_000 + 10 * DAY}
