"""The trigger's async client over real HTTP: Retry-After honoured, 401 renewed, errors mapped."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_provider_aep.exceptions import AEPApiError
from airflow_provider_aep.hooks import ims
from airflow_provider_aep.hooks.async_client import AsyncAEPClient
from airflow_provider_aep.hooks.connection import AEPConnectionSettings
from airflow_provider_aep.hooks.retry import RetryPolicy


def _settings(emu) -> AEPConnectionSettings:
    c = emu.config
    return AEPConnectionSettings(
        client_id=c.client_id, client_secret=c.client_secret, org_id=c.org_id,
        ims_url=f"{c.url}/ims/token/v3", platform_url=c.url,
    )  # fmt: skip


def _run(coro):
    return asyncio.run(coro)


def test_429_with_retry_after_is_waited_out(emu):
    emu.add_fault(path="*/runs", times=1, status=429, retry_after=1)

    async def go():
        async with AsyncAEPClient(_settings(emu)) as client:
            started = time.monotonic()
            runs = await client.list_runs(["flowId==nothing"])
            return runs, time.monotonic() - started

    runs, took = _run(go())
    assert runs == []
    assert took >= 1.0
    assert [r["status"] for r in emu.requests() if r["path"].endswith("/runs")] == [429, 200]


def test_expired_token_is_renewed_once(emu):
    async def go():
        async with AsyncAEPClient(_settings(emu)) as client:
            await client.list_runs(["flowId==x"])
            emu.admin.post("/tokens/expire")
            return await client.list_runs(["flowId==x"])

    assert _run(go()) == []
    assert sum(1 for r in emu.requests() if r["path"] == "/ims/token/v3") == 2
    assert ims.TOKENS.fetches == 2


def test_one_token_for_many_concurrent_polls(emu):
    async def go():
        async with AsyncAEPClient(_settings(emu)) as client:
            return await asyncio.gather(*(client.list_runs([f"flowId=={i}"]) for i in range(50)))

    assert _run(go()) == [[]] * 50
    assert sum(1 for r in emu.requests() if r["path"] == "/ims/token/v3") == 1


def test_errors_are_mapped(emu):
    async def go():
        async with AsyncAEPClient(
            _settings(emu), retry_policy=RetryPolicy(max_attempts=2, base_wait=0.01)
        ) as client:
            await client.get_run("no-such-run")

    with pytest.raises(AEPApiError) as err:
        _run(go())
    assert (err.value.status, err.value.code) == (404, "FLOW-1439-404")
