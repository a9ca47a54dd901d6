"""Queries that go wrong, in real Airflow against the emulator's Query Service: a SQL error fails
the task with AEP's code, text and position; a query past the task's timeout is cancelled (KILLED)
in poke and in deferrable mode before the task fails."""

from __future__ import annotations

import pytest

from tests.emulator.conftest import Api

DAG_ID = "aep_query_faults"
QUERIES = "/data/foundation/query/queries"
pytestmark = pytest.mark.integration


def test_sql_errors_fail_and_slow_queries_are_cancelled(test_dags_home, emulator):
    emulator.add_fault(delay_queries={"seconds": 300, "sql_contains": "slow_", "times": 2})
    before = len(emulator.requests())
    result = test_dags_home.run("dags", "test", DAG_ID)
    assert test_dags_home.task_states(DAG_ID) == {
        "bad_sql": "failed",
        "slow_query": "failed",
        "slow_query_deferred": "failed",
    }
    sent = emulator.requests()[before:]
    submitted = [r for r in sent if r["method"] == "POST" and r["path"] == QUERIES]
    assert len(submitted) == 3  # each query once: no retry submitted it again

    # Both slow queries were cancelled with Adobe's PATCH, and AEP shows them KILLED.
    cancels = [r for r in sent if r["method"] == "PATCH" and r["path"].startswith(f"{QUERIES}/")]
    assert {tuple(sorted(r["body"].items())) for r in cancels} == {(("op", "cancel"),)}
    assert len(cancels) == 2, cancels
    api = Api(emulator)
    for request in cancels:
        query = api.http.get(f"{emulator.url}{request['path']}", headers=api.headers, timeout=10).json()
        assert query["state"] == "KILLED", query
        assert "slow_" in query["request"]["sql"]

    # The SQL error reached the task's log in AEP's words, with where it is in the SQL.
    output = result.stdout + result.stderr
    assert "ended FAILED:" in output
    assert "(at character" in output
    assert output.count("the query was cancelled") >= 2
