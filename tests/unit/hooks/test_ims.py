"""IMS's ``expires_in``, however odd, never makes every call fetch a token."""

from __future__ import annotations

import pytest

from airflow_provider_aep.exceptions import AEPAuthError
from airflow_provider_aep.hooks import ims
from tests.unit.fake_http import TOKEN, response

KEY: ims.CacheKey = ("https://ims.example.test", "client", "scopes", "digest")
SECRET_TOKEN = "eyJ-short-lived-token-0123456789"


class Clock:
    def __init__(self, mocker) -> None:
        self.now = 1000.0
        mocker.patch("airflow_provider_aep.hooks.ims.time.monotonic", side_effect=lambda: self.now)


def counting_fetch(body: dict) -> tuple[list[int], object]:
    fetches: list[int] = []

    def fetch() -> ims.AccessToken:
        fetches.append(1)
        return ims.parse_token_response(200, {"access_token": f"{SECRET_TOKEN}-{len(fetches)}", **body})

    return fetches, fetch


@pytest.mark.parametrize(
    "body",
    [
        {"expires_in": 0},
        {},
        {"expires_in": None},
        {"expires_in": -30},
        {"expires_in": 120},
        {"expires_in": "120"},
    ],
    ids=["zero", "missing", "null", "negative", "short", "short-as-text"],
)
def test_an_odd_expires_in_still_serves_one_token_to_many_calls(mocker, body):
    clock = Clock(mocker)
    cache = ims.TokenCache()
    fetches, fetch = counting_fetch(body)
    tokens = set()
    for _ in range(20):
        tokens.add(cache.get(KEY, fetch))
        clock.now += 1.0
    assert len(fetches) == 1
    assert tokens == {f"{SECRET_TOKEN}-1"}


@pytest.mark.parametrize(("expires_in", "kept", "renewed"), [(120, 89, 91), (0, 44, 46), (3600, 3299, 3301)])
def test_a_short_lived_token_is_renewed_before_it_runs_out(mocker, expires_in, kept, renewed):
    clock = Clock(mocker)
    cache = ims.TokenCache()
    fetches, fetch = counting_fetch({"expires_in": expires_in})
    cache.get(KEY, fetch)
    clock.now = 1000.0 + kept
    cache.get(KEY, fetch)
    assert len(fetches) == 1
    clock.now = 1000.0 + renewed
    assert cache.get(KEY, fetch) == f"{SECRET_TOKEN}-2"
    assert len(fetches) == 2


@pytest.mark.parametrize("expires_in", ["soon", "NaN", "inf", [], {"s": 1}, True])
def test_an_expires_in_that_is_no_number_is_an_auth_error_without_the_token(expires_in):
    with pytest.raises(AEPAuthError, match="expires_in") as err:
        ims.parse_token_response(200, {"access_token": SECRET_TOKEN, "expires_in": expires_in})
    assert SECRET_TOKEN not in str(err.value)
    assert err.value.error == "invalid_response"


def test_the_hook_asks_ims_once_when_it_says_expires_in_0(hook, fake):
    fake.token_expires_in = 0
    for _ in range(5):
        hook.list_connection_specs()
    assert fake.tokens_issued == 1
    assert {c.headers["Authorization"] for c in fake.api_calls} == {f"Bearer {TOKEN}-1"}


def test_the_hook_says_which_answer_ims_gave_when_expires_in_is_no_number(hook, fake):
    fake.token_answers = [response(200, {"access_token": SECRET_TOKEN, "expires_in": "tomorrow"})]
    with pytest.raises(AEPAuthError, match="expires_in in the token answer is not a number") as err:
        hook.list_connection_specs()
    assert SECRET_TOKEN not in str(err.value)
    assert fake.api_calls == []
