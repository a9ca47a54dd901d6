"""Scheduled queries: create or reuse by name (drift refused or patched), run now, wait for a run."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_aep.exceptions import (
    AEPError,
    AEPQueryFailed,
    AEPScheduledQueryRunMissing,
    AEPValidationError,
)
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.operators.query import AEPRunScheduledQueryOperator, AEPScheduledQueryOperator
from airflow_provider_aep.sensors.scheduled_query import AEPScheduledQueryRunSensor

SQL = "INSERT INTO gold SELECT * FROM loyalty_members"


def schedule(schedule_id="s1", sql=SQL, cron="0 2 * * *", state="ENABLED", name="daily gold", end=None):
    timing = {"schedule": cron, "startDate": "2026-12-01T00:00:00.000Z", **({"endDate": end} if end else {})}
    return {
        "id": schedule_id,
        "state": state,
        "query": {"name": name, "sql": sql, "dbName": "prod:all"},
        "schedule": timing,
    }


@pytest.fixture
def aep(mocker, aep_conn):
    hook = mocker.MagicMock()
    hook.named = mocker.patch.object(AEPHook, "schedules_named", return_value=[])
    hook.create = mocker.patch.object(AEPHook, "create_schedule", return_value=schedule(state="REGISTERING"))
    hook.update = mocker.patch.object(AEPHook, "update_schedule", return_value=None)
    hook.get = mocker.patch.object(AEPHook, "get_schedule", return_value=schedule())
    hook.trigger = mocker.patch.object(AEPHook, "trigger_schedule_run", return_value=None)
    hook.runs = mocker.patch.object(AEPHook, "schedule_runs", return_value=[])
    hook.run = mocker.patch.object(AEPHook, "get_schedule_run")
    hook.query = mocker.patch.object(
        AEPHook, "get_query", return_value={"id": "q-5", "rowCount": 77, "elapsedTime": 3}
    )
    mocker.patch("time.sleep")
    return hook


def keep(**kwargs):
    kwargs.setdefault("if_drifted", "fail")
    return AEPScheduledQueryOperator(
        task_id="keep",
        name="daily gold",
        sql=SQL,
        schedule="0 2 * * *",
        schedule_start_date="2026-12-01",
        **kwargs,
    )


def test_creates_the_schedule_when_none_has_the_name(aep):
    assert keep(description="gold").execute({}) == "s1"
    [body] = aep.create.call_args.args
    assert body == {
        "query": {"dbName": "prod:all", "sql": SQL, "name": "daily gold", "description": "gold"},
        "schedule": {"schedule": "0 2 * * *", "startDate": "2026-12-01T00:00:00.000Z"},
    }


def test_reuses_the_same_schedule_and_enables_a_disabled_one(aep):
    aep.named.return_value = [schedule(state="DISABLED")]
    assert keep().execute({}) == "s1"
    aep.create.assert_not_called()
    aep.update.assert_called_once_with("s1", [{"op": "replace", "path": "/state", "value": "enable"}])


def test_other_sql_under_the_name_is_refused(aep):
    aep.named.return_value = [schedule(sql="SELECT 1")]
    with pytest.raises(AEPError, match="runs other SQL"):
        keep(if_drifted="update").execute({})
    aep.update.assert_not_called()


def test_another_cron_is_refused_or_patched(aep):
    aep.named.return_value = [schedule(cron="0 3 * * *")]
    with pytest.raises(AEPError, match="if_drifted='update'"):
        keep().execute({})
    aep.update.assert_not_called()
    assert keep(if_drifted="update").execute({}) == "s1"
    aep.update.assert_called_once_with(
        "s1", [{"op": "replace", "path": "/schedule/schedule", "value": "0 2 * * *"}]
    )


@pytest.mark.parametrize(
    ("changed", "words"),
    [
        ({"schedule_start_date": "2026-12-02"}, "startDate"),
        ({"schedule_end_date": "2027-01-01"}, "endDate"),
    ],
)
def test_another_start_or_end_is_drift_aep_cannot_patch(aep, changed, words):
    aep.named.return_value = [schedule()]
    with pytest.raises(AEPError, match=words):
        AEPScheduledQueryOperator(
            task_id="keep", name="daily gold", sql=SQL, schedule="0 2 * * *", if_drifted="update",
            **{"schedule_start_date": "2026-12-01", **changed},
        )  .execute({})  # fmt: skip
    aep.update.assert_not_called()


def test_a_default_args_start_date_is_not_the_schedules_start(aep):
    from airflow.sdk import DAG

    with DAG("d", default_args={"start_date": datetime(2020, 1, 1, tzinfo=timezone.utc)}, schedule=None):
        task = AEPScheduledQueryOperator(
            task_id="keep", name="daily gold", sql=SQL, schedule="0 2 * * *", schedule_start_date="2026-12-01"
        )
    assert task.schedule_start_date == "2026-12-01"


def test_several_schedules_with_the_name_are_refused_by_id(aep):
    aep.named.return_value = [schedule("s1"), schedule("s2")]
    with pytest.raises(AEPError, match="s1, s2"):
        keep().execute({})


def test_bad_settings_are_refused_at_parse_time():
    with pytest.raises(AEPValidationError, match="schedule"):
        AEPScheduledQueryOperator(
            task_id="k", name="n", sql=SQL, schedule="daily", schedule_start_date="2026-12-01"
        )
    with pytest.raises(AEPValidationError, match="if_drifted"):
        keep(if_drifted="ignore")


def test_run_now_returns_the_new_on_demand_run(aep):
    earlier = {"id": "bWFudWFsX18x", "created": "1"}
    new = {"id": "bWFudWFsX18y", "created": "2", "state": "IN_PROGRESS"}
    aep.runs.side_effect = [[earlier], [earlier], [earlier, new]]
    assert AEPRunScheduledQueryOperator(task_id="now", schedule_id="s1").execute({}) == "bWFudWFsX18y"
    aep.trigger.assert_called_once_with("s1")
    assert aep.runs.call_args.kwargs["external"] is True


SINCE = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1)
UNTIL = SINCE + timedelta(days=1)


def test_a_retried_run_now_finds_the_run_its_first_try_started(aep):
    from tests.unit.operators.test_query import StateStore

    store = StateStore(
        {"aep_schedule_run_now": {"schedule_id": "s1", "asked_at": "2026-12-03T08:00:00+00:00"}}
    )
    aep.runs.return_value = [{"id": "bWFudWFsX18x", "created": "2026-12-03T08:00:02Z"}]
    task = AEPRunScheduledQueryOperator(task_id="now", schedule_id="s1")
    assert task.execute({"task_state_store": store}) == "bWFudWFsX18x"
    aep.trigger.assert_not_called()
    assert store.kept == {}


def sensor(**kwargs):
    kwargs.setdefault("since", SINCE.isoformat())
    kwargs.setdefault("until", UNTIL.isoformat())
    return AEPScheduledQueryRunSensor(task_id="wait", schedule_id="s1", poke_interval=1, timeout=60, **kwargs)


def run(state, run_id="c2NoZWR1bGVk", message="Processed Successfully"):
    return {"id": run_id, "state": state, "created": "2026-12-02T02:00:00Z", "externalTrigger": "false",
            "taskStatusList": [{"state": state, "queryId": "q-5", "message": message}]}  # fmt: skip


def test_waits_for_the_run_of_the_window_and_returns_its_rows(aep):
    aep.runs.side_effect = [[], [run("IN_PROGRESS")]]
    aep.run.side_effect = [run("IN_PROGRESS"), run("success")]
    summary = sensor().execute({})
    # The schedule's own runs in the window, oldest first: an on-demand run is not the interval's.
    assert aep.runs.call_args.kwargs == {
        "created_from": SINCE, "created_before": UNTIL, "external": False, "oldest_first": True,
    }  # fmt: skip
    assert summary == {
        "schedule_id": "s1", "run_id": "c2NoZWR1bGVk", "state": "SUCCESS", "created": "2026-12-02T02:00:00Z",
        "external": False, "query_id": "q-5", "rows": 77, "duration_ms": 3, "errors": None,
    }  # fmt: skip
    aep.run.assert_called_with("s1", "c2NoZWR1bGVk")


def test_a_failed_run_fails_with_its_querys_words(aep):
    aep.runs.return_value = [run("FAILED")]
    aep.run.return_value = run("FAILED", message="Query failed")
    aep.query.return_value = {"id": "q-5", "errors": [{"code": "42P01", "message": "no table gold"}]}
    with pytest.raises(AEPQueryFailed, match="ended FAILED: 42P01: no table gold"):
        sensor().execute({})


def test_a_disabled_schedule_fails_at_once(aep):
    aep.get.return_value = schedule(state="DISABLED")
    with pytest.raises(AEPScheduledQueryRunMissing, match="disabled"):
        sensor().execute({})
    assert aep.runs.call_count == 1


def test_a_schedule_that_ended_before_the_window_fails_at_once(aep):
    ended = (SINCE - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    aep.get.return_value = schedule(end=ended)
    with pytest.raises(AEPScheduledQueryRunMissing, match=f"ended at {ended[:10]}"):
        sensor().execute({})


def test_a_schedule_that_ended_inside_the_window_fails_at_once(aep):
    ended = (datetime.now(timezone.utc) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    aep.get.return_value = schedule(end=ended)
    with pytest.raises(AEPScheduledQueryRunMissing, match="ended at"):
        sensor().execute({})


def test_a_schedule_that_starts_after_the_window_fails_at_once(aep):
    later = schedule()
    later["schedule"]["startDate"] = (UNTIL + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    aep.get.return_value = later
    with pytest.raises(AEPScheduledQueryRunMissing, match="starts only at"):
        sensor().execute({})


def test_without_a_window_the_dag_runs_start_bounds_it_and_an_empty_window_is_refused(aep):
    class DagRun:
        start_date = SINCE

    aep.runs.return_value = [run("SUCCESS")]
    aep.run.return_value = run("SUCCESS")
    sensor(since=None, until=None).execute({"dag_run": DagRun()})
    assert aep.runs.call_args.kwargs["created_from"] == SINCE
    assert aep.runs.call_args.kwargs["created_before"] is None
    with pytest.raises(AEPValidationError, match="until"):
        sensor(until=SINCE.isoformat()).execute({})


def test_a_closed_window_without_a_run_fails_instead_of_waiting_for_the_timeout(aep):
    past = datetime.now(timezone.utc) - timedelta(days=2)
    with pytest.raises(AEPScheduledQueryRunMissing, match="window closed"):
        sensor(since=past.isoformat(), until=(past + timedelta(hours=1)).isoformat(), until_grace=60).execute(
            {}
        )


def test_a_given_run_id_is_read_directly(aep):
    aep.run.return_value = run("SUCCESS", run_id="bWFudWFsX18y")
    assert sensor(run_id="bWFudWFsX18y").execute({})["run_id"] == "bWFudWFsX18y"
    aep.runs.assert_not_called()


def test_every_templated_field_is_an_attribute_airflow_can_render():
    made = [
        keep(),
        AEPRunScheduledQueryOperator(task_id="now", schedule_id="s1"),
        AEPScheduledQueryRunSensor(task_id="wait", schedule_id="s1"),
    ]
    for task in made:
        missing = [f for f in task.template_fields if not hasattr(task, f)]
        assert missing == [], type(task).__name__
    # BaseOperator owns start_date (and default_args set it): the schedule's start is its own.
    assert keep().schedule_start_date == "2026-12-01"
