"""Hook throughput on loopback: the session's keep-alive against a new connection per request.

The same AEPHook reads one dataflow over and over from an emulator in its own process; for the
second figure its session drops its connections after every request, as a client without
keep-alive (a new ``requests.get`` each time) would.
"""

from __future__ import annotations

import time

from common import dump, emulator_process, median, show, use_emulator
from deferral_at_scale import create_connections, create_flows

from airflow_provider_aep.hooks.aep import AEPHook

REQUESTS = 1000
ROUNDS = 3


def rate(hook: AEPHook, flow_id: str, *, keep_alive: bool) -> float:
    started = time.perf_counter()
    for _ in range(REQUESTS):
        hook.get_flow(flow_id)
        if not keep_alive:
            hook.session.close()
    return REQUESTS / (time.perf_counter() - started)


def main() -> dict:
    with emulator_process() as config:
        use_emulator(config)
        hook = AEPHook()
        [flow_id] = create_flows(create_connections(hook), [int(time.time())])
        rate(hook, flow_id, keep_alive=True)  # warm up
        kept = median([rate(hook, flow_id, keep_alive=True) for _ in range(ROUNDS)])
        fresh = median([rate(hook, flow_id, keep_alive=False) for _ in range(ROUNDS)])
    figures = {
        "keep_alive_rps": round(kept),
        "new_connection_rps": round(fresh),
        "speedup": round(kept / fresh, 2),
    }
    show(
        f"4. Hook throughput on loopback: GET /flows/{{id}}, median of {ROUNDS} rounds of {REQUESTS}",
        [
            ("keep-alive session", f"{figures['keep_alive_rps']} requests/s"),
            ("new connection per request", f"{figures['new_connection_rps']} requests/s"),
            ("keep-alive gain", f"{figures['speedup']}x"),
        ],
    )
    dump("hook_throughput", figures)
    return figures


if __name__ == "__main__":
    main()
