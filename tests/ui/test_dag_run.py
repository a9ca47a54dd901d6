"""The export example DAG as a person watches it in the Airflow UI: the deferred sensor, the
"AEP dataflow" links, the run summary in XCom, masked secrets in Rendered Templates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aep_emulator.demo import DEMO_CREDENTIALS
from tests.ui.conftest import EXPORT_DAG, SENSOR, TEMPLATED_DAG, open_page, screenshot
from tests.ui.stack import TEMPLATED_SECRET

pytestmark = pytest.mark.ui
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra) is not installed")
expect = sync_api.expect


def task_page(dag_id: str, run_id: str, task_id: str, tab: str = "") -> str:
    return f"/dags/{dag_id}/runs/{run_id}/tasks/{task_id}" + (f"/{tab}" if tab else "")


def flow_page_url(stack: Any, emulator: Any, run_id: str) -> str:
    flow_id = stack.xcom(EXPORT_DAG, run_id, "create_dataflow")
    assert flow_id, "create_dataflow returned no flow id"
    return f"{emulator.url}/_emulator/ui/flows/{flow_id}"


# The sensor must be seen waiting before the run is let finish: this test comes first.
def test_the_sensor_is_shown_deferred_while_the_aep_run_goes_on(page, stack, deferred_export):
    open_page(page, stack, task_page(EXPORT_DAG, deferred_export, SENSOR))
    header = page.get_by_role("heading", name=SENSOR).locator("..")
    expect(header).to_contain_text("Deferred")
    expect(page.get_by_text("polling again in").first).to_be_visible()
    screenshot(page, "sensor-deferred")


@pytest.mark.parametrize("task_id", ["create_dataflow", SENSOR])
def test_the_aep_dataflow_link_opens_the_dataflows_page(page, stack, ui_emulator, finished_export, task_id):
    expected = flow_page_url(stack, ui_emulator, finished_export)
    open_page(page, stack, task_page(EXPORT_DAG, finished_export, task_id, "details"))
    link = page.get_by_role("link", name="AEP dataflow", exact=True)
    expect(link).to_have_attribute("href", expected)
    screenshot(page, f"extra-link-{task_id}")
    opened = page.goto(expected)
    assert opened is not None
    assert opened.status == 200
    expect(page.locator("body")).to_contain_text(expected.rsplit("/", 1)[1])


def test_the_log_links_the_whole_dataflow_page_url(page, stack, ui_emulator, finished_export):
    expected = flow_page_url(stack, ui_emulator, finished_export)
    open_page(page, stack, task_page(EXPORT_DAG, finished_export, "create_dataflow"))
    # The log view makes links of URLs: this one must be the page's URL, nothing after it.
    links = page.locator(f"a[href^='{ui_emulator.url}']")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", expected)
    expect(links).to_have_text(expected)
    line = page.locator("*").filter(has_text="Dataflow page:").filter(has=links).last
    expect(line).to_contain_text(f"Dataflow page: {expected}")
    screenshot(page, "dataflow-log-link")


def test_the_sensors_xcom_shows_the_run_summary(page, stack, finished_export):
    summary = stack.xcom(EXPORT_DAG, finished_export, SENSOR)
    assert summary["status"] == "success"
    assert summary["output_records"] > 0
    open_page(page, stack, task_page(EXPORT_DAG, finished_export, SENSOR, "xcom"))
    page.get_by_role("button", name="Expand all extra JSON").click()
    value = page.get_by_role("row").filter(has=page.get_by_role("cell", name="return_value", exact=True))
    for key in ("run_id", "status", "input_records", "output_records", "files_out", "output_bytes"):
        expect(value).to_contain_text(f'"{key}": {json.dumps(summary[key])}')
    screenshot(page, "export-run-summary", docs="export-run-summary.png")


def test_rendered_templates_show_secrets_masked(
    page, stack, ui_emulator, finished_templated, finished_export
):
    open_page(
        page,
        stack,
        task_page(TEMPLATED_DAG, finished_templated, "create_base_connection", "rendered_templates"),
    )
    expect(page.get_by_text('"s3SecretKey"')).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="auth_params")).to_contain_text('"***"')
    screenshot(page, "rendered-templates-masked")
    shown = page.content()
    open_page(
        page, stack, task_page(EXPORT_DAG, finished_export, "create_base_connection", "rendered_templates")
    )
    expect(page.get_by_text("aep_amazon_s3_credentials")).to_be_visible()
    shown += page.content()
    secrets = [TEMPLATED_SECRET, ui_emulator.config.client_secret, DEMO_CREDENTIALS["amazon_s3"]["password"]]
    assert [s for s in secrets if s in shown] == []
