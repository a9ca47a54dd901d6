"""``make demo``: the dataset-export example DAG against the emulator, in real Airflow.

Starts the emulator, prepares an Airflow home with SQLite, runs ``airflow dags test`` on
``dags_examples/export_datasets.py``, prints the run summary (record counts) and the exported
files, and stops the emulator whatever happens. Run it from the repository root.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

# DEMO_CREDENTIALS lives with every connection the emulator prints; imported from here too.
from aep_emulator.airflow_connections import DEMO_CREDENTIALS as DEMO_CREDENTIALS
from aep_emulator.airflow_connections import credentials_connections
from aep_emulator.catalog import DATASET_EXPORT_DESTINATIONS
from aep_emulator.config import EmulatorConfig
from aep_emulator.server import running_emulator

DAG_ID = "aep_export_datasets"
SENSOR_TASK = "wait_for_export_run"


def airflow_env(home: Path, dags: Path, emulator_conn: str, destination: str | None = None) -> dict[str, str]:
    """Environment for an Airflow process that talks to the emulator and keeps its DB in ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_AEP_DEFAULT": emulator_conn,
        }
    )
    env.update(credentials_connections(destination))
    return env


def airflow(args: list[str], env: dict[str, str], log: Path) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("airflow")), *args]
    with log.open("a") as out:
        out.write(f"\n$ airflow {' '.join(args)}\n")
        out.flush()
        return subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, text=True, check=False)


def sensor_summary(home: Path) -> dict[str, Any] | None:
    """The sensor's XCom (the run summary) from the SQLite metadata DB."""
    with sqlite3.connect(home / "airflow.db") as db:
        row = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value' ORDER BY timestamp DESC LIMIT 1",
            (DAG_ID, SENSOR_TASK),
        ).fetchone()
    if not row:
        return None
    value = row[0]
    loaded = json.loads(value) if isinstance(value, (str, bytes)) else value
    return json.loads(loaded) if isinstance(loaded, str) else loaded


def describe_file(path: Path) -> str:
    if path.name.endswith(".json.gz"):
        return f"{sum(1 for _ in gzip.open(path, 'rt'))} records (NDJSON, gzip)"
    if path.name.endswith(".json"):
        return f"{sum(1 for _ in path.open())} records (NDJSON)"
    if path.name.endswith(".parquet"):
        try:
            import pyarrow.parquet as pq

            return f"{pq.read_metadata(path).num_rows} records (Parquet)"
        except ImportError:
            return "Parquet"
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--destination",
        default=os.environ.get("DESTINATION", "amazon_s3"),
        choices=DATASET_EXPORT_DESTINATIONS,
    )
    parser.add_argument("--workdir", type=Path, default=Path(".aep-demo"))
    args = parser.parse_args(argv)

    dags = Path("dags_examples").resolve()
    if not (dags / "export_datasets.py").exists():
        print("Run the demo from the repository root (dags_examples/ not found).", file=sys.stderr)
        return 2
    work = args.workdir.resolve()
    shutil.rmtree(work, ignore_errors=True)
    home, exports, log = work / "airflow", work / "exports", work / "airflow.log"
    home.mkdir(parents=True)
    config = EmulatorConfig(exports_dir=exports, first_run_delay=2.0, run_duration=2.0)

    with running_emulator(config) as emulator:
        print(f"AEP emulator on {emulator.url} (IMS + Flow Service); exports in {exports}")
        env = airflow_env(home, dags, emulator.connection(), args.destination)
        print("Preparing Airflow (SQLite metadata DB) ...")
        if airflow(["db", "migrate"], env, log).returncode:
            print(f"airflow db migrate failed; see {log}", file=sys.stderr)
            return 1
        print(f"Running DAG {DAG_ID} for destination {args.destination!r} with `airflow dags test` ...")
        conf = json.dumps({"destination": args.destination})
        result = airflow(["dags", "test", DAG_ID, "--conf", conf], env, log)
        calls = emulator.requests()

    summary = sensor_summary(home)
    if result.returncode or not summary:
        print(f"\nThe DAG run failed; the last lines of {log}:", file=sys.stderr)
        print("\n".join(log.read_text().splitlines()[-40:]), file=sys.stderr)
        return 1
    print("\nDataflow run summary (the sensor's XCom):")
    for key in ("run_id", "flow_id", "status", "started_at", "completed_at", "duration_seconds", "input_records",
                "output_records", "skipped_records", "failed_records", "output_bytes", "files_out"):  # fmt: skip
        print(f"  {key:<17} {summary.get(key)}")
    print("\nExported files:")
    for path in sorted(p for p in exports.rglob("*") if p.is_file()):
        print(f"  {path.relative_to(exports)}  {path.stat().st_size} bytes, {describe_file(path)}")
    print(f"\nThe emulator answered {len(calls)} requests; Airflow log: {log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
