"""Creating once: lost responses, repeated runs and task retries leave exactly one entity."""

from __future__ import annotations

import copy
import logging
import time

import pytest

from airflow_provider_aep.exceptions import AEPError
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.hooks.retry import RetryPolicy
from tests import seed_bodies as seed
from tests.emulator.pipeline import make_pipeline

log = logging.getLogger("test")


class Store(dict):
    """What ``context['task_state_store']`` offers: get and set."""

    def set(self, key, value):
        self[key] = value


@pytest.fixture
def hook(emu, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AEP_DEFAULT", emu.connection())
    return AEPHook(retry_policy=RetryPolicy(max_attempts=3, base_wait=0.05, max_wait=0.1))


def _flow_body(api):
    ids = make_pipeline(api)
    api.ok("DELETE", f"/flows/{ids['flow']}", 202)
    return copy.deepcopy(seed.dataflow("amazon_s3", ids["source"], ids["target"]))


def _named(emu, kind, name):
    return [e for e in emu.entities(kind).values() if e["name"] == name]


@pytest.mark.parametrize("if_exists", ["reuse", "create"])
def test_a_lost_response_leaves_one_dataflow(api, emu, hook, if_exists):
    body = _flow_body(api)
    emu.add_fault(method="POST", path="*/flows", drop_after=True)
    created = hook.create_once("flows", body, if_exists=if_exists, state_store=Store(), log=log)
    assert [f["id"] for f in _named(emu, "flows", body["name"])] == [created["id"]]
    posts = [r for r in emu.requests() if r["method"] == "POST" and r["path"].endswith("/flows")]
    assert len(posts) == 2  # make_pipeline's and ours: the lost one was not sent again


def test_a_create_dropped_before_aep_saw_it_is_sent_again(api, emu, hook):
    body = _flow_body(api)
    emu.add_fault(method="POST", path="*/flows", drop=True)
    created = hook.create_once("flows", body, if_exists="create", state_store=None, log=log)
    assert [f["id"] for f in _named(emu, "flows", body["name"])] == [created["id"]]


def test_a_create_slower_than_the_read_timeout_is_waited_for_not_repeated(api, emu, hook):
    """AEP may finish a create after the client gave up: look until it lands, never send it twice."""
    body = _flow_body(api)
    hook._timeout = (5.0, 0.5)
    emu.add_fault(method="POST", path="*/flows", latency=1.5)
    created = hook.create_once("flows", body, if_exists="create", state_store=None, log=log)
    for _ in range(50):  # until the emulator has answered the slow POST (nobody is listening)
        if any(r["fault"] and r["status"] for r in emu.requests()):
            break
        time.sleep(0.1)
    assert [f["id"] for f in _named(emu, "flows", body["name"])] == [created["id"]]
    posts = [r for r in emu.requests() if r["method"] == "POST" and r["path"].endswith("/flows")]
    assert len(posts) == 2  # make_pipeline's and the slow one


def test_the_next_run_reuses_the_same_configuration(api, emu, hook):
    body = seed.BASE_CONNECTIONS["amazon_s3"]
    first = hook.create_once("connections", body, if_exists="reuse", state_store=None, log=log)
    again = hook.create_once("connections", body, if_exists="reuse", state_store=None, log=log)
    assert again == {"id": first["id"], "etag": again["etag"], "reused": True, "created": False}
    assert len(_named(emu, "connections", body["name"])) == 1


def test_same_name_with_another_configuration_is_an_error(api, emu, hook):
    body = _flow_body(api)
    hook.create_once("flows", body, if_exists="reuse", state_store=None, log=log)
    changed = copy.deepcopy(body)
    changed["scheduleParams"]["interval"] = 6
    with pytest.raises(AEPError, match=r"scheduleParams\.interval is 3 there, 6 here"):
        hook.create_once("flows", changed, if_exists="reuse", state_store=None, log=log)
    with pytest.raises(AEPError, match="if_exists='fail'"):
        hook.create_once("flows", body, if_exists="fail", state_store=None, log=log)
    assert len(_named(emu, "flows", body["name"])) == 1
    hook.create_once("flows", changed, if_exists="create", state_store=None, log=log)
    assert len(_named(emu, "flows", body["name"])) == 2


def test_a_retried_task_reuses_what_its_first_try_created(api, emu, hook):
    store = Store()
    body = seed.BASE_CONNECTIONS["sftp"]
    first = hook.create_once("connections", body, if_exists="create", state_store=store, log=log)
    assert store == {"aep_connections_id": first["id"], "aep_connections_created": True}
    retry = hook.create_once("connections", body, if_exists="create", state_store=store, log=log)
    assert retry["id"] == first["id"]
    assert retry["reused"] is True
    assert len(_named(emu, "connections", body["name"])) == 1


def test_a_remembered_id_that_is_gone_is_created_again(api, emu, hook):
    store = Store()
    body = seed.BASE_CONNECTIONS["sftp"]
    first = hook.create_once("connections", body, if_exists="create", state_store=store, log=log)
    api.ok("DELETE", f"/connections/{first['id']}", 202)
    second = hook.create_once("connections", body, if_exists="create", state_store=store, log=log)
    assert second["id"] != first["id"]
    assert store["aep_connections_id"] == second["id"]
