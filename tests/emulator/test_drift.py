"""No silent drift: a same-named entity configured otherwise is refused, or patched in place on request.

The creation operators run against the emulator through a real Airflow connection; the
emulator's request log shows each PATCH with its body and If-Match.
"""

from __future__ import annotations

import time
from typing import Any
from unittest import mock

import pytest

from aep_emulator.datasets import BY_ID
from airflow_provider_aep.exceptions import AEPError
from airflow_provider_aep.hooks import create_once as create_once_module
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.hooks.retry import RetryPolicy
from airflow_provider_aep.operators.connections import (
    AEPCreateBaseConnectionOperator,
    AEPCreateSourceConnectionOperator,
    AEPCreateTargetConnectionOperator,
)
from airflow_provider_aep.operators.dataflows import AEPCreateDataflowOperator
from tests import seed_bodies as seed
from tests.emulator.pipeline import make_pipeline

END_1 = 1975901210
END_2 = 1975987610
FAST = RetryPolicy(max_attempts=3, base_wait=0.05, max_wait=0.1)


@pytest.fixture(autouse=True)
def _setup(emu, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", emu.connection())
    monkeypatch.setattr(create_once_module, "CONVERGE_SETTLE_SECONDS", 0.0)


def run(op: Any) -> str:
    op.hook.retry_policy = FAST
    result: str = op.execute({"ti": mock.MagicMock(), "logical_date": None})
    return result


def create_flow(ids: dict[str, str], **kwargs: Any) -> str:
    arguments = {
        "task_id": "create_flow",
        "destination": "amazon_s3",
        "name": "Daily export",
        "source_connection_id": ids["source"],
        "target_connection_id": ids["target"],
        **kwargs,
    }
    return run(AEPCreateDataflowOperator(**arguments))


def flow(api, flow_id: str) -> dict[str, Any]:
    return api.ok("GET", f"/flows/{flow_id}")["items"][0]


def patches(emu) -> list[dict[str, Any]]:
    return [r for r in emu.requests() if r["method"] == "PATCH"]


def named(emu, kind: str, name: str) -> list[dict[str, Any]]:
    return [e for e in emu.entities(kind).values() if e["name"] == name]


# -- dataflows ------------------------------------------------------------------------------------


def test_reuse_refuses_a_dataflow_whose_end_differs_naming_both_values(api, emu):
    ids = make_pipeline(api)
    first = create_flow(ids, end_time=END_1)
    with pytest.raises(AEPError, match=rf"scheduleParams\.endTime is {END_1} there, {END_2} here") as refused:
        create_flow(ids, end_time=END_2)
    assert "if_exists='update'" in str(refused.value)  # the way to apply it is named
    assert flow(api, first)["scheduleParams"]["endTime"] == END_1
    assert patches(emu) == []
    assert len(named(emu, "flows", "Daily export")) == 1


def test_reuse_refuses_a_description_or_a_start_that_was_given_and_differs(api, emu):
    ids = make_pipeline(api)
    start = int(time.time()) - 3600
    create_flow(ids, end_time=END_1, start_time=start, description="v1")
    with pytest.raises(AEPError, match=r"description is 'v1' there, 'v2' here"):
        create_flow(ids, end_time=END_1, start_time=start, description="v2")
    with pytest.raises(AEPError, match=rf"scheduleParams\.startTime is {start} there, {start + 60} here"):
        create_flow(ids, end_time=END_1, start_time=start + 60, description="v1")
    assert patches(emu) == []


def test_update_with_nothing_different_reuses_and_sends_no_patch(api, emu):
    """The default start ("now") moves on every run: it is not a difference."""
    ids = make_pipeline(api)
    first = create_flow(ids, end_time=END_1, start_time=int(time.time()) - 3600)
    again = create_flow(ids, end_time=END_1, if_exists="update")
    assert again == first
    assert patches(emu) == []
    assert len(named(emu, "flows", "Daily export")) == 1


def test_update_patches_the_new_end_with_if_match(api, emu):
    ids = make_pipeline(api)
    first = create_flow(ids, end_time=END_1, description="v1")
    before = flow(api, first)
    again = create_flow(ids, end_time=END_2, description="v2", if_exists="update")
    assert again == first
    (patch,) = patches(emu)
    assert patch["status"] in (200, 202)
    assert patch["if_match"] == before["etag"]
    assert sorted(patch["body"], key=lambda op: op["path"]) == [
        {"op": "replace", "path": "/description", "value": "v2"},
        {"op": "replace", "path": "/scheduleParams/endTime", "value": END_2},
    ]
    after = flow(api, first)
    assert after["scheduleParams"]["endTime"] == END_2
    assert after["description"] == "v2"
    assert after["scheduleParams"]["startTime"] == before["scheduleParams"]["startTime"]  # defaulted: kept
    # Run again: nothing differs any more.
    assert create_flow(ids, end_time=END_2, description="v2", if_exists="update") == first
    assert len(patches(emu)) == 1


def test_a_412_during_the_update_recomputes_from_the_fresh_flow(api, emu):
    ids = make_pipeline(api)
    first = create_flow(ids, end_time=END_1)
    stale_etag = flow(api, first)["etag"]
    emu.add_fault(method="PATCH", path="*/flows/*", concurrent_update=True)
    create_flow(ids, end_time=END_2, if_exists="update")
    stale, fresh = patches(emu)
    assert (stale["status"], fresh["status"]) == (412, 200)
    assert stale["if_match"] == stale_etag
    assert fresh["if_match"] != stale_etag
    assert fresh["body"] == [{"op": "replace", "path": "/scheduleParams/endTime", "value": END_2}]
    assert flow(api, first)["scheduleParams"]["endTime"] == END_2


def test_a_writer_that_made_the_same_change_first_leaves_nothing_to_send(api, emu, monkeypatch):
    """After the 412 the patch is computed again from the flow as it is: nothing is sent twice."""
    ids = make_pipeline(api)
    first = create_flow(ids, end_time=END_1)
    real_patch = AEPHook._patch

    def another_writer_first(self, kind, entity_id, operations, etag):
        if not patches(emu):
            current = flow(api, entity_id)
            ops = [{"op": "replace", "path": "/scheduleParams/endTime", "value": END_2}]
            api.ok("PATCH", f"/flows/{entity_id}", 200, json=ops, headers={"If-Match": current["etag"]})
        return real_patch(self, kind, entity_id, operations, etag)

    monkeypatch.setattr(AEPHook, "_patch", another_writer_first)
    assert create_flow(ids, end_time=END_2, if_exists="update") == first
    theirs, ours = patches(emu)
    assert (theirs["status"], ours["status"]) == (200, 412)
    assert len(patches(emu)) == 2  # ours was not sent again: the fresh flow had the end already
    assert flow(api, first)["scheduleParams"]["endTime"] == END_2


def test_update_refuses_another_target_connection_and_changes_nothing(api, emu):
    ids = make_pipeline(api)
    first = create_flow(ids, end_time=END_1)
    other = make_pipeline(api, path="other/folder")
    with pytest.raises(
        AEPError, match=r"targetConnectionIds is \[.+\] there, \[.+\] here.*delete the old one"
    ):
        create_flow({**ids, "target": other["target"]}, end_time=END_2, if_exists="update")
    assert patches(emu) == []
    assert flow(api, first)["scheduleParams"]["endTime"] == END_1


def test_update_refuses_an_end_before_the_flows_start_before_any_patch(api, emu):
    ids = make_pipeline(api)
    start = int(time.time()) + 86400
    first = create_flow(ids, start_time=start, end_time=start + 86400)
    with pytest.raises(
        AEPError, match=rf"end_time={start - 60} is not valid: a moment after start_time \({start}\)"
    ):
        # The start is the default ("now", not compared); the flow's own start is later than this end.
        create_flow(ids, end_time=start - 60, if_exists="update")
    assert patches(emu) == []
    assert flow(api, first)["scheduleParams"]["endTime"] == start + 86400


# -- connections ----------------------------------------------------------------------------------


def create_target(base_id: str, path: str, if_exists: str = "reuse") -> str:
    return run(
        AEPCreateTargetConnectionOperator(
            task_id="create_target",
            destination="amazon_s3",
            name="S3 target",
            base_connection_id=base_id,
            location={"bucketName": "acme-exports", "path": path},
            if_exists=if_exists,
        )
    )


def test_a_target_connection_with_another_path_is_refused_then_updated(api, emu):
    base = api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["amazon_s3"])["id"]
    first = create_target(base, "exports/v1")
    with pytest.raises(AEPError, match=r"params\.path is 'exports/v1' there, 'exports/v2' here"):
        create_target(base, "exports/v2")
    assert patches(emu) == []
    before = api.ok("GET", f"/targetConnections/{first}")["items"][0]
    assert create_target(base, "exports/v2", if_exists="update") == first
    (patch,) = patches(emu)
    assert patch["if_match"] == before["etag"]
    assert patch["body"] == [{"op": "replace", "path": "/params/path", "value": "exports/v2"}]
    assert api.ok("GET", f"/targetConnections/{first}")["items"][0]["params"]["path"] == "exports/v2"
    assert len(named(emu, "targetConnections", "S3 target")) == 1


def create_base(access_key: str, secret_key: str, if_exists: str = "reuse") -> str:
    return run(
        AEPCreateBaseConnectionOperator(
            task_id="create_base",
            destination="amazon_s3",
            name="S3 base",
            auth_params={"s3AccessKey": access_key, "s3SecretKey": secret_key},
            if_exists=if_exists,
        )
    )


def test_a_base_connection_compares_what_aep_shows_and_never_quotes_a_secret(api, emu):
    other_access_key = "AKIAI44QHZDHBEXAMPLE"
    first = create_base(seed.S3_ACCESS_KEY, seed.S3_SECRET_KEY)
    # The secret is masked by AEP: a different one cannot be seen, so it is no difference.
    assert create_base(seed.S3_ACCESS_KEY, "x" * 40) == first
    with pytest.raises(AEPError) as refused:
        create_base(other_access_key, seed.S3_SECRET_KEY)
    message = str(refused.value)
    # The field is named; the operator registered every auth param with the secret masker, so
    # even the access key id shows as *** here.
    assert "auth.params.s3AccessKey is " in message
    assert "s3SecretKey" not in message
    assert seed.S3_SECRET_KEY not in message
    assert create_base(other_access_key, seed.S3_SECRET_KEY, if_exists="update") == first
    (patch,) = patches(emu)
    assert [(op["op"], op["path"]) for op in patch["body"]] == [("replace", "/auth/params/s3AccessKey")]
    shown = api.ok("GET", f"/connections/{first}")["items"][0]["auth"]["params"]
    assert shown["s3AccessKey"] == other_access_key


def test_update_refuses_other_datasets_for_a_source_connection(api, emu):
    one, two = sorted(BY_ID)[:2]

    def create_source(dataset: str, if_exists: str = "reuse") -> str:
        op = AEPCreateSourceConnectionOperator(
            task_id="create_source", name="Lake", datasets=[dataset], if_exists=if_exists
        )
        return run(op)

    first = create_source(one)
    with pytest.raises(
        AEPError, match=r"params\.datasets is .+ there, .+ here.*AEPUpdateSourceConnectionOperator"
    ):
        create_source(two, if_exists="update")
    assert patches(emu) == []
    listed = api.ok("GET", f"/sourceConnections/{first}")["items"][0]["params"]["datasets"]
    assert [d["dataSetId"] for d in listed] == [one]
