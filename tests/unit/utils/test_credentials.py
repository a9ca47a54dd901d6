"""Destination credentials from the Airflow connections users already have.

Each case is an Airflow ``Connection`` as the provider of its type stores it (``wasb``, ``adls``,
``azure_data_lake``, ``google_cloud_platform``, ``aws``, ``sftp``/``ssh``): the auth params it
gives, or the error that names the connection and the field to fill, never a value.
"""

from __future__ import annotations

import base64
import json
import secrets
import string

import pytest
from airflow.models import Connection

from airflow_provider_aep.catalog import DESTINATIONS
from airflow_provider_aep.exceptions import AEPValidationError
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.operators.connections import AEPCreateBaseConnectionOperator
from airflow_provider_aep.utils.credentials import auth_from_connection, where_to_fill
from tests.conftest import aep_conn_json
from tests.unit.conftest import PLATFORM

AWS_ID = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + "234567") for _ in range(16))
AWS_SECRET = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
ACCOUNT_KEY = base64.b64encode(secrets.token_bytes(64)).decode()
CONN_STRING = f"DefaultEndpointsProtocol=https;AccountName=acmestore;AccountKey={ACCOUNT_KEY};EndpointSuffix=core.windows.net"
SP_SECRET = "sp-" + secrets.token_urlsafe(24)
HMAC_SECRET = secrets.token_urlsafe(30)
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    + base64.b64encode(secrets.token_bytes(300)).decode()
    + "\n-----END OPENSSH PRIVATE KEY-----\n"
)


def resolve(destination: str, conn: Connection, auth_spec_name: str | None = None) -> tuple[str, dict]:
    return auth_from_connection(conn, DESTINATIONS[destination], auth_spec_name)


def refusal(destination: str, conn: Connection) -> str:
    with pytest.raises(AEPValidationError) as err:
        resolve(destination, conn)
    assert err.value.field == "credentials_conn_id"
    assert err.value.value == conn.conn_id
    return str(err.value)


# -- Azure Blob: a wasb connection -------------------------------------------------------------------


@pytest.mark.parametrize("key", ["connection_string", "extra__wasb__connection_string"])
@pytest.mark.parametrize("destination", ["azure_blob", "azure_blob_audiences"])
def test_a_wasb_connection_string_in_the_extra_is_the_connection_string(destination, key):
    conn = Connection(conn_id="my_wasb", conn_type="wasb", extra={key: CONN_STRING, "proxies": {}})
    assert resolve(destination, conn) == ("ConnectionString", {"connectionString": CONN_STRING})


@pytest.mark.parametrize("key_field", ["password", "shared_access_key", "account_key"])
def test_a_wasb_shared_key_becomes_the_connection_string_aep_takes(key_field):
    conn = Connection(conn_id="my_wasb", conn_type="wasb", login="acmestore")
    if key_field == "password":
        conn.password = ACCOUNT_KEY
    else:
        conn.set_extra(json.dumps({key_field: ACCOUNT_KEY}))
    assert resolve("azure_blob", conn) == ("ConnectionString", {"connectionString": CONN_STRING})


def test_a_wasb_account_url_in_host_names_the_account():
    conn = Connection(
        conn_id="my_wasb",
        conn_type="wasb",
        host="https://acmestore.blob.core.windows.net/",
        password=ACCOUNT_KEY,
    )
    assert resolve("azure_blob", conn)[1] == {"connectionString": CONN_STRING}


def test_a_wasb_connection_without_a_connection_string_says_which_field_to_fill():
    message = refusal(
        "azure_blob", Connection(conn_id="my_wasb", conn_type="wasb", extra={"sas_token": "sv=x"})
    )
    assert message.startswith(
        "credentials_conn_id='my_wasb' is not valid: connection 'my_wasb' (wasb) has no connectionString "
        "for Azure Blob Storage ('ConnectionString' auth): fill Extra → connection_string (the Azure "
        "provider's field), or Password (a whole connection string), or Login (the storage account "
        "name) and Password or Extra → shared_access_key (its account key)"
    )


def test_a_wasb_service_principal_is_refused_with_the_reason_and_no_secret():
    conn = Connection(
        conn_id="my_wasb", conn_type="wasb", login="app-id", password=SP_SECRET, extra={"tenant_id": "t-1"}
    )
    message = refusal("azure_blob", conn)
    assert "fill Extra → connection_string" in message
    assert "its Login and Password are a service principal (Extra → tenant_id)" in message
    assert SP_SECRET not in message


# -- ADLS Gen2: adls and azure_data_lake connections -------------------------------------------------


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("acmelake", "https://acmelake.dfs.core.windows.net"),
        ("https://acmelake.dfs.core.windows.net/", "https://acmelake.dfs.core.windows.net"),
        ("acmelake.dfs.core.windows.net", "https://acmelake.dfs.core.windows.net"),
    ],
)
def test_an_adls_service_principal_maps_onto_aeps_params(host, url):
    conn = Connection(
        conn_id="my_adls", conn_type="adls", login="app-id", password=SP_SECRET, host=host,
        extra={"tenant_id": "contoso.onmicrosoft.com"},
    )  # fmt: skip
    assert resolve("adls_gen2", conn) == (
        "Azure Service Principal Auth",
        {
            "url": url,
            "servicePrincipalId": "app-id",
            "servicePrincipalKey": SP_SECRET,
            "tenant": "contoso.onmicrosoft.com",
        },
    )


def test_an_azure_data_lake_connection_maps_its_tenant_and_account_name():
    conn = Connection(
        conn_id="my_adl", conn_type="azure_data_lake", login="app-id", password=SP_SECRET,
        extra={"extra__azure_data_lake__tenant": "t-1", "account_name": "acmelake"},
    )  # fmt: skip
    assert resolve("adls_gen2", conn)[1] == {
        "url": "https://acmelake.dfs.core.windows.net",
        "servicePrincipalId": "app-id",
        "servicePrincipalKey": SP_SECRET,
        "tenant": "t-1",
    }


def test_an_adls_connection_without_tenant_and_account_names_both_fields():
    message = refusal(
        "adls_gen2", Connection(conn_id="my_adls", conn_type="adls", login="a", password=SP_SECRET)
    )
    assert "connection 'my_adls' (adls) has no url, tenant for Azure Data Lake Gen2" in message
    assert "url: fill Host (https://<account>.dfs.core.windows.net, or the account name)" in message
    assert "tenant: fill Extra → tenant_id" in message
    assert SP_SECRET not in message


# -- Google Cloud Storage: HMAC keys, never a key file -----------------------------------------------


def test_a_service_account_key_file_is_refused_with_what_to_fill_instead():
    key_file = {"type": "service_account", "private_key": PEM, "client_email": "x@p.iam.gserviceaccount.com"}
    conn = Connection(
        conn_id="my_gcp", conn_type="google_cloud_platform",
        extra={"keyfile_dict": json.dumps(key_file), "project": "p"},
    )  # fmt: skip
    message = refusal("google_cloud_storage", conn)
    assert (
        "connection 'my_gcp' (google_cloud_platform) holds a service-account key (Extra → keyfile_dict)"
        in message
    )
    assert "takes an HMAC key" in message
    assert "fill Login = the HMAC access ID and Password = the HMAC secret" in message
    assert PEM.splitlines()[1][:40] not in message


def test_a_google_cloud_connection_with_hmac_keys_works():
    conn = Connection(
        conn_id="my_gcp", conn_type="google_cloud_platform", login="GOOG1EXAMPLEID", password=HMAC_SECRET,
        extra={"project": "p", "num_retries": 5},
    )  # fmt: skip
    assert resolve("google_cloud_storage", conn) == (
        "Google Cloud Storage authentication credentials",
        {"accessKeyId": "GOOG1EXAMPLEID", "secretAccessKey": HMAC_SECRET},
    )


# -- Amazon S3 and the email-marketing S3 storage: aws connections -----------------------------------


@pytest.mark.parametrize(
    "conn",
    [
        Connection(conn_id="my_aws", conn_type="aws", login=AWS_ID, password=AWS_SECRET),
        Connection(
            conn_id="my_aws", conn_type="aws",
            extra={"aws_access_key_id": AWS_ID, "aws_secret_access_key": AWS_SECRET, "region_name": "eu-west-1"},
        ),
    ],
    ids=["login-password", "extra"],
)  # fmt: skip
@pytest.mark.parametrize(
    ("destination", "spec", "names"),
    [
        ("amazon_s3", "Access Key", ("s3AccessKey", "s3SecretKey")),
        ("amazon_s3_audiences", "Access Key", ("s3AccessKey", "s3SecretKey")),
        ("salesforce_marketing_cloud", "S3", ("accessId", "secretKey")),
    ],
)
def test_an_aws_connection_gives_the_access_keys(conn, destination, spec, names):
    assert resolve(destination, conn) == (spec, dict(zip(names, (AWS_ID, AWS_SECRET), strict=True)))


def test_an_aws_connection_without_keys_names_login_password_and_the_extras():
    message = refusal("amazon_s3", Connection(conn_id="my_aws", conn_type="aws", extra={"role_arn": "arn:x"}))
    assert (
        "connection 'my_aws' (aws) has no s3AccessKey, s3SecretKey for Amazon S3 ('Access Key' auth)"
        in message
    )
    assert "s3SecretKey: fill Password, or Extra → aws_secret_access_key" in message
    assert "s3AccessKey: fill Login, or Extra → aws_access_key_id" in message


# -- SFTP: sftp and ssh connections ------------------------------------------------------------------


@pytest.mark.parametrize("conn_type", ["sftp", "ssh"])
def test_a_private_key_is_sent_base64_encoded_as_aep_asks(conn_type):
    conn = Connection(
        conn_id="my_sftp", conn_type=conn_type, login="exporter", host="sftp.example.com",
        extra={"private_key": PEM, "no_host_key_check": True},
    )  # fmt: skip
    spec, params = resolve("sftp", conn)
    assert spec == "SFTP with SSH Key"
    assert params == {
        "domain": "sftp.example.com",
        "username": "exporter",
        "sshKey": base64.b64encode(PEM.encode()).decode(),
    }


def test_the_key_read_from_a_connection_is_kept_out_of_error_texts_in_both_forms():
    from airflow_provider_aep.redaction.secrets import scrub

    body64 = base64.b64encode(secrets.token_bytes(300)).decode()  # a key of this test alone
    pem = f"-----BEGIN RSA PRIVATE KEY-----\n{body64}\n-----END RSA PRIVATE KEY-----\n"
    conn = Connection(
        conn_id="s", conn_type="sftp", login="u", host="h.example.com", extra={"private_key": pem}
    )
    encoded = resolve("sftp", conn)[1]["sshKey"]
    body = pem.splitlines()[1]
    for text in (f"bad key {pem}", f"bad key {encoded}", f"near {body}"):
        assert body not in scrub(text)
        assert encoded not in scrub(text)


def test_a_base64_key_is_sent_as_it_is():
    encoded = base64.b64encode(PEM.encode()).decode()
    conn = Connection(
        conn_id="s", conn_type="sftp", login="u", host="h.example.com", extra={"private_key": encoded}
    )
    assert resolve("sftp", conn)[1]["sshKey"] == encoded


def test_a_key_with_a_passphrase_is_refused_before_aep_sees_it():
    conn = Connection(
        conn_id="my_sftp", conn_type="sftp", login="u", host="h.example.com",
        extra={"private_key": PEM, "private_key_passphrase": "correct horse"},
    )  # fmt: skip
    message = refusal("sftp", conn)
    assert "has an SSH key protected by a passphrase (Extra → private_key_passphrase)" in message
    assert "correct horse" not in message
    assert PEM.splitlines()[1][:40] not in message


def test_the_legacy_and_email_marketing_sftp_specs_take_the_host_too():
    conn = Connection(conn_id="s", conn_type="sftp", login="u", password="pw-12345", host="ftp.example.com")
    assert resolve("sftp_audiences", conn) == (
        "Basic Authentication for sftp",
        {"host": "ftp.example.com", "username": "u", "password": "pw-12345"},
    )
    assert resolve("oracle_responsys", conn) == (
        "SFTP with Password",
        {"domain": "ftp.example.com", "host": "ftp.example.com", "username": "u", "password": "pw-12345"},
    )


def test_an_sftp_connection_without_password_or_key_names_both_ways_and_no_secret():
    conn = Connection(
        conn_id="my_sftp", conn_type="sftp", login="u", extra={"private_key_passphrase": "pp-secret"}
    )
    message = refusal("sftp", conn)
    assert "has no domain, password for SFTP ('SFTP with Password' auth)" in message
    assert "domain: fill Host" in message
    assert "and no domain, sshKey for SFTP ('SFTP with SSH Key' auth)" in message
    assert "sshKey: fill Extra → private_key" in message
    assert "pp-secret" not in message


# -- choosing among several auth specs ---------------------------------------------------------------


def test_a_wasb_connection_picks_adobe_campaigns_azure_blob_storage():
    conn = Connection(conn_id="c", conn_type="wasb", extra={"connection_string": CONN_STRING})
    assert resolve("adobe_campaign", conn) == ("Azure Blob", {"connectionString": CONN_STRING})


def test_an_sftp_connection_is_never_taken_for_s3_keys():
    conn = Connection(conn_id="rsys", conn_type="sftp", login="u", password="pw-12345")
    message = refusal("oracle_responsys", conn)
    assert "has no domain, host for Oracle Responsys ('SFTP with Password' auth)" in message
    assert "'S3'" not in message


def test_aep_names_in_the_extra_win_over_the_airflow_fields():
    conn = Connection(
        conn_id="c", conn_type="sftp", login="u", password="pw-12345", host="d.example.com",
        extra={"host": "h.example.com"},
    )  # fmt: skip
    assert resolve("oracle_eloqua", conn)[1] == {
        "host": "h.example.com",
        "domain": "d.example.com",
        "username": "u",
        "password": "pw-12345",
    }


def test_where_to_fill_names_aeps_own_name_last_and_once():
    assert where_to_fill("tenant").endswith("Extra → tenant (the azure_data_lake field, and AEP's name)")
    assert where_to_fill("password") == "Password, or Extra → password (AEP's name)"


# -- through the operator, from AIRFLOW_CONN_ JSON ---------------------------------------------------


def test_the_operator_sends_the_connection_string_of_a_wasb_connection(monkeypatch, mocker):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT", aep_conn_json(PLATFORM, ims_url=f"{PLATFORM}/ims/token/v3")
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_MY_WASB",
        json.dumps({"conn_type": "wasb", "extra": {"connection_string": CONN_STRING, "tenant_id": ""}}),
    )
    create = mocker.patch.object(AEPHook, "create_entity", autospec=True, return_value={"id": "b-1"})
    mocker.patch.object(AEPHook, "iter_entities", autospec=True, return_value=iter([]))
    AEPCreateBaseConnectionOperator(
        task_id="b", destination="azure_blob", name="n", credentials_conn_id="my_wasb"
    ).execute({"ti": mocker.MagicMock()})
    assert create.call_args.args[2]["auth"] == {
        "specName": "ConnectionString",
        "params": {"connectionString": CONN_STRING},
    }


@pytest.mark.parametrize("key", [k for k in DESTINATIONS if DESTINATIONS[k].auth_specs])
def test_the_emulators_demo_connections_fill_their_destinations_auth_spec(key):
    from aep_emulator.demo import DEMO_CREDENTIALS

    conn = Connection(conn_id=f"aep_{key}_credentials", **DEMO_CREDENTIALS[key])
    spec_name, params = resolve(key, conn)
    assert set(DESTINATIONS[key].auth_spec(spec_name).required) <= set(params)


def test_the_operator_names_the_connection_field_to_fill(monkeypatch, mocker):
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", aep_conn_json("https://platform.example.test"))
    monkeypatch.setenv(
        "AIRFLOW_CONN_MY_WASB", json.dumps({"conn_type": "wasb", "extra": {"sas_token": "sv=1"}})
    )
    create = mocker.patch.object(AEPHook, "create_entity", autospec=True)
    operator = AEPCreateBaseConnectionOperator(
        task_id="b", destination="azure_blob", name="n", credentials_conn_id="my_wasb"
    )
    with pytest.raises(
        AEPValidationError,
        match=r"connection 'my_wasb' \(wasb\) has no connectionString .* fill Extra → connection_string",
    ):
        operator.execute({"ti": mocker.MagicMock()})
    assert not create.called
