"""Real Airflow (SQLite metadata DB) against a real emulator over HTTP: no mocks here."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aep_emulator.config import EmulatorConfig
from aep_emulator.demo import airflow_env
from aep_emulator.server import RunningEmulator, running_emulator

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags_examples"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def emulator(tmp_path_factory) -> Iterator[RunningEmulator]:
    config = EmulatorConfig(
        exports_dir=tmp_path_factory.mktemp("exports"), first_run_delay=1.0, run_duration=1.0
    )
    with running_emulator(config) as running:
        yield running


class AirflowHome:
    """An Airflow home with a migrated SQLite DB, and ways to run DAGs and read XComs in it."""

    def __init__(self, home: Path, emulator: RunningEmulator) -> None:
        self.home = home
        self.emulator = emulator
        self.env = airflow_env(home, DAGS, emulator.connection())

    def run(
        self, *args: str, timeout: float = 600, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AIRFLOW, *args], env={**self.env, **(env or {})}, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip

    def dags_test(
        self, dag_id: str, conf: dict[str, Any], env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = self.run("dags", "test", dag_id, "--conf", json.dumps(conf), env=env)
        assert result.returncode == 0, failure_excerpt(result.stdout + result.stderr)
        return result

    def xcom(self, dag_id: str, task_id: str, key: str = "return_value") -> Any:
        """The newest XCom of a task (each ``dags test`` makes a new run)."""
        with sqlite3.connect(self.home / "airflow.db") as db:
            row = db.execute(
                "SELECT value FROM xcom WHERE dag_id = ? AND task_id = ? AND key = ? ORDER BY timestamp DESC LIMIT 1",
                (dag_id, task_id, key),
            ).fetchone()
        assert row, f"no XCom {key} of {dag_id}.{task_id}"
        value = json.loads(row[0]) if isinstance(row[0], (str, bytes)) else row[0]
        return json.loads(value) if isinstance(value, str) and value[:1] in '{["' else value

    def task_states(self, dag_id: str) -> dict[str, str]:
        with sqlite3.connect(self.home / "airflow.db") as db:
            rows = db.execute(
                "SELECT ti.task_id, ti.state FROM task_instance ti JOIN dag_run dr ON ti.run_id = dr.run_id "
                "WHERE ti.dag_id = ? AND dr.id = (SELECT MAX(id) FROM dag_run WHERE dag_id = ?)",
                (dag_id, dag_id),
            ).fetchall()
        return dict(rows)


def failure_excerpt(output: str) -> str:
    """The exception lines of the failed task, else the tail of the output."""
    lines = output.splitlines()
    marks = [i for i, line in enumerate(lines) if "Task failed with exception" in line]
    if not marks:
        return "\n".join(lines[-60:])
    return "\n".join(line for line in lines[marks[0] : marks[0] + 80] if not line.startswith("  File "))


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory, emulator) -> AirflowHome:
    home = AirflowHome(tmp_path_factory.mktemp("airflow"), emulator)
    migrated = home.run("db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    return home


@pytest.fixture(scope="session")
def test_dags_home(tmp_path_factory, emulator) -> AirflowHome:
    """An Airflow home whose DAGs folder is tests/integration/dags (DAGs made for tests)."""
    home = AirflowHome(tmp_path_factory.mktemp("airflow-test-dags"), emulator)
    home.env["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).with_name("dags"))
    assert home.run("db", "migrate").returncode == 0
    return home
