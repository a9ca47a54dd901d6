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


def main() -> int:
    # Per-poll log lines would flood the terminal; the figures are what these scripts print.
    env = {**os.environ, "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING"}
    for name in BENCHMARKS:
        done = subprocess.run([sys.executable, str(HERE / f"{name}.py")], env=env, check=False)
        if done.returncode:
            print(f"benchmark {name} failed (exit {done.returncode})", file=sys.stderr)
            return done.returncode
    figures = {name: json.loads((HERE / "results" / f"{name}.json").read_text()) for name in BENCHMARKS}
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
    print(
        f"  {scale['triggers']:>5} deferred sensors  {scale['succeeded']}/{scale['triggers']} done, "
        f"{scale['memory_per_trigger_kb']} KB each, {scale['cpu_ms_per_poll']} ms CPU per poll"
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
