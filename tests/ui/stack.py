"""A whole Airflow on loopback for the browser tests: api-server, scheduler, dag-processor and
triggerer against the emulator, each in its own process group so stopping it stops its children."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from aep_emulator.server import RunningEmulator, free_port
from tests.integration.conftest import AIRFLOW, DAGS, AirflowHome

T = TypeVar("T")

CHROMIUM = Path("/usr/bin/chromium")
#: What lets Debian's chromium run headless in a container without a GPU or a network of its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXPORT_DAG = "aep_export_datasets"
TEMPLATED_DAG = "aep_templated_credentials"
#: A secret rendered into a template field from a Variable: the UI must show it masked.
TEMPLATED_SECRET = "Zq9UiTeMpLaTeDsEcReT" + "k" * 20
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, every: float = 1.0) -> T:
    """The first truthy answer of ``probe``; fails with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(every)


class AirflowStack:
    """An Airflow home whose four services run until :meth:`stop`; the UI at :attr:`url`."""

    def __init__(self, root: Path, emulator: RunningEmulator) -> None:
        dags = root / "dags"
        dags.mkdir(parents=True)
        shutil.copy(DAGS / "export_datasets.py", dags)
        shutil.copy(Path(__file__).parents[1] / "integration" / "dags" / "templated_credentials.py", dags)
        (root / "airflow").mkdir()
        self.home = AirflowHome(root / "airflow", emulator)
        self.logs = root / "service-logs"
        self.logs.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.home.env.update(
            {
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__PARALLELISM": "4",
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__API_AUTH__JWT_SECRET": "ui-test-jwt-secret",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
                "AIRFLOW_VAR_EXPORT_KEY_ID": "AKIAZQUITEMPLATEDKEY",
                "AIRFLOW_VAR_EXPORT_KEY_B": TEMPLATED_SECRET,
            }
        )
        self.processes: list[subprocess.Popen[bytes]] = []
        self._token: str | None = None

    @property
    def env(self) -> dict[str, str]:
        return self.home.env

    def start(self) -> None:
        migrated = self.home.run("db", "migrate", timeout=300)
        if migrated.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed:\n{migrated.stderr[-3000:]}")
        for service in SERVICES:
            args = ["--host", "127.0.0.1", "--port", str(self.port)] if service == "api-server" else []
            with (self.logs / f"{service}.log").open("wb") as log:
                self.processes.append(
                    subprocess.Popen(
                        [AIRFLOW, service, *args],
                        env=self.env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
        wait_for("the api-server", self._healthy, timeout=120)

    def _healthy(self) -> bool:
        self.check_alive()
        try:
            return httpx.get(f"{self.url}/api/v2/monitor/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def check_alive(self) -> None:
        """A service that died says why, instead of a test timing out on it."""
        for service, process in zip(SERVICES, self.processes, strict=False):
            if process.poll() is not None:
                tail = (self.logs / f"{service}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"airflow {service} exited with {process.returncode}:\n{tail}")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        # A child that outlived its leader (a task supervisor) still belongs to the group.
        for process in self.processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    # -- DAG runs -------------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """Airflow's REST API as an admin (the simple auth manager gives everyone a token)."""
        if self._token is None:
            answer = httpx.get(f"{self.url}/auth/token", timeout=10)
            answer.raise_for_status()
            self._token = str(answer.json()["access_token"])
        return httpx.request(
            method, f"{self.url}/api/v2{path}", json=body, timeout=30,
            headers={"Authorization": f"Bearer {self._token}"},
        )  # fmt: skip

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None) -> None:
        """Trigger once the dag-processor has parsed the DAG (until then the API answers 404)."""

        def triggered() -> bool:
            self.check_alive()
            body = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
            answer = self.api("POST", f"/dags/{dag_id}/dagRuns", body)
            if answer.status_code not in (200, 404):
                raise RuntimeError(f"triggering {dag_id}: HTTP {answer.status_code} {answer.text[:500]}")
            return answer.status_code == 200

        wait_for(f"DAG {dag_id} to be triggerable", triggered, timeout=120, every=1)

    def _query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.home.home / "airflow.db", timeout=30) as db:
            return db.execute(sql, args).fetchall()

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self._query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return rows[0][0] if rows else None

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        rows = self._query(
            "SELECT state FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = -1",
            dag_id, run_id, task_id,
        )  # fmt: skip
        return rows[0][0] if rows else None

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        rows = self._query(
            "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", dag_id, run_id
        )
        return dict(rows)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 150) -> str:
        """The final state of a DAG run."""

        def finished() -> str | None:
            self.check_alive()
            state = self.run_state(dag_id, run_id)
            return state if state in ("success", "failed") else None

        return wait_for(f"DAG run {dag_id}/{run_id} to finish", finished, timeout=timeout)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        rows = self._query(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ?",
            dag_id, run_id, task_id, key,
        )  # fmt: skip
        if not rows:
            return None
        value = json.loads(rows[0][0]) if isinstance(rows[0][0], (str, bytes)) else rows[0][0]
        return json.loads(value) if isinstance(value, str) and value[:1] in '{["' else value
