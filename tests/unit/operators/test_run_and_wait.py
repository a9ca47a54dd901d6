"""AEPStartDataflowRunOperator(wait_for_completion=True): start a run and wait for it in one task."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_aep.exceptions import (
    AEPDataflowRecordPolicyBreached,
    AEPDataflowRunFailed,
    AEPValidationError,
)
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.operators.runs import WAITING_KEY, AEPStartDataflowRunOperator
from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger
from airflow_provider_aep.utils.runs import summarize_run

ONE_TIME_FLOW = {
    "id": "f-1",
    "state": "enabled",
    "scheduleParams": {"exportMode": "DAILY_FULL_EXPORT", "interval": 0, "startTime": 1_700_000_000},
}


def run(run_id="r-1", status="success", output_records=9, failed_records=0, errors=None):
    started = 1_700_000_000_000
    return {
        "id": run_id,
        "flowId": "f-1",
        "createdAt": started,
        "metrics": {
            "durationSummary": {"startedAtUTC": started, "completedAtUTC": started + 4500},
            "statusSummary": {"status": status, "errors": errors or []},
            "recordSummary": {
                "inputRecordCount": 10,
                "outputRecordCount": output_records,
                "skippedRecordCount": 0,
                "failedRecordCount": failed_records,
            },
            "sizeSummary": {"inputBytes": 900, "outputBytes": 300},
            "fileSummary": {"outputFileCount": 2},
        },
    }


class StateStore:
    """The part of Airflow's ``task_state_store`` the operator uses."""

    def __init__(self, kept=None):
        self.kept = dict(kept or {})

    def get(self, key):
        return self.kept.get(key)

    def set(self, key, value):
        self.kept[key] = json.loads(json.dumps(value))

    def delete(self, key):
        self.kept.pop(key, None)


def ctx(store=None):
    class TI:
        def xcom_push(self, key, value):
            pass

    return {"ti": TI(), "task_state_store": store, "dag_run": None}


@pytest.fixture
def aep(mocker, aep_conn):
    """The hook's answers: a one-time flow that takes on-demand runs, and the runs it started."""
    hook = mocker.MagicMock()
    hook.get_flow = mocker.patch.object(AEPHook, "get_flow", return_value=dict(ONE_TIME_FLOW))
    hook.start_run = mocker.patch.object(AEPHook, "start_run", return_value={"id": "r-1"})
    hook.get_run = mocker.patch.object(AEPHook, "get_run", return_value=run())
    hook.runs_created_since = mocker.patch.object(AEPHook, "runs_created_since", return_value=[])
    return hook


def start(**kwargs):
    kwargs.setdefault("deferrable", False)
    return AEPStartDataflowRunOperator(task_id="export", flow_id="f-1", wait_for_completion=True, **kwargs)


def test_starts_the_run_and_returns_its_summary_once_it_succeeded(aep):
    summary = start().execute(ctx())
    aep.start_run.assert_called_once_with("f-1", None)
    aep.get_run.assert_called_with("r-1")
    assert summary == {**summarize_run(run()), "attempts": 1}
    assert summary["run_id"] == "r-1"
    assert summary["output_records"] == 9


def test_without_wait_for_completion_it_returns_the_run_id_and_reads_no_run(aep):
    op = AEPStartDataflowRunOperator(task_id="export", flow_id="f-1")
    assert op.execute(ctx()) == "r-1"
    aep.get_run.assert_not_called()


def test_a_failed_run_fails_the_task_with_aeps_codes(aep):
    aep.get_run.return_value = run(
        status="failed", errors=[{"code": "CONNECTOR-2001-500", "message": "refused"}]
    )
    with pytest.raises(AEPDataflowRunFailed, match="CONNECTOR-2001-500: refused"):
        start().execute(ctx())


def test_the_sensors_record_count_rules_apply(aep):
    aep.get_run.return_value = run(output_records=0)
    with pytest.raises(AEPDataflowRecordPolicyBreached, match="r-1"):
        start(min_records="1").execute(ctx())  # a rendered template is a string
    aep.get_run.return_value = run(failed_records=5)
    with pytest.raises(AEPDataflowRecordPolicyBreached):
        start(max_failed_records=4).execute(ctx())
    assert start(max_failed_records=5).execute(ctx())["failed_records"] == 5


def test_poke_path_waits_until_the_run_ends(aep, mocker):
    aep.get_run.side_effect = [run(status="inProgress"), run(status="inProgress"), run()]
    sleeps = mocker.patch("airflow.sdk.bases.sensor.time.sleep")
    assert start(poke_interval=7).execute(ctx())["status"] == "success"
    assert [c.args[0] for c in sleeps.call_args_list] == [7, 7]
    assert aep.start_run.call_count == 1


def test_deferrable_defers_to_the_trigger_with_the_run_id(aep):
    aep.get_run.return_value = run(status="inProgress")
    with pytest.raises(TaskDeferred) as deferred:
        start(deferrable=True, poke_interval=5, timeout=600).execute(ctx())
    trigger = deferred.value.trigger
    assert isinstance(trigger, AEPDataflowRunTrigger)
    assert (trigger.run_id, trigger.flow_id, trigger.poll_interval) == ("r-1", "f-1", 5)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.kwargs["run_id"] == "r-1"
    assert deferred.value.kwargs["flow_id"] == "f-1"


def test_execute_complete_returns_the_summary_or_raises_the_failure(aep):
    op = start(deferrable=True)
    summary = summarize_run(run())
    event = {"status": "success", "summary": summary}
    assert op.execute_complete(ctx(), event, flow_id="f-1", run_id="r-1") == {**summary, "attempts": 1}
    failed = summarize_run(run(status="failed", errors=[{"code": "E1", "message": "m"}]))
    with pytest.raises(AEPDataflowRunFailed, match="E1: m"):
        op.execute_complete(ctx(), {"status": "failed", "summary": failed}, flow_id="f-1", run_id="r-1")
    aep.start_run.assert_not_called()  # coming back from the triggerer never starts another run


def test_execute_complete_applies_the_record_policy(aep):
    op = start(deferrable=True, min_records=10)
    event = {"status": "success", "summary": summarize_run(run(output_records=9))}
    with pytest.raises(AEPDataflowRecordPolicyBreached):
        op.execute_complete(ctx(), event, flow_id="f-1", run_id="r-1")


def test_a_retry_waits_for_the_run_still_going_instead_of_starting_another(aep):
    store = StateStore({WAITING_KEY: {"flow_id": "f-1", "run_id": "r-0"}})
    aep.get_run.side_effect = [run("r-0", status="inProgress"), run("r-0")]
    assert start().execute(ctx(store))["run_id"] == "r-0"
    aep.start_run.assert_not_called()
    assert WAITING_KEY not in store.kept  # the wait ended: a clear or a new DAG run starts afresh


def test_a_retry_after_the_run_ended_starts_a_new_one(aep):
    store = StateStore({WAITING_KEY: {"flow_id": "f-1", "run_id": "r-0"}})
    aep.get_run.side_effect = [run("r-0", status="failed"), run("r-1")]
    assert start().execute(ctx(store))["run_id"] == "r-1"
    aep.start_run.assert_called_once()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"min_records": 5}, "min_records"),
        ({"max_failed_records": 0}, "max_failed_records"),
        ({"wait_for_completion": True, "min_records": -1}, "min_records"),
        ({"wait_for_completion": True, "poke_interval": 0}, "poke_interval"),
        ({"wait_for_completion": True, "timeout": "soon"}, "timeout"),
        ({"wait_for_completion": "yes"}, "wait_for_completion"),
    ],
)
def test_wait_settings_are_checked_at_parse(kwargs, field):
    with pytest.raises(AEPValidationError) as err:
        AEPStartDataflowRunOperator(task_id="export", flow_id="f-1", **kwargs)
    assert err.value.field == field


def test_the_timeout_may_be_a_timedelta_and_bounds_the_deferred_wait(aep):
    aep.get_run.return_value = run(status="inProgress")
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        start(deferrable=True, timeout=timedelta(minutes=10)).execute(ctx())
    assert before + 600 <= deferred.value.trigger.deadline <= time.time() + 600
