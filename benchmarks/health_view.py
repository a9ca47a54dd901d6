"""The AEP health page for a sandbox of 500 dataflows: how long it takes to answer, and what it asks AEP.

An emulator (its own process) gets ``--flows`` one-shot dataset exports, each with its run; then
the page's own app (FastAPI, in this process) is asked for the list as a signed-in reader would:
cold (AEP read: every page of flows, the recent runs), and warm (the 30-second cache). Airflow's
auth manager and metadata DB are stood in for by answers that allow everything and name no DAG,
so the figure is the page's own cost: AEP's two listings, the health of each flow, the HTML.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import httpx
from common import dump, emulator_process, requests_log, show, use_emulator
from deferral_at_scale import create_connections, create_flows
from fastapi.testclient import TestClient

from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.plugins import access, airflow_side
from airflow_provider_aep.plugins import app as health_app

FLOWS = 500
ROUNDS = 7
#: The issue's target: the page answers within this for 500 dataflows.
TARGET_SECONDS = 1.0


class AllowEveryone:
    """The auth manager's answers for a reader allowed everything (the benchmark measures the page)."""

    async def get_user_from_token(self, token: str) -> str:
        return "reader"

    def is_authorized_connection(self, **_: Any) -> bool:
        return True

    def get_authorized_dag_ids(self, **_: Any) -> set[str]:
        return set()


def stand_in_for_airflow() -> None:
    allow = AllowEveryone()
    access._auth_manager = lambda: allow
    health_app.readable_aep_connections = lambda user: ["aep_default"]
    airflow_side.read_watcher_rows = lambda limit=0: []


def wait_for_runs(config: Any, flows: int, timeout: float = 120) -> int:
    hook = AEPHook()
    deadline = time.monotonic() + timeout
    while True:
        runs = sum(1 for _ in hook.iter_runs(limit=100))
        if runs >= flows or time.monotonic() > deadline:
            return runs
        time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--flows", type=int, default=FLOWS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
    with emulator_process("--first-run-delay", "0", "--run-duration", "1") as config:
        use_emulator(config)
        now = int(time.time())
        create_flows(create_connections(AEPHook()), [now] * args.flows)
        runs = wait_for_runs(config, args.flows)
        stand_in_for_airflow()
        client = TestClient(health_app.create_app(), root_path="/aep")
        headers = {"Authorization": "Bearer reader-token"}
        cold: list[float] = []
        warm: list[float] = []
        size = 0
        for _ in range(args.rounds):
            health_app.health_cache.clear()
            httpx.delete(f"{config.url}/_emulator/requests", timeout=10)
            started = time.perf_counter()
            page = client.get("/health", headers=headers)
            cold.append(time.perf_counter() - started)
            assert page.status_code == 200, page.text[:500]
            size = len(page.content)
            sent = [r for r in requests_log(config) if "/ims/" not in r.get("path", "")]
            started = time.perf_counter()
            assert client.get("/health", headers=headers).status_code == 200
            warm.append(time.perf_counter() - started)
        shown = page.text.count("data-flow-id=")
    figures = {
        "flows": args.flows,
        "flows_shown": shown,
        "runs_in_aep": runs,
        "cold_median_s": round(statistics.median(cold), 3),
        "cold_max_s": round(max(cold), 3),
        "warm_median_ms": round(statistics.median(warm) * 1000, 1),
        "requests_per_cold_read": len(sent),
        "methods": sorted({str(r.get("method")) for r in sent}),
        "page_kb": round(size / 1024, 1),
        "target_s": TARGET_SECONDS,
    }
    show(
        f"AEP health page, {args.flows} dataflows ({runs} runs) in the emulator, {args.rounds} rounds",
        [
            ("flows on the page", str(shown)),
            ("cold (AEP read)", f"median {figures['cold_median_s']} s, max {figures['cold_max_s']} s"),
            ("warm (cached)", f"median {figures['warm_median_ms']} ms"),
            ("requests to AEP per cold read", f"{len(sent)} ({', '.join(figures['methods'])} only)"),
            ("page size", f"{figures['page_kb']} KB"),
            (
                "target",
                f"under {TARGET_SECONDS} s: {'met' if figures['cold_max_s'] < TARGET_SECONDS else 'NOT met'}",
            ),
        ],
    )
    dump("health_view", figures)


if __name__ == "__main__":
    main()
