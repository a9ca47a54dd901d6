"""DAG-parse cost: what importing the operators and the sensor adds on top of airflow.sdk.

Each sample is a fresh interpreter that first imports the SDK's base classes (every DAG file
pays that anyway), then times importing the operator and sensor modules the example DAGs use.
The same is measured for apache-airflow-providers-dbt-cloud in the same run, interleaved, as the
yardstick. The samples may write bytecode (PYTHONDONTWRITEBYTECODE is dropped), as a deployed
DAG processor has it, so they measure imports, not compiling (uv installs without bytecode).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from typing import Any

from common import dump, median, show

RUNS = 31
PROVIDERS = {
    "airflow-provider-aep": [
        "airflow_provider_aep.operators.connections",
        "airflow_provider_aep.operators.dataflows",
        "airflow_provider_aep.operators.datasets",
        "airflow_provider_aep.operators.updates",
        "airflow_provider_aep.sensors.dataflow_run",
    ],
    # The example DAGs' modules and the Query Service operators: what query_then_export adds.
    "airflow-provider-aep with operators.query": [
        "airflow_provider_aep.operators.connections",
        "airflow_provider_aep.operators.dataflows",
        "airflow_provider_aep.operators.datasets",
        "airflow_provider_aep.operators.updates",
        "airflow_provider_aep.sensors.dataflow_run",
        "airflow_provider_aep.operators.query",
    ],
    "apache-airflow-providers-dbt-cloud": [
        "airflow.providers.dbt.cloud.operators.dbt",
        "airflow.providers.dbt.cloud.sensors.dbt",
    ],
}
SAMPLE = """
import importlib, sys, time
from airflow.sdk import BaseOperator, BaseSensorOperator, DAG
before = set(sys.modules)
started = time.perf_counter()
for module in {modules!r}:
    importlib.import_module(module)
print((time.perf_counter() - started) * 1000, len(set(sys.modules) - before))
"""


def sample(modules: list[str]) -> tuple[float, int]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out = subprocess.run(
        [sys.executable, "-c", SAMPLE.format(modules=modules)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.split()
    return float(out[0]), int(out[1])


def installed(modules: list[str]) -> bool:
    try:
        return importlib.util.find_spec(modules[0]) is not None
    except ModuleNotFoundError:
        return False


def main() -> dict:
    present = {name: modules for name, modules in PROVIDERS.items() if installed(modules)}
    times: dict[str, list[float]] = {name: [] for name in present}
    loaded: dict[str, int] = {}
    for modules in present.values():
        sample(modules)  # writes the bytecode of every module imported, and warms the file caches

    for _ in range(RUNS):
        for name, modules in present.items():
            ms, loaded[name] = sample(modules)
            times[name].append(ms)
    figures: dict[str, Any] = {
        name: {"median_ms": round(median(t), 2), "modules_loaded": loaded[name]} for name, t in times.items()
    }
    rows = [
        (name, f"{f['median_ms']:.1f} ms median of {RUNS}, {f['modules_loaded']} modules")
        for name, f in figures.items()
    ]
    with_query = "airflow-provider-aep with operators.query"
    if with_query in figures:
        pairs = zip(times[with_query], times["airflow-provider-aep"], strict=True)
        added_ms = median([a - b for a, b in pairs])
        added_modules = loaded[with_query] - loaded["airflow-provider-aep"]
        figures["query_operators_added"] = {"ms": round(added_ms, 2), "modules": added_modules}
        rows.append(
            (
                "operators.query adds",
                f"{added_ms:+.2f} ms (median of the rounds' differences), {added_modules} module(s): itself",
            )
        )
    if "apache-airflow-providers-dbt-cloud" in figures:
        # Each round samples both providers back to back: the median of the rounds' ratios
        # follows what the machine did at that moment, which two medians taken apart do not.
        pairs = zip(times["apache-airflow-providers-dbt-cloud"], times["airflow-provider-aep"], strict=True)
        ratio = median([dbt / aep for dbt, aep in pairs])
        figures["dbt_cloud_over_aep"] = round(ratio, 1)
        rows.append(
            (
                "dbt Cloud / AEP",
                f"{ratio:.1f}x, median of the {RUNS} rounds' ratios "
                f"(target: at least 30x: {'met' if ratio >= 30 else 'NOT met'})",
            )
        )
    else:
        rows.append(("dbt Cloud", "not installed: `make bench` installs it (the bench extra)"))
    show("1. DAG-parse cost: provider imports on top of airflow.sdk (fresh interpreters)", rows)
    dump("parse_cost", figures)
    return figures


if __name__ == "__main__":
    main()
