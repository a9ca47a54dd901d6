"""Audience activation to the enhanced cloud-storage destinations: target params, columns, fields,
selectors with the enhanced macros, checked before any request."""

from __future__ import annotations

from datetime import date

import pytest

from airflow_provider_aep.catalog import (
    DESTINATIONS,
    ENHANCED_AUDIENCE_DESTINATIONS,
    MIGRATION_GUIDE_URL,
    get_destination,
)
from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.payloads.activation import activation_still_needed, segment_operations
from airflow_provider_aep.payloads.audiences import (
    audience_target_params,
    build_mapping_set,
    check_columns,
    columns_from_attributes,
    enhanced_general_transform,
    field_operations,
    profile_mapping_operation,
    unknown_columns,
)
from airflow_provider_aep.payloads.connections import build_profile_store_source_connection

TODAY = date(2026, 12, 3)


def test_the_six_enhanced_destinations_and_their_audience_flow_specs():
    assert ENHANCED_AUDIENCE_DESTINATIONS == (
        "amazon_s3", "azure_blob", "adls_gen2", "data_landing_zone", "google_cloud_storage", "sftp",
    )  # fmt: skip
    s3 = get_destination("s3")
    assert s3.flow_spec_for("audiences") == "1a0514a6-33d4-4c7f-aff8-594799c47549"
    assert s3.flow_spec_for("datasets") == "269ba276-16fc-47db-92b0-c1049a3c131f"
    assert get_destination("gcs").flow_spec_for("audiences") == "976d663b-80b4-4193-be6b-2d0487516623"
    with pytest.raises(AEPValidationError, match="Oracle Eloqua takes audiences only"):
        get_destination("oracle_eloqua").flow_spec_for("datasets")


def test_the_legacy_audience_destinations_name_their_replacement():
    legacy = {k: d.replaced_by for k, d in DESTINATIONS.items() if d.legacy}
    assert legacy == {
        "amazon_s3_audiences": "amazon_s3",
        "azure_blob_audiences": "azure_blob",
        "sftp_audiences": "sftp",
    }
    assert MIGRATION_GUIDE_URL.endswith("api-migration-guide-cloud-storage-destinations.html")
    assert not get_destination("oracle_responsys").legacy  # email marketing has no enhanced form


def test_the_tutorials_target_params_in_its_order():
    params = audience_target_params(
        get_destination("amazon_s3"),
        {"bucketName": "your-bucket-name", "path": "folder/subfolder"},
        file_type="CSV",
        compression="GZIP",
        include_file_manifest=True,
        csv_options={"nullValue": "null", "emptyValue": "", "escape": "\\", "quote": "", "delimiter": ","},
    )
    assert params == {
        "mode": "Server-to-server",
        "bucketName": "your-bucket-name",
        "path": "folder/subfolder",
        "compression": "GZIP",
        "fileType": "CSV",
        "includeFileManifest": True,
        "csvOptions": {"nullValue": "null", "emptyValue": "", "escape": "\\", "quote": "", "delimiter": ","},
    }


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"file_type": "XLSX"}, "file_type", "CSV, JSON, PARQUET"),
        ({"compression": "ZIP"}, "compression", "NONE, GZIP"),
        ({"file_type": "JSON", "csv_options": {"delimiter": ";"}}, "csv_options", "go with file_type CSV"),
        ({"csv_options": {"delimiter": "#"}}, "csv_options.delimiter", "'\\t'"),
        ({"csv_options": {"separator": ";"}}, "csv_options", "options quote, escape, delimiter"),
        ({"include_file_manifest": "yes"}, "include_file_manifest", "True or False"),
    ],
)
def test_target_options_are_refused_naming_the_field(kwargs, field, words):
    given = {"file_type": "CSV", "compression": "NONE", **kwargs}
    with pytest.raises(AEPValidationError) as err:
        audience_target_params(get_destination("sftp"), {"remotePath": "a"}, **given)
    assert err.value.field == field
    assert words in str(err.value)


@pytest.mark.parametrize(
    ("columns", "field", "words"),
    [
        ({}, "columns", "a mapping"),
        ({"person.name": "person.name.firstName"}, "columns", "no dots"),
        ({"first": "person..name"}, "columns['first']", "an XDM attribute path"),
        ({"a": "identityMap.Email", "b": "identityMap.ECID"}, "columns", "at most one identity"),
    ],
)
def test_columns_follow_the_tutorials_rules(columns, field, words):
    with pytest.raises(AEPValidationError) as err:
        check_columns(columns)
    assert err.value.field == field
    assert words in str(err.value)


def test_the_mapping_set_and_the_profile_mapping():
    columns = check_columns(
        {"firstName": "person.name.firstName", "Phone_E_164": "identityMap.Phone_E//.164"}
    )
    assert build_mapping_set("in-1", "out-1", columns) == {
        "inputSchema": {"id": "in-1"},
        "outputSchema": {"id": "out-1"},
        "mappings": [
            {"destination": "firstName", "source": "person.name.firstName", "sourceType": "ATTRIBUTE"},
            {"destination": "Phone_E_164", "source": "identityMap.Phone_E//.164", "sourceType": "ATTRIBUTE"},
        ],
        "xdmVersion": "1.0",
    }
    assert profile_mapping_operation({"id": "m-1", "version": 0}) == {
        "op": "add",
        "path": "/transformations/0/params/profileMapping",
        "value": {"mappingId": "m-1", "mappingVersion": 0},
    }
    assert columns_from_attributes(["person.name.lastName"]) == {
        "person_name_lastName": "person.name.lastName"
    }


def test_unknown_columns_are_those_the_union_schema_and_namespaces_lack():
    union = {"properties": {"person": {"properties": {"name": {"properties": {"firstName": {}}}}}}}
    columns = {
        "a": "person.name.firstName",
        "b": "person.name.nickName",
        "c": "identityMap.Phone_E//.164",
        "d": "identityMap.Fax",
        "e": "segmentMembership.ups.seg_id.status",
    }
    assert unknown_columns(columns, union, ["Phone_E.164"]) == {
        "b": "person.name.nickName",
        "d": "identityMap.Fax",
    }


def test_fields_become_columns_and_keys():
    columns = {"lastName": "person.name.lastName", "Email": "identityMap.Email"}
    assert field_operations(columns, ["person.name.lastName"], ["identityMap.Email"]) == [
        {"op": "add", "path": "/transformations/0/params/mandatoryFields", "value": ["lastName"]},
        {
            "op": "add",
            "path": "/transformations/0/params/primaryFields",
            "value": [{"identityNamespace": "Email", "fieldType": "IDENTITY"}],
        },
    ]
    with pytest.raises(AEPValidationError, match=r"mandatory_fields.*also columns"):
        field_operations(columns, ["person.birthDate"], [])


def test_enhanced_selectors_take_the_enhanced_macros_and_whole_hours():
    [op] = segment_operations(["s-1"], today=TODAY, enhanced=True)
    assert (
        op["value"]["value"]["filenameTemplate"] == "%DESTINATION%_%SEGMENT_ID%_%DATETIME(YYYYMMdd_HHmmss)%"
    )
    named = {"id": "s-2", "filenameTemplate": "%DESTINATION_INSTANCE_NAME%_%SEGMENT_NAME%_%TIMESTAMP%"}
    assert (
        segment_operations([named], today=TODAY, enhanced=True)[0]["value"]["value"]["filenameTemplate"]
        == (named["filenameTemplate"])
    )
    for template, words in (
        ("%DESTINATION_NAME%_%SEGMENT_ID%", "unknown macro %DESTINATION_NAME%"),
        ("%TIMESTAMP%_%DATETIME(YYYYMMdd_HHmmss)%", "one time stamp"),
    ):
        with pytest.raises(AEPValidationError, match=words):
            segment_operations([{"id": "s", "filenameTemplate": template}], today=TODAY, enhanced=True)
    with pytest.raises(AEPValidationError, match="a full hour"):
        segment_operations([{"id": "s", "schedule": {"startTime": "10:30"}}], today=TODAY, enhanced=True)
    # The legacy destinations keep their rules: two macros required, any minute.
    with pytest.raises(AEPValidationError, match="must hold"):
        segment_operations([{"id": "s", "filenameTemplate": "%SEGMENT_NAME%"}], today=TODAY)


def test_an_enhanced_flow_gets_only_what_it_lacks():
    flow = {"transformations": [enhanced_general_transform()]}
    params = flow["transformations"][0]["params"]
    wanted = [
        *segment_operations(["s-1"], today=TODAY, enhanced=True),
        *field_operations({"lastName": "person.name.lastName"}, ["person.name.lastName"], []),
        profile_mapping_operation({"id": "m-1", "version": 0}),
    ]
    first = activation_still_needed(flow, wanted)
    assert [op["path"].rsplit("/", 2)[-2:] for op in first] == [
        ["selectors", "-"],
        ["params", "mandatoryFields"],
        ["params", "profileMapping"],
    ]
    assert first[1]["op"] == "replace"  # the skeleton has the list already
    params["segmentSelectors"]["selectors"].append(wanted[0]["value"])
    params["mandatoryFields"] = ["lastName"]
    params["profileMapping"] = {"mappingId": "m-1", "mappingVersion": 0}
    assert activation_still_needed(flow, wanted) == []


def test_the_profile_store_source_of_each_tutorial():
    assert build_profile_store_source_connection(
        name="Connect to Profile store", base_connection_id=None
    ) == {
        "name": "Connect to Profile store",
        "connectionSpec": {"id": "8a9c3494-9708-43d7-ae3f-cda01e5030e1", "version": "1.0"},
    }
    legacy = build_profile_store_source_connection(name="p", base_connection_id="b-1")
    assert (legacy["baseConnectionId"], legacy["data"], legacy["params"]) == (
        "b-1",
        {"format": "CSV", "schema": None},
        {},
    )
