"""Dataflows by name (``flow_name``), and ids a template rendered to ``None``, refused before any request."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred

from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.operators.connections import AEPCreateTargetConnectionOperator
from airflow_provider_aep.operators.dataflows import AEPUpdateDataflowOperator
from airflow_provider_aep.operators.runs import AEPRetriggerDataflowRunOperator, AEPStartDataflowRunOperator
from airflow_provider_aep.operators.updates import AEPUpdateTargetConnectionOperator
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor
from airflow_provider_aep.tasks.flow_ref import RESOLVED_KEY
from airflow_provider_aep.utils.runs import summarize_run
from tests.unit.fake_http import response

FLOWS = [
    {"id": "f-1", "name": "Daily export"},
    {"id": "f-2", "name": "daily export"},  # AEP's filter ignores case: only the exact name counts
    {"id": "f-3", "name": "Weekly export"},
    {"id": "f-4", "name": "Twin"},
    {"id": "f-5", "name": "Twin"},
    {"id": "f-6", "name": "a,b"},
    {"id": "f-7", "name": "a"},
]


def flow_service(call):
    """``GET /flows`` with AEP's ``property`` filter: case-insensitive, a comma means "or"."""
    assert (call.method, call.flow_path) == ("GET", "/flows")
    wanted = [p.split("==", 1)[1] for k, p in call.params if k == "property" and p.startswith("name==")]
    items = [f for f in FLOWS if not wanted or f["name"].lower() in {w.lower() for w in wanted[0].split(",")}]
    return response(200, {"items": items})


def flow_calls(fake):
    return [c for c in fake.calls if "/flowservice/" in c.url]


@pytest.fixture
def named(fake):
    fake.default = flow_service
    return fake


def test_a_name_is_asked_of_aep_and_matched_exactly(named, hook):
    assert hook.find_flow_by_name("Daily export")["id"] == "f-1"
    [call] = flow_calls(named)
    assert ("property", "name==Daily export") in call.params


def test_no_flow_with_the_name_says_so_and_lists_close_names(named, hook):
    with pytest.raises(AEPValidationError) as err:
        hook.find_flow_by_name("Daily exprt")
    assert err.value.field == "flow_name"
    assert "none has it" in str(err.value)
    assert "did you mean 'Daily export'" in str(err.value)
    assert "sandbox 'prod'" in str(err.value)


def test_several_flows_with_the_name_list_their_ids(named, hook):
    with pytest.raises(AEPValidationError, match=r"2 in sandbox 'prod' have it \(f-4, f-5\); pass flow_id"):
        hook.find_flow_by_name("Twin")


def test_a_name_the_filter_cannot_express_is_found_in_the_whole_listing(named, hook):
    # AEP reads the comma as "or" (flows named "a" or "b"): the exact name is not among them.
    assert hook.find_flow_by_name("a,b")["id"] == "f-6"
    filters = [[p for k, p in c.params if k == "property"] for c in flow_calls(named)]
    assert filters == [["name==a,b"], []]


def test_a_name_found_at_once_costs_one_request(named, hook):
    hook.find_flow_by_name("Weekly export")
    assert len(flow_calls(named)) == 1


# -- the sensor and the operators take flow_name ----------------------------------------------------


def success(run_id="r-1", flow_id="f-9"):
    started = 1_700_000_000_000
    return {
        "id": run_id,
        "flowId": flow_id,
        "metrics": {
            "durationSummary": {"startedAtUTC": started, "completedAtUTC": started + 1000},
            "statusSummary": {"status": "success", "errors": []},
            "recordSummary": {"inputRecordCount": 1, "outputRecordCount": 1},
        },
    }


class FakeDagRun:
    start_date = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture
def by_name(mocker, aep_conn):
    return mocker.patch.object(AEPHook, "find_flow_by_name", return_value={"id": "f-9", "name": "Nightly"})


def test_the_sensor_waits_on_the_flow_the_name_resolved_to(by_name, mocker):
    listing = mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter([success()]))
    sensor = AEPDataflowRunSensor(task_id="wait", flow_name="Nightly", deferrable=False)
    assert sensor.execute({"dag_run": FakeDagRun()})["run_id"] == "r-1"
    by_name.assert_called_once_with("Nightly")
    assert listing.call_args.kwargs["properties"][0] == "flowId==f-9"


def test_the_deferred_sensor_hands_the_resolved_id_to_the_trigger_and_back(by_name, mocker):
    mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter([]))
    mocker.patch.object(AEPHook, "get_flow", return_value={"id": "f-9", "state": "enabled"})
    sensor = AEPDataflowRunSensor(task_id="wait", flow_name="Nightly", deferrable=True, timeout=60)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"dag_run": FakeDagRun()})
    assert deferred.value.trigger.flow_id == "f-9"
    assert deferred.value.kwargs["flow_id"] == "f-9"
    # Back from the triggerer in a fresh task instance: the carried id, no second lookup.
    fresh = AEPDataflowRunSensor(task_id="wait", flow_name="Nightly", deferrable=True)
    event = {"status": "success", "summary": summarize_run(success())}
    summary = fresh.execute_complete(
        {"dag_run": FakeDagRun()}, event, deadline=time.time() + 60, flow_id="f-9"
    )
    assert summary["run_id"] == "r-1"
    assert fresh.flow_id == "f-9"
    assert by_name.call_count == 1


def test_the_run_is_started_on_the_flow_the_name_resolved_to(by_name, mocker):
    mocker.patch.object(
        AEPHook,
        "get_flow",
        return_value={"id": "f-9", "scheduleParams": {"exportMode": "DAILY_FULL_EXPORT", "interval": 0}},
    )
    start_run = mocker.patch.object(AEPHook, "start_run", return_value={"id": "r-5"})
    op = AEPStartDataflowRunOperator(task_id="run", flow_name="Nightly")
    assert op.execute({"ti": mocker.MagicMock(), "task_state_store": None}) == "r-5"
    start_run.assert_called_once_with("f-9", None)


def test_the_update_changes_the_flow_the_name_resolved_to(by_name, mocker):
    get_flow = mocker.patch.object(
        AEPHook, "get_flow", return_value={"id": "f-9", "name": "Nightly", "state": "enabled", "etag": '"1"'}
    )
    mocker.patch.object(
        AEPHook,
        "update_entity",
        side_effect=lambda kind, flow_id, plan, current, etag: {
            "operations": plan(current), "patched": True, "entity": current, "etag": '"2"',
        },
    )  # fmt: skip
    op = AEPUpdateDataflowOperator(task_id="rename", flow_name="Nightly", name="Nightly v2")
    assert op.execute({"ti": mocker.MagicMock(), "task_state_store": None}) == "f-9"
    get_flow.assert_called_once_with("f-9")


def test_the_retrigger_takes_the_newest_run_of_the_named_flow(by_name, mocker):
    failed = {**success("r-8"), "metrics": {"statusSummary": {"status": "failed"}}}
    iter_runs = mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter([failed]))
    mocker.patch.object(AEPHook, "get_run", return_value=failed)
    again = mocker.patch.object(AEPHook, "retrigger_run", return_value=failed)
    op = AEPRetriggerDataflowRunOperator(task_id="again", flow_name="Nightly")
    assert op.execute({"ti": mocker.MagicMock(), "task_state_store": None}) == "r-8"
    assert iter_runs.call_args.args[0] == "f-9"
    assert iter_runs.call_args.kwargs["orderby"] == "-createdAt"
    assert again.call_args.args[0] == "r-8"


class StateStore(dict):
    """The part of Airflow's ``task_state_store`` the tasks use."""

    def set(self, key, value):
        self[key] = value

    def delete(self, key):
        self.pop(key, None)


def test_a_retry_uses_the_id_the_name_resolved_to_even_after_a_rename(by_name, mocker):
    mocker.patch.object(
        AEPHook, "get_flow", return_value={"id": "f-9", "name": "Nightly", "state": "enabled"}
    )
    mocker.patch.object(
        AEPHook, "update_entity", side_effect=RuntimeError("the worker was lost after the PATCH landed")
    )
    store = StateStore()
    context = {"ti": mocker.MagicMock(), "task_state_store": store}
    with pytest.raises(RuntimeError):
        AEPUpdateDataflowOperator(task_id="rename", flow_name="Nightly", name="Nightly v2").execute(context)
    assert store[RESOLVED_KEY] == {"flow_name": "Nightly", "flow_id": "f-9"}
    # The retry: "Nightly" is now called "Nightly v2", and is not looked up again.
    by_name.side_effect = AssertionError("looked up by name again")
    mocker.patch.object(
        AEPHook,
        "update_entity",
        side_effect=lambda kind, flow_id, plan, current, etag: {
            "operations": [], "patched": False, "entity": current, "etag": None,
        },
    )  # fmt: skip
    op = AEPUpdateDataflowOperator(task_id="rename", flow_name="Nightly", name="Nightly v2")
    assert op.execute(context) == "f-9"
    assert by_name.call_count == 1
    assert RESOLVED_KEY not in store  # done: a cleared task looks the name up again


# -- exactly one of flow_id and flow_name, at DAG parse -------------------------------------------

MAKERS = {
    "sensor": lambda **kw: AEPDataflowRunSensor(task_id="t", deferrable=False, **kw),
    "start": lambda **kw: AEPStartDataflowRunOperator(task_id="t", **kw),
    "update": lambda **kw: AEPUpdateDataflowOperator(task_id="t", **kw),
    "retrigger": lambda **kw: AEPRetriggerDataflowRunOperator(task_id="t", **kw),
}


@pytest.mark.parametrize("maker", MAKERS)
def test_both_flow_id_and_flow_name_are_refused_at_parse(maker):
    with pytest.raises(AEPValidationError, match="not both") as err:
        MAKERS[maker](flow_id="f-1", flow_name="Nightly")
    assert err.value.field == "flow_name"


@pytest.mark.parametrize("maker", MAKERS)
def test_neither_is_refused_at_parse(maker):
    with pytest.raises(AEPValidationError, match="flow_name=") as err:
        MAKERS[maker]()
    assert err.value.field in ("flow_id", "run_id")


def test_retrigger_takes_a_run_or_a_flow_not_both():
    with pytest.raises(AEPValidationError, match="None when run_id is given") as err:
        AEPRetriggerDataflowRunOperator(task_id="t", run_id="r-1", flow_name="Nightly")
    assert err.value.field == "flow_name"


@pytest.mark.parametrize("maker", MAKERS)
def test_templated_values_are_checked_once_rendered(maker, aep_conn, mocker):
    op = MAKERS[maker](flow_id="{{ params.f }}", flow_name="{{ params.n }}")  # no refusal at parse
    op.flow_id, op.flow_name = "f-1", "Nightly"
    request = mocker.patch("requests.Session.request")
    with pytest.raises(AEPValidationError, match="not both"):
        op.execute({"ti": mocker.MagicMock(), "task_state_store": None, "dag_run": FakeDagRun()})
    request.assert_not_called()


# -- a template that rendered None -----------------------------------------------------------------


@pytest.mark.parametrize("rendered", ["None", ""])
@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: AEPDataflowRunSensor(task_id="t", flow_id="{{ x }}", deferrable=False), "flow_id"),
        (lambda: AEPStartDataflowRunOperator(task_id="t", flow_id="{{ x }}"), "flow_id"),
        (lambda: AEPUpdateDataflowOperator(task_id="t", flow_id="{{ x }}"), "flow_id"),
        (lambda: AEPRetriggerDataflowRunOperator(task_id="t", run_id="{{ x }}"), "run_id"),
        (lambda: AEPStartDataflowRunOperator(task_id="t", flow_name="{{ x }}"), "flow_name"),
        (
            lambda: AEPUpdateTargetConnectionOperator(task_id="t", target_connection_id="{{ x }}", location={"path": "p"}),
            "target_connection_id",
        ),
        (
            lambda: AEPCreateTargetConnectionOperator(
                task_id="t", destination="amazon_s3", name="n", base_connection_id="{{ x }}",
                location={"bucketName": "acme-bucket", "path": "p"},
            ),
            "base_connection_id",
        ),
    ],
)  # fmt: skip
def test_an_id_a_template_rendered_none_is_refused_before_any_request(
    build, field, rendered, aep_conn, mocker
):
    op = build()
    setattr(op, field, rendered)
    request = mocker.patch("requests.Session.request")
    with pytest.raises(AEPValidationError) as err:
        op.execute({"ti": mocker.MagicMock(), "task_state_store": None, "dag_run": FakeDagRun()})
    assert err.value.field == field
    assert "the template rendered" in str(err.value)
    request.assert_not_called()  # no GET /flows/None


@pytest.mark.parametrize(
    "build",
    [
        lambda: AEPRetriggerDataflowRunOperator(task_id="t", run_id="None"),
        lambda: AEPDataflowRunSensor(task_id="t", flow_id="f-1", run_id="None"),
        lambda: AEPCreateTargetConnectionOperator(
            task_id="t", destination="amazon_s3", name="n", base_connection_id="None",
            location={"bucketName": "acme-bucket", "path": "p"},
        ),
    ],
)  # fmt: skip
def test_the_text_none_written_literally_is_refused_at_parse(build):
    with pytest.raises(AEPValidationError, match="the template rendered None"):
        build()


def test_the_hook_itself_never_sends_a_none_id(fake, hook):
    with pytest.raises(AEPValidationError, match=r"flow_id='None' is not valid: .*rendered None"):
        hook.get_flow("None")
    assert flow_calls(fake) == []
