"""IMS token endpoint and the gateway's header checks, as AEP answers them."""

from __future__ import annotations

import pytest
import requests

from tests.emulator.conftest import Api

GOOD_FORM = {
    "grant_type": "client_credentials",
    "client_id": "demo-client-id",
    "client_secret": "demo-client-secret",
    "scope": "openid",
}


def test_token_endpoint_issues_a_bearer_token(emu):
    answer = requests.post(emu.url + "/ims/token/v3", data=GOOD_FORM).json()
    assert answer["token_type"] == "bearer"
    assert answer["expires_in"] == emu.config.token_lifetime
    assert answer["access_token"].startswith("eyJ")


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"client_id": "someone-else"}, 400, "invalid_client"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"scope": ""}, 400, "invalid_scope"),
    ],
)
def test_token_endpoint_refusals_are_oauth_errors(emu, change, status, error):
    response = requests.post(emu.url + "/ims/token/v3", data={**GOOD_FORM, **change})
    assert response.status_code == status
    assert response.json()["error"] == error
    assert "demo-client-secret" not in response.text


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"Authorization": ""}, 401, "401013"),
        ({"Authorization": "Bearer not-a-token"}, 401, "401013"),
        ({"x-api-key": ""}, 403, "403000"),
        ({"x-api-key": "another-client"}, 403, "403003"),
        ({"x-gw-ims-org-id": ""}, 400, "400003"),
    ],
)
def test_gateway_header_checks(api, headers, status, code):
    response = api.call("GET", "/connectionSpecs", headers=headers)
    assert response.status_code == status
    assert response.json()["error_code"] == code


def test_expired_token_is_refused(api, emu):
    assert api.call("GET", "/flows").status_code == 200
    emu.admin.post("/tokens/expire").raise_for_status()
    response = api.call("GET", "/flows")
    assert (response.status_code, response.json()["error_code"]) == (401, "401013")


def test_entities_are_scoped_to_their_sandbox(emu):
    dev, prod = Api(emu, "dev"), Api(emu, "prod")
    created = dev.ok(
        "POST",
        "/connections",
        201,
        json={
            "name": "dlz",
            "connectionSpec": {"id": "10440537-2a7b-4583-ac39-ed38d4b848e8", "version": "1.0"},
        },
    )
    assert dev.call("GET", f"/connections/{created['id']}").status_code == 200
    assert prod.call("GET", f"/connections/{created['id']}").status_code == 404
    no_header = prod.call("GET", f"/connections/{created['id']}", headers={"x-sandbox-name": ""})
    assert no_header.status_code == 404  # a missing header means prod
