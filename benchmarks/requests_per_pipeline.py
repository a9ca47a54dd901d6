"""Requests per pipeline: the calls the example export DAG makes, by endpoint, from the emulator's log.

Runs ``dags_examples/export_datasets.py`` with ``airflow dags test`` (every task in one process,
the sensor deferred and its trigger run in line) against an emulator, in a fresh Airflow home.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections import Counter
from pathlib import Path

from common import BIN, ROOT, dump, emulator_process, requests_log, show

from aep_emulator.demo import airflow_env
from aep_emulator.server import airflow_connection

ID = re.compile(r"/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|/[0-9a-f]{24}")
TASKS = 7  # list, source, base, target, dataflow, sensor, report


def endpoint(entry: dict) -> str:
    return f"{entry['method']} {ID.sub('/{id}', entry['path'])}"


def main() -> dict:
    with emulator_process("--first-run-delay", "2", "--run-duration", "2") as config:
        with tempfile.TemporaryDirectory(prefix="aep-bench-airflow-") as home:
            env = airflow_env(Path(home), ROOT / "dags_examples", airflow_connection(config))
            airflow = str(BIN / "airflow")
            subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, check=True)
            run = subprocess.run(
                [airflow, "dags", "test", "aep_export_datasets", "--conf", '{"destination": "amazon_s3"}'],
                env=env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if run.returncode:
                raise SystemExit(run.stdout[-3000:] + run.stderr[-2000:])
        log = requests_log(config)
    by_endpoint = Counter(endpoint(e) for e in log)
    tokens = by_endpoint.get("POST /ims/token/v3", 0)
    figures = {
        "total": len(log),
        "by_endpoint": dict(by_endpoint.most_common()),
        "token_requests": tokens,
        "tasks": TASKS,
        "worker_processes": 1,
    }
    rows = [(name, str(count)) for name, count in by_endpoint.most_common()]
    rows += [
        ("total", f"{len(log)} requests for {TASKS} tasks"),
        ("token requests per worker process", f"{tokens} (one process ran every task; target: 1)"),
    ]
    show("2. Requests per pipeline: the example export DAG, by endpoint", rows)
    dump("requests_per_pipeline", figures)
    return figures


if __name__ == "__main__":
    main()
