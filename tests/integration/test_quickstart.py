"""The quickstart page's commands and the docs' claim that the example DAGs run against the
emulator unchanged: real ``aep-emulator`` processes, real Airflow, and nothing else.

The quickstart test runs ``docs/quickstart/quickstart.sh``, the very script the page shows in
pieces, with the project's venv as its venv (so it installs nothing). The example-DAG test gives
Airflow no connection but the lines the emulator wrote.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from aep_emulator.server import free_port
from tests.integration.conftest import DAGS, ROOT, failure_excerpt

pytestmark = pytest.mark.integration

SCRIPT = ROOT / "docs" / "quickstart" / "quickstart.sh"
VENV_BIN = Path(sys.executable).parent


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any Airflow setting or connection, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    return {**env, **extra}


def newest_xcom(db: Path, dag_id: str, task_id: str) -> Any:
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = 'return_value' "
            "ORDER BY timestamp DESC LIMIT 1",
            (dag_id, task_id),
        ).fetchone()
    assert row, f"no XCom of {dag_id}.{task_id}"
    value = json.loads(row[0]) if isinstance(row[0], (str, bytes)) else row[0]
    return json.loads(value) if isinstance(value, str) else value


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_quickstart_script_runs_its_dag_against_the_emulator(tmp_path):
    cwd, quickstart, cache = tmp_path / "cwd", tmp_path / "quickstart", tmp_path / "cache"
    cwd.mkdir()
    port = free_port()
    env = clean_env(QUICKSTART=str(quickstart), VENV=sys.prefix, PORT=str(port), XDG_CACHE_HOME=str(cache))
    result = subprocess.run(
        ["bash", str(SCRIPT)], cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert result.returncode == 0, failure_excerpt(result.stdout + result.stderr)

    summary = newest_xcom(quickstart / "airflow" / "airflow.db", "my_aep_export", "wait_for_first_run")
    assert summary["status"] == "success"
    assert summary["output_records"] > 0
    folder = cache / "aep-emulator" / "exports" / "prod" / "amazon_s3" / "my-bucket" / "aep" / "daily"
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert len(files) == summary["files_out"] > 0
    # Nothing where it ran, and no emulator left behind (the script's trap stops it).
    assert list(cwd.iterdir()) == []
    deadline = time.monotonic() + 10
    while listening(port):
        assert time.monotonic() < deadline, "the quickstart's emulator still runs"
        time.sleep(0.1)


@pytest.mark.parametrize(
    ("dag_id", "destination", "sensor"),
    [
        ("aep_export_datasets", "sftp", "wait_for_export_run"),
        ("aep_activate_segments", "oracle_eloqua", "wait_for_activation_run"),
    ],
)
def test_an_example_dag_runs_unchanged_with_only_what_the_emulator_printed(
    tmp_path, dag_id, destination, sensor
):
    env_file, home, exports = tmp_path / "aep.env", tmp_path / "airflow", tmp_path / "exports"
    port = free_port()
    emulator = subprocess.Popen(
        [str(VENV_BIN / "aep-emulator"), "--port", str(port), "--exports-dir", str(exports),
         "--write-env", str(env_file)],
        env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not env_file.exists():
            assert emulator.poll() is None, emulator.communicate()[1]
            assert time.monotonic() < deadline, "the emulator wrote no connections"
            time.sleep(0.1)
        conf = json.dumps({"destination": destination})
        result = subprocess.run(
            ["bash", "-c", f'. "$1" && airflow db migrate >/dev/null && airflow dags test {dag_id} --conf "$2"',
             "bash", str(env_file), conf],
            env=clean_env(
                PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
                AIRFLOW_HOME=str(home),
                AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
                AIRFLOW__CORE__LOAD_EXAMPLES="False",
            ),
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        assert result.returncode == 0, failure_excerpt(result.stdout + result.stderr)

        summary = newest_xcom(home / "airflow.db", dag_id, sensor)
        assert summary["status"] == "success"
        assert summary["files_out"] > 0
        # The run used the credentials the emulator printed for this destination.
        used = httpx.get(f"http://127.0.0.1:{port}/_emulator/runs/{summary['run_id']}/credentials").json()
        printed = {}
        for line in env_file.read_text().splitlines():
            name, value = line.removeprefix("export ").split("=", 1)
            printed[name] = json.loads(value.strip("'"))
        login = printed[f"AIRFLOW_CONN_AEP_{destination.upper()}_CREDENTIALS"]["login"]
        assert login in used["identifiers"].values()
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    assert [p for p in (exports / "prod" / destination).rglob("*") if p.is_file()]
