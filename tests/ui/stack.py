"""What the browser suite adds to the shared loopback stack (tests/stack.py): its two DAGs, the
connection form's Test button, a templated secret, and Debian's chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

from aep_emulator.server import RunningEmulator
from tests.stack import DAGS, AirflowHome, AirflowStack, wait_for

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "EXPORT_DAG",
    "LOGINS",
    "TEMPLATED_DAG",
    "TEMPLATED_SECRET",
    "AirflowStack",
    "ui_stack",
    "wait_for",
]

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
#: The browser suite's users: an admin (every page) and a viewer (DAGs only, no connections).
LOGINS = {"admin": ("admin", "ui-admin-password"), "viewer": ("viewer", "ui-viewer-password")}
#: A secret rendered into a template field from a Variable: the UI must show it masked.
TEMPLATED_SECRET = "Zq9UiTeMpLaTeDsEcReT" + "k" * 20


def ui_stack(root: Path, emulator: RunningEmulator) -> AirflowStack:
    """The stack the browser tests look at: the export example DAG and a templated-credentials DAG."""
    dags = root / "dags"
    dags.mkdir(parents=True)
    shutil.copy(DAGS / "export_datasets.py", dags)
    shutil.copy(Path(__file__).parents[1] / "integration" / "dags" / "templated_credentials.py", dags)
    (root / "airflow").mkdir()
    return AirflowStack(
        AirflowHome(root / "airflow", emulator),
        root / "service-logs",
        env={
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__API_AUTH__JWT_SECRET": "ui-test-jwt-secret",
            "AIRFLOW_VAR_EXPORT_KEY_ID": "AKIAZQUITEMPLATEDKEY",
            "AIRFLOW_VAR_EXPORT_KEY_B": TEMPLATED_SECRET,
        },
        logins=LOGINS,
    )
