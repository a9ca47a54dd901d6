"""Teardowns delete only what their own run created and what nothing else uses."""

from __future__ import annotations

import logging
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from aep_emulator.listing import matches, parse_filters
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.operators.connections import AEPCreateTargetConnectionOperator
from airflow_provider_aep.operators.dataflows import AEPCreateDataflowOperator, AEPDeleteDataflowOperator
from airflow_provider_aep.tasks.teardown import created_by_this_run, other_active_runs

FLOW = {
    "id": "flow-1",
    "targetConnectionIds": ["target-1"],
    "sourceConnectionIds": ["source-1"],
}
ENTITIES = {
    ("flows", "flow-1"): FLOW,
    ("targetConnections", "target-1"): {"id": "target-1", "baseConnectionId": "base-1"},
    ("sourceConnections", "source-1"): {"id": "source-1"},
}


class RunningTI:
    """A task instance as the Task SDK gives it: XComs by task, and a count of active DAG runs."""

    active_runs = 1
    xcoms: dict[str, Any] = {}

    @staticmethod
    def get_dr_count(dag_id: str, states: list[str] | None = None) -> int:
        assert states == ["queued", "running"]
        return RunningTI.active_runs

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        return self.xcoms.get(task_ids, {}).get(key)


@pytest.fixture
def aep(mocker, aep_conn):
    """The hook's reads and deletes, recorded; ``users`` says what references each entity."""
    deleted: list[tuple[str, str]] = []
    users: dict[str, list[tuple[str, str]]] = {}
    mocker.patch.object(
        AEPHook, "get_entity", autospec=True, side_effect=lambda self, kind, i: ENTITIES.get((kind, i))
    )
    mocker.patch.object(
        AEPHook, "delete_entity", autospec=True,
        side_effect=lambda self, kind, i, missing_ok=False: deleted.append((kind, i)) or True,
    )  # fmt: skip
    mocker.patch.object(
        AEPHook, "users_of", autospec=True, side_effect=lambda self, kind, i: users.get(i, [])
    )
    return deleted, users


def _pipeline() -> tuple[DAG, AEPDeleteDataflowOperator]:
    with DAG("pipeline", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
        target = AEPCreateTargetConnectionOperator(
            task_id="target", destination="data_landing_zone", name="t", base_connection_id="base-1",
            location={"path": "p"},
        )  # fmt: skip
        flow = AEPCreateDataflowOperator(
            task_id="flow", destination="data_landing_zone", name="f", source_connection_id="source-1",
            target_connection_id=target.output, end_time=1975901210,
        )  # fmt: skip
        cleanup = AEPDeleteDataflowOperator(task_id="cleanup", flow_id="flow-1", delete_connections=True)
        flow >> cleanup.as_teardown(setups=flow)
    return dag, cleanup


def _context(created: dict[str, list[str]], active_runs: int = 1) -> dict[str, Any]:
    RunningTI.active_runs = active_runs
    RunningTI.xcoms = {task: {"created": ids} for task, ids in created.items()}
    return {"ti": RunningTI(), "dag_run": object()}


def test_only_what_upstream_creators_say_they_created_counts():
    _, cleanup = _pipeline()
    context = _context({"flow": ["flow-1"], "target": ["target-1"], "unrelated": ["x"]})
    assert created_by_this_run(cleanup, context) == {"flow-1", "target-1"}


def test_the_teardown_deletes_what_this_run_created_and_keeps_what_it_reused(aep):
    deleted, _ = aep
    _, cleanup = _pipeline()
    result = cleanup.execute(_context({"flow": ["flow-1"], "target": ["target-1"]}))
    # The source connection was reused (no create task made it), the base connection was given.
    assert deleted == [("flows", "flow-1"), ("targetConnections", "target-1")]
    assert result["deleted"] == ["flow flow-1", "targetConnection target-1"]
    assert result["kept"] == ["sourceConnection source-1", "connection base-1"]
    assert all("did not create it" in reason for reason in result["why_kept"].values())


def test_a_reused_flow_is_kept_with_all_its_connections(aep):
    deleted, _ = aep
    _, cleanup = _pipeline()
    result = cleanup.execute(_context({"flow": [], "target": ["target-1"]}))
    assert deleted == []
    assert result["kept"] == [
        "flow flow-1",
        "targetConnection target-1",
        "sourceConnection source-1",
        "connection base-1",
    ]
    assert result["why_kept"]["targetConnection target-1"] == "its dataflow flow-1 is kept"


def test_nothing_is_deleted_while_another_run_of_the_dag_is_active(aep):
    deleted, _ = aep
    _, cleanup = _pipeline()
    result = cleanup.execute(_context({"flow": ["flow-1"], "target": ["target-1"]}, active_runs=2))
    assert deleted == []
    assert result["why_kept"]["flow flow-1"] == (
        "1 other run(s) of DAG pipeline are queued or running and may reuse it"
    )


def test_a_connection_another_flow_uses_is_kept_even_when_this_run_created_it(aep):
    deleted, users = aep
    users["target-1"] = [("flows", "flow-1"), ("flows", "flow-other")]  # the listing still shows ours
    _, cleanup = _pipeline()
    result = cleanup.execute(_context({"flow": ["flow-1"], "target": ["target-1"]}))
    assert deleted == [("flows", "flow-1")]
    assert result["why_kept"]["targetConnection target-1"] == "still used by flow flow-other"


def test_told_otherwise_it_deletes_reused_entities_nothing_else_uses(aep):
    deleted, users = aep
    users["base-1"] = [("targetConnections", "target-1")]  # the one deleted just before
    _, cleanup = _pipeline()
    cleanup.only_created_by_this_run = False
    result = cleanup.execute(_context({"flow": []}))
    assert deleted == [
        ("flows", "flow-1"),
        ("targetConnections", "target-1"),
        ("sourceConnections", "source-1"),
        ("connections", "base-1"),
    ]
    assert result["kept"] == []


def test_when_airflow_cannot_count_active_runs_everything_is_kept(aep, mocker):
    deleted, _ = aep
    _, cleanup = _pipeline()
    ti = mocker.Mock(spec=["xcom_pull"])  # an API without get_dr_count
    result = cleanup.execute({"ti": ti, "dag_run": object()})
    assert deleted == []
    assert "cannot tell" in result["why_kept"]["flow flow-1"]
    assert other_active_runs(AEPDeleteDataflowOperator(task_id="alone", flow_id=None), {"ti": ti}) == 0


def test_only_created_by_this_run_must_be_a_boolean():
    from airflow_provider_aep.exceptions import AEPValidationError

    with pytest.raises(AEPValidationError, match="only_created_by_this_run"):
        AEPDeleteDataflowOperator(task_id="d", flow_id=None, only_created_by_this_run="yes")  # type: ignore[arg-type]


class StateStore(dict):
    def set(self, key: str, value: Any) -> None:
        self[key] = value


def test_create_once_says_whether_it_created_or_reused(mocker, aep_conn):
    hook = AEPHook()
    body = {"name": "n", "connectionSpec": {"id": "spec"}}
    mocker.patch.object(AEPHook, "iter_entities", return_value=iter([]))
    mocker.patch.object(AEPHook, "create_entity", return_value={"id": "new-1", "etag": "e"})
    mocker.patch("airflow_provider_aep.hooks.create_once.CONVERGE_SETTLE_SECONDS", 0)
    store = StateStore()
    log = logging.getLogger("test")
    first = hook.create_once("connections", body, if_exists="reuse", state_store=store, log=log)
    assert (first["id"], first["created"]) == ("new-1", True)
    assert store == {"aep_connections_id": "new-1", "aep_connections_created": True}
    # A retry of the task finds its own entity: still created by this run.
    existing = {"id": "new-1", "name": "n", "connectionSpec": {"id": "spec"}, "etag": "e"}
    mocker.patch.object(AEPHook, "get_entity", return_value=existing)
    again = hook.create_once("connections", body, if_exists="reuse", state_store=store, log=log)
    assert (again["id"], again["created"]) == ("new-1", True)
    # Another run finds it by name: reused, not created.
    mocker.patch.object(AEPHook, "iter_entities", return_value=iter([existing]))
    other = hook.create_once("connections", body, if_exists="reuse", state_store=StateStore(), log=log)
    assert (other["id"], other["reused"], other["created"]) == ("new-1", True, False)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("sourceConnectionIds==s-2", True),
        ("sourceConnectionIds==s-9", False),
        ("sourceConnectionIds==s-9,s-1", True),
        ("sourceConnectionIds!=s-1", False),
        ("sourceConnectionIds!=s-9", True),
    ],
)
def test_the_emulator_lists_flows_by_a_connection_id_in_their_lists(expression, expected):
    flow = {"sourceConnectionIds": ["s-1", "s-2"]}
    assert matches(flow, parse_filters([expression])) is expected


def test_a_teardown_after_a_failed_create_rendered_as_text_deletes_nothing(aep):
    deleted, _ = aep
    cleanup = AEPDeleteDataflowOperator(task_id="cleanup", flow_id="{{ ti.xcom_pull('flow') }}")
    cleanup.flow_id = "None"  # what Jinja renders of the XCom of a create that failed
    assert cleanup.execute({"ti": RunningTI()}) == {
        "deleted": [],
        "already_gone": [],
        "kept": [],
        "why_kept": {},
    }
    assert deleted == []
