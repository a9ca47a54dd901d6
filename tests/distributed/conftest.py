"""Airflow as teams deploy it: PostgreSQL metadata DB, Redis broker, CeleryExecutor with two
workers, a separate triggerer, many DAG runs at once, against the emulator.

One deployment for the whole package: PostgreSQL and Redis started from Debian's packages,
Airflow's api-server, scheduler, dag-processor, triggerer and Celery workers ``worker-a`` and
``worker-b`` (tests/stack.py, loopback only), then every run of :data:`RUNS` triggered at once.
AEP runs last an hour until every sensor is seen deferred, so each sensor waits in the triggerer;
then they are let finish, and the tests read what happened while the services still run.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aep_emulator.config import EmulatorConfig
from aep_emulator.server import RunningEmulator, running_emulator
from airflow_provider_aep.catalog import DATASET_EXPORT_DESTINATIONS
from tests.distributed.servers import Postgres, Redis, missing, postgres, redis_server
from tests.stack import DAGS, AirflowHome, AirflowStack, wait_for

EXPORT_DAG = "aep_export_datasets"
ACTIVATION_DAG = "aep_activate_segments"
SENSORS = {EXPORT_DAG: "wait_for_export_run", ACTIVATION_DAG: "wait_for_activation_run"}
EXPORT_DESTINATIONS = list(DATASET_EXPORT_DESTINATIONS)
ACTIVATION_DESTINATIONS = ["adobe_campaign", "sftp_audiences"]
#: Two runs with the same conf: the same-named entities they both create must end as one each.
TWIN_DESTINATION = "oracle_eloqua"
WORKERS = ("worker-a", "worker-b")


@dataclass(frozen=True)
class Run:
    dag_id: str
    run_id: str
    destination: str

    @property
    def conf(self) -> dict[str, Any]:
        return {"destination": self.destination}

    @property
    def sensor(self) -> str:
        return SENSORS[self.dag_id]


RUNS = [
    *(Run(EXPORT_DAG, f"export-{d}", d) for d in EXPORT_DESTINATIONS),
    *(Run(ACTIVATION_DAG, f"activate-{d}", d) for d in ACTIVATION_DESTINATIONS),
    *(Run(ACTIVATION_DAG, f"twin-{n}-{TWIN_DESTINATION}", TWIN_DESTINATION) for n in (1, 2)),
]
TWINS = RUNS[-2:]


@dataclass
class Deployment:
    airflow: AirflowStack
    emulator: RunningEmulator
    postgres: Postgres
    redis: Redis
    #: Runs whose sensor was seen ``deferred`` in the metadata DB while its AEP run went on.
    seen_deferred: set[str] = field(default_factory=set)
    states: dict[str, str | None] = field(default_factory=dict)
    #: Seconds from the first service started to the last run finished (printed, never asserted).
    seconds: float = 0.0

    def servers(self) -> dict[str, int]:
        """The servers started beside Airflow, name to pid (the emulator runs in this process)."""
        import os

        return {
            "postgres": self.postgres.pid,
            "redis": self.redis.pid,
            "emulator (this process)": os.getpid(),
        }


def _sensor_states(airflow: AirflowStack) -> dict[str, str | None]:
    rows = airflow.query(
        "SELECT run_id, state FROM task_instance WHERE (dag_id = ? AND task_id = ?) OR (dag_id = ? AND task_id = ?)",
        EXPORT_DAG, SENSORS[EXPORT_DAG], ACTIVATION_DAG, SENSORS[ACTIVATION_DAG],
    )  # fmt: skip
    return dict(rows)


def _release_runs(emulator: RunningEmulator) -> None:
    """Let every AEP run finish now, and later ones at once."""
    emulator.config.run_duration = 1.0
    state = emulator.emulator.state
    with state.lock:
        for meta in state.data["meta"]["runs"].values():
            meta["complete_at"] = min(meta.get("complete_at", 0), time.time())


@pytest.fixture(scope="package")
def deployment(tmp_path_factory) -> Iterator[Deployment]:
    if reason := missing():
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("distributed")
    dags = root / "dags"
    dags.mkdir()
    for name in ("export_datasets.py", "activate_segments.py"):
        shutil.copy(DAGS / name, dags)
    config = EmulatorConfig(exports_dir=root / "exports", first_run_delay=1.0, run_duration=3600.0)
    with contextlib.ExitStack() as running:
        database = running.enter_context(postgres())
        broker = running.enter_context(redis_server())
        emulator = running.enter_context(running_emulator(config))
        (root / "airflow").mkdir()
        airflow = AirflowStack(
            AirflowHome(root / "airflow", emulator),
            root / "service-logs",
            workers=WORKERS,
            database_url=database.url,
            env={
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
                "AIRFLOW__CELERY__BROKER_URL": broker.url,
                "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + database.url,
                "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
            },
        )
        running.callback(airflow.stop)
        started = time.monotonic()
        airflow.start()
        deployment = Deployment(airflow, emulator, database, broker)
        for run in RUNS:
            airflow.trigger(run.dag_id, run.run_id, run.conf)

        def all_waiting() -> bool:
            airflow.check_alive()
            sensors = _sensor_states(airflow)
            deployment.seen_deferred |= {r for r, state in sensors.items() if state == "deferred"}
            over = {r.run_id: airflow.run_state(r.dag_id, r.run_id) for r in RUNS}
            early = {r: s for r, s in sensors.items() if s in ("success", "failed", "upstream_failed")}
            assert not early, f"sensors finished before their AEP runs did: {early}"
            return all(r.run_id in deployment.seen_deferred or over[r.run_id] == "failed" for r in RUNS)

        wait_for("every sensor to defer", all_waiting, timeout=480, every=1)
        _release_runs(emulator)

        def all_finished() -> bool:
            airflow.check_alive()
            deployment.states = {r.run_id: airflow.run_state(r.dag_id, r.run_id) for r in RUNS}
            return all(s in ("success", "failed") for s in deployment.states.values())

        wait_for("every DAG run to finish", all_finished, timeout=480, every=1)
        deployment.seconds = time.monotonic() - started
        print(f"\ndistributed: {len(RUNS)} DAG runs on two Celery workers in {deployment.seconds:.0f} s")
        yield deployment


def task_logs(home: Path, run: Run, task_id: str) -> tuple[str, str]:
    """A task's own log and its trigger log, from the Airflow home every service shares."""
    folder = home / "logs" / f"dag_id={run.dag_id}" / f"run_id={run.run_id}" / f"task_id={task_id}"
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    task = "".join(p.read_text(errors="replace") for p in files if ".trigger." not in p.name)
    trigger = "".join(p.read_text(errors="replace") for p in files if ".trigger." in p.name)
    return task, trigger
