"""``make demo-daily``: two days of the daily monitoring pattern, in a real Airflow.

Starts the emulator and Airflow's scheduler, triggerer, dag-processor and api-server (SQLite,
every server on 127.0.0.1: the log servers, which take no host setting, are not started), then:

1. sets a daily export flow up with the ``aep_export_datasets`` DAG;
2. runs ``aep_monitor_daily_export`` for the next days on the emulator's clock (a day lasts
   ``86400 / time_scale`` seconds here): each DAG run's data interval is one emulated day, and
   its sensor waits, deferred, for the run AEP starts inside it;
3. waits for ``aep_load_exported_files``, which the scheduler starts from each day's asset
   event, and prints what it loaded per day beside AEP's counts.

Run it from the repository root.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import httpx

from aep_emulator.config import EmulatorConfig
from aep_emulator.demo import airflow, airflow_env
from aep_emulator.server import free_port, running_emulator

SETUP_DAG, MONITOR_DAG, LOAD_DAG = (
    "aep_export_datasets",
    "aep_monitor_daily_export",
    "aep_load_exported_files",
)
DESTINATION = "amazon_s3"
T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, every: float = 1.0) -> T:
    """The first truthy answer of ``probe``; a TimeoutError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        answer = probe()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what} after {timeout:.0f} s")
        time.sleep(every)


@dataclass
class Airflow:
    """Airflow's services, running: their REST API and their SQLite metadata DB."""

    url: str
    home: Path
    processes: dict[str, subprocess.Popen[bytes]]
    token: str | None = None

    def api(self, method: str, path: str, body: Any = None) -> httpx.Response:
        if self.token is None:
            self.token = str(
                httpx.get(f"{self.url}/auth/token", timeout=10).raise_for_status().json()["access_token"]
            )
        return httpx.request(
            method, f"{self.url}/api/v2{path}", json=body, timeout=30,
            headers={"Authorization": f"Bearer {self.token}"},
        )  # fmt: skip

    def alive(self) -> None:
        for service, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"airflow {service} exited with {process.returncode}")

    @property
    def pids(self) -> dict[str, int]:
        """Each service's process id (its process group's too)."""
        return {service: process.pid for service, process in self.processes.items()}

    def unpause(self, dag_id: str) -> None:
        """Let the scheduler run the DAG, once it is parsed (until then the API answers 404)."""

        def unpaused() -> bool:
            self.alive()
            answer = self.api("PATCH", f"/dags/{dag_id}", {"is_paused": False})
            if answer.status_code not in (200, 404):
                raise RuntimeError(f"unpausing {dag_id}: HTTP {answer.status_code} {answer.text[:300]}")
            return answer.status_code == 200

        wait_for(f"DAG {dag_id} to be parsed", unpaused, timeout=180)

    def trigger(
        self,
        dag_id: str,
        run_id: str,
        conf: dict[str, Any],
        interval: tuple[datetime, datetime] | None = None,
    ) -> None:
        """Trigger once the DAG is parsed (until then the API answers 404)."""
        body: dict[str, Any] = {"dag_run_id": run_id, "logical_date": None, "conf": conf}
        if interval:
            start, end = (moment.isoformat() for moment in interval)
            body.update(logical_date=start, data_interval_start=start, data_interval_end=end)

        def triggered() -> bool:
            self.alive()
            answer = self.api("POST", f"/dags/{dag_id}/dagRuns", body)
            if answer.status_code not in (200, 404):
                raise RuntimeError(f"triggering {dag_id}: HTTP {answer.status_code} {answer.text[:300]}")
            return answer.status_code == 200

        wait_for(f"DAG {dag_id} to be parsed", triggered, timeout=180)

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.home / "airflow.db", timeout=30) as db:
            return db.execute(sql, args).fetchall()

    def finished(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        def state() -> str | None:
            self.alive()
            rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
            return rows[0][0] if rows and rows[0][0] in ("success", "failed") else None

        return wait_for(f"DAG run {dag_id}/{run_id}", state, timeout=timeout)

    def failure(self, dag_id: str, run_id: str) -> str:
        """Which tasks of a DAG run did not succeed, with the last error line of each log."""
        rows = self.query(
            "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ? AND state != 'success'",
            dag_id, run_id,
        )  # fmt: skip
        told = []
        for task_id, state in rows:
            logs = sorted(
                (self.home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/*.log")
            )
            errors = [
                line
                for log in logs
                for line in log.read_text(errors="replace").splitlines()
                if "error" in line
            ]
            told.append(f"{task_id} {state}" + (f" ({errors[-1][-300:]})" if errors else ""))
        return "; ".join(told) or "no task failed"

    def xcom(self, dag_id: str, run_id: str, task_id: str) -> Any:
        rows = self.query(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = 'return_value'",
            dag_id, run_id, task_id,
        )  # fmt: skip
        value = json.loads(rows[0][0]) if rows else None
        return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value


@contextlib.contextmanager
def services(env: dict[str, str], home: Path, log: Path) -> Iterator[Airflow]:
    """The four services on loopback, each its own process group, all stopped on exit."""
    port = free_port()
    env = {
        **env,
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        # Each DAG waits until unpaused: no task may start before the api-server serves it.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        # A busy 2-core machine answers the first task starts slower than the 5 s default.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
        "AIRFLOW__API_AUTH__JWT_SECRET": "demo-daily-jwt-secret",
        # Airflow 3.0 signs and checks task tokens with an issuer, and has no default for it.
        "AIRFLOW__API_AUTH__JWT_ISSUER": "airflow-provider-aep-demo",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
    }
    commands = {
        "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(port)],
        "scheduler": ["scheduler", "--skip-serve-logs"],
        "dag-processor": ["dag-processor"],
        "triggerer": ["triggerer", "--skip-serve-logs"],
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    with log.open("ab") as out:
        for service, command in commands.items():
            processes[service] = subprocess.Popen(
                [str(Path(sys.executable).with_name("airflow")), *command],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
    running = Airflow(f"http://127.0.0.1:{port}", home, processes)
    try:

        def healthy() -> bool:
            running.alive()
            try:
                return httpx.get(f"{running.url}/api/v2/monitor/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for("the Airflow api-server", healthy, timeout=240)
        yield running
    finally:
        for process in processes.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
            # A child that outlived its leader (a task supervisor) still belongs to the group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def day_windows(first_run_started: datetime, day: timedelta, days: int) -> list[tuple[datetime, datetime]]:
    """Each following emulated day as a data interval, centred on when that day's run starts."""
    origin = first_run_started - day / 2
    return [(origin + k * day, origin + (k + 1) * day) for k in range(1, days + 1)]


def run_days(
    days: int,
    work: Path,
    failing_day: int | None = None,
    on_running: Callable[[dict[str, int]], None] | None = None,
    extra_env: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Set up the flow, run ``days`` days of monitoring, and return one report per day.

    With ``failing_day``, every attempt of that day's AEP run fails (the emulator's
    ``fail_run_attempts`` fault, set while the day before runs): its monitor fails, and no
    asset event, so no load, follows. ``on_running`` is given the services' process ids once
    they serve; ``extra_env`` goes to every Airflow process (an OpenLineage transport, say).
    """
    home, exports, log = work / "airflow", work / "exports", work / "airflow.log"
    home.mkdir(parents=True)
    config = EmulatorConfig(exports_dir=exports, first_run_delay=1.0, run_duration=2.0)
    day = timedelta(seconds=86400 / config.time_scale)
    with running_emulator(config) as emulator:
        print(f"AEP emulator on {emulator.url}; a day on its clock lasts {day.total_seconds():.0f} s")
        env = airflow_env(home, Path("dags_examples").resolve(), emulator.connection(), DESTINATION)
        env["AEP_LOCAL_STORAGE"] = str(exports / "prod" / DESTINATION)
        env.update(extra_env or {})
        if airflow(["db", "migrate"], env, log).returncode:
            raise RuntimeError(f"airflow db migrate failed; see {log}")
        print("Starting Airflow (scheduler, triggerer, dag-processor, api-server) ...")
        with services(env, home, log) as af:
            if on_running:
                on_running(af.pids)
            for dag_id in (SETUP_DAG, MONITOR_DAG, LOAD_DAG):
                af.unpause(dag_id)
            af.trigger(SETUP_DAG, "setup", {"destination": DESTINATION})
            if af.finished(SETUP_DAG, "setup") != "success":
                raise RuntimeError(f"setting the flow up failed: {af.failure(SETUP_DAG, 'setup')}; see {log}")
            flow_id = af.xcom(SETUP_DAG, "setup", "create_dataflow")
            first = af.xcom(SETUP_DAG, "setup", "wait_for_export_run")
            print(
                f"Daily export flow {flow_id}: first run {first['run_id']}, {first['output_records']} records"
            )
            windows = day_windows(datetime.fromisoformat(first["started_at"]), day, days)
            for n, window in enumerate(windows, start=1):
                af.trigger(MONITOR_DAG, f"day-{n}", {"flow_id": flow_id}, window)
            if failing_day:

                def started(count: int) -> bool:
                    return sum(r["flowId"] == flow_id for r in emulator.entities("runs").values()) >= count

                wait_for(f"day {failing_day - 1}'s run", lambda: started(failing_day), timeout=300, every=0.5)
                emulator.add_fault(fail_run_attempts=10, flow=flow_id)
            reports: list[dict[str, Any]] = []
            for n, window in enumerate(windows, start=1):
                state = af.finished(MONITOR_DAG, f"day-{n}", timeout=300)
                summary = af.xcom(MONITOR_DAG, f"day-{n}", "wait_for_daily_run") or {}
                reports.append({"day": n, "window": window, "monitor": state, "summary": summary})
            wanted = {r["summary"].get("run_id") for r in reports if r["monitor"] == "success"}

            def loads() -> dict[str, dict[str, Any]] | None:
                af.alive()
                rows = af.query("SELECT run_id, state FROM dag_run WHERE dag_id = ?", LOAD_DAG)
                done = {run_id: state for run_id, state in rows if state in ("success", "failed")}
                loaded = {}
                for run_id, state in done.items():
                    for entry in af.xcom(LOAD_DAG, run_id, "load") or [{"run_id": None, "state": state}]:
                        loaded[str(entry.get("run_id"))] = {**entry, "state": state}
                return loaded if wanted <= set(loaded) else None

            loaded = wait_for("the downstream loads", loads, timeout=180)
            for report in reports:
                report["load"] = loaded.get(str(report["summary"].get("run_id")))
            return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=2, choices=range(1, 5))
    parser.add_argument("--workdir", type=Path, default=Path(".aep-demo-daily"))
    args = parser.parse_args(argv)
    if not Path("dags_examples", "monitor_daily_export.py").exists():
        print("Run the demo from the repository root (dags_examples/ not found).", file=sys.stderr)
        return 2
    work = args.workdir.resolve()
    if work.exists():
        subprocess.run(["rm", "-rf", str(work)], check=True)
    try:
        reports = run_days(args.days, work)
    except (RuntimeError, TimeoutError) as failure:
        print(f"\nThe daily demo failed: {failure}\nAirflow log: {work / 'airflow.log'}", file=sys.stderr)
        return 1
    row = "{:>3}  {:<24}  {:<8}  {:<36}  {:>8}  {:>6}  {:>5}"
    print("\nThe downstream DAG, started by each day's asset event:")
    print(row.format("Day", "Data interval (UTC)", "Monitor", "AEP run", "Exported", "Loaded", "Files"))
    ok = True
    for r in reports:
        start, end = (m.astimezone(timezone.utc).strftime("%H:%M:%S") for m in r["window"])
        load = r.get("load") or {}
        ok &= r["monitor"] == "success" and load.get("state") == "success"
        print(row.format(
            r["day"], f"{start} .. {end}", r["monitor"], r["summary"].get("run_id", "-"),
            r["summary"].get("output_records", "-"), load.get("records_loaded", "-"), load.get("files", "-"),
        ))  # fmt: skip
    print(f"\nAirflow log: {work / 'airflow.log'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
