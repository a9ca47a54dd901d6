from __future__ import annotations

import pytest
import requests

from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.hooks.retry import RetryPolicy
from tests.conftest import aep_conn_json
from tests.unit.fake_http import FakeAEP

PLATFORM = "https://platform.example.test"


@pytest.fixture
def aep_conn(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_AEP_DEFAULT", aep_conn_json(PLATFORM, ims_url=f"{PLATFORM}/ims/token/v3")
    )


@pytest.fixture
def fake(mocker, aep_conn) -> FakeAEP:
    fake = FakeAEP()
    mocker.patch.object(requests.Session, "request", autospec=True, side_effect=fake)
    return fake


@pytest.fixture
def sleeps(mocker) -> list[float]:
    """Waits the retry policy asked for, without waiting."""
    waits: list[float] = []
    mocker.patch("tenacity.nap.time.sleep", side_effect=waits.append)
    return waits


@pytest.fixture
def hook(fake, sleeps) -> AEPHook:
    return AEPHook(retry_policy=RetryPolicy(max_attempts=4, max_total_wait=120, base_wait=1, max_wait=8))
