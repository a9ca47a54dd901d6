"""What the benchmarks share: an emulator in its own process, and a connection to it."""

from __future__ import annotations

import contextlib
import json
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from aep_emulator.config import EmulatorConfig
from aep_emulator.server import airflow_connection, free_port

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RESULTS = ROOT / "benchmarks" / "results"


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
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(figures, indent=2) + "\n")


# -- where the CPU goes -----------------------------------------------------------------------------

#: Areas code is grouped into, by the path of its file (the first that matches), then by the name
#: of a built-in (cProfile names C functions, not their files). Order matters: the provider's
#: scrubbing before the rest of the provider, asyncio's idle wait before the loop itself.
AREAS: list[tuple[str, tuple[str, ...]]] = [
    ("provider: log lines, scrubbing", ("airflow_provider_aep/utils/scrubbed_logs", "airflow_provider_aep/redaction/")),
    ("provider: trigger", ("airflow_provider_aep/triggers/", "airflow_provider_aep/utils/")),
    ("provider: client, hook, retries", ("airflow_provider_aep/hooks/",)),
    ("provider: other", ("airflow_provider_aep/",)),
    ("logging (structlog, Airflow's)", ("structlog/", "/logging/", "airflow/_shared/logging", "airflow/sdk/log")),
    ("retries (tenacity)", ("tenacity/",)),
    ("httpx (request, URL, headers)", ("httpx/",)),
    ("httpcore, h11 (connections, HTTP/1.1)", ("httpcore/", "h11/")),
    ("anyio", ("anyio/", "sniffio/")),
    ("idle (waiting in epoll)", ("<method 'poll' of 'select.epoll'", "selectors.py:select")),
    ("socket calls (send, recv, ...)", ("_socket.socket", "/socket.py")),
    ("asyncio (event loop, tasks)", ("asyncio/", "selectors.py", "_asyncio.", "_contextvars")),
    ("TLS", ("ssl.py", "_ssl.")),
    ("JSON", ("json/", "_json.")),
    ("regex", ("re/", "re.Pattern", "_sre")),
    ("benchmark (sampling, counting)", ("benchmarks/", "psutil/")),
]  # fmt: skip
IDLE = "idle (waiting in epoll)"
OTHER = "other (Python, builtins)"


def area_of(where: str) -> str:
    """The area of a code location: a file path (with ``:function``), or a built-in's name."""
    for area, marks in AREAS:
        if any(mark in where for mark in marks):
            return area
    return OTHER


def profile_rows(profile: Any, top: int = 12) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """A cProfile run's own (exclusive) time: the ``top`` functions and every area, as ``show`` rows.

    Generic code (builtins, ``contextlib``, ``isinstance``...) counts to the areas of its callers,
    in proportion to the time each call site spent in it. Time waiting in epoll is idle, not CPU:
    it is left out.
    """
    stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    resolved: dict[Any, dict[str, float]] = {}

    def areas(func: Any, depth: int = 0) -> dict[str, float]:
        """The areas ``func``'s own time belongs to, as fractions."""
        if func in resolved:
            return resolved[func]
        path, _, name = func
        area = area_of(name if path == "~" else f"{path}:{name}")
        callers = stats[func][4] if func in stats else {}
        if area != OTHER or depth > 6 or not callers:
            share = {area: 1.0}
        else:
            resolved[func] = {OTHER: 1.0}  # a cycle ends here
            weights = {caller: site[2] or site[0] for caller, site in callers.items()}
            total = sum(weights.values()) or 1.0
            share = {}
            for caller, weight in weights.items():
                for caller_area, fraction in areas(caller, depth + 1).items():
                    share[caller_area] = share.get(caller_area, 0.0) + fraction * weight / total
        resolved[func] = share
        return share

    by_area: dict[str, float] = {}
    entries = []
    for func, (_, calls, own, _, _) in stats.items():
        share = areas(func)
        for area, fraction in share.items():
            by_area[area] = by_area.get(area, 0.0) + own * fraction
        path, line, name = func
        where = name if path == "~" else f"{_short(path)}:{line}:{name}"
        entries.append((own, calls, where, max(share, key=share.__getitem__)))
    busy = sum(seconds for area, seconds in by_area.items() if area != IDLE) or 1.0
    entries.sort(reverse=True)
    functions = [
        (f"{own / busy:6.1%} {own:6.2f} s", f"{where}  ({calls} calls; {area})")
        for own, calls, where, area in [e for e in entries if e[3] != IDLE][:top]
    ]
    rows = [
        (area, f"{seconds / busy:6.1%} {seconds:6.2f} s")
        for area, seconds in sorted(by_area.items(), key=lambda item: -item[1])
        if area != IDLE
    ]
    return functions, rows


def _short(path: str) -> str:
    """A file path from its package on: ``httpx/_models.py``."""
    marker = "site-packages/"
    if marker in path:
        return path.split(marker, 1)[1]
    return str(Path(path).resolve().relative_to(ROOT)) if path.startswith(str(ROOT)) else path


class CpuSampler:
    """Where the process's CPU goes, cheaply: every few milliseconds of CPU time (``SIGPROF``) the
    main thread's innermost Python frame is counted by area; C calls count to their Python caller.

    A CPU-time timer samples in proportion to CPU, so time asleep in epoll is never counted (a
    sampling thread would be: it only gets the GIL when the loop lets it go, at each socket call).
    A sample costs some microseconds, so this runs in the normal benchmark; cProfile (``--profile``)
    is exact per function but slows the code it watches several times over.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.counts: dict[str, int] = {}
        self._previous: Any = None

    def __enter__(self) -> CpuSampler:
        self._previous = signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, self.interval, self.interval)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, self._previous)

    def _sample(self, signum: int, frame: FrameType | None) -> None:
        if frame is None:
            return
        code = frame.f_code
        area = area_of(f"{code.co_filename}:{code.co_name}")
        self.counts[area] = self.counts.get(area, 0) + 1

    def rows(self, cpu_ms: float) -> list[tuple[str, str]]:
        """The areas as ``show`` rows: share of the samples, and that share of ``cpu_ms``."""
        total = sum(self.counts.values()) or 1
        return [
            (area, f"{n / total:6.1%}  ~{cpu_ms * n / total:.2f} ms")
            for area, n in sorted(self.counts.items(), key=lambda item: -item[1])
        ]
