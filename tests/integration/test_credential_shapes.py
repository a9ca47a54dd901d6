"""A run error quoting credentials this Airflow never read (the destination's, set up outside it)
reaches no task log, no XCom and no stored trigger event in clear: the sensor, poking or deferred
to the triggerer, redacts them by their shape. Real Airflow, real emulator, no mocks."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest

from aep_emulator.server import RunningEmulator, free_port
from tests.integration.conftest import AirflowHome

pytestmark = pytest.mark.integration

AWS_KEY_ID = "AKIAZQSHAPEKEYID2345"
AWS_SECRET = "Zq9shApE/SeCrEt+kEy0123456789abcdefGHIJK"  # 40 characters, as AWS secret keys are
AZURE_KEY = "Zq9" + "AzUrEaCcOuNtKeY0" * 5 + "abc=="  # 88 characters, as storage account keys are
SAS_SIGNATURE = "Zq9sAsSiGnAtUrE%2Babcdefghij0123456789klmn%3D"
PEM_LINE = "MIIEZq9shapePEMline" + "A" * 45
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_LINE}\n{'B' * 64}\n-----END RSA PRIVATE KEY-----"
BEARER = "Zq9bearer.TOKEN-quoted_by_the_destination"
QUOTED = {
    "AWS access key id": AWS_KEY_ID,
    "AWS secret key": AWS_SECRET,
    "Azure account key": AZURE_KEY,
    "SAS signature": SAS_SIGNATURE,
    "PEM key line": PEM_LINE,
    "bearer token": BEARER,
}
RUN_ERROR = (
    f"S3 refused {AWS_KEY_ID} / {AWS_SECRET}; fallback DefaultEndpointsProtocol=https;AccountName=a;"
    f"AccountKey={AZURE_KEY}; SAS ?sv=2022-11-02&sig={SAS_SIGNATURE}; key {PEM}; "
    f"callback answered 401 to Authorization: Bearer {BEARER}"
)

DAG_FILE = """
import pendulum
from airflow.sdk import DAG

from airflow_provider_aep.operators.connections import (
    AEPCreateBaseConnectionOperator,
    AEPCreateSourceConnectionOperator,
    AEPCreateTargetConnectionOperator,
)
from airflow_provider_aep.operators.dataflows import AEPCreateDataflowOperator
from airflow_provider_aep.sensors.dataflow_run import AEPDataflowRunSensor

with DAG(dag_id="aep_quoted_credentials", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")):
    source = AEPCreateSourceConnectionOperator(task_id="source", name="Data Lake", datasets=["5ef3e328582424191b1beb44"])
    base = AEPCreateBaseConnectionOperator(task_id="base", destination="data_landing_zone", name="DLZ")
    target = AEPCreateTargetConnectionOperator(
        task_id="target", destination="data_landing_zone", name="DLZ target",
        base_connection_id=base.output, location={"path": "quoted"},
    )
    flow = AEPCreateDataflowOperator(
        task_id="flow", destination="data_landing_zone", name="quoted credentials",
        source_connection_id=source.output, target_connection_id=target.output,
        export_mode="DAILY_FULL_EXPORT", end_time=1975901210,
    )
    # Deferred first, while the run is still under way: the triggerer reads its failure.
    deferred = AEPDataflowRunSensor(
        task_id="wait_deferred", flow_id=flow.output, deferrable=True, poke_interval=1, timeout=300
    )
    deferred >> AEPDataflowRunSensor(
        task_id="wait_poking", flow_id=flow.output, deferrable=False, poke_interval=1, timeout=300,
        trigger_rule="all_done",
    )
"""


@pytest.fixture(scope="module")
def failed(tmp_path_factory, emulator) -> dict:
    root = tmp_path_factory.mktemp("quoted")
    dags = root / "dags"
    dags.mkdir()
    (dags / "quoted_credentials.py").write_text(DAG_FILE)
    config = replace(
        emulator.config, port=free_port(), state_file=root / "state.json", exports_dir=root / "exports"
    )
    aep = RunningEmulator(config).start()
    try:
        aep.add_fault(fail_run_attempts=1, flow="*", code="CONNECTOR-2001-500", message=RUN_ERROR)
        home = AirflowHome(root / "airflow", aep)
        home.home.mkdir()
        home.env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
        assert home.run("db", "migrate").returncode == 0
        result = home.run("dags", "test", "aep_quoted_credentials")
    finally:
        aep.stop()
    return {"home": home, "output": result.stdout + result.stderr}


def _leaks(text: str) -> list[str]:
    return [name for name, secret in QUOTED.items() if secret in text]


def test_both_sensors_fail_with_the_runs_words_and_no_credential(failed):
    home: AirflowHome = failed["home"]
    states = home.task_states("aep_quoted_credentials")
    assert states["wait_poking"] == "failed"
    assert states["wait_deferred"] == "failed"
    output = failed["output"]
    assert "CONNECTOR-2001-500" in output
    assert "AccountKey=***" in output  # the rest of AEP's words stay readable
    assert "DataflowRunTrigger" in output  # the deferred sensor's run was read by the trigger
    assert _leaks(output) == []


def test_no_credential_in_the_metadata_db(failed):
    home: AirflowHome = failed["home"]
    with sqlite3.connect(home.home / "airflow.db") as db:
        dump = "\n".join(db.iterdump())
    assert "aep_quoted_credentials" in dump
    assert _leaks(dump) == []
    files = [p for p in home.home.rglob("*") if p.is_file() and p.name != "airflow.db"]
    for path in files:
        assert _leaks(path.read_text(errors="replace")) == [], path
