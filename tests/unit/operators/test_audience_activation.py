"""The operators on Adobe's current audience-activation path: what each sends, in which order."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.operators.connections import (
    AEPCreateSourceConnectionOperator,
    AEPCreateTargetConnectionOperator,
)
from airflow_provider_aep.operators.dataflows import AEPActivateSegmentsOperator, AEPCreateDataflowOperator
from airflow_provider_aep.payloads.audiences import enhanced_general_transform
from tests.unit.fake_http import Call, response

S3 = "4fce964d-3f37-408f-9778-e597338a21ee"
S3_AUDIENCES_FLOW = "1a0514a6-33d4-4c7f-aff8-594799c47549"
UNION = {
    "properties": {"person": {"properties": {"name": {"properties": {"lastName": {}, "firstName": {}}}}}}
}
PARTNER = {"title": "defaultschema", "properties": {}}


def context(mocker) -> dict[str, Any]:
    return {"ti": mocker.MagicMock(), "logical_date": None}


class MiniAEP:
    """Just enough of AEP for an enhanced activation: one flow, its target, Data Prep."""

    def __init__(self) -> None:
        self.flow: dict[str, Any] = {
            "id": "f-1",
            "etag": '"e-1"',
            "name": "Activate",
            "flowSpec": {"id": S3_AUDIENCES_FLOW, "version": "1.0"},
            "targetConnectionIds": ["t-1"],
            "transformations": [enhanced_general_transform()],
        }
        self.mapping_sets: dict[str, Any] = {}
        self.missing: set[str] = set()

    def __call__(self, call: Call) -> Any:
        path, method = call.path, call.method
        if method == "GET" and path.endswith("/flows/f-1"):
            return response(200, {"items": [self.flow]})
        if method == "PATCH" and path.endswith("/flows/f-1"):
            params = self.flow["transformations"][0]["params"]
            for op in call.json:
                key = op["path"].split("/params/")[1]
                if key == "segmentSelectors/selectors/-":
                    params["segmentSelectors"]["selectors"].append(op["value"])
                else:
                    params[key] = op["value"]
            self.flow["etag"] = '"e-2"'
            return response(200, {"id": "f-1", "etag": '"e-2"'})
        if "/segment/definitions/" in path:
            audience = path.rsplit("/", 1)[-1]
            return (
                response(404, {"title": "Not Found"})
                if audience in self.missing
                else response(200, {"id": audience})
            )
        if path.endswith("/targetConnections/t-1"):
            return response(200, {"items": [{"id": "t-1", "connectionSpec": {"id": S3, "version": "1.0"}}]})
        if path.endswith("/config/entityTypes/_xdm.context.profile"):
            return response(200, UNION)
        if path.endswith("/idnamespace/identities"):
            return response(200, [{"code": "Email"}, {"code": "ECID"}])
        if path.endswith(f"/connectionSpecs/{S3}"):
            return response(
                200,
                {
                    "items": [
                        {"id": S3, "targetSpec": {"attributes": {"partnerSchema": {"jsonSchema": PARTNER}}}}
                    ]
                },
            )
        if method == "POST" and path.endswith("/conversion/schemas"):
            return response(200, {"id": f"schema-{len(call.json['jsonSchema'])}", "version": 0})
        if method == "POST" and path.endswith("/conversion/mappingSets"):
            self.mapping_sets["m-1"] = call.json
            return response(200, {"id": "m-1", "version": 0})
        if method == "GET" and path.endswith("/conversion/mappingSets/m-1"):
            return response(200, {"id": "m-1", **self.mapping_sets["m-1"]})
        raise AssertionError(f"unexpected {method} {path}")


@pytest.fixture
def aep(fake) -> MiniAEP:
    mini = MiniAEP()
    fake.default = mini
    return mini


def activation(**kwargs: Any) -> AEPActivateSegmentsOperator:
    given = {
        "segments": ["s-1"],
        "columns": {"lastName": "person.name.lastName", "Email": "identityMap.Email"},
        "mandatory_fields": ["person.name.lastName"],
        "primary_fields": ["identityMap.Email"],
        **kwargs,
    }
    return AEPActivateSegmentsOperator(task_id="a", flow_id="f-1", **given)


def test_the_tutorials_mapping_chain_then_one_patch(aep, fake, mocker):
    assert activation().execute(context(mocker)) == ["s-1"]
    calls = [(c.method, c.path.split("/data/", 1)[1]) for c in fake.api_calls]
    assert calls == [
        ("GET", "foundation/flowservice/flows/f-1"),
        ("GET", "core/ups/segment/definitions/s-1"),  # the audience exists
        ("GET", "foundation/flowservice/targetConnections/t-1"),
        ("GET", "core/ups/config/entityTypes/_xdm.context.profile"),
        ("GET", "core/idnamespace/identities"),
        ("GET", f"foundation/flowservice/connectionSpecs/{S3}"),
        ("POST", "foundation/conversion/schemas"),
        ("POST", "foundation/conversion/schemas"),
        ("POST", "foundation/conversion/mappingSets"),
        ("PATCH", "foundation/flowservice/flows/f-1"),
        ("GET", "foundation/flowservice/flows/f-1"),
    ]
    input_schema, output_schema = (c.json for c in fake.api_calls if c.path.endswith("/schemas"))
    assert (input_schema["jsonSchema"], output_schema["jsonSchema"]) == (UNION, PARTNER)
    assert aep.mapping_sets["m-1"]["mappings"] == [
        {"destination": "lastName", "source": "person.name.lastName", "sourceType": "ATTRIBUTE"},
        {"destination": "Email", "source": "identityMap.Email", "sourceType": "ATTRIBUTE"},
    ]
    [patch] = [c for c in fake.api_calls if c.method == "PATCH"]
    assert patch.headers["If-Match"] == '"e-1"'
    assert [op["path"].split("/params/")[1] for op in patch.json] == [
        "segmentSelectors/selectors/-",
        "mandatoryFields",
        "primaryFields",
        "profileMapping",
    ]
    params = aep.flow["transformations"][0]["params"]
    assert params["mandatoryFields"] == ["lastName"]
    assert params["primaryFields"] == [{"identityNamespace": "Email", "fieldType": "IDENTITY"}]
    assert params["profileMapping"] == {"mappingId": "m-1", "mappingVersion": 0}


def test_running_it_again_reuses_the_mapping_and_sends_nothing(aep, fake, mocker):
    activation().execute(context(mocker))
    before = len(fake.api_calls)
    assert activation().execute(context(mocker)) == ["s-1"]
    again = [(c.method, c.path.rsplit("/", 1)[-1]) for c in fake.api_calls[before:]]
    assert again == [("GET", "f-1"), ("GET", "m-1")]  # the flow, then its mapping set to compare


def test_other_columns_on_a_mapped_flow_are_refused(aep, fake, mocker):
    activation().execute(context(mocker))
    with pytest.raises(AEPValidationError, match="a dataflow's columns are set once"):
        activation(
            columns={"first": "person.name.firstName"}, mandatory_fields=(), primary_fields=()
        ).execute(context(mocker))
    assert [c.method for c in fake.api_calls].count("PATCH") == 1


def test_a_column_the_union_schema_lacks_is_refused_before_anything_is_created(aep, fake, mocker):
    with pytest.raises(AEPValidationError, match=r"columns\['nick'\]='person.name.nickName'"):
        activation(columns={"nick": "person.name.nickName"}, mandatory_fields=(), primary_fields=()).execute(
            context(mocker)
        )
    assert [c.method for c in fake.api_calls] == ["GET"] * 5


def test_a_mistyped_audience_is_refused_by_name_before_anything_changes(aep, fake, mocker):
    aep.missing = {"s-typo"}
    with pytest.raises(
        AEPValidationError, match=r"segments=\['s-typo'\].*no segment definition with this id"
    ):
        activation(segments=["s-1", "s-typo"]).execute(context(mocker))
    assert all(c.method == "GET" for c in fake.api_calls)
    assert not aep.mapping_sets


def test_columns_are_checked_when_the_dag_is_parsed():
    with pytest.raises(AEPValidationError, match="at most one identity"):
        activation(columns={"a": "identityMap.Email", "b": "identityMap.ECID"})
    with pytest.raises(AEPValidationError, match="columns or profile_attributes, not both"):
        activation(profile_attributes=["person.name.lastName"])


def test_columns_are_refused_on_a_legacy_flow(aep, fake, mocker):
    aep.flow["flowSpec"]["id"] = "71471eba-b620-49e4-90fd-23f1fa0174d8"
    aep.flow["transformations"] = [{"name": "GeneralTransform", "params": {"segmentSelectors": {"selectors": []}, "profileSelectors": {"selectors": []}}}]  # fmt: skip
    with pytest.raises(AEPValidationError, match="legacy destination, which has no mapping set"):
        activation().execute(context(mocker))
    assert [c.method for c in fake.api_calls] == ["GET"]


def test_the_target_connection_for_audiences(fake, mocker):
    fake.default = lambda call: (
        response(200, {"items": []}) if call.method == "GET" else response(201, {"id": "t-1", "etag": '"e"'})
    )
    mocker.patch("airflow_provider_aep.operators.base.AEPCreateOperator.push_etag")
    op = AEPCreateTargetConnectionOperator(
        task_id="t",
        destination="gcs",
        export="audiences",
        name="GCS audiences",
        base_connection_id="b-1",
        location={"bucketName": "acme-audiences", "path": "aep"},
        file_type="PARQUET",
        compression="NONE",
        include_file_manifest=True,
    )
    assert op.execute(context(mocker)) == "t-1"
    [create] = [c for c in fake.api_calls if c.method == "POST"]
    assert create.json["params"] == {
        "mode": "Server-to-server",
        "bucketName": "acme-audiences",
        "path": "aep",
        "compression": "NONE",
        "fileType": "PARQUET",
        "includeFileManifest": True,
    }
    assert "data" not in create.json


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"destination": "oracle_eloqua", "export": "datasets"}, "export"),
        ({"export": "profiles"}, "export"),
        ({"file_type": "CSV"}, "file_type"),  # file options go with audiences only
        (
            {"export": "audiences", "file_type": "CSV", "csv_options": {"delimiter": "#"}},
            "csv_options.delimiter",
        ),
    ],
)
def test_target_options_are_checked_when_the_dag_is_parsed(kwargs, field):
    given = {"destination": "amazon_s3", "location": {"bucketName": "acme", "path": "p"}, **kwargs}
    with pytest.raises(AEPValidationError) as err:
        AEPCreateTargetConnectionOperator(task_id="t", name="n", base_connection_id="b-1", **given)
    assert err.value.field == field


def test_the_dataflow_for_audiences_takes_the_audience_flow_spec_and_the_skeleton():
    op = AEPCreateDataflowOperator(
        task_id="f",
        destination="amazon_s3",
        export="audiences",
        name="Activate audiences",
        source_connection_id="s-1",
        target_connection_id="t-1",
    )
    body = op._body("s-1", "t-1", now=1_700_000_000)
    assert body["flowSpec"] == {"id": S3_AUDIENCES_FLOW, "version": "1.0"}
    assert body["transformations"] == [enhanced_general_transform()]
    assert "scheduleParams" not in body
    legacy = AEPCreateDataflowOperator(
        task_id="g", destination="oracle_eloqua", name="n", source_connection_id="s", target_connection_id="t"
    )._body("s", "t", now=1)
    assert "profileSelectors" in legacy["transformations"][0]["params"]


def test_the_profile_store_source_without_a_base_connection(fake, mocker):
    fake.default = lambda call: (
        response(200, {"items": []}) if call.method == "GET" else response(201, {"id": "s-1", "etag": '"e"'})
    )
    mocker.patch("airflow_provider_aep.operators.base.AEPCreateOperator.push_etag")
    op = AEPCreateSourceConnectionOperator(
        task_id="s", name="Connect to Profile store", source="profile_store", create_base_connection=False
    )
    assert op.execute(context(mocker)) == "s-1"
    [create] = [c for c in fake.api_calls if c.method == "POST"]
    assert create.path.endswith("/sourceConnections")
    assert create.json == {
        "name": "Connect to Profile store",
        "connectionSpec": {"id": "8a9c3494-9708-43d7-ae3f-cda01e5030e1", "version": "1.0"},
    }
    with pytest.raises(AEPValidationError, match="no base connection with create_base_connection=False"):
        AEPCreateSourceConnectionOperator(
            task_id="s",
            name="p",
            source="profile_store",
            base_connection_id="b-1",
            create_base_connection=False,
        )


def test_bad_input_is_refused_before_the_flow_is_read(aep, fake, mocker):
    rendered = activation(segments="{{ params.audiences }}")
    rendered.segments = [{"id": "s-1", "schedule": {"startTime": "10:30"}}]  # as a template rendered it
    with pytest.raises(AEPValidationError, match=r"segments\[0\]\.schedule\.startTime"):
        rendered.execute(context(mocker))
    assert fake.api_calls == []
