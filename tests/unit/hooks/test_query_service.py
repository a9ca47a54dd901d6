"""AEPHook's Query Service and Catalog methods: paths, bodies, answers; and the pure readers."""

from __future__ import annotations

import pytest

from airflow_provider_aep.exceptions import AEPAmbiguousWriteError, AEPValidationError
from airflow_provider_aep.hooks.query_service import (
    db_name_for,
    query_errors,
    summarize_query,
    written_table,
)
from tests.unit.fake_http import response

QUERY = "/data/foundation/query"


def api_calls(fake):
    return [c for c in fake.calls if not c.path.endswith("/ims/token/v3")]


def test_create_query_sends_adobes_body_once(hook, fake):
    fake.queue.append(response(202, {"id": "q-1", "state": "SUBMITTED"}))
    hook.create_query("SELECT 1", db_name="prod:all", name="n", description="d", query_parameters={"x": 1})
    [call] = api_calls(fake)
    assert (call.method, call.path) == ("POST", f"{QUERY}/queries")
    assert call.json == {
        "dbName": "prod:all", "sql": "SELECT 1", "name": "n", "description": "d", "queryParameters": {"x": 1},
    }  # fmt: skip


def test_a_lost_submit_is_not_sent_again(hook, fake):
    fake.queue.extend([response(502, {"error_code": "502000"})] * 4)
    with pytest.raises(AEPAmbiguousWriteError):
        hook.create_query("SELECT 1", db_name="prod:all")
    assert len(api_calls(fake)) == 1


def test_cancel_query_patches_the_op_and_takes_already_over_as_no(hook, fake):
    fake.queue.append(response(202, {"message": "Query cancel request received", "statusCode": 202}))
    assert hook.cancel_query("q-1") is True
    fake.queue.append(response(400, {"message": "Query is already SUCCESS"}))
    assert hook.cancel_query("q-1") is False
    fake.queue.append(response(404, {"message": "no such query"}))
    assert hook.cancel_query("q-1") is False
    first = api_calls(fake)[0]
    assert (first.method, first.path, first.json) == ("PATCH", f"{QUERY}/queries/q-1", {"op": "cancel"})


def test_ids_are_one_encoded_path_segment(hook, fake):
    with pytest.raises(AEPValidationError, match="query_id"):
        hook.get_query("q/../schedules")
    fake.queue.append(response(200, {"state": "SUCCESS"}))
    hook.get_schedule_run("s_1", "c2NoZWR1bGVkX18y+/=")
    [call] = api_calls(fake)
    assert call.url.endswith("/schedules/s_1/runs/c2NoZWR1bGVkX18y%2B%2F%3D")
    with pytest.raises(AEPValidationError, match="run_id"):
        hook.get_schedule_run("s_1", "x?y")


def test_queries_named_filters_by_name_and_creation_time(hook, fake):
    listed = [
        {"id": "a", "request": {"name": "n"}, "created": "2026-12-03T08:00:00.000Z"},
        {"id": "b", "request": {"name": "other"}, "created": "2026-12-03T08:00:01.000Z"},
        {"id": "c", "request": {"name": "n"}, "created": "2026-12-02T08:00:00.000Z"},
    ]
    fake.queue.append(response(200, {"queries": listed}))
    assert [q["id"] for q in hook.queries_named("n", "2026-12-03T00:00:00.000Z")] == ["a"]
    [call] = api_calls(fake)
    assert ("property", "created>=2026-12-03T00:00:00.000Z") in call.params  # documented for queries


def test_find_dataset_reads_the_catalogs_id_keyed_answer(hook, fake):
    fake.queue.append(
        response(200, {"6b01": {"name": "gold", "created": 1}, "6b02": {"name": "gold", "created": 5}})
    )
    assert hook.find_dataset("gold") == {"id": "6b02", "name": "gold"}
    [call] = api_calls(fake)
    assert call.path == "/data/foundation/catalog/dataSets"
    assert ("name", "gold") in call.params
    fake.queue.append(response(200, {}))
    assert hook.find_dataset("nothing") is None


def test_schedules_are_listed_page_by_page_and_found_by_query_name(hook, fake):
    page1 = {
        "schedules": [{"id": "s1", "query": {"name": "daily gold"}}],
        "_links": {"next": {"href": f"https://platform.adobe.io{QUERY}/schedules?orderby=-created&start=2"}},
    }
    page2 = {"schedules": [{"id": "s2", "query": {"name": "other"}}], "_links": {}}
    fake.queue.extend([response(200, page1), response(200, page2)])
    assert [s["id"] for s in hook.schedules_named("daily gold")] == ["s1"]
    assert api_calls(fake)[1].params == [("orderby", "-created"), ("start", "2")]


def test_schedule_runs_filter_as_adobe_documents(hook, fake):
    from datetime import datetime, timezone

    since, until = datetime(2026, 12, 3, tzinfo=timezone.utc), datetime(2026, 12, 4, tzinfo=timezone.utc)
    listed = [
        {"id": "r3", "created": "2026-12-03T05:00:00Z"},
        {"id": "r1", "created": "2026-12-03T00:00:00"},  # Adobe's detail form: no Z, UTC
        {"id": "r0", "created": "2026-12-02T23:59:59Z"},  # the second before: AEP's > lets it through
    ]
    fake.queue.append(response(200, {"runsSchedules": listed}))
    runs = hook.schedule_runs(
        "s1", created_from=since, created_before=until, external=True, oldest_first=True
    )
    assert [r["id"] for r in runs] == ["r1", "r3"]
    [call] = api_calls(fake)
    # Adobe documents >, <, == and != for runs: no >=.
    assert (
        "property",
        "created>2026-12-02T23:59:59Z,created<2026-12-04T00:00:00Z,externalTrigger==true",
    ) in call.params
    assert ("orderby", "created") in call.params


def test_update_schedule_wraps_the_operations_in_body(hook, fake):
    fake.queue.append(response(202, {"message": "ok", "statusCode": 202}))
    hook.update_schedule("s1", [{"op": "replace", "path": "/state", "value": "disable"}])
    [call] = api_calls(fake)
    assert (call.method, call.json) == (
        "PATCH",
        {"body": [{"op": "replace", "path": "/state", "value": "disable"}]},
    )


@pytest.mark.parametrize(
    ("sql", "table"),
    [
        ("CREATE TABLE gold AS SELECT 1", "gold"),
        ("create table if not exists gold_20261203 as select 1", "gold_20261203"),
        ("-- the daily gold members\nINSERT INTO gold SELECT 1", "gold"),
        ('/* x */ CREATE TABLE "Gold Members" AS SELECT 1', "Gold Members"),
        ("SELECT * FROM gold", None),
        ("WITH x AS (SELECT 1) SELECT * FROM x", None),
    ],
)
def test_written_table_reads_the_statements_target(sql, table):
    assert written_table(sql) == table


def test_query_errors_and_summary():
    failed = {
        "id": "q-1",
        "state": "failed",
        "errors": [{"code": "42601", "message": "syntax error", "position": 8}, {"message": "second"}],
        "request": {"name": "n"},
    }
    assert query_errors(failed) == "42601: syntax error (at character 8 of the SQL); second"
    summary = summarize_query(failed)
    assert (summary["state"], summary["errors"], summary["output_dataset"]) == (
        "FAILED",
        query_errors(failed),
        None,
    )
    assert query_errors({"errors": []}) == "AEP gave no error text"


def test_db_name_is_the_sandboxes_all_database():
    assert db_name_for("prod") == "prod:all"
    with pytest.raises(AEPValidationError):
        db_name_for("a/b")
