"""The ``aep`` connection form and the Test button of the connection list, in a real browser."""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import pytest

from aep_emulator.server import free_port
from airflow_provider_aep.get_provider_info import get_provider_info
from tests.ui.conftest import open_page, screenshot, side_by_side

pytestmark = pytest.mark.ui
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the dev extra) is not installed")
expect = sync_api.expect

STANDARD_LABELS = ["Platform URL", "Platform port", "Client ID", "Client secret"]
ORG_ID_MESSAGE = "Org ID (extra.org_id) is required: your IMS org id (…@AdobeOrg)"


def _form_fields() -> dict[str, dict[str, Any]]:
    return get_provider_info()["connection-types"][0]["conn-fields"]


def open_add_form(page: Any, stack: Any) -> Any:
    open_page(page, stack, "/connections")
    page.get_by_role("button", name="Add Connection").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("combobox").last.fill("Adobe")
    page.get_by_role("option", name="Adobe Experience Platform").click()
    return dialog


def extra_field(dialog: Any, key: str) -> Any:
    """The input of a form field the provider declares (``conn-fields``)."""
    return dialog.locator(f"[name=element_{key}]")


def open_section(dialog: Any, name: str) -> None:
    """Open one of the form's sections (opening one closes the other)."""
    trigger = dialog.get_by_role("button", name=name, exact=True)
    if trigger.get_attribute("aria-expanded") != "true":
        trigger.click()
    expect(trigger).to_have_attribute("aria-expanded", "true")


def fill_form(dialog: Any, values: dict[str, Any]) -> None:
    if "Connection ID" in values:
        dialog.get_by_label("Connection ID").fill(values["Connection ID"])
    standard = {k: v for k, v in values.items() if k in STANDARD_LABELS}
    if standard:
        open_section(dialog, "Standard Fields")
        for label, value in standard.items():
            dialog.get_by_label(label, exact=True).fill(str(value))
    extras = {k: v for k, v in values.items() if k in _form_fields()}
    if extras:
        open_section(dialog, "Extra Fields")
        for key, value in extras.items():
            extra_field(dialog, key).fill(str(value))


def add_connection(page: Any, stack: Any, emulator: Any, conn_id: str, **overrides: Any) -> None:
    """Through the form, the way a person enters the emulator's credentials."""
    config = emulator.config
    values = {
        "Connection ID": conn_id,
        "Platform URL": f"http://{config.host}",
        "Platform port": config.port,
        "Client ID": config.client_id,
        "Client secret": config.client_secret,
        "org_id": config.org_id,
        "ims_url": f"{config.url}/ims/token/v3",
        **overrides,
    }
    dialog = open_add_form(page, stack)
    fill_form(dialog, values)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()


def edit_connection(page: Any, conn_id: str, values: dict[str, Any]) -> None:
    row(page, conn_id).get_by_role("button", name="Edit Connection").click()
    dialog = page.get_by_role("dialog")
    fill_form(dialog, values)
    dialog.get_by_role("button", name="Save").click()
    expect(dialog).to_be_hidden()


def row(page: Any, conn_id: str) -> Any:
    return page.get_by_role("row").filter(has=page.get_by_role("cell", name=conn_id, exact=True))


def press_test(page: Any, conn_id: str, outcome: str, timeout: float = 20_000) -> str:
    """Click the row's Test; what the toast it raised says (``outcome``: Successful or Failed)."""
    row(page, conn_id).get_by_role("button", name="Test Connection").click()
    toast = page.locator("[data-scope=toast][data-part=root]").filter(has_text=f"Test Connection {outcome}")
    description = toast.locator("[data-part=description]")
    expect(description).not_to_be_empty(timeout=timeout)
    message = str(description.inner_text())
    # A toast under the pointer stays for the screenshot; it lasts 2 s, so it may be gone already.
    with contextlib.suppress(sync_api.Error):
        toast.hover(timeout=1_000)
    return message


def test_the_form_shows_every_field_with_its_label_and_help(page, stack):
    dialog = open_add_form(page, stack)
    labels = [
        t.replace("*", "").strip() for t in dialog.get_by_role("group").locator("label").all_inner_texts()
    ]
    assert labels[:2] == ["Connection ID", "Connection Type"]
    assert sorted(labels[2:]) == sorted(STANDARD_LABELS)
    assert not any(hidden in labels for hidden in ("Schema", "Description", "Port", "Login", "Password"))
    open_section(dialog, "Extra Fields")
    for key, field in _form_fields().items():
        group = dialog.get_by_role("group").filter(has=page.locator(f"[name=element_{key}]"))
        assert group.locator("label").inner_text().strip().rstrip("*").strip() == field["label"]
        expect(group).to_contain_text(field["description"])
        default = field["schema"].get("default")
        assert extra_field(dialog, key).input_value() == ("" if default is None else str(default))
    # Org ID is required: marked, and Save stays off until it is filled.
    org = dialog.get_by_role("group").filter(has=page.locator("[name=element_org_id]"))
    expect(org.locator("label")).to_contain_text("*")
    fill_form(dialog, {"Connection ID": "aep_default", "Client ID": "0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c"})
    expect(dialog.get_by_role("button", name="Save")).to_be_disabled()
    fill_form(
        dialog,
        {
            "Platform URL": "https://platform.adobe.io",
            "Platform port": 443,
            "Client secret": "not-a-real-secret",
            "org_id": "1234ABCD5678EF90@AdobeOrg",
        },
    )
    expect(dialog.get_by_role("button", name="Save")).to_be_enabled()
    assert dialog.get_by_label("Client secret", exact=True).get_attribute("type") == "password"
    # The README's picture: both sections of the filled-in form (one opens at a time).
    page.set_viewport_size({"width": 1280, "height": 1400})
    open_section(dialog, "Standard Fields")
    standard = screenshot(dialog, "connection-form-standard-fields")
    open_section(dialog, "Extra Fields")
    extra = screenshot(dialog, "connection-form-extra-fields")
    side_by_side(page, [standard, extra], "connection-form", docs="connection-form.png")


def test_a_connection_made_in_the_form_passes_test_in_the_list(page, stack, ui_emulator):
    add_connection(page, stack, ui_emulator, "aep_form_good")
    port = ui_emulator.config.port
    expect(row(page, "aep_form_good")).to_contain_text(str(port))
    with page.expect_request(lambda r: r.url.endswith("/api/v2/connections/test")) as sent:
        message = press_test(page, "aep_form_good", "Successful")
    # The list sends the stored port back (for a connection without one it sends 0, and the
    # api-server answers Bad Request), and the masked secret, which the api-server fills in.
    body = json.loads(sent.value.post_data or "{}")
    assert (body["port"], body["password"]) == (port, "***")
    assert re.fullmatch(r"Connected to sandbox 'prod': [1-9]\d* connection specs visible", message), message
    screenshot(page, "connection-test-ok")


def test_a_wrong_secret_fails_right_after_a_good_test(page, stack, ui_emulator):
    add_connection(page, stack, ui_emulator, "aep_form_secret")
    press_test(page, "aep_form_secret", "Successful")
    edit_connection(page, "aep_form_secret", {"Client secret": "a-mistyped-client-secret"})
    message = press_test(page, "aep_form_secret", "Failed")
    ims = f"{ui_emulator.url}/ims/token/v3"
    assert message == f"IMS ({ims}) refused the client credentials: HTTP 401 invalid_client"
    screenshot(page, "connection-test-wrong-secret")


def test_an_unreachable_platform_is_reported_at_once(page, stack, ui_emulator):
    add_connection(page, stack, ui_emulator, "aep_form_unreachable")
    closed = free_port()  # nothing listens there
    edit_connection(page, "aep_form_unreachable", {"Platform port": closed})
    # One try, no backoff: the answer comes well before a retried request could give up.
    message = press_test(page, "aep_form_unreachable", "Failed", timeout=8_000)
    assert message == f"Platform (http://127.0.0.1:{closed}) could not be reached: ConnectionError"


def test_a_connection_without_org_id_names_the_field(page, stack, ui_emulator):
    config = ui_emulator.config
    conn = {
        "connection_id": "aep_no_org", "conn_type": "aep", "host": "http://127.0.0.1", "port": config.port,
        "login": config.client_id, "password": config.client_secret,
        "extra": json.dumps({"ims_url": f"{config.url}/ims/token/v3"}),
    }  # fmt: skip
    added = stack.api("POST", "/connections", conn)
    assert added.status_code == 201, added.text
    open_page(page, stack, "/connections")
    assert press_test(page, "aep_no_org", "Failed") == ORG_ID_MESSAGE
