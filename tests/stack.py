"""A whole Airflow on loopback: api-server, scheduler, dag-processor, triggerer and, for the
CeleryExecutor, Celery workers, each in its own process group so stopping it stops its children.

Shared by the real-scheduler deferral test, the browser suite and the distributed suite. Every
server it starts listens on 127.0.0.1 only: the api-server is given ``--host 127.0.0.1``; the log
servers of the scheduler, triggerer and workers have a port setting but no host setting in
Airflow 3.3 (they bind every interface), so they are not started (``--skip-serve-logs``): every
service shares one Airflow home, and the api-server reads task and trigger logs from its files.
:meth:`AirflowStack.assert_loopback_only` checks this on the processes' listening sockets.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
import psutil

from aep_emulator.config import EmulatorConfig
from aep_emulator.demo import airflow_env
from aep_emulator.demo_daily import wait_for
from aep_emulator.server import free_port
from tests.worker_hostname import HOSTNAME_VARIABLE

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[1]
DAGS = ROOT / "dags_examples"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
LOOPBACK = "127.0.0.1"
SERVICES = ("api-server", "scheduler", "dag-processor", "triggerer")


class Emulator(Protocol):
    """What an Airflow home needs of the emulator (a RunningEmulator, or a benchmark's own)."""

    config: EmulatorConfig

    def connection(self, sandbox: str = "prod") -> str: ...


class AirflowHome:
    """An Airflow home with a migrated SQLite DB, and ways to run DAGs and read XComs in it."""

    def __init__(self, home: Path, emulator: Emulator) -> None:
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


@dataclass(frozen=True)
class Listener:
    """A socket that accepts connections (TCP LISTEN) or datagrams from anyone (unconnected UDP)."""

    owner: str
    pid: int
    process: str
    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.owner} (pid {self.pid}, {self.process}) on {self.ip}:{self.port}"


def listeners(owners: Mapping[str, int]) -> list[Listener]:
    """The listening sockets of each named process and of all its descendants."""
    found: set[Listener] = set()
    for owner, pid in owners.items():
        try:
            root = psutil.Process(pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in tree:
            try:
                name = process.name()
                connections = process.net_connections(kind="inet")
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            for conn in connections:
                listening = conn.status == psutil.CONN_LISTEN or (
                    conn.type == socket.SOCK_DGRAM and not conn.raddr
                )
                if listening and conn.laddr:
                    found.add(Listener(owner, process.pid, name, conn.laddr.ip, conn.laddr.port))
    return sorted(found, key=lambda listener: (listener.owner, listener.port))


def assert_loopback_only(owners: Mapping[str, int], expected_ports: Iterable[int] = ()) -> list[Listener]:
    """Every listening socket of these processes is on 127.0.0.1; the expected ports are among
    them (so the check saw the servers it is about). Returns what it found."""
    found = listeners(owners)
    outside = [str(listener) for listener in found if listener.ip != LOOPBACK]
    assert outside == [], f"listening beyond loopback: {outside}"
    missing = set(expected_ports) - {listener.port for listener in found}
    assert not missing, f"no listener on port(s) {sorted(missing)} among {[str(x) for x in found]}"
    return found


class AirflowStack:
    """The services of one Airflow home, running until :meth:`stop`; the UI and API at :attr:`url`.

    ``workers`` names Celery workers (then the executor is the CeleryExecutor, whose broker and
    result backend ``env`` gives); each reports its name as the task instances' hostname.
    ``database_url`` is the metadata DB when it is not the home's SQLite file. ``logins`` (user to
    ``(role, password)``) turns the simple auth manager's "everyone is admin" off: then only those
    users exist, and :meth:`api` acts as the first one.
    """

    def __init__(
        self,
        home: AirflowHome,
        logs: Path,
        *,
        env: Mapping[str, str] | None = None,
        workers: Sequence[str] = (),
        worker_concurrency: int = 4,
        database_url: str | None = None,
        logins: Mapping[str, tuple[str, str]] | None = None,
    ) -> None:
        self.home = home
        self.logins = dict(logins or {})
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.database_url = database_url
        self.env: dict[str, str] = {
            **home.env,
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor" if workers else "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4" if not workers else str(4 * len(workers)),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__HOST": LOOPBACK,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            # A busy 2-core machine answers the first task starts slower than the 5 s default.
            "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
            "AIRFLOW__API_AUTH__JWT_SECRET": "loopback-stack-jwt-secret",
            # Airflow 3.0 signs and checks task tokens with an issuer, and has no default for it.
            "AIRFLOW__API_AUTH__JWT_ISSUER": "airflow-provider-aep-tests",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": LOOPBACK,
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            # Never started (--skip-serve-logs); free ports all the same, so nothing collides.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            **(env or {}),
        }
        if database_url:
            self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = database_url
        if self.logins:
            passwords = home.home / "simple-auth-passwords.json"
            passwords.write_text(json.dumps({user: password for user, (_, password) in self.logins.items()}))
            self.env.update(
                {
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
                        f"{user}:{role}" for user, (role, _) in self.logins.items()
                    ),
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                }
            )
        self.commands: dict[str, list[str]] = {
            "api-server": ["api-server", "--host", LOOPBACK, "--port", str(self.port)],
            "scheduler": ["scheduler", "--skip-serve-logs"],
            "dag-processor": ["dag-processor"],
            "triggerer": ["triggerer", "--skip-serve-logs"],
        }
        self.service_env: dict[str, dict[str, str]] = {}
        for name in workers:
            service = f"celery-{name}"
            self.commands[service] = [
                "celery", "worker", "--celery-hostname", f"{name}@%h",
                "--concurrency", str(worker_concurrency), "--skip-serve-logs",
            ]  # fmt: skip
            self.service_env[service] = {
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.worker_hostname.hostname",
                HOSTNAME_VARIABLE: name,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), self.env.get("PYTHONPATH")])),
            }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._token: str | None = None

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """An ``airflow`` command in this stack's environment."""
        return subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self, *, migrate: bool = True) -> None:
        if migrate:
            migrated = self.run("db", "migrate", timeout=300)
            if migrated.returncode != 0:
                raise RuntimeError(f"airflow db migrate failed:\n{migrated.stderr[-3000:]}")
        for service, command in self.commands.items():
            with (self.logs / f"{service}.log").open("wb") as log:
                self.processes[service] = subprocess.Popen(
                    [AIRFLOW, *command],
                    env={**self.env, **self.service_env.get(service, {})},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
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
        for service, process in self.processes.items():
            if process.poll() is not None:
                tail = (self.logs / f"{service}.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"airflow {service} exited with {process.returncode}:\n{tail}")

    def pids(self) -> dict[str, int]:
        return {service: process.pid for service, process in self.processes.items()}

    def assert_loopback_only(
        self, others: Mapping[str, int] | None = None, expected_ports: Iterable[int] = ()
    ) -> list[Listener]:
        """Every server of this stack (and of ``others``, name to pid) listens on 127.0.0.1 only;
        the api-server's port and ``expected_ports`` are among those seen."""
        self.check_alive()
        return assert_loopback_only(
            {**self.pids(), **(others or {})}, expected_ports=[self.port, *expected_ports]
        )

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        # A child that outlived its leader (a task supervisor) still belongs to the group.
        for process in self.processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    # -- DAG runs -------------------------------------------------------------------------------------

    def token(self, user: str | None = None) -> str:
        """A JWT of Airflow's: for ``user`` of :attr:`logins` (the first by default), else the
        admin token the simple auth manager hands everyone when all are admins."""
        user = user or next(iter(self.logins), None)
        if user is None:
            answer = httpx.get(f"{self.url}/auth/token", timeout=10)
        else:
            password = self.logins[user][1]
            answer = httpx.post(
                f"{self.url}/auth/token", json={"username": user, "password": password}, timeout=10
            )
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    def api(self, method: str, path: str, body: Any = None) -> httpx.Response:
        """Airflow's REST API as an admin."""
        if self._token is None:
            self._token = self.token()
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
            if answer.status_code == 409 and self.run_state(dag_id, run_id) is not None:
                return True  # an earlier attempt's answer was an error, but its run was made
            if answer.status_code == 500 and "Database error" in answer.text and not self.database_url:
                return False  # SQLite was locked by the scheduler or dag-processor: ask again
            if answer.status_code not in (200, 404):
                raise RuntimeError(f"triggering {dag_id}: HTTP {answer.status_code} {answer.text[:500]}")
            return answer.status_code == 200

        wait_for(f"DAG {dag_id} to be triggerable", triggered, timeout=120, every=1)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows from the metadata DB; ``?`` marks a parameter whichever the database."""
        if self.database_url:
            import psycopg2

            dsn = self.database_url.replace("postgresql+psycopg2://", "postgresql://", 1)
            with contextlib.closing(psycopg2.connect(dsn)) as db, db.cursor() as cursor:
                cursor.execute(sql.replace("?", "%s"), args)
                return [tuple(row) for row in cursor.fetchall()]
        with contextlib.closing(sqlite3.connect(self.home.home / "airflow.db", timeout=30)) as lite:
            return lite.execute(sql, args).fetchall()

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
        return rows[0][0] if rows else None

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        rows = self.query(
            "SELECT state FROM task_instance WHERE dag_id = ? AND run_id = ? AND task_id = ? AND map_index = -1",
            dag_id, run_id, task_id,
        )  # fmt: skip
        return rows[0][0] if rows else None

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        rows = self.query(
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
        rows = self.query(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = ?",
            dag_id, run_id, task_id, key,
        )  # fmt: skip
        if not rows:
            return None
        value = rows[0][0]
        if not self.database_url and isinstance(value, (str, bytes)):
            value = json.loads(value)  # SQLite keeps JSON as text; psycopg2 hands it decoded
        return json.loads(value) if isinstance(value, str) and value[:1] in '{["' else value
