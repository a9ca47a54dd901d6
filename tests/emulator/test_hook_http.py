"""AEPHook against the emulator's faults over real HTTP."""

from __future__ import annotations

import pytest

from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.hooks.retry import RetryPolicy


@pytest.fixture
def hook(emu, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", emu.connection())
    return AEPHook(retry_policy=RetryPolicy(max_attempts=4, base_wait=0.05, max_wait=0.2))


@pytest.mark.parametrize("fault", [{"drop": True}, {"status": 503, "retry_after": 0}, {"status": 502}])
def test_transient_faults_are_retried(hook, emu, fault):
    emu.add_fault(path="*/flows", times=2, **fault)
    assert list(hook.iter_flows()) == []
    assert [r["fault"] for r in emu.requests() if r["path"].endswith("/flows")] == [True, True, False]


def test_read_timeout_is_retried(hook, emu):
    hook._timeout = (5.0, 0.3)
    emu.add_fault(path="*/flows", times=1, latency=1.0)
    assert list(hook.iter_flows()) == []
