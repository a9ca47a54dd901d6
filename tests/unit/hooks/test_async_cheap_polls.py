"""A poll costs little: the first try goes without tenacity (a failure still gets the same
retries), request parts are built once, and a shared connection read wakes its waiters a few
hundred a loop turn."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
import tenacity

from airflow_provider_aep.exceptions import AEPApiError
from airflow_provider_aep.hooks import aep_async
from airflow_provider_aep.hooks.async_client import AsyncAEPClient
from airflow_provider_aep.hooks.retry import RetryPolicy
from tests.unit.hooks.test_async_client import settings, success_run

QUICK = RetryPolicy(max_attempts=3, max_total_wait=5.0, base_wait=0.01, max_wait=0.01)


class Answers:
    """Answers the Platform's requests from a list of statuses (then 200); the token always."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.sent: list[httpx.Request] = []

    async def __call__(self, client: httpx.AsyncClient, request: httpx.Request, **_: Any) -> httpx.Response:
        if request.url.path.endswith("/ims/token/v3"):
            return httpx.Response(200, json={"access_token": "t", "expires_in": 86400}, request=request)
        self.sent.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        body = {"items": [success_run("f")]} if status == 200 else {"error_code": str(status)}
        return httpx.Response(status, json=body, request=request, headers={"Retry-After": "0"})


@pytest.fixture
def answers(mocker):
    def make(statuses: list[int]) -> Answers:
        fake = Answers(statuses)

        async def send(client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
            return await fake(client, request, **kwargs)

        mocker.patch.object(httpx.AsyncClient, "send", send)
        return fake

    return make


def poll(times: int = 1, policy: RetryPolicy = QUICK, logger: Any = None) -> list[Any]:
    async def go() -> list[Any]:
        client = AsyncAEPClient(settings(), retry_policy=policy, logger=logger or logging.getLogger("t"))
        async with client:
            return [await client.list_runs(["flowId==f"]) for _ in range(times)]

    return asyncio.run(go())


def test_a_poll_that_succeeds_builds_no_retry_machinery(answers, mocker):
    answers([])
    poll(1)  # the token, fetched under tenacity, is cached from here on
    built = mocker.spy(tenacity.AsyncRetrying, "__init__")
    assert poll(3) == [[success_run("f")]] * 3
    assert built.call_count == 0


def test_a_first_try_that_fails_is_retried_as_before_and_counts_as_an_attempt(answers, mocker):
    fake = answers([503, 503])
    warning = mocker.MagicMock()
    logger = mocker.MagicMock(isEnabledFor=lambda level: True, warning=warning)
    assert poll(1, logger=logger) == [[success_run("f")]]
    assert len(fake.sent) == 3
    lines = [c.args[0] % c.args[1:] for c in warning.call_args_list]
    assert len(lines) == 2
    assert "retry 1 of 2" in lines[0]
    assert "retry 2 of 2" in lines[1]


def test_retries_stop_at_the_attempt_limit_with_the_first_try_counted(answers):
    fake = answers([503, 503, 503, 503])
    with pytest.raises(AEPApiError) as err:
        poll(1)
    assert err.value.status == 503
    assert len(fake.sent) == QUICK.max_attempts


def test_an_error_that_is_not_transient_is_not_retried(answers):
    fake = answers([404])
    with pytest.raises(AEPApiError) as err:
        poll(1)
    assert err.value.status == 404
    assert len(fake.sent) == 1


def test_each_poll_sends_the_same_url_and_headers_built_once(answers):
    fake = answers([])
    poll(3)
    urls = {str(r.url) for r in fake.sent}
    assert urls == {"https://platform.example.test/data/foundation/flowservice/runs?property=flowId%3D%3Df"}
    assert {r.headers["authorization"] for r in fake.sent} == {"Bearer t"}
    assert {r.headers["x-sandbox-name"] for r in fake.sent} == {"prod"}
    assert all(r.headers["accept"] == "application/json" for r in fake.sent)


def test_a_shared_connection_read_wakes_its_waiters_a_few_hundred_a_turn(monkeypatch):
    woken_per_turn: list[int] = []

    async def read(self: aep_async.AEPAsyncHook) -> str:
        await asyncio.sleep(0.01)
        return "settings"

    monkeypatch.setattr(aep_async.AEPAsyncHook, "_read_settings", read)

    async def go() -> list[Any]:
        turn = [0]

        async def count_turns() -> None:
            while True:
                woken_per_turn.append(turn[0])
                turn[0] = 0
                await asyncio.sleep(0)

        async def one() -> Any:
            settings_read = await aep_async.AEPAsyncHook("aep_default").get_settings()
            turn[0] += 1
            return settings_read

        counter = asyncio.create_task(count_turns())
        results = await asyncio.gather(*(one() for _ in range(1000)))
        counter.cancel()
        return results

    assert asyncio.run(go()) == ["settings"] * 1000
    assert max(woken_per_turn) <= aep_async.WAKE_PER_TURN
    assert sum(woken_per_turn) >= 1000 - aep_async.WAKE_PER_TURN


def test_the_url_a_wait_repeats_is_parsed_once_and_another_in_between_is_parsed_anew(answers, mocker):
    fake = answers([])
    parsed = mocker.spy(httpx.URL, "copy_merge_params")

    async def go() -> None:
        async with AsyncAEPClient(settings(), retry_policy=QUICK) as client:
            for _ in range(3):
                await client.list_runs(["flowId==f"])
            await client.list_runs(["flowId==g"])
            await client.list_runs(["flowId==f"])

    asyncio.run(go())
    assert parsed.call_count == 3  # f once for three polls, then g, then f again
    assert [r.url.params["property"] for r in fake.sent] == ["flowId==f"] * 3 + ["flowId==g", "flowId==f"]


def test_params_as_a_mapping_with_lists_are_sent_as_httpx_sends_them(answers):
    fake = answers([])

    async def go() -> None:
        async with AsyncAEPClient(settings(), retry_policy=QUICK) as client:
            for _ in range(2):
                await client.request("GET", "/runs", {"property": ["flowId==f", "flowId==g"], "limit": 5})

    asyncio.run(go())
    assert [r.url.params.get_list("property") for r in fake.sent] == [["flowId==f", "flowId==g"]] * 2
    assert {r.url.params["limit"] for r in fake.sent} == {"5"}


def test_a_request_runs_in_a_task_of_its_own_so_the_waiting_task_keeps_no_http_state(answers, mocker):
    fake = answers([])
    senders: list[asyncio.Task[Any] | None] = []

    async def send(client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        if request.url.path.endswith("/runs"):
            senders.append(asyncio.current_task())
        return await fake(client, request, **kwargs)

    mocker.patch.object(httpx.AsyncClient, "send", send)

    async def go() -> tuple[asyncio.Task[Any] | None, list[dict]]:
        async with AsyncAEPClient(settings(), retry_policy=QUICK) as client:
            return asyncio.current_task(), await client.list_runs(["flowId==f"])

    caller, runs = asyncio.run(go())
    assert runs == [success_run("f")]
    assert len(senders) == 1
    assert caller not in senders


def test_cancelling_a_waiting_caller_cancels_its_request_and_frees_its_lane(answers, mocker):
    answers([])
    poll(1)  # the token is cached from here on
    cancelled: list[str] = []

    async def hang(client: httpx.AsyncClient, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(request.url.path)
            raise
        raise AssertionError("never answered")

    mocker.patch.object(httpx.AsyncClient, "send", hang)

    async def go() -> tuple[int, bool]:
        async with AsyncAEPClient(settings(), retry_policy=QUICK) as client:
            polling = asyncio.create_task(client.list_runs(["flowId==f"]))
            await asyncio.sleep(0.05)
            polling.cancel()
            with pytest.raises(asyncio.CancelledError):
                await polling
            transport = client._shared
            assert transport is not None
            return sum(transport.busy), transport.gate.locked()

    busy, gate_locked = asyncio.run(go())
    assert cancelled == ["/data/foundation/flowservice/runs"]
    assert busy == 0
    assert not gate_locked
