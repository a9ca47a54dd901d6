"""Runs appear on the accelerated clock, finish with metrics, and write files in AEP's layout."""

from __future__ import annotations

import gzip
import json
import re
import time

import pytest

from aep_emulator.datasets import BY_ID, records
from tests.emulator.pipeline import make_pipeline

DEVICES = BY_ID["5ef3e3259ad2a1191ab7dd7d"]
LAYOUT = re.compile(
    r"^prod/amazon_s3/your-bucket-name/folder/subfolder/5ef3e3259ad2a1191ab7dd7d/"
    r"exportTime=\d{12}/part-[0-9a-z-]+\.json\.gz$"
)


def test_a_run_goes_in_progress_then_success_with_full_metrics(api, emu):
    ids = make_pipeline(api)
    deadline = time.monotonic() + 5
    seen = set()
    while time.monotonic() < deadline and "success" not in seen:
        for run in api.ok("GET", "/runs", params={"property": f"flowId=={ids['flow']}"})["items"]:
            seen.add(run["metrics"]["statusSummary"]["status"])
        time.sleep(0.05)
    assert {"inProgress", "success"} <= seen
    run = api.wait_for_run(ids["flow"])
    metrics = run["metrics"]
    records_ = metrics["recordSummary"]
    assert records_["inputRecordCount"] == records_["outputRecordCount"] == DEVICES.record_count
    assert records_["skippedRecordCount"] == records_["failedRecordCount"] == 0
    assert records_["sourceSummaries"][0]["id"] == DEVICES.id
    assert metrics["fileSummary"]["outputFileCount"] == 1
    assert metrics["sizeSummary"]["outputBytes"] > 0
    assert metrics["durationSummary"]["completedAtUTC"] >= metrics["durationSummary"]["startedAtUTC"]
    flow = api.ok("GET", f"/flows/{ids['flow']}")["items"][0]
    assert flow["lastRunDetails"]["state"] in ("success", "inProgress")
    assert api.ok("GET", f"/runs/{run['id']}")["items"][0]["id"] == run["id"]


def test_exported_file_has_the_layout_and_the_records(api, emu):
    ids = make_pipeline(api)
    run = api.wait_for_run(ids["flow"])
    path = run["metrics"]["recordSummary"]["targetSummaries"][0]["entitySummaries"][0]["id"]
    assert LAYOUT.match(path), path
    lines = gzip.decompress((emu.config.exports_dir / path).read_bytes()).decode().splitlines()
    assert [json.loads(line) for line in lines] == list(records(DEVICES, 0, DEVICES.record_count))


def test_parquet_export(api, emu):
    pq = pytest.importorskip("pyarrow.parquet")
    ids = make_pipeline(api, datasetFileType="PARQUET", compression="NONE")
    run = api.wait_for_run(ids["flow"])
    path = run["metrics"]["recordSummary"]["targetSummaries"][0]["entitySummaries"][0]["id"]
    assert path.endswith(".parquet")
    assert not path.endswith(".gz.parquet")
    table = pq.read_table(emu.config.exports_dir / path)
    assert table.num_rows == DEVICES.record_count
    assert table.column("_id")[0].as_py() == f"{DEVICES.id}-0000000"


def test_parquet_without_pyarrow_fails_the_run_clearly(api, emu, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyarrow", None)
    ids = make_pipeline(api, datasetFileType="PARQUET", compression="GZIP")
    run = api.wait_for_run(ids["flow"], status="failed")
    assert "pyarrow" in run["metrics"]["statusSummary"]["errors"][0]["message"]


def test_injected_run_failure(api, emu):
    ids = make_pipeline(api)
    emu.admin.post(
        f"/flows/{ids['flow']}/fail-next-run", json={"errors": [{"code": "X-1", "message": "disk full"}]}
    )
    run = api.wait_for_run(ids["flow"], status="failed")
    assert run["metrics"]["statusSummary"]["errors"] == [{"code": "X-1", "message": "disk full"}]


def test_incremental_flows_run_again_and_export_only_new_records(api, emu):
    ids = make_pipeline(api)  # every 3 hours: at time scale 36000, ~0.3 s apart
    runs = api.wait_for_runs(ids["flow"], 2)
    counts = sorted(r["metrics"]["recordSummary"]["outputRecordCount"] for r in runs)
    assert counts[:2] == [DEVICES.growth_per_run, DEVICES.record_count]


def test_run_filters_orderby_limit_and_continuation(api, emu):
    flows = []
    for _ in range(3):  # one after the other, so their runs start at different moments
        flows.append(make_pipeline(api)["flow"])
        api.wait_for_run(flows[-1])
    everything = api.ok("GET", "/runs", params={"limit": 100})["items"]
    assert len(everything) >= 3
    newest_first = [r["createdAt"] for r in everything]
    assert newest_first == sorted(newest_first, reverse=True)
    oldest_first = api.ok("GET", "/runs", params={"orderby": "createdAt", "limit": 100})["items"]
    ascending = [r["createdAt"] for r in oldest_first]
    assert ascending == sorted(ascending)
    assert {r["id"] for r in everything} <= {r["id"] for r in oldest_first}
    two = api.ok("GET", "/runs", params={"property": f"flowId=={flows[0]},{flows[1]}", "limit": 100})["items"]
    assert {r["flowId"] for r in two} == {flows[0], flows[1]}
    cutoff = min(r["metrics"]["durationSummary"]["startedAtUTC"] for r in everything)
    later = api.ok(
        "GET", "/runs", params={"property": f"metrics.durationSummary.startedAtUTC>{cutoff}", "limit": 100}
    )["items"]
    assert all(
        r["id"] not in {x["id"] for x in later}
        for r in everything
        if r["metrics"]["durationSummary"]["startedAtUTC"] == cutoff
    )
    assert later
    assert all(r["metrics"]["durationSummary"]["startedAtUTC"] > cutoff for r in later)
    upper = api.ok(
        "GET", "/runs", params={"property": "metrics.statusSummary.status==SUCCESS", "limit": 100}
    )["items"]
    assert upper
    assert all(r["metrics"]["statusSummary"]["status"] == "success" for r in upper)
    page = api.ok("GET", "/runs", params={"limit": 1})
    assert len(page["items"]) == 1
    assert "continuationToken=" in page["_links"]["next"]["href"]
