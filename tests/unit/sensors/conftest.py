"""The runs a sensor test's AEP lists, shared by the sensor tests."""

from __future__ import annotations

import pytest

from airflow_provider_aep.hooks.aep import AEPHook


class Runs(list):
    """The runs AEP lists; ``listing`` is the mock, to read the filters the sensor sent."""

    listing = None
    flow: dict = {}


@pytest.fixture
def runs(mocker, aep_conn):
    answer = Runs()
    answer.listing = mocker.patch.object(AEPHook, "iter_runs", side_effect=lambda *a, **k: iter(list(answer)))
    answer.flow = {"id": "f-1", "state": "enabled"}
    mocker.patch.object(AEPHook, "get_flow", side_effect=lambda flow_id: dict(answer.flow))
    return answer
