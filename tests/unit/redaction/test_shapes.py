"""Secrets, even when AEP quotes them in part, or in a process that never read them.

Every value here is made up per test run and registered nowhere unless the test says so: what is
redacted without registration is redacted by its shape alone, as in the sensor and the triggerer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import string
from types import SimpleNamespace

import httpx
import pytest

from airflow_provider_aep.exceptions import AEPApiError, AEPDataflowRunFailed
from airflow_provider_aep.hooks import async_client
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.redaction.secrets import mask, scrub, scrub_data
from airflow_provider_aep.triggers.dataflow_run import AEPDataflowRunTrigger
from airflow_provider_aep.utils.credentials import auth_params_from_connection
from airflow_provider_aep.utils.runs import summarize_run
from airflow_provider_aep.utils.scrubbed_logs import scrubbed
from tests.conftest import aep_conn_json

B64 = string.ascii_letters + string.digits + "+/"


def b64(length: int) -> str:
    """Random base64 characters, never all hex (as real keys are)."""
    return "Zq" + "".join(secrets.choice(B64) for _ in range(length - 2))


def pem_key(kind: str = "RSA ") -> tuple[str, list[str]]:
    """A PEM private key of random bytes and its body lines."""
    body = base64.b64encode(secrets.token_bytes(900)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return f"-----BEGIN {kind}PRIVATE KEY-----\n" + "\n".join(
        lines
    ) + f"\n-----END {kind}PRIVATE KEY-----\n", lines


def failed_run(message: str) -> dict:
    return {
        "id": "0f5e8d1c-2b3a-4c5d-8e9f-0a1b2c3d4e5f",
        "flowId": "6f0c2a9e-7a3b-4c1d-9e8f-0a1b2c3d4e5f",
        "metrics": {
            "durationSummary": {"startedAtUTC": 1_700_000_000_000, "completedAtUTC": 1_700_000_004_500},
            "statusSummary": {"status": "failed", "errors": [{"code": "CONNECTOR-1001", "message": message}]},
        },
    }


def written_texts(message: str) -> list[str]:
    """Where a run error goes: the XCom summary, the sensor's failure, an API error text."""
    run = failed_run(message)
    summary = summarize_run(run)
    failure = AEPDataflowRunFailed(run["id"], "failed", run["metrics"]["statusSummary"]["errors"])
    api_error = AEPApiError.from_response(
        status=400, method="GET", path="/runs", body={"error_code": "400", "message": message}, headers={}
    )
    return [json.dumps(summary), str(failure), json.dumps(failure.errors), str(api_error)]


# -- 1. parts of structured secrets -----------------------------------------------------------------


def test_an_azure_connection_string_read_from_a_connection_registers_its_account_key():
    account_key = b64(42) + "=="  # not the 88-character shape: only registration can catch it
    conn_string = f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={account_key};EndpointSuffix=core.windows.net"
    conn = SimpleNamespace(extra_dejson={}, login=None, password=conn_string, host=None)
    assert auth_params_from_connection(conn, "ConnectionString") == {"connectionString": conn_string}

    for message in (f"AccountKey={account_key} is not valid", f"storage key '{account_key}' was refused"):
        for text in written_texts(message):
            assert account_key not in text
            assert "***" in text


def test_a_sas_signature_of_a_registered_connection_string_is_scrubbed_alone():
    signature = b64(43) + "="
    mask(
        f"BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2022-11-02&sp=rwl&sig={signature}"
    )
    assert signature not in scrub(f"signature {signature} does not match")
    quoted = signature.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    assert quoted not in scrub(f"signature {quoted} does not match")


@pytest.mark.parametrize("encoded", [False, True], ids=["pem", "base64-pem"])
def test_one_line_of_a_registered_pem_key_quoted_alone_is_scrubbed(encoded):
    pem, lines = pem_key("OPENSSH ")
    ssh_key = base64.b64encode(pem.encode()).decode() if encoded else pem
    conn = SimpleNamespace(
        extra_dejson={"sshKey": ssh_key}, login="user", password=None, host="sftp.example.test"
    )
    auth_params_from_connection(conn, "SFTP with SSH Key")

    quoted = lines[3]
    for text in written_texts(f"could not parse the key near '{quoted}'"):
        assert quoted not in text
    assert json.dumps(quoted)[1:-1] not in scrub(json.dumps({"detail": f"near {quoted}"}))


@pytest.mark.parametrize("as_text", [True, False], ids=["json-text", "dict"])
def test_a_json_key_file_registers_its_private_key_and_each_line(as_text):
    pem, lines = pem_key("")
    key_file = {
        "type": "service_account",
        "project_id": "demo",
        "private_key_id": b64(40).lower(),
        "private_key": pem,
    }
    mask({"credentials": json.dumps(key_file) if as_text else key_file})
    for text in (scrub(f"bad key line {lines[5]}"), scrub(json.dumps({"m": pem}))):
        assert lines[5] not in text
        assert "***" in text


# -- 2. credential shapes, never registered ---------------------------------------------------------


AWS_ID = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))
AWS_SECRET = b64(40)
AZURE_KEY = b64(86) + "=="
SAS_SIG = b64(43) + "%3D"
BEARER = b64(48)
URL_SAFE = BEARER.replace("/", "_").replace("+", "-")
JWT = (
    "eyJhbGciOiJSUzI1NiJ9."
    + "eyJ"
    + b64(60).replace("+", "-").replace("/", "_")
    + "."
    + b64(80).replace("+", "_").replace("/", "-")
)
PEM, PEM_LINES = pem_key()
SHAPES = {
    "aws-secret-after-label": (f"The AWS secret access key {AWS_SECRET} is not valid", AWS_SECRET),
    "aws-secret-json": (json.dumps({"s3SecretKey": AWS_SECRET}), AWS_SECRET),
    "aws-secret-next-to-id": (f"credentials ({AWS_ID}, {AWS_SECRET}) refused by S3", AWS_SECRET),
    "aws-access-key-id": (f"access denied for {AWS_ID} on bucket b", AWS_ID),
    "azure-account-key": (
        f"DefaultEndpointsProtocol=https;AccountName=a;AccountKey={AZURE_KEY};EndpointSuffix=x",
        AZURE_KEY,
    ),
    "azure-account-key-alone": (f"key {AZURE_KEY} refused", AZURE_KEY),
    "azure-shared-access-key": (
        f"Endpoint=sb://ns/;SharedAccessKeyName=n;SharedAccessKey={AZURE_KEY[:44]}",
        AZURE_KEY[:44],
    ),
    "sas-sig": (
        f"GET https://a.blob.core.windows.net/c?sv=2022-11-02&se=2026-01-01&sp=rw&sig={SAS_SIG} -> 403",
        SAS_SIG,
    ),
    "pem-block": (f"invalid key: {PEM}", PEM_LINES[2]),
    "pem-json-escaped": (json.dumps({"detail": f"invalid key {PEM}"}), PEM_LINES[2]),
    "pem-cut-off": (f"key starts {PEM[:300]}", PEM_LINES[1]),
    "bearer": (f"upstream said: Bearer {BEARER} expired", BEARER),
    "authorization-header": (f"request headers: {{'Authorization': 'Basic {BEARER}'}}", BEARER),
    "client-secret-pair": (f"body grant_type=client_credentials&client_secret={BEARER}&scope=openid", BEARER),
    "password-pair": (f"sftp login failed with password={BEARER}; check it", BEARER),
    "password-json": (json.dumps({"username": "u", "password": BEARER}), BEARER),
    "jwt": (f"token {JWT} is expired", JWT.split(".")[1]),
    "url-password": (f"could not reach sftp://user:{URL_SAFE}@sftp.example.test:22/in", URL_SAFE),
}


@pytest.mark.parametrize(("text", "secret"), list(SHAPES.values()), ids=list(SHAPES))
def test_a_credential_shape_is_redacted_everywhere_a_run_error_goes(text, secret):
    for written in written_texts(text):
        assert secret not in written
        assert "***" in written


ORDINARY = [
    "Dataflow 6f0c2a9e-7a3b-4c1d-9e8f-0a1b2c3d4e5f run 0F5E8D1C-2B3A-4C5D-8E9F-0A1B2C3D4E5F failed",
    'dataset 5ee0f0c8b2c4a918ab0b1234 in sandbox prod; etag "1a00c9b7-0000-0200-0000-65f1a2b30000"',
    "commit 0123456789abcdef0123456789abcdef01234567 and 0123456789ABCDEF0123456789ABCDEF01234567",
    "Bearer token expired; Authorization: header missing; password is required",
    "s3://bucket/exports/2026-12-02T10:00:00Z/part-0000.csv, https://platform.adobe.io/data/foundation/flowservice/runs?property=flowId==x",
    "Password (password) is required: the IMS client secret; connection 'x' password=<secret value>",
    "sig is missing, key rotated at 2026-12-02, AccountName=acct, secret rotation due",
    # A refusal that says a secret is missing must stay readable.
    "auth_params.s3SecretKey=None is not valid: a value is required; password=null",
]


@pytest.mark.parametrize("text", ORDINARY)
def test_ids_and_ordinary_words_are_left_as_they_are(text):
    assert scrub(text) == text
    assert scrub_data({"errors": [{"message": text}]}) == {"errors": [{"message": text}]}


def test_a_trigger_event_redacts_a_run_error_quoting_a_credential(monkeypatch, mocker):
    host = "http://127.0.0.1:8765"
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", aep_conn_json(host))
    run = failed_run(f"S3 said InvalidAccessKeyId for {AWS_ID} with {AWS_SECRET}; sas sig={SAS_SIG}")

    async def answer(self, request, **kwargs):
        if request.url.path.endswith("/ims/token/v3"):
            return httpx.Response(
                200, json={"access_token": "eyJ-t-0123456789", "expires_in": 3600}, request=request
            )
        return httpx.Response(200, json={"items": [run]}, request=request)

    mocker.patch.object(httpx.AsyncClient, "send", answer)

    async def collect():
        trigger = AEPDataflowRunTrigger(flow_id=run["flowId"], run_id=run["id"], poll_interval=0.01)
        return [e async for e in trigger.run()]

    [event] = asyncio.run(collect())
    assert event.payload["status"] == "failed"
    payload = json.dumps(event.payload)
    assert AWS_ID not in payload
    assert AWS_SECRET not in payload
    assert SAS_SIG not in payload
    assert run["id"] in payload
    assert run["flowId"] in payload
    failure = AEPDataflowRunFailed(run["id"], "failed", event.payload["summary"]["errors"])
    assert AWS_SECRET not in str(failure)


# -- log lines ---------------------------------------------------------------------------------------


def test_the_providers_module_logger_scrubs_each_line(caplog):
    with caplog.at_level(logging.INFO, logger=async_client.__name__):
        async_client.log.warning("AEP said %s (%d)", f"AccountKey={AZURE_KEY}; Bearer {BEARER}", 400)
        try:
            raise ValueError(f"password={BEARER}")
        except ValueError:
            async_client.log.exception("failed")
    said = [r for r in caplog.records if r.name == async_client.__name__]
    assert said[0].getMessage() == "AEP said AccountKey=***; Bearer *** (400)"
    assert BEARER not in caplog.text
    assert AZURE_KEY not in caplog.text
    assert "password=***" in caplog.text


def test_a_logger_handed_in_is_scrubbed_too(caplog, logged):
    hook_log = scrubbed(AEPHook().log)  # Airflow's structlog logger of the hook
    hook_log.warning("run error: %s", f"aws_secret_access_key={AWS_SECRET}")
    trigger_log = scrubbed(logging.getLogger("tests.some.trigger"))
    with caplog.at_level(logging.INFO, logger="tests.some.trigger"):
        trigger_log.info("upstream: %s", f"Authorization: Bearer {BEARER}")
    text = logged()
    assert AWS_SECRET not in text
    assert BEARER not in text
    assert "aws_secret_access_key=***" in text
    assert "Authorization: Bearer ***" in text
