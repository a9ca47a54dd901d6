"""A run read is cheap (a copy made once per change of the run) and still shows every change;
a seed dataset's export is encoded once for all the runs that export it."""

from __future__ import annotations

import gzip
import json
import time

from aep_emulator.datasets import BY_ID, records
from aep_emulator.exports import seed_export
from aep_emulator.state import ReadCopies, State, json_copy
from tests.emulator.pipeline import make_pipeline

DEVICES = BY_ID["5ef3e3259ad2a1191ab7dd7d"]


def test_json_copy_is_a_deep_copy():
    original = {"a": [1, {"b": "c"}], "d": {"e": None, "f": 1.5, "g": True}}
    copied = json_copy(original)
    assert copied == original
    copied["a"][1]["b"] = "changed"
    copied["d"]["e"] = 1
    assert original == {"a": [1, {"b": "c"}], "d": {"e": None, "f": 1.5, "g": True}}


def test_a_copy_is_reused_only_while_the_run_is_unchanged():
    state = State()
    copies = ReadCopies(state)
    run = {"id": "r1", "etag": '"1"', "metrics": {"statusSummary": {"status": "inProgress"}}}
    first = copies.of(run)
    assert copies.of(run) is first
    assert first == run
    assert first is not run
    run["metrics"]["statusSummary"]["status"] = "success"
    run["etag"] = '"2"'
    second = copies.of(run)
    assert second is not first
    assert second["metrics"]["statusSummary"]["status"] == "success"
    assert first["metrics"]["statusSummary"]["status"] == "inProgress"
    # Another object under the same id (a state file read again) is copied anew.
    replaced = json_copy(run)
    replaced["metrics"]["statusSummary"]["status"] = "failed"
    assert copies.of(replaced)["metrics"]["statusSummary"]["status"] == "failed"
    # A reset forgets every copy.
    state.reset()
    assert copies.of(run) is not second


def test_reads_of_a_run_show_each_change_of_its_state(api, emu):
    ids = make_pipeline(api)
    seen: list[str] = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and "success" not in seen:
        for run in api.ok("GET", "/runs", params={"property": f"flowId=={ids['flow']}"})["items"]:
            status = run["metrics"]["statusSummary"]["status"]
            if not seen or seen[-1] != status:
                seen.append(status)
            single = api.ok("GET", f"/runs/{run['id']}")["items"][0]
            assert single["metrics"]["statusSummary"]["status"] in (status, "success")
        time.sleep(0.02)
    assert seen[:1] == ["inProgress"]
    assert seen[-1] == "success"
    run = api.wait_for_run(ids["flow"])
    assert run["metrics"]["recordSummary"]["outputRecordCount"] == DEVICES.record_count
    # A listing after a re-read gives the same answer, not a stale one nor a changed one.
    again = api.ok("GET", "/runs", params={"property": f"flowId=={ids['flow']}"})["items"]
    assert [r for r in again if r["id"] == run["id"]] == [run]


def test_runs_exporting_the_same_records_write_the_same_bytes_encoded_once(api, emu):
    seed_export.cache_clear()
    paths = []
    for _ in range(2):
        ids = make_pipeline(api)
        run = api.wait_for_run(ids["flow"])
        paths.append(run["metrics"]["recordSummary"]["targetSummaries"][0]["entitySummaries"][0]["id"])
    assert paths[0] != paths[1]
    payloads = [(emu.config.exports_dir / path).read_bytes() for path in paths]
    assert payloads[0] == payloads[1]
    lines = gzip.decompress(payloads[0]).decode().splitlines()
    assert [json.loads(line) for line in lines] == list(records(DEVICES, 0, DEVICES.record_count))
    info = seed_export.cache_info()
    assert info.hits >= 1  # the second flow's first run wrote the bytes the first one encoded
