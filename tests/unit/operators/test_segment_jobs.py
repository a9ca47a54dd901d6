"""AEPSegmentJobOperator: start a segment job, wait (poke, reschedule, deferrable), cancel on kill or timeout."""

from __future__ import annotations

import json

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, TaskDeferred

from airflow_provider_aep.exceptions import AEPAmbiguousWriteError, AEPValidationError
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.operators.segment_jobs import JOB_KEY, AEPSegmentJobFailed, AEPSegmentJobOperator
from airflow_provider_aep.triggers.segment_job import AEPSegmentJobTrigger


def job(status="SUCCEEDED", job_id="job-1", ids=("a", "b"), errors=None):
    body = {"id": job_id, "status": status, "segments": [{"segmentId": s} for s in ids], "creationTime": 1}
    if status == "SUCCEEDED":
        body["metrics"] = {"segmentedProfileCounter": {"a": 3, "b": 5}, "totalProfiles": 100}
    if errors:
        body["errors"] = errors
    return body


class StateStore:
    def __init__(self, kept=None):
        self.kept = dict(kept or {})

    def get(self, key):
        return self.kept.get(key)

    def set(self, key, value):
        self.kept[key] = json.loads(json.dumps(value))

    def delete(self, key):
        self.kept.pop(key, None)


class TI:
    def __init__(self, try_number=1):
        self.try_number = try_number

    def xcom_push(self, key, value):
        pass


def ctx(store=None, try_number=1):
    return {"ti": TI(try_number), "task_state_store": store, "dag_run": None}


@pytest.fixture
def aep(mocker, aep_conn):
    hook = mocker.MagicMock()
    hook.create = mocker.patch.object(AEPHook, "create_segment_job", return_value=job("NEW"))
    hook.get = mocker.patch.object(AEPHook, "get_segment_job", return_value=job())
    hook.cancel = mocker.patch.object(AEPHook, "cancel_segment_job", return_value=True)
    hook.since = mocker.patch.object(AEPHook, "segment_jobs_since", return_value=[])
    mocker.patch("time.sleep")
    return hook


def evaluate(**kwargs):
    kwargs.setdefault("deferrable", False)
    kwargs.setdefault("poke_interval", 1)
    return AEPSegmentJobOperator(task_id="evaluate", segment_ids=["a", "b"], **kwargs)


def test_starts_a_job_waits_for_it_and_returns_the_profile_counts(aep):
    aep.get.side_effect = [job("NEW"), job("PROCESSING"), job()]
    summary = evaluate().execute(ctx())
    aep.create.assert_called_once_with(["a", "b"])
    assert aep.get.call_count == 3
    assert summary["job_id"] == "job-1"
    assert summary["status"] == "SUCCEEDED"
    assert summary["segments"] == [{"id": "a", "profiles": 3}, {"id": "b", "profiles": 5}]
    assert summary["total_profiles"] == 100
    aep.cancel.assert_not_called()


@pytest.mark.parametrize(
    ("ids", "words"),
    [
        ([], "non-empty list"),
        (["a", "a"], "each audience once"),
        (["a", ""], "segment_ids[1]"),
        ([f"s{i}" for i in range(1501)], "at most 1500"),
    ],
)
def test_bad_ids_are_refused_at_parse_time(ids, words):
    with pytest.raises(AEPValidationError, match="segment_ids") as refused:
        AEPSegmentJobOperator(task_id="evaluate", segment_ids=ids)
    assert words in str(refused.value)


def test_a_rendered_list_is_read_and_checked_before_any_request(aep):
    op = AEPSegmentJobOperator(task_id="evaluate", segment_ids="{{ params.ids }}", deferrable=False)
    op.segment_ids = "['a', 'a']"  # as a template renders a list without native rendering
    with pytest.raises(AEPValidationError, match="each audience once"):
        op.execute(ctx())
    aep.create.assert_not_called()


@pytest.mark.parametrize("status", ["FAILED", "CANCELLED"])
def test_a_failed_or_cancelled_job_fails_the_task_with_aeps_words(aep, status):
    aep.get.return_value = job(status, errors=[{"code": "UPS-1500-500", "message": "merge policy gone"}])
    store = StateStore()
    with pytest.raises(AEPSegmentJobFailed, match=f"ended {status}: UPS-1500-500: merge policy gone"):
        evaluate().execute(ctx(store))
    assert JOB_KEY not in store.kept


def test_a_timeout_cancels_the_job_before_failing(aep):
    aep.get.return_value = job("PROCESSING")
    store = StateStore()
    with pytest.raises(AirflowSensorTimeout, match=r"job-1.*cancelled"):
        evaluate(timeout=0).execute(ctx(store))
    aep.cancel.assert_called_once_with("job-1")
    assert JOB_KEY not in store.kept


def test_on_kill_cancels_the_running_job(aep):
    op = evaluate()
    op.on_kill()  # nothing started yet: nothing to cancel
    aep.cancel.assert_not_called()
    aep.get.side_effect = [job()]
    op.execute(ctx())
    op.on_kill()
    aep.cancel.assert_called_once_with("job-1")


def test_a_retry_waits_for_the_job_its_earlier_try_started(aep):
    store = StateStore({JOB_KEY: {"segments": ["a", "b"], "job_id": "job-0", "try": 1}})
    aep.get.side_effect = [job("PROCESSING", "job-0"), job("SUCCEEDED", "job-0")]
    summary = evaluate().execute(ctx(store, try_number=2))
    aep.create.assert_not_called()
    assert summary["job_id"] == "job-0"
    assert JOB_KEY not in store.kept


def test_a_retry_after_a_failed_job_starts_a_new_one(aep):
    store = StateStore({JOB_KEY: {"segments": ["a", "b"], "job_id": "job-0", "try": 1}})
    aep.get.side_effect = [job("FAILED", "job-0"), job()]
    assert evaluate().execute(ctx(store, try_number=2))["job_id"] == "job-1"
    aep.create.assert_called_once()


def test_a_rescheduled_look_of_the_same_try_reports_the_jobs_failure(aep):
    store = StateStore({JOB_KEY: {"segments": ["a", "b"], "job_id": "job-0", "try": 3}})
    aep.get.return_value = job("FAILED", "job-0", errors=[{"code": "X", "message": "no"}])
    with pytest.raises(AEPSegmentJobFailed, match="job-0"):
        evaluate().execute(ctx(store, try_number=3))
    aep.create.assert_not_called()


def test_a_job_kept_for_other_audiences_is_not_this_one(aep):
    store = StateStore({JOB_KEY: {"segments": ["z"], "job_id": "job-z", "try": 1}})
    evaluate().execute(ctx(store))
    aep.create.assert_called_once()


def test_reschedule_mode_keeps_the_job_between_looks(aep, mocker):
    from airflow.exceptions import AirflowRescheduleException  # where every Airflow 3 line has it

    store = StateStore()
    aep.get.return_value = job("PROCESSING")
    ti = TI()
    ti.get_first_reschedule_date = mocker.Mock(return_value=None)
    context = {"ti": ti, "task_state_store": store, "dag_run": None}
    op = evaluate(mode="reschedule")
    with pytest.raises(AirflowRescheduleException):
        op.execute(context)
    assert store.kept[JOB_KEY]["job_id"] == "job-1"
    aep.get.return_value = job()
    assert evaluate(mode="reschedule").execute(context)["status"] == "SUCCEEDED"
    aep.create.assert_called_once()  # the second look found the job again


def test_reschedule_without_a_task_state_store_is_refused(aep):
    with pytest.raises(AEPValidationError, match="reschedule needs the task state store"):
        evaluate(mode="reschedule").execute(ctx(None))
    aep.create.assert_not_called()


def test_a_lost_create_adopts_the_job_it_started(aep):
    aep.create.side_effect = AEPAmbiguousWriteError(
        "POST", "/segment/jobs", "ReadTimeout", still_running=True
    )
    aep.since.return_value = [job("PROCESSING", "job-7")]
    aep.get.return_value = job(job_id="job-7")
    assert evaluate().execute(ctx(StateStore()))["job_id"] == "job-7"
    aep.create.assert_called_once()


def test_a_retry_after_a_lost_answer_looks_before_asking_again(aep):
    store = StateStore({JOB_KEY: {"segments": ["a", "b"], "asked_at_ms": 5, "try": 1}})
    aep.since.return_value = [job("PROCESSING", "job-9")]
    aep.get.return_value = job(job_id="job-9")
    assert evaluate().execute(ctx(store, try_number=2))["job_id"] == "job-9"
    aep.since.assert_called_once_with(["a", "b"], 5)
    aep.create.assert_not_called()


def test_deferrable_hands_the_wait_to_the_trigger_and_reads_its_events(aep):
    aep.get.return_value = job("PROCESSING")
    op = evaluate(deferrable=True, timeout=600, poke_interval=5)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx(StateStore()))
    trigger = deferred.value.trigger
    assert isinstance(trigger, AEPSegmentJobTrigger)
    assert (trigger.job_id, trigger.poll_interval) == ("job-1", 5.0)
    assert deferred.value.kwargs == {"job_id": "job-1"}
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("AEPSegmentJobTrigger")
    assert json.loads(json.dumps(kwargs)) == kwargs
    summary = {"job_id": "job-1", "status": "SUCCEEDED", "segments": [], "total_profiles": 1}
    assert op.execute_complete(ctx(), {"status": "succeeded", "summary": summary}, job_id="job-1") == summary
    with pytest.raises(AEPSegmentJobFailed, match="job-1 ended FAILED: X: no"):
        op.execute_complete(
            ctx(), {"status": "failed", "summary": {"status": "FAILED"}, "message": "X: no"}, "job-1"
        )
    with pytest.raises(AirflowSensorTimeout, match="cancelled"):
        op.execute_complete(ctx(), {"status": "timeout", "message": "still PROCESSING"}, job_id="job-1")
    aep.cancel.assert_called_once_with("job-1")
    with pytest.raises(Exception, match="boom"):
        op.execute_complete(ctx(), {"status": "error", "message": "boom"}, job_id="job-1")


def test_deferrable_with_a_job_already_over_does_not_defer(aep):
    aep.get.return_value = job()
    assert evaluate(deferrable=True).execute(ctx())["status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"mode": "wait"}, "mode"), ({"poke_interval": 0}, "poke_interval"), ({"timeout": -1}, "timeout")],
)
def test_wait_settings_are_checked_at_parse_time(kwargs, field):
    with pytest.raises(AEPValidationError, match=field):
        evaluate(**kwargs)
