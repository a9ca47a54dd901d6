"""The emulator's Query Service (queries over DuckDB, scheduled queries and their runs) and the
Catalog lookups of the datasets queries make, over real HTTP.

Its own emulator: queries take 0.3 s here, and the clock runs at 18000 (12 emulated hours in
2.4 real seconds, an hourly schedule's runs 0.2 s apart).
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from aep_emulator.catalog import DATA_LAKE_SPEC_ID
from aep_emulator.config import EmulatorConfig
from aep_emulator.datasets import BY_ID, records
from aep_emulator.server import RunningEmulator, running_emulator
from tests import seed_bodies as seed
from tests.emulator.conftest import Api

QS = "/data/foundation/query"
CATALOG = "/data/foundation/catalog"
LOYALTY = BY_ID["6a1f00000000000000000001"]  # "Loyalty Members" → loyalty_members
WEB_EVENTS = BY_ID["6a1f00000000000000000002"]
TOP = "SELECT * FROM loyalty_members WHERE loyaltyPoints >= 4500"


@pytest.fixture(scope="module")
def _qs_emulator(tmp_path_factory) -> Iterator[RunningEmulator]:
    config = EmulatorConfig(
        exports_dir=tmp_path_factory.mktemp("qs-exports"),
        first_run_delay=0.2,
        run_duration=0.3,
        query_duration=0.3,
        time_scale=18000,
    )
    with running_emulator(config) as emulator:
        yield emulator


@pytest.fixture
def qs(_qs_emulator) -> Api:
    _qs_emulator.admin.post("/reset").raise_for_status()
    return Api(_qs_emulator)


def call(api: Api, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {**api.headers, **kwargs.pop("headers", {})}
    return api.http.request(method, api.emulator.url + path, headers=headers, timeout=10, **kwargs)


def submit(api: Api, sql: str, **extra: Any) -> dict[str, Any]:
    response = call(api, "POST", f"{QS}/queries", json={"dbName": f"{api.sandbox}:all", "sql": sql, **extra})
    assert response.status_code == 202, response.text
    query: dict[str, Any] = response.json()
    return query


def wait_query(api: Api, query_id: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        query: dict[str, Any] = call(api, "GET", f"{QS}/queries/{query_id}").json()
        if query["state"] in ("SUCCESS", "FAILED", "KILLED"):
            return query
        time.sleep(0.05)
    raise AssertionError(f"query {query_id} did not end within {timeout}s")


def run_sql(api: Api, sql: str, **extra: Any) -> dict[str, Any]:
    return wait_query(api, submit(api, sql, **extra)["id"])


def error_of(response: requests.Response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["statusCode"] == status
    return str(body["message"])


def top_rows() -> list[dict[str, Any]]:
    return [r for r in records(LOYALTY, 0, LOYALTY.record_count) if r["loyaltyPoints"] >= 4500]


def eligible(api: Api) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    start = 0
    while True:
        page = api.ok(
            "GET",
            f"/connectionSpecs/{DATA_LAKE_SPEC_ID}/configs",
            params={
                "outputType": "activationDatasets",
                "outputField": "datasets",
                "start": start,
                "limit": 20,
            },
        )
        items += page["items"]
        if not page["pageInfo"]["hasNext"]:
            return items
        start += 20


def export_flow(api: Api, dataset_id: str, name: str, interval_hours: int = 12) -> str:
    """A dataset export flow of one dataset to S3 (the tutorial's bodies), its first run at once."""
    source_body = copy.deepcopy(seed.SOURCE_CONNECTION)
    source_body["params"]["datasets"] = [{"dataSetId": dataset_id, "name": name}]
    source = api.ok("POST", "/sourceConnections", 201, json=source_body)["id"]
    base = api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["amazon_s3"])["id"]
    target_body = seed.target_connection("amazon_s3", base)
    target_body["params"]["compression"] = "GZIP"
    target = api.ok("POST", "/targetConnections", 201, json=target_body)["id"]
    flow_body = copy.deepcopy(seed.dataflow("amazon_s3", source, target))
    flow_body["scheduleParams"].pop("foldernameTemplate")
    flow_body["scheduleParams"]["interval"] = interval_hours
    flow_id: str = api.ok("POST", "/flows", 201, json=flow_body)["id"]
    return flow_id


def exported_rows(root: Path, run: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for entity in run["metrics"]["recordSummary"]["targetSummaries"][0]["entitySummaries"]:
        text = gzip.decompress((root / entity["id"]).read_bytes()).decode()
        rows += [json.loads(line) for line in text.splitlines()]
    return rows


def runs_of(api: Api, flow_id: str, count: int, timeout: float = 15) -> list[dict[str, Any]]:
    """The first ``count`` successful runs of a flow, oldest first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        filters = [f"flowId=={flow_id}", "metrics.statusSummary.status==success"]
        runs = api.ok("GET", "/runs", params={"property": filters, "orderby": "createdAt"})["items"]
        if len(runs) >= count:
            return sorted(runs, key=lambda r: r["createdAt"])[:count]
        time.sleep(0.1)
    raise AssertionError(f"fewer than {count} successful runs of {flow_id} within {timeout}s")


# -- queries --------------------------------------------------------------------------------------


def test_a_select_goes_submitted_then_success_with_its_row_count(qs):
    query = submit(qs, TOP, name="Top members", description="loyal ones")
    assert query["state"] == "SUBMITTED"
    assert query["request"] == {
        "dbName": "prod:all",
        "sql": TOP,
        "name": "Top members",
        "description": "loyal ones",
    }
    assert (query["isCTAS"], query["isInsertInto"], query["errors"], query["client"], query["version"]) == (
        False,
        False,
        [],
        "API",
        1,
    )
    assert query["_links"]["self"]["href"].endswith(f"{QS}/queries/{query['id']}")
    assert query["_links"]["cancel"]["method"] == "PATCH"
    assert "soft_delete" in query["_links"]
    done = wait_query(qs, query["id"])
    assert done["state"] == "SUCCESS"
    assert done["rowCount"] == len(top_rows()) > 0
    assert done["elapsedTime"] >= 250
    assert done["_links"]["referenced_datasets"] == [
        {"id": LOYALTY.id, "href": f"{qs.emulator.url}{CATALOG}/dataSets/{LOYALTY.id}"}
    ]


def test_query_parameters_replace_dollar_names(qs):
    done = run_sql(
        qs,
        "SELECT * FROM web_events WHERE country = '$country' AND loyaltyPoints > $points",
        queryParameters={"country": "FR", "points": 4000},
    )
    expected = [
        r
        for r in records(WEB_EVENTS, 0, WEB_EVENTS.record_count)
        if r["country"] == "FR" and r["loyaltyPoints"] > 4000
    ]
    assert done["state"] == "SUCCESS"
    assert done["rowCount"] == len(expected)


def test_a_query_needs_db_name_and_sql_and_templates_are_not_emulated(qs):
    assert "dbName" in error_of(call(qs, "POST", f"{QS}/queries", json={"sql": "SELECT 1"}), 400)
    assert "sql" in error_of(call(qs, "POST", f"{QS}/queries", json={"dbName": "prod:all"}), 400)
    answer = call(qs, "POST", f"{QS}/queries", json={"dbName": "prod:all", "templateId": "t-1"})
    assert "template" in error_of(answer, 400)


def test_a_syntax_error_fails_the_query_with_code_message_and_position(qs):
    query = submit(qs, "SELECT *\nFROM loyalty_members\nWHERE loyaltyPoints > > 1")
    done = wait_query(qs, query["id"])
    assert done["state"] == "FAILED"
    [error] = done["errors"]
    assert error["code"] == "42601"
    assert "syntax error" in error["message"]
    assert error["position"] == len("SELECT *\nFROM loyalty_members\nWHERE loyaltyPoints > ") + 1


def test_an_unknown_table_or_column_fails_the_query(qs):
    [table] = run_sql(qs, "SELECT * FROM no_such_table")["errors"]
    assert table["code"] == "42P01"
    assert "no_such_table" in table["message"]
    assert table["position"] == len("SELECT * FROM ") + 1
    [column] = run_sql(qs, "SELECT nope FROM web_events")["errors"]
    assert column["code"] == "42703"
    assert "nope" in column["message"]


def test_the_host_is_out_of_reach(qs):
    for sql in (
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "COPY loyalty_members TO '/tmp/aep-emulator-leak.csv'",
        "ATTACH '/tmp/aep-emulator-leak.db' AS leak",
        "INSTALL httpfs",
        "LOAD httpfs",
        "PRAGMA database_list",
        "SET enable_external_access = true",
        "UPDATE loyalty_members SET email = 'x'",
        "DELETE FROM loyalty_members",
        "CREATE VIEW v AS SELECT 1",
        "SELECT 1; SELECT 2",
    ):
        done = run_sql(qs, sql)
        assert done["state"] == "FAILED", sql
        assert done["errors"][0]["code"] in ("42501", "0A000"), (sql, done["errors"])
    assert not Path("/tmp/aep-emulator-leak.csv").exists()


def test_cancel_kills_a_running_query_and_it_writes_nothing(qs):
    qs.emulator.add_fault(delay_queries={"seconds": 5, "sql_contains": "cancelled_table"})
    query = submit(qs, "CREATE TABLE cancelled_table AS SELECT * FROM loyalty_members")
    answer = call(qs, "PATCH", f"{QS}/queries/{query['id']}", json={"op": "cancel"})
    assert answer.status_code == 202
    assert answer.json() == {"message": "Query cancel request received", "statusCode": 202}
    done = wait_query(qs, query["id"])
    assert done["state"] == "KILLED"
    time.sleep(0.4)
    assert not [d for d in eligible(qs) if d["name"] == "cancelled_table"]
    assert call(qs, "GET", f"{CATALOG}/dataSets", params={"name": "cancelled_table"}).json() == {}
    again = call(qs, "PATCH", f"{QS}/queries/{query['id']}", json={"op": "cancel"})
    assert "KILLED" in error_of(again, 400)


def test_cancel_of_a_finished_query_is_a_400_and_other_ops_too(qs):
    done = run_sql(qs, "SELECT 1")
    assert "SUCCESS" in error_of(call(qs, "PATCH", f"{QS}/queries/{done['id']}", json={"op": "cancel"}), 400)
    assert "op" in error_of(call(qs, "PATCH", f"{QS}/queries/{done['id']}", json={"op": "pause"}), 400)


def test_soft_delete_hides_the_query(qs):
    done = run_sql(qs, "SELECT 1")
    assert call(qs, "PATCH", f"{QS}/queries/{done['id']}", json={"op": "soft_delete"}).status_code == 202
    assert call(qs, "GET", f"{QS}/queries/{done['id']}").status_code == 404
    listed = call(qs, "GET", f"{QS}/queries").json()["queries"]
    assert done["id"] not in [q["id"] for q in listed]


def test_unknown_ids_are_404s(qs):
    for method, path in (
        ("GET", f"{QS}/queries/no-such-query"),
        ("PATCH", f"{QS}/queries/no-such-query"),
        ("GET", f"{QS}/schedules/no-such-schedule"),
        ("PATCH", f"{QS}/schedules/no-such-schedule"),
        ("DELETE", f"{QS}/schedules/no-such-schedule"),
        ("GET", f"{QS}/schedules/no-such-schedule/runs"),
        ("POST", f"{QS}/schedules/no-such-schedule/runs"),
        ("GET", f"{CATALOG}/dataSets/ffffffffffffffffffffffff"),
    ):
        body = {"op": "cancel"} if method == "PATCH" else None
        assert call(qs, method, path, json=body).status_code == 404, (method, path)


def test_queries_list_with_filters_order_and_limit(qs):
    first = run_sql(qs, "SELECT 1")
    second = submit(qs, "SELECT 2")
    listed = call(qs, "GET", f"{QS}/queries", params={"orderby": "-created", "limit": 1}).json()
    assert [q["id"] for q in listed["queries"]] == [second["id"]]
    assert listed["_page"]["count"] == 1
    assert "next" in listed["_links"]
    assert listed["version"] == 1
    oldest = call(qs, "GET", f"{QS}/queries", params={"orderby": "created"}).json()["queries"]
    assert [q["id"] for q in oldest] == [first["id"], second["id"]]
    succeeded = call(qs, "GET", f"{QS}/queries", params={"property": "state==SUCCESS"}).json()["queries"]
    assert first["id"] in [q["id"] for q in succeeded]
    by_id = call(qs, "GET", f"{QS}/queries", params={"property": f"id=={second['id']}"}).json()["queries"]
    assert [q["id"] for q in by_id] == [second["id"]]
    assert call(qs, "GET", f"{QS}/queries", params={"limit": "0"}).status_code == 400


# -- fault rules ----------------------------------------------------------------------------------


def test_fail_queries_rule_fails_matching_queries_with_its_errors(qs):
    errors = [{"code": "53400", "message": "Query Service is out of capacity (injected)"}]
    qs.emulator.add_fault(fail_queries={"sql_contains": "web_events", "errors": errors, "times": 1})
    failed = run_sql(qs, "CREATE TABLE never AS SELECT * FROM web_events")
    assert failed["state"] == "FAILED"
    assert failed["errors"] == [{"position": None, **errors[0]}]
    assert call(qs, "GET", f"{CATALOG}/dataSets", params={"name": "never"}).json() == {}
    assert run_sql(qs, "SELECT * FROM loyalty_members")["state"] == "SUCCESS"  # does not match
    assert run_sql(qs, "SELECT * FROM web_events")["state"] == "SUCCESS"  # used up


def test_delay_queries_rule_keeps_a_query_in_progress(qs):
    qs.emulator.add_fault(delay_queries={"seconds": 1.5})
    query = submit(qs, "SELECT 1")
    time.sleep(0.8)
    assert call(qs, "GET", f"{QS}/queries/{query['id']}").json()["state"] == "IN_PROGRESS"
    assert wait_query(qs, query["id"])["state"] == "SUCCESS"
    rules = qs.emulator.admin.get("/faults").json()["query_delays"]
    assert rules == [{"delay_queries": {"seconds": 1.5, "times": 1, "sql_contains": None}, "used": 1}]


def test_query_rules_are_checked(qs):
    for rule in ({"fail_queries": {"times": 0}}, {"delay_queries": {}}, {"fail_queries": {"errors": "x"}}):
        assert qs.emulator.admin.post("/faults", json=rule).status_code == 400, rule


# -- derived datasets: CTAS, INSERT INTO, DROP, export ---------------------------------------------


def test_ctas_makes_a_dataset_eligible_for_export_and_found_by_name(qs):
    done = run_sql(qs, f"CREATE TABLE top_members AS {TOP}")
    assert (done["state"], done["isCTAS"], done["rowCount"]) == ("SUCCESS", True, len(top_rows()))
    listed = [d for d in eligible(qs) if d["name"] == "top_members"]
    assert len(listed) == 1
    dataset_id = listed[0]["id"]
    assert len(dataset_id) == 24
    assert int(dataset_id, 16) >= 0
    found = call(qs, "GET", f"{CATALOG}/dataSets", params={"name": "top_members", "limit": 1}).json()
    assert list(found) == [dataset_id]
    assert {"name", "description", "created", "updated", "tags"} <= set(found[dataset_id])
    only = call(qs, "GET", f"{CATALOG}/dataSets", params={"name": "top_members", "properties": "name"}).json()
    assert only == {dataset_id: {"name": "top_members"}}
    assert call(qs, "GET", f"{CATALOG}/dataSets/{dataset_id}").json()[dataset_id]["name"] == "top_members"
    assert list(call(qs, "GET", f"{CATALOG}/dataSets/{LOYALTY.id}").json()) == [LOYALTY.id]
    # The derived dataset is a table to query like any other.
    assert run_sql(qs, "SELECT * FROM top_members WHERE country = 'US'")["state"] == "SUCCESS"


def test_the_engine_writes_no_host_file_even_past_its_memory_limit(qs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = run_sql(
        qs,
        "SELECT count(*) FROM (SELECT range % 1000003 AS k, repeat('x', 200) AS pad FROM range(6000000) ORDER BY pad, k)",
    )
    assert done["state"] in ("SUCCESS", "FAILED")
    assert list(tmp_path.iterdir()) == []


def test_comments_before_the_statement_are_sql_too(qs):
    sql = f"-- the day's top members\n/* a .sql file's header */\nCREATE TABLE commented_top AS {TOP}"
    done = run_sql(qs, sql)
    assert (done["state"], done["isCTAS"], done["rowCount"]) == ("SUCCESS", True, len(top_rows()))
    assert [d["name"] for d in eligible(qs) if d["name"] == "commented_top"] == ["commented_top"]


def test_a_second_ctas_fails_and_if_not_exists_succeeds_with_no_rows(qs):
    assert run_sql(qs, f"CREATE TABLE top_members AS {TOP}")["state"] == "SUCCESS"
    again = run_sql(qs, f"CREATE TABLE top_members AS {TOP}")
    assert again["state"] == "FAILED"
    assert again["errors"][0]["code"] == "42P07"
    assert "top_members" in again["errors"][0]["message"]
    quiet = run_sql(qs, f"CREATE TABLE IF NOT EXISTS top_members AS {TOP}")
    assert (quiet["state"], quiet["rowCount"]) == ("SUCCESS", 0)
    seed_name = run_sql(qs, "CREATE TABLE web_events AS SELECT 1 AS x")
    assert seed_name["state"] == "FAILED"
    assert seed_name["errors"][0]["code"] == "42P07"
    assert len([d for d in eligible(qs) if d["name"] == "top_members"]) == 1


def test_seed_datasets_are_read_only_and_drop_removes_a_derived_one(qs):
    insert = run_sql(qs, "INSERT INTO loyalty_members SELECT * FROM loyalty_members")
    assert insert["state"] == "FAILED"
    assert insert["errors"][0]["code"] == "42501"
    assert "read-only" in insert["errors"][0]["message"]
    assert run_sql(qs, "DROP TABLE web_events")["state"] == "FAILED"
    assert run_sql(qs, "INSERT INTO nowhere SELECT 1")["errors"][0]["code"] == "42P01"
    assert run_sql(qs, f"CREATE TABLE top_members AS {TOP}")["state"] == "SUCCESS"
    assert run_sql(qs, "DROP TABLE top_members")["state"] == "SUCCESS"
    assert not [d for d in eligible(qs) if d["name"] == "top_members"]
    assert run_sql(qs, "DROP TABLE IF EXISTS top_members")["state"] == "SUCCESS"
    assert run_sql(qs, "DROP TABLE top_members")["state"] == "FAILED"


def test_an_export_of_a_derived_dataset_writes_exactly_the_sql_rows(qs):
    done = run_sql(qs, f"CREATE TABLE top_members AS {TOP}")
    dataset_id = next(d["id"] for d in eligible(qs) if d["name"] == "top_members")
    flow_id = export_flow(qs, dataset_id, "top_members")
    [run] = runs_of(qs, flow_id, 1)
    summary = run["metrics"]["recordSummary"]
    assert summary["outputRecordCount"] == summary["inputRecordCount"] == done["rowCount"]
    assert summary["sourceSummaries"][0]["id"] == dataset_id
    assert exported_rows(qs.emulator.config.exports_dir, run) == top_rows()


def test_insert_into_appends_and_an_incremental_export_writes_only_the_new_rows(qs):
    assert run_sql(qs, f"CREATE TABLE top_members AS {TOP}")["state"] == "SUCCESS"
    dataset_id = next(d["id"] for d in eligible(qs) if d["name"] == "top_members")
    flow_id = export_flow(qs, dataset_id, "top_members")  # every 12 emulated hours: 2.4 s apart
    [first] = runs_of(qs, flow_id, 1)
    assert first["metrics"]["recordSummary"]["outputRecordCount"] == len(top_rows())
    added_sql = "INSERT INTO top_members SELECT * FROM web_events WHERE loyaltyPoints >= 4990"
    added = run_sql(qs, added_sql)
    new_rows = [r for r in records(WEB_EVENTS, 0, WEB_EVENTS.record_count) if r["loyaltyPoints"] >= 4990]
    assert (added["state"], added["isInsertInto"], added["rowCount"]) == ("SUCCESS", True, len(new_rows))
    assert new_rows
    _, second, third = runs_of(qs, flow_id, 3)
    assert second["metrics"]["recordSummary"]["outputRecordCount"] == len(new_rows)
    assert exported_rows(qs.emulator.config.exports_dir, second) == new_rows
    assert third["metrics"]["recordSummary"]["outputRecordCount"] == 0


def test_a_derived_dataset_belongs_to_its_sandbox(qs):
    assert run_sql(qs, f"CREATE TABLE top_members AS {TOP}")["state"] == "SUCCESS"
    dataset_id = next(d["id"] for d in eligible(qs) if d["name"] == "top_members")
    dev = Api(qs.emulator, sandbox="dev")
    assert not [d for d in eligible(dev) if d["name"] == "top_members"]
    assert call(dev, "GET", f"{CATALOG}/dataSets", params={"name": "top_members"}).json() == {}
    assert call(dev, "GET", f"{CATALOG}/dataSets/{dataset_id}").status_code == 404
    failed = run_sql(dev, "SELECT * FROM top_members")
    assert failed["state"] == "FAILED"
    assert failed["errors"][0]["code"] == "42P01"
    source_body = copy.deepcopy(seed.SOURCE_CONNECTION)
    source_body["params"]["datasets"] = [{"dataSetId": dataset_id, "name": "top_members"}]
    assert dev.call("POST", "/sourceConnections", json=source_body).status_code == 400
    assert call(dev, "GET", f"{QS}/queries").json()["queries"][0]["request"]["dbName"] == "dev:all"


def test_a_reset_forgets_queries_and_derived_datasets(qs):
    done = run_sql(qs, f"CREATE TABLE top_members AS {TOP}")
    qs.emulator.admin.post("/reset").raise_for_status()
    qs = Api(qs.emulator)  # the reset forgot the token too
    assert call(qs, "GET", f"{QS}/queries/{done['id']}").status_code == 404
    assert not [d for d in eligible(qs) if d["name"] == "top_members"]
    assert run_sql(qs, f"CREATE TABLE top_members AS {TOP}")["state"] == "SUCCESS"


# -- scheduled queries ----------------------------------------------------------------------------


def schedule_body(sql: str = TOP, cron: str = "@hourly", **schedule: Any) -> dict[str, Any]:
    start = (datetime.now(timezone.utc) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "query": {"dbName": "prod:all", "sql": sql, "name": "Nightly top members", "description": "CTAS"},
        "schedule": {"schedule": cron, "startDate": start, **schedule},
    }


def create_schedule(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = call(api, "POST", f"{QS}/schedules", json=body)
    assert response.status_code == 202, response.text
    schedule: dict[str, Any] = response.json()
    return schedule


def disable(api: Api, schedule_id: str) -> requests.Response:
    body = {"body": [{"op": "replace", "path": "/state", "value": "disable"}]}
    return call(api, "PATCH", f"{QS}/schedules/{schedule_id}", json=body)


def wait_runs(
    api: Api, schedule_id: str, count: int, timeout: float = 10, **params: Any
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs: list[dict[str, Any]] = call(
            api, "GET", f"{QS}/schedules/{schedule_id}/runs", params=params
        ).json()["runsSchedules"]
        if len(runs) >= count:
            return runs
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} runs of {schedule_id} within {timeout}s")


def wait_run_end(api: Api, schedule_id: str, run_id: str, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = call(api, "GET", f"{QS}/schedules/{schedule_id}/runs/{run_id}").json()
        if run["state"] in ("SUCCESS", "FAILED", "KILLED"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not end within {timeout}s")


def test_a_schedule_is_registering_then_enabled_in_adobes_form(qs):
    body = schedule_body(maxActiveRuns=2)
    created = create_schedule(qs, body)
    assert created["state"] == "REGISTERING"
    assert created["query"] == body["query"]
    assert created["schedule"]["schedule"] == "@hourly"
    assert created["schedule"]["maxActiveRuns"] == 2
    org, _uuid, rest = created["id"].split("_", 2)
    assert len(org) == 24
    assert rest.startswith("nightly_top_members")
    assert set(created["_links"]) == {"self", "delete", "enable", "disable", "runs", "trigger"}
    fetched = call(qs, "GET", f"{QS}/schedules/{created['id']}").json()
    assert fetched["state"] == "ENABLED"
    assert fetched["created"].isdigit()
    default = create_schedule(qs, schedule_body())
    assert default["schedule"]["maxActiveRuns"] == 1
    listed = call(qs, "GET", f"{QS}/schedules", params={"orderby": "-created", "limit": 1}).json()
    assert [s["id"] for s in listed["schedules"]] == [default["id"]]
    assert "next" in listed["_links"]
    assert "_page" in listed
    assert "version" in listed


def test_a_schedule_needs_its_query_and_a_cron_it_can_read(qs):
    for path, broken in (
        ("query.sql", lambda b: b["query"].pop("sql")),
        ("query.name", lambda b: b["query"].pop("name")),
        ("schedule.schedule", lambda b: b["schedule"].pop("schedule")),
        ("schedule.schedule", lambda b: b["schedule"].update(schedule="61 * * * *")),
        ("schedule.schedule", lambda b: b["schedule"].update(schedule="every day")),
    ):
        body = schedule_body()
        broken(body)
        assert path in error_of(call(qs, "POST", f"{QS}/schedules", json=body), 400), path
    for cron in ("*/15 9-17 * * 1-5", "0 0,12 1 * *", "@daily", "@weekly", "@monthly", "@once"):
        assert call(qs, "POST", f"{QS}/schedules", json=schedule_body(cron=cron)).status_code == 202, cron


def test_patch_disables_enables_and_changes_the_cron_and_delete_needs_disabled(qs):
    schedule_id = create_schedule(qs, schedule_body(cron="0 0 1 1 *"))["id"]
    url = f"{QS}/schedules/{schedule_id}"
    assert "disabled" in error_of(call(qs, "DELETE", url), 400)
    answer = disable(qs, schedule_id)
    assert answer.status_code == 202
    assert answer.json()["statusCode"] == 202
    assert call(qs, "GET", url).json()["state"] == "DISABLED"
    cron = {"body": [{"op": "replace", "path": "/schedule/schedule", "value": "45 * * * *"}]}
    assert call(qs, "PATCH", url, json=cron).status_code == 202
    assert call(qs, "GET", url).json()["schedule"]["schedule"] == "45 * * * *"
    for bad in (
        {"body": [{"op": "replace", "path": "/query/sql", "value": "SELECT 1"}]},
        {"body": [{"op": "replace", "path": "/state", "value": "paused"}]},
        {"body": [{"op": "replace", "path": "/schedule/schedule", "value": "nonsense"}]},
        {"body": [{"op": "add", "path": "/state", "value": "enable"}]},
        {"op": "replace"},
    ):
        assert call(qs, "PATCH", url, json=bad).status_code == 400, bad
    deleted = call(qs, "DELETE", url)
    assert deleted.status_code == 202
    assert deleted.json() == {"message": "Schedule deleted successfully", "statusCode": 202}
    assert call(qs, "GET", url).status_code == 404


def test_scheduled_runs_come_on_the_accelerated_clock_and_run_the_sql(qs):
    created = create_schedule(qs, schedule_body(sql="SELECT * FROM loyalty_members", cron="@hourly"))
    runs = wait_runs(qs, created["id"], 2, orderby="created")
    start = datetime.fromisoformat(created["schedule"]["startDate"].replace("Z", "+00:00"))
    first = base64.b64decode(runs[0]["id"]).decode()
    assert first.startswith("scheduled__")
    assert first.endswith("+00:00")
    moment = datetime.fromisoformat(first.removeprefix("scheduled__"))
    assert moment >= start
    assert moment.minute == 0
    assert moment.second == 0
    assert runs[0]["externalTrigger"] == "false"
    assert runs[0]["created"] == moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    detail = wait_run_end(qs, created["id"], runs[0]["id"])
    assert detail["state"] == "SUCCESS"
    assert detail["scheduleId"] == created["id"]
    [task] = detail["taskStatusList"]
    assert {"duration", "endDate", "state", "message", "startDate", "taskId", "queryId"} <= set(task)
    assert task["state"] == "SUCCESS"
    query = call(qs, "GET", f"{QS}/queries/{task['queryId']}").json()
    assert (query["state"], query["rowCount"]) == ("SUCCESS", LOYALTY.record_count)
    assert set(detail["_links"]) == {"self", "cancel"}
    assert disable(qs, created["id"]).status_code == 202


def test_scheduled_runs_stop_at_the_cap_and_the_end_date(qs):
    cap = qs.emulator.config.max_runs_per_flow
    capped = create_schedule(qs, schedule_body(sql="SELECT 1", cron="* * * * *", maxActiveRuns=50))
    time.sleep(1.0)  # a minute is 1/300 s here: far more cron times than the cap passed
    assert len(wait_runs(qs, capped["id"], cap)) == cap
    # From half past an hour to two hours later: two hourly cron times.
    start = datetime.now(timezone.utc).replace(minute=30, second=0, microsecond=0) + timedelta(hours=1)
    ended = schedule_body(sql="SELECT 1", cron="@hourly", maxActiveRuns=50)
    ended["schedule"]["startDate"] = start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    ended["schedule"]["endDate"] = (start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    bounded = create_schedule(qs, ended)
    time.sleep(1.5)
    assert len(call(qs, "GET", f"{QS}/schedules/{bounded['id']}/runs").json()["runsSchedules"]) == 2


def test_max_active_runs_holds_the_next_run_back(qs):
    qs.emulator.add_fault(delay_queries={"seconds": 2, "sql_contains": "slow_one", "times": 5})
    created = create_schedule(qs, schedule_body(sql="SELECT 'slow_one'", cron="@hourly"))
    time.sleep(1.0)  # five hourly cron times passed; the first run is still going
    runs = call(qs, "GET", f"{QS}/schedules/{created['id']}/runs").json()["runsSchedules"]
    assert len(runs) == 1
    assert runs[0]["state"] in ("PENDING", "IN_PROGRESS")
    assert len(wait_runs(qs, created["id"], 2, timeout=5)) >= 2


def test_a_manual_run_starts_now_and_filters_find_it(qs):
    created = create_schedule(qs, schedule_body(sql="SELECT 1", cron="0 0 1 1 *"))
    assert disable(qs, created["id"]).status_code == 202
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    answer = call(qs, "POST", f"{QS}/schedules/{created['id']}/runs")
    assert answer.status_code == 202
    assert answer.json() == {
        "message": "Request to trigger run of a scheduled query accepted.",
        "statusCode": 202,
    }
    [run] = wait_runs(qs, created["id"], 1)
    assert base64.b64decode(run["id"]).decode().startswith("manual__")
    assert run["externalTrigger"] == "true"
    url = f"{QS}/schedules/{created['id']}/runs"
    after = before.strftime("%Y-%m-%dT%H:%M:%SZ")
    for prop, found in (
        ("externalTrigger==true", 1),
        ("externalTrigger==false", 0),
        (f"created>{after}", 1),
        (f"created<{after}", 0),
        (f"created>{after},externalTrigger==true", 1),
    ):
        listed = call(qs, "GET", url, params={"property": prop}).json()["runsSchedules"]
        assert len(listed) == found, prop
    # Adobe documents >, <, == and != for runs; >= and <= are for queries.
    for prop in (f"created>={after}", f"created<={after}"):
        assert call(qs, "GET", url, params={"property": prop}).status_code == 400, prop
    detail = wait_run_end(qs, created["id"], run["id"])
    assert detail["state"] == "SUCCESS"
    assert detail["externalTrigger"] == "true"
    done = call(qs, "GET", url, params={"property": "state==SUCCESS"}).json()["runsSchedules"]
    assert [r["id"] for r in done] == [run["id"]]
    assert call(qs, "GET", f"{url}/bm8tc3VjaC1ydW4=").status_code == 404


def test_a_run_is_cancelled_and_a_failed_run_says_why(qs):
    qs.emulator.add_fault(delay_queries={"seconds": 5, "sql_contains": "to_cancel"})
    created = create_schedule(qs, schedule_body(sql="SELECT 'to_cancel'", cron="0 0 1 1 *"))
    assert call(qs, "POST", f"{QS}/schedules/{created['id']}/runs").status_code == 202
    [run] = wait_runs(qs, created["id"], 1)
    url = f"{QS}/schedules/{created['id']}/runs/{run['id']}"
    answer = call(qs, "PATCH", url, json={"op": "cancel"})
    assert answer.status_code == 202
    assert answer.json() == {
        "message": "Request to cancel run of a scheduled query accepted",
        "statusCode": 202,
    }
    detail = call(qs, "GET", url).json()
    assert detail["state"] == "KILLED"
    assert (
        call(qs, "GET", f"{QS}/queries/{detail['taskStatusList'][0]['queryId']}").json()["state"] == "KILLED"
    )
    assert call(qs, "PATCH", url, json={"op": "stop"}).status_code == 400
    broken = create_schedule(qs, schedule_body(sql="SELECT * FROM missing_table", cron="0 0 1 1 *"))
    assert call(qs, "POST", f"{QS}/schedules/{broken['id']}/runs").status_code == 202
    [failed] = wait_runs(qs, broken["id"], 1)
    detail = wait_run_end(qs, broken["id"], failed["id"])
    assert detail["state"] == "FAILED"
    assert "42P01" in detail["taskStatusList"][0]["message"]
    assert "missing_table" in detail["taskStatusList"][0]["message"]


def test_schedules_belong_to_their_sandbox(qs):
    created = create_schedule(qs, schedule_body(cron="0 0 1 1 *"))
    dev = Api(qs.emulator, sandbox="dev")
    assert call(dev, "GET", f"{QS}/schedules/{created['id']}").status_code == 404
    assert call(dev, "GET", f"{QS}/schedules").json()["schedules"] == []
