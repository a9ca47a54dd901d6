"""The health app as the api-server serves it: Airflow's auth manager decides who sees what, AEP is
only read, every value is escaped, and no secret reaches a page, even when AEP echoes it."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

import jwt
import pytest

pytest.importorskip("fastapi", reason="the health view runs in Airflow's api-server, which has FastAPI")
from fastapi.testclient import TestClient

from airflow_provider_aep.plugins import app as health_app
from airflow_provider_aep.plugins.app import create_app, health_cache, watcher_cache
from tests.conftest import CLIENT_SECRET
from tests.unit.fake_http import TOKEN, response
from tests.unit.plugins.helpers import flow, run


@dataclass
class User:
    name: str
    connections: set[str] = field(default_factory=set)
    dags: set[str] = field(default_factory=set)
    #: Connections the user may change (PUT), and DAGs whose XComs the user may not read.
    edits: set[str] = field(default_factory=set)
    no_xcom: set[str] = field(default_factory=set)


USERS = {
    "admin-token": User("admin", {"aep_default", "other_http"}, {"daily", "setup"}),
    "editor-token": User("editor", {"aep_default"}, {"daily"}, edits={"aep_default"}),
    "viewer-token": User("viewer", set(), {"daily", "no_xcoms"}, no_xcom={"no_xcoms"}),
}


class FakeAuthManager:
    """Airflow's auth manager as the app calls it; records every question."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, Any]] = []

    async def get_user_from_token(self, token: str) -> User:
        if token == "expired-token":
            raise jwt.ExpiredSignatureError("expired")
        if token not in USERS:
            raise jwt.InvalidTokenError("bad signature")
        return USERS[token]

    def is_authorized_connection(self, *, method: str, details: Any, user: User) -> bool:
        self.asked.append(("connection", (method, details.conn_id, user.name)))
        if method == "PUT":
            return details.conn_id in user.edits
        return method == "GET" and details.conn_id in user.connections

    def is_authorized_dag(self, *, method: str, access_entity: Any, details: Any, user: User) -> bool:
        self.asked.append(("dag", (method, access_entity.name, details.id, user.name)))
        if access_entity.name == "XCOM" and details.id in user.no_xcom:
            return False
        return method == "GET" and details.id in user.dags

    def get_authorized_dag_ids(self, *, user: User, method: str = "GET") -> set[str]:
        return set(user.dags)

    def get_authorized_connections(self, *, user: User, method: str = "GET") -> set[str]:
        return set(user.connections)


@pytest.fixture
def auth(mocker) -> FakeAuthManager:
    manager = FakeAuthManager()
    mocker.patch("airflow_provider_aep.plugins.access._auth_manager", return_value=manager)
    mocker.patch.object(health_app, "readable_aep_connections", return_value=["aep_default"])
    return manager


@pytest.fixture
def watcher_rows(mocker) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    mocker.patch("airflow_provider_aep.plugins.airflow_side.read_watcher_rows", return_value=rows)
    return rows


@pytest.fixture
def client(auth, watcher_rows, fake, sleeps) -> TestClient:
    health_cache.clear()
    watcher_cache.clear()
    return TestClient(create_app(), root_path="/aep")


def as_admin(**headers: str) -> dict[str, str]:
    return {"Authorization": "Bearer admin-token", **headers}


def aep_answers(fake, flows, runs) -> None:
    """AEP's answers by path: the two listings are read side by side, in either order."""
    fake.default = lambda call: response(200, {"items": flows if call.flow_path == "/flows" else runs})


def test_without_credentials_the_page_is_refused_and_aep_is_not_asked(client, fake):
    answer = client.get("/health")
    assert answer.status_code == 401
    assert "Not authenticated" in answer.text
    assert fake.calls == []


@pytest.mark.parametrize(("token", "code"), [("forged-token", 403), ("expired-token", 401)])
def test_a_token_that_does_not_verify_is_refused(client, fake, token, code):
    assert client.get("/api/health", headers={"Authorization": f"Bearer {token}"}).status_code == code
    assert fake.calls == []


def test_a_user_who_may_not_read_the_connection_is_refused_before_aep_is_asked(client, auth, fake):
    answer = client.get("/health", headers={"Authorization": "Bearer viewer-token"})
    assert answer.status_code == 403
    assert "reading connection 'aep_default' is not allowed" in html.unescape(answer.text)
    assert ("connection", ("GET", "aep_default", "viewer")) in auth.asked
    assert fake.calls == []


def test_the_ui_cookie_is_a_credential_too(client, fake):
    aep_answers(fake, [flow("f1", "daily export")], [])
    client.cookies.set("_token", "admin-token")
    assert client.get("/api/health").status_code == 200


def test_the_list_shows_each_flows_health_runs_and_error_codes(client, fake):
    failure = {"code": "CONNECTOR-2001-500", "message": "The bucket refused the upload"}
    aep_answers(
        fake,
        [flow("f-ok", "customers to S3"), flow("f-bad", "orders to S3")],
        [run("r-ok", "f-ok", "success", records=300), run("r-bad", "f-bad", "failed", errors=[failure])],
    )
    page = client.get("/health", headers=as_admin())
    assert page.status_code == 200
    assert page.text.index('data-flow-id="f-bad"') < page.text.index('data-flow-id="f-ok"')
    assert "CONNECTOR-2001-500" in page.text
    assert "The bucket refused the upload" in page.text
    assert "300 in / 300 out" in page.text
    body = client.get("/api/health", headers=as_admin()).json()  # cached: AEP is not asked again
    assert [(f["flow_id"], f["health"]) for f in body["flows"]] == [("f-bad", "failed"), ("f-ok", "healthy")]
    assert body["flows"][0]["runs"][0]["error_codes"] == ["CONNECTOR-2001-500"]
    assert {c.method for c in fake.api_calls} == {"GET"}
    assert len(fake.api_calls) == 2


def test_the_dags_that_create_and_watch_a_flow_are_linked_when_the_user_may_read_them(
    client, fake, watcher_rows
):
    watcher_rows += [
        (
            "daily",
            "wait_for_export",
            "scheduled__2026-12-01",
            "AEPDataflowRunSensor",
            json.dumps({"flow_id": "f1"}),
            None,
        ),
        ("hidden", "wait", "r", "AEPDataflowRunSensor", json.dumps({"flow_id": "f1"}), None),
    ]
    aep_answers(fake, [flow("f1", "daily export")], [])
    page = client.get("/health", headers=as_admin())
    assert 'href="/dags/daily/runs/scheduled__2026-12-01/tasks/wait_for_export"' in page.text
    assert "hidden" not in page.text


def test_names_from_aep_are_text_never_markup(client, fake):
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    aep_answers(
        fake, [flow("f1", evil)], [run("r", "f1", "failed", errors=[{"code": "<b>", "message": evil}])]
    )
    page = client.get("/health", headers=as_admin())
    assert "<script>" not in page.text
    assert "<img src=x" not in page.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy  # no script may run at all


def test_a_secret_aep_echoes_back_never_reaches_the_page(client, fake):
    echoed = f"client_secret={CLIENT_SECRET} was refused; token {TOKEN}-1"
    aep_answers(
        fake, [flow("f1", "export")], [run("r", "f1", "failed", errors=[{"code": "E", "message": echoed}])]
    )
    page = client.get("/health", headers=as_admin())
    body = client.get("/api/health", headers=as_admin()).text
    for text in (page.text, body):
        assert CLIENT_SECRET not in text
        assert TOKEN not in text


def test_when_aep_cannot_be_read_the_page_says_why_without_secrets(client, fake):
    refused = response(400, {"title": f"Bad request: {CLIENT_SECRET}", "status": 400})
    fake.default = lambda call: refused if call.flow_path == "/flows" else response(200, {"items": []})
    page = client.get("/health", headers=as_admin())
    assert page.status_code == 502
    assert "reading AEP with connection 'aep_default' failed" in html.unescape(page.text)
    assert CLIENT_SECRET not in page.text


@pytest.mark.parametrize(
    ("query", "named"),
    [("conn_id=bad%20id%3Cx%3E", "conn_id 'bad id<x>'"), ("sandbox=Not_A_Sandbox", "sandbox")],
)
def test_bad_input_is_refused_naming_the_field_before_aep_is_asked(client, fake, query, named):
    answer = client.get(f"/api/health?{query}", headers=as_admin())
    assert answer.status_code == 400
    assert named in answer.json()["detail"]
    assert fake.calls == []


@pytest.fixture
def task_report(mocker):
    from airflow_provider_aep.plugins.airflow_side import TaskReport

    summary = {
        "run_id": "r1",
        "flow_id": "f1",
        "status": "success",
        "started_at": "2026-12-01T06:00:00+00:00",
        "completed_at": "2026-12-01T06:01:00+00:00",
        "duration_seconds": 60.0,
        "input_records": 300,
        "output_records": 300,
        "skipped_records": 0,
        "failed_records": 0,
        "output_bytes": 4096,
        "files_out": 2,
        "errors": [],
        "attempts": 2,
        "sources": [{"id": "ds-1", "input_records": 300, "output_records": 300}],
        "segments": [],
    }
    event = {
        "location": "s3://bucket/exports",
        "files": [{"uri": "s3://bucket/exports/part-0.json", "path": "part-0.json", "records": 150}],
        "files_out": 2,
        "files_listed": 1,
    }
    report = TaskReport(
        "daily", "scheduled__1", "wait", -1, "AEPDataflowRunSensor", "success", 3, summary, (event,)
    )
    return mocker.patch("airflow_provider_aep.plugins.airflow_side.read_task_report", return_value=report)


TASK = "/task?dag_id=daily&run_id=scheduled__1&task_id=wait&map_index=-1"


def test_the_task_view_shows_the_runs_counts_files_and_attempts(client, auth, task_report):
    page = client.get(TASK, headers=as_admin())
    assert page.status_code == 200
    for text in ("r1", "300 in, 300 out", "2 file(s), 4096 bytes", "s3://bucket/exports/part-0.json", "ds-1"):
        assert text in page.text
    assert "2 (Airflow try 3)" in page.text
    assert "1 of 2 files listed" in page.text
    assert ("dag", ("GET", "TASK_INSTANCE", "daily", "admin")) in auth.asked
    task_report.assert_called_once_with("daily", "scheduled__1", "wait", -1)


@pytest.fixture
def report_without_events(task_report):
    from dataclasses import replace

    report = replace(
        task_report.return_value,
        asset_events=(),
        read_with={"aep_conn_id": "aep_default", "sandbox_name": "dev"},
    )
    task_report.return_value = report
    return report


def test_without_asset_events_the_files_are_read_from_aep(client, mocker, report_without_events):
    files = [{"uri": "s3://bucket/exports/part-0.json", "path": "part-0.json", "records": 300}]
    read = mocker.patch.object(health_app, "read_run_files", return_value=("s3://bucket/exports", files))
    page = client.get(TASK, headers=as_admin())
    assert "Files at s3://bucket/exports" in page.text
    assert "s3://bucket/exports/part-0.json" in page.text
    hook, run_id, flow_id, account = read.call_args.args
    assert (run_id, flow_id, account) == ("r1", "f1", None)
    assert (hook.aep_conn_id, hook.sandbox_name) == ("aep_default", "dev")


def test_without_access_to_the_connection_the_task_view_says_so_and_aep_is_not_asked(
    client, mocker, report_without_events
):
    read = mocker.patch.object(health_app, "read_run_files")
    page = client.get(TASK, headers={"Authorization": "Bearer viewer-token"})
    assert page.status_code == 200
    assert "needs read access to connection" in html.unescape(page.text)
    read.assert_not_called()


def test_the_task_view_of_a_dag_the_user_may_not_read_is_refused(client, task_report):
    answer = client.get(TASK.replace("daily", "setup"), headers={"Authorization": "Bearer viewer-token"})
    assert answer.status_code == 403
    task_report.assert_not_called()


def test_an_unmapped_task_whose_map_index_the_ui_left_unfilled_is_read_as_not_mapped(client, task_report):
    page = client.get(TASK.replace("map_index=-1", "map_index={MAP_INDEX}"), headers=as_admin())
    assert page.status_code == 200
    task_report.assert_called_once_with("daily", "scheduled__1", "wait", -1)
    answer = client.get(f"/api{TASK.replace('map_index=-1', 'map_index=two')}", headers=as_admin())
    assert answer.status_code == 400
    assert "map_index 'two' is not a whole number" in answer.json()["detail"]


def test_an_unknown_task_instance_is_not_found(client, mocker):
    mocker.patch("airflow_provider_aep.plugins.airflow_side.read_task_report", return_value=None)
    assert client.get(f"/api{TASK}", headers=as_admin()).status_code == 404


def test_the_plugin_shows_a_nav_page_and_a_task_instance_tab_on_airflow_3_1_and_later():
    from airflow_provider_aep.plugins.aep_health import AEPHealthPlugin, LazyHealthApp
    from airflow_provider_aep.version_compat import AIRFLOW_V_3_1_PLUS

    if not AIRFLOW_V_3_1_PLUS:
        assert (AEPHealthPlugin.fastapi_apps, AEPHealthPlugin.external_views) == ([], [])
        return
    (mounted,) = AEPHealthPlugin.fastapi_apps
    assert mounted["url_prefix"] == "/aep"
    assert isinstance(mounted["app"], LazyHealthApp)
    views = {view["destination"]: view for view in AEPHealthPlugin.external_views}
    assert views["nav"]["href"] == "aep/health"
    assert views["task_instance"]["href"] == (
        "/aep/task?dag_id={DAG_ID}&run_id={RUN_ID}&task_id={TASK_ID}&map_index={MAP_INDEX}"
    )


def test_the_plugin_is_registered_as_airflow_loads_plugins():
    from pathlib import Path

    import tomllib

    from airflow_provider_aep.get_provider_info import get_provider_info

    project = tomllib.loads((Path(__file__).parents[3] / "pyproject.toml").read_text())
    plugin = "airflow_provider_aep.plugins.aep_health:AEPHealthPlugin"
    assert project["project"]["entry-points"]["airflow.plugins"] == {"aep_health": plugin}
    assert get_provider_info()["plugins"] == [
        {"name": "aep_health", "plugin-class": plugin.replace(":", ".")}
    ]


def test_the_lazy_app_is_built_on_its_first_request_only(mocker):
    from airflow_provider_aep.plugins.aep_health import LazyHealthApp

    built = mocker.patch("airflow_provider_aep.plugins.app.create_app", side_effect=create_app)
    lazy = LazyHealthApp()
    assert built.call_count == 0
    with TestClient(lazy) as test_client:
        assert test_client.get("/health").status_code == 401
        assert test_client.get("/health").status_code == 401
    assert built.call_count == 1


def test_reading_another_sandbox_than_the_connections_needs_edit_access(client, fake):
    aep_answers(fake, [flow("f1", "dev export")], [])
    refused = client.get("/api/health?sandbox=dev", headers=as_admin())
    assert refused.status_code == 403
    assert "reading sandbox 'dev' instead of 'prod' needs edit access" in refused.json()["detail"]
    assert fake.calls == []
    assert client.get("/api/health?sandbox=prod", headers=as_admin()).status_code == 200
    editor = client.get("/api/health?sandbox=dev", headers={"Authorization": "Bearer editor-token"})
    assert editor.status_code == 200
    assert {c.headers["x-sandbox-name"] for c in fake.api_calls} == {"prod", "dev"}


def test_only_an_aep_connection_is_read(client, fake, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_OTHER_HTTP", json.dumps({"conn_type": "http", "host": "example.com"}))
    other = client.get("/api/health?conn_id=other_http", headers=as_admin())
    assert other.status_code == 400
    assert "is a 'http' connection" in other.json()["detail"]
    missing = client.get("/api/health?conn_id=nowhere", headers=as_admin())
    assert missing.status_code == 403  # not readable: whether it exists is not said
    assert fake.calls == []


def test_while_aep_fails_people_refreshing_wait_for_no_new_read(client, fake):
    refused = response(400, {"title": "Bad request", "status": 400})
    fake.default = lambda call: refused if call.flow_path == "/flows" else response(200, {"items": []})
    for _ in range(3):
        assert client.get("/api/health", headers=as_admin()).status_code == 502
    assert len([c for c in fake.api_calls if c.flow_path == "/flows"]) == 1


def test_the_task_view_of_another_operator_shows_nothing_it_returned(client, task_report):
    from dataclasses import replace

    task_report.return_value = replace(
        task_report.return_value, operator="PythonOperator", returned={"customer_emails": ["a@example.com"]}
    )
    body = client.get(f"/api{TASK}", headers=as_admin()).json()
    assert body["returned"] is None
    assert body["asset_events"] == []
    assert body["files_from_aep"] is None
    page = client.get(TASK, headers=as_admin())
    assert "a@example.com" not in page.text
    assert "not one of the AEP provider" in page.text


def test_the_task_view_needs_the_dags_xcoms_too(client, task_report):
    answer = client.get(TASK.replace("daily", "no_xcoms"), headers={"Authorization": "Bearer viewer-token"})
    assert answer.status_code == 403
    task_report.assert_not_called()


def test_odd_asset_event_extras_do_not_break_the_task_view(client, task_report):
    from dataclasses import replace

    odd = ({"files_out": 2, "files_listed": None, "files": "not-a-list"}, ["not", "a", "mapping"])
    task_report.return_value = replace(task_report.return_value, asset_events=odd)
    assert client.get(TASK, headers=as_admin()).status_code == 200


def test_a_task_whose_connection_is_not_known_is_not_read_with_another(client, mocker, report_without_events):
    from dataclasses import replace

    read = mocker.patch.object(health_app, "read_run_files")
    health_app_report = replace(report_without_events, read_with={})
    mocker.patch("airflow_provider_aep.plugins.airflow_side.read_task_report", return_value=health_app_report)
    page = client.get(TASK, headers=as_admin())
    assert "the task&#39;s connection is not known" in page.text
    read.assert_not_called()
