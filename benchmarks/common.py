"""What the benchmarks share: an emulator in its own process, and a connection to it."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from aep_emulator.config import EmulatorConfig
from aep_emulator.server import airflow_connection, free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@contextlib.contextmanager
def emulator_process(*options: str) -> Iterator[EmulatorConfig]:
    """``aep-emulator`` in a process of its own, so its CPU is not the benchmark's."""
    config = EmulatorConfig(port=free_port())
    with tempfile.TemporaryDirectory(prefix="aep-bench-") as exports:
        command = [str(BIN / "aep-emulator"), "--port", str(config.port), "--exports-dir", exports, *options]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{config.url}/_emulator/health", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the emulator did not start")
                time.sleep(0.1)
            yield config
        finally:
            process.terminate()
            process.wait(timeout=10)


def use_emulator(config: EmulatorConfig) -> None:
    """Point ``aep_default`` at the emulator for hooks and triggers in this process."""
    os.environ["AIRFLOW_CONN_AEP_DEFAULT"] = airflow_connection(config)


def requests_log(config: EmulatorConfig) -> list[dict]:
    log: list[dict] = httpx.get(f"{config.url}/_emulator/requests", timeout=60).json()
    return log


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def show(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n== {title}")
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


def dump(name: str, figures: dict) -> None:
    """Keep the figures of the last run next to the scripts (git-ignored)."""
    out = ROOT / "benchmarks" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")
