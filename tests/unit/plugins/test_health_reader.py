"""The health page reads AEP with two GET listings, whatever the number of flows, and briefly caches it."""

from __future__ import annotations

import threading
import time

import pytest

from airflow_provider_aep.plugins.health_reader import (
    MAX_RUN_PAGES,
    RUN_DAYS,
    RUNS_PER_PAGE,
    HealthCache,
    read_health,
)
from tests.unit.fake_http import response
from tests.unit.plugins.helpers import DAY_MS, NOW_MS, flow, run


def test_flows_and_recent_runs_are_two_paged_get_listings(hook, fake):
    """A real hook against scripted AEP: two pages of flows, one of runs; only GETs are sent."""
    fake.queue += [
        response(
            200, {"items": [flow("f1", "one")], "_links": {"next": {"href": "/flows?continuationToken=t1"}}}
        ),
        response(200, {"items": [flow("f2", "two")]}),
        response(200, {"items": [run("r1", "f1", "failed"), run("r2", "f2", "success")]}),
    ]
    report = read_health(hook, now_ms=NOW_MS)
    assert {line.flow_id: line.health for line in report.flows} == {"f1": "failed", "f2": "healthy"}
    sent = [c for c in fake.calls if "/ims/" not in c.path]
    assert {c.method for c in sent} == {"GET"}
    assert [c.flow_path for c in sent] == ["/flows", "/flows", "/runs"]
    assert ("limit", 100) in sent[0].params
    runs_params = dict(sent[2].params)
    assert runs_params["property"] == f"createdAt>{NOW_MS - RUN_DAYS * DAY_MS}"
    assert runs_params["orderby"] == "-createdAt"
    assert runs_params["limit"] == RUNS_PER_PAGE
    assert (report.runs_read, report.runs_truncated) == (2, False)
    assert report.conn_id == "aep_default"


class ListingHook:
    aep_conn_id = "aep_default"
    sandbox_name = "prod"

    def __init__(self, runs: int) -> None:
        self.runs = runs
        self.pulled = 0

    def iter_flows(self, **_):
        return iter([flow("f", "export")])

    def iter_runs(self, **_):
        for i in range(self.runs):
            self.pulled += 1
            yield run(f"r{i}", "f", "success", hours_ago=1 + i / 100)

    def flow_page_url(self, flow_id: str) -> str:
        return flow_id


def test_with_a_second_hook_the_run_listing_is_read_beside_the_flows():
    flows_hook, runs_hook = ListingHook(0), ListingHook(3)
    report = read_health(flows_hook, now_ms=NOW_MS, runs_hook=runs_hook)
    assert (flows_hook.pulled, runs_hook.pulled) == (0, 3)
    assert report.runs_read == 3


def test_runs_beyond_the_cap_are_not_read_and_the_report_says_so():
    cap = MAX_RUN_PAGES * RUNS_PER_PAGE
    hook = ListingHook(cap + 500)
    report = read_health(hook, now_ms=NOW_MS)
    assert hook.pulled == cap + 1
    assert (report.runs_read, report.runs_truncated) == (cap, True)


def test_a_fresh_reading_is_reused_and_a_stale_one_read_again():
    now = [0.0]
    cache = HealthCache(seconds=30, clock=lambda: now[0])
    reads = []

    def read():
        reads.append(now[0])
        return read_health(ListingHook(1), now_ms=NOW_MS)

    first = cache.get(("aep_default", "prod"), read)
    now[0] = 29
    assert cache.get(("aep_default", "prod"), read) is first
    assert cache.get(("aep_default", "dev"), read) is not first  # another sandbox is its own reading
    now[0] = 31
    assert cache.get(("aep_default", "prod"), read) is not first
    assert reads == [0, 29, 31]


def test_people_opening_the_page_together_ask_aep_once():
    cache = HealthCache(seconds=30)
    reads = []

    def slow_read():
        reads.append(1)
        time.sleep(0.2)
        return read_health(ListingHook(1), now_ms=NOW_MS)

    got = []
    threads = [
        threading.Thread(target=lambda: got.append(cache.get(("c", "s"), slow_read))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(reads) == 1
    assert len({id(report) for report in got}) == 1


def test_a_failed_read_answers_for_a_short_while_then_aep_is_asked_again():
    now = [0.0]
    cache: HealthCache[str] = HealthCache(seconds=30, clock=lambda: now[0], failure_seconds=10)
    calls = []

    def failing() -> str:
        calls.append(now[0])
        raise RuntimeError("AEP is down")

    for moment in (0, 5, 11):
        now[0] = moment
        with pytest.raises(RuntimeError, match="AEP is down"):
            cache.get(("c", "s"), failing)
    assert calls == [0, 11]


def test_the_cache_keeps_at_most_max_keys_and_no_lock_outlives_its_readers():
    cache: HealthCache[str] = HealthCache(max_keys=3)
    for n in range(10):
        cache.get((f"conn{n}", "prod"), lambda n=n: f"reading {n}")
    assert list(cache._kept) == [("conn7", "prod"), ("conn8", "prod"), ("conn9", "prod")]
    assert cache._locks == {}
