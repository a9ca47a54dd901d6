"""A failure is never hidden behind the sensor's timeout: refused re-triggers, flows that can no
longer run, odd run errors, record-count policy, and naive since/until read as UTC. No network."""

from __future__ import annotations

import math
import pickle
import time
from datetime import date, datetime, timezone

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_aep import exceptions
from airflow_provider_aep.exceptions import (
    AEPAmbiguousWriteError,
    AEPApiError,
    AEPDataflowDisabled,
    AEPError,
    AEPValidationError,
)
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.operators.runs import start_time_ms
from airflow_provider_aep.payloads.activation import build_activation_patch
from airflow_provider_aep.payloads.schedule import build_schedule_params
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor
from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger
from airflow_provider_aep.utils.runs import (
    outcome_of,
    record_policy_breach,
    summarize_run,
    why_no_run_will_come,
)
from airflow_provider_aep.utils.waiting import check_event
from tests.unit.fake_http import response
from tests.unit.operators.test_flow_maintenance import StateStore, aep_run, ctx
from tests.unit.sensors.test_dataflow_run import run
from tests.unit.triggers.test_dataflow_run import FakeClient, events

HOUR_MS, DAY_MS = 3_600_000, 86_400_000
NOW_MS = 1_800_000_000_000  # 2027-01-15T08:00:00Z
FAILED = aep_run(
    "failed", [{"code": "CONNECTOR-2001-500", "message": "upload refused"}], completed=1_700_000_100_000
)


def server_error() -> AEPApiError:
    return AEPApiError(status=503, method="POST", path="/runs/run-1/action", title="Service Unavailable")


@pytest.fixture
def aep(mocker, aep_conn):
    """What AEP shows (the same run on every look) and the re-triggers the sensor asked for."""
    state = {"run": FAILED, "flow": {"id": "f-1", "state": "enabled"}, "asked": [], "answers": []}

    def retrigger(run_id, *statuses):
        state["asked"].append(run_id)
        answer = state["answers"].pop(0) if state["answers"] else None
        if isinstance(answer, BaseException):
            raise answer
        return {}

    mocker.patch.object(AEPHook, "get_run", side_effect=lambda run_id: state["run"])
    mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter([state["run"]]))
    mocker.patch.object(AEPHook, "get_flow", side_effect=lambda flow_id: state["flow"])
    mocker.patch.object(AEPHook, "retrigger_run", side_effect=retrigger)
    return state


def waiting(**kwargs):
    return AEPDataflowRunSensor(task_id="wait", flow_id="f-1", run_id="run-1", **kwargs)


# -- 1. a refused re-trigger -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("refusal", "state"),
    [
        (server_error(), "refused"),  # a 503 or 429 after the hook's retries
        (AEPAmbiguousWriteError("POST", "/runs/run-1/action", "HTTP 500"), "asking"),  # a 500: not known
    ],
)
def test_a_retry_after_a_refused_retrigger_asks_again_instead_of_waiting_for_the_old_failure(
    aep, refusal, state
):
    store = StateStore()
    aep["answers"] = [refusal]
    with pytest.raises(type(refusal)):
        waiting(retrigger_failed=2).poke(ctx(store))  # the try fails with AEP's answer
    assert store.kept["aep_retriggered"]["state"] == state
    # The task's retry: a fresh sensor, the same store, AEP still shows the same failure.
    assert waiting(retrigger_failed=2).poke(ctx(store)).is_done is False
    assert aep["asked"] == ["run-1", "run-1"]  # asked again, not taken for "re-triggered, waiting"
    assert store.kept["aep_retriggered"] | {"since_ms": None} == {
        "run_id": "run-1", "count": 2, "accepted": 1, "failed_at": summarize_run(FAILED)["completed_at"],
        "since_ms": None, "state": "sent",
    }  # fmt: skip


def test_a_refused_retrigger_that_used_the_last_attempt_fails_the_retry_with_the_runs_failure(aep):
    store = StateStore()
    aep["answers"] = [server_error()]
    with pytest.raises(AEPApiError):
        waiting(retrigger_failed=1).poke(ctx(store))
    with pytest.raises(AirflowFailException, match="CONNECTOR-2001-500: upload refused") as err:
        waiting(retrigger_failed=1).poke(ctx(store))
    assert "its last re-trigger was refused by AEP (1 of at most 1 asked)" in str(err.value)
    assert aep["asked"] == ["run-1"]
    assert store.kept == {}


def test_a_try_that_died_while_asking_leaves_a_record_the_retry_does_not_take_for_a_sent_retrigger(aep):
    store = StateStore()
    aep["answers"] = [SystemExit("worker lost mid-request")]
    with pytest.raises(SystemExit):
        waiting(retrigger_failed=2).poke(ctx(store))
    assert store.kept["aep_retriggered"]["state"] == "asking"
    assert waiting(retrigger_failed=2).poke(ctx(store)).is_done is False
    assert aep["asked"] == ["run-1", "run-1"]


def test_a_retrigger_refused_because_the_flow_was_disabled_fails_at_once_with_aeps_words(aep):
    store = StateStore()
    aep["answers"] = [
        AEPDataflowDisabled("f-1", "AEP API POST /runs/run-1/action failed with HTTP 400: enable it")
    ]
    with pytest.raises(AirflowFailException, match="Dataflow f-1 is disabled") as err:
        waiting(retrigger_failed=2).poke(ctx(store))
    assert type(err.value).__name__ == "AEPDataflowDisabled"
    assert "AEP said: AEP API POST /runs/run-1/action failed with HTTP 400: enable it" in str(err.value)
    assert store.kept == {}


def test_a_retrigger_refused_for_good_fails_at_once_with_the_run_and_aeps_answer(aep):
    store = StateStore()
    aep["answers"] = [
        AEPApiError(status=400, method="POST", path="/runs/run-1/action", title="Run is too old")
    ]
    with pytest.raises(AirflowFailException, match="CONNECTOR-2001-500: upload refused") as err:
        waiting(retrigger_failed=2).poke(ctx(store))
    assert (
        "AEP refused to re-trigger it: AEP API POST /runs/run-1/action failed with HTTP 400: Run is too old"
        in str(err.value)
    )
    assert store.kept == {}


def test_the_hook_says_a_retrigger_was_refused_because_the_flow_is_disabled(hook, fake):
    fake.queue = [
        response(400, {"title": "Dataflow f-1 is disabled: enable it before re-triggering its runs"}),
        response(200, aep_run("failed")),
        response(200, {"items": [{"id": "f-1", "state": "disabled"}]}),
    ]
    with pytest.raises(AEPDataflowDisabled, match="enable it before re-triggering its runs") as err:
        hook.retrigger_run("run-1")
    assert err.value.flow_id == "f-1"
    assert [c.method for c in fake.api_calls] == ["POST", "GET", "GET"]


def test_a_deferred_wait_whose_retrigger_was_refused_asks_again_on_the_retry_and_only_then_skips_the_old_failure(
    aep,
):
    store = StateStore()
    aep["answers"] = [server_error()]
    event = {"status": "failed", "summary": summarize_run(FAILED)}
    deferrable = {"deferrable": True, "retrigger_failed": 2, "timeout": 600}
    with pytest.raises(AEPApiError):
        waiting(**deferrable).execute_complete(ctx(store), event, deadline=time.time() + 600)
    with pytest.raises(TaskDeferred) as deferred:
        waiting(**deferrable).execute(ctx(store))  # the retry: one look first, then defer
    assert aep["asked"] == ["run-1", "run-1"]
    assert deferred.value.trigger.stale_failed_at == summarize_run(FAILED)["completed_at"]


def test_a_trigger_is_told_the_failure_is_stale_only_for_a_retrigger_aep_took(aep, mocker):
    store = StateStore()
    store.set("aep_retriggered", {"run_id": "run-1", "count": 1, "accepted": 0, "since_ms": None,
                                  "failed_at": summarize_run(FAILED)["completed_at"], "state": "refused"})  # fmt: skip
    aep["run"] = aep_run("inProgress")
    with pytest.raises(TaskDeferred) as deferred:
        waiting(deferrable=True, retrigger_failed=2).execute(ctx(store))
    assert deferred.value.trigger.stale_failed_at is None


# -- 2. a dataflow that can no longer run -------------------------------------------------------------------


def schedule(**params):
    return {
        "id": "f-1",
        "state": "enabled",
        "scheduleParams": {"exportMode": "FIRST_FULL_THEN_INCREMENTAL", **params},
    }


def segment_flow(*schedules):
    selectors = [
        {"type": "PLATFORM_SEGMENT", "value": {"id": f"s{i}", "schedule": s}} for i, s in enumerate(schedules)
    ]
    return {
        "id": "f-1",
        "state": "enabled",
        "transformations": [{"params": {"segmentSelectors": {"selectors": selectors}}}],
    }


@pytest.mark.parametrize(
    ("flow", "until_ms", "words"),
    [
        (schedule(timeUnit="day", interval=1, startTime=1_700_000_000, endTime=NOW_MS // 1000 - 3600), None,
         "its schedule ended at 2027-01-15T07:00:00+00:00 (scheduleParams.endTime)"),
        (schedule(timeUnit="day", interval=1, startTime=(NOW_MS - HOUR_MS) // 1000, endTime=(NOW_MS + HOUR_MS) // 1000),
         None, "before its next scheduled run at 2027-01-16T07:00:00+00:00"),
        (schedule(timeUnit="day", interval=1, startTime=(NOW_MS - HOUR_MS) // 1000), NOW_MS + 12 * HOUR_MS,
         "its next scheduled run starts at 2027-01-16T07:00:00+00:00, not before the end of the window"),
        (segment_flow({"frequency": "ONCE", "startDate": "2027-01-14"},
                      {"frequency": "DAILY", "startDate": "2027-01-01", "endDate": "2027-01-10"}), None,
         "the schedule of every segment it exports ended by 2027-01-15T00:00:00+00:00"),
    ],
)  # fmt: skip
def test_why_no_run_will_come(flow, until_ms, words):
    assert words in why_no_run_will_come(flow, now_ms=NOW_MS, until_ms=until_ms, grace_ms=300_000)


@pytest.mark.parametrize(
    ("flow", "until_ms"),
    [
        ({"id": "f-1", "state": "enabled"}, None),  # nothing to judge by
        (schedule(timeUnit="day", interval=1, startTime=1_700_000_000, endTime=NOW_MS // 1000 + 7 * 86400), None),
        (schedule(timeUnit="day", interval=1, startTime=1_700_000_000), NOW_MS + DAY_MS + 1),
        (schedule(timeUnit="hour", interval=3, startTime=(NOW_MS - HOUR_MS) // 1000), NOW_MS + 3 * HOUR_MS),
        # A start a moment ago (inside the grace) may still be listed late: not judged over.
        (schedule(timeUnit="day", interval=1, startTime=(NOW_MS - 60_000) // 1000), NOW_MS + HOUR_MS),
        (schedule(exportMode="DAILY_FULL_EXPORT", timeUnit="day", interval=0, startTime=1_700_000_000), NOW_MS + 1),
        (segment_flow({"frequency": "ONCE", "startDate": "2027-01-14"}, {"frequency": "DAILY", "startDate": "2027-01-01"}), None),
        (segment_flow({"frequency": "ONCE", "startDate": "2027-01-15"}), None),
        (segment_flow(), None),  # no segment activated yet
    ],
)  # fmt: skip
def test_a_flow_that_may_still_run_is_not_judged_over(flow, until_ms):
    assert why_no_run_will_come(flow, now_ms=NOW_MS, until_ms=until_ms, grace_ms=300_000) is None


def ended_flow():
    return schedule(timeUnit="day", interval=1, startTime=1_700_000_000, endTime=int(time.time()) - 86400)


def test_a_poking_sensor_fails_at_once_when_the_schedule_has_ended(aep, mocker):
    mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter([]))
    aep["flow"] = ended_flow()
    with pytest.raises(
        AirflowFailException, match=r"its schedule ended at .* \(scheduleParams\.endTime\)"
    ) as err:
        AEPDataflowRunSensor(task_id="wait", flow_id="f-1").poke(ctx())
    assert type(err.value).__name__ == "AEPDataflowEnded"
    assert pickle.loads(pickle.dumps(err.value)).args == err.value.args


def test_a_poking_sensor_fails_at_once_when_the_next_run_starts_after_until(aep, mocker):
    mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter([]))
    now = int(time.time())
    aep["flow"] = schedule(timeUnit="day", interval=1, startTime=now - 3600)  # next run in 23 hours
    sensor = AEPDataflowRunSensor(
        task_id="wait", flow_id="f-1", since=(now - 1800) * 1000, until=(now + 3600) * 1000
    )
    with pytest.raises(AirflowFailException, match="not before the end of the window"):
        sensor.poke(ctx())


def test_a_scheduled_start_in_the_window_that_passed_without_its_run_is_waited_for(aep, mocker):
    """AEP starts runs late: the window's end, not the missed start, says when it is too late."""
    mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter([]))
    now = int(time.time())
    aep["flow"] = schedule(timeUnit="day", interval=1, startTime=now - 3600)  # due an hour ago
    sensor = AEPDataflowRunSensor(
        task_id="wait", flow_id="f-1", since=(now - 7200) * 1000, until=(now + 3600) * 1000
    )
    assert sensor.poke(ctx()).is_done is False


def test_the_trigger_ends_the_wait_for_a_flow_whose_schedule_ended(mocker):
    class EndedFlowClient(FakeClient):
        async def get_flow(self, flow_id):
            self.flow_reads += 1
            return ended_flow()

    client = EndedFlowClient([[]])
    trigger = AEPDataflowRunTrigger(flow_id="f-1", poll_interval=0.01, deadline=time.time() + 5)
    [event] = events(trigger, client, mocker)
    assert event.payload["status"] == "ended"
    assert "its schedule ended at" in event.payload["message"]
    assert client.flow_reads == 1


def test_the_sensor_reads_an_ended_event_and_fails_without_retries(aep_conn):
    sensor = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", deferrable=True)
    event = {
        "status": "ended",
        "flow_id": "f-1",
        "message": "its schedule ended at 2026-01-01T00:00:00+00:00",
    }
    assert check_event(event) == "ended"
    with pytest.raises(
        AirflowFailException, match="Dataflow f-1 will start no run for this wait: its schedule ended"
    ):
        sensor.execute_complete({}, event)
    with pytest.raises(AEPError, match="cannot read"):
        check_event({"status": "ended"})


# -- 3. a schedule that lies in the past is refused before it is created ----------------------------------------


NOW_S = NOW_MS // 1000


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"start_time": NOW_S - 30 * 86400, "end_time": NOW_S - 86400}, "the whole schedule would lie in the past"),
        ({"start_time": NOW_S - 86400, "end_time": NOW_S}, "the whole schedule would lie in the past"),
        # Daily from 25 hours ago (next run in 23 hours), ending in 10 hours: never runs again.
        ({"start_time": NOW_S - 86400 - 3600, "end_time": NOW_S + 10 * 3600},
         "the schedule would end before it runs"),
    ],
)  # fmt: skip
def test_a_schedule_in_the_past_is_refused_naming_end_time(kwargs, words):
    with pytest.raises(AEPValidationError, match=words) as err:
        build_schedule_params(export_mode="FIRST_FULL_THEN_INCREMENTAL", now=NOW_S, **kwargs)
    assert err.value.field == "end_time"


def test_a_past_start_with_a_future_end_is_fine_as_an_update_keeps_its_own_start():
    built = build_schedule_params(
        export_mode="FIRST_FULL_THEN_INCREMENTAL", start_time=1_700_000_000, end_time=NOW_S + 86400,
        now=datetime.fromtimestamp(NOW_S, tz=timezone.utc),
    )  # fmt: skip
    assert (built["startTime"], built["endTime"]) == (1_700_000_000, NOW_S + 86400)
    once = build_schedule_params(
        export_mode="DAILY_FULL_EXPORT", start_time=NOW_S - 60, end_time=NOW_S + 60, now=NOW_S
    )
    assert once["interval"] == 0


def test_the_default_now_is_the_clock():
    with pytest.raises(AEPValidationError, match="end_time"):
        build_schedule_params(
            export_mode="DAILY_FULL_EXPORT", start_time=1_600_000_000, end_time=1_700_000_000
        )


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"frequency": "ONCE", "startDate": "2026-11-22"}, "segments[0].schedule.startDate"),
        (
            {"frequency": "DAILY", "startDate": "2026-11-01", "endDate": "2026-11-22"},
            "segments[0].schedule.endDate",
        ),
    ],
)
def test_a_segment_schedule_whose_dates_are_all_past_is_refused(schedule, field):
    with pytest.raises(AEPValidationError, match="would") as err:
        build_activation_patch(segments=[{"id": "seg-1", "schedule": schedule}], today=date(2026, 11, 23))
    assert err.value.field == field
    # The same dates a day earlier still run (an end date of today runs today).
    [op] = build_activation_patch(segments=[{"id": "seg-1", "schedule": schedule}], today=date(2026, 11, 22))
    assert op["value"]["value"]["schedule"] == {"startTime": "00:00", **schedule}


# -- 4. run errors that are not objects ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errors", "listed"),
    [
        ("upload refused", "?: upload refused"),
        (["upload refused", None, {"code": "E1", "message": "m"}], "?: upload refused; E1: m"),
        ({"code": "E2", "message": "one object"}, "E2: one object"),
        ([None], "no errors given"),
    ],
)
def test_a_run_whose_errors_are_not_objects_fails_with_the_runs_failure(aep, errors, listed):
    bad = aep_run("failed", completed=1_700_000_100_000)
    bad["metrics"]["statusSummary"]["errors"] = errors
    aep["run"] = bad
    with pytest.raises(AirflowFailException, match="ended with status 'failed': ") as err:
        waiting().poke(ctx())
    assert str(err.value).endswith(listed)
    assert summarize_run(bad)["errors"] == outcome_of(bad).errors
    # The re-trigger's log line reads them too.
    aep["answers"] = [None]
    assert waiting(retrigger_failed=1).poke(ctx(StateStore())).is_done is False


def test_the_trigger_reports_string_errors_as_a_failure(mocker):
    failed = run(status="failed")
    failed["metrics"]["statusSummary"]["errors"] = ["disk full"]
    [event] = events(AEPDataflowRunTrigger(flow_id="f-1", poll_interval=0.01), FakeClient([[failed]]), mocker)
    assert event.payload["summary"]["errors"] == [{"message": "disk full"}]


# -- 5. record-count policy ------------------------------------------------------------------------------------


def test_a_success_below_min_records_fails_at_once_with_the_counts(aep, mocker):
    aep["run"] = run("run-1")  # 10 in, 9 out, 1 skipped, 0 failed
    with pytest.raises(AirflowFailException) as err:
        waiting(min_records=10, retrigger_failed=2).poke(ctx())
    assert type(err.value).__name__ == "AEPDataflowRecordPolicyBreached"
    assert "9 output records, fewer than min_records=10 (10 records in, 9 out, 1 skipped, 0 failed)" in str(
        err.value
    )
    assert aep["asked"] == []  # not re-triggered
    assert waiting(min_records=9).poke(ctx()).is_done is True


def test_failed_records_above_the_limit_fail_a_deferred_wait(aep_conn):
    partial = run("run-1")
    partial["metrics"]["recordSummary"]["failedRecordCount"] = 3
    event = {"status": "success", "summary": summarize_run(partial)}
    sensor = waiting(deferrable=True, max_failed_records="2")  # as a rendered template
    with pytest.raises(AirflowFailException, match="3 failed records, more than max_failed_records=2"):
        sensor.execute_complete({}, event)
    assert waiting(deferrable=True, max_failed_records=3).execute_complete({}, event)["failed_records"] == 3


def test_an_empty_run_is_a_decision():
    empty = {
        "run_id": "r",
        "input_records": 0,
        "output_records": 0,
        "skipped_records": 0,
        "failed_records": 0,
    }
    assert record_policy_breach(empty) is None
    assert "0 output records, fewer than min_records=1" in record_policy_breach(empty, min_records=1)
    assert record_policy_breach({**empty, "output_records": None}, min_records=1).startswith(
        "0 output records"
    )


@pytest.mark.parametrize("field", ["min_records", "max_failed_records"])
@pytest.mark.parametrize("value", [-1, 1.5, True, "many"])
def test_record_limits_are_checked_when_the_dag_is_parsed(field, value):
    with pytest.raises(AEPValidationError, match=field):
        AEPDataflowRunSensor(task_id="wait", flow_id="f-1", **{field: value})


def test_templated_record_limits_are_checked_when_rendered():
    sensor = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", min_records="{{ params.n }}")
    assert "min_records" in sensor.template_fields
    sensor.min_records = "-3"
    with pytest.raises(AEPValidationError, match="min_records"):
        sensor.check_inputs()
    sensor.min_records = "5"
    sensor.check_inputs()


# -- 6. since/until without a time zone are UTC ------------------------------------------------------------------


@pytest.fixture
def worker_in_new_york(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


DEC_1_UTC_MS = 1_796_083_200_000  # 2026-12-01T00:00:00Z


@pytest.mark.parametrize("since", ["2026-12-01", "2026-12-01T00:00:00", datetime(2026, 12, 1)])
def test_naive_since_and_until_are_utc_on_a_worker_in_another_zone(worker_in_new_york, since):
    assert time.timezone != 0
    sensor = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", since=since, until="2026-12-02")
    assert sensor.since_ms({}) == DEC_1_UTC_MS
    assert sensor.until_ms() == DEC_1_UTC_MS + DAY_MS
    assert start_time_ms(datetime(2026, 12, 1)) == DEC_1_UTC_MS
    # A moment with a zone keeps it.
    aware = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", since="2026-12-01T00:00:00-05:00")
    assert aware.since_ms({}) == DEC_1_UTC_MS + 5 * HOUR_MS


@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("2026-12-02", "2026-12-01"),
        (DEC_1_UTC_MS, DEC_1_UTC_MS),
        (datetime(2026, 12, 1, 1), "2026-12-01T00:30:00"),
    ],
)
def test_until_not_after_since_is_refused_when_the_dag_is_parsed(since, until):
    with pytest.raises(AEPValidationError) as err:
        AEPDataflowRunSensor(task_id="wait", flow_id="f-1", since=since, until=until)
    assert err.value.field == "until"
    assert "a moment after since" in str(err.value)


@pytest.mark.parametrize("grace", [math.inf, math.nan])
def test_a_non_finite_until_grace_is_refused_when_the_dag_is_parsed(grace):
    with pytest.raises(AEPValidationError) as err:
        AEPDataflowRunSensor(task_id="wait", flow_id="f-1", until_grace=grace)
    assert err.value.field == "until_grace"


def test_the_new_fail_fast_errors_are_built_lazily_and_survive_pickling():
    for name in (
        "AEPDataflowEnded",
        "AEPDataflowRecordPolicyBreached",
        "AEPDataflowDisabled",
        "AEPDataflowRunFailed",
    ):
        assert issubclass(getattr(exceptions, name), AirflowFailException)
    failed = exceptions.AEPDataflowRunFailed("r-1", "failed", ["x"], "note")
    assert str(pickle.loads(pickle.dumps(failed))) == str(failed)
    disabled = exceptions.AEPDataflowDisabled("f-1", "AEP said no")
    assert pickle.loads(pickle.dumps(disabled)).detail == "AEP said no"
