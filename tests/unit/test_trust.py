"""Trust under attack: ids stay one path segment, secrets only over TLS, the token cache knows the
secret, echoed secrets never leave in an error text, hostile inputs are refused before any request."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from urllib.parse import quote, quote_plus

import httpx
import pendulum
import pytest
import requests
from airflow.sdk import DAG
from requests.utils import select_proxy

from airflow_provider_aep.exceptions import (
    AEPApiError,
    AEPAuthError,
    AEPDataflowRunFailed,
    AEPError,
    AEPValidationError,
)
from airflow_provider_aep.hooks import ims
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.hooks.async_client import AsyncAEPClient
from airflow_provider_aep.hooks.connection import AEPConnectionSettings
from airflow_provider_aep.operators.connections import AEPCreateBaseConnectionOperator
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor
from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger
from airflow_provider_aep.utils.ids import check_path, path_segment
from airflow_provider_aep.utils.runs import run_filters, summarize_run
from tests import seed_bodies as seed
from tests.conftest import CLIENT_SECRET, ORG_ID, aep_conn_json
from tests.unit.conftest import PLATFORM
from tests.unit.fake_http import TOKEN, response

FS = "/data/foundation/flowservice"
BASE_ID = "6f0c2a9e-7a3b-4c1d-9e8f-0a1b2c3d4e5f"

HOSTILE_IDS = [
    f"x/../../connections/{BASE_ID}",
    "../connections",
    "a?op=disable",
    "a#fragment",
    "a/b",
    "%2e%2e",
    "..",
    ".",
    "",
    None,
    42,
    "id with space",
    "a\nb",
    "x" * 129,
]

ID_METHODS = [
    ("flow_id", lambda hook, v: hook.get_flow(v)),
    ("flow_id", lambda hook, v: hook.delete_entity("flows", v)),
    ("flow_id", lambda hook, v: hook.enable_flow(v)),
    ("flow_id", lambda hook, v: hook.disable_flow(v)),
    ("flow_id", lambda hook, v: list(hook.iter_runs(v if v is not None else ""))),
    ("run_id", lambda hook, v: hook.get_run(v)),
    ("base_connection_id", lambda hook, v: hook.get_entity("connections", v)),
    ("base_connection_id", lambda hook, v: hook.delete_entity("connections", v)),
    ("source_connection_id", lambda hook, v: hook.get_entity("sourceConnections", v)),
    ("source_connection_id", lambda hook, v: hook.delete_entity("sourceConnections", v)),
    ("target_connection_id", lambda hook, v: hook.get_entity("targetConnections", v)),
    ("connection_spec_id", lambda hook, v: hook.get_connection_spec(v)),
    ("flow_spec_id", lambda hook, v: hook.get_flow_spec(v)),
]


# -- 1. ids are one path segment ---------------------------------------------------------------------


@pytest.mark.parametrize("bad_id", HOSTILE_IDS)
@pytest.mark.parametrize(("field", "call"), ID_METHODS)
def test_an_id_that_cannot_be_an_aep_id_is_refused_before_any_request(hook, fake, field, call, bad_id):
    with pytest.raises(AEPValidationError) as err:
        call(hook, bad_id)
    assert err.value.field == field
    assert field in str(err.value)
    assert fake.calls == []


def test_delete_dataflow_cannot_be_steered_onto_a_base_connection(hook, fake):
    with pytest.raises(AEPValidationError, match="flow_id"):
        hook.delete_entity("flows", f"x/../../connections/{BASE_ID}")
    assert not [c for c in fake.calls if c.method == "DELETE"]


@pytest.mark.parametrize("entity_id", ["abc:1@x", "f-1", BASE_ID, "5b020a27e7040801dedbf46e"])
def test_an_id_is_sent_as_exactly_one_encoded_segment(hook, fake, entity_id):
    hook.get_flow(entity_id)
    [call] = fake.api_calls
    assert call.flow_path == "/flows/" + path_segment("flow_id", entity_id)
    assert call.flow_path.count("/") == 2
    assert "?" not in call.url


@pytest.mark.parametrize("path", ["/flows/../connections", "/flows/a?b", "/flows//x", "flows", "/flows/a#b"])
def test_the_hook_refuses_a_path_that_is_not_whole_segments(hook, fake, path):
    with pytest.raises(AEPValidationError, match="path"):
        hook.request("GET", path)
    assert fake.calls == []


def test_check_path_accepts_encoded_segments():
    assert check_path("/flows/abc%3A1/action") == "/flows/abc%3A1/action"


def test_the_async_client_refuses_a_hostile_run_id_before_any_request():
    sent: list[httpx.Request] = []
    settings = _settings()

    async def go() -> None:
        async with AsyncAEPClient(settings) as client:
            client.http = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: sent.append(r)))
            await client.get_run("../flows/" + BASE_ID)

    with pytest.raises(AEPValidationError, match="run_id"):
        asyncio.run(go())
    assert sent == []


def test_a_flow_id_cannot_add_alternatives_to_the_run_filter():
    with pytest.raises(AEPValidationError, match="flow_id"):
        run_filters("f-1,other", None)


# -- 2. secrets only over TLS -------------------------------------------------------------------------


def _conn(monkeypatch, host: str, *, ims_url: str | None = None, **extra):
    body = json.loads(aep_conn_json(host, ims_url=ims_url or "https://ims.example.test/ims/token/v3"))
    body["extra"].update(extra)
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", json.dumps(body))


@pytest.mark.parametrize(
    ("host", "ims_url", "field"),
    [
        ("http://platform.example.test", None, "host"),
        ("https://platform.example.test", "http://ims.example.test/ims/token/v3", "extra.ims_url"),
        ("http://10.0.0.5:8765", None, "host"),
        ("http://127.0.0.1.example.test", None, "host"),
        ("ftp://platform.example.test", None, "host"),
    ],
)
def test_secrets_go_only_over_https(monkeypatch, fake, host, ims_url, field):
    _conn(monkeypatch, host, ims_url=ims_url)
    hook = AEPHook()
    with pytest.raises(AEPValidationError) as err:
        hook.list_connection_specs()
    assert err.value.field == f"connection 'aep_default' {field}"
    assert "https://" in str(err.value)
    ok, message = hook.test_connection()
    assert not ok
    assert field in message
    assert fake.calls == []


@pytest.mark.parametrize(
    "host", ["http://127.0.0.1:8765", "http://localhost:8765", "http://[::1]:8765", "http://127.5.6.7"]
)
def test_plain_http_is_allowed_to_loopback(monkeypatch, fake, host):
    _conn(monkeypatch, host, ims_url=f"{host}/ims/token/v3")
    AEPHook().list_connection_specs()
    assert [c.url.split("/")[2] for c in fake.calls] == [host.split("/")[2]] * 2


def test_the_trigger_refuses_plain_http_with_an_error_event_naming_the_field(monkeypatch, mocker):
    _conn(monkeypatch, "http://platform.example.test")
    sent = mocker.patch.object(httpx.AsyncClient, "send")

    async def collect():
        return [e async for e in AEPDataflowRunTrigger(flow_id="f-1", poll_interval=0.01).run()]

    [event] = asyncio.run(collect())
    assert event.payload["status"] == "error"
    assert "connection 'aep_default' host" in event.payload["message"]
    sent.assert_not_called()


# -- 3. the token cache knows the secret ------------------------------------------------------------


def test_a_rotated_or_mistyped_secret_is_not_served_a_cached_token(hook, fake, monkeypatch):
    hook.list_connection_specs()
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT",
        aep_conn_json(PLATFORM, ims_url=f"{PLATFORM}/ims/token/v3", secret="mistyped-secret-000"),
    )
    fake.token_answers = [response(401, {"error": "invalid_client", "error_description": "bad secret"})]
    with pytest.raises(AEPAuthError, match="invalid_client"):
        AEPHook().list_connection_specs()
    assert len(fake.api_calls) == 1  # only the first hook's call reached Platform
    forms = [c.data for c in fake.calls if c.path.endswith("/ims/token/v3")]
    assert [f["client_secret"] for f in forms] == [CLIENT_SECRET, "mistyped-secret-000"]


def test_the_cache_key_holds_a_digest_never_the_secret(hook, fake):
    hook.list_connection_specs()
    [key] = ims.TOKENS._tokens
    assert CLIENT_SECRET not in repr(key)
    assert key[:3] == (f"{PLATFORM}/ims/token/v3", "demo-client-id", hook.settings.scopes)
    rotated = replace(hook.settings, client_secret="rotated-secret-1234")
    assert ims.cache_key(hook.settings) == key
    assert ims.cache_key(rotated)[:3] == key[:3]
    assert ims.cache_key(rotated) != key


def test_the_connection_test_always_asks_ims(hook, fake):
    hook.list_connection_specs()
    ok, _ = hook.test_connection()
    assert ok
    assert fake.tokens_issued == 2


def test_the_connection_test_fails_for_a_wrong_secret_right_after_a_good_one(hook, fake):
    assert hook.test_connection()[0]
    fake.token_answers = [response(401, {"error": "invalid_client", "error_description": "bad secret"})]
    ok, message = hook.test_connection()
    assert not ok
    assert "refused the client credentials: HTTP 401 invalid_client" in message


# -- 4. nothing the server echoes leaks ------------------------------------------------------------


def test_ims_echoing_the_client_secret_is_scrubbed(hook, fake, logged):
    fake.token_answers = [
        response(
            401, {"error": f"invalid_client {CLIENT_SECRET}", "error_description": f"got {CLIENT_SECRET}"}
        )
    ]
    with pytest.raises(AEPAuthError) as err:
        hook.list_connection_specs()
    _, message = hook.test_connection()
    for text in (str(err.value), repr(err.value), err.value.description, err.value.error, message, logged()):
        assert CLIENT_SECRET not in text
    assert "***" in str(err.value)


def test_platform_echoing_the_token_and_secret_is_scrubbed(hook, fake, logged):
    token = f"{TOKEN}-1"
    fake.queue = [
        response(
            400,
            {
                "type": "https://ns.adobe.com/aep/errors/FLOW-1006-400",
                "title": f"Bad token {token}",
                "report": {"detailed-message": f"Authorization: Bearer {token}; secret={CLIENT_SECRET}"},
            },
        )
    ]
    with pytest.raises(AEPApiError) as err:
        hook.get_flow("f-1")
    texts = [str(err.value), repr(err.value.args), err.value.detail or "", err.value.title or "", logged()]
    assert all(token not in t and CLIENT_SECRET not in t for t in texts)
    assert err.value.code == "FLOW-1006-400"


def test_platform_echoing_a_destination_credential_is_scrubbed(fake, sleeps, monkeypatch, mocker):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT", aep_conn_json(PLATFORM, ims_url=f"{PLATFORM}/ims/token/v3")
    )
    mocker.patch.object(AEPHook, "iter_entities", autospec=True, return_value=iter([]))
    fake.queue = [response(400, {"error_code": "400100", "message": f"key {seed.S3_SECRET_KEY} was refused"})]
    op = AEPCreateBaseConnectionOperator(
        task_id="b",
        destination="amazon_s3",
        name="n",
        auth_params={"s3AccessKey": seed.S3_ACCESS_KEY, "s3SecretKey": seed.S3_SECRET_KEY},
    )
    op.render_template_fields({})
    with pytest.raises(AEPError) as err:
        op.execute({"ti": mocker.MagicMock()})
    assert seed.S3_SECRET_KEY not in str(err.value)
    assert "key *** was refused" in str(err.value)


def test_the_async_client_scrubs_an_echoed_secret(monkeypatch):
    settings = _settings()

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/ims/token/v3"):
            return httpx.Response(200, json={"access_token": "eyJ-async-token-123456", "expires_in": 3600})
        echoed = f"{request.headers['authorization']} {CLIENT_SECRET}"
        return httpx.Response(403, json={"error_code": "403003", "message": echoed})

    async def go() -> None:
        async with AsyncAEPClient(settings) as client:
            client.http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
            await client.list_runs(["flowId==f-1"])

    with pytest.raises(AEPApiError) as err:
        asyncio.run(go())
    assert "eyJ-async-token-123456" not in str(err.value)
    assert CLIENT_SECRET not in str(err.value)


def test_run_errors_echoing_a_secret_are_scrubbed_in_the_summary_and_the_failure():
    ims.mask(CLIENT_SECRET)
    run = {
        "id": "r-1",
        "metrics": {
            "statusSummary": {
                "status": "failed",
                "errors": [{"code": "X", "message": f"saw {CLIENT_SECRET}"}],
            }
        },
    }
    summary = summarize_run(run)
    assert CLIENT_SECRET not in json.dumps(summary)
    failure = AEPDataflowRunFailed("r-1", "failed", run["metrics"]["statusSummary"]["errors"])
    assert CLIENT_SECRET not in str(failure)
    assert CLIENT_SECRET not in json.dumps(failure.errors)


# -- 7. inputs that slipped through --------------------------------------------------------------------


@pytest.mark.parametrize(
    "sandbox", ["..", "../prod", "Prod", "prod\r\nx-api-key: evil", "a b", "-prod", "x" * 70]
)
def test_a_hostile_sandbox_name_is_refused_everywhere(monkeypatch, fake, sandbox):
    _conn(monkeypatch, PLATFORM, ims_url=f"{PLATFORM}/ims/token/v3", sandbox_name=sandbox)
    with pytest.raises(AEPValidationError, match=r"extra\.sandbox_name"):
        AEPHook().list_connection_specs()
    _conn(monkeypatch, PLATFORM, ims_url=f"{PLATFORM}/ims/token/v3")
    with pytest.raises(AEPValidationError, match="sandbox_name"):
        AEPHook(sandbox_name=sandbox).list_connection_specs()
    with pytest.raises(AEPValidationError, match="sandbox_name"):
        AEPHook().request("GET", "/flows", sandbox_name=sandbox)
    with DAG("d", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
        with pytest.raises(AEPValidationError, match="sandbox_name"):
            AEPCreateBaseConnectionOperator(
                task_id="b", destination="amazon_s3", name="n", auth_params={}, sandbox_name=sandbox
            )
        with pytest.raises(AEPValidationError, match="sandbox_name"):
            AEPDataflowRunSensor(task_id="s", flow_id="f-1", sandbox_name=sandbox)
    with pytest.raises(AEPValidationError, match="sandbox_name"):
        AsyncAEPClient(_settings(), sandbox_name=sandbox)
    assert fake.calls == []


@pytest.mark.parametrize("flow_id", [None, "", "  ", "a/../b"])
def test_the_sensor_refuses_a_missing_or_hostile_flow_id_when_parsed(flow_id):
    with pytest.raises(AEPValidationError, match="flow_id"):
        AEPDataflowRunSensor(task_id="s", flow_id=flow_id)


@pytest.mark.parametrize(
    ("conn", "params"),
    [
        (
            {
                "conn_type": "aws",
                "login": seed.S3_ACCESS_KEY,
                "password": seed.S3_SECRET_KEY,
                "extra": {"region_name": "eu-west-1", "role_arn": "arn:aws:iam::1:role/x", "verify": False},
            },
            {"s3AccessKey": seed.S3_ACCESS_KEY, "s3SecretKey": seed.S3_SECRET_KEY},
        ),
    ],
)
def test_standard_extras_of_an_aws_connection_are_not_sent_as_auth_params(monkeypatch, mocker, conn, params):
    monkeypatch.setenv("AIRFLOW_CONN_CREDS", json.dumps(conn))
    sent = _create_base(monkeypatch, mocker, destination="amazon_s3", credentials_conn_id="creds")
    assert sent["auth"] == {"specName": "Access Key", "params": params}


@pytest.mark.parametrize(
    ("extra", "spec", "params"),
    [
        (
            {"no_host_key_check": True, "key_file": "/home/airflow/.ssh/id_rsa", "timeout": 10},
            "SFTP with Password",
            {"domain": "sftp.example.com", "username": "u", "password": "pw-12345"},
        ),
        (
            {"private_key": "c3NoLWtleS1ib2R5", "no_host_key_check": "true"},
            "SFTP with SSH Key",
            {"domain": "sftp.example.com", "username": "u", "sshKey": "c3NoLWtleS1ib2R5"},
        ),
    ],
)
def test_an_sftp_connection_works_as_it_is(monkeypatch, mocker, extra, spec, params):
    conn = {"conn_type": "sftp", "login": "u", "host": "sftp.example.com", "extra": extra}
    if spec == "SFTP with Password":
        conn["password"] = "pw-12345"
    monkeypatch.setenv("AIRFLOW_CONN_CREDS", json.dumps(conn))
    sent = _create_base(monkeypatch, mocker, destination="sftp", credentials_conn_id="creds")
    assert sent["auth"] == {"specName": spec, "params": params}


@pytest.mark.parametrize(
    ("conn", "params"),
    [
        (
            {
                "conn_type": "google_cloud_platform",
                "extra": {
                    "accessKeyId": "GOOG1EXAMPLE",
                    "project": "p",
                    "num_retries": 5,
                    "keyfile_dict": "{}",
                },
            },
            {"accessKeyId": "GOOG1EXAMPLE"},
        ),
        (
            {
                "conn_type": "aws",
                "extra": {
                    "accessId": "AKIAEXAMPLEEXAMPLE",
                    "aws_secret_access_key": "not-for-aep-0123456789",
                    "extra__google_cloud_platform__keyfile_dict": {"private_key": "-----BEGIN"},
                    "connection_string": "AccountKey=abc",
                },
            },
            {"accessId": "AKIAEXAMPLEEXAMPLE"},
        ),
    ],
)
def test_standard_and_airflow_named_extras_are_dropped_for_a_raw_spec_id(monkeypatch, mocker, conn, params):
    monkeypatch.setenv("AIRFLOW_CONN_CREDS", json.dumps(conn))
    sent = _create_base(
        monkeypatch,
        mocker,
        destination="11111111-2222-4333-8444-555555555555",
        credentials_conn_id="creds",
        auth_spec_name="Custom",
    )
    assert sent["auth"]["params"] == params


@pytest.mark.parametrize(
    "ui_url", ["https://ui.example.test/{flow}", "https://x/{0}", "https://x/{org_id.x}", "{flow_id}"]
)
def test_a_ui_url_with_an_unknown_placeholder_is_refused_when_the_connection_is_read(
    monkeypatch, fake, ui_url
):
    _conn(monkeypatch, PLATFORM, ims_url=f"{PLATFORM}/ims/token/v3", ui_url=ui_url)
    hook = AEPHook()
    with pytest.raises(AEPValidationError, match=r"extra\.ui_url"):
        hook.list_connection_specs()
    ok, message = hook.test_connection()
    assert not ok
    assert "extra.ui_url" in message
    assert fake.calls == []


def test_a_ui_url_with_known_placeholders_builds_the_link(monkeypatch, fake):
    template = "https://ui.example.test/{org_id}/{sandbox}/{flow_id}"
    _conn(monkeypatch, PLATFORM, ims_url=f"{PLATFORM}/ims/token/v3", ui_url=template)
    assert AEPHook().flow_page_url("f-1") == f"https://ui.example.test/{ORG_ID}/prod/f-1"


# -- helpers -------------------------------------------------------------------------------------------


def _settings() -> AEPConnectionSettings:
    return AEPConnectionSettings(
        client_id="demo-client-id",
        client_secret=CLIENT_SECRET,
        org_id=ORG_ID,
        ims_url="https://ims.example.test/ims/token/v3",
        platform_url="https://platform.example.test",
    )


def _create_base(monkeypatch, mocker, **kwargs) -> dict:
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT", aep_conn_json(PLATFORM, ims_url=f"{PLATFORM}/ims/token/v3")
    )
    create = mocker.patch.object(AEPHook, "create_entity", autospec=True, return_value={"id": "b-1"})
    mocker.patch.object(AEPHook, "iter_entities", autospec=True, return_value=iter([]))
    mocker.patch.object(AEPHook, "get_entity", autospec=True, return_value=None)
    AEPCreateBaseConnectionOperator(task_id="b", name="n", **kwargs).execute({"ti": mocker.MagicMock()})
    sent: dict = create.call_args.args[2]
    return sent


# -- what an attacker tries next ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://ims.evil.example\\@127.0.0.1/ims/token/v3",  # urllib3 would connect to evil
        "http://127.0.0.1@ims.evil.example/ims/token/v3",
        "http://user:pw@127.0.0.1/ims/token/v3",
        " http://127.0.0.1/ims/token/v3",
        "http://127.0.0.1/ims/token/v3\r\nHost: evil",
        "https://ims.example.test:0/ims/token/v3",
    ],
)
def test_a_url_read_two_ways_is_refused(monkeypatch, fake, url):
    _conn(monkeypatch, PLATFORM, ims_url=url)
    with pytest.raises(AEPValidationError, match=r"extra\.ims_url"):
        AEPHook().list_connection_specs()
    assert fake.calls == []


URL_PASSWORD = "hunter2-Pa55w0rd"


@pytest.mark.parametrize(
    ("host", "ims_url", "field"),
    [
        (f"http://alice:{URL_PASSWORD}@127.0.0.1:8765", None, "host"),
        (f"https://alice:{URL_PASSWORD}@platform.example.test", None, "host"),
        (PLATFORM, f"https://alice:{URL_PASSWORD}@ims.example.test/ims/token/v3", "extra.ims_url"),
        (PLATFORM, f"http://:{URL_PASSWORD}@127.0.0.1/ims", "extra.ims_url"),
        (PLATFORM, f"https://alice:{URL_PASSWORD}@x@ims.example.test:99999/ims", "extra.ims_url"),
        (PLATFORM, f"https://alice:{URL_PASSWORD} x@ims.example.test/ims", "extra.ims_url"),
    ],
)
def test_a_refused_url_never_quotes_its_password_back(monkeypatch, fake, host, ims_url, field):
    _conn(monkeypatch, host, ims_url=ims_url)
    with pytest.raises(AEPValidationError) as err:
        AEPHook().list_connection_specs()
    assert err.value.field == f"connection 'aep_default' {field}"
    ok, message = AEPHook().test_connection()
    assert not ok
    assert field in message
    for text in (str(err.value), repr(err.value.args), str(err.value.value), message):
        assert URL_PASSWORD not in text
        assert ":***@" in text
    assert fake.calls == []


def test_redirects_are_not_followed_and_fail_clearly(hook, fake):
    fake.token_answers = [response(307, None, {"Location": "http://127.0.0.1:9/steal"})]
    with pytest.raises(AEPAuthError, match="HTTP 307"):
        hook.list_connection_specs()
    fake.queue = [response(308, None, {"Location": "http://127.0.0.1:9/steal"})]
    with pytest.raises(AEPApiError, match="HTTP 308"):
        hook.list_connection_specs()
    assert all(c.options["allow_redirects"] is False for c in fake.calls)


@pytest.mark.parametrize(
    "variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "SOCKS_PROXY", "HTTPS_PROXY"]
)
def test_plain_http_to_loopback_never_goes_through_a_proxy(monkeypatch, fake, variable):
    monkeypatch.setenv(variable, "http://proxy.example.test:3128")
    host = "http://127.0.0.1:8765"
    _conn(monkeypatch, host, ims_url=f"{host}/ims/token/v3")
    AEPHook().list_connection_specs()
    assert [c.path for c in fake.calls] == ["/ims/token/v3", f"{FS}/connectionSpecs"]
    for call in fake.calls:  # requests' own reading of the request's proxies and the environment
        chosen = requests.Session().merge_environment_settings(
            call.url, call.options["proxies"], None, None, None
        )
        assert select_proxy(call.url, chosen["proxies"]) is None
    settings = AEPConnectionSettings(
        client_id="c", client_secret=CLIENT_SECRET, org_id=ORG_ID, ims_url=f"{host}/ims", platform_url=host
    )

    async def trusts_env(settings: AEPConnectionSettings) -> bool:
        async with AsyncAEPClient(settings) as client:
            return client.http._trust_env

    assert asyncio.run(trusts_env(settings)) is False
    assert asyncio.run(trusts_env(_settings())) is True


def test_https_keeps_the_environments_proxies(hook, fake):
    hook.list_connection_specs()
    assert [c.options["proxies"] for c in fake.calls] == [None, None]


def test_a_secret_echoed_escaped_or_encoded_is_scrubbed(hook, fake):
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    ims.mask(secret)
    # As a Java JSON encoder escapes it, and as a query string carries it.
    echoed = secret.replace("/", "\\/") + " " + quote(secret, safe="") + " " + quote_plus(secret)
    fake.queue = [response(400, {"error_code": "400100", "message": echoed})]
    with pytest.raises(AEPApiError) as err:
        hook.get_flow("f-1")
    assert "wJalrXUtnFEMI" not in str(err.value)


def test_a_long_text_body_is_scrubbed_before_it_is_cut(hook, fake):
    secret = "Zq9-cut-in-half-secret-0123456789"
    ims.mask(secret)
    answer = response(400)
    answer._content = ("x" * 490 + secret).encode()
    fake.queue = [answer]
    with pytest.raises(AEPApiError) as err:
        hook.get_flow("f-1")
    assert "Zq9-cut" not in str(err.value)


def test_a_mapped_expansion_masks_its_rendered_credentials(mocker):
    """Mapped tasks render through ``_do_render_template_fields`` without ``render_template_fields``."""
    masked = mocker.patch("airflow_provider_aep.redaction.secrets.mask")
    with DAG("d", schedule=None, start_date=pendulum.datetime(2026, 1, 1)):
        op = AEPCreateBaseConnectionOperator(
            task_id="b",
            destination="azure_blob",
            name="n",
            auth_params={"connectionString": "{{ params.cs }}"},
        )
    context = {"params": {"cs": "AccountKey=SuperSecretKey123=="}}
    op._do_render_template_fields(op, op.template_fields, context, op.get_template_env(), set())
    assert mocker.call("AccountKey=SuperSecretKey123==") in masked.call_args_list


@pytest.mark.parametrize(
    "ui_url", ["https://x/{flow_id:d}", "https://x/{flow_id!r}", "https://x/{org_id:>2000000000}"]
)
def test_a_ui_url_with_a_conversion_or_format_spec_is_refused(monkeypatch, fake, ui_url):
    _conn(monkeypatch, PLATFORM, ims_url=f"{PLATFORM}/ims/token/v3", ui_url=ui_url)
    with pytest.raises(AEPValidationError, match=r"extra\.ui_url"):
        AEPHook().flow_page_url("f-1")


def test_a_listing_that_repeats_its_continuation_token_stops(hook, fake):
    page = {"items": [{"id": "f-1"}], "_links": {"next": {"href": "/flows?continuationToken=same"}}}
    fake.default = lambda call: response(200, page)
    with pytest.raises(AEPError, match="repeated a continuation token"):
        list(hook.iter_flows())
    assert len(fake.api_calls) == 2


def test_a_trigger_event_carries_no_secret_the_platform_echoed(monkeypatch, mocker):
    host = "http://127.0.0.1:8765"
    _conn(monkeypatch, host, ims_url=f"{host}/ims/token/v3")

    async def answer(self, request, **kwargs):
        if request.url.path.endswith("/ims/token/v3"):
            body = {"access_token": "eyJ-trigger-token-98765", "expires_in": 3600}
            return httpx.Response(200, json=body, request=request)
        echoed = {"error_code": "403003", "message": f"{request.headers['authorization']} {CLIENT_SECRET}"}
        return httpx.Response(403, json=echoed, request=request)

    mocker.patch.object(httpx.AsyncClient, "send", answer)

    async def collect():
        return [e async for e in AEPDataflowRunTrigger(flow_id="f-1", poll_interval=0.01).run()]

    [event] = asyncio.run(collect())
    assert event.payload["status"] == "error"
    assert "HTTP 403" in event.payload["message"]
    assert "eyJ-trigger-token-98765" not in json.dumps(event.payload)
    assert CLIENT_SECRET not in json.dumps(event.payload)
