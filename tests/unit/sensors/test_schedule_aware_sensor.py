"""The poking and rescheduling sensor sleeps for the schedule as the trigger does, and says so once."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor
from airflow_provider_aep.utils.poll_plan import MAX_QUIET_S
from tests.conftest import aep_conn_json
from tests.unit.sensors.test_dataflow_run import run


class RecentDagRun:
    start_date = datetime.now(timezone.utc)


CONTEXT = {"dag_run": RecentDagRun()}


def daily_at(start_s: int) -> dict:
    return {
        "id": "f-1",
        "state": "enabled",
        "scheduleParams": {
            "exportMode": "FIRST_FULL_THEN_INCREMENTAL", "timeUnit": "day", "interval": 1, "startTime": start_s,
        },
    }  # fmt: skip


def sensor(**kwargs):
    return AEPDataflowRunSensor(task_id="wait", flow_id="f-1", deferrable=False, poke_interval=30, **kwargs)


def next_sleep(s: AEPDataflowRunSensor, ran_for: float = 0.0) -> float:
    return s._get_next_poke_interval(time.monotonic(), lambda: ran_for, 1)


def test_hours_before_the_scheduled_start_a_poke_plans_to_sleep_an_hour(runs):
    runs.flow = daily_at(int(time.time()) + 6 * 3600)
    s = sensor()
    assert s.poke(CONTEXT).is_done is False
    assert next_sleep(s) == MAX_QUIET_S
    assert s.next_look.quiet


def test_the_planned_sleep_never_runs_past_the_sensors_timeout(runs):
    runs.flow = daily_at(int(time.time()) + 6 * 3600)
    s = sensor(timeout=900)
    s.poke(CONTEXT)
    assert next_sleep(s, ran_for=600) == 300


def test_a_due_start_or_a_run_in_progress_is_looked_at_within_the_poke_interval(runs):
    runs.flow = daily_at(int(time.time()) - 60)
    s = sensor(since=int(time.time() - 120) * 1000)
    s.poke(CONTEXT)
    assert next_sleep(s) == 30
    runs.append(run(status="inProgress", records=False, started=int(time.time() * 1000) - 20_000))
    s.poke(CONTEXT)
    assert next_sleep(s) == pytest.approx(10, abs=0.5)  # half the run's age


def test_schedule_aware_false_or_exponential_backoff_leaves_the_interval_to_airflow(runs):
    runs.flow = daily_at(int(time.time()) + 6 * 3600)
    fixed = sensor(schedule_aware=False)
    fixed.poke(CONTEXT)
    assert fixed.next_look is None
    assert next_sleep(fixed) == 30
    runs.append(run(status="inProgress", records=False, started=int(time.time() * 1000) - 20_000))
    backoff = sensor(exponential_backoff=True)
    backoff.poke(CONTEXT)
    assert next_sleep(backoff) != pytest.approx(10, abs=0.5)


def test_the_connection_can_turn_it_off_and_the_sensor_can_turn_it_back_on(runs, monkeypatch):
    conn = json.loads(aep_conn_json("https://platform.example.com"))
    conn["extra"]["schedule_aware_waits"] = "false"
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", json.dumps(conn))
    assert sensor().waits_on_schedule() is False
    assert sensor(schedule_aware=True).waits_on_schedule() is True


def test_a_connection_flag_that_is_not_yes_or_no_is_refused_naming_it(runs, monkeypatch):
    conn = json.loads(aep_conn_json("https://platform.example.com"))
    conn["extra"]["schedule_aware_waits"] = "sometimes"
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", json.dumps(conn))
    with pytest.raises(AEPValidationError, match=r"extra\.schedule_aware_waits.*sometimes.*true or false"):
        sensor().waits_on_schedule()


def test_schedule_aware_must_be_true_false_or_none():
    with pytest.raises(AEPValidationError, match="schedule_aware"):
        sensor(schedule_aware="yes")


def test_the_deferring_sensor_hands_its_choice_to_the_trigger(runs):
    for choice in (True, False):
        s = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", deferrable=True, schedule_aware=choice)
        with pytest.raises(TaskDeferred) as deferred:
            s.execute(CONTEXT)
        assert deferred.value.trigger.schedule_aware is choice


def test_the_sleep_for_the_schedule_is_logged_once_at_info(runs, mocker):
    runs.flow = daily_at(int(time.time()) + 6 * 3600)
    s = sensor()
    log = mocker.patch.object(type(s), "log", new_callable=mocker.PropertyMock).return_value
    s.poke(CONTEXT)
    s.poke(CONTEXT)  # the same sleep again: at DEBUG
    lines = [c.args[0] % c.args[1:] for c in log.info.call_args_list]
    asleep = [line for line in lines if "no run can start before" in line]
    assert len(asleep) == 1, lines
    assert "polling again in 3600s" in asleep[0]
    assert any("no run can start before" in c.args[2] for c in log.debug.call_args_list)


def test_a_poking_sensor_on_a_fake_clock_sleeps_until_the_start_then_returns_the_run(runs, mocker):
    """The whole poke loop (Airflow's execute): two hours early, it looks once an hour, then wakes
    shortly before the start and polls until the run is there."""
    import types

    import airflow.sdk.bases.sensor as airflow_sensor

    from airflow_provider_aep.tasks import run_wait

    clock = types.SimpleNamespace(now=time.time())
    start = int(clock.now) + 2 * 3600 + 30

    def sleep(seconds: float) -> None:
        assert seconds >= 0
        clock.now += seconds

    fake_time = types.SimpleNamespace(time=lambda: clock.now, monotonic=lambda: clock.now, sleep=sleep)
    mocker.patch.object(airflow_sensor, "time", fake_time)
    mocker.patch.object(run_wait, "time", fake_time)
    looks: list[float] = []

    def listing(*args, **kwargs):
        looks.append(clock.now)
        if clock.now < start + 60:
            return iter([])
        return iter([run(started=(start + 60) * 1000)])

    runs.listing.side_effect = listing
    runs.flow = daily_at(start)
    s = sensor(since=int(clock.now * 1000))
    summary = s.execute({"dag_run": RecentDagRun(), "ti": None})
    assert summary["run_id"] == "r-1"
    asleep = [round((at - looks[0]) / 3600, 2) for at in looks if at < start - 40]
    assert asleep == [0.0, 1.0]  # the first look, then one an hour
    woke = min(at for at in looks if at >= start - 40)
    assert start - 40 <= woke < start  # shortly before the start (5 s, spread over a poll interval)
    assert len(looks) <= 8, [at - start for at in looks]
