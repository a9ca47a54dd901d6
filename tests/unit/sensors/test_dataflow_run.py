"""Sensor decisions on every run state, deferral, and the events it takes from the trigger."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSensorTimeout, TaskDeferred

from airflow_provider_aep.exceptions import AEPDataflowRunFailed, AEPError
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.hooks.aep_async import AEPAsyncHook
from airflow_provider_aep.hooks.retry import RetryPolicy
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor
from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger
from airflow_provider_aep.utils.runs import outcome_of, select_run, summarize_run


def run(run_id="r-1", status="success", started=1_700_000_000_000, records=True, errors=None):
    metrics = {
        "durationSummary": {"startedAtUTC": started, "completedAtUTC": started + 4500},
        "statusSummary": {"status": status, "errors": errors or []},
        "sizeSummary": {"inputBytes": 900, "outputBytes": 300},
        "fileSummary": {"outputFileCount": 2},
    }
    if records:
        metrics["recordSummary"] = {
            "inputRecordCount": 10, "outputRecordCount": 9, "skippedRecordCount": 1, "failedRecordCount": 0,
            "sourceSummaries": [{"id": "ds-1", "inputRecordCount": 10, "outputRecordCount": 9}],
        }  # fmt: skip
    return {"id": run_id, "flowId": "f-1", "createdAt": started, "metrics": metrics}


class FakeDagRun:
    start_date = datetime(2026, 1, 1, tzinfo=timezone.utc)


CONTEXT = {"dag_run": FakeDagRun()}


def sensor(**kwargs):
    return AEPDataflowRunSensor(task_id="wait", flow_id="f-1", deferrable=False, **kwargs)


def test_no_run_yet_is_not_done(runs):
    assert sensor().poke(CONTEXT).is_done is False


@pytest.mark.parametrize("status", ["inProgress", "Processing", "Waiting"])
def test_running_states_are_not_done(runs, status):
    runs.append(run(status=status, records=False))
    assert sensor().poke(CONTEXT).is_done is False


def test_success_without_record_counts_is_not_done_yet(runs):
    runs.append(run(records=False))
    assert sensor().poke(CONTEXT).is_done is False


@pytest.mark.parametrize("status", ["success", "Success", "SUCCESS"])
def test_success_in_any_case_returns_the_summary(runs, status):
    runs.append(run(status=status))
    result = sensor().poke(CONTEXT)
    assert result.is_done is True
    assert result.xcom_value == {
        "run_id": "r-1", "flow_id": "f-1", "status": status,
        "started_at": "2023-11-14T22:13:20+00:00", "completed_at": "2023-11-14T22:13:24.500000+00:00",
        "duration_seconds": 4.5, "input_records": 10, "output_records": 9, "skipped_records": 1,
        "failed_records": 0, "input_bytes": 900, "output_bytes": 300, "files_out": 2, "errors": [],
        "sources": [{"id": "ds-1", "input_records": 10, "output_records": 9}], "segments": [], "attempts": 1,
    }  # fmt: skip


@pytest.mark.parametrize("status", ["failed", "Failed", "FAILED"])
def test_failed_run_raises_with_aep_codes_and_no_retry(runs, status):
    runs.append(run(status=status, errors=[{"code": "CONNECTOR-2001-500", "message": "upload refused"}]))
    with pytest.raises(AEPDataflowRunFailed, match="CONNECTOR-2001-500: upload refused") as err:
        sensor().poke(CONTEXT)
    assert isinstance(err.value, AirflowFailException)


def test_custom_statuses(runs):
    runs.append(run(status="Processing", records=True))
    assert sensor(success_statuses=["processing"]).poke(CONTEXT).is_done is True
    runs[0] = run(status="Cancelled")
    with pytest.raises(AEPDataflowRunFailed):
        sensor(failure_statuses=["failed", "CANCELLED"]).poke(CONTEXT)


def test_watches_runs_since_the_dag_run_started(runs):
    sensor().poke(CONTEXT)
    since = int(FakeDagRun.start_date.timestamp() * 1000)
    assert runs.listing.call_args.kwargs["properties"] == [
        "flowId==f-1",
        f"metrics.durationSummary.startedAtUTC>={since}",
    ]
    sensor(since=1767225600000).poke(CONTEXT)
    assert (
        runs.listing.call_args.kwargs["properties"][1]
        == "metrics.durationSummary.startedAtUTC>=1767225600000"
    )
    sensor(latest=True).poke(CONTEXT)
    assert runs.listing.call_args.kwargs["properties"] == ["flowId==f-1"]


def test_first_run_since_or_latest(runs):
    runs.extend([run("new", started=2_000), run("old", started=1_000)])
    assert sensor().poke(CONTEXT).xcom_value["run_id"] == "old"
    assert sensor(latest=True).poke(CONTEXT).xcom_value["run_id"] == "new"


def test_named_run(mocker, aep_conn):
    get_run = mocker.patch.object(AEPHook, "get_run", return_value=run("r-9"))
    assert sensor(run_id="r-9").poke(CONTEXT).xcom_value["run_id"] == "r-9"
    get_run.assert_called_once_with("r-9")


def test_segment_runs_report_counts_by_segment():
    segment_run = run()
    segment_run["flowSpec"] = {"id": "71471eba-b620-49e4-90fd-23f1fa0174d8", "version": "1.0"}
    segment_run["metrics"]["recordSummary"]["sourceSummaries"] = [
        {"id": "seg-a", "inputRecordCount": 4, "outputRecordCount": 4},
        {"id": "seg-b", "inputRecordCount": 6, "outputRecordCount": 5},
    ]
    assert summarize_run(segment_run)["segments"] == [
        {"id": "seg-a", "input_records": 4, "output_records": 4},
        {"id": "seg-b", "input_records": 6, "output_records": 5},
    ]


def test_segment_runs_in_adobes_form_report_counts_by_segment():
    """Adobe's activation run example: one source summary, each audience an entity ``segment:<id>``
    (read there), and written in the target summary beside any files."""
    segment_run = run()
    segment_run["flowSpec"] = {"id": "71471eba-b620-49e4-90fd-23f1fa0174d8", "version": "1.0"}
    segment_run["metrics"]["recordSummary"]["sourceSummaries"] = [
        {
            "id": "source-connection-1",
            "inputRecordCount": 10,
            "entitySummaries": [
                {"id": "segment:seg-a", "inputRecordCount": 4, "skippedRecordCount": 0},
                {"id": "segment:seg-b", "inputRecordCount": 6, "skippedRecordCount": 1},
            ],
        }
    ]
    segment_run["metrics"]["recordSummary"]["targetSummaries"] = [
        {
            "id": "target-1",
            "entitySummaries": [
                {"id": "segment:seg-b", "createdRecordCount": 5, "outputRecordCount": 5},
                {"id": "segment:seg-a", "createdRecordCount": 4, "outputRecordCount": 4},
                {"id": "prod/s3/a.csv", "path": "a.csv", "outputRecordCount": 4},
            ],
        }
    ]
    assert summarize_run(segment_run)["segments"] == [
        {"id": "seg-a", "input_records": 4, "output_records": 4},
        {"id": "seg-b", "input_records": 6, "output_records": 5},
    ]


def test_selection_helpers():
    assert select_run([]) is None
    assert select_run([run("a"), run("b")], run_id="b")["id"] == "b"
    assert outcome_of(None).state == "waiting"
    assert summarize_run({"id": "x"})["duration_seconds"] is None


# -- deferral ---------------------------------------------------------------------------------------


def test_deferrable_sensor_hands_over_to_the_trigger_with_a_deadline(runs):
    s = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", deferrable=True, poke_interval=5, timeout=600)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        s.execute(CONTEXT)
    trigger = deferred.value.trigger
    assert isinstance(trigger, AEPDataflowRunTrigger)
    assert trigger.flow_id == "f-1"
    assert trigger.poll_interval == 5
    assert before + 600 <= trigger.deadline <= time.time() + 600
    assert trigger.since_ms == int(FakeDagRun.start_date.timestamp() * 1000)
    assert deferred.value.method_name == "execute_complete"


def test_deferrable_sensor_does_not_defer_when_the_run_is_already_over(runs):
    runs.append(run())
    s = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", deferrable=True)
    assert s.execute(CONTEXT)["run_id"] == "r-1"


def test_default_deferrable_follows_airflow_config(monkeypatch):
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "True")
    assert AEPDataflowRunSensor(task_id="w", flow_id="f").deferrable is True
    monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", "False")
    assert AEPDataflowRunSensor(task_id="w", flow_id="f").deferrable is False


def test_execute_complete_for_each_event(aep_conn):
    s = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", deferrable=True)
    summary = summarize_run(run())
    assert s.execute_complete(CONTEXT, {"status": "success", "summary": summary}) == {
        **summary,
        "attempts": 1,
    }
    failed = summarize_run(run(status="failed", errors=[{"code": "E1", "message": "m"}]))
    with pytest.raises(AEPDataflowRunFailed, match="E1: m"):
        s.execute_complete(CONTEXT, {"status": "failed", "summary": failed})
    with pytest.raises(AirflowSensorTimeout, match="timed out"):
        s.execute_complete(CONTEXT, {"status": "timeout", "message": "still waiting"})
    with pytest.raises(Exception, match="flow gone"):
        s.execute_complete(CONTEXT, {"status": "error", "message": "flow gone"})
    with pytest.raises(AirflowFailException, match="Dataflow f-1 is disabled, so no run will start"):
        s.execute_complete(CONTEXT, {"status": "disabled", "message": "dataflow f-1 is disabled"})


@pytest.mark.parametrize(
    "event",
    [
        None,
        "success",
        {},
        {"status": "done"},
        {"status": "success"},
        {"status": "failed", "summary": {"run_id": "r-1"}},
        {"status": "timeout"},
    ],
)
def test_execute_complete_refuses_an_event_it_cannot_read(aep_conn, event):
    sensor = AEPDataflowRunSensor(task_id="s", flow_id="f-1")
    with pytest.raises(AEPError, match="cannot read"):
        sensor.execute_complete({}, event)


def test_the_trigger_polls_with_the_sensors_retry_policy_and_timeouts(runs, mocker):
    runs.append(run(status="inProgress", records=False))
    sensor = AEPDataflowRunSensor(task_id="s", flow_id="f-1", deferrable=True, timeout=600)
    sensor.hook.retry_policy = RetryPolicy(max_attempts=2, max_total_wait=9.0, base_wait=0.5, max_wait=3.0)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(CONTEXT)
    trigger = deferred.value.trigger
    _, kwargs = trigger.serialize()
    assert kwargs["retry_policy"] == {
        "max_attempts": 2,
        "max_total_wait": 9.0,
        "base_wait": 0.5,
        "max_wait": 3.0,
    }
    assert kwargs["timeout"] == [10.0, 60.0]
    built = mocker.patch("airflow_provider_aep.hooks.async_client.AsyncAEPClient")
    built.return_value.__aenter__.side_effect = RuntimeError("stop here")
    mocker.patch.object(AEPAsyncHook, "_read_settings", autospec=True, return_value=object())

    async def first():
        return [e.payload async for e in AEPDataflowRunTrigger(**kwargs).run()]

    [event] = asyncio.run(first())
    assert event["status"] == "error"
    assert "RuntimeError: stop here" in event["message"]
    assert built.call_args.kwargs["retry_policy"] == RetryPolicy(2, 9.0, 0.5, 3.0)
    assert built.call_args.kwargs["timeout"] == (10.0, 60.0)


def test_a_poking_sensor_logs_a_change_at_info_and_each_look_at_debug(runs, mocker):
    waiting = sensor(until_grace=10**9)
    logger = mocker.patch.object(AEPDataflowRunSensor, "log", new_callable=mocker.PropertyMock).return_value
    for _ in range(3):
        waiting.poke(CONTEXT)
    runs.append(run(status="inProgress", records=False))
    for _ in range(2):
        waiting.poke(CONTEXT)
    said = [c.args[0] % c.args[1:] for c in logger.info.call_args_list]
    assert said == ["Dataflow f-1: no run yet", "Dataflow f-1: run r-1 inProgress"]
    assert len(logger.debug.call_args_list) == 3
