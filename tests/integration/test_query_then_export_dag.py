"""Query, then export: the example DAG in real Airflow against the emulator, whose Query Service
runs the SQL (DuckDB): the exported files hold exactly the rows the query wrote."""

from __future__ import annotations

import gzip
import json

import pytest

from aep_emulator.datasets import BY_ID, records
from dags_examples.query_then_export import LOCATION

DAG_ID = "aep_query_then_export"
LOYALTY = BY_ID["6a1f00000000000000000001"]  # "Loyalty Members", the query's table
pytestmark = pytest.mark.integration


def gold_members(min_points: int) -> set[str]:
    return {
        r["personID"] for r in records(LOYALTY, 0, LOYALTY.record_count) if r["loyaltyPoints"] >= min_points
    }


@pytest.mark.parametrize("min_points", [4000])
def test_query_then_export(airflow_home, emulator, min_points):
    before = len(emulator.requests())
    result = airflow_home.dags_test(DAG_ID, {"min_points": min_points})
    states = airflow_home.task_states(DAG_ID)
    assert set(states.values()) == {"success"}, states
    sent = emulator.requests()[before:]

    # Two queries, each submitted once, in Adobe's form: the drop, then the CTAS from the .sql file.
    submits = [r for r in sent if r["method"] == "POST" and r["path"] == "/data/foundation/query/queries"]
    assert [r["body"]["sql"].split()[0] for r in submits] == ["DROP", "--"]
    ctas = submits[1]["body"]
    assert ctas["dbName"] == "prod:all"
    assert ctas["name"].startswith(f"airflow:{DAG_ID}.build_derived_dataset:")
    assert f"WHERE loyaltyPoints >= {min_points}" in ctas["sql"]

    # The query's summary: the rows it wrote and the dataset it made, found in the Catalog.
    built = airflow_home.xcom(DAG_ID, "build_derived_dataset")
    expected = gold_members(min_points)
    assert built["state"] == "SUCCESS"
    assert built["is_ctas"] is True
    assert built["rows"] == len(expected) > 0
    dataset = built["output_dataset"]
    assert dataset["name"].startswith("loyalty_gold_")
    assert dataset["name"] in ctas["sql"]

    # The export's source connection names that dataset; the run exported every row of it.
    source = emulator.entities("sourceConnections")[airflow_home.xcom(DAG_ID, "create_source_connection")]
    assert [d["dataSetId"] for d in source["params"]["datasets"]] == [dataset["id"]]
    summary = airflow_home.xcom(DAG_ID, "wait_for_export_run")
    assert summary["status"] == "success"
    assert summary["output_records"] == built["rows"]
    assert airflow_home.xcom(DAG_ID, "reconcile") == {
        "rows": built["rows"],
        "dataset": dataset,
        "run_id": summary["run_id"],
    }

    # The files hold exactly the query's rows: the gold members, with the selected columns.
    run = emulator.entities("runs")[summary["run_id"]]
    written = run["metrics"]["recordSummary"]["targetSummaries"][0]["entitySummaries"]
    rows = [
        json.loads(line)
        for part in written
        for line in gzip.decompress((emulator.config.exports_dir / part["id"]).read_bytes()).splitlines()
    ]
    assert all(LOCATION["path"] in part["id"] for part in written)
    assert len(rows) == built["rows"]
    assert {r["personID"] for r in rows} == expected
    assert set(rows[0]) == {"personID", "email", "loyaltyPoints", "country"}

    # The query ran in the triggerer, and its output was recorded as an asset event.
    output = result.stdout + result.stderr
    assert "running trigger in line" in output
    assert "Asset event for aep://" in output
    assert f"/prod/{dataset['id']}: query {built['query_id']}" in output
