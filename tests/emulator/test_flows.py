"""Reading, patching, enabling/disabling and deleting flows and connections."""

from __future__ import annotations

import pytest

from tests import seed_bodies as seed
from tests.emulator.pipeline import make_pipeline


def test_get_flow_is_items_wrapped_with_its_state(api):
    ids = make_pipeline(api)
    flow = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]
    for field in (
        "state",
        "etag",
        "scheduleParams",
        "transformations",
        "inheritedAttributes",
        "runs",
        "lastOperation",
    ):
        assert field in flow
    assert "lastRunDetails" not in flow  # until its first run, as Adobe's examples show
    assert flow["state"] == "enabled"
    assert flow["runs"] == f"/runs?property=flowId=={ids['flow']}"
    assert flow["lastOperation"]["operation"] == "create"
    assert flow["lastOperation"]["status"]["value"] == "completed"
    # Arrays of the connections, each with its base connection as an object (Adobe's flow examples).
    (source,) = flow["inheritedAttributes"]["sourceConnections"]
    (target,) = flow["inheritedAttributes"]["targetConnections"]
    assert source["id"] == ids["source"]
    assert (target["id"], target["baseConnection"]["id"]) == (ids["target"], ids["base"])
    assert target["baseConnection"]["connectionSpec"] == target["connectionSpec"]
    assert flow["inheritedAttributes"]["properties"]["isDestinationFlow"] is True


def test_patch_needs_if_match(api):
    ids = make_pipeline(api)
    ops = [{"op": "replace", "path": "/scheduleParams/endTime", "value": 1985901210}]
    response = api.call("PATCH", f"/flows/{ids['flow']}", json=ops)
    assert response.status_code == 400
    assert response.json()["type"].endswith("FLOW-1403-400")


def test_patch_with_a_stale_etag_is_412_and_a_good_one_gives_a_new_etag(api):
    ids = make_pipeline(api)
    etag = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]["etag"]
    ops = [{"op": "replace", "path": "/scheduleParams/endTime", "value": 1985901210}]
    answer = api.ok("PATCH", f"/flows/{ids['flow']}", 200, json=ops, headers={"If-Match": etag})
    assert answer["id"] == ids["flow"]
    assert answer["etag"] != etag
    stale = api.call("PATCH", f"/flows/{ids['flow']}", json=ops, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["type"].endswith("FLOW-1404-412")
    flow = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]
    assert flow["scheduleParams"]["endTime"] == 1985901210
    assert flow["etag"] == answer["etag"]


@pytest.mark.parametrize(
    ("ops", "words"),
    [
        ([{"op": "move", "from": "/name", "path": "/description"}], "not supported"),
        ([{"op": "replace", "path": "/scheduleParams/interval", "value": 8}], "interval"),
        ([{"op": "replace", "path": "/nope/deeper", "value": 1}], "does not exist"),
        ([{"op": "replace", "path": "/id", "value": "other"}], "cannot be changed"),
        ([], "non-empty"),
    ],
)
def test_bad_patches_are_refused_and_change_nothing(api, ops, words):
    ids = make_pipeline(api)
    before = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]
    response = api.call("PATCH", f"/flows/{ids['flow']}", json=ops, headers={"If-Match": before["etag"]})
    assert response.status_code == 400
    assert words in response.json()["report"]["detailed-message"]
    assert api.ok("GET", f"/flows/{ids['flow']}")["items"][0]["etag"] == before["etag"]


def test_add_appends_with_dash_and_remove_deletes(api):
    ids = make_pipeline(api)
    etag = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]["etag"]
    ops = [
        {"op": "add", "path": "/transformations/-", "value": {"name": "Noop", "params": {}}},
        {"op": "remove", "path": "/scheduleParams/foldernameTemplate"},
    ]
    response = api.call("PATCH", f"/flows/{ids['flow']}", json=ops, headers={"If-Match": etag})
    assert response.status_code == 400  # foldernameTemplate was not set by make_pipeline
    ops = ops[:1]
    api.ok("PATCH", f"/flows/{ids['flow']}", 200, json=ops, headers={"If-Match": etag})
    assert api.ok("GET", f"/flows/{ids['flow']}")["items"][0]["transformations"] == [
        {"name": "Noop", "params": {}}
    ]


@pytest.mark.parametrize(("disable", "enable"), [("disable", "enable"), ("DISABLE", "ENABLE")])
def test_enable_and_disable_in_either_case(api, disable, enable):
    ids = make_pipeline(api)
    answer = api.ok("POST", f"/flows/{ids['flow']}/action", params={"op": disable})
    assert answer["id"] == ids["flow"]
    assert api.ok("GET", f"/flows/{ids['flow']}")["items"][0]["state"] == "disabled"
    api.ok("POST", f"/flows/{ids['flow']}/action", params={"op": enable})
    assert api.ok("GET", f"/flows/{ids['flow']}")["items"][0]["state"] == "enabled"
    assert api.call("POST", f"/flows/{ids['flow']}/action", params={"op": "pause"}).status_code == 400


def test_delete_is_202_then_404(api):
    ids = make_pipeline(api)
    response = api.call("DELETE", f"/flows/{ids['flow']}")
    assert (response.status_code, response.content) == (202, b"")
    assert api.call("GET", f"/flows/{ids['flow']}").status_code == 404
    assert api.call("DELETE", f"/flows/{ids['flow']}").status_code == 404


def test_a_base_connection_used_by_a_flow_cannot_be_deleted(api):
    ids = make_pipeline(api)
    response = api.call("DELETE", f"/connections/{ids['base']}")
    assert response.status_code == 400
    assert response.json()["type"].endswith("FLOW-1418-400")
    assert ids["flow"] in response.json()["report"]["detailed-message"]
    api.ok("DELETE", f"/flows/{ids['flow']}", 202)
    for kind in ("targetConnections", "sourceConnections", "connections"):
        key = {"targetConnections": "target", "sourceConnections": "source", "connections": "base"}[kind]
        api.ok("DELETE", f"/{kind}/{ids[key]}", 202)
        assert api.call("GET", f"/{kind}/{ids[key]}").status_code == 404


def test_listings_filter_order_and_page(api):
    for i in range(7):
        api.ok(
            "POST",
            "/connections",
            201,
            json={**seed.BASE_CONNECTIONS["data_landing_zone"], "name": f"dlz-{i}"},
        )
    first = api.ok("GET", "/connections", params={"orderby": "name"})
    assert [c["name"] for c in first["items"]] == [f"dlz-{i}" for i in range(5)]  # page size 5
    assert first["_links"]["next"]["href"].startswith("/connections?")  # relative to Flow Service, as AEP
    second = api.call("GET", first["_links"]["next"]["href"]).json()
    assert [c["name"] for c in second["items"]] == ["dlz-5", "dlz-6"]
    assert "next" not in second["_links"]
    filtered = api.ok("GET", "/connections", params={"property": "name==dlz-2,dlz-4"})
    assert sorted(c["name"] for c in filtered["items"]) == ["dlz-2", "dlz-4"]
