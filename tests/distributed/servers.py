"""PostgreSQL and Redis from Debian's packages, started by the tests on loopback free ports in
throwaway directories, and stopped (directories removed) afterwards.

PostgreSQL refuses to run as root, and CI runs as root: then every PostgreSQL command runs as the
``postgres`` user the Debian package creates, in a directory that user owns.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aep_emulator.server import free_port

LOOPBACK = "127.0.0.1"
#: The Python packages the suite drives Airflow with (the dev extra).
PYTHON_PACKAGES = {
    "airflow.providers.celery": "apache-airflow-providers-celery",
    "psycopg2": "psycopg2-binary",
    "redis": "redis",
}


def postgres_bin() -> Path | None:
    """The directory of the newest PostgreSQL server binaries Debian installed (or on PATH)."""
    found = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def missing() -> str | None:
    """Why the distributed suite cannot run here, or None."""
    needed = []
    if postgres_bin() is None:
        needed.append("postgresql")
    if shutil.which("redis-server") is None:
        needed.append("redis-server")
    if needed:
        return (
            f"the distributed suite needs Debian's {' and '.join(needed)} (apt-get install {' '.join(needed)}; "
            "`make system-deps` does it): skipped"
        )
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root, and there is no 'postgres' user to run PostgreSQL as: skipped"
    absent = [dist for module, dist in PYTHON_PACKAGES.items() if importlib.util.find_spec(module) is None]
    if absent:
        return f"the distributed suite needs {', '.join(absent)} (the dev extra): skipped"
    return None


def wait_until(what: str, ready: Any, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not come up in {timeout:.0f} s")
        time.sleep(0.2)


@dataclass
class Postgres:
    """A running PostgreSQL cluster: database ``airflow``, superuser ``airflow``, trust on loopback."""

    bin: Path
    root: Path
    port: int
    run_as: dict[str, Any]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        """SQLAlchemy's URL, as Airflow's ``sql_alchemy_conn`` takes it."""
        return f"postgresql+psycopg2://airflow@{LOOPBACK}:{self.port}/airflow"

    @property
    def pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def command(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bin / args[0]), *args[1:]],
            cwd=self.root, capture_output=True, text=True, check=check, timeout=timeout,
            env={**os.environ, "LC_ALL": "C"}, **self.run_as,
        )  # fmt: skip

    def dump(self) -> str:
        """The whole metadata database as SQL text."""
        return self.command(
            "pg_dump", "-h", LOOPBACK, "-p", str(self.port), "-U", "airflow", "airflow"
        ).stdout


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    binaries = postgres_bin()
    assert binaries is not None
    root = Path(tempfile.mkdtemp(prefix="aep-postgres-"))
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
    server = Postgres(binaries, root, free_port(), run_as)
    try:
        server.command(
            "initdb",
            "-D",
            str(server.data),
            "-U",
            "airflow",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses={LOOPBACK} -p {server.port} -k {server.data} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        server.command(
            "pg_ctl",
            "-D",
            str(server.data),
            "-l",
            str(root / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        server.command("createdb", "-h", LOOPBACK, "-p", str(server.port), "-U", "airflow", "airflow")
        yield server
    finally:
        if (server.data / "postmaster.pid").exists():
            server.command("pg_ctl", "-D", str(server.data), "-m", "fast", "-w", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Redis:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    @property
    def pid(self) -> int:
        return self.process.pid

    def ping(self) -> bool:
        import redis

        with contextlib.suppress(redis.RedisError), redis.Redis(host=LOOPBACK, port=self.port) as client:
            return bool(client.ping())
        return False


@contextlib.contextmanager
def redis_server() -> Iterator[Redis]:
    root = Path(tempfile.mkdtemp(prefix="aep-redis-"))
    port = free_port()
    command = [
        "redis-server", "--bind", LOOPBACK, "--port", str(port), "--protected-mode", "yes",
        "--save", "", "--appendonly", "no", "--dir", str(root), "--daemonize", "no",
        "--logfile", str(root / "redis.log"),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = Redis(port, process)
    try:
        wait_until("redis-server", server.ping, timeout=30, process=process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        shutil.rmtree(root, ignore_errors=True)
