"""Teardowns in real Airflow with pipelines that share entities: nothing another one uses is deleted."""

from __future__ import annotations

import pytest

from tests.stack import failure_excerpt

pytestmark = pytest.mark.integration


def _named(emulator, kind, name):
    return [e["id"] for e in emulator.entities(kind).values() if e["name"] == name]


def _deletes(emulator):
    return [r["path"] for r in emulator.requests() if r["method"] == "DELETE"]


def test_a_teardown_keeps_the_connections_it_reused_from_another_dag(test_dags_home, emulator):
    test_dags_home.dags_test("aep_shared_long_lived", {})
    long_lived = {
        t: test_dags_home.xcom("aep_shared_long_lived", t) for t in ("source", "base", "target", "flow")
    }
    emulator.admin.delete("/requests").raise_for_status()
    test_dags_home.dags_test("aep_shared_with_teardown", {})
    short = {
        t: test_dags_home.xcom("aep_shared_with_teardown", t) for t in ("source", "base", "target", "flow")
    }
    # The second DAG reused the first one's connections and made its own dataflow.
    assert {k: short[k] for k in ("source", "base", "target")} == {
        k: long_lived[k] for k in ("source", "base", "target")
    }
    assert test_dags_home.xcom("aep_shared_with_teardown", "source", key="created") == []
    assert test_dags_home.xcom("aep_shared_with_teardown", "flow", key="created") == [short["flow"]]
    result = test_dags_home.xcom("aep_shared_with_teardown", "cleanup")
    assert result["deleted"] == [f"flow {short['flow']}"]
    assert sorted(result["kept"]) == sorted(
        [
            f"targetConnection {short['target']}",
            f"sourceConnection {short['source']}",
            f"connection {short['base']}",
        ]
    )
    assert "did not create it" in result["why_kept"][f"sourceConnection {short['source']}"]
    assert _deletes(emulator) == [f"/data/foundation/flowservice/flows/{short['flow']}"]
    # The first DAG's pipeline is whole: its flow and every connection it uses.
    assert _named(emulator, "flows", "shared: long-lived export") == [long_lived["flow"]]
    assert long_lived["target"] in emulator.entities("targetConnections")
    assert long_lived["source"] in emulator.entities("sourceConnections")
    assert long_lived["base"] in emulator.entities("connections")


def test_a_teardown_keeps_what_this_run_created_while_another_flow_uses_it(test_dags_home, emulator):
    test_dags_home.dags_test("aep_shared_overlap", {"another_flow": True})
    ids = {t: test_dags_home.xcom("aep_shared_overlap", t) for t in ("source", "base", "target", "flow")}
    other = test_dags_home.xcom("aep_shared_overlap", "another_flow")
    assert test_dags_home.xcom("aep_shared_overlap", "target", key="created") == [ids["target"]]
    result = test_dags_home.xcom("aep_shared_overlap", "cleanup")
    assert result["deleted"] == [f"flow {ids['flow']}"]
    assert result["why_kept"] == {
        f"targetConnection {ids['target']}": f"still used by flow {other}",
        f"sourceConnection {ids['source']}": f"still used by flow {other}",
        f"connection {ids['base']}": f"still used by targetConnection {ids['target']}",
    }
    # The other team's flow still runs on connections that all exist.
    flow = emulator.entities("flows")[other]
    assert flow["targetConnectionIds"] == [ids["target"]]
    assert ids["target"] in emulator.entities("targetConnections")
    assert ids["base"] in emulator.entities("connections")


def test_a_teardown_keeps_everything_while_another_run_of_its_dag_is_active(test_dags_home, emulator):
    # A second run of the DAG, queued (no scheduler runs it): it reuses the same names.
    triggered = test_dags_home.run("dags", "trigger", "aep_shared_overlap")
    assert triggered.returncode == 0, failure_excerpt(triggered.stdout + triggered.stderr)
    try:
        emulator.admin.delete("/requests").raise_for_status()
        test_dags_home.dags_test("aep_shared_overlap", {})
        flow_id = test_dags_home.xcom("aep_shared_overlap", "flow")
        assert test_dags_home.xcom("aep_shared_overlap", "flow", key="created") == [flow_id]
        result = test_dags_home.xcom("aep_shared_overlap", "cleanup")
        assert result["deleted"] == []
        assert result["why_kept"][f"flow {flow_id}"] == (
            "1 other run(s) of DAG aep_shared_overlap are queued or running and may reuse it"
        )
        assert _deletes(emulator) == []
        assert flow_id in emulator.entities("flows")
    finally:
        test_dags_home.run("dags", "delete", "aep_shared_overlap", "--yes")
