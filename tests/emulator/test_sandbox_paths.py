"""Sandbox names and every path built from user input stay inside ``--exports-dir``.

The gateway refuses sandbox names AEP could not have (400 ``400004``), and the file layout
sanitises each part and refuses any path that resolves outside the exports directory.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest

from aep_emulator import exports
from aep_emulator.exports import ExportError, expand_folder_template, location_dir
from aep_emulator.segments import file_base_name, write_csv_files
from tests import seed_bodies as seed
from tests.emulator.conftest import Api

HOSTILE_SANDBOXES = ["..", ".", "../..", "../prod", "a/b", "Dev", "dev_1", "-dev", "dev.1", "a" * 65, "é"]
HOSTILE_PARTS = ["..", ".", "../..", "../../etc", "/abs/../../x", "a/../../..", "...", "..\\..", "~", ""]
MOMENT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


@pytest.mark.parametrize("sandbox", HOSTILE_SANDBOXES)
def test_the_gateway_refuses_sandbox_names_aep_would_not_accept(api, sandbox):
    response = api.call("GET", "/flows", headers={"x-sandbox-name": sandbox})
    assert response.status_code == 400
    assert response.json()["error_code"] == "400004"
    assert set(response.json()) == {"error_code", "message"}  # the gateway's shape


@pytest.mark.parametrize("sandbox", ["prod", "dev", "dev-1", "0sandbox", "a" * 64])
def test_sandbox_names_aep_accepts_are_served(api, sandbox):
    assert api.call("GET", "/flows", headers={"x-sandbox-name": sandbox}).status_code == 200


def test_a_non_latin1_sandbox_header_byte_is_refused_and_logged(api, emu):
    response = api.call("GET", "/flows", headers={"x-sandbox-name": b"\xff\xfe"})
    assert (response.status_code, response.json()["error_code"]) == (400, "400004")
    assert emu.requests()[-1]["status"] == 400  # the request log could read the header


@pytest.mark.parametrize("sandbox", ["..", "../..", "../../tmp"])
def test_a_whole_export_pipeline_in_a_climbing_sandbox_is_refused(emu, sandbox):
    outside = sorted(p.name for p in emu.config.exports_dir.parent.iterdir())
    hostile, prod = Api(emu, sandbox), Api(emu, "prod")
    base_id = prod.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["amazon_s3"])["id"]
    bodies = {
        "/sourceConnections": seed.SOURCE_CONNECTION,
        "/connections": seed.BASE_CONNECTIONS["amazon_s3"],
        "/targetConnections": seed.target_connection("amazon_s3", base_id),
        "/flows": seed.dataflow("amazon_s3", "source", "target"),
    }
    for path, body in bodies.items():
        response = hostile.call("POST", path, json=body)
        assert (response.status_code, response.json()["error_code"]) == (400, "400004"), path
    assert sandbox not in emu.admin.get("/state").json()["sandboxes"]
    assert sorted(p.name for p in emu.config.exports_dir.parent.iterdir()) == outside


@pytest.mark.parametrize("hostile", HOSTILE_PARTS)
def test_location_dir_with_hostile_values_stays_inside_the_root(tmp_path, hostile):
    root = tmp_path / "exports"
    params = {"bucketName": hostile, "container": hostile, "path": hostile, "remotePath": hostile}
    folder = location_dir(root, hostile, hostile, params)
    assert folder.resolve().is_relative_to(root.resolve())
    assert folder.resolve() != root.resolve()
    assert all(part not in (".", "..") for part in folder.relative_to(root).parts)


@pytest.mark.parametrize("value", [["..", ".."], {"a": ".."}, 7, None])
def test_location_dir_with_non_string_params_stays_inside_the_root(tmp_path, value):
    folder = location_dir(tmp_path, "prod", "amazon_s3", {"bucketName": value, "path": value})
    assert folder.resolve().is_relative_to(tmp_path.resolve())


@pytest.mark.parametrize("template", ["..", ".", "../../%DATASET_ID%", "%SANDBOX_NAME%", "a/../../b"])
def test_folder_templates_give_one_safe_folder(template):
    name = expand_folder_template(template, {"DATASET_ID": "..", "SANDBOX_NAME": ".."}, MOMENT)
    assert name not in ("", ".", "..")
    assert "/" not in name
    assert name.strip(".")


@pytest.mark.parametrize("template", ["%SEGMENT_ID%", "..%SEGMENT_ID%", "%SEGMENT_NAME%/%SEGMENT_ID%"])
def test_segment_file_names_stay_in_their_folder(tmp_path, template):
    base = file_base_name(
        template + "%DESTINATION_NAME%",
        destination="..",
        segment={"id": "..", "name": "../.."},
        moment=MOMENT,
    )
    assert "/" not in base
    assert base.strip(".")
    [path] = write_csv_files(tmp_path, base, ["a"], [{"a": "1"}], split_rows=10)
    assert path.parent == tmp_path


def test_safe_part_caps_the_length_so_the_file_system_takes_it():
    assert len(exports.safe_part("a" * 10_000)) <= 255
    assert exports.safe_part("..") == "__"
    assert exports.safe_part("") == "_"


def test_inside_refuses_a_path_that_resolves_outside(tmp_path):
    root = tmp_path / "exports"
    root.mkdir()
    with pytest.raises(ExportError, match="outside"):
        exports.inside(root, "..", "escape")
    os.symlink(tmp_path, root / "link")
    with pytest.raises(ExportError, match="outside"):
        exports.inside(root, "link", "escape")
    assert exports.inside(root, "a", "b") == root / "a" / "b"


def test_a_dot_dot_folder_template_writes_inside_the_location(api, emu):
    source = api.ok("POST", "/sourceConnections", 201, json=seed.SOURCE_CONNECTION)["id"]
    base = api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["amazon_s3"])["id"]
    target = api.ok("POST", "/targetConnections", 201, json=seed.target_connection("amazon_s3", base))["id"]
    body = seed.dataflow("amazon_s3", source, target)
    body["scheduleParams"]["foldernameTemplate"] = ".."
    flow = api.ok("POST", "/flows", 201, json=body)["id"]
    run = api.wait_for_run(flow)
    written = run["metrics"]["recordSummary"]["targetSummaries"][0]["entitySummaries"][0]["id"]
    root = emu.config.exports_dir.resolve()
    location = root / "prod/amazon_s3/your-bucket-name/folder/subfolder"
    assert (root / written).resolve().parent.parent == location  # <location>/<template folder>/<file>
