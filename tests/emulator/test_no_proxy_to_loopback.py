"""Plain http to loopback never goes through a proxy, whichever proxy variable the environment
sets: a real recording proxy on 127.0.0.1 must see nothing, the emulator everything."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.hooks.async_client import AsyncAEPClient
from airflow_provider_aep.hooks.retry import RetryPolicy
from tests.local_servers import recording_proxy

PROXY_VARIABLES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")
ONE_TRY = RetryPolicy(max_attempts=1)


@pytest.mark.parametrize("variables", [PROXY_VARIABLES, ("ALL_PROXY",), ("all_proxy",)])
def test_neither_client_sends_the_secret_or_the_token_through_a_proxy(emu, monkeypatch, variables):
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", emu.connection())
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with recording_proxy() as proxy:
        for name in variables:
            monkeypatch.setenv(name, proxy.url)
        hook = AEPHook(retry_policy=ONE_TRY)
        specs = hook.list_connection_specs()

        async def poll() -> list:
            async with AsyncAEPClient(hook.settings, retry_policy=ONE_TRY) as client:
                client_token = await client.access_token()
                return [client_token, await client.list_runs(["flowId==nothing"])]

        token, runs = asyncio.run(poll())
        for name in variables:
            monkeypatch.delenv(name)

    assert specs
    assert runs == []
    secret = emu.config.client_secret
    assert not [s.target for s in proxy.seen if secret.encode() in s.raw or token.encode() in s.raw]
    assert [s.target for s in proxy.seen] == []
    paths = [r["path"] for r in emu.requests()]
    assert paths.count("/ims/token/v3") == 1  # one token, from the emulator itself, shared by both
    assert any(p.endswith("/connectionSpecs") for p in paths)
    assert any(p.endswith("/runs") for p in paths)
