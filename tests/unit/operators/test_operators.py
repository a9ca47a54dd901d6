"""Operators: the payloads they send, the ids they return, the XComs they push, when they validate."""

from __future__ import annotations

import json
import logging

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.operators.connections import (
    AEPCreateBaseConnectionOperator,
    AEPCreateSourceConnectionOperator,
    AEPCreateTargetConnectionOperator,
)
from airflow_provider_aep.operators.dataflows import AEPCreateDataflowOperator
from airflow_provider_aep.operators.datasets import AEPListDatasetsOperator
from airflow_provider_aep.payloads.connections import build_data_lake_source_connection
from tests import seed_bodies as seed


@pytest.fixture
def hook_calls(mocker, aep_conn):
    """Every create is recorded (by the hook method of its kind) and answered with a fresh id."""
    calls: dict[str, list] = {}
    names = {
        "connections": "create_base_connection",
        "sourceConnections": "create_source_connection",
        "targetConnections": "create_target_connection",
        "flows": "create_flow",
    }

    def create(self, kind, body):
        name = names[kind]
        calls.setdefault(name, []).append(body)
        return {"id": f"{name}-{len(calls[name])}", "etag": f'"{name}-etag"'}

    mocker.patch.object(AEPHook, "create_entity", autospec=True, side_effect=create)
    mocker.patch.object(
        AEPHook, "iter_entities", autospec=True, side_effect=lambda self, kind, props=(): iter([])
    )
    mocker.patch.object(AEPHook, "get_entity", autospec=True, return_value=None)
    return calls


@pytest.fixture
def context(mocker):
    ti = mocker.MagicMock()
    return {"ti": ti}


def _pushed(context):
    return {c.kwargs["key"]: c.kwargs["value"] for c in context["ti"].xcom_push.call_args_list}


# -- base connection -------------------------------------------------------------------------------


def test_base_connection_with_literal_params(hook_calls, context):
    op = AEPCreateBaseConnectionOperator(
        task_id="base",
        destination="amazon_s3",
        name="Amazon S3 Base Connection",
        auth_params={"s3SecretKey": seed.S3_SECRET_KEY, "s3AccessKey": seed.S3_ACCESS_KEY},
    )
    assert op.execute(context) == "create_base_connection-1"
    assert hook_calls["create_base_connection"] == [seed.BASE_CONNECTIONS["amazon_s3"]]
    assert _pushed(context) == {
        "etag": '"create_base_connection-etag"',
        "created": ["create_base_connection-1"],  # for a teardown: this run made it
    }


def test_base_connection_credentials_from_an_aws_style_connection(hook_calls, context, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_S3_CREDS",
        json.dumps({"conn_type": "aws", "login": seed.S3_ACCESS_KEY, "password": seed.S3_SECRET_KEY}),
    )
    op = AEPCreateBaseConnectionOperator(
        task_id="base", destination="s3", name="n", credentials_conn_id="s3_creds"
    )
    op.execute(context)
    assert hook_calls["create_base_connection"][0]["auth"] == seed.BASE_CONNECTIONS["amazon_s3"]["auth"]


@pytest.mark.parametrize(
    ("conn", "spec_name", "params"),
    [
        (
            {"conn_type": "sftp", "login": "u", "password": "pw-12345", "host": "sftp.example.com"},
            "SFTP with Password",
            {"domain": "sftp.example.com", "username": "u", "password": "pw-12345"},
        ),
        (
            {
                "conn_type": "sftp",
                "login": "u",
                "host": "sftp.example.com",
                "extra": {"sshKey": "c3NoLWtleS1ib2R5"},
            },
            "SFTP with SSH Key",
            {"domain": "sftp.example.com", "username": "u", "sshKey": "c3NoLWtleS1ib2R5"},
        ),
    ],
)
def test_sftp_auth_spec_is_chosen_by_the_credentials(
    hook_calls, context, monkeypatch, conn, spec_name, params
):
    monkeypatch.setenv("AIRFLOW_CONN_SFTP_CREDS", json.dumps(conn))
    AEPCreateBaseConnectionOperator(
        task_id="b", destination="sftp", name="n", credentials_conn_id="sftp_creds"
    ).execute(context)
    assert hook_calls["create_base_connection"][0]["auth"] == {"specName": spec_name, "params": params}


def test_credentials_are_registered_with_the_masker(hook_calls, context, monkeypatch, mocker):
    masked = mocker.patch("airflow_provider_aep.utils.credentials.mask")
    monkeypatch.setenv(
        "AIRFLOW_CONN_S3_CREDS",
        json.dumps({"conn_type": "aws", "login": seed.S3_ACCESS_KEY, "password": seed.S3_SECRET_KEY}),
    )
    AEPCreateBaseConnectionOperator(
        task_id="b", destination="s3", name="n", credentials_conn_id="s3_creds"
    ).execute(context)
    assert mocker.call(seed.S3_SECRET_KEY) in masked.call_args_list


def test_bad_literal_credentials_fail_when_the_dag_is_parsed():
    with pytest.raises(AEPValidationError, match=r"auth_params\.s3AccessKey"):
        AEPCreateBaseConnectionOperator(
            task_id="b",
            destination="amazon_s3",
            name="n",
            auth_params={"s3AccessKey": "x", "s3SecretKey": seed.S3_SECRET_KEY},
        )
    with pytest.raises(AEPValidationError, match="destination='dropbox'"):
        AEPCreateBaseConnectionOperator(task_id="b", destination="dropbox", name="n")


def test_templated_values_are_checked_at_execute_before_any_request(hook_calls, context):
    op = AEPCreateBaseConnectionOperator(task_id="b", destination="{{ params.d }}", name="n")
    op.destination = "dropbox"  # what rendering produced
    with pytest.raises(AEPValidationError):
        op.execute(context)
    assert hook_calls == {}


def test_rendered_auth_params_are_masked_before_airflow_stores_them(mocker):
    masked = mocker.patch("airflow_provider_aep.redaction.secrets.mask")
    with DAG("d", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
        op = AEPCreateBaseConnectionOperator(
            task_id="b",
            destination="azure_blob",
            name="n",
            auth_params={"connectionString": "{{ params.cs }}"},
        )
    op.render_template_fields({"params": {"cs": "AccountKey=SECRETSECRET"}})
    assert op.auth_params == {"connectionString": "AccountKey=SECRETSECRET"}
    assert mocker.call("AccountKey=SECRETSECRET") in masked.call_args_list


# -- source connection ------------------------------------------------------------------------------


def test_source_connection_from_ids_and_list_output(hook_calls, context):
    op = AEPCreateSourceConnectionOperator(
        task_id="s",
        name="Connecting to Data Lake",
        description="Data Lake source connection to export datasets",
        datasets=[{"id": "5ef3e3259ad2a1191ab7dd7d", "name": "AAM Devices Data"}],
    )
    assert op.execute(context) == "create_source_connection-1"
    assert hook_calls["create_source_connection"] == [seed.SOURCE_CONNECTION]


def test_source_connection_resolves_names(hook_calls, context, mocker):
    mocker.patch.object(
        AEPHook,
        "iter_eligible_datasets",
        return_value=iter([{"id": "5ef3e3259ad2a1191ab7dd7d", "name": "AAM Devices Data"}]),
    )
    AEPCreateSourceConnectionOperator(task_id="s", name="n", datasets=["AAM Devices Data"]).execute(context)
    assert hook_calls["create_source_connection"][0]["params"]["datasets"] == [
        {"dataSetId": "5ef3e3259ad2a1191ab7dd7d", "name": "AAM Devices Data"}
    ]


def test_unknown_dataset_name_lists_close_matches_and_creates_nothing(hook_calls, context, mocker):
    mocker.patch.object(
        AEPHook,
        "iter_eligible_datasets",
        return_value=iter([{"id": "5ef3e3259ad2a1191ab7dd7d", "name": "AAM Devices Data"}]),
    )
    with pytest.raises(AEPValidationError, match="did you mean 'AAM Devices Data'"):
        AEPCreateSourceConnectionOperator(task_id="s", name="n", datasets=["AAM Device Data"]).execute(
            context
        )
    assert hook_calls == {}


def test_empty_dataset_list_fails_at_parse_time():
    with pytest.raises(AEPValidationError, match="datasets"):
        AEPCreateSourceConnectionOperator(task_id="s", name="n", datasets=[])


# -- target connection ------------------------------------------------------------------------------


@pytest.mark.parametrize("key", seed.DESTINATION_KEYS)
def test_target_connection_payload(hook_calls, context, key):
    expected = seed.target_connection(key, "base-1")
    expected["params"]["compression"] = "GZIP"
    location = {
        k: v for k, v in expected["params"].items() if k not in ("mode", "compression", "datasetFileType")
    }
    op = AEPCreateTargetConnectionOperator(
        task_id="t", destination=key, name=expected["name"], base_connection_id="base-1", location=location
    )
    assert op.execute(context) == "create_target_connection-1"
    assert hook_calls["create_target_connection"] == [expected]


def test_target_location_keys_of_another_destination_are_refused_at_parse_time():
    with pytest.raises(AEPValidationError, match="takes bucketName, path"):
        AEPCreateTargetConnectionOperator(
            task_id="t",
            destination="amazon_s3",
            name="n",
            base_connection_id="b",
            location={"remotePath": "x"},
        )
    with pytest.raises(AEPValidationError, match="GZIP"):
        AEPCreateTargetConnectionOperator(
            task_id="t",
            destination="sftp",
            name="n",
            base_connection_id="b",
            location={"remotePath": "x"},
            compression="NONE",
        )


# -- dataflow ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", seed.DESTINATION_KEYS)
def test_dataflow_payload_and_link(hook_calls, context, key):
    expected = seed.dataflow(key, "source-1", "target-1")
    schedule = expected["scheduleParams"]
    op = AEPCreateDataflowOperator(
        task_id="f",
        destination=key,
        name=expected["name"],
        description=expected["description"],
        source_connection_id="source-1",
        target_connection_id="target-1",
        export_mode=schedule["exportMode"],
        time_unit=schedule["timeUnit"],
        interval=schedule["interval"],
        start_time=schedule["startTime"],
        end_time=schedule["endTime"],
        folder_name_template=schedule["foldernameTemplate"],
    )
    assert op.execute(context) == "create_flow-1"
    assert hook_calls["create_flow"] == [expected]
    assert op.aep_dataflow_url == "https://platform.example.test/_emulator/ui/flows/create_flow-1"
    assert _pushed(context) == {"etag": '"create_flow-etag"', "created": ["create_flow-1"]}


def test_rendered_string_times_become_ints(hook_calls, context):
    op = AEPCreateDataflowOperator(
        task_id="f", destination="sftp", name="n", source_connection_id="s", target_connection_id="t",
        interval="{{ 1 }}", start_time="{{ 1 }}", end_time="{{ 2 }}",
    )  # fmt: skip
    op.interval, op.start_time, op.end_time = "1", "1675901210", "1975901210"
    op.execute(context)
    assert hook_calls["create_flow"][0]["scheduleParams"]["startTime"] == 1675901210


def test_missing_end_time_is_warned_about_when_the_flow_is_created_not_when_the_dag_is_parsed(
    hook_calls, context, caplog, mocker
):
    with caplog.at_level(logging.DEBUG):
        op = AEPCreateDataflowOperator(
            task_id="f", destination="sftp", name="n", source_connection_id="s", target_connection_id="t",
        )  # fmt: skip
    assert "six months" not in caplog.text
    warning = mocker.spy(op.log, "warning")
    op.execute(context)
    assert "endTime" not in hook_calls["create_flow"][0]["scheduleParams"]
    assert "No end_time given: AEP stops a dataset dataflow six months after it is created" in str(
        warning.call_args_list
    )


def test_segment_destination_gets_the_general_transform(hook_calls, context):
    AEPCreateDataflowOperator(
        task_id="f",
        destination="adobe_campaign",
        name="n",
        source_connection_id="s",
        target_connection_id="t",
    ).execute(context)
    body = hook_calls["create_flow"][0]
    assert body["flowSpec"]["id"] == "71471eba-b620-49e4-90fd-23f1fa0174d8"
    assert body["transformations"][0]["name"] == "GeneralTransform"
    assert "scheduleParams" not in body


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"export_mode": "WEEKLY"}, "export_mode"),
        ({"time_unit": "hour", "interval": 8}, "interval"),
        ({"start_time": 1675901210000}, "start_time"),
        ({"start_time": 1975901210, "end_time": 1675901210}, "end_time"),
        ({"folder_name_template": "%BOGUS%"}, "folder_name_template"),
    ],
)
def test_bad_schedules_fail_at_parse_time(kwargs, field):
    with pytest.raises(AEPValidationError) as err:
        AEPCreateDataflowOperator(
            task_id="f",
            destination="amazon_s3",
            name="n",
            source_connection_id="s",
            target_connection_id="t",
            **kwargs,
        )
    assert err.value.field == field


def test_raw_spec_id_needs_a_flow_spec(hook_calls, context):
    with pytest.raises(AEPValidationError, match="flow_spec_id"):
        AEPCreateDataflowOperator(
            task_id="f", destination="00000000-1111-2222-3333-444444444444", name="n",
            source_connection_id="s", target_connection_id="t",
        )  # fmt: skip


# -- list datasets ----------------------------------------------------------------------------------


def test_list_datasets_filters_and_reports_typos(mocker, aep_conn, context):
    eligible = [
        {"id": "a" * 24, "name": "Loyalty Members"},
        {"id": "b" * 24, "name": "Web Events", "state": "DRAFT"},
    ]
    mocker.patch.object(AEPHook, "iter_eligible_datasets", side_effect=lambda: iter(eligible))
    assert AEPListDatasetsOperator(task_id="l").execute(context) == [
        {"id": "a" * 24, "name": "Loyalty Members"}, {"id": "b" * 24, "name": "Web Events"},
    ]  # fmt: skip
    assert AEPListDatasetsOperator(task_id="l", names=["Web Events"]).execute(context) == [
        {"id": "b" * 24, "name": "Web Events"}
    ]
    with pytest.raises(AEPValidationError, match="'Web Event': 'Web Events'"):
        AEPListDatasetsOperator(task_id="l", names=["Web Event"]).execute(context)
    with pytest.raises(AEPValidationError, match="list of strings"):
        AEPListDatasetsOperator(task_id="l", names="Web Events")


def test_dag_params_never_leak_into_target_params(hook_calls, context):
    # ``params`` is Airflow's name for DAG params: the operator's own extras are ``extra_params``.
    with DAG("d", schedule=None, start_date=pendulum.datetime(2026, 1, 1), params={"destination": "sftp"}):
        op = AEPCreateTargetConnectionOperator(
            task_id="t", destination="sftp", name="n", base_connection_id="b", location={"remotePath": "p"}
        )
    op.execute(context)
    assert hook_calls["create_target_connection"][0]["params"] == {
        "remotePath": "p", "mode": "Server-to-server", "datasetFileType": "JSON", "compression": "GZIP",
    }  # fmt: skip


# -- a failure mid-pipeline -------------------------------------------------------------------------


def test_a_failing_step_says_what_earlier_tasks_created(hook_calls, context, mocker):
    from airflow_provider_aep.exceptions import AEPApiError

    with DAG("pipeline", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
        base = AEPCreateBaseConnectionOperator(
            task_id="create_base",
            destination="sftp",
            name="b",
            auth_params=seed.BASE_CONNECTIONS["sftp"]["auth"]["params"],
        )
        target = AEPCreateTargetConnectionOperator(
            task_id="create_target", destination="sftp", name="t", base_connection_id=base.output,
            location={"remotePath": "p"},
        )  # fmt: skip
        source = AEPCreateSourceConnectionOperator(task_id="create_source", name="s", datasets=["d1"])
        flow = AEPCreateDataflowOperator(
            task_id="create_flow", destination="sftp", name="f",
            source_connection_id=source.output, target_connection_id=target.output,
        )  # fmt: skip
        unrelated = AEPCreateSourceConnectionOperator(task_id="other_source", name="o", datasets=["d2"])
    ids = {
        "create_base": "base-1",
        "create_target": "target-1",
        "create_source": "source-1",
        "other_source": "x",
    }
    context["ti"].xcom_pull.side_effect = lambda task_ids: ids[task_ids]
    AEPHook.create_entity.side_effect = AEPApiError(status=503, method="POST", path="/flows", code="503")
    flow.source_connection_id, flow.target_connection_id = "source-1", "target-1"  # as rendered
    with pytest.raises(AEPApiError) as failed:
        flow.execute(context)

    assert failed.value.already_in_aep == (
        "base connection base-1 (task create_base)",
        "target connection target-1 (task create_target)",
        "source connection source-1 (task create_source)",
    )
    assert "Already in AEP from earlier tasks of this DAG run" in str(failed.value)
    assert "other_source" not in str(failed.value)
    assert unrelated.task_id not in {t.task_id for t in flow.get_flat_relatives(upstream=True)}


def test_teardown_delete_after_a_failed_create_has_nothing_to_do(fake, context):
    from airflow_provider_aep.operators.dataflows import AEPDeleteDataflowOperator

    cleanup = AEPDeleteDataflowOperator(task_id="cleanup", flow_id="{{ ti.xcom_pull('flow') }}")
    cleanup.flow_id = None  # what the XCom of a create that failed renders to
    assert cleanup.execute(context) == {"deleted": [], "already_gone": [], "kept": [], "why_kept": {}}
    assert fake.calls == []


def test_the_real_error_survives_when_listing_earlier_tasks_fails(hook_calls, context):
    from airflow_provider_aep.exceptions import AEPApiError

    with DAG("pipeline", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
        source = AEPCreateSourceConnectionOperator(task_id="create_source", name="s", datasets=["d1"])
        flow = AEPCreateDataflowOperator(
            task_id="create_flow", destination="sftp", name="f", source_connection_id=source.output,
            target_connection_id="target-1", end_time=1975901210,
        )  # fmt: skip
    flow.source_connection_id = "source-1"
    context["ti"].xcom_pull.side_effect = RuntimeError("the API server is away")
    AEPHook.create_entity.side_effect = AEPApiError(status=503, method="POST", path="/flows")
    with pytest.raises(AEPApiError, match="HTTP 503") as failed:
        flow.execute(context)
    assert failed.value.already_in_aep == ()


# -- destination names, checked at parse with a "did you mean" -----------------------------------


def test_a_destination_typo_is_refused_at_parse_even_with_a_credentials_connection():
    with pytest.raises(AEPValidationError, match="did you mean 'amazon_s3'") as err:
        AEPCreateBaseConnectionOperator(
            task_id="b", destination="amazn_s3", name="n", credentials_conn_id="s3_creds"
        )
    assert err.value.field == "destination"
    assert "s3 = amazon_s3" in err.value.allowed  # the aliases are listed too


def test_a_literal_destination_is_checked_at_parse_whatever_else_is_templated():
    with pytest.raises(AEPValidationError, match="did you mean 'gcs'"):
        AEPCreateTargetConnectionOperator(
            task_id="t", destination="gsc", name="n", base_connection_id="b", location="{{ params.where }}"
        )
    # Aliases and case are accepted as they are documented.
    AEPCreateBaseConnectionOperator(task_id="b", destination=" S3 ", name="n", credentials_conn_id="c")


@pytest.mark.parametrize("operator", [AEPCreateBaseConnectionOperator, AEPCreateTargetConnectionOperator])
def test_the_destination_docstring_lists_every_key_and_alias(operator):
    from airflow_provider_aep.catalog import DESTINATIONS

    doc = " ".join((operator.__doc__ or "").split())
    for destination in DESTINATIONS.values():
        assert f"``{destination.key}``" in doc
        for alias in destination.aliases:
            assert f"``{destination.key}`` (or ``{alias}``)" in doc


# -- a reused entity is logged once, as reused -----------------------------------------------------


def _found(body):
    """AEP already has an entity exactly as ``body`` asks (a run of yesterday made it)."""
    existing = {**body, "id": "found-1", "createdAt": 1, "etag": '"e"'}
    AEPHook.iter_entities.side_effect = lambda self, kind, props=(): iter([existing])


def _info_lines(op, mocker) -> list[str]:
    """The INFO lines an operator logs from now on, formatted (whatever Airflow's log handlers)."""
    log = op.log  # the same scrubbed logger on every access (on Airflow 3.0, for every task too)
    spy = log.info if hasattr(log.info, "call_args_list") else mocker.spy(log, "info")
    start = len(spy.call_args_list)

    def lines() -> list[str]:
        calls = spy.call_args_list[start:]
        return [c.args[0] % c.args[1:] if len(c.args) > 1 else str(c.args[0]) for c in calls]

    op.__dict__["_keep_log"] = op.log  # held, so the spied logger stays the task's logger
    return lines  # type: ignore[return-value]


@pytest.mark.parametrize("kind", ["base", "source", "target", "flow"])
def test_a_reused_entity_is_logged_as_reused_and_never_as_created(hook_calls, context, mocker, kind):
    ops = {
        "base": lambda: AEPCreateBaseConnectionOperator(
            task_id="b", destination="amazon_s3", name="n",
            auth_params={"s3SecretKey": seed.S3_SECRET_KEY, "s3AccessKey": seed.S3_ACCESS_KEY},
        ),
        "source": lambda: AEPCreateSourceConnectionOperator(task_id="s", name="n", datasets=["a" * 24]),
        "target": lambda: AEPCreateTargetConnectionOperator(
            task_id="t", destination="amazon_s3", name="n", base_connection_id="b",
            location={"bucketName": "acme-bucket", "path": "p"},
        ),
        "flow": lambda: AEPCreateDataflowOperator(
            task_id="f", destination="sftp", name="n", source_connection_id="s", target_connection_id="t",
            end_time=1975901210, start_time=1675901210,
        ),
    }  # fmt: skip
    op = ops[kind]()
    bodies = {
        "base": lambda: op._body(dict(op.auth_params)),
        "source": lambda: build_data_lake_source_connection(name="n", datasets=[{"dataSetId": "a" * 24}]),
        "target": lambda: op._body("b"),
        "flow": lambda: op._body("s", "t", now=1675901210),
    }
    _found(bodies[kind]())
    lines = _info_lines(op, mocker)
    assert op.execute(context) == "found-1"
    assert [line for line in lines() if line.startswith("Reusing ")] == [
        f"Reusing {op.entity_name} 'n': found-1 (if_exists='reuse')"
    ]
    assert not [line for line in lines() if line.startswith("Created ")]
    assert hook_calls == {}  # nothing was created


def test_created_then_reused_each_logged_once_as_what_it_was(hook_calls, context, mocker):
    def target():
        return AEPCreateTargetConnectionOperator(
            task_id="t", destination="amazon_s3", name="n", base_connection_id="b",
            location={"bucketName": "acme-bucket", "path": "p"},
        )  # fmt: skip

    first = target()
    lines = _info_lines(first, mocker)
    assert first.execute(context) == "create_target_connection-1"
    assert any(
        line.startswith("Created target connection 'n': create_target_connection-1") for line in lines()
    )
    assert not [line for line in lines() if line.startswith("Reusing")]
    _found({**hook_calls["create_target_connection"][0]})  # the next run finds it
    second = target()
    lines = _info_lines(second, mocker)
    assert second.execute(context) == "found-1"
    assert any(line.startswith("Reusing target connection 'n': found-1") for line in lines())
    assert not [line for line in lines() if line.startswith("Created")]


def _dataflow_to(destination):
    return AEPCreateDataflowOperator(
        task_id="f", destination=destination, name="{{ params.name }}",
        source_connection_id="s", target_connection_id="t",
    )  # fmt: skip


def _base_update_to(destination):
    from airflow_provider_aep.operators.updates import AEPUpdateBaseConnectionOperator

    return AEPUpdateBaseConnectionOperator(
        task_id="u", base_connection_id="b", destination=destination, credentials_conn_id="{{ params.conn }}"
    )


@pytest.mark.parametrize("build", [_dataflow_to, _base_update_to])
def test_a_literal_destination_typo_is_refused_at_parse_whatever_else_is_templated(build):
    with pytest.raises(AEPValidationError, match=r"destination='amazn_s3'.*did you mean 'amazon_s3'"):
        build("amazn_s3")
    assert build("amazon_s3").destination == "amazon_s3"
