"""Real Airflow (SQLite metadata DB) against a real emulator over HTTP: no mocks here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aep_emulator.config import EmulatorConfig
from aep_emulator.server import RunningEmulator, running_emulator
from tests.stack import AIRFLOW, DAGS, ROOT, AirflowHome, failure_excerpt

__all__ = ["AIRFLOW", "DAGS", "ROOT", "AirflowHome", "failure_excerpt"]

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def emulator(tmp_path_factory) -> Iterator[RunningEmulator]:
    config = EmulatorConfig(
        exports_dir=tmp_path_factory.mktemp("exports"), first_run_delay=1.0, run_duration=1.0
    )
    with running_emulator(config) as running:
        yield running


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory, emulator) -> AirflowHome:
    home = AirflowHome(tmp_path_factory.mktemp("airflow"), emulator)
    migrated = home.run("db", "migrate")
    assert migrated.returncode == 0, migrated.stderr[-3000:]
    return home


@pytest.fixture(scope="session")
def test_dags_home(tmp_path_factory, emulator) -> AirflowHome:
    """An Airflow home whose DAGs folder is tests/integration/dags (DAGs made for tests)."""
    home = AirflowHome(tmp_path_factory.mktemp("airflow-test-dags"), emulator)
    home.env["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).with_name("dags"))
    assert home.run("db", "migrate").returncode == 0
    return home
