"""AEPQueryOperator: submit SQL, wait (poke, reschedule, deferrable), cancel on kill or timeout, retry-safe."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout, TaskDeferred

from airflow_provider_aep.exceptions import (
    AEPAmbiguousWriteError,
    AEPError,
    AEPQueryFailed,
    AEPValidationError,
)
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.operators.query import AEPQueryOperator
from airflow_provider_aep.tasks.query_run import QUERY_KEY, _digest
from airflow_provider_aep.triggers.query import AEPQueryTrigger

CTAS = "CREATE TABLE loyalty_gold AS SELECT personID, email FROM loyalty_members WHERE loyaltyPoints > 4000"
NAME = "airflow:adhoc_airflow.build:manual__1"


def query(
    state="SUCCESS",
    query_id="q-1",
    sql=CTAS,
    name=NAME,
    errors=None,
    rows=42,
    created="2026-12-03T08:00:00.000Z",
):
    return {
        "id": query_id,
        "state": state,
        "request": {"dbName": "prod:all", "sql": sql, "name": name},
        "rowCount": rows if state == "SUCCESS" else 0,
        "elapsedTime": 1500,
        "isCTAS": sql.startswith("CREATE"),
        "isInsertInto": sql.startswith("INSERT"),
        "errors": errors or [],
        "created": created,
    }


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
        self.map_index = -1

    def get_first_reschedule_date(self, context):
        return None


class DagRun:
    start_date = datetime(2026, 12, 3, 7, 0, tzinfo=timezone.utc)


def ctx(store=None, try_number=1):
    return {"ti": TI(try_number), "task_state_store": store, "dag_run": DagRun(), "run_id": "manual__1"}


@pytest.fixture
def aep(mocker, aep_conn):
    hook = mocker.MagicMock()
    hook.create = mocker.patch.object(AEPHook, "create_query", return_value=query("SUBMITTED"))
    hook.get = mocker.patch.object(AEPHook, "get_query", return_value=query())
    hook.cancel = mocker.patch.object(AEPHook, "cancel_query", return_value=True)
    hook.named = mocker.patch.object(AEPHook, "queries_named", return_value=[])
    hook.dataset = mocker.patch.object(
        AEPHook, "find_dataset", return_value={"id": "6b0000000000000000000001", "name": "loyalty_gold"}
    )
    mocker.patch("time.sleep")
    return hook


def build(**kwargs):
    kwargs.setdefault("deferrable", False)
    kwargs.setdefault("poke_interval", 1)
    kwargs.setdefault("sql", CTAS)
    return AEPQueryOperator(task_id="build", **kwargs)


def test_submits_the_sql_waits_and_returns_the_rows_and_the_dataset_it_wrote(aep):
    aep.get.side_effect = [query("SUBMITTED"), query("IN_PROGRESS"), query()]
    store = StateStore()
    summary = build(description="Gold members").execute(ctx(store))
    aep.create.assert_called_once_with(
        CTAS, db_name="prod:all", name=NAME, description="Gold members", query_parameters=None
    )
    assert aep.get.call_count == 3
    aep.dataset.assert_called_once_with("loyalty_gold")
    assert summary == {
        "query_id": "q-1",
        "name": NAME,
        "state": "SUCCESS",
        "duration_ms": 1500,
        "rows": 42,
        "is_ctas": True,
        "is_insert_into": False,
        "output_dataset": {"id": "6b0000000000000000000001", "name": "loyalty_gold"},
        "errors": None,
    }
    assert QUERY_KEY not in store.kept  # a cleared task runs the SQL again
    aep.cancel.assert_not_called()


def test_a_select_writes_no_dataset_and_looks_none_up(aep):
    aep.get.return_value = query(sql="SELECT 1")
    summary = build(sql="SELECT 1").execute(ctx())
    assert summary["output_dataset"] is None
    aep.dataset.assert_not_called()


def test_the_sandbox_override_names_the_database(aep):
    build(sandbox_name="dev-2").execute(ctx())
    assert aep.create.call_args.kwargs["db_name"] == "dev-2:all"


def test_query_parameters_are_sent_and_checked_before_any_request(aep):
    build(query_parameters={"min_points": 4000}).execute(ctx())
    assert aep.create.call_args.kwargs["query_parameters"] == {"min_points": 4000}
    op = build(query_parameters="{{ params.p }}")
    op.query_parameters = '{"points": [1, 2]}'  # as rendered without native objects
    with pytest.raises(AEPValidationError, match="query_parameters"):
        op.execute(ctx())
    assert aep.create.call_count == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"sql": "  "}, "sql"),
        ({"mode": "sometimes"}, "mode"),
        ({"poke_interval": 0}, "poke_interval"),
        ({"timeout": -1}, "timeout"),
        ({"deferrable": "yes"}, "deferrable"),
    ],
)
def test_bad_settings_are_refused_at_parse_time(kwargs, field):
    with pytest.raises(AEPValidationError, match=field):
        build(**kwargs)


def test_sql_is_templated_and_read_from_sql_files():
    assert "sql" in AEPQueryOperator.template_fields
    assert ".sql" in AEPQueryOperator.template_ext
    assert AEPQueryOperator.template_fields_renderers["sql"] == "sql"


def test_a_failed_query_fails_the_task_with_the_sql_error_and_its_position(aep):
    error = {"code": "42601", "message": 'syntax error at or near "FORM"', "position": 17}
    aep.get.return_value = query("FAILED", errors=[error])
    store = StateStore()
    with pytest.raises(
        AEPQueryFailed, match=r'q-1 ended FAILED: 42601: syntax error at or near "FORM" \(at character 17'
    ):
        build().execute(ctx(store))
    assert QUERY_KEY not in store.kept
    aep.dataset.assert_not_called()


def test_a_timeout_cancels_the_query_before_failing(aep):
    aep.get.return_value = query("IN_PROGRESS")
    store = StateStore()
    with pytest.raises(AirflowSensorTimeout, match=r"q-1.*cancelled"):
        build(timeout=0).execute(ctx(store))
    aep.cancel.assert_called_once_with("q-1")
    assert QUERY_KEY not in store.kept


def test_on_kill_cancels_the_query_it_submitted(aep):
    op = build()
    op.on_kill()  # nothing submitted yet: nothing to cancel
    aep.cancel.assert_not_called()
    op.query_id = "q-1"
    op.on_kill()
    aep.cancel.assert_called_once_with("q-1")


def test_a_retry_attaches_to_its_running_query_instead_of_submitting_again(aep):
    store = StateStore({QUERY_KEY: {"sql": _digest(CTAS), "name": NAME, "query_id": "q-1", "try": 1}})
    aep.get.side_effect = [query("IN_PROGRESS"), query("IN_PROGRESS"), query()]
    summary = build().execute(ctx(store, try_number=2))
    aep.create.assert_not_called()
    assert summary["query_id"] == "q-1"


def test_a_retry_after_a_failed_query_submits_it_again(aep):
    store = StateStore({QUERY_KEY: {"sql": _digest(CTAS), "name": NAME, "query_id": "q-0", "try": 1}})
    aep.get.side_effect = [query("FAILED", query_id="q-0"), query()]
    build().execute(ctx(store, try_number=2))
    aep.create.assert_called_once()


def test_other_sql_kept_from_an_earlier_try_is_not_attached_to(aep):
    store = StateStore({QUERY_KEY: {"sql": _digest("SELECT 2"), "name": NAME, "query_id": "q-0", "try": 1}})
    build().execute(ctx(store, try_number=2))
    aep.create.assert_called_once()


def test_a_lost_submit_answer_adopts_the_query_it_started(aep):
    aep.create.side_effect = AEPAmbiguousWriteError("POST", "/queries", "read timed out")
    aep.named.return_value = [query("IN_PROGRESS", query_id="q-9")]
    aep.get.return_value = query(query_id="q-9")
    store = StateStore()
    summary = build().execute(ctx(store))
    assert summary["query_id"] == "q-9"
    assert aep.named.call_args.args[0] == NAME


def test_a_lost_submit_answer_with_nothing_listed_fails_and_the_retry_looks_first(aep):
    aep.create.side_effect = AEPAmbiguousWriteError("POST", "/queries", "read timed out")
    store = StateStore()
    with pytest.raises(AEPError, match="looks for a late one first"):
        build().execute(ctx(store))
    asked = store.kept[QUERY_KEY]
    assert "query_id" not in asked
    assert asked["asked_at"]
    # The retry finds the query that showed up late and submits nothing.
    aep.create.reset_mock()
    aep.named.return_value = [query("IN_PROGRESS", query_id="q-late")]
    aep.get.return_value = query(query_id="q-late")
    assert build().execute(ctx(store, try_number=2))["query_id"] == "q-late"
    aep.create.assert_not_called()


def test_a_cancel_that_fails_keeps_the_query_for_the_retry(aep):
    aep.get.return_value = query("IN_PROGRESS")
    aep.cancel.side_effect = AEPError("AEP API PATCH /queries/q-1 failed with HTTP 503")
    store = StateStore()
    with pytest.raises(AirflowSensorTimeout):
        build(timeout=0).execute(ctx(store))
    assert store.kept[QUERY_KEY]["query_id"] == "q-1"


def test_a_given_name_still_names_the_task_instance(aep):
    build(name="gold members").execute(ctx())
    assert aep.create.call_args.kwargs["name"] == f"gold members ({NAME})"


def test_aeps_error_text_is_scrubbed_of_credential_shapes(aep):
    leaked = {"code": "22P02", "message": "invalid input near 'client_secret=p8e-Sup3rS3cretValue'"}
    aep.get.return_value = query("FAILED", errors=[leaked])
    with pytest.raises(AEPQueryFailed) as failed:
        build().execute(ctx())
    assert "Sup3rS3cretValue" not in str(failed.value)
    assert "22P02" in str(failed.value)


def test_a_lost_answer_seen_by_the_next_try_is_found_by_name(aep):
    asked = {"sql": _digest(CTAS), "name": NAME, "asked_at": "2026-12-03T07:59:00.000Z", "try": 1}
    store = StateStore({QUERY_KEY: asked})
    aep.named.return_value = [query("IN_PROGRESS", query_id="q-7")]
    aep.get.return_value = query(query_id="q-7")
    assert build().execute(ctx(store, try_number=2))["query_id"] == "q-7"
    aep.create.assert_not_called()
    aep.named.assert_called_once_with(NAME, "2026-12-03T07:59:00.000Z")


def test_without_a_state_store_a_running_query_of_this_task_instance_is_found_by_name(aep):
    aep.named.return_value = [
        query("SUCCESS", query_id="q-old"),  # a finished one: a cleared task runs the SQL again
        query("IN_PROGRESS", query_id="q-live"),
        query("IN_PROGRESS", query_id="q-other", sql="SELECT 2"),
    ]
    aep.get.return_value = query(query_id="q-live")
    assert build().execute(ctx(None))["query_id"] == "q-live"
    aep.create.assert_not_called()
    # Looked for since the DAG run started (less a clock skew).
    assert aep.named.call_args.args == (NAME, "2026-12-03T06:59:55.000Z")


def test_without_a_state_store_a_finished_query_is_not_reused(aep):
    aep.named.return_value = [query("SUCCESS", query_id="q-old")]
    build().execute(ctx(None))
    aep.create.assert_called_once()


def test_reschedule_mode_needs_the_state_store(aep):
    with pytest.raises(AEPValidationError, match="reschedule needs the task state store"):
        build(mode="reschedule").execute(ctx(None))
    aep.create.assert_not_called()


def test_deferrable_defers_to_the_query_trigger_and_reads_its_events(aep):
    aep.get.return_value = query("IN_PROGRESS")
    op = build(deferrable=True, poke_interval=7, timeout=600)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(ctx(StateStore()))
    trigger = deferred.value.trigger
    assert isinstance(trigger, AEPQueryTrigger)
    assert (trigger.query_id, trigger.poll_interval) == ("q-1", 7.0)
    assert deferred.value.kwargs == {"query_id": "q-1"}

    done = {"status": "succeeded", "query_id": "q-1", "query": query()}
    assert op.execute_complete(ctx(), done, query_id="q-1")["rows"] == 42

    failed = {
        "status": "failed",
        "query_id": "q-1",
        "query": query("KILLED"),
        "message": "killed by a person",
    }
    with pytest.raises(AEPQueryFailed, match="ended KILLED: killed by a person"):
        op.execute_complete(ctx(), failed, query_id="q-1")

    with pytest.raises(AirflowSensorTimeout, match="cancelled"):
        op.execute_complete(ctx(), {"status": "timeout", "message": "still IN_PROGRESS"}, query_id="q-1")
    aep.cancel.assert_called_once_with("q-1")

    with pytest.raises(AEPError, match="connection refused"):
        op.execute_complete(ctx(), {"status": "error", "message": "connection refused"}, query_id="q-1")


def test_a_query_done_before_deferring_is_reported_without_deferring(aep):
    aep.get.return_value = query()
    assert build(deferrable=True).execute(ctx())["state"] == "SUCCESS"


def test_a_log_line_per_change_of_state_not_per_look(aep, mocker):
    aep.get.side_effect = [query("IN_PROGRESS")] * 5 + [query()]
    from airflow_provider_aep.tasks.query_run import _QueryWait

    logger = mocker.patch.object(_QueryWait, "log", new_callable=mocker.PropertyMock).return_value
    build().execute(ctx())
    said = [c.args[0] % c.args[1:] for c in logger.info.call_args_list if c.args[0].startswith("Query")]
    assert said == ["Query q-1 is IN_PROGRESS"]
    assert len(logger.debug.call_args_list) == 4


def test_a_written_dataset_is_an_asset_event_naming_org_sandbox_and_dataset(aep):
    from collections import defaultdict

    from airflow.sdk import Asset, AssetAlias

    class Events:
        def __init__(self):
            self.added = []
            self.extra = {}

        def add(self, asset, extra):
            self.added.append((asset.uri, extra))

    class Accessors(defaultdict):
        """Airflow's outlet events by outlet, kept by name: an AssetAlias is unhashable on Airflow 3.0."""

        def __getitem__(self, outlet):
            return super().__getitem__(outlet.name)

    events = Accessors(Events)
    alias, asset = AssetAlias("derived"), Asset("aep://derived/gold")
    context = {**ctx(), "outlet_events": events}
    build(outlets=[alias, asset]).execute(context)
    extra = {
        "query_id": "q-1",
        "dataset_id": "6b0000000000000000000001",
        "dataset_name": "loyalty_gold",
        "rows": 42,
    }
    assert events[alias].added == [("aep://1234ABCD5678EF90%40AdobeOrg/prod/6b0000000000000000000001", extra)]
    assert events[asset].extra == extra


def test_reschedule_mode_frees_the_slot_and_the_next_look_finds_the_same_query(aep):
    from airflow.exceptions import AirflowRescheduleException  # where every Airflow 3 line has it

    aep.get.return_value = query("IN_PROGRESS")
    store = StateStore()
    op = build(mode="reschedule", timeout=600)
    with pytest.raises(AirflowRescheduleException):
        op.execute(ctx(store))
    assert store.kept[QUERY_KEY]["query_id"] == "q-1"
    aep.get.return_value = query()
    assert build(mode="reschedule", timeout=600).execute(ctx(store))["query_id"] == "q-1"
    aep.create.assert_called_once()


def test_a_failed_query_seen_again_in_the_same_try_is_reported_not_resubmitted(aep):
    store = StateStore({QUERY_KEY: {"sql": _digest(CTAS), "name": NAME, "query_id": "q-1", "try": 1}})
    aep.get.return_value = query("FAILED", errors=[{"code": "42P07", "message": "table exists"}])
    with pytest.raises(AEPQueryFailed, match="42P07"):
        build(mode="reschedule").execute(ctx(store, try_number=1))
    aep.create.assert_not_called()
