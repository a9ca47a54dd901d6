"""A ``--state`` file the emulator cannot use stops its start, naming the file; a good one loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from aep_emulator.app import Emulator
from aep_emulator.config import EmulatorConfig
from aep_emulator.server import free_port, running_emulator
from aep_emulator.state_file import StateFileError
from tests import seed_bodies as seed
from tests.emulator.conftest import Api
from tests.emulator.pipeline import make_pipeline


def config_for(tmp_path: Path, state_file: Path) -> EmulatorConfig:
    return EmulatorConfig(
        state_file=state_file,
        exports_dir=tmp_path / "out",
        first_run_delay=0.2,
        run_duration=0.3,
        time_scale=36000,
    )


@pytest.fixture(scope="module")
def saved_state(tmp_path_factory) -> str:
    """The text of a state file a real emulator saved: a pipeline, its runs, a token."""
    root = tmp_path_factory.mktemp("saved")
    state_file = root / "state.json"
    with running_emulator(config_for(root, state_file)) as emulator:
        api = Api(emulator)
        ids = make_pipeline(api)
        api.wait_for_run(ids["flow"])
    text = state_file.read_text()
    assert ids["flow"] in text
    return text


def shapes(saved: str) -> dict[str, str]:
    """Wrongly shaped state files, by what is wrong with them."""
    good = json.loads(saved)
    sandbox = next(iter(good["sandboxes"]))
    run_id = next(iter(good["meta"]["runs"]))
    flow_id = next(iter(good["sandboxes"][sandbox]["flows"]))

    def changed(edit: Any) -> str:
        data = json.loads(saved)
        edit(data)
        return json.dumps(data)

    return {
        "truncated": saved[: len(saved) // 2],
        "cut at the last brace": saved.rstrip()[:-1],
        "empty": "",
        "a list": json.dumps([good]),
        "a string": json.dumps("state"),
        "another file": json.dumps({"rules": [{"path": "*/flows", "status": 503}]}),
        "sandboxes a list": changed(lambda d: d.update(sandboxes=[])),
        "a sandbox a string": changed(lambda d: d["sandboxes"].update({sandbox: "prod"})),
        "flows a list": changed(lambda d: d["sandboxes"][sandbox].update(flows=[])),
        "a flow a number": changed(lambda d: d["sandboxes"][sandbox]["flows"].update({flow_id: 7})),
        "a flow under another id": changed(
            lambda d: d["sandboxes"][sandbox]["flows"][flow_id].update(id="other")
        ),
        "tokens a list": changed(lambda d: d.update(tokens=["t"])),
        "meta a list": changed(lambda d: d.update(meta=[])),
        "run meta without its sandbox": changed(lambda d: d["meta"]["runs"][run_id].pop("sandbox")),
        "run meta time a string": changed(lambda d: d["meta"]["runs"][run_id].update(complete_at="soon")),
        "requests an object": changed(lambda d: d.update(requests={})),
        "a request a string": changed(lambda d: d.update(requests=["GET /flows"])),
    }


SHAPES = [
    "truncated",
    "cut at the last brace",
    "empty",
    "a list",
    "a string",
    "another file",
    "sandboxes a list",
    "a sandbox a string",
    "flows a list",
    "a flow a number",
    "a flow under another id",
    "tokens a list",
    "meta a list",
    "run meta without its sandbox",
    "run meta time a string",
    "requests an object",
    "a request a string",
]


@pytest.mark.parametrize("shape", SHAPES)
def test_the_library_refuses_a_bad_state_file_at_start_naming_it(tmp_path, saved_state, shape):
    state_file = tmp_path / f"state {shape}.json"
    made = shapes(saved_state)
    assert sorted(made) == sorted(SHAPES)
    state_file.write_text(made[shape])
    before = state_file.read_bytes()
    with pytest.raises(StateFileError) as refused:
        Emulator(config_for(tmp_path, state_file))
    assert str(state_file) in str(refused.value)
    assert refused.value.path == state_file
    with pytest.raises(StateFileError):
        running_emulator(config_for(tmp_path, state_file)).__enter__()
    assert state_file.read_bytes() == before  # nothing saved over it


@pytest.mark.parametrize(
    ("shape", "says"),
    [
        ("truncated", "not whole JSON"),
        ("a list", "holds a list of JSON"),
        ("sandboxes a list", "sandboxes is a list"),
        ("flows a list", ".flows is a list"),
        ("another file", "'rules'"),
        ("run meta time a string", ".complete_at is a string"),
    ],
)
def test_the_refusal_says_what_is_wrong(tmp_path, saved_state, shape, says):
    state_file = tmp_path / "state.json"
    state_file.write_text(shapes(saved_state)[shape])
    with pytest.raises(StateFileError, match=r"state\.json") as refused:
        Emulator(config_for(tmp_path, state_file))
    assert says in str(refused.value)


@pytest.mark.parametrize("shape", ["truncated", "a list", "sandboxes a list", "run meta time a string"])
def test_the_cli_exits_non_zero_naming_the_file(tmp_path, saved_state, shape):
    state_file = tmp_path / "broken-state.json"
    state_file.write_text(shapes(saved_state)[shape])
    port = free_port()
    command = [sys.executable, "-m", "aep_emulator", "--port", str(port), "--state", str(state_file)]
    done = subprocess.run(
        [*command, "--exports-dir", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert str(state_file) in done.stderr
    assert "not started" in done.stderr
    assert "Traceback" not in done.stderr
    assert "AIRFLOW_CONN_AEP_DEFAULT" not in done.stdout


def test_a_good_state_file_still_loads_and_serves(tmp_path, saved_state):
    state_file = tmp_path / "state.json"
    state_file.write_text(saved_state)
    good = json.loads(saved_state)
    sandbox = next(iter(good["sandboxes"]))
    flow_id = next(iter(good["sandboxes"][sandbox]["flows"]))
    run_id = next(iter(good["meta"]["runs"]))
    with running_emulator(config_for(tmp_path, state_file)) as emulator:
        api = Api(emulator, sandbox)
        assert api.ok("GET", f"/flows/{flow_id}")["items"][0]["id"] == flow_id
        assert api.ok("GET", f"/runs/{run_id}")["items"][0]["flowId"] == flow_id
        assert emulator.admin.get(f"/runs/{run_id}/credentials").json()["flowId"] == flow_id
        assert api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["sftp"])["id"]


def test_a_partial_state_file_gets_the_missing_sections(tmp_path):
    state_file = tmp_path / "state.json"
    state_file.write_text(json.dumps({"sandboxes": {"prod": {"flows": {}}}}))
    with running_emulator(config_for(tmp_path, state_file)) as emulator:
        api = Api(emulator)
        assert api.ok("GET", "/flows")["items"] == []
        assert api.ok("GET", "/connections")["items"] == []


@pytest.mark.parametrize(("make", "says"), [("bytes", "not UTF-8"), ("directory", "cannot be read")])
def test_an_unreadable_state_file_is_refused_naming_it(tmp_path, make, says):
    state_file = tmp_path / "state.json"
    if make == "bytes":
        state_file.write_bytes(b'{"sandboxes": {"\xff\xfe": {}}}')
    else:
        state_file.mkdir()
    with pytest.raises(StateFileError) as refused:
        Emulator(config_for(tmp_path, state_file))
    assert str(state_file) in str(refused.value)
    assert says in str(refused.value)
