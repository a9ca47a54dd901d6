"""The provider info is what Airflow's own schemas accept, and Airflow finds it."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from importlib import metadata, resources

import jsonschema
import pytest

from airflow_provider_aep.get_provider_info import get_provider_info


def _airflow_schema(name: str) -> dict:
    return json.loads(resources.files("airflow").joinpath(name).read_text())


def test_validates_against_airflows_provider_info_schema():
    jsonschema.validate(get_provider_info(), _airflow_schema("provider_info.schema.json"))


def test_ui_field_behaviour_validates_against_airflows_schema():
    behaviour = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    customised = {
        "hidden_fields": behaviour["hidden-fields"],
        "relabeling": behaviour["relabeling"],
        "placeholders": behaviour["placeholders"],
    }
    jsonschema.validate(customised, _airflow_schema("customized_form_field_behaviours.schema.json"))


def test_package_name_is_the_distribution_and_the_entry_point_is_registered():
    info = get_provider_info()
    assert info["package-name"] == metadata.metadata("airflow-provider-aep")["Name"]
    entry_points = metadata.entry_points(group="apache_airflow_provider")
    ours = [ep for ep in entry_points if ep.value.startswith("airflow_provider_aep.")]
    assert [ep.value for ep in ours] == ["airflow_provider_aep.get_provider_info:get_provider_info"]


def test_everything_listed_exists():
    info = get_provider_info()
    modules = [
        m
        for section in ("hooks", "operators", "sensors", "triggers")
        for e in info.get(section, [])
        for m in e["python-modules"]
    ]
    for module in modules:
        importlib.import_module(module)
    for dotted in [c["hook-class-name"] for c in info["connection-types"]] + info.get("extra-links", []):
        module, _, name = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), name), dotted


def test_connection_form_fields():
    conn_type = get_provider_info()["connection-types"][0]
    assert conn_type["connection-type"] == "aep"
    fields = {"org_id", "sandbox_name", "scopes", "ims_url", "timeout", "ui_url"}
    assert set(conn_type["conn-fields"]) == fields
    assert conn_type["conn-fields"]["sandbox_name"]["schema"]["default"] == "prod"
    relabel = conn_type["ui-field-behaviour"]["relabeling"]
    assert relabel == {
        "login": "Client ID",
        "password": "Client secret",
        "host": "Platform URL",
        "port": "Platform port",
    }


@pytest.mark.parametrize(("command", "expected"), [("list", "airflow-provider-aep"), ("hooks", "aep")])
def test_airflow_cli_shows_the_provider(tmp_path, command, expected):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", command, "--output", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    ).stdout
    # Airflow 3.0's CLI logs to stdout too: the rows are the line that is a JSON list.
    [rows] = [json.loads(line) for line in out.splitlines() if line.startswith(("[{", "[]"))]
    assert any(expected in json.dumps(row) for row in rows)
    if command == "hooks":
        aep = [r for r in rows if r.get("connection_type") == "aep"]
        assert aep[0]["class"] == "airflow_provider_aep.hooks.aep.AEPHook"
