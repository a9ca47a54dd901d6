"""The console script and ``python -m`` start a working emulator and print the Airflow connection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import httpx
import pytest

from aep_emulator.server import free_port


@pytest.mark.parametrize("command", [["aep-emulator"], [sys.executable, "-m", "aep_emulator"]])
def test_starts_and_prints_the_connection(tmp_path, command):
    if command[0] == "aep-emulator":
        command = [os.path.join(os.path.dirname(sys.executable), "aep-emulator")]
    port = free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port), "--exports-dir", str(tmp_path), "--token-lifetime", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("export AIRFLOW_CONN_AEP_DEFAULT='")
        conn = json.loads(line.split("=", 1)[1].strip().strip("'"))
        assert conn["host"] == f"http://127.0.0.1:{port}"
        assert conn["extra"]["ims_url"] == f"http://127.0.0.1:{port}/ims/token/v3"
        deadline = time.monotonic() + 20
        while True:
            try:
                token = httpx.post(
                    conn["extra"]["ims_url"],
                    data={
                        "grant_type": "client_credentials",
                        "client_id": conn["login"],
                        "client_secret": conn["password"],
                        "scope": "openid",
                    },
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "emulator did not answer"
                time.sleep(0.1)
        assert token.json()["expires_in"] == 600
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_help_lists_the_options():
    out = subprocess.run(
        [sys.executable, "-m", "aep_emulator", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in (
        "--port",
        "--client-secret",
        "--token-lifetime",
        "--run-duration",
        "--exports-dir",
        "--state",
        "--faults",
    ):
        assert option in out


def test_fault_plan_file_and_options_are_read(tmp_path):
    from aep_emulator.cli import parse_args

    plan = tmp_path / "faults.json"
    plan.write_text(json.dumps({"rules": [{"path": "*/flows", "times": 2, "status": 503, "retry_after": 1}]}))
    config = parse_args(
        [
            "--port",
            "9999",
            "--faults",
            str(plan),
            "--state",
            str(tmp_path / "s.json"),
            "--run-duration",
            "0.5",
        ]
    )
    assert config.faults == [{"path": "*/flows", "times": 2, "status": 503, "retry_after": 1}]
    assert (config.port, config.run_duration, config.state_file) == (9999, 0.5, tmp_path / "s.json")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"rules": [', "Expecting value"),
        ("[1]", '{"rules": [...]}'),
        ('{"rules": [7]}', "a fault rule is a JSON object"),
        ('{"rules": [{"path": "*/flows", "status": "x"}]}', "'status'"),
    ],
)
def test_a_bad_fault_plan_file_is_a_usage_error_naming_it(tmp_path, capsys, text, says):
    from aep_emulator.cli import parse_args

    plan = tmp_path / "faults.json"
    plan.write_text(text)
    with pytest.raises(SystemExit) as stopped:
        parse_args(["--faults", str(plan)])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert f"--faults {plan}" in err
    assert says in err
