"""What a person sees in the Airflow UI: the connection form, its Test button, the log's links.

The browser tests in tests/ui drive the same things through a real Airflow; these pin each fix
without one.
"""

from __future__ import annotations

import json
import re

import pytest
import requests
from airflow.models.connection import Connection as ORMConnection
from airflow.sdk import Connection

from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.get_provider_info import get_provider_info
from airflow_provider_aep.hooks.aep import TEST_CONNECT_TIMEOUT, AEPHook
from airflow_provider_aep.hooks.connection import FORM_LABELS, AEPConnectionSettings, form_message
from airflow_provider_aep.operators.dataflows import AEPCreateDataflowOperator
from tests.conftest import CLIENT_SECRET, ORG_ID
from tests.unit.fake_http import response

PLATFORM = "https://platform.example.test"
#: How Airflow 3.3's log view finds links (ui/src/components/renderStructuredLog: a blank or the
#: line start before, everything up to the next blank).
LOG_LINK = re.compile(r"(?:\s|^)(https?://(?:www\.|(?!www))[^\s.]+\.\S{2,}|www\.\S+\.\S{2,})")
#: A connection id as the api-server makes one for Test (get_random_string).
TRANSIENT_ID = "qwertyuiopasdfgh"


def _form() -> dict:
    return get_provider_info()["connection-types"][0]


def _conn(**fields) -> dict:
    base = {
        "conn_type": "aep",
        "login": "demo-client-id",
        "password": CLIENT_SECRET,
        "host": PLATFORM,
        "extra": {"org_id": ORG_ID, "ims_url": f"{PLATFORM}/ims/token/v3"},
    }
    return {**base, **fields}


def _as_the_api_server_tests_it(monkeypatch, conn: dict) -> AEPHook:
    """Test's path: the form's values as a Connection, its URI in an env var under a throwaway id."""
    orm = ORMConnection(conn_id=TRANSIENT_ID, **{**conn, "extra": json.dumps(conn.get("extra") or {})})
    monkeypatch.setenv(f"AIRFLOW_CONN_{TRANSIENT_ID.upper()}", orm.get_uri())
    return AEPHook(TRANSIENT_ID)


# -- the form ---------------------------------------------------------------------------------------


def test_the_form_labels_are_the_ones_messages_use():
    form = _form()
    labels = {f"extra.{key}": field["label"] for key, field in form["conn-fields"].items()}
    labels.update(form["ui-field-behaviour"]["relabeling"])
    assert labels == FORM_LABELS


def test_org_id_is_required_in_the_form():
    # Airflow's form marks a field required when its schema type does not allow null.
    schema = _form()["conn-fields"]["org_id"]["schema"]
    assert schema["type"] == "string"
    assert schema["minLength"] == 1
    others = [f["schema"]["type"] for k, f in _form()["conn-fields"].items() if k != "org_id"]
    assert all("null" in t for t in others)


def test_ui_url_can_be_set_in_the_form():
    field = _form()["conn-fields"]["ui_url"]
    assert field["label"] == "Dataflow page URL"
    assert "{flow_id}" in field["description"]


def test_the_form_keeps_the_port_so_the_list_test_can_match_it():
    behaviour = _form()["ui-field-behaviour"]
    assert "port" not in behaviour["hidden-fields"]
    assert behaviour["relabeling"]["port"] == "Platform port"
    assert behaviour["placeholders"]["port"].startswith("443")


# -- the port ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("http://127.0.0.1:8765", 0, "http://127.0.0.1:8765"),
        ("http://127.0.0.1:8765", None, "http://127.0.0.1:8765"),
        ("http://127.0.0.1:8765", 8765, "http://127.0.0.1:8765"),
        ("http://127.0.0.1", 8765, "http://127.0.0.1:8765"),
        ("https://platform.adobe.io", 443, "https://platform.adobe.io:443"),
        ("https://platform.adobe.io", 0, "https://platform.adobe.io"),
        ("platform.adobe.io", 443, "https://platform.adobe.io:443"),
        ("http://[::1]", 8765, "http://[::1]:8765"),
        ("", 0, "https://platform.adobe.io"),
    ],
)
def test_a_port_of_0_is_no_port_and_another_joins_the_url(host, port, url):
    conn = Connection(conn_id="x", conn_type="aep", login="c", password="p", host=host, port=port,
                      extra=json.dumps({"org_id": ORG_ID}))  # fmt: skip
    assert AEPConnectionSettings.from_connection(conn).platform_url == url


@pytest.mark.parametrize(
    ("host", "port"), [("http://127.0.0.1:8765", 9999), ("https://p.example.test", 70000)]
)
def test_a_port_that_contradicts_the_url_or_is_no_port_is_refused(host, port):
    conn = Connection(conn_id="x", conn_type="aep", login="c", password="p", host=host, port=port,
                      extra=json.dumps({"org_id": ORG_ID}))  # fmt: skip
    with pytest.raises(AEPValidationError) as err:
        AEPConnectionSettings.from_connection(conn)
    assert err.value.field == "connection 'x' port"
    assert form_message(err.value).startswith(f"Platform port (port)={port} is not valid")


def test_the_list_rows_port_0_still_tests_the_connection(monkeypatch, fake):
    """Airflow 3.3.2's Test in the connection list sends ``port: 0`` for a connection without one."""
    hook = _as_the_api_server_tests_it(monkeypatch, _conn(host="http://127.0.0.1:8765", port=0,
        extra={"org_id": ORG_ID, "ims_url": "http://127.0.0.1:8765/ims/token/v3"}))  # fmt: skip
    ok, message = hook.test_connection()
    assert ok, message
    assert {c.url.split("/")[2] for c in fake.calls} == {"127.0.0.1:8765"}


# -- what Test says ---------------------------------------------------------------------------------


def test_no_org_id_names_the_forms_field_not_the_throwaway_id(monkeypatch, fake):
    hook = _as_the_api_server_tests_it(monkeypatch, _conn(extra={"sandbox_name": "prod"}))
    ok, message = hook.test_connection()
    assert not ok
    assert message == "Org ID (extra.org_id) is required: your IMS org id (…@AdobeOrg)"
    assert TRANSIENT_ID not in message
    assert fake.calls == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"login": ""}, "Client ID (login) is required: the IMS client ID"),
        ({"password": None}, "Client secret (password) is required: the IMS client secret"),
        ({"host": "http://10.0.0.5:8765"}, "Platform URL (host)='http://10.0.0.5:8765' is not valid: an https://"),
        ({"extra": {"org_id": ORG_ID, "sandbox_name": "Prod Two"}}, "Sandbox (extra.sandbox_name)='Prod Two' is not valid"),
        ({"extra": {"org_id": ORG_ID, "ui_url": "https://x/{flow}"}}, "Dataflow page URL (extra.ui_url)="),
        ({"extra": {"org_id": ORG_ID, "timeout": "soon"}}, "Read timeout (seconds) (extra.timeout)='soon' is not valid"),
    ],
)  # fmt: skip
def test_every_refused_field_is_named_by_its_label(monkeypatch, fake, fields, expected):
    ok, message = _as_the_api_server_tests_it(monkeypatch, _conn(**fields)).test_connection()
    assert not ok
    assert message.startswith(expected)
    assert TRANSIENT_ID not in message
    assert CLIENT_SECRET not in message


def test_an_unreachable_platform_is_tried_once(monkeypatch, fake, sleeps):
    fake.queue = [requests.ConnectionError("refused")] * 6
    hook = AEPHook()
    ok, message = hook.test_connection()
    assert (ok, message) == (False, f"Platform ({PLATFORM}) could not be reached: ConnectionError")
    assert [c.flow_path for c in fake.calls if "flowservice" in c.path] == ["/connectionSpecs"]
    assert sleeps == []


def test_a_failing_ims_is_tried_once(fake, sleeps):
    fake.token_answers = [response(503, {"error": "unavailable"})] * 6
    ok, message = AEPHook().test_connection()
    assert not ok
    assert message.startswith("IMS (")
    assert "HTTP 503" in message
    assert len(fake.calls) == 1
    assert sleeps == []


def test_test_waits_briefly_and_the_hook_keeps_its_own_policy(fake):
    hook = AEPHook()
    policy = hook.retry_policy
    assert hook.test_connection()[0]
    assert {c.options["timeout"] for c in fake.calls} == {(TEST_CONNECT_TIMEOUT, 20.0)}
    assert hook.retry_policy is policy
    assert hook.timeout == (10.0, 60.0)


def test_a_wrong_secret_right_after_a_good_test_fails(monkeypatch, fake):
    assert _as_the_api_server_tests_it(monkeypatch, _conn()).test_connection()[0]
    fake.token_answers = [response(401, {"error": "invalid_client", "error_description": "bad secret"})]
    ok, message = _as_the_api_server_tests_it(
        monkeypatch, _conn(password="wrong-secret-0000")
    ).test_connection()
    assert not ok
    assert message == f"IMS ({PLATFORM}/ims/token/v3) refused the client credentials: HTTP 401 invalid_client"
    assert [c.data["client_secret"] for c in fake.calls if c.path.endswith("/token/v3")] == [
        CLIENT_SECRET,
        "wrong-secret-0000",
    ]


# -- the log's link -----------------------------------------------------------------------------------


def test_the_created_dataflows_page_url_is_a_whole_link_in_the_log(fake, mocker):
    fake.default = lambda call: response(200, {"id": "flow-1", "etag": '"e-1"'})
    mocker.patch.object(AEPHook, "iter_entities", autospec=True, side_effect=lambda *a, **k: iter([]))
    mocker.patch.object(AEPHook, "get_entity", autospec=True, return_value=None)
    op = AEPCreateDataflowOperator(
        task_id="f", destination="sftp", name="n", source_connection_id="s", target_connection_id="t",
        end_time=1975901210,
    )  # fmt: skip
    info = mocker.spy(op.log, "info")
    assert op.execute({"ti": mocker.MagicMock()}) == "flow-1"
    page = f"{PLATFORM}/_emulator/ui/flows/flow-1"
    assert op.aep_dataflow_url == page
    lines = [c.args[0] % c.args[1:] for c in info.call_args_list]
    linked = [link for line in lines for link in LOG_LINK.findall(line)]
    assert linked == [page]
    assert f"Dataflow page: {page}" in lines
