"""A base connection changes auth spec in place: ``/auth`` replaced whole, by hand or by the operator.

An SFTP destination moves from a password to an SSH key: the emulator takes the new auth only
whole and only as the new auth spec's schema allows, forgets the old password, and the next run
uses the key; AEPUpdateBaseConnectionOperator sends exactly that one operation.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from unittest import mock

import pytest
import requests

from aep_emulator.config import EmulatorConfig
from aep_emulator.server import RunningEmulator, running_emulator
from airflow_provider_aep.operators.updates import AEPUpdateBaseConnectionOperator
from tests import seed_bodies as seed
from tests.emulator.conftest import Api, as_sent
from tests.emulator.pipeline import make_pipeline

OLD = seed.BASE_CONNECTIONS["sftp"]["auth"]["params"]
SSH_KEY = "LS0tLS1CRUdJTiBPUEVOU1NIIFBSSVZBVEUgS0VZLS0tLS1zd2l0Y2hlZA=="
NEW = {"domain": "sftp.example.com", "username": "exporter", "sshKey": SSH_KEY}
SWITCH = [{"op": "replace", "path": "/auth", "value": {"specName": "SFTP with SSH Key", "params": NEW}}]


def patch(api: Api, base: str, operations: Any) -> requests.Response:
    etag = api.ok("GET", f"/connections/{base}")["items"][0]["etag"]
    return api.call("PATCH", f"/connections/{base}", json=operations, headers={"If-Match": etag})


def refusal(response: requests.Response) -> str:
    assert response.status_code == 400, response.text
    return str(response.json()["report"]["detailed-message"])


def kept(emulator: RunningEmulator, base: str) -> dict[str, Any]:
    """The params the emulator holds in memory for the connection (what its runs use)."""
    with emulator.emulator.state.lock:
        return dict(emulator.emulator.state.credentials[base]["params"])


def test_replacing_auth_whole_switches_the_auth_spec_and_forgets_the_password(api, emu):
    ids = make_pipeline(api, "sftp")
    assert patch(api, ids["base"], SWITCH).status_code == 200

    connection = api.ok("GET", f"/connections/{ids['base']}")["items"][0]
    assert as_sent(connection["auth"]) == {
        "specName": "SFTP with SSH Key",
        "params": {"domain": "sftp.example.com", "username": "exporter", "sshKey": "***"},
    }
    assert kept(emu, ids["base"]) == NEW
    shown = json.dumps(emu.admin.get("/state").json()) + json.dumps(emu.requests())
    assert OLD["password"] not in shown
    assert SSH_KEY not in shown

    # The next run uses the key.
    before = {r["id"] for r in api.ok("GET", "/runs", params={"property": f"flowId=={ids['flow']}"})["items"]}
    later = [r for r in api.wait_for_runs(ids["flow"], len(before) + 1) if r["id"] not in before]
    used = emu.admin.get(f"/runs/{later[0]['id']}/credentials").json()
    assert used["authSpecName"] == "SFTP with SSH Key"
    assert used["identifiers"] == {"domain": "sftp.example.com", "username": "exporter"}
    assert used["fingerprint"] == emu.fingerprint(NEW)


def test_add_of_auth_and_a_switch_back_work_too(api, emu):
    base = api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["sftp"])["id"]
    assert patch(api, base, [{**SWITCH[0], "op": "add"}]).status_code == 200
    back = {"specName": "SFTP with Password", "params": {**OLD, "password": "a-new-password"}}
    assert patch(api, base, [{"op": "replace", "path": "/auth", "value": back}]).status_code == 200
    assert api.ok("GET", f"/connections/{base}")["items"][0]["auth"]["specName"] == "SFTP with Password"
    assert kept(emu, base) == back["params"]


@pytest.mark.parametrize(
    ("auth", "says"),
    [
        ({"specName": "SFTP with SSH Key", "params": {"domain": "d", "username": "u"}}, "sshKey"),
        ({"specName": "SFTP with SSH Key", "params": {**NEW, "password": OLD["password"]}}, "password"),
        ({"specName": "SFTP with SSH Key", "params": {**NEW, "sshKey": 12345}}, "auth.params.sshKey"),
        ({"specName": "SFTP with SSH Key", "params": SSH_KEY}, "auth.params"),
        ({"specName": "SFTP with a Token", "params": NEW}, "is not an auth spec of SFTP"),
        ({"params": NEW}, "is not an auth spec of SFTP"),
        ({"specName": "SFTP with SSH Key", "params": NEW, "key": SSH_KEY}, "auth.key"),
        (SSH_KEY, "auth must stay an object"),
    ],
    ids=[
        "no key",
        "old password too",
        "key a number",
        "params a string",
        "unknown spec",
        "no spec",
        "extra field",
        "auth a string",
    ],
)
def test_a_wrongly_shaped_new_auth_is_a_400_and_changes_nothing(api, emu, auth, says):
    base = api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["sftp"])["id"]
    before = api.ok("GET", f"/connections/{base}")["items"][0]
    detail = refusal(patch(api, base, [{"op": "replace", "path": "/auth", "value": auth}]))
    assert says in detail
    assert SSH_KEY not in detail
    assert OLD["password"] not in detail
    assert api.ok("GET", f"/connections/{base}")["items"][0] == before
    assert kept(emu, base) == OLD


def test_auth_cannot_be_removed(api, emu):
    base = api.ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["sftp"])["id"]
    assert "auth must stay an object" in refusal(patch(api, base, [{"op": "remove", "path": "/auth"}]))
    assert kept(emu, base) == OLD


def test_a_switch_after_a_restart_is_kept_whole_in_memory(tmp_path):
    state_file = tmp_path / "state.json"
    config = EmulatorConfig(state_file=state_file, exports_dir=tmp_path / "out")
    with running_emulator(config) as first:
        base = Api(first).ok("POST", "/connections", 201, json=seed.BASE_CONNECTIONS["sftp"])["id"]
    with running_emulator(EmulatorConfig(state_file=state_file, exports_dir=tmp_path / "out")) as second:
        api = Api(second)
        assert patch(api, base, SWITCH).status_code == 200
        assert kept(second, base) == NEW
        assert api.ok("GET", f"/connections/{base}")["items"][0]["auth"]["params"]["sshKey"] == "***"
    assert SSH_KEY not in state_file.read_text()
    assert OLD["password"] not in state_file.read_text()


# -- the update operator against the emulator -------------------------------------------------------------


@pytest.fixture
def conn(emu, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", emu.connection())


def test_the_operator_switches_a_password_connection_to_an_ssh_key(api, emu, conn, caplog, capsys):
    ids = make_pipeline(api, "sftp")
    emu.admin.delete("/requests").raise_for_status()
    op = AEPUpdateBaseConnectionOperator(
        task_id="to_ssh_key", base_connection_id=ids["base"], destination="sftp", auth_params=NEW
    )
    ti = mock.MagicMock()
    with caplog.at_level(logging.DEBUG):
        assert op.execute({"ti": ti}) == ids["base"]
    output = capsys.readouterr()
    logged = caplog.text + output.out + output.err

    [sent] = [r for r in emu.requests() if r["method"] == "PATCH"]
    assert sent["status"] == 200
    assert sent["if_match"]
    [operation] = sent["body"]
    assert (operation["op"], operation["path"]) == ("replace", "/auth")
    assert operation["value"]["specName"] == "SFTP with SSH Key"
    assert sorted(operation["value"]["params"]) == ["domain", "sshKey", "username"]  # no old password

    connection = api.ok("GET", f"/connections/{ids['base']}")["items"][0]
    assert connection["auth"]["specName"] == "SFTP with SSH Key"
    assert kept(emu, ids["base"]) == NEW
    pushed = {c.kwargs["key"]: c.kwargs["value"] for c in ti.xcom_push.call_args_list}
    assert pushed["etag"] == connection["etag"]
    assert "auth spec 'SFTP with Password' replaced by 'SFTP with SSH Key'" in logged
    assert SSH_KEY not in logged
    assert SSH_KEY not in json.dumps(emu.requests())

    # Run again: the connection has the key's spec now, so only the (hidden) key is sent, not /auth.
    emu.admin.delete("/requests").raise_for_status()
    op.execute({"ti": mock.MagicMock()})
    [again] = [r for r in emu.requests() if r["method"] == "PATCH"]
    assert [o["path"] for o in again["body"]] == ["/auth/params/sshKey"]


def test_a_password_added_beside_an_ssh_key_is_masked_too(api, emu):
    base = api.ok("POST", "/connections", 201, json=seed.SFTP_SSH_BASE_CONNECTION)["id"]
    ops = [{"op": "add", "path": "/auth/params/password", "value": OLD["password"]}]
    assert patch(api, base, ops).status_code == 200
    assert api.ok("GET", f"/connections/{base}")["items"][0]["auth"]["params"]["password"] == "***"
    assert OLD["password"] not in json.dumps(emu.admin.get("/state").json())
