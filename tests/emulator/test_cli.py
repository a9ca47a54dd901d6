"""The console script and ``python -m`` start a working emulator and print the Airflow connection."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

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


# -- what it prints: every connection a DAG needs, as lines a shell can source ---------------------


def sourced(lines: str, tmp_path: Path) -> dict[str, str]:
    """The ``AIRFLOW_CONN_*`` variables a POSIX shell has after sourcing ``lines``."""
    script = tmp_path / "connections.env"
    script.write_text(lines)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    out = subprocess.run(
        ["sh", "-c", '. "$1" && env', "sh", str(script)], env=env, capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if line.startswith("AIRFLOW_CONN_"))


def every_destination() -> tuple[str, ...]:
    from airflow_provider_aep.catalog import DATASET_EXPORT_DESTINATIONS, SEGMENT_DESTINATIONS

    return DATASET_EXPORT_DESTINATIONS + SEGMENT_DESTINATIONS


@pytest.fixture(scope="module")
def printed(tmp_path_factory) -> dict[str, str]:
    """What ``aep-emulator --port 9911 --print-connections`` prints, as a shell sources it."""
    out = subprocess.run(
        [sys.executable, "-m", "aep_emulator", "--port", "9911", "--print-connections"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return sourced(out, tmp_path_factory.mktemp("printed"))


def test_print_connections_gives_aep_and_every_destination_s_credentials(printed):
    conns = printed
    expected = {
        "AIRFLOW_CONN_AEP_DEFAULT",
        "AIRFLOW_CONN_AWS_AEP_EXPORT",  # the key-rotation example's default
        *(f"AIRFLOW_CONN_AEP_{key.upper()}_CREDENTIALS" for key in every_destination()),
    }
    assert set(conns) == expected
    aep = json.loads(conns["AIRFLOW_CONN_AEP_DEFAULT"])
    assert (aep["conn_type"], aep["host"]) == ("aep", "http://127.0.0.1:9911")
    assert aep["extra"]["ims_url"] == "http://127.0.0.1:9911/ims/token/v3"


@pytest.mark.parametrize("destination", every_destination())
def test_each_printed_credentials_connection_makes_a_base_connection_the_emulator_accepts(
    printed, monkeypatch, api, destination
):
    """Read as the example DAGs read it (``credentials_conn_id="aep_<destination>_credentials"``)."""
    from airflow_provider_aep.catalog import get_destination
    from airflow_provider_aep.payloads.connections import build_base_connection
    from airflow_provider_aep.utils.credentials import auth_params_for

    for name, value in printed.items():
        monkeypatch.setenv(name, value)
    spec_name, params = auth_params_for(destination, None, f"aep_{destination}_credentials", None)
    body = build_base_connection(
        name=f"{destination} base connection",
        connection_spec_id=get_destination(destination).connection_spec_id,
        auth_spec_name=spec_name,
        auth_params=params,
    )
    created = api.ok("POST", "/connections", 201, json=body)
    stored = api.ok("GET", f"/connections/{created['id']}")["items"][0]
    assert stored.get("auth", {}).get("specName") == spec_name  # Data Landing Zone: no auth


# -- its defaults: shown in --help, and nothing written where it runs -------------------------------


def test_help_shows_every_option_s_default():
    from aep_emulator.cli import build_parser

    out = subprocess.run(
        [sys.executable, "-m", "aep_emulator", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "400"},
    ).stdout
    help_of: dict[str, str] = {}  # option -> its help, continuation lines joined
    option = ""
    for line in out.split("options:", 1)[1].splitlines():
        if line.strip().startswith("-"):
            option = line.split()[0].rstrip(",")
        help_of[option] = help_of.get(option, "") + " " + line.strip()
    shown = 0
    for action in build_parser()._actions:
        if action.default in (None, False, argparse.SUPPRESS):
            continue
        assert f"(default: {action.default})" in help_of[action.option_strings[0]], action.dest
        shown += 1
    assert shown >= 13  # host, port, the credentials, timing, limits, exports dir


def start(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """The CLI started, and the AEP connection it printed (its first line) once listening."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aep_emulator", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    name, value = process.stdout.readline().removeprefix("export ").split("=", 1)
    return process, {name: value.strip().strip("'")}


def test_started_with_default_options_it_writes_nothing_where_it_runs(tmp_path):
    """``make emulator`` from a clone leaves ``git status`` clean: exports go to the user's cache."""
    from types import SimpleNamespace

    from aep_emulator.config import EmulatorConfig
    from tests.emulator.conftest import Api
    from tests.emulator.pipeline import make_pipeline

    cwd, cache = tmp_path / "clone", tmp_path / "cache"
    cwd.mkdir()
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    port = free_port()
    # Only the port (free) and the run timing (fast) differ from `make emulator`.
    process, conns = start(
        ["--port", str(port), "--first-run-delay", "0.2", "--run-duration", "0.3"], cwd, env
    )
    try:
        assert json.loads(conns["AIRFLOW_CONN_AEP_DEFAULT"])["host"] == f"http://127.0.0.1:{port}"
        api = Api(SimpleNamespace(url=f"http://127.0.0.1:{port}", config=EmulatorConfig(port=port)))
        flow = make_pipeline(api)["flow"]
        api.wait_for_run(flow)
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    exports = cache / "aep-emulator" / "exports"
    assert f"exports in {exports}" in err
    assert [p for p in exports.rglob("*") if p.is_file()], "the run exported nothing"
    assert list(cwd.iterdir()) == []


def test_write_env_writes_the_printed_lines_privately_once_it_listens(tmp_path):
    env_file = tmp_path / "aep.env"
    env_file.write_text('export AIRFLOW_CONN_AEP_DEFAULT=\'{"host": "stale"}\'\n')
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "aep_emulator", "--port", str(port), "--exports-dir", str(tmp_path / "x"),
         "--write-env", str(env_file)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "stale" in (env_file.read_text() if env_file.exists() else "stale"):
            assert process.poll() is None, process.communicate()[1]
            assert time.monotonic() < deadline, "no env file written"
            time.sleep(0.05)
        # Written once it listens: no retry needed.
        assert httpx.get(f"http://127.0.0.1:{port}/_emulator/health").status_code == 200
        assert env_file.stat().st_mode & 0o777 == 0o600
        conns = sourced(env_file.read_text(), tmp_path)
        assert json.loads(conns["AIRFLOW_CONN_AEP_DEFAULT"])["host"] == f"http://127.0.0.1:{port}"
        assert len(conns) == len(every_destination()) + 2
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    assert out == env_file.read_text()


@pytest.mark.parametrize("where", ["missing-dir/aep.env", "."])
def test_write_env_to_an_impossible_place_is_a_usage_error(tmp_path, capsys, where):
    from aep_emulator.cli import parse_args

    with pytest.raises(SystemExit) as stopped:
        parse_args(["--write-env", str(tmp_path / where)])
    assert stopped.value.code == 2
    assert f"--write-env {tmp_path / where}: not a file in an existing directory" in capsys.readouterr().err
