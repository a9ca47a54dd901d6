"""No secret anywhere Airflow keeps things: task logs, the metadata DB (XComs, rendered template
fields), or exception texts. The example DAGs and a DAG with templated credentials run with
distinctive secrets; a bad secret and a wrong client secret make failures to read too, and an
IMS and a Platform that quote the secrets back in their errors (the emulator's ``echo`` fault)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from aep_emulator.server import RunningEmulator, free_port
from tests.integration.conftest import DAGS, AirflowHome, failure_excerpt

pytestmark = pytest.mark.integration

CLIENT_SECRET = "p8e-Zq9ClientSecret-4d7e1b"
WRONG_CLIENT_SECRET = "p8e-Zq9WrongSecret-0c3f5a"
S3_SECRET = "Zq9" + "SeCrEt" * 6 + "x"  # the shape AEP's s3SecretKey takes: 40 characters
TEMPLATED_S3_SECRET = "Zq9" + "TeMpLt" * 6 + "y"
BAD_S3_SECRET = "Zq9-not-a-valid-secret-key"
SFTP_PASSWORD = "Zq9-sftp-audience-password"


@pytest.fixture(scope="module")
def runs(tmp_path_factory, emulator) -> dict:
    """Every run, with its output; the Airflow home and the tokens the emulator issued."""
    root = tmp_path_factory.mktemp("secrets")
    dags = root / "dags"
    dags.mkdir()
    for source in (
        DAGS / "export_datasets.py",
        DAGS / "activate_segments.py",
        Path(__file__).with_name("dags") / "templated_credentials.py",
    ):
        shutil.copy(source, dags)  # fmt: skip
    config = replace(
        emulator.config, port=free_port(), client_secret=CLIENT_SECRET, state_file=root / "state.json",
        exports_dir=root / "exports",
    )  # fmt: skip
    aep = RunningEmulator(config).start()
    try:
        home = AirflowHome(root / "airflow", aep)
        home.home.mkdir()
        home.env.update({
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW_CONN_AEP_AMAZON_S3_CREDENTIALS": json.dumps(
                {"conn_type": "aws", "login": "AKIAZQDISTINCTKEYABC", "password": S3_SECRET}),
            "AIRFLOW_CONN_AEP_SFTP_AUDIENCES_CREDENTIALS": json.dumps(
                {"conn_type": "sftp", "login": "audience-exporter", "password": SFTP_PASSWORD, "host": "sftp.example.com"}),
            "AIRFLOW_VAR_EXPORT_KEY_ID": "AKIAZQTEMPLATEDKEYAB",
            "AIRFLOW_VAR_EXPORT_KEY_B": TEMPLATED_S3_SECRET,
        })  # fmt: skip
        assert home.run("db", "migrate").returncode == 0
        wrong = json.loads(aep.connection())
        wrong["password"] = WRONG_CLIENT_SECRET
        # A careless server first: IMS quotes the token form (the client secret) in its refusal,
        # then the Platform quotes the bearer token and the credentials of a create.
        aep.add_fault(method="POST", path="/ims/token/v3", times=1, status=401, echo=True)
        echoed_ims = home.run("dags", "test", "aep_templated_credentials")
        aep.add_fault(method="POST", path="*/connections", times=1, status=400, echo=True)
        echoed_platform = home.run("dags", "test", "aep_templated_credentials")
        results = {
            "echoing IMS": echoed_ims,
            "echoing Platform": echoed_platform,
            "export": home.run(
                "dags", "test", "aep_export_datasets", "--conf", '{"destination": "amazon_s3"}'
            ),
            "activation": home.run(
                "dags", "test", "aep_activate_segments", "--conf", '{"destination": "sftp_audiences"}'
            ),
            "templated": home.run("dags", "test", "aep_templated_credentials"),
            "bad secret": home.run(
                "dags", "test", "aep_templated_credentials", env={"AIRFLOW_VAR_EXPORT_KEY_B": BAD_S3_SECRET}
            ),
            "wrong client secret": home.run(
                "dags",
                "test",
                "aep_templated_credentials",
                env={"AIRFLOW_CONN_AEP_DEFAULT": json.dumps(wrong)},
            ),
        }
    finally:
        aep.stop()
    tokens = list(json.loads((root / "state.json").read_text())["tokens"])
    return {"home": home, "results": results, "tokens": tokens}


def _secrets(runs: dict) -> dict[str, str]:
    found = {
        "client secret": CLIENT_SECRET,
        "wrong client secret": WRONG_CLIENT_SECRET,
        "S3 secret key": S3_SECRET,
        "templated S3 secret key": TEMPLATED_S3_SECRET,
        "invalid S3 secret key": BAD_S3_SECRET,
        "SFTP password": SFTP_PASSWORD,
    }
    assert runs["tokens"], "the emulator issued no token"
    found.update({f"access token {n}": token for n, token in enumerate(runs["tokens"])})
    return found


def _leaks(text: str, secrets: dict[str, str]) -> list[str]:
    return [name for name, secret in secrets.items() if secret in text]


def test_the_runs_did_what_the_scan_needs(runs):
    """Successes stored XComs and rendered fields; the failures failed for the reasons meant."""
    results = runs["results"]
    for name in ("export", "activation", "templated"):
        assert results[name].returncode == 0, failure_excerpt(results[name].stdout)

    assert "s3SecretKey=<secret value> is not valid" in results["bad secret"].stdout
    assert "Adobe IMS refused the token request (HTTP 401)" in results["wrong client secret"].stdout
    # What the servers echoed reached the task log scrubbed, the rest of their words intact.
    assert "invalid_client: could not verify grant_type=client_credentials" in results["echoing IMS"].stdout
    assert "client_secret=***" in results["echoing IMS"].stdout
    assert "rejected Bearer *** with body" in results["echoing Platform"].stdout
    assert '"s3SecretKey": "***"' in results["echoing Platform"].stdout


def test_no_secret_in_task_logs_or_command_output(runs):
    secrets = _secrets(runs)
    for name, result in runs["results"].items():
        assert _leaks(result.stdout + result.stderr, secrets) == [], name
    # ``dags test`` prints task logs (scanned above); files are the DAG processor's and config.
    # Task log files written under a real scheduler and triggerer: test_deferral.py.
    files = [p for p in runs["home"].home.rglob("*") if p.is_file() and p.name != "airflow.db"]
    assert files
    for path in files:
        assert _leaks(path.read_text(errors="replace"), secrets) == [], path


def test_no_secret_in_the_metadata_db(runs):
    """XComs, rendered template fields and every other table, and the raw file besides."""
    secrets = _secrets(runs)
    db_path = runs["home"].home / "airflow.db"
    with sqlite3.connect(db_path) as db:
        xcoms = db.execute("SELECT COUNT(*) FROM xcom").fetchone()[0]
        rendered = dict(db.execute(
            "SELECT task_id, rendered_fields FROM rendered_task_instance_fields WHERE dag_id = 'aep_templated_credentials'"
        ).fetchall())  # fmt: skip
        dump = "\n".join(db.iterdump())
    assert xcoms >= 10
    auth_params = json.loads(rendered["create_base_connection"])["auth_params"]
    assert auth_params == {"s3AccessKey": "***", "s3SecretKey": "***"}  # every credential, masked

    assert _leaks(dump, secrets) == []
    assert _leaks(db_path.read_bytes().decode("latin-1"), secrets) == []
