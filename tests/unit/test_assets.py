"""Export locations as URIs, the asset events a successful wait emits, and the daily window."""

from __future__ import annotations

import time

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_provider_aep.assets import MAX_FILES_IN_EVENT, event_extra, export_location, files_of
from airflow_provider_aep.catalog import DESTINATIONS
from airflow_provider_aep.exceptions import AEPDataflowRunFailed, AEPDataflowRunMissing, AEPValidationError
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor
from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger
from airflow_provider_aep.version_compat import AIRFLOW_V_3_1_PLUS
from tests.unit.sensors.test_dataflow_run import CONTEXT, run
from tests.unit.triggers.test_dataflow_run import FakeClient, events

ACCOUNT_KEY = "c2VjcmV0LWFjY291bnQta2V5LXRoYXQtbXVzdC1ub3QtbGVhaw=="


@pytest.mark.parametrize(
    ("destination", "target", "base", "account", "uri"),
    [
        ("amazon_s3", {"bucketName": "acme", "path": "/datasets/daily/"}, {}, None, "s3://acme/datasets/daily"),
        ("google_cloud_storage", {"bucketName": "acme", "path": "a/b"}, {}, None, "gs://acme/a/b"),
        (
            "azure_blob", {"container": "exports", "path": "daily"}, {"connectionString": "***"}, "acmestore",
            "wasbs://exports@acmestore.blob.core.windows.net/daily",
        ),
        (
            "azure_blob", {"container": "exports", "path": "daily"},
            {"connectionString": f"DefaultEndpointsProtocol=https;AccountName=shown;AccountKey={ACCOUNT_KEY}"},
            None, "wasbs://exports@shown.blob.core.windows.net/daily",
        ),
        ("azure_blob", {"container": "exports", "path": "daily"}, {"connectionString": "***"}, None,
         "wasbs://exports/daily"),
        (
            "adls_gen2", {"path": "lake/aep/daily"}, {"url": "https://acmelake.dfs.core.windows.net"}, None,
            "abfss://lake@acmelake.dfs.core.windows.net/aep/daily",
        ),
        (
            "adls_gen2", {"path": "aep/daily"}, {"url": "https://acmelake.dfs.core.windows.net/lake"}, None,
            "abfss://lake@acmelake.dfs.core.windows.net/aep/daily",
        ),
        ("sftp", {"remotePath": "exports/aep"}, {"domain": "sftp.acme.com", "port": 2222}, None,
         "sftp://sftp.acme.com:2222/exports/aep"),
        ("data_landing_zone", {"path": "daily"}, {}, None, "aep-dlz://ORG@AdobeOrg/dev/daily"),
        ("adobe_campaign", {"bucketName": "campaign", "path": "audiences"}, {}, None, "s3://campaign/audiences"),
        ("sftp_audiences", {"remotePath": "/out/aud"}, {"domain": "files.acme.com"}, None,
         "sftp://files.acme.com/out/aud"),
        ("amazon_s3", {"bucketName": "acme", "path": "with space/ü"}, {}, None, "s3://acme/with%20space/%C3%BC"),
    ],
)  # fmt: skip
def test_each_destination_is_named_as_airflows_storage_providers_name_it(
    destination, target, base, account, uri
):
    location = export_location(
        DESTINATIONS[destination], target, base, sandbox="dev", org_id="ORG@AdobeOrg", storage_account=account
    )
    assert location.uri == uri
    assert location.destination == destination
    assert ACCOUNT_KEY not in repr(location)
    if AIRFLOW_V_3_1_PLUS or "@" not in uri:  # Airflow 3.0 drops the container@ part of an asset URI
        assert Asset(uri=location.uri).uri == uri  # Airflow takes it as an asset URI


def test_a_file_uri_is_the_folder_and_the_files_path_below_it():
    location = export_location(
        DESTINATIONS["amazon_s3"], {"bucketName": "b", "path": "p"}, {}, sandbox="prod", org_id="o"
    )
    assert location.namespace == "s3://b"
    assert location.path == "p"
    assert location.file_uri("ds/exportTime=202601010000/part-1.json.gz") == (
        "s3://b/p/ds/exportTime=202601010000/part-1.json.gz"
    )


def test_files_are_read_from_target_summaries_and_segments_are_left_out():
    reported = run()
    reported["metrics"]["recordSummary"]["targetSummaries"] = [
        {
            "id": "t-1",
            "entitySummaries": [
                {"id": "x/y", "path": "ds/part-1.json.gz", "outputRecordCount": 5},
                {"id": "segment:abc", "outputRecordCount": 7},
            ],
        }
    ]
    assert files_of(reported) == [{"path": "ds/part-1.json.gz", "records": 5}]
    assert files_of(run()) == []


def test_the_event_extra_names_the_run_its_counts_and_its_files_and_caps_the_list():
    location = export_location(
        DESTINATIONS["amazon_s3"], {"bucketName": "b", "path": "p"}, {}, sandbox="prod", org_id="o"
    )
    summary = {
        "run_id": "r-1", "flow_id": "f-1", "status": "success", "output_records": 9, "input_records": 10,
        "files_out": 2, "output_bytes": 300, "attempts": 1,
        "sources": [{"id": "ds-1", "input_records": 10, "output_records": 9}], "segments": [],
    }  # fmt: skip
    files = [{"path": f"ds-1/part-{n}.json.gz", "records": 1} for n in range(MAX_FILES_IN_EVENT + 5)]
    extra = event_extra(summary, location, files)
    assert extra["run_id"] == "r-1"
    assert extra["flow_id"] == "f-1"
    assert extra["output_records"] == 9
    assert extra["location"] == "s3://b/p"
    assert extra["files"][0] == {
        "uri": "s3://b/p/ds-1/part-0.json.gz",
        "path": "ds-1/part-0.json.gz",
        "records": 1,
    }
    assert extra["files_listed"] == MAX_FILES_IN_EVENT == len(extra["files"])
    assert extra["datasets"] == [{"id": "ds-1", "records": 9}]
    assert extra["segments"] == []


# -- the sensor's asset events ---------------------------------------------------------------------


@pytest.fixture
def aep(mocker, aep_conn):
    """A flow to S3 whose one run succeeded and wrote one file; ``reads`` lists the entities read."""
    written = run()
    written["metrics"]["recordSummary"]["targetSummaries"] = [
        {
            "id": "t-1",
            "entitySummaries": [{"id": "local", "path": "ds-1/part-0.json.gz", "outputRecordCount": 9}],
        }
    ]
    entities = {
        ("flows", "f-1"): {"id": "f-1", "state": "enabled", "targetConnectionIds": ["t-1"]},
        ("targetConnections", "t-1"): {
            "id": "t-1",
            "baseConnectionId": "b-1",
            "connectionSpec": {"id": DESTINATIONS["amazon_s3"].connection_spec_id},
            "params": {"bucketName": "acme", "path": "daily"},
        },
    }
    reads: list[tuple[str, str]] = []

    def existing(self, kind, entity_id):
        reads.append((kind, entity_id))
        return dict(entities[(kind, entity_id)])

    mocker.patch.object(AEPHook, "_get_existing", existing)
    mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter([written]))
    mocker.patch.object(AEPHook, "get_run", side_effect=lambda run_id: written)
    return reads


def context_with_outlets():
    return {**CONTEXT, "outlet_events": OutletEventAccessors()}


def test_an_alias_outlet_receives_an_event_for_the_runs_folder(aep):
    alias = AssetAlias("aep-daily-export")
    context = context_with_outlets()
    sensor = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", deferrable=False, outlets=[alias])
    summary = sensor.poke(context).xcom_value
    [event] = context["outlet_events"][alias].asset_alias_events
    assert event.dest_asset_key.uri == "s3://acme/daily"
    assert event.extra["run_id"] == summary["run_id"] == "r-1"
    assert event.extra["output_records"] == 9
    assert event.extra["files"] == [
        {"uri": "s3://acme/daily/ds-1/part-0.json.gz", "path": "ds-1/part-0.json.gz", "records": 9}
    ]
    assert ("connections", "b-1") not in aep  # an S3 URI needs no base connection
    assert sensor.run_summary == summary
    assert sensor.location.uri == "s3://acme/daily"


def test_an_asset_outlet_gets_the_extra_filled(aep):
    asset = Asset(uri="s3://acme/daily", name="daily-export")
    context = context_with_outlets()
    AEPDataflowRunSensor(task_id="wait", flow_id="f-1", deferrable=False, outlets=[asset]).poke(context)
    extra = context["outlet_events"][asset].extra
    assert extra["location"] == "s3://acme/daily"
    assert extra["run_id"] == "r-1"


def test_without_outlets_nothing_more_is_read(aep):
    AEPDataflowRunSensor(task_id="wait", flow_id="f-1", deferrable=False).poke(context_with_outlets())
    assert aep == []


def test_a_failed_run_emits_nothing(mocker, aep_conn):
    mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter([run(status="failed")]))
    alias = AssetAlias("aep-daily-export")
    context = context_with_outlets()
    sensor = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", deferrable=False, outlets=[alias])
    with pytest.raises(AEPDataflowRunFailed):
        sensor.poke(context)
    assert context["outlet_events"][alias].asset_alias_events == []


def test_deferred_success_emits_from_execute_complete(aep):
    alias = AssetAlias("aep-daily-export")
    context = context_with_outlets()
    sensor = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", outlets=[alias])
    sensor.execute_complete(context, {"status": "success", "summary": dict(run_summary())})
    [event] = context["outlet_events"][alias].asset_alias_events
    assert event.extra["run_id"] == "r-1"


def run_summary():
    from airflow_provider_aep.utils.runs import summarize_run

    return summarize_run(run())


# -- the daily window: since .. until ----------------------------------------------------------------

SINCE, UNTIL = 1_700_000_000_000, 1_700_086_400_000


def test_until_bounds_the_runs_listed(mocker, aep_conn):
    listing = mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter([]))
    mocker.patch.object(AEPHook, "get_flow", return_value={"id": "f-1", "state": "enabled"})
    sensor = AEPDataflowRunSensor(
        task_id="w", flow_id="f-1", deferrable=False, since=SINCE, until=UNTIL + 10**12
    )
    assert sensor.poke(CONTEXT).is_done is False
    assert listing.call_args.kwargs["properties"] == [
        "flowId==f-1",
        f"metrics.durationSummary.startedAtUTC>={SINCE}",
        f"metrics.durationSummary.startedAtUTC<{UNTIL + 10**12}",
    ]


def test_no_run_in_a_closed_window_fails_at_once_without_retries(mocker, aep_conn):
    mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter([]))
    mocker.patch.object(AEPHook, "get_flow", return_value={"id": "f-1", "state": "enabled"})
    sensor = AEPDataflowRunSensor(task_id="w", flow_id="f-1", deferrable=False, since=SINCE, until=UNTIL)
    with pytest.raises(AEPDataflowRunMissing, match="No run of dataflow f-1 started between") as caught:
        sensor.poke(CONTEXT)
    assert isinstance(caught.value, AirflowFailException)


def test_an_open_window_keeps_waiting_within_its_grace(mocker, aep_conn):
    mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter([]))
    mocker.patch.object(AEPHook, "get_flow", return_value={"id": "f-1", "state": "enabled"})
    just_now = int(time.time() * 1000) - 1000
    sensor = AEPDataflowRunSensor(task_id="w", flow_id="f-1", deferrable=False, since=SINCE, until=just_now)
    assert sensor.poke(CONTEXT).is_done is False


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"until": "yesterday"}, "until"),
        ({"until": UNTIL, "latest": True}, "until"),
        ({"until": UNTIL, "run_id": "r-1"}, "until"),
        ({"until_grace": -1}, "until_grace"),
    ],
)
def test_bad_windows_are_refused_before_any_request(kwargs, field):
    with pytest.raises(AEPValidationError, match=field):
        AEPDataflowRunSensor(task_id="w", flow_id="f-1", **kwargs)


def test_the_trigger_bounds_the_window_and_reports_a_missing_run(mocker):
    client = FakeClient([[]])
    trigger = AEPDataflowRunTrigger(
        flow_id="f-1", since_ms=SINCE, until_ms=UNTIL, until_grace=0, poll_interval=0.01
    )
    [event] = events(trigger, client, mocker)
    assert event.payload["status"] == "missing"
    assert client.calls[0][-1] == f"metrics.durationSummary.startedAtUTC<{UNTIL}"
    _, kwargs = trigger.serialize()
    assert kwargs["until_ms"] == UNTIL
    assert kwargs["until_grace"] == 0


def test_a_missing_event_fails_the_task(aep_conn):
    sensor = AEPDataflowRunSensor(task_id="w", flow_id="f-1", since=SINCE, until=UNTIL)
    with pytest.raises(AEPDataflowRunMissing):
        sensor.execute_complete(CONTEXT, {"status": "missing", "message": "no run"})
