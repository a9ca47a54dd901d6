"""The builders give exactly the tutorial's bodies, and refuse what AEP would refuse."""

from __future__ import annotations

import logging

import pytest

from airflow_provider_aep.catalog import get_destination
from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.payloads.connections import (
    build_base_connection,
    build_data_lake_source_connection,
    build_profile_store_source_connection,
    build_target_connection,
    storage_location_keys,
)
from airflow_provider_aep.payloads.flows import build_dataflow, empty_general_transform
from airflow_provider_aep.payloads.schedule import build_schedule_params
from tests import seed_bodies as seed


@pytest.mark.parametrize("key", seed.DESTINATION_KEYS)
def test_base_connection_matches_the_tutorial(key):
    expected = seed.BASE_CONNECTIONS[key]
    destination = get_destination(key)
    auth = expected.get("auth", {})
    body = build_base_connection(
        name=expected["name"],
        connection_spec_id=destination.connection_spec_id,
        auth_params=auth.get("params"),
    )
    assert body == expected


def test_sftp_ssh_key_auth_is_chosen_by_the_params_given():
    expected = seed.SFTP_SSH_BASE_CONNECTION
    body = build_base_connection(
        name=expected["name"], connection_spec_id=seed.SFTP_SPEC, auth_params=expected["auth"]["params"]
    )
    assert body == expected


def test_source_connection_matches_the_tutorial():
    body = build_data_lake_source_connection(
        name="Connecting to Data Lake",
        description="Data Lake source connection to export datasets",
        datasets=[{"id": "5ef3e3259ad2a1191ab7dd7d", "name": "AAM Devices Data"}],
    )
    assert body == seed.SOURCE_CONNECTION


@pytest.mark.parametrize("key", seed.DESTINATION_KEYS)
def test_target_connection_matches_the_tutorial_with_compressed_json(key):
    # The tutorial sends JSON with compression NONE, which its own text forbids ("JSON files can
    # only be exported compressed"); the builder refuses it, so compare with GZIP.
    expected = seed.target_connection(key, "base-1")
    expected["params"]["compression"] = "GZIP"
    params = {k: v for k, v in expected["params"].items() if k != "mode"}
    body = build_target_connection(
        name=expected["name"],
        base_connection_id="base-1",
        connection_spec_id=get_destination(key).connection_spec_id,
        params=params,
    )
    assert body == expected


@pytest.mark.parametrize("key", seed.DESTINATION_KEYS)
def test_uncompressed_parquet_target_is_the_tutorial_body_with_parquet(key):
    expected = seed.target_connection(key, "base-1")
    expected["params"]["datasetFileType"] = "PARQUET"
    body = build_target_connection(
        name=expected["name"],
        base_connection_id="base-1",
        connection_spec_id=get_destination(key).connection_spec_id,
        params=expected["params"],
    )
    assert body == expected


def test_uncompressed_json_as_in_the_tutorial_is_refused_with_the_rule():
    body = seed.target_connection("amazon_s3", "base-1")
    with pytest.raises(AEPValidationError, match=r"compression='NONE'.*GZIP") as err:
        build_target_connection(
            name=body["name"],
            base_connection_id="base-1",
            connection_spec_id=seed.S3_SPEC,
            params=body["params"],
        )
    assert err.value.field == "compression"


@pytest.mark.parametrize("key", seed.DESTINATION_KEYS)
def test_dataflow_matches_the_tutorial(key):
    expected = seed.dataflow(key, "source-1", "target-1")
    schedule = expected["scheduleParams"]
    body = build_dataflow(
        name=expected["name"],
        description=expected["description"],
        flow_spec_id=get_destination(key).flow_spec_id,
        source_connection_id="source-1",
        target_connection_id="target-1",
        schedule_params=build_schedule_params(
            export_mode=schedule["exportMode"],
            time_unit=schedule["timeUnit"],
            interval=schedule["interval"],
            start_time=schedule["startTime"],
            end_time=schedule["endTime"],
            folder_name_template=schedule["foldernameTemplate"],
        ),
    )
    assert body == expected


def test_segment_dataflow_carries_the_empty_general_transform():
    body = build_dataflow(
        name="Activate segments to Adobe Campaign",
        flow_spec_id="71471eba-b620-49e4-90fd-23f1fa0174d8",
        source_connection_id="s",
        target_connection_id="t",
        transformations=[empty_general_transform()],
    )
    assert body["transformations"] == [
        {
            "name": "GeneralTransform",
            "params": {"segmentSelectors": {"selectors": []}, "profileSelectors": {"selectors": []}},
        }
    ]
    assert "scheduleParams" not in body


def test_profile_store_source_connection_is_the_tutorial_body():
    body = build_profile_store_source_connection(
        name="Connecting to Profile Store", description="Optional", base_connection_id="base-ps"
    )
    assert body == {
        "name": "Connecting to Profile Store",
        "description": "Optional",
        "connectionSpec": {"id": "8a9c3494-9708-43d7-ae3f-cda01e5030e1", "version": "1.0"},
        "baseConnectionId": "base-ps",
        "data": {"format": "CSV", "schema": None},
        "params": {},
    }


# -- every validation rule, with a bad value -------------------------------------------------------

S3 = seed.S3_SPEC
GOOD_S3_AUTH = {"s3AccessKey": seed.S3_ACCESS_KEY, "s3SecretKey": seed.S3_SECRET_KEY}


def _target(spec, **params):
    base = {"datasetFileType": "JSON", "compression": "GZIP"}
    base.update(params)
    return lambda: build_target_connection(
        name="t", base_connection_id="b", connection_spec_id=spec, params=base
    )


@pytest.mark.parametrize(
    ("build", "field", "words"),
    [
        (
            lambda: build_base_connection(name="", connection_spec_id=S3, auth_params=GOOD_S3_AUTH),
            "name",
            "non-empty",
        ),
        (
            lambda: build_base_connection(
                name="b", connection_spec_id=S3, auth_params={"s3SecretKey": seed.S3_SECRET_KEY}
            ),
            "auth_params.s3AccessKey",
            "required",
        ),
        (
            lambda: build_base_connection(
                name="b",
                connection_spec_id=S3,
                auth_params={**GOOD_S3_AUTH, "s3AccessKey": "akiaiosfodnn7example"},
            ),
            "auth_params.s3AccessKey",
            "pattern",
        ),
        (
            lambda: build_base_connection(
                name="b", connection_spec_id=S3, auth_params={**GOOD_S3_AUTH, "s3SecretKey": "tooshort"}
            ),
            "auth_params.s3SecretKey",
            "pattern",
        ),
        (
            lambda: build_base_connection(
                name="b", connection_spec_id=S3, auth_spec_name="Password", auth_params=GOOD_S3_AUTH
            ),
            "auth_spec_name",
            "'Access Key'",
        ),
        (
            lambda: build_base_connection(
                name="b", connection_spec_id=S3, auth_params={**GOOD_S3_AUTH, "region": "x"}
            ),
            "auth_params",
            "takes only",
        ),
        (
            lambda: build_base_connection(
                name="b", connection_spec_id=seed.DLZ_SPEC, auth_params={"key": "v"}
            ),
            "auth_params",
            "no credentials",
        ),
        (
            lambda: build_base_connection(
                name="b", connection_spec_id=seed.SFTP_SPEC, auth_params={"domain": "d", "username": "u"}
            ),
            "auth_spec_name",
            "several auth specs",
        ),
        (
            lambda: build_base_connection(
                name="b", connection_spec_id=seed.ADLS_SPEC, auth_params={"url": "u", "tenant": "t"}
            ),
            "auth_params.servicePrincipalKey",
            "required",
        ),
        (_target(S3, bucketName="Bad_Bucket", path="p"), "params.bucketName", "pattern"),
        (_target(S3, bucketName="192.168.1.1", path="p"), "params.bucketName", "pattern"),
        (_target(S3, path="p"), "params.bucketName", "required"),
        (_target(S3, bucketName="bucket", path="a b"), "params.path", "pattern"),
        (_target(seed.GCS_SPEC, bucketName="google-bucket", path="p"), "params.bucketName", "pattern"),
        (_target(seed.AZURE_BLOB_SPEC, container="Bad--Container", path="p"), "params.container", "pattern"),
        (_target(seed.AZURE_BLOB_SPEC, container="a--b", path="p"), "params.container", "pattern"),
        (_target(seed.SFTP_SPEC), "params.remotePath", "required"),
        (_target(seed.ADLS_SPEC, path="p", datasetFileType="CSV"), "datasetFileType", "JSON, PARQUET"),
        (_target(seed.ADLS_SPEC, path="p", compression="ZIP"), "compression", "GZIP, NONE"),
        (_target(seed.ADLS_SPEC, path="p", compression="NONE"), "compression", "only compressed"),
        (
            lambda: build_data_lake_source_connection(name="s", datasets=[]),
            "datasets",
            "at least one",
        ),
        (
            lambda: build_data_lake_source_connection(name="s", datasets=[{"name": "no id"}]),
            "datasets[0].dataSetId",
            "dataset id",
        ),
        (
            lambda: build_data_lake_source_connection(name="s", datasets=[{"id": "a"}, {"id": "a"}]),
            "datasets",
            "each dataset once",
        ),
        (
            lambda: build_dataflow(
                name="f", flow_spec_id="x", source_connection_id="", target_connection_id="t"
            ),
            "source_connection_id",
            "non-empty",
        ),
    ],
)
def test_bad_input_names_field_value_and_what_is_allowed(build, field, words):
    with pytest.raises(AEPValidationError) as err:
        build()
    assert err.value.field == field
    assert words in str(err.value)
    assert field in str(err.value)


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"export_mode": "WEEKLY"}, "export_mode", "DAILY_FULL_EXPORT, FIRST_FULL_THEN_INCREMENTAL"),
        ({"export_mode": "DAILY_FULL_EXPORT", "time_unit": "hour", "interval": 3}, "time_unit", "'day'"),
        ({"export_mode": "DAILY_FULL_EXPORT", "interval": 1}, "interval", "takes interval 0"),
        ({"export_mode": "FIRST_FULL_THEN_INCREMENTAL", "interval": 0}, "interval", "takes interval 1"),
        (
            {"export_mode": "FIRST_FULL_THEN_INCREMENTAL", "time_unit": "hour", "interval": 8},
            "interval",
            "3, 6, 9, 12",
        ),
        (
            {"export_mode": "FIRST_FULL_THEN_INCREMENTAL", "time_unit": "hour", "interval": 24},
            "interval",
            "3, 6, 9, 12",
        ),
        ({"export_mode": "FIRST_FULL_THEN_INCREMENTAL", "time_unit": "week"}, "time_unit", "'day' or 'hour'"),
        ({"export_mode": "DAILY_FULL_EXPORT", "start_time": 1675901210000}, "start_time", "milliseconds"),
        ({"export_mode": "DAILY_FULL_EXPORT", "start_time": "1675901210"}, "start_time", "seconds"),
        ({"export_mode": "DAILY_FULL_EXPORT", "end_time": 1675901209}, "end_time", "after start_time"),
        ({"export_mode": "DAILY_FULL_EXPORT", "end_time": 1675901210}, "end_time", "after start_time"),
        (
            {"export_mode": "DAILY_FULL_EXPORT", "folder_name_template": "%NOPE%"},
            "folder_name_template",
            "unknown macro",
        ),
        (
            {"export_mode": "DAILY_FULL_EXPORT", "folder_name_template": "%DATASET_ID"},
            "folder_name_template",
            "pairs",
        ),
    ],
)
def test_schedule_rules(kwargs, field, words):
    kwargs = {"start_time": 1675901210, **kwargs}
    with pytest.raises(AEPValidationError) as err:
        build_schedule_params(**kwargs)
    assert err.value.field == field
    assert words in str(err.value)


@pytest.mark.parametrize(
    ("mode", "unit", "interval"),
    [("DAILY_FULL_EXPORT", "day", 0), ("FIRST_FULL_THEN_INCREMENTAL", "day", 1)]
    + [("FIRST_FULL_THEN_INCREMENTAL", "hour", n) for n in (3, 6, 9, 12)],
)
def test_every_allowed_schedule_is_built(mode, unit, interval):
    params = build_schedule_params(
        export_mode=mode, time_unit=unit, interval=interval, start_time=1675901210, end_time=1975901210
    )
    assert params == {
        "exportMode": mode,
        "timeUnit": unit,
        "interval": interval,
        "startTime": 1675901210,
        "endTime": 1975901210,
    }


def test_defaults_follow_the_rules_table():
    then = {"start_time": 1, "end_time": 2, "now": 0}
    assert build_schedule_params(export_mode="DAILY_FULL_EXPORT", **then)["interval"] == 0
    assert build_schedule_params(export_mode="FIRST_FULL_THEN_INCREMENTAL", **then)["interval"] == 1


def test_missing_end_time_is_allowed_and_the_builder_logs_nothing(caplog):
    # The warning belongs to the operator's execute (tests/unit/operators/test_operators.py), not to DAG parsing.
    with caplog.at_level(logging.DEBUG):
        params = build_schedule_params(export_mode="DAILY_FULL_EXPORT", start_time=1675901210)
    assert "endTime" not in params
    assert caplog.text == ""


def test_datetimes_become_unix_seconds():
    from datetime import datetime, timezone

    params = build_schedule_params(
        export_mode="DAILY_FULL_EXPORT",
        start_time=datetime(2030, 1, 1, tzinfo=timezone.utc),
        end_time=datetime(2030, 7, 1),
    )
    assert params["startTime"] == 1893456000
    assert params["endTime"] == 1893456000 + 181 * 86400  # naive datetimes are UTC


def test_secret_values_never_appear_in_validation_errors():
    secret = "this-is-not-forty-chars-but-it-is-secret"[:39]
    with pytest.raises(AEPValidationError) as err:
        build_base_connection(
            name="b",
            connection_spec_id=S3,
            auth_params={"s3AccessKey": seed.S3_ACCESS_KEY, "s3SecretKey": secret},
        )
    assert secret not in str(err.value)
    assert secret not in repr(err.value.value)
    assert "auth_params.s3SecretKey" in str(err.value)


def test_storage_modes_and_their_location_keys_come_from_the_target_spec():
    assert storage_location_keys(get_destination("adobe_campaign")) == {
        "S3": ("bucketName", "path"),
        "AZURE_BLOB": ("container", "path"),
        "FTP": ("remotePath",),
    }
    assert storage_location_keys(get_destination("oracle_eloqua")) == {
        "S3": ("bucketName", "path"),
        "FTP": ("remotePath",),
    }
    assert storage_location_keys(get_destination("amazon_s3")) == {}
    assert storage_location_keys(get_destination("sftp_audiences")) == {}
