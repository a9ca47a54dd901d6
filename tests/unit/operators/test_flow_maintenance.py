"""Credential rotation, connection updates, on-demand and re-triggered runs, disabled flows: no network."""

from __future__ import annotations

import json
import time

import pytest
import requests
from airflow.providers.common.compat.sdk import AirflowFailException, TaskDeferred

from airflow_provider_aep.catalog import get_destination
from airflow_provider_aep.exceptions import AEPError, AEPValidationError
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.operators.runs import AEPRetriggerDataflowRunOperator, AEPStartDataflowRunOperator
from airflow_provider_aep.operators.updates import (
    AEPUpdateBaseConnectionOperator,
    AEPUpdateSourceConnectionOperator,
    AEPUpdateTargetConnectionOperator,
)
from airflow_provider_aep.payloads.patch import changed_params, pointer
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor
from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger
from airflow_provider_aep.utils.runs import summarize_run
from tests.unit.fake_http import response

S3 = get_destination("amazon_s3").connection_spec_id
DATASET_A, DATASET_B = "a" * 24, "b" * 24


class StateStore:
    """The part of Airflow's ``task_state_store`` the sensor uses."""

    def __init__(self):
        self.kept = {}

    def get(self, key):
        return self.kept.get(key)

    def set(self, key, value):
        self.kept[key] = json.loads(json.dumps(value))

    def delete(self, key):
        self.kept.pop(key, None)


class FakeTI:
    def __init__(self):
        self.pushed = {}

    def xcom_push(self, key, value):
        self.pushed[key] = value


def ctx(store=None):
    return {"ti": FakeTI(), "task_state_store": store, "dag_run": None}


def sent_patches(fake):
    return [(c.flow_path, c.headers.get("If-Match"), c.json) for c in fake.api_calls if c.method == "PATCH"]


# -- JSON Patch of params ---------------------------------------------------------------------------------


def test_pointers_escape_tilde_and_slash():
    assert pointer("auth", "params", "a/b~c") == "/auth/params/a~1b~0c"


def test_changed_params_send_what_differs_and_every_hidden_secret():
    current = {"accessKeyId": "OLD", "secretKey": "***", "region": "us-east-1"}
    wanted = {"accessKeyId": "NEW", "secretKey": "s3cr3t-new", "region": "us-east-1", "extra": 1}
    assert changed_params(current, wanted, "auth", "params") == [
        {"op": "replace", "path": "/auth/params/accessKeyId", "value": "NEW"},
        {"op": "replace", "path": "/auth/params/secretKey", "value": "s3cr3t-new"},
        {"op": "add", "path": "/auth/params/extra", "value": 1},
    ]


# -- rotating a base connection's credentials ------------------------------------------------------------


def base_connection(access_key="AKIAOLDOLDOLDOLDOLD2", etag='"c-1"'):
    return {
        "id": "conn-1",
        "etag": etag,
        "connectionSpec": {"id": S3, "version": "1.0"},
        "auth": {"specName": "Access Key", "params": {"s3AccessKey": access_key, "s3SecretKey": "***"}},
    }


def test_rotation_patches_the_new_keys_with_if_match_and_logs_no_secret(hook, fake, mocker):
    fake.queue = [response(200, base_connection()), response(200, {"id": "conn-1", "etag": '"c-2"'})]
    op = AEPUpdateBaseConnectionOperator(
        task_id="rotate", base_connection_id="conn-1", destination="amazon_s3",
        auth_params={"s3AccessKey": "AKIANEWNEWNEWNEWNEW3", "s3SecretKey": "n3wS3cretValue0123456789abcdefghijklmnop"},
    )  # fmt: skip
    info = mocker.spy(op.log, "info")
    context = ctx()
    started_ms = int(time.time() * 1000)
    assert op.execute(context) == "conn-1"
    assert sent_patches(fake) == [
        (
            "/connections/conn-1",
            '"c-1"',
            [
                {"op": "replace", "path": "/auth/params/s3AccessKey", "value": "AKIANEWNEWNEWNEWNEW3"},
                {
                    "op": "replace",
                    "path": "/auth/params/s3SecretKey",
                    "value": "n3wS3cretValue0123456789abcdefghijklmnop",
                },
            ],
        )
    ]
    assert context["ti"].pushed["etag"] == '"c-2"'
    assert context["ti"].pushed["updated_at"] >= started_ms
    assert "n3wS3cretValue0123456789abcdefghijklmnop" not in str(info.call_args_list)
    assert "/auth/params/s3SecretKey" in str(info.call_args_list)


def test_rotation_rereads_after_a_412_and_sends_with_the_fresh_etag(hook, fake):
    fake.queue = [
        response(200, base_connection(etag='"c-1"')),
        response(412, {"title": "Precondition Failed"}),
        response(200, base_connection(etag='"c-7"')),
        response(200, {"id": "conn-1", "etag": '"c-8"'}),
    ]
    AEPUpdateBaseConnectionOperator(
        task_id="rotate", base_connection_id="conn-1", destination="amazon_s3",
        auth_params={"s3AccessKey": "AKIANEWNEWNEWNEWNEW3", "s3SecretKey": "n3wS3cretValue0123456789abcdefghijklmnop"},
    ).execute(ctx())  # fmt: skip
    assert [etag for _, etag, _ in sent_patches(fake)] == ['"c-1"', '"c-7"']


def test_rotation_of_a_connection_of_another_destination_changes_nothing(hook, fake):
    other = base_connection() | {"connectionSpec": {"id": get_destination("sftp").connection_spec_id}}
    fake.queue = [response(200, other)]
    with pytest.raises(AEPError, match="not the one of destination 'amazon_s3'"):
        AEPUpdateBaseConnectionOperator(
            task_id="rotate", base_connection_id="conn-1", destination="amazon_s3",
            auth_params={"s3AccessKey": "AKIANEWNEWNEWNEWNEW3", "s3SecretKey": "n3wS3cretValue0123456789abcdefghijklmnop"},
        ).execute(ctx())  # fmt: skip
    assert sent_patches(fake) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"auth_params": {}}, "auth_params"),
        ({"auth_params": {"s3AccessKey": "A", "s3SecretKey": "B", "bogus": 1}}, "auth_params"),
        ({"base_connection_id": "x/../y"}, "base_connection_id"),
        ({"destination": "dropbox"}, "destination"),
    ],
)
def test_rotation_refuses_bad_input_when_the_dag_is_parsed(kwargs, field):
    arguments = {
        "base_connection_id": "conn-1",
        "destination": "amazon_s3",
        "auth_params": {
            "s3AccessKey": "AKIANEWNEWNEWNEWNEW3",
            "s3SecretKey": "n3wS3cretValue0123456789abcdefghijklmnop",
        },
    } | kwargs
    with pytest.raises(AEPValidationError) as err:
        AEPUpdateBaseConnectionOperator(task_id="rotate", **arguments)
    assert err.value.field == field


# -- target and source connections -----------------------------------------------------------------------


def target_connection(path="exports", etag='"t-1"'):
    return {
        "id": "target-1",
        "etag": etag,
        "connectionSpec": {"id": S3, "version": "1.0"},
        "params": {
            "mode": "Server-to-server", "bucketName": "bucket", "path": path,
            "datasetFileType": "JSON", "compression": "GZIP",
        },
    }  # fmt: skip


def test_a_new_path_is_sent_alone_and_an_unchanged_one_not_at_all(hook, fake):
    fake.queue = [response(200, target_connection()), response(200, {"id": "target-1", "etag": '"t-2"'})]
    op = AEPUpdateTargetConnectionOperator(
        task_id="move", target_connection_id="target-1", location={"path": "v2"}
    )
    op.execute(ctx())
    assert sent_patches(fake) == [
        ("/targetConnections/target-1", '"t-1"', [{"op": "replace", "path": "/params/path", "value": "v2"}])
    ]
    fake.queue = [response(200, target_connection(path="v2", etag='"t-2"'))]
    op.execute(ctx())
    assert len(sent_patches(fake)) == 1


def test_a_target_change_that_breaks_the_spec_is_refused_before_the_patch(hook, fake):
    fake.queue = [response(200, target_connection())]
    with pytest.raises(AEPValidationError, match="compression"):
        AEPUpdateTargetConnectionOperator(
            task_id="move", target_connection_id="target-1", compression="NONE"
        ).execute(ctx())  # JSON exports must stay compressed
    assert sent_patches(fake) == []


def source_connection(*dataset_ids, etag='"s-1"'):
    return {"id": "src-1", "etag": etag, "params": {"datasets": [{"dataSetId": d} for d in dataset_ids]}}


def test_datasets_are_added_and_removed_with_one_replace_of_the_list(hook, fake):
    fake.queue = [
        response(200, source_connection(DATASET_A)),
        response(200, {"id": "src-1", "etag": '"s-2"'}),
    ]
    op = AEPUpdateSourceConnectionOperator(
        task_id="datasets",
        source_connection_id="src-1",
        add_datasets=[DATASET_B],
        remove_datasets=[DATASET_A],
    )
    assert op.execute(ctx()) == [DATASET_B]
    assert sent_patches(fake) == [
        (
            "/sourceConnections/src-1",
            '"s-1"',
            [{"op": "replace", "path": "/params/datasets", "value": [{"dataSetId": DATASET_B}]}],
        )
    ]


def test_removing_the_last_dataset_is_refused_and_nothing_is_sent(hook, fake):
    fake.queue = [response(200, source_connection(DATASET_A))]
    with pytest.raises(AEPError, match="would leave no dataset"):
        AEPUpdateSourceConnectionOperator(
            task_id="datasets", source_connection_id="src-1", remove_datasets=[DATASET_A]
        ).execute(ctx())
    assert sent_patches(fake) == []


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({}, "add_datasets"),
        ({"add_datasets": DATASET_A}, "add_datasets"),
        ({"add_datasets": ["not-a-dataset"]}, "add_datasets"),
        ({"add_datasets": [DATASET_A], "remove_datasets": [DATASET_A]}, "remove_datasets"),
    ],
)
def test_dataset_changes_are_checked_when_the_dag_is_parsed(kwargs, field):
    with pytest.raises(AEPValidationError) as err:
        AEPUpdateSourceConnectionOperator(task_id="datasets", source_connection_id="src-1", **kwargs)
    assert err.value.field == field


# -- on-demand runs ----------------------------------------------------------------------------------------


def flow(export_mode="DAILY_FULL_EXPORT", interval=0, state="enabled"):
    return {
        "id": "f-1",
        "state": state,
        "scheduleParams": {"exportMode": export_mode, "timeUnit": "day", "interval": interval},
    }


def test_a_one_time_flow_gets_a_run_and_its_id_is_returned(hook, fake):
    fake.queue = [response(200, flow()), response(201, {"id": "run-9", "etag": '"r-1"'})]
    op = AEPStartDataflowRunOperator(task_id="run", flow_id="f-1", start_time=1_700_000_000_000)
    assert op.execute(ctx()) == "run-9"
    post = fake.api_calls[-1]
    assert (post.method, post.flow_path, post.json) == (
        "POST", "/runs", {"flowId": "f-1", "params": {"startTime": 1_700_000_000_000}},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (flow("FIRST_FULL_THEN_INCREMENTAL", 1), "only for flows scheduled for one-time runs"),
        (flow(state="disabled"), "is disabled"),
    ],
)
def test_a_flow_that_cannot_take_a_run_is_refused_before_the_post(hook, fake, answer, message):
    fake.queue = [response(200, answer)]
    with pytest.raises(AEPError, match=message):
        AEPStartDataflowRunOperator(task_id="run", flow_id="f-1").execute(ctx())
    assert [c.method for c in fake.api_calls] == ["GET"]


def test_a_lost_answer_adopts_the_run_it_started_instead_of_starting_another(hook, fake):
    started = {"id": "run-9", "flowId": "f-1", "createdAt": 9_999_999_999_999}
    fake.queue = [requests.ReadTimeout("lost"), response(200, {"items": [started]})]
    assert hook.start_run("f-1") == {"id": "run-9", "etag": None}
    assert [c.method for c in fake.api_calls] == ["POST", "GET"]


def test_a_lost_answer_with_no_run_found_says_so_and_does_not_post_again(hook, fake):
    fake.queue = [requests.ReadTimeout("lost"), response(200, {"items": []})]
    with pytest.raises(AEPError, match="started since: 0"):
        hook.start_run("f-1")
    assert [c.method for c in fake.api_calls] == ["POST", "GET"]


@pytest.mark.parametrize("start_time", [1_700_000_000, "soon", True])
def test_the_start_time_is_checked_when_the_dag_is_parsed(start_time):
    with pytest.raises(AEPValidationError, match="start_time"):
        AEPStartDataflowRunOperator(task_id="run", flow_id="f-1", start_time=start_time)


# -- re-triggering a failed run ----------------------------------------------------------------------------


def aep_run(status, errors=(), run_id="run-1", completed=None):
    duration = {"startedAtUTC": 1_700_000_000_000}
    if completed:
        duration["completedAtUTC"] = completed
    return {
        "id": run_id,
        "flowId": "f-1",
        "metrics": {
            "durationSummary": duration,
            "statusSummary": {"status": status, "errors": list(errors)},
            "recordSummary": {"inputRecordCount": 5, "outputRecordCount": 5},
        },
    }


def test_only_a_failed_run_is_retriggered(hook, fake):
    fake.queue = [response(200, aep_run("failed")), response(200, aep_run("inProgress"))]
    assert AEPRetriggerDataflowRunOperator(task_id="again", run_id="run-1").execute(ctx()) == "run-1"
    post = fake.api_calls[-1]
    assert (post.method, post.flow_path, post.params) == ("POST", "/runs/run-1/action", {"op": "RE_TRIGGER"})
    fake.queue = [response(200, aep_run("success"))]
    with pytest.raises(AEPError, match="only a failed run can be re-triggered"):
        AEPRetriggerDataflowRunOperator(task_id="again", run_id="run-1").execute(ctx())


def test_a_lost_retrigger_answer_reads_the_run_instead_of_sending_again(hook, fake):
    fake.queue = [requests.ReadTimeout("lost"), response(200, aep_run("inProgress"))]
    assert hook.retrigger_run("run-1")["id"] == "run-1"
    assert [c.method for c in fake.api_calls] == ["POST", "GET"]


# -- the sensor re-triggers failed runs ----------------------------------------------------------------------


@pytest.fixture
def aep_runs(mocker, aep_conn):
    """The run AEP shows for each poke, and the re-triggers the sensor sent."""
    state = {"runs": [], "retriggered": [], "flow": {"id": "f-1", "state": "enabled"}}
    mocker.patch.object(AEPHook, "get_run", side_effect=lambda run_id: state["runs"].pop(0))
    mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter([state["runs"].pop(0)]))
    mocker.patch.object(AEPHook, "get_flow", side_effect=lambda flow_id: state["flow"])
    mocker.patch.object(
        AEPHook,
        "retrigger_run",
        side_effect=lambda run_id, *statuses: state["retriggered"].append(run_id) or {},
    )
    return state


FAILED = aep_run("failed", [{"code": "CONNECTOR-2001-500", "message": "upload refused"}])


def test_a_failed_run_is_retriggered_and_the_summary_counts_the_attempts(aep_runs, mocker):
    aep_runs["runs"] = [FAILED, aep_run("inProgress"), aep_run("success")]
    sensor = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", run_id="run-1", retrigger_failed=2)
    warning = mocker.spy(sensor.log, "warning")
    context = ctx(StateStore())
    assert sensor.poke(context).is_done is False
    assert aep_runs["retriggered"] == ["run-1"]
    assert "CONNECTOR-2001-500: upload refused" in str(warning.call_args_list)
    assert sensor.poke(context).is_done is False
    done = sensor.poke(context)
    assert done.is_done is True
    assert done.xcom_value["attempts"] == 2


def test_retriggers_stop_at_the_limit_even_across_fresh_sensor_instances(aep_runs):
    # Reschedule mode and task retries build a new sensor for each poke: the store keeps the count.
    store = StateStore()
    aep_runs["runs"] = [FAILED, FAILED, FAILED]
    for _ in range(2):
        fresh = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", retrigger_failed=2)
        assert fresh.poke(ctx(store)).is_done is False
    with pytest.raises(AirflowFailException, match="CONNECTOR-2001-500"):
        AEPDataflowRunSensor(task_id="wait", flow_id="f-1", retrigger_failed=2).poke(ctx(store))
    assert aep_runs["retriggered"] == ["run-1", "run-1"]


def test_without_retriggers_a_failed_run_fails_at_once(aep_runs):
    aep_runs["runs"] = [FAILED]
    with pytest.raises(AirflowFailException):
        AEPDataflowRunSensor(task_id="wait", flow_id="f-1").poke(ctx())
    assert aep_runs["retriggered"] == []


def test_deferred_sensor_retriggers_then_waits_again_for_the_same_run_within_one_deadline(aep_runs):
    def failed(completed):
        summary = {"run_id": "run-1", "status": "failed", "errors": [], "completed_at": completed}
        return {"status": "failed", "summary": summary}

    deadline = time.time() + 600
    kwargs = {"deadline": deadline}
    for attempt, completed in enumerate(["2026-01-01T00:00:00+00:00", "2026-01-01T01:00:00+00:00"], 1):
        # Each time back from the triggerer on a fresh sensor, with what the deferral carried.
        sensor = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", retrigger_failed=2, deferrable=True)
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute_complete(ctx(), failed(completed), **kwargs)
        kwargs = deferred.value.kwargs
        trigger = deferred.value.trigger
        assert (trigger.run_id, trigger.deadline, trigger.stale_failed_at) == ("run-1", deadline, completed)
        assert kwargs["deadline"] == deadline
        assert kwargs["retriggered"]["count"] == attempt
    assert aep_runs["retriggered"] == ["run-1", "run-1"]
    # No attempt left: the third failure fails the task.
    last = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", retrigger_failed=2, deferrable=True)
    with pytest.raises(AirflowFailException):
        last.execute_complete(ctx(), failed("2026-01-01T02:00:00+00:00"), **kwargs)
    assert aep_runs["retriggered"] == ["run-1", "run-1"]


def test_reschedule_mode_without_a_state_store_refuses_retriggers(aep_runs):
    sensor = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", retrigger_failed=1, mode="reschedule")
    with pytest.raises(AEPValidationError, match="retrigger_failed"):
        sensor.execute(ctx(store=None))


@pytest.mark.parametrize("value", [-1, 11, True, "2", 1.5])
def test_retrigger_failed_is_checked_when_the_dag_is_parsed(value):
    with pytest.raises(AEPValidationError, match="retrigger_failed"):
        AEPDataflowRunSensor(task_id="wait", flow_id="f-1", retrigger_failed=value)


# -- a disabled flow fails the wait at once ---------------------------------------------------------------------


def test_a_disabled_flow_with_no_run_fails_the_sensor_without_retries(aep_runs, mocker):
    mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter([]))
    aep_runs["flow"] = {"id": "f-1", "state": "disabled"}
    with pytest.raises(AirflowFailException, match="Dataflow f-1 is disabled, so no run will start"):
        AEPDataflowRunSensor(task_id="wait", flow_id="f-1").poke(ctx())


def test_the_trigger_ends_the_wait_for_a_disabled_flow(mocker):
    from tests.unit.triggers.test_dataflow_run import FakeClient, events

    client = FakeClient([[]], flow_state="disabled")
    [event] = events(AEPDataflowRunTrigger(flow_id="f-1", poll_interval=0.01), client, mocker)
    assert event.payload == {"status": "disabled", "flow_id": "f-1", "message": "dataflow f-1 is disabled"}


def test_the_trigger_reads_the_flow_only_every_few_polls_while_no_run_is_there(mocker):
    from tests.unit.sensors.test_dataflow_run import run
    from tests.unit.triggers.test_dataflow_run import FakeClient, events

    client = FakeClient([[], [], [], [], [], [], [run()]])
    [event] = events(AEPDataflowRunTrigger(flow_id="f-1", poll_interval=0.01), client, mocker)
    assert event.payload["status"] == "success"
    assert client.flow_reads == 2  # polls 1 and 6 of the six without a run


def test_a_finished_start_leaves_no_record_so_a_cleared_task_starts_a_new_run(hook, fake):
    store = StateStore()
    fake.queue = [response(200, flow()), response(201, {"id": "run-9", "etag": '"r-1"'})]
    assert AEPStartDataflowRunOperator(task_id="run", flow_id="f-1").execute(ctx(store)) == "run-9"
    assert store.kept == {}


def test_a_retried_retrigger_does_not_fail_on_the_run_it_already_restarted(hook, fake):
    store = StateStore()
    store.set("aep_run_requested", {"what": "retrigger run-1"})  # the worker died after asking
    fake.queue = [response(200, aep_run("inProgress"))]
    assert AEPRetriggerDataflowRunOperator(task_id="again", run_id="run-1").execute(ctx(store)) == "run-1"
    assert [c.method for c in fake.api_calls] == ["GET"]
    assert store.kept == {}


def test_a_poking_sensor_reads_the_flow_only_every_few_pokes_while_no_run_is_there(aep_runs, mocker):
    mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter([]))
    flow_reads = mocker.patch.object(AEPHook, "get_flow", return_value={"id": "f-1", "state": "enabled"})
    sensor = AEPDataflowRunSensor(task_id="wait", flow_id="f-1")
    for _ in range(6):
        assert sensor.poke(ctx()).is_done is False
    assert flow_reads.call_count == 2  # pokes 1 and 6


def test_the_failure_a_retrigger_answered_is_not_taken_for_a_new_one(aep_runs):
    # AEP may show the old failure for a moment after RE_TRIGGER: that is no reason to fail or
    # to re-trigger again; a new failure (a later end) is.
    first = aep_run("failed", completed=1_700_000_100_000)
    second = aep_run("failed", completed=1_700_000_200_000)
    aep_runs["runs"] = [first, first, second, aep_run("success")]
    store = StateStore()
    sensor = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", run_id="run-1", retrigger_failed=2)
    assert [sensor.poke(ctx(store)).is_done for _ in range(4)] == [False, False, False, True]
    assert aep_runs["retriggered"] == ["run-1", "run-1"]


def test_the_retrigger_record_is_removed_when_the_wait_ends_so_a_cleared_task_starts_afresh(aep_runs):
    store = StateStore()
    aep_runs["runs"] = [FAILED, aep_run("success")]
    sensor = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", run_id="run-1", retrigger_failed=1)
    sensor.poke(ctx(store))
    assert store.kept["aep_retriggered"]["count"] == 1
    assert sensor.poke(ctx(store)).xcom_value["attempts"] == 2
    assert store.kept == {}


def test_a_record_made_for_another_since_is_not_this_waits(aep_runs):
    store = StateStore()
    store.set("aep_retriggered", {"run_id": "run-1", "count": 1, "since_ms": 1, "failed_at": None})
    aep_runs["runs"] = [FAILED]
    sensor = AEPDataflowRunSensor(task_id="wait", flow_id="f-1", since=1_700_000_000_000, retrigger_failed=1)
    assert sensor.poke(ctx(store)).is_done is False  # re-triggered: the old record is not counted
    assert aep_runs["retriggered"] == ["run-1"]


def test_nested_values_are_compared_not_hashed():
    current = {"keyFile": {"type": "service_account"}, "secret": "***"}
    wanted = {"keyFile": {"type": "service_account"}, "secret": "new"}
    assert changed_params(current, wanted, "auth", "params") == [
        {"op": "replace", "path": "/auth/params/secret", "value": "new"}
    ]


def test_a_retrigger_refused_because_a_rival_was_first_counts_as_done(hook, fake):
    fake.queue = [response(400, {"title": "Run is not failed"}), response(200, aep_run("inProgress"))]
    assert hook.retrigger_run("run-1")["id"] == "run-1"
    fake.queue = [response(400, {"title": "Run is not failed"}), response(200, aep_run("failed"))]
    with pytest.raises(AEPError):
        hook.retrigger_run("run-1")


def test_a_start_whose_worker_died_after_asking_adopts_the_run_instead_of_asking_again(hook, fake):
    store = StateStore()
    store.set("aep_run_requested", {"what": "start f-1", "asked_at_ms": 1_700_000_000_000})
    fake.queue = [
        response(200, {"items": [{"id": "run-7", "flowId": "f-1", "createdAt": 1_700_000_000_500}]})
    ]
    assert AEPStartDataflowRunOperator(task_id="run", flow_id="f-1").execute(ctx(store)) == "run-7"
    assert [c.method for c in fake.api_calls] == ["GET"]
    assert store.kept == {}


def test_the_trigger_waits_past_the_failure_a_retrigger_answered(mocker):
    from tests.unit.sensors.test_dataflow_run import run
    from tests.unit.triggers.test_dataflow_run import FakeClient, events

    old_failure = run(status="failed")
    client = FakeClient([[old_failure], [run()]])
    trigger = AEPDataflowRunTrigger(
        flow_id="f-1", poll_interval=0.01,
        stale_failed_at=summarize_run(old_failure)["completed_at"],
    )  # fmt: skip
    [event] = events(trigger, client, mocker)
    assert event.payload["status"] == "success"
    assert trigger.serialize()[1]["stale_failed_at"] == summarize_run(old_failure)["completed_at"]
