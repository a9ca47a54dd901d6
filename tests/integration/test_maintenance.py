"""Update, delete and extend dataflows, against the emulator over real HTTP."""

from __future__ import annotations

import time
from unittest import mock

import pytest

from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.operators.dataflows import (
    AEPDeleteDataflowOperator,
    AEPExtendDataflowEndTimesOperator,
    AEPUpdateDataflowOperator,
)
from tests.emulator.conftest import Api
from tests.emulator.pipeline import make_pipeline

pytestmark = pytest.mark.integration
DAY = 86400


@pytest.fixture
def api(emulator, monkeypatch):
    emulator.admin.post("/reset").raise_for_status()
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", emulator.connection())
    return Api(emulator)


def _run(op):
    ti = mock.MagicMock()
    return op.execute({"ti": ti}), ti


def _flow(api, flow_id):
    return api.ok("GET", f"/flows/{flow_id}")["items"][0]


def test_update_extends_the_end_and_changes_the_schedule(api, emulator):
    ids = make_pipeline(api)
    before = _flow(api, ids["flow"])
    result, ti = _run(
        AEPUpdateDataflowOperator(task_id="u", flow_id=ids["flow"], extend_by_days=30, interval=6)
    )
    after = _flow(api, ids["flow"])
    assert result == ids["flow"]
    assert after["scheduleParams"]["endTime"] == before["scheduleParams"]["endTime"] + 30 * DAY
    assert after["scheduleParams"]["interval"] == 6
    assert after["scheduleParams"]["startTime"] == before["scheduleParams"]["startTime"]
    ti.xcom_push.assert_called_once_with(key="etag", value=after["etag"])
    [patch] = [r for r in emulator.requests() if r["method"] == "PATCH"]
    assert patch["body"] == [{"op": "replace", "path": "/scheduleParams", "value": after["scheduleParams"]}]
    assert patch["if_match"] == before["etag"]


def test_update_renames_disables_and_enables(api):
    ids = make_pipeline(api)
    _run(AEPUpdateDataflowOperator(task_id="u", flow_id=ids["flow"], name="Renamed export", state="disabled"))
    flow = _flow(api, ids["flow"])
    assert (flow["name"], flow["state"]) == ("Renamed export", "disabled")
    _run(AEPUpdateDataflowOperator(task_id="u", flow_id=ids["flow"], state="enabled"))
    assert _flow(api, ids["flow"])["state"] == "enabled"


def test_update_survives_a_concurrent_change(api, emulator):
    ids = make_pipeline(api)
    stale = _flow(api, ids["flow"])["etag"]
    api.ok("POST", f"/flows/{ids['flow']}/action", params={"op": "disable"})  # the etag moves on
    _run(AEPUpdateDataflowOperator(task_id="u", flow_id=ids["flow"], end_time=1985901210, etag=stale))
    assert _flow(api, ids["flow"])["scheduleParams"]["endTime"] == 1985901210
    assert [r["status"] for r in emulator.requests() if r["method"] == "PATCH"] == [412, 200]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"interval": 8}, "interval"),
        ({"end_time": 1600000000}, "end_time"),
        ({"time_unit": "hour", "interval": 1}, "interval"),
    ],
)
def test_update_refuses_schedules_aep_would_refuse(api, emulator, kwargs, field):
    ids = make_pipeline(api)
    with pytest.raises(AEPValidationError) as err:
        _run(AEPUpdateDataflowOperator(task_id="u", flow_id=ids["flow"], **kwargs))
    assert err.value.field == field
    assert not [r for r in emulator.requests() if r["method"] == "PATCH"]


def test_delete_with_connections_in_order_and_again(api, emulator):
    ids = make_pipeline(api)
    result, _ = _run(
        AEPDeleteDataflowOperator(
            task_id="d", flow_id=ids["flow"], delete_connections=True, only_created_by_this_run=False
        )
    )
    assert result == {
        "deleted": [f"flow {ids['flow']}", f"targetConnection {ids['target']}", f"sourceConnection {ids['source']}",
                    f"connection {ids['base']}"],
        "already_gone": [],
        "kept": [],
        "why_kept": {},
    }  # fmt: skip
    # One base connection: the destination's. The Data Lake source's implicit one is never deleted.
    deletes = [r["path"].split("/")[-2:] for r in emulator.requests() if r["method"] == "DELETE"]
    assert deletes == [
        ["flows", ids["flow"]], ["targetConnections", ids["target"]], ["sourceConnections", ids["source"]],
        ["connections", ids["base"]],
    ]  # fmt: skip
    assert all(
        not emulator.entities(kind)
        for kind in ("flows", "targetConnections", "sourceConnections", "connections")
    )
    again, _ = _run(AEPDeleteDataflowOperator(task_id="d", flow_id=ids["flow"], delete_connections=True))
    assert again == {"deleted": [], "already_gone": [f"flow {ids['flow']}"], "kept": [], "why_kept": {}}


def test_delete_by_id_deletes_nothing_this_run_did_not_create(api, emulator):
    ids = make_pipeline(api)
    result, _ = _run(AEPDeleteDataflowOperator(task_id="d", flow_id=ids["flow"], delete_connections=True))
    assert result["deleted"] == []
    assert result["kept"] == [f"flow {ids['flow']}", f"targetConnection {ids['target']}",
                              f"sourceConnection {ids['source']}", f"connection {ids['base']}"]  # fmt: skip
    assert "did not create it" in result["why_kept"][f"flow {ids['flow']}"]
    assert result["why_kept"][f"connection {ids['base']}"] == f"its dataflow {ids['flow']} is kept"
    assert not [r for r in emulator.requests() if r["method"] == "DELETE"]
    assert ids["flow"] in emulator.entities("flows")


def test_a_base_connection_still_in_use_is_kept_and_reported(api, emulator):
    ids = make_pipeline(api)
    # A second flow on the same base connection.
    body = api.ok("GET", f"/targetConnections/{ids['target']}")["items"][0]
    other_target = api.ok("POST", "/targetConnections", 201, json={
        "name": "second", "baseConnectionId": ids["base"], "params": body["params"], "connectionSpec": body["connectionSpec"],
    })["id"]  # fmt: skip
    flow = _flow(api, ids["flow"])
    api.ok("POST", "/flows", 201, json={
        "name": "second flow", "flowSpec": flow["flowSpec"], "sourceConnectionIds": [ids["source"]],
        "targetConnectionIds": [other_target], "transformations": [], "scheduleParams": {
            k: flow["scheduleParams"][k] for k in ("exportMode", "timeUnit", "interval", "startTime", "endTime")},
    })  # fmt: skip
    second_flow = api.ok("GET", "/flows", params={"property": "name==second flow"})["items"][0]["id"]
    result, _ = _run(
        AEPDeleteDataflowOperator(
            task_id="d", flow_id=ids["flow"], delete_connections=True, only_created_by_this_run=False
        )
    )
    # The second flow still uses the source connection, and its target connection the base one.
    assert result["deleted"] == [f"flow {ids['flow']}", f"targetConnection {ids['target']}"]
    assert result["kept"] == [f"sourceConnection {ids['source']}", f"connection {ids['base']}"]
    assert result["why_kept"] == {
        f"sourceConnection {ids['source']}": f"still used by flow {second_flow}",
        f"connection {ids['base']}": f"still used by targetConnection {other_target}",
    }
    assert ids["base"] in emulator.entities("connections")
    assert ids["source"] in emulator.entities("sourceConnections")
    deletes = [r["path"].split("/")[-2] for r in emulator.requests() if r["method"] == "DELETE"]
    assert deletes == ["flows", "targetConnections"]


def test_extend_only_flows_ending_soon(api, emulator):
    soon, later = make_pipeline(api), make_pipeline(api)
    now = int(time.time())
    for ids, end in ((soon, now + 10 * DAY), (later, now + 90 * DAY)):
        flow = _flow(api, ids["flow"])
        ops = [{"op": "replace", "path": "/scheduleParams/endTime", "value": end}]
        api.ok("PATCH", f"/flows/{ids['flow']}", 200, json=ops, headers={"If-Match": flow["etag"]})
    report, _ = _run(
        AEPExtendDataflowEndTimesOperator(task_id="x", within_days=30, extend_by_days=182, report_only=True)
    )
    assert [r["flow_id"] for r in report] == [soon["flow"]]
    assert _flow(api, soon["flow"])["scheduleParams"]["endTime"] == now + 10 * DAY  # report only
    extended, _ = _run(AEPExtendDataflowEndTimesOperator(task_id="x", within_days=30, extend_by_days=182))
    assert extended == [{"flow_id": soon["flow"], "name": report[0]["name"], "end_time_before": now + 10 * DAY,
                         "end_time_after": now + 192 * DAY}]  # fmt: skip
    assert _flow(api, soon["flow"])["scheduleParams"]["endTime"] == now + 192 * DAY
    assert _flow(api, later["flow"])["scheduleParams"]["endTime"] == now + 90 * DAY
    again, _ = _run(AEPExtendDataflowEndTimesOperator(task_id="x", within_days=30))
    assert again == []
