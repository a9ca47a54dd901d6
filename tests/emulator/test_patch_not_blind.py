"""Activation and updates over real HTTP: each PATCH is computed from the flow as it is now.

The operators and AEPHook run against the emulator through a real Airflow connection; the
emulator's request log shows every PATCH with its body and If-Match.
"""

from __future__ import annotations

import copy
import threading
import time
from datetime import date
from typing import Any
from unittest import mock

import pytest

from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.hooks.retry import RetryPolicy
from airflow_provider_aep.operators.dataflows import (
    AEPActivateSegmentsOperator,
    AEPUpdateDataflowOperator,
)
from airflow_provider_aep.payloads.activation import activation_still_needed, build_activation_patch
from airflow_provider_aep.tasks.flow_updates import DAY
from tests.emulator.pipeline import make_pipeline
from tests.emulator.test_activation import SEGMENTS_PATH, campaign_flow

SEGMENT_1 = "9f7d37fd-7039-4454-94ef-2b0cd6c3206a"
SEGMENT_2 = "25768be6-ebd5-45cc-8913-12fb3f348613"
SEGMENT_3 = "3c1b6c0e-2d7a-4a8e-9f61-5b0f7f3a9d11"
ATTRIBUTES = ["person.name.lastName", "personalEmail.address"]


@pytest.fixture
def conn(emu, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", emu.connection())


def activate(flow_id: str, *segments: str, profile_attributes: Any = ATTRIBUTES) -> list[str]:
    op = AEPActivateSegmentsOperator(
        task_id="activate", flow_id=flow_id, segments=list(segments), profile_attributes=profile_attributes
    )
    op.hook.retry_policy = RetryPolicy(max_attempts=3, base_wait=0.05, max_wait=0.1)
    result: list[str] = op.execute({"ti": mock.MagicMock(), "logical_date": None})
    return result


def params(api, flow_id: str) -> dict[str, Any]:
    return api.ok("GET", f"/flows/{flow_id}")["items"][0]["transformations"][0]["params"]


def selectors(api, flow_id: str) -> tuple[list[str], list[str]]:
    found = params(api, flow_id)
    return (
        [s["value"]["id"] for s in found["segmentSelectors"]["selectors"]],
        [s["value"]["path"] for s in found["profileSelectors"]["selectors"]],
    )


def patches(emu) -> list[dict[str, Any]]:
    return [r for r in emu.requests() if r["method"] == "PATCH"]


def added_segments(patch: dict[str, Any]) -> list[str]:
    return [op["value"]["value"]["id"] for op in patch["body"] if op["path"] == SEGMENTS_PATH]


def test_the_same_activation_twice_leaves_each_selector_once(api, emu, conn):
    flow = campaign_flow(api)["flow"]
    assert activate(flow, SEGMENT_1, SEGMENT_2) == [SEGMENT_1, SEGMENT_2]
    assert activate(flow, SEGMENT_1, SEGMENT_2) == [SEGMENT_1, SEGMENT_2]
    assert selectors(api, flow) == ([SEGMENT_1, SEGMENT_2], ATTRIBUTES)
    assert len(patches(emu)) == 1  # the second run found nothing missing

    emu.admin.post("/audiences", json={"id": SEGMENT_3, "name": "Third audience"}).raise_for_status()
    activate(flow, SEGMENT_1, SEGMENT_2, SEGMENT_3)
    assert added_segments(patches(emu)[-1]) == [SEGMENT_3]
    assert [op["path"] for op in patches(emu)[-1]["body"]] == [SEGMENTS_PATH]
    assert selectors(api, flow) == ([SEGMENT_1, SEGMENT_2, SEGMENT_3], ATTRIBUTES)


def test_one_attribute_given_as_a_string_is_one_attribute(api, emu, conn):
    flow = campaign_flow(api)["flow"]
    activate(flow, SEGMENT_1, profile_attributes="person.name.lastName")
    assert selectors(api, flow) == ([SEGMENT_1], ["person.name.lastName"])


def test_a_patch_whose_answer_was_lost_is_checked_not_repeated(api, emu, conn):
    flow = campaign_flow(api)["flow"]
    emu.add_fault(method="PATCH", path="*/flows/*", drop_after=True)
    assert activate(flow, SEGMENT_1, SEGMENT_2) == [SEGMENT_1, SEGMENT_2]
    assert selectors(api, flow) == ([SEGMENT_1, SEGMENT_2], ATTRIBUTES)
    [patch] = patches(emu)
    assert patch["fault"] is True
    assert patch["status"] == 200  # it landed; only its answer was lost


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_patch_that_failed_at_the_gateway_is_sent_again_after_a_fresh_read(api, emu, conn, status):
    flow = campaign_flow(api)["flow"]
    emu.add_fault(method="PATCH", path="*/flows/*", status=status)
    activate(flow, SEGMENT_1)
    calls = [r["method"] for r in emu.requests() if r["path"].endswith(f"/flows/{flow}")]
    assert calls == ["GET", "PATCH", "GET", "PATCH", "GET"]  # read, patch, look, patch, validate
    assert selectors(api, flow) == ([SEGMENT_1], ATTRIBUTES)
    assert [p["status"] for p in patches(emu)] == [status, 200]


def test_a_412_from_a_concurrent_update_leads_to_a_recomputed_patch(api, emu, conn, monkeypatch):
    flow = campaign_flow(api)["flow"]
    wanted = build_activation_patch(segments=[SEGMENT_1], profile_attributes=ATTRIBUTES, today=date.today())
    seen: list[dict[str, Any]] = []

    def still_needed(current: dict[str, Any]) -> list[dict[str, Any]]:
        seen.append(copy.deepcopy(current))
        return activation_still_needed(current, wanted)

    emu.add_fault(method="PATCH", path="*/flows/*", concurrent_update=True)
    hook = AEPHook(retry_policy=RetryPolicy(max_attempts=3, base_wait=0.05, max_wait=0.1))
    result = hook.update_entity("flows", flow, still_needed)
    stale, fresh = patches(emu)
    assert (stale["status"], fresh["status"]) == (412, 200)
    assert len(seen) == 2
    assert stale["if_match"] == seen[0]["etag"]
    assert fresh["if_match"] == seen[1]["etag"] != seen[0]["etag"]
    assert fresh["body"] == activation_still_needed(seen[1], wanted)
    assert result["patched"] is True
    assert selectors(api, flow) == ([SEGMENT_1], ATTRIBUTES)


def test_a_real_concurrent_writer_is_not_overwritten_nor_duplicated(api, emu, conn):
    """Another client activates SEGMENT_1 while our PATCH is on its way: ours then adds only SEGMENT_2."""
    flow = campaign_flow(api)["flow"]
    emu.add_fault(method="PATCH", path="*/flows/*", latency=0.8)

    def other_writer() -> None:
        deadline = time.monotonic() + 10
        while not any(r["hits"] for r in emu.admin.get("/faults").json()["rules"]):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        etag = api.ok("GET", f"/flows/{flow}")["items"][0]["etag"]
        ops = build_activation_patch(segments=[SEGMENT_1], today=date.today())
        api.ok("PATCH", f"/flows/{flow}", 200, json=ops, headers={"If-Match": etag})

    writer = threading.Thread(target=other_writer)
    writer.start()
    activate(flow, SEGMENT_1, SEGMENT_2, profile_attributes=[])
    writer.join(timeout=10)
    ours_stale, theirs, ours_fresh = sorted(patches(emu), key=lambda r: r["at"])
    assert added_segments(theirs) == [SEGMENT_1]
    assert (ours_stale["status"], added_segments(ours_stale)) == (412, [SEGMENT_1, SEGMENT_2])
    assert (ours_fresh["status"], added_segments(ours_fresh)) == (200, [SEGMENT_2])
    assert selectors(api, flow)[0] == [SEGMENT_1, SEGMENT_2]


def test_an_extension_whose_answer_was_lost_extends_once(api, emu, conn):
    flow = make_pipeline(api)["flow"]
    before = api.ok("GET", f"/flows/{flow}")["items"][0]["scheduleParams"]["endTime"]
    assert before > time.time() + DAY
    emu.add_fault(method="PATCH", path="*/flows/*", drop_after=True)
    op = AEPUpdateDataflowOperator(task_id="u", flow_id=flow, extend_by_days=30)
    op.hook.retry_policy = RetryPolicy(max_attempts=3, base_wait=0.05, max_wait=0.1)
    op.execute({"ti": mock.MagicMock()})
    after = api.ok("GET", f"/flows/{flow}")["items"][0]["scheduleParams"]["endTime"]
    assert after == before + 30 * DAY
    assert len(patches(emu)) == 1
