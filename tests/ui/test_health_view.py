"""The AEP health view in Airflow's UI: the "AEP health" page of the navigation listing the
sandbox's dataflows (a failed run with AEP's error code among them), the "AEP" tab of a task
instance, and Airflow's auth manager refusing a user who may not read the connection."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.emulator.conftest import Api
from tests.emulator.pipeline import make_pipeline
from tests.ui.conftest import EXPORT_DAG, SENSOR, open_page, screenshot, signed_in

pytestmark = pytest.mark.ui
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra) is not installed")
expect = sync_api.expect

FAILURE_CODE = "CONNECTOR-2001-500"
FAILURE_TEXT = "The destination bucket refused the upload"


def finish_runs_now(emulator: Any) -> None:
    """Let every run the emulator is holding end at once (the suite's runs last an hour)."""
    state = emulator.emulator.state
    with state.lock:
        for meta in state.data["meta"]["runs"].values():
            meta["complete_at"] = min(meta.get("complete_at", 0), time.time())


@pytest.fixture(scope="module")
def failed_flow(ui_emulator, finished_export) -> str:
    """A second export pipeline whose first run fails with AEP's error code."""
    api = Api(ui_emulator)
    flow_id = make_pipeline(api)["flow"]
    rule = {"flow": flow_id, "fail_run_attempts": 1, "code": FAILURE_CODE, "message": FAILURE_TEXT}
    api.http.post(f"{ui_emulator.url}/_emulator/faults", json=rule, timeout=10).raise_for_status()
    deadline = time.monotonic() + 30
    while True:
        finish_runs_now(ui_emulator)
        runs = api.ok("GET", "/runs", params={"property": f"flowId=={flow_id}"})["items"]
        if any(r["metrics"]["statusSummary"]["status"] == "failed" for r in runs):
            return flow_id
        assert time.monotonic() < deadline, f"the run of {flow_id} did not fail: {runs}"
        time.sleep(0.5)


def health_frame(page: Any) -> Any:
    return page.frame_locator("iframe[title='AEP health']")


def test_the_health_page_lists_each_flow_with_its_runs_and_a_failures_code(
    page, stack, ui_emulator, finished_export, failed_flow
):
    export_flow = stack.xcom(EXPORT_DAG, finished_export, "create_dataflow")
    open_page(page, stack, "/")
    page.get_by_role("button", name="Browse").click()
    page.get_by_text("AEP health", exact=True).click()
    expect(page).to_have_url(f"{stack.url}/plugin/aep-health")
    frame = health_frame(page)
    failed = frame.locator(f"tr[data-flow-id='{failed_flow}']")
    expect(failed).to_have_attribute("data-health", "failed")
    expect(failed).to_contain_text(FAILURE_CODE)
    expect(failed).to_contain_text(FAILURE_TEXT)
    healthy = frame.locator(f"tr[data-flow-id='{export_flow}']")
    expect(healthy).to_contain_text("success")
    summary = stack.xcom(EXPORT_DAG, finished_export, SENSOR)
    expect(healthy).to_contain_text(f"{summary['input_records']} in / {summary['output_records']} out")
    # The export DAG's tasks that made and watched the flow, linked to their task pages.
    watcher = healthy.get_by_role("link", name=f"{EXPORT_DAG}.{SENSOR}")
    expect(watcher).to_have_attribute("href", f"/dags/{EXPORT_DAG}/runs/{finished_export}/tasks/{SENSOR}")
    expect(healthy.get_by_role("link", name=f"{EXPORT_DAG}.create_dataflow")).to_be_visible()
    # The failed flow comes first: it needs a person.
    rows = frame.locator("#flows tbody tr")
    expect(rows.first).to_have_attribute("data-flow-id", failed_flow)
    screenshot(page, "aep-health", docs="aep-health.png")


def test_the_task_instance_tab_shows_the_runs_counts_and_files(page, stack, finished_export):
    summary = stack.xcom(EXPORT_DAG, finished_export, SENSOR)
    open_page(page, stack, f"/dags/{EXPORT_DAG}/runs/{finished_export}/tasks/{SENSOR}")
    tab = page.locator("a[href$='/plugin/aep-task']")
    expect(tab).to_contain_text("AEP")
    tab.click()
    frame = page.frame_locator("iframe[title='AEP']")
    run = frame.locator("#run")
    expect(run).to_contain_text(str(summary["run_id"]))
    expect(run).to_contain_text(f"{summary['input_records']} in, {summary['output_records']} out")
    expect(run).to_contain_text(f"{summary['files_out']} file(s), {summary['output_bytes']} bytes")
    expect(frame.locator("table.files").first).to_contain_text("s3://")
    screenshot(page, "aep-task-instance", docs="aep-task-instance.png")


def test_a_user_who_may_not_read_the_connection_is_refused(browser, stack, finished_export):
    context_page = browser.new_page()
    try:
        signed_in(browser, stack, "viewer")
        answer = context_page.goto(f"{stack.url}/aep/health")
        assert answer is not None
        assert answer.status == 403
        expect(context_page.locator("#refused")).to_contain_text(
            "reading connection 'aep_default' is not allowed"
        )
        screenshot(context_page, "aep-health-refused")
        # The viewer may read the DAG, so its task view answers; the API refuses without a token.
        task = f"dag_id={EXPORT_DAG}&run_id={finished_export}&task_id={SENSOR}"
        assert context_page.goto(f"{stack.url}/aep/task?{task}").status == 200
    finally:
        signed_in(browser, stack, "admin")
        context_page.close()
    assert httpx.get(f"{stack.url}/aep/api/health", timeout=10).status_code == 401
    forged = {"Authorization": "Bearer not-a-token"}
    assert httpx.get(f"{stack.url}/aep/api/health", headers=forged, timeout=10).status_code == 403


def test_the_json_api_answers_an_admin_token(stack, ui_emulator, failed_flow):
    headers = {"Authorization": f"Bearer {stack.token('admin')}"}
    body = httpx.get(f"{stack.url}/aep/api/health", headers=headers, timeout=30).json()
    by_id = {flow["flow_id"]: flow for flow in body["flows"]}
    assert by_id[failed_flow]["health"] == "failed"
    codes = [code for run in by_id[failed_flow]["runs"] for code in run["error_codes"]]
    assert FAILURE_CODE in codes
