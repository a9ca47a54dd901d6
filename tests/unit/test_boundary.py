"""The provider is not the emulator: it neither imports nor names it, and it imports, and its
example DAGs parse, without the emulator's packages (FastAPI, uvicorn, pyarrow).

The health view's app (``plugins/`` but the plugin class) runs inside Airflow's api-server, which
always has FastAPI: those modules alone are left out; the plugin class, which every Airflow
process loads, must import without FastAPI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_aep.version_compat import AIRFLOW_V_3_1_PLUS

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "airflow_provider_aep"
EMULATOR_ONLY = ("fastapi", "uvicorn", "pyarrow")
#: Airflow 3.0 imports FastAPI itself as it starts (its task SDK's comms), so there Airflow starts
#: first and only uvicorn and pyarrow go missing: the provider must still need none of them.
AIRFLOW_NEEDS_FASTAPI = not AIRFLOW_V_3_1_PLUS
MISSING = EMULATOR_ONLY[1:] if AIRFLOW_NEEDS_FASTAPI else EMULATOR_ONLY

#: The health view's modules that run in the api-server only.
API_SERVER_ONLY = [f"airflow_provider_aep.plugins.{name}" for name in ("access", "app", "pages")]

WITHOUT_EMULATOR_PACKAGES = f"""
import importlib, importlib.abc, pkgutil, runpy, sys
results, sys.stdout = sys.stdout, sys.stderr  # Airflow 3.0 logs to stdout: keep it for the results
{"import airflow" if AIRFLOW_NEEDS_FASTAPI else ""}

class EmulatorPackagesMissing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in {MISSING!r}:
            raise ImportError(name + " is not installed")

sys.meta_path.insert(0, EmulatorPackagesMissing())
import airflow_provider_aep
API_SERVER_ONLY = {API_SERVER_ONLY!r}
for module in pkgutil.walk_packages(airflow_provider_aep.__path__, "airflow_provider_aep."):
    if module.name not in API_SERVER_ONLY:
        importlib.import_module(module.name)
for path in sorted(__import__("pathlib").Path("dags_examples").glob("*.py")):
    dags = [v for v in runpy.run_path(str(path)).values() if type(v).__name__ == "DAG"]
    print(path.name, len(dags), file=results)
"""


def test_the_provider_imports_and_its_dags_parse_without_the_emulators_packages():
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_EMULATOR_PACKAGES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == [
        "activate_audiences_cloud_storage.py", "1", "activate_segments.py", "1", "evaluate_and_activate_now.py", "1", "export_datasets.py", "1", "extend_dataflow_end_dates.py", "1",
        "load_exported_files.py", "1", "monitor_daily_export.py", "1", "query_then_export.py", "1",
        "rotate_destination_credentials.py", "1",
    ]  # fmt: skip


def test_no_provider_module_imports_or_names_the_emulator():
    offenders = [
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"emulator", path.read_text(), re.IGNORECASE)
    ]
    assert offenders == []


def test_each_failure_is_one_plain_class_and_those_a_retry_cannot_heal_fail_the_task_at_once():
    import airflow_provider_aep.exceptions as e

    assert "__getattr__" not in vars(e)  # no factory: what the module names is what it defines
    fail_fast = {
        e.AEPDataflowRunFailed,
        e.AEPDataflowDisabled,
        e.AEPDataflowRunMissing,
        e.AEPDataflowEnded,
        e.AEPDataflowRecordPolicyBreached,
    }
    for failure in fail_fast:
        assert issubclass(failure, e.AEPError), failure
        assert issubclass(failure, AirflowFailException), failure
        assert failure.__module__ == e.__name__
        assert failure.__qualname__ == failure.__name__
    for retried in (e.AEPApiError, e.AEPAuthError, e.AEPAmbiguousWriteError, e.AEPValidationError):
        assert not issubclass(retried, AirflowFailException), retried
