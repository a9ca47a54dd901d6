"""``make bench``: every benchmark, each in a fresh process, then the figures side by side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = [
    "parse_cost",
    "requests_per_pipeline",
    "deferral_at_scale",
    "waiting_cost",
    "hook_throughput",
    "tokens_under_celery",
    "health_view",
]
#: Benchmarks run again with other options: (benchmark, options, the name of their figures).
AGAIN = [
    ("deferral_at_scale", ["--schedule-aware"], "deferral_at_scale_schedule_aware"),
    ("deferral_at_scale", ["--triggers", "50000"], "deferral_at_scale_50000"),
    (
        "deferral_at_scale",
        ["--triggers", "50000", "--schedule-aware"],
        "deferral_at_scale_50000_schedule_aware",
    ),
]


def main() -> int:
    # Per-poll log lines would flood the terminal; the figures are what these scripts print.
    env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}
    runs: list[tuple[str, list[str], str]] = [(name, [], name) for name in BENCHMARKS]
    runs += AGAIN
    for name, options, _ in runs:
        done = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *options], env=env, check=False)
        if done.returncode:
            print(f"benchmark {name} {' '.join(options)} failed (exit {done.returncode})", file=sys.stderr)
            return done.returncode
    figures = {result: json.loads((HERE / "results" / f"{result}.json").read_text()) for _, _, result in runs}
    parse, calls = figures["parse_cost"], figures["requests_per_pipeline"]
    scale, http = figures["deferral_at_scale"], figures["hook_throughput"]
    tokens = figures["tokens_under_celery"]
    aep_ms = parse["airflow-provider-aep"]["median_ms"]
    dbt = parse.get("apache-airflow-providers-dbt-cloud", {}).get("median_ms")
    print("\n== Summary")
    print(
        f"  DAG-parse import cost   {aep_ms} ms"
        + (f" (dbt Cloud {dbt} ms: {dbt / aep_ms:.1f}x)" if dbt else "")
    )
    print(f"  example DAG             {calls['total']} requests, {calls['token_requests']} token request")
    celery_runs = tokens["celery"]["runs"]
    print(
        f"  IMS tokens per DAG run  {tokens['celery']['token_requests'] / celery_runs:.1f} under Celery "
        f"({celery_runs} runs, two workers), {tokens['dags_test']['token_requests']} with airflow dags test"
    )
    for mode, waits in (
        ("fixed interval", scale),
        ("schedule-aware", figures["deferral_at_scale_schedule_aware"]),
        ("fixed interval", figures["deferral_at_scale_50000"]),
        ("schedule-aware", figures["deferral_at_scale_50000_schedule_aware"]),
    ):
        print(
            f"  {waits['triggers']:>6} deferred sensors  {mode}: {waits['succeeded']}/{waits['triggers']} done, "
            f"{waits['memory_per_trigger_kb']} KB each, {waits['cpu_ms_per_poll']} ms CPU per poll, "
            f"loop lag p99 {waits['loop_lag_steady_p99_ms']} ms, start-up hold {waits['start_hold_ms']} ms, "
            f"{waits.get('failed_tries', '?')} failed tries"
        )
    daily = figures["waiting_cost"][next(iter(figures["waiting_cost"]))]
    print(
        f"  daily monitor, 6 h early {daily['fixed_interval']['requests']} requests fixed-interval, "
        f"{daily['schedule_aware']['requests']} schedule-aware"
    )
    health = figures["health_view"]
    print(
        f"  AEP health page         {health['flows']} dataflows in {health['cold_median_s']} s "
        f"(cached {health['warm_median_ms']} ms), {health['requests_per_cold_read']} requests to AEP"
    )
    print(
        f"  hook on loopback        {http['keep_alive_rps']} req/s keep-alive, {http['new_connection_rps']} without"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
