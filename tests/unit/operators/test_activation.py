"""The activation JSON Patch: the tutorial's operations, every rule, and the operator around it."""

from __future__ import annotations

from datetime import date

import pytest

from airflow_provider_aep.exceptions import AEPError, AEPValidationError
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.operators.dataflows import AEPActivateSegmentsOperator
from airflow_provider_aep.payloads.activation import build_activation_patch, missing_after_activation

#: The tutorial's own day: its ONCE export on 2021-12-20 is not in the past then.
TODAY = date(2021, 12, 20)
SEED_SEGMENT = {
    "name": "Name of the segment that you are activating",
    "description": "Description of the segment that you are activating",
    "id": "seg-1",
    "filenameTemplate": "%DESTINATION_NAME%_%SEGMENT_ID%_%DATETIME(YYYYMMdd_HHmmss)%",
    "exportMode": "DAILY_FULL_EXPORT",
    "schedule": {"frequency": "ONCE", "startDate": "2021-12-20", "startTime": "17:00"},
}


def test_the_tutorials_patch():
    ops = build_activation_patch(segments=[SEED_SEGMENT], profile_attributes=["person.lastName"], today=TODAY)
    assert ops == [
        {
            "op": "add",
            "path": "/transformations/0/params/segmentSelectors/selectors/-",
            "value": {"type": "PLATFORM_SEGMENT", "value": SEED_SEGMENT},
        },
        {
            "op": "add",
            "path": "/transformations/0/params/profileSelectors/selectors/-",
            "value": {"type": "JSON_PATH", "value": {"path": "person.lastName"}},
        },
    ]


def test_defaults_for_a_bare_segment_id_and_field_lists():
    ops = build_activation_patch(
        segments=["seg-1"],
        profile_attributes=["person.name.lastName", "personalEmail.address"],
        mandatory_fields=["person.name.lastName"],
        primary_fields=["personalEmail.address"],
        today=TODAY,
    )
    assert ops[0]["value"]["value"] == {
        "id": "seg-1",
        "filenameTemplate": "%DESTINATION_NAME%_%SEGMENT_ID%_%DATETIME(YYYYMMdd_HHmmss)%",
        "exportMode": "DAILY_FULL_EXPORT",
        "schedule": {"frequency": "ONCE", "startDate": "2021-12-20", "startTime": "00:00"},
    }
    assert ops[-2] == {
        "op": "add", "path": "/transformations/0/params/profileSelectors/mandatoryFields", "value": ["person.name.lastName"],
    }  # fmt: skip
    assert ops[-1]["value"] == [{"fieldType": "ATTRIBUTE", "attributePath": "personalEmail.address"}]


def _segment(**changes):
    segment = {**SEED_SEGMENT, "schedule": dict(SEED_SEGMENT["schedule"])}
    for key, value in changes.items():
        if key.startswith("schedule_"):
            segment["schedule"][key.removeprefix("schedule_")] = value
        else:
            segment[key] = value
    return segment


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"segments": []}, "segments", "at least one segment"),
        ({"segments": "seg-1"}, "segments", "at least one segment"),
        ({"segments": [_segment(id="")]}, "segments[0].id", "segment"),
        ({"segments": [_segment(), _segment()]}, "segments", "each segment once"),
        ({"segments": [_segment(exportMode="WEEKLY")]}, "segments[0].exportMode", "DAILY_FULL_EXPORT"),
        (
            {"segments": [_segment(schedule_frequency="EVERY_3_HOURS")]},
            "segments[0].schedule.frequency",
            "ONCE, DAILY",
        ),
        (
            {"segments": [_segment(exportMode="FIRST_FULL_THEN_INCREMENTAL")]},
            "segments[0].schedule.frequency",
            "DAILY, EVERY_3_HOURS",
        ),
        ({"segments": [_segment(schedule_endDate="2021-12-31")]}, "segments[0].schedule.endDate", "ONCE"),
        (
            {"segments": [_segment(schedule_frequency="DAILY", schedule_endDate="2021-12-01")]},
            "segments[0].schedule.endDate",
            "on or after",
        ),
        (
            {"segments": [_segment(schedule_startDate="20/12/2021")]},
            "segments[0].schedule.startDate",
            "YYYY-MM-DD",
        ),
        (
            {"segments": [_segment(schedule_startDate="2021-02-30")]},
            "segments[0].schedule.startDate",
            "real calendar",
        ),
        ({"segments": [_segment(schedule_startTime="5pm")]}, "segments[0].schedule.startTime", "HH:MM"),
        ({"segments": [_segment(schedule_startTime="24:00")]}, "segments[0].schedule.startTime", "HH:MM"),
        (
            {"segments": [_segment(filenameTemplate="%SEGMENT_ID%.csv")]},
            "segments[0].filenameTemplate",
            "%DESTINATION_NAME%",
        ),
        (
            {"segments": [_segment(filenameTemplate="%DESTINATION_NAME%_%SEGMENT_ID%_%DATE%")]},
            "segments[0].filenameTemplate",
            "unknown macro %DATE%",
        ),
        ({"segments": [_segment(frequency="DAILY")]}, "segments[0]", "only id, name"),
        (
            {"segments": ["s"], "profile_attributes": ["person name"]},
            "profile_attributes[0]",
            "XDM attribute path",
        ),
        (
            {"segments": ["s"], "profile_attributes": ["a.b"], "mandatory_fields": ["c.d"]},
            "mandatory_fields",
            "also in",
        ),
        (
            {"segments": ["s"], "profile_attributes": ["a.b"], "primary_fields": ["c.d"]},
            "primary_fields",
            "also in",
        ),
    ],
)
def test_every_rule(kwargs, field, words):
    with pytest.raises(AEPValidationError) as err:
        build_activation_patch(today=TODAY, **kwargs)
    assert err.value.field == field
    assert words in str(err.value)


@pytest.mark.parametrize(
    ("mode", "frequency"),
    [("DAILY_FULL_EXPORT", f) for f in ("ONCE", "DAILY")]
    + [
        ("FIRST_FULL_THEN_INCREMENTAL", f)
        for f in ("DAILY", "EVERY_3_HOURS", "EVERY_6_HOURS", "EVERY_8_HOURS", "EVERY_12_HOURS")
    ],
)
def test_every_allowed_frequency(mode, frequency):
    [op] = build_activation_patch(
        segments=[_segment(exportMode=mode, schedule_frequency=frequency)], today=TODAY
    )
    assert op["value"]["value"]["schedule"]["frequency"] == frequency


def test_missing_after_activation():
    ops = build_activation_patch(segments=["a", "b"], profile_attributes=["x.y"], today=TODAY)
    flow = {"transformations": [{"params": {
        "segmentSelectors": {"selectors": [{"value": {"id": "a"}}]},
        "profileSelectors": {"selectors": []},
    }}]}  # fmt: skip
    assert missing_after_activation(flow, ops) == ["segment b", "attribute x.y"]


# -- the operator -------------------------------------------------------------------------------------


@pytest.fixture
def flow_api(mocker, aep_conn):
    state = {"selectors": [], "paths": []}

    def patch(self, kind, flow_id, operations, etag=None):
        assert kind == "flows"
        state["etag_sent"] = etag
        for op in operations:
            if op["path"].endswith("segmentSelectors/selectors/-"):
                state["selectors"].append(op["value"])
            elif op["path"].endswith("profileSelectors/selectors/-"):
                state["paths"].append(op["value"])
        return {"id": flow_id, "etag": '"e-2"'}

    def get(self, kind, flow_id):
        assert kind == "flows"
        return {"id": flow_id, "etag": '"e-2"', "transformations": [{"params": {
            "segmentSelectors": {"selectors": state["selectors"]},
            "profileSelectors": {"selectors": state["paths"]},
        }}]}  # fmt: skip

    # The one PATCH request: the operator computes what to send through AEPHook.update_entity.
    state["patch"] = mocker.patch.object(AEPHook, "_patch", autospec=True, side_effect=patch)
    mocker.patch.object(AEPHook, "_get_existing", autospec=True, side_effect=get)
    # The audiences exist unless a test says otherwise.
    state["missing"] = mocker.patch.object(AEPHook, "missing_audiences", autospec=True, return_value=[])
    return state


def test_operator_refuses_audiences_the_sandbox_lacks_before_any_patch(flow_api, mocker):
    flow_api["missing"].return_value = ["seg-typo"]
    with pytest.raises(AEPValidationError, match=r"segments=\['seg-typo'\]"):
        AEPActivateSegmentsOperator(task_id="a", flow_id="f-1", segments=["seg-1", "seg-typo"]).execute(
            {"ti": mocker.MagicMock()}
        )
    assert flow_api["missing"].call_args.args[1] == ["seg-1", "seg-typo"]
    flow_api["patch"].assert_not_called()


def test_operator_patches_checks_and_returns_ids(flow_api, mocker):
    context = {"ti": mocker.MagicMock(), "logical_date": None}
    op = AEPActivateSegmentsOperator(
        task_id="a", flow_id="f-1", etag='"e-1"', segments=["seg-1", _segment(id="seg-2", schedule_startDate="2099-12-20")],
        profile_attributes=["person.name.lastName"],
    )  # fmt: skip
    assert op.execute(context) == ["seg-1", "seg-2"]
    assert flow_api["etag_sent"] == '"e-1"'
    assert op.aep_dataflow_url.endswith("/_emulator/ui/flows/f-1")
    context["ti"].xcom_push.assert_called_once_with(key="etag", value='"e-2"')


def test_operator_fails_when_the_flow_does_not_show_the_selectors(flow_api, mocker):
    flow_api["patch"].side_effect = lambda self, kind, flow_id, operations, etag=None: {
        "id": flow_id,
        "etag": None,
    }
    with pytest.raises(AEPError, match="does not show: segment seg-1"):
        AEPActivateSegmentsOperator(task_id="a", flow_id="f-1", segments=["seg-1"]).execute(
            {"ti": mocker.MagicMock()}
        )


def test_operator_checks_literals_when_the_dag_is_parsed():
    with pytest.raises(AEPValidationError, match=r"segments\[0\]\.schedule\.frequency"):
        AEPActivateSegmentsOperator(
            task_id="a",
            flow_id="f",
            segments=[
                {"id": "s", "exportMode": "DAILY_FULL_EXPORT", "schedule": {"frequency": "EVERY_3_HOURS"}}
            ],
        )
    AEPActivateSegmentsOperator(
        task_id="a", flow_id="f", segments="{{ params.segments }}"
    )  # checked at execute


def test_email_marketing_targets_take_the_storage_of_their_location(mocker, aep_conn):
    from airflow_provider_aep.operators.connections import AEPCreateTargetConnectionOperator

    sent = []
    mocker.patch.object(
        AEPHook,
        "create_entity",
        autospec=True,
        side_effect=lambda self, kind, b: sent.append(b) or {"id": "t"},
    )
    mocker.patch.object(AEPHook, "iter_entities", autospec=True, side_effect=lambda *a: iter([]))
    for location, mode in (({"remotePath": "/in"}, "FTP"), ({"bucketName": "drop", "path": "p"}, "S3")):
        AEPCreateTargetConnectionOperator(task_id="t", destination="oracle_eloqua", name="n", base_connection_id="b",
                                          location=location).execute({"ti": mocker.MagicMock()})  # fmt: skip
        assert sent[-1]["params"] == {**location, "mode": mode, "format": "CSV"}
        assert sent[-1]["data"] == {"format": "json", "schema": {"id": "1.0", "version": "1.0"}}
    with pytest.raises(AEPValidationError, match=r"params\.bucketName"):
        AEPCreateTargetConnectionOperator(task_id="t", destination="oracle_eloqua", name="n", base_connection_id="b",
                                          location={"path": "p"})  # fmt: skip


def test_sftp_credentials_are_not_taken_for_s3_keys(mocker, aep_conn, monkeypatch):
    import json

    from airflow_provider_aep.operators.connections import AEPCreateBaseConnectionOperator

    sent = []
    mocker.patch.object(
        AEPHook,
        "create_entity",
        autospec=True,
        side_effect=lambda self, kind, b: sent.append(b) or {"id": "b"},
    )
    mocker.patch.object(AEPHook, "iter_entities", autospec=True, side_effect=lambda *a: iter([]))
    monkeypatch.setenv("AIRFLOW_CONN_ELOQUA", json.dumps(
        {"conn_type": "sftp", "login": "u", "password": "pw-12345", "host": "d.example.com", "extra": {"host": "h.example.com"}}
    ))  # fmt: skip
    AEPCreateBaseConnectionOperator(
        task_id="b", destination="oracle_eloqua", name="n", credentials_conn_id="eloqua"
    ).execute({"ti": mocker.MagicMock()})
    assert sent[0]["auth"] == {
        "specName": "SFTP with Password",
        "params": {
            "host": "h.example.com",
            "username": "u",
            "password": "pw-12345",
            "domain": "d.example.com",
        },
    }
