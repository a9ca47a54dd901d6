"""AEPHook over a scripted HTTP layer: auth, headers, retries, errors, paging, endpoints."""

from __future__ import annotations

import json

import pytest
import requests

from airflow_provider_aep.exceptions import AEPApiError, AEPAuthError, AEPValidationError
from airflow_provider_aep.hooks import ims
from airflow_provider_aep.hooks.aep import AEPHook, quote_etag
from airflow_provider_aep.hooks.retry import parse_retry_after
from tests.conftest import CLIENT_SECRET, ORG_ID
from tests.unit.conftest import PLATFORM
from tests.unit.fake_http import TOKEN, response

FS = f"{PLATFORM}/data/foundation/flowservice"


# -- auth ------------------------------------------------------------------------------------------


def test_token_is_fetched_once_per_process_and_sent_as_bearer(hook, fake):
    hook.list_connection_specs()
    AEPHook().list_connection_specs()  # a second hook in the same process
    token_calls = [c for c in fake.calls if c.path == "/ims/token/v3"]
    assert len(token_calls) == 1
    assert token_calls[0].method == "POST"
    assert token_calls[0].data == {
        "grant_type": "client_credentials",
        "client_id": "demo-client-id",
        "client_secret": CLIENT_SECRET,
        "scope": "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session",
    }
    assert all(c.headers["Authorization"] == f"Bearer {TOKEN}-1" for c in fake.api_calls)


def test_platform_headers(hook, fake):
    hook.list_connection_specs()
    headers = fake.api_calls[0].headers
    assert headers["x-api-key"] == "demo-client-id"
    assert headers["x-gw-ims-org-id"] == ORG_ID
    assert headers["x-sandbox-name"] == "prod"
    assert headers["User-Agent"].startswith("airflow-provider-aep/")
    assert "Content-Type" not in headers


def test_sandbox_override_per_hook_and_per_call(fake, sleeps):
    hook = AEPHook(sandbox_name="dev-1")
    hook.list_connection_specs()
    hook.request("GET", "/flows", sandbox_name="dev-2")
    assert [c.headers["x-sandbox-name"] for c in fake.api_calls] == ["dev-1", "dev-2"]


def test_token_is_refreshed_five_minutes_before_it_expires(hook, fake, mocker):
    fake.token_expires_in = 3600
    clock = mocker.patch("airflow_provider_aep.hooks.ims.time.monotonic", return_value=1000.0)
    hook.list_connection_specs()
    clock.return_value = 1000.0 + 3600 - 301  # still more than five minutes left
    hook.list_connection_specs()
    assert fake.tokens_issued == 1
    clock.return_value = 1000.0 + 3600 - 299  # inside the margin
    hook.list_connection_specs()
    assert fake.tokens_issued == 2
    assert fake.api_calls[-1].headers["Authorization"] == f"Bearer {TOKEN}-2"


def test_a_401_gets_one_new_token_and_one_more_try(hook, fake):
    fake.queue = [
        response(401, {"error_code": "401013", "message": "Oauth token is not valid"}),
        response(200, {"items": []}),
    ]
    hook.list_connection_specs()
    assert fake.tokens_issued == 2
    assert [c.headers["Authorization"] for c in fake.api_calls] == [f"Bearer {TOKEN}-1", f"Bearer {TOKEN}-2"]


def test_a_second_401_is_an_error_not_a_loop(hook, fake):
    fake.queue = [response(401, {"error_code": "401013", "message": "Oauth token is not valid"})] * 2
    with pytest.raises(AEPApiError) as err:
        hook.list_connection_specs()
    assert err.value.status == 401
    assert err.value.code == "401013"
    assert len(fake.api_calls) == 2


def test_ims_refusal_is_an_auth_error(hook, fake):
    fake.token_answers = [
        response(401, {"error": "invalid_client", "error_description": "invalid client_secret parameter"})
    ]
    with pytest.raises(AEPAuthError, match="invalid_client") as err:
        hook.list_connection_specs()
    assert CLIENT_SECRET not in str(err.value)
    assert fake.api_calls == []


def test_token_is_registered_with_the_secret_masker(hook, fake, mocker):
    masked = mocker.patch("airflow_provider_aep.hooks.ims.mask")
    hook.list_connection_specs()
    assert mocker.call(f"{TOKEN}-1") in masked.call_args_list


# -- retries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(hook, fake, sleeps, status):
    fake.queue = [response(status), response(status), response(200, {"items": [{"id": "x"}]})]
    assert hook.list_connection_specs() == [{"id": "x"}]
    assert len(fake.api_calls) == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    "exc",
    [
        requests.ConnectionError("reset"),
        requests.ReadTimeout("slow"),
        requests.exceptions.ChunkedEncodingError("cut"),
    ],
)
def test_connection_errors_and_timeouts_are_retried(hook, fake, sleeps, exc):
    fake.queue = [exc, response(200, {"items": []})]
    assert hook.list_connection_specs() == []
    assert len(fake.api_calls) == 2


def test_429_waits_as_long_as_retry_after_says(hook, fake, sleeps, logged):
    fake.queue = [response(429, headers={"Retry-After": "7"}), response(200, {"items": []})]
    hook.list_connection_specs()
    assert sleeps == [7.0]
    text = logged()
    assert "HTTP 429 (Retry-After 7s)" in text
    assert "retry 1 of 3" in text


def test_retry_after_as_an_http_date():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == pytest.approx(30.0)
    assert parse_retry_after("garbage") is None
    assert parse_retry_after("12") == 12.0


def test_an_unreachable_ims_fails_the_call_after_the_token_requests_own_tries(hook, fake, sleeps):
    ims_tries: list[str] = []

    def unreachable_ims(session, method, url, **kwargs):
        if url.endswith("/ims/token/v3"):
            ims_tries.append(url)
            raise requests.ConnectionError("[Errno 111] Connection refused")
        return fake(session, method, url, **kwargs)

    requests.Session.request.side_effect = unreachable_ims  # the fake's patch, IMS now unreachable
    with pytest.raises(AEPAuthError, match="Adobe IMS could not be reached") as err:
        hook.list_connection_specs()
    assert len(ims_tries) == 4  # the policy's max_attempts, not 4 for each of the call's 4 attempts
    assert fake.api_calls == []
    assert "ConnectionError: [Errno 111] Connection refused" in str(err.value)


def test_attempts_are_bounded_and_the_last_error_is_reported(hook, fake, sleeps):
    fake.default = lambda call: response(503, {"error_code": "503000", "message": "Service unavailable"})
    with pytest.raises(AEPApiError) as err:
        hook.list_connection_specs()
    assert len(fake.api_calls) == 4
    assert err.value.status == 503
    assert err.value.code == "503000"


def test_total_wait_is_bounded(fake, sleeps):
    from airflow_provider_aep.hooks.retry import RetryPolicy

    hook = AEPHook(retry_policy=RetryPolicy(max_attempts=10, max_total_wait=30))
    fake.default = lambda call: response(429, headers={"Retry-After": "100"})
    with pytest.raises(AEPApiError):
        hook.list_connection_specs()
    assert len(fake.api_calls) >= 2  # it did retry, waiting...
    assert 29 <= sum(sleeps) <= 30  # ...the whole budget and no longer, though AEP asked for 100 s


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_client_errors_are_not_retried(hook, fake, sleeps, status):
    fake.queue = [response(status, {"title": "nope", "status": status})]
    with pytest.raises(AEPApiError) as err:
        hook.get_flow("f-1")
    assert err.value.status == status
    assert len(fake.api_calls) == 1
    assert sleeps == []


# -- errors ----------------------------------------------------------------------------------------


def test_gateway_error_shape(hook, fake):
    fake.queue = [
        response(403, {"error_code": "403000", "message": "Api Key is required"}, {"x-request-id": "req-9"})
    ]
    with pytest.raises(AEPApiError) as err:
        hook.get_flow("f-1")
    e = err.value
    assert (e.status, e.code, e.title, e.request_id, e.method, e.path) == (
        403,
        "403000",
        "Api Key is required",
        "req-9",
        "GET",
        "/flows/f-1",
    )
    assert (
        str(e)
        == "AEP API GET /flows/f-1 failed with HTTP 403: code 403000; Api Key is required; request id req-9"
    )


def test_problem_json_error_shape(hook, fake):
    fake.queue = [
        response(
            404,
            {
                "type": "https://ns.adobe.com/aep/errors/FLOW-1439-404",
                "title": "Resource not found",
                "status": 404,
                "report": {"detailed-message": "Flow with id f-1 not found", "request-id": "req-1"},
            },
        )
    ]
    with pytest.raises(AEPApiError) as err:
        hook.get_flow("f-1")
    e = err.value
    assert (e.code, e.title, e.detail, e.request_id) == (
        "FLOW-1439-404",
        "Resource not found",
        "Flow with id f-1 not found",
        "req-1",
    )


def test_no_secret_in_error_text_or_logs(hook, fake, logged):
    body = {"name": "b", "auth": {"specName": "Access Key", "params": {"s3SecretKey": "DEST-SECRET-123"}}}
    fake.queue = [response(429, headers={"Retry-After": "0"})] * 3 + [
        response(400, {"title": "Bad", "status": 400})
    ]
    with pytest.raises(AEPApiError) as err:
        hook.create_entity("connections", body)
    text = str(err.value) + repr(err.value) + logged()
    assert "HTTP 429" in text  # the retries were logged, so the scan read real log output
    for secret in (CLIENT_SECRET, TOKEN, "DEST-SECRET-123"):
        assert secret not in text


# -- endpoints -------------------------------------------------------------------------------------


def test_connection_spec_calls(hook, fake):
    fake.queue = [
        response(200, {"items": [{"id": "a"}]}),
        response(200, {"items": [{"id": "a", "name": "S3"}]}),
    ]
    assert hook.list_connection_specs(["name==S3"]) == [{"id": "a"}]
    assert hook.get_connection_spec("a") == {"id": "a", "name": "S3"}
    assert [(c.method, c.url, c.params) for c in fake.api_calls] == [
        ("GET", f"{FS}/connectionSpecs", [("property", "name==S3")]),
        ("GET", f"{FS}/connectionSpecs/a", None),
    ]


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("connections", "/connections"),
        ("sourceConnections", "/sourceConnections"),
        ("targetConnections", "/targetConnections"),
        ("flows", "/flows"),
    ],
)
def test_create_calls_post_the_body_and_return_id_and_etag(hook, fake, kind, path):
    fake.queue = [response(201, {"id": "new-1", "etag": '"e-1"'})]
    created = hook.create_entity(kind, {"name": "n"})
    assert created == {"id": "new-1", "etag": '"e-1"'}
    call = fake.api_calls[0]
    assert (call.method, call.url, call.json) == ("POST", FS + path, {"name": "n"})
    assert call.headers["Content-Type"] == "application/json"


def test_create_accepts_an_answer_without_etag(hook, fake):
    fake.queue = [response(201, {"id": "1ed86558"})]
    assert hook.create_entity("connections", {"name": "n"}) == {"id": "1ed86558", "etag": None}


@pytest.mark.parametrize(
    ("get", "path"),
    [
        (lambda hook: hook.get_flow("x"), "/flows/x"),
        (lambda hook: hook.get_run("x"), "/runs/x"),
        (lambda hook: hook.get_entity("connections", "x"), "/connections/x"),
        (lambda hook: hook.get_entity("sourceConnections", "x"), "/sourceConnections/x"),
        (lambda hook: hook.get_entity("targetConnections", "x"), "/targetConnections/x"),
        (lambda hook: hook.get_flow_spec("x"), "/flowSpecs/x"),
    ],
)
def test_single_gets_unwrap_items_and_also_accept_bare_objects(hook, fake, get, path):
    fake.queue = [response(200, {"items": [{"id": "x", "v": 1}]}), response(200, {"id": "x", "v": 2})]
    assert get(hook) == {"id": "x", "v": 1}
    assert get(hook) == {"id": "x", "v": 2}
    assert fake.api_calls[0].url == FS + path


def test_eligible_datasets_follow_page_info(hook, fake):
    fake.queue = [
        response(
            200,
            {
                "items": [{"id": "d1"}, {"id": "d2"}],
                "pageInfo": {"start": 0, "end": 1, "total": 3, "hasNext": True},
            },
        ),
        response(
            200, {"items": [{"id": "d3"}], "pageInfo": {"start": 2, "end": 2, "total": 3, "hasNext": False}}
        ),
    ]
    assert [d["id"] for d in hook.iter_eligible_datasets(page_size=2)] == ["d1", "d2", "d3"]
    first, second = fake.api_calls
    assert first.url == f"{FS}/connectionSpecs/23598e46-f560-407b-88d5-ea6207e49db0/configs"
    assert first.params == {
        "outputType": "activationDatasets",
        "outputField": "datasets",
        "start": 0,
        "limit": 2,
        "properties": "name,state",
    }
    assert second.params["start"] == 2


def test_runs_follow_continuation_tokens_on_our_own_host(hook, fake):
    fake.queue = [
        response(
            200,
            {
                "items": [{"id": "r1"}],
                "_links": {"next": {"href": "https://elsewhere.test/runs?continuationToken=tok-2"}},
            },
        ),
        response(200, {"items": [{"id": "r2"}], "_links": {}}),
    ]
    runs = list(
        hook.iter_runs(
            "f-1", properties=["metrics.durationSummary.startedAtUTC>5"], orderby="-createdAt", limit=10
        )
    )
    assert [r["id"] for r in runs] == ["r1", "r2"]
    first, second = fake.api_calls
    assert first.url == second.url == f"{FS}/runs"
    assert first.params == [
        ("property", "flowId==f-1"),
        ("property", "metrics.durationSummary.startedAtUTC>5"),
        ("orderby", "-createdAt"),
        ("limit", 10),
    ]
    assert second.params[-1] == ("continuationToken", "tok-2")


def test_patch_sends_json_patch_with_quoted_if_match(hook, fake):
    fake.queue = [response(200, {"id": "f-1", "etag": '"e-2"'})]
    ops = [{"op": "replace", "path": "/scheduleParams/endTime", "value": 1975901210}]
    assert hook.patch_entity("flows", "f-1", ops, etag="e-1") == {"id": "f-1", "etag": '"e-2"'}
    call = fake.api_calls[0]
    assert (call.method, call.url, call.json) == ("PATCH", f"{FS}/flows/f-1", ops)
    assert call.headers["If-Match"] == '"e-1"'


def test_patch_reads_the_etag_when_not_given_and_accepts_202_without_body(hook, fake):
    fake.queue = [response(200, {"items": [{"id": "f-1", "etag": '"e-1"'}]}), response(202)]
    assert hook.patch_entity("flows", "f-1", [{"op": "add", "path": "/x", "value": 1}]) == {
        "id": "f-1",
        "etag": None,
    }
    assert fake.api_calls[1].headers["If-Match"] == '"e-1"'


def test_patch_412_rereads_and_reapplies_once(hook, fake):
    stale = response(
        412, {"type": "https://ns.adobe.com/aep/errors/FLOW-1404-412", "title": "Precondition failed"}
    )
    fake.queue = [
        stale,
        response(200, {"items": [{"id": "f-1", "etag": '"e-9"'}]}),
        response(200, {"id": "f-1", "etag": '"e-10"'}),
    ]
    assert (
        hook.patch_entity("flows", "f-1", [{"op": "add", "path": "/x", "value": 1}], etag='"e-1"')["etag"]
        == '"e-10"'
    )
    assert [c.headers.get("If-Match") for c in fake.api_calls if c.method == "PATCH"] == ['"e-1"', '"e-9"']


def test_patch_second_412_is_raised(hook, fake):
    stale = response(
        412, {"type": "https://ns.adobe.com/aep/errors/FLOW-1404-412", "title": "Precondition failed"}
    )
    # Bounded: three patches, each after a fresh read, then an error naming the flow.
    fresh = [response(200, {"items": [{"id": "f-1", "etag": f'"e-{n}"'}]}) for n in (9, 11)]
    fake.queue = [stale, fresh[0], stale, fresh[1], stale, fresh[1]]
    with pytest.raises(AEPApiError) as err:
        hook.patch_entity("flows", "f-1", [{"op": "add", "path": "/x", "value": 1}], etag='"e-1"')
    assert err.value.code == "FLOW-1404-412"
    assert "dataflow f-1 changed before each of 3 patches" in str(err.value)


def test_quote_etag():
    assert quote_etag("abc") == '"abc"'
    assert quote_etag('"abc"') == '"abc"'


@pytest.mark.parametrize(("method_name", "op"), [("enable_flow", "enable"), ("disable_flow", "disable")])
def test_enable_disable(hook, fake, method_name, op):
    fake.queue = [response(200, {"id": "f-1", "etag": '"e"'})]
    assert getattr(hook, method_name)("f-1") == {"id": "f-1", "etag": '"e"'}
    call = fake.api_calls[0]
    assert (call.method, call.url, call.params) == ("POST", f"{FS}/flows/f-1/action", {"op": op})


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("flows", "/flows/x"),
        ("connections", "/connections/x"),
        ("sourceConnections", "/sourceConnections/x"),
        ("targetConnections", "/targetConnections/x"),
    ],
)
@pytest.mark.parametrize("status", [202, 204, 200])
def test_deletes_accept_202_204_and_200(hook, fake, kind, path, status):
    fake.queue = [response(status)]
    assert hook.delete_entity(kind, "x") is True
    assert (fake.api_calls[0].method, fake.api_calls[0].url) == ("DELETE", FS + path)


def test_delete_of_something_gone(hook, fake):
    fake.queue = [response(404, {"title": "Not found"}), response(404, {"title": "Not found"})]
    assert hook.delete_entity("flows", "x", missing_ok=True) is False
    with pytest.raises(AEPApiError):
        hook.delete_entity("flows", "x")


def test_flows_listing_with_property_filters(hook, fake):
    fake.queue = [response(200, {"items": [{"id": "f"}]})]
    assert list(hook.iter_flows(["scheduleParams.endTime<1700000000"])) == [{"id": "f"}]
    assert fake.api_calls[0].params == [("property", "scheduleParams.endTime<1700000000")]


# -- test_connection -----------------------------------------------------------------------------


def test_test_connection_ok(hook, fake):
    fake.queue = [response(200, {"items": [{"id": "a"}, {"id": "b"}]})]
    assert hook.test_connection() == (True, "Connected to sandbox 'prod': 2 connection specs visible")


def test_test_connection_says_ims_failed(hook, fake):
    fake.token_answers = [response(400, {"error": "invalid_scope", "error_description": "bad scope"})]
    ok, message = hook.test_connection()
    assert not ok
    assert message.startswith("IMS (")
    assert "HTTP 400 invalid_scope" in message


def test_test_connection_says_platform_failed(hook, fake):
    fake.queue = [response(403, {"error_code": "403003", "message": "Api Key is invalid"})]
    ok, message = hook.test_connection()
    assert not ok
    assert message.startswith("Platform (")
    assert "403" in message


def test_connection_without_org_is_refused_before_any_request(monkeypatch, fake):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT",
        '{"conn_type": "aep", "login": "c", "password": "secret-value", "extra": {}}',
    )
    ok, message = AEPHook().test_connection()
    assert not ok
    assert "org_id" in message
    assert fake.calls == []


def test_platform_url_forms(monkeypatch):
    from airflow.sdk import Connection

    from airflow_provider_aep.hooks.connection import AEPConnectionSettings

    conn = Connection(
        conn_id="x",
        conn_type="aep",
        login="c",
        password="p",
        host="platform.adobe.io",
        extra='{"org_id": "O"}',
    )
    settings = AEPConnectionSettings.from_connection(conn)
    assert settings.flow_service_url == "https://platform.adobe.io/data/foundation/flowservice"
    assert settings.org_header == "O@AdobeOrg"
    assert "p" not in repr(settings).replace("platform", "").replace("openid", "").split("client_id")[0]
    assert "client_secret" not in repr(settings)


@pytest.mark.parametrize(
    ("extra", "expected"), [({}, 60.0), ({"timeout": "2.5"}, 2.5), ({"timeout": 30}, 30.0)]
)
def test_read_timeout_comes_from_the_connection(monkeypatch, fake, extra, expected):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT",
        json.dumps({"conn_type": "aep", "login": "c", "password": "s", "host": PLATFORM,
                    "extra": {"org_id": ORG_ID, "ims_url": f"{PLATFORM}/ims/token/v3", **extra}}),
    )  # fmt: skip
    assert AEPHook().timeout == (10.0, expected)
    assert AEPHook(timeout=(1.0, 2.0)).timeout == (1.0, 2.0)


@pytest.mark.parametrize("value", ["soon", 0, -1, 7200])
def test_a_bad_read_timeout_is_refused_before_any_request(monkeypatch, fake, value):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT",
        json.dumps({"conn_type": "aep", "login": "c", "password": "s", "host": PLATFORM,
                    "extra": {"org_id": ORG_ID, "timeout": value}}),
    )  # fmt: skip
    with pytest.raises(AEPValidationError, match=r"extra\.timeout=.* is not valid: seconds, above 0"):
        AEPHook().list_connection_specs()
    assert fake.calls == []


def test_token_cache_is_thread_safe(fake, sleeps):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(lambda _: AEPHook().access_token(), range(32)))
    assert set(tokens) == {f"{TOKEN}-1"}
    assert fake.tokens_issued == 1
    assert ims.TOKENS.fetches == 1


# -- creates are not repeated blindly ------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        response(500),
        response(502),
        response(504),
        requests.ReadTimeout("slow"),
        requests.exceptions.ChunkedEncodingError("cut"),
    ],
)
def test_a_create_with_an_unknown_outcome_is_not_repeated(hook, fake, failure):
    from airflow_provider_aep.exceptions import AEPAmbiguousWriteError

    fake.queue = [failure]
    with pytest.raises(AEPAmbiguousWriteError, match="outcome is unknown"):
        hook.create_entity("flows", {"name": "n"})
    assert len(fake.api_calls) == 1


@pytest.mark.parametrize("status", [429, 503])
def test_a_create_refused_at_the_gateway_is_retried(hook, fake, sleeps, status):
    fake.queue = [response(status, headers={"Retry-After": "1"}), response(201, {"id": "f-1", "etag": '"e"'})]
    assert hook.create_entity("flows", {"name": "n"})["id"] == "f-1"
    assert len(fake.api_calls) == 2


def test_a_create_whose_connection_never_opened_is_retried(hook, fake, sleeps):
    import urllib3

    refused = requests.ConnectionError(
        urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.NewConnectionError(None, "refused"))
    )
    fake.queue = [refused, response(201, {"id": "f-1"})]
    assert hook.create_entity("flows", {"name": "n"})["id"] == "f-1"


@pytest.mark.parametrize(
    "href",
    [
        # The spec's example: relative to the Flow Service base, the token URL-safe.
        "/runs?property=flowId%3D%3Df&continuationToken=eyJvZmZzZXQiOjJ9",
        "/data/foundation/flowservice/runs?continuationToken=eyJvZmZzZXQiOjJ9",
        "https://platform.adobe.io/data/foundation/flowservice/runs?continuationToken=eyJvZmZzZXQiOjJ9",
    ],
)
def test_the_continuation_token_is_read_from_relative_and_absolute_next_links(href):
    from airflow_provider_aep.hooks.responses import continuation_token

    assert continuation_token({"_links": {"next": {"href": href}}}) == "eyJvZmZzZXQiOjJ9"
    assert continuation_token({"_links": {}}) is None
