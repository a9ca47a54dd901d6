"""Property-based fuzzing of the emulator's Flow Service from Adobe's OpenAPI spec (schemathesis).

Every operation the emulator serves gets a bounded, deterministic number of generated requests,
valid and invalid (schemathesis' examples, coverage and fuzzing phases, on Hypothesis), sent
over real HTTP with a real IMS token and the AEP headers. With no fault rule active the
emulator must never answer 5xx, and its answers must match the spec's response schemas
wherever the spec describes them.

Random ids only ever meet a 404, so each example may also graft live references into what was
generated: a real flow, run or connection id in the path, the flow's current etag, real spec
and connection ids in a create body, JSON Patch operations on the fields that matter. That is
how the generated garbage reaches schedule, selector and patch validation, and the run clock.
The world also holds a one-time flow whose runs fail their first attempt (a run fault rule, not a
request fault), so ``POST /runs`` and ``RE_TRIGGER`` meet flows and runs they can act on.

Waivers of the response-schema check, per operation, each where this spec (flow-service.yaml
documents the *sources* side of Flow Service) disagrees with destinations.yaml, AEP_API.md and
the tutorials the emulator follows (the not-a-server-error check is never waived):
- ``GET /flows``, ``GET /flows/{FLOW_ID}``: this spec gives ``inheritedAttributes.sourceConnections``
  / ``targetConnections`` as arrays and ``scheduleParams.interval`` as a string ("15");
  destination flows (destinations.yaml, the export tutorial) have objects and an integer.
- ``GET /sourceConnections...``, ``GET /targetConnections...``: this spec gives
  ``inheritedAttributes.baseConnection`` as an object; destinations.yaml types it as the id
  string the emulator returns.
- ``GET /flowSpecs``, ``GET /flowSpecs/{FLOW_SPEC_ID}``: this spec types ``transformationSpecs``
  as one object; AEP's flow specs (and the emulator's catalog) hold an array of them.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from aep_emulator.server import RunningEmulator
from aep_emulator.validation import connection_specs, flow_specs
from tests import seed_bodies as seed
from tests.emulator.conftest import FS, Api
from tests.emulator.pipeline import make_pipeline
from tests.emulator.test_activation import SELECTOR, activate, campaign_flow

SPEC = Path(__file__).parent.parent / "fixtures" / "openapi" / "flow-service.yaml"
#: Per operation and test; about a minute on two cores for the whole module.
MAX_EXAMPLES = 20
#: ... and for these, which change state or list it: where the bugs hid.
BUSY_EXAMPLES = 80
BUSY = (
    ("POST", "/flows"),
    ("PATCH", "/flows/{FLOW_ID}"),
    ("GET", "/flows"),
    ("GET", "/runs"),
    ("POST", "/sourceConnections"),
    ("POST", "/targetConnections"),
    ("PATCH", "/connections/{BASE_CONNECTION_ID}/"),
    ("PATCH", "/sourceConnections/{SOURCE_CONNECTION_ID}"),
    ("PATCH", "/targetConnections/{TARGET_CONNECTION_ID}"),
)
SEED = 20240611
SANDBOX = "fuzz"
SEGMENT_FLOW_SPEC = "71471eba-b620-49e4-90fd-23f1fa0174d8"

#: Adobe's spec lists more than the emulator serves. Served: everything the provider drives.
SERVED = {
    ("GET", "/connections"),
    ("POST", "/connections"),
    ("GET", "/connections/{BASE_CONNECTION_ID}"),
    ("DELETE", "/connections/{BASE_CONNECTION_ID}/"),
    ("PATCH", "/connections/{BASE_CONNECTION_ID}/"),
    ("GET", "/connectionSpecs"),
    ("GET", "/connectionSpecs/{CONNECTION_SPEC_ID}"),
    ("GET", "/connectionSpecs/{CONNECTION_SPEC_ID}/configs"),
    ("GET", "/flowSpecs"),
    ("GET", "/flowSpecs/{FLOW_SPEC_ID}"),
    ("GET", "/flows"),
    ("POST", "/flows"),
    ("GET", "/flows/{FLOW_ID}"),
    ("PATCH", "/flows/{FLOW_ID}"),
    ("DELETE", "/flows/{FLOW_ID}"),
    ("POST", "/flows/{FLOW_ID}/action"),
    ("GET", "/runs"),
    ("POST", "/runs"),
    ("GET", "/runs/{RUN_ID}"),
    ("POST", "/runs/{RUN_ID}/action"),
    ("GET", "/sourceConnections"),
    ("POST", "/sourceConnections"),
    ("GET", "/sourceConnections/{SOURCE_CONNECTION_ID}"),
    ("PATCH", "/sourceConnections/{SOURCE_CONNECTION_ID}"),
    ("DELETE", "/sourceConnections/{SOURCE_CONNECTION_ID}"),
    ("GET", "/targetConnections"),
    ("POST", "/targetConnections"),
    ("GET", "/targetConnections/{TARGET_CONNECTION_ID}"),
    ("PATCH", "/targetConnections/{TARGET_CONNECTION_ID}"),
    ("DELETE", "/targetConnections/{TARGET_CONNECTION_ID}"),
}
#: Not served (a gateway-shaped 404/405), so not fuzzed: connection test/explore/configs/action,
#: every ``/search``, creating or updating connection and flow specs, updating runs (PUT), and
#: source/target actions.
NOT_SERVED = {
    ("GET", "/connections/{BASE_CONNECTION_ID}/test"),
    ("GET", "/connections/{BASE_CONNECTION_ID}/explore"),
    ("GET", "/connections/{BASE_CONNECTION_ID}/configs"),
    ("POST", "/connections/{BASE_CONNECTION_ID}/action"),
    ("POST", "/connections/search"),
    ("POST", "/connectionSpecs"),
    ("PUT", "/connectionSpecs/{CONNECTION_SPEC_ID}"),
    ("GET", "/connectionSpecs/{CONNECTION_SPEC_ID}/explore"),
    ("POST", "/flows/search"),
    ("POST", "/flowSpecs"),
    ("PUT", "/flowSpecs/{FLOW_SPEC_ID}"),
    ("POST", "/flowSpecs/search"),
    ("PUT", "/runs/{RUN_ID}"),
    ("POST", "/sourceConnections/{SOURCE_CONNECTION_ID}/action"),
    ("POST", "/targetConnections/{TARGET_CONNECTION_ID}/action"),
}
#: Operations whose answers the spec describes wrongly (see the module docstring).
SCHEMA_WAIVED = {
    ("GET", "/sourceConnections"),
    ("GET", "/sourceConnections/{SOURCE_CONNECTION_ID}"),
    ("GET", "/targetConnections"),
    ("GET", "/targetConnections/{TARGET_CONNECTION_ID}"),
    ("GET", "/flows"),
    ("GET", "/flows/{FLOW_ID}"),
    ("GET", "/flowSpecs"),
    ("GET", "/flowSpecs/{FLOW_SPEC_ID}"),
}
#: Listing parameters AEP documents, and what users get wrong with them.
QUERY_VALUES = {
    "orderby": ("name", "-createdAt", "state", "lastRunDetails", "scheduleParams", "transformations",
                "inheritedAttributes", "flowSpec.id", "metrics.durationSummary.startedAtUTC", "nope", "-", "a..b"),
    "property": ("flowId==x", "metrics.statusSummary.status==success,failed", "lastRunDetails==1",
                 "scheduleParams.endTime>1", "transformations==[]", "a..b==1", "name", "==", "state!=enabled"),
    "limit": ("abc", "0", "1", "5", "100", "101", "-1", "1e3", "", "\u0663", "99999999999999999999"),
    "continuationToken": ("garbage", "b2Zmc2V0Oi01", "b2Zmc2V0OmFiYw==", "%%%", "", "b2Zmc2V0OjE="),
}  # fmt: skip
#: Values users send by mistake: wrong types, impossible dates, huge and negative numbers.
ODD_VALUES = (None, True, 0, -1, 1.5, 10**12, 2**70, "", "x", "2024-02-30", "2024-1-1", "25:00", "%SEGMENT_ID%",
              "../..", [], [1], ["DAILY"], [{}], [None], {}, {"id": 1}, {"selectors": {}}, {"selectors": [1]})  # fmt: skip
OFTEN = st.sampled_from([True, True, True, False])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
GARBAGE = st.sampled_from(ODD_VALUES) | JSON_VALUES
SCHEDULE = seed.dataflow("amazon_s3", "s", "t")["scheduleParams"]
GENERAL_TRANSFORM = {
    "name": "GeneralTransform",
    "params": {"segmentSelectors": {"selectors": [SELECTOR]}, "profileSelectors": {"selectors": []}},
}
#: Where a PATCH can hurt, each with the valid value that one mutation turns into garbage.
PATCH_TARGETS: dict[str, Any] = {
    "/name": "renamed",
    "/description": "text",
    "/state": "disabled",
    "/id": "other",
    "/createdAt": 0,
    "/lastRunDetails": None,
    "/scheduleParams": SCHEDULE,
    "/scheduleParams/endTime": 1985901210,
    "/scheduleParams/foldernameTemplate": "%DATASET_ID%",
    "/transformations": [GENERAL_TRANSFORM],
    "/transformations/0": GENERAL_TRANSFORM,
    "/transformations/0/params": GENERAL_TRANSFORM["params"],
    "/transformations/0/params/segmentSelectors": {"selectors": [SELECTOR]},
    "/transformations/0/params/segmentSelectors/selectors/-": SELECTOR,
    "/transformations/0/params/segmentSelectors/selectors/0/value/schedule": SELECTOR["value"]["schedule"],
    "/transformations/0/params/profileSelectors/selectors/-": {"type": "JSON_PATH", "value": {"path": "a.b"}},
    "/transformations/0/params/profileSelectors/mandatoryFields": ["a.b"],
    "/sourceConnectionIds": ["id"],
    "/targetConnectionIds/0": "id",
}
OTHER_DATASET = {"dataSetId": "5ef3e328582424191b1beb44", "name": "AAM Realtime"}
#: The same for base, source and target connections (secrets and datasets, locations and formats).
CONNECTION_PATCH_TARGETS: dict[str, dict[str, Any]] = {
    "connections": {
        "/name": "renamed",
        "/description": "text",
        "/auth/params": seed.BASE_CONNECTIONS["amazon_s3"]["auth"]["params"],
        "/auth/params/s3SecretKey": seed.S3_SECRET_KEY,
        "/auth/params/s3AccessKey": seed.S3_ACCESS_KEY,
        "/auth/specName": "Access Key",
        "/connectionSpec/id": seed.S3_SPEC,
        "/etag": "x",
    },
    "sourceConnections": {
        "/name": "renamed",
        "/description": "text",
        "/params/datasets": [OTHER_DATASET],
        "/params/datasets/-": OTHER_DATASET,
        "/params/datasets/0": OTHER_DATASET,
        "/params/datasets/0/dataSetId": OTHER_DATASET["dataSetId"],
        "/baseConnectionId": "x",
    },
    "targetConnections": {
        "/name": "renamed",
        "/description": "text",
        "/params/path": "moved/here",
        "/params/bucketName": "another-bucket",
        "/params/datasetFileType": "PARQUET",
        "/params/compression": "NONE",
        "/params/mode": "Server-to-server",
        "/params": {"path": "x"},
    },
}


def _paths_in(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside a JSON value, as key/index paths (the root is ``()``)."""
    places = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            places += _paths_in(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            places += _paths_in(child, (*prefix, index))
    return places


@st.composite
def mutated(draw: Any, value: Any) -> Any:
    """``value`` with one place (maybe the whole of it) replaced by garbage."""
    place = draw(st.sampled_from(_paths_in(value)))
    garbage = draw(GARBAGE)
    if not place:
        return garbage
    result = copy.deepcopy(value)
    parent = result
    for key in place[:-1]:
        parent = parent[key]
    parent[place[-1]] = garbage
    return result


def _not_served(ctx: Any) -> bool:
    return (ctx.operation.method.upper(), ctx.operation.path) not in SERVED


def _schema(max_examples: int, *, spec_examples: bool, busy: int | None = None) -> Any:
    """The served operations.

    ``spec_examples``: the spec's examples, coverage (boundary values) and fuzzing, positive
    and negative (missing or broken headers, wrong types). Without it: positive fuzzing only,
    since the test grafts the broken parts itself and needs the auth headers to reach handlers.
    ``busy`` examples (instead of ``max_examples``) for the operations that change state or
    list it, where bugs hide: creating and patching flows, listing flows and runs.
    """
    generation = {"max-examples": max_examples, "deterministic": True, "database": "none"}
    phases = {}
    if not spec_examples:
        generation["mode"] = "positive"
        phases = {"examples": {"enabled": False}, "coverage": {"enabled": False}}
    config: dict[str, Any] = {
        "seed": SEED,
        "generation": generation,
        "phases": phases,
        # A slow CI machine must not fail the run: the example count bounds it, not a clock.
        "suppress-health-check": ["too_slow"],
    }
    if busy:
        config["operations"] = [
            {"include-name": f"{method} {path}", "generation": {"max-examples": busy}}
            for method, path in BUSY
        ]
    loaded = schemathesis.openapi.from_path(SPEC, config=schemathesis.Config.from_dict(config))
    return loaded.exclude(func=_not_served)  # not include(): it would widen the [[operations]] set


#: As the spec describes requests: its examples, boundary values, then random ones.
spec_schema = _schema(MAX_EXAMPLES, spec_examples=True)
#: Random requests with live references grafted in (schemathesis cannot mix these with examples).
grafted_schema = _schema(MAX_EXAMPLES, spec_examples=False, busy=BUSY_EXAMPLES)


def test_the_served_and_unserved_lists_cover_the_spec():
    """A new operation in the spec must be placed on one list (and fuzzed if served)."""
    document = schemathesis.openapi.from_path(SPEC)
    listed = {
        (op.method.upper(), op.path) for result in document.get_all_operations() for op in [result.ok()]
    }
    assert listed == SERVED | NOT_SERVED
    assert not SERVED & NOT_SERVED


class World:
    """Live entities in the fuzz sandbox, rebuilt when a fuzzed DELETE removed them."""

    def __init__(self, emulator: RunningEmulator) -> None:
        self.api = Api(emulator, SANDBOX)
        self.ids: dict[str, str] = {}
        self.dirty = False

    @property
    def headers(self) -> dict[str, str]:
        return dict(self.api.headers)

    def live(self) -> dict[str, str]:
        """The live ids; looked at again only after a DELETE succeeded somewhere."""
        if self.dirty and any(self.api.call("GET", path).status_code != 200 for path in self._paths()):
            self.ids = {}
        if not self.ids:
            self.ids = self._build()
        self.dirty = False
        return self.ids

    def _paths(self) -> list[str]:
        ids = self.ids
        return [
            f"/flows/{ids['flow']}",
            f"/flows/{ids['once_flow']}",
            f"/runs/{ids['failed_run']}",
            f"/flows/{ids['segment_flow']}",
            f"/runs/{ids['run']}",
            f"/connections/{ids['base']}",
            f"/sourceConnections/{ids['source']}",
            f"/targetConnections/{ids['target']}",
        ]

    def _build(self) -> dict[str, str]:
        ids = make_pipeline(self.api)
        segment = campaign_flow(self.api)
        assert activate(self.api, segment["flow"], [SELECTOR], ["person.name.lastName"]).status_code == 200
        flow = self.api.ok("GET", f"/flows/{segment['flow']}")["items"][0]
        ids["segment_flow"] = segment["flow"]
        ids["segment_source"] = flow["sourceConnectionIds"][0]
        ids["segment_target"] = segment["target"]
        ids["run"] = self.api.wait_for_run(ids["flow"])["id"]
        # A one-time flow takes POST /runs; its runs fail their first attempt, for RE_TRIGGER.
        once = seed.dataflow("amazon_s3", ids["source"], ids["target"])
        once["scheduleParams"] = {"exportMode": "DAILY_FULL_EXPORT", "timeUnit": "day", "interval": 0,
                                  "startTime": 1675901210}  # fmt: skip
        ids["once_flow"] = self.api.ok("POST", "/flows", 201, json=once)["id"]
        self.api.emulator.add_fault(flow=ids["once_flow"], fail_run_attempts=1)
        ids["failed_run"] = self.api.wait_for_run(ids["once_flow"], status="failed")["id"]
        return ids

    def rearm(self, flow_id: str) -> None:
        """Make a patched flow due for one more run now, so the run clock meets what was stored."""
        state = self.api.emulator.emulator.state
        last = self.api.emulator.config.max_runs_per_flow - 1
        with state.lock:
            meta = state.data["meta"]["flows"].get(flow_id)
            if not meta:
                return
            for schedule in [meta, *(meta.get("segments") or {}).values()]:
                schedule.update({"next_due": 0, "ended": False, "emitted": last})

    def broken(self) -> list[str]:
        """Flows the run engine set aside and runs it could not complete: emulator bugs."""
        state = self.api.emulator.emulator.state
        with state.lock:
            flows = [f for f, meta in state.data["meta"]["flows"].items() if meta.get("broken")]
            runs = [
                run["id"]
                for box in state.data["sandboxes"].values()
                for run in box["runs"].values()
                if any(
                    e.get("code") == "CONNECTOR-1000-500"
                    for e in run["metrics"]["statusSummary"].get("errors") or []
                )
            ]
        return flows + runs

    def etag(self, kind: str, entity_id: str) -> str:
        response = self.api.call("GET", f"/{kind}/{entity_id}")
        return str(response.json()["items"][0]["etag"]) if response.status_code == 200 else '"gone"'


@pytest.fixture(scope="module")
def world(_emulator: RunningEmulator) -> Iterator[World]:
    _emulator.admin.post("/reset").raise_for_status()
    yield World(_emulator)
    _emulator.admin.post("/reset").raise_for_status()


PATH_IDS = {
    "FLOW_ID": ("flow", "segment_flow", "once_flow"),
    "RUN_ID": ("run", "failed_run"),
    "BASE_CONNECTION_ID": ("base",),
    "SOURCE_CONNECTION_ID": ("source",),
    "TARGET_CONNECTION_ID": ("target",),
}


def _graft_path(case: Any, data: Any, live: dict[str, str]) -> None:
    """Point the path at a live entity or a real spec, half of the time."""
    for name in case.path_parameters or {}:
        if not data.draw(OFTEN, label=f"real {name}"):
            continue
        if name in PATH_IDS:
            case.path_parameters[name] = live[data.draw(st.sampled_from(PATH_IDS[name]))]
        elif name == "CONNECTION_SPEC_ID":
            case.path_parameters[name] = data.draw(st.sampled_from(sorted(connection_specs())))
        elif name == "FLOW_SPEC_ID":
            case.path_parameters[name] = data.draw(st.sampled_from(sorted(flow_specs())))


def _graft_query(case: Any, data: Any) -> None:
    """Listing parameters from the documented and the broken ones, on any listing."""
    if case.method.upper() != "GET" or "{" in case.operation.path:
        return
    for name, values in QUERY_VALUES.items():
        if data.draw(st.booleans(), label=f"graft {name}"):
            case.query = {**(case.query or {}), name: data.draw(st.sampled_from(values))}


def _graft_body(case: Any, data: Any, live: dict[str, str]) -> None:
    """A valid create body with one mutation, so validation goes past "unknown id"."""
    if case.method.upper() != "POST" or not data.draw(OFTEN, label="graft body"):
        return
    bodies = {
        "/connections": [copy.deepcopy(b) for b in seed.BASE_CONNECTIONS.values()],
        "/sourceConnections": [seed.SOURCE_CONNECTION],
        "/targetConnections": [seed.target_connection(k, live["base"]) for k in ("amazon_s3",)],
        "/flows": [seed.dataflow("amazon_s3", live["source"], live["target"]), live_segment_flow(live)],
        "/runs": [
            {"flowId": live["once_flow"], "params": {"startTime": 1675901210}},
            {"flowId": live["flow"]},
            {"flowId": live["once_flow"]},
        ],
    }.get(case.operation.path)
    if bodies:
        case.body = data.draw(mutated(data.draw(st.sampled_from(bodies))))


def live_segment_flow(live: dict[str, str]) -> dict[str, Any]:
    return {
        "name": "segments",
        "flowSpec": {"id": SEGMENT_FLOW_SPEC, "version": "1.0"},
        "sourceConnectionIds": [live["segment_source"]],
        "targetConnectionIds": [live["segment_target"]],
        "transformations": [GENERAL_TRANSFORM],
    }


def _graft_patch(case: Any, data: Any) -> None:
    """JSON Patch operations on the fields that matter, with valid or mutated values."""
    if case.method.upper() != "PATCH" or not data.draw(OFTEN, label="graft patch"):
        return
    kind = _kind(case)
    targets = PATCH_TARGETS if kind == "flows" else CONNECTION_PATCH_TARGETS[kind]
    ops = []
    for _ in range(data.draw(st.integers(1, 2))):
        path = data.draw(st.sampled_from(sorted(targets)))
        op = data.draw(st.sampled_from(["add", "replace", "replace", "remove", "ADD", "Replace", "move"]))
        ops.append({"op": op, "path": path, "value": data.draw(mutated(targets[path]))})
    # Adobe's spec documents one operation, not an array, as the body of PATCH /connections/{id}/.
    case.body = ops[0] if kind == "connections" and data.draw(st.booleans(), label="one op") else ops


def _kind(case: Any) -> str:
    """The entity collection of an operation's path: ``connections``, ``flows``, ``runs`` ..."""
    return str(case.operation.path.strip("/").split("/")[0])


def _entity_id(case: Any) -> str:
    return str(next(iter((case.path_parameters or {}).values()), ""))


#: Requests sent per operation, printed by the last test (``pytest -rP``).
SENT: Counter[str] = Counter()


def _call(case: Any, world: World, headers: dict[str, str]) -> None:
    SENT[f"{case.method.upper()} {case.operation.path}"] += 1
    checks = [not_a_server_error]
    if (case.method.upper(), case.operation.path) not in SCHEMA_WAIVED:
        checks.append(response_schema_conformance)
    response = case.call_and_validate(base_url=world.api.emulator.url + FS, headers=headers, checks=checks)
    world.dirty |= case.method.upper() == "DELETE" and response.status_code < 300
    if case.method.upper() == "PATCH" and response.status_code < 300 and _kind(case) == "flows":
        world.rearm(_entity_id(case))


@spec_schema.parametrize()
def test_spec_requests_never_get_a_5xx_and_answers_match_the_spec(case, world):
    world.live()
    _call(case, world, world.headers)


@grafted_schema.given(data=st.data())
@grafted_schema.parametrize()
def test_requests_on_live_entities_never_get_a_5xx(case, data, world):
    live = world.live()
    _graft_path(case, data, live)
    _graft_query(case, data)
    _graft_body(case, data, live)
    _graft_patch(case, data)
    headers = world.headers
    if case.method.upper() == "PATCH" and data.draw(OFTEN, label="current etag"):
        headers["If-Match"] = world.etag(_kind(case), _entity_id(case))
    if not data.draw(OFTEN, label="the fuzz sandbox"):
        headers.pop("x-sandbox-name")
    _call(case, world, headers)


def test_the_run_clock_survived_the_fuzzing(world):
    """After all of the above, the clock still runs flows: a new pipeline gets a successful run.

    And it never had to set a flow aside or give up on a run: what a PATCH stored, it can run.
    """
    print(f"{sum(SENT.values())} fuzzed requests:", dict(sorted(SENT.items())))
    time.sleep(world.api.emulator.config.run_duration + 0.5)  # the last re-armed runs finish
    assert world.broken() == []
    api = Api(world.api.emulator, "after-fuzz")
    flow = make_pipeline(api)["flow"]
    assert api.wait_for_run(flow)["metrics"]["statusSummary"]["status"] == "success"
    assert requests.get(world.api.emulator.url + "/_emulator/health", timeout=5).json()["status"] == "ok"
