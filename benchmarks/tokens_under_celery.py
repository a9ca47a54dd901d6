"""IMS token requests under Celery: per worker process and per DAG run.

Runs N export DAG runs at once on the distributed suite's deployment (PostgreSQL, Redis, the
CeleryExecutor with workers ``worker-a`` and ``worker-b``, a triggerer; tests/distributed) against
an emulator whose token endpoint notes which process asked: the owner of the client's port
(psutil), its service (the worker or triggerer it descends from) and, for a task process, the task
instance its title names (``airflow worker -- <ti id>``). Then the same DAG once with
``airflow dags test``, where one process runs every task.

    python benchmarks/tokens_under_celery.py [--runs 6]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import uvicorn
from common import BIN, ROOT, dump, show

from aep_emulator.app import Emulator
from aep_emulator.config import EmulatorConfig
from aep_emulator.demo import airflow_env
from aep_emulator.server import airflow_connection, free_port

# The deployment of tests/distributed (tests/ is not installed).
sys.path.insert(0, str(ROOT))

EXPORT_DAG = "aep_export_datasets"
DESTINATIONS = ["amazon_s3", "azure_blob", "adls_gen2", "data_landing_zone", "google_cloud_storage", "sftp"]
TASK_TITLE = "airflow worker -- "


@dataclass(frozen=True)
class Caller:
    """Who asked IMS for a token."""

    pid: int | None
    service: str
    ti_id: str | None


def _service_of(process: psutil.Process) -> tuple[str, str | None]:
    """The service a process descends from, and the task instance id its title names."""
    ti_id = None
    for link in [process, *process.parents()]:
        command = link.cmdline()
        title = " ".join(command)
        if title.startswith(TASK_TITLE) and ti_id is None:
            ti_id = title.removeprefix(TASK_TITLE).strip()
        if "celeryd: " in title:  # a Celery worker's title: "[celeryd: worker-a@host:MainProcess] ..."
            return title.split("celeryd: ", 1)[1].split("@", 1)[0], ti_id
        if "--celery-hostname" in command:
            return command[command.index("--celery-hostname") + 1].split("@")[0], ti_id
        if "triggerer" in command:
            return "triggerer", ti_id
        if "dags" in command and "test" in command:
            return "dags test", ti_id
    return "other", ti_id


def caller_of(client_port: int, server_port: int) -> Caller:
    for conn in psutil.net_connections(kind="tcp"):
        if (
            conn.pid
            and conn.laddr
            and conn.laddr.port == client_port
            and conn.raddr
            and conn.raddr.port == server_port
        ):
            with contextlib.suppress(psutil.Error):
                service, ti_id = _service_of(psutil.Process(conn.pid))
                return Caller(conn.pid, service, ti_id)
    return Caller(None, "unknown", None)


class TokenTracer:
    """ASGI around the emulator: notes the caller of every token request, then lets it through."""

    def __init__(self, app: Any, port: int) -> None:
        self.app = app
        self.port = port
        self.callers: list[Caller] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/ims/token") and scope.get("client"):
            caller = await asyncio.to_thread(caller_of, scope["client"][1], self.port)
            self.callers.append(caller)
        await self.app(scope, receive, send)


@contextlib.contextmanager
def traced_emulator(exports: Path) -> Iterator[tuple[EmulatorConfig, TokenTracer]]:
    config = EmulatorConfig(port=free_port(), exports_dir=exports, first_run_delay=1.0, run_duration=4.0)
    tracer = TokenTracer(Emulator(config).app, config.port)
    server = uvicorn.Server(
        uvicorn.Config(tracer, host=config.host, port=config.port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the emulator did not start")
        time.sleep(0.05)
    try:
        yield config, tracer
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class _Emulator:
    """What AirflowHome asks of an emulator: the connection to it."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config

    def connection(self, sandbox: str = "prod") -> str:
        return airflow_connection(self.config, sandbox)


def under_celery(runs: int, work: Path) -> dict[str, Any]:
    from tests.distributed.servers import missing, postgres, redis_server
    from tests.stack import AirflowHome, AirflowStack, wait_for

    if reason := missing():
        raise SystemExit(reason)
    dags = work / "dags"
    dags.mkdir()
    shutil.copy(ROOT / "dags_examples" / "export_datasets.py", dags)
    (work / "airflow").mkdir()
    with (
        traced_emulator(work / "exports") as (config, tracer),
        postgres() as database,
        redis_server() as broker,
    ):
        airflow = AirflowStack(
            AirflowHome(work / "airflow", _Emulator(config)),
            work / "service-logs",
            workers=("worker-a", "worker-b"),
            database_url=database.url,
            env={
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__CELERY__BROKER_URL": broker.url,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database.url,
            },
        )
        try:
            airflow.start()
            run_ids = [f"tokens-{n}-{DESTINATIONS[n % len(DESTINATIONS)]}" for n in range(runs)]
            for n, run_id in enumerate(run_ids):
                airflow.trigger(EXPORT_DAG, run_id, {"destination": DESTINATIONS[n % len(DESTINATIONS)]})

            def finished() -> bool:
                airflow.check_alive()
                return all(airflow.run_state(EXPORT_DAG, r) in ("success", "failed") for r in run_ids)

            wait_for("every DAG run to finish", finished, timeout=900, every=2)
            states = Counter(airflow.run_state(EXPORT_DAG, r) for r in run_ids)
            tis = {
                str(ti): (run, task)
                for ti, run, task in airflow.query("SELECT id, run_id, task_id FROM task_instance")
            }
            ti_count = len(tis)
        finally:
            airflow.stop()
    callers = tracer.callers
    by_service = Counter(c.service for c in callers)
    task_processes = {c.pid for c in callers if c.ti_id}
    by_run = Counter(
        tis.get(c.ti_id or "", ("triggerer" if c.service == "triggerer" else "?", ""))[0] for c in callers
    )
    by_task = Counter(tis[c.ti_id][1] for c in callers if c.ti_id in tis)
    per_process = Counter(c.pid for c in callers if c.ti_id)
    return {
        "runs": runs,
        "run_states": dict(states),
        "task_instances": ti_count,
        "token_requests": len(callers),
        "by_service": dict(by_service),
        "by_task": dict(by_task),
        "by_run": dict(by_run),
        "task_processes_asking": len(task_processes),
        "max_per_task_process": max(per_process.values(), default=0),
        "triggerer_requests": by_service.get("triggerer", 0),
    }


def dags_test(work: Path) -> dict[str, Any]:
    with traced_emulator(work / "exports-dags-test") as (config, tracer):
        home = work / "dags-test-home"
        home.mkdir()
        env = airflow_env(home, ROOT / "dags_examples", airflow_connection(config))
        airflow = str(BIN / "airflow")
        subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, check=True)
        done = subprocess.run(
            [airflow, "dags", "test", EXPORT_DAG, "--conf", json.dumps({"destination": "amazon_s3"})],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(done.stdout[-3000:] + done.stderr[-2000:])
    return {"token_requests": len(tracer.callers), "processes": len({c.pid for c in tracer.callers})}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6, help="export DAG runs at once")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aep-bench-celery-") as work:
        celery = under_celery(args.runs, Path(work))
        single = dags_test(Path(work))
    runs = celery["runs"]
    rows = [
        ("DAG runs (states)", f"{runs} {celery['run_states']}"),
        ("task instances", str(celery["task_instances"])),
        ("token requests", f"{celery['token_requests']} ({celery['token_requests'] / runs:.1f} per DAG run)"),
        ("by service", ", ".join(f"{k} {v}" for k, v in sorted(celery["by_service"].items()))),
        ("by task", ", ".join(f"{k} {v}" for k, v in sorted(celery["by_task"].items()))),
        (
            "task processes asking",
            f"{celery['task_processes_asking']} (at most {celery['max_per_task_process']} request(s) each)",
        ),
        ("triggerer (one process)", f"{celery['triggerer_requests']} request(s)"),
        ("airflow dags test", f"{single['token_requests']} per DAG run, {single['processes']} process(es)"),
    ]
    show(f"Tokens under Celery: {runs} export runs on two workers and a triggerer", rows)
    figures = {"celery": celery, "dags_test": single}
    dump("tokens_under_celery", figures)
    return figures


if __name__ == "__main__":
    main()
