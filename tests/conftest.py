"""Fixtures shared by every test layer."""

from __future__ import annotations

import json
import logging

import pytest

from airflow_provider_aep.hooks import ims

CLIENT_SECRET = "s3cr3t-CLIENT-9f8e7d6c"  # distinctive, so leak checks can search for it
ORG_ID = "1234ABCD5678EF90@AdobeOrg"


def aep_conn_json(
    host: str, *, ims_url: str | None = None, sandbox: str = "prod", secret: str = CLIENT_SECRET
) -> str:
    return json.dumps(
        {
            "conn_type": "aep",
            "login": "demo-client-id",
            "password": secret,
            "host": host,
            "extra": {
                "org_id": ORG_ID,
                "sandbox_name": sandbox,
                "ims_url": ims_url or f"{host}/ims/token/v3",
                "ui_url": f"{host}/_emulator/ui/flows/{{flow_id}}",
            },
        }
    )


@pytest.fixture(autouse=True)
def _fresh_token_cache():
    """Tokens are cached per process: every test starts without one."""
    ims.TOKENS.clear()
    yield
    ims.TOKENS.clear()


@pytest.fixture
def logged(caplog, capsys):
    """Everything logged so far: stdlib records and Airflow's structlog output (stdout/stderr)."""
    caplog.set_level(logging.DEBUG)

    def read() -> str:
        captured = capsys.readouterr()
        return caplog.text + captured.out + captured.err

    return read
