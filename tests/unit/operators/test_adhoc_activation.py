"""AEPAdhocActivationOperator: refuse what AEP would refuse before asking, ask once, return the runs."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from airflow_provider_aep.exceptions import AEPAmbiguousWriteError, AEPApiError, AEPError, AEPValidationError
from airflow_provider_aep.hooks.aep import AEPHook
from airflow_provider_aep.operators.adhoc_activation import (
    ASKED_KEY,
    ORDERS_XCOM_KEY,
    AEPAdhocActivationOperator,
    AEPAdhocActivationRefused,
)

STATUS = "https://platform.adobe.io/data/foundation/flowservice/runs/"


def flow(flow_id="f-1", segments=("a", "b"), state="enabled", schedule=None):
    selectors = [
        {"type": "PLATFORM_SEGMENT", "value": {"id": s, "schedule": schedule or {"startDate": "2020-01-01"}}}
        for s in segments
    ]
    return {
        "id": flow_id,
        "state": state,
        "transformations": [
            {"name": "GeneralTransform", "params": {"segmentSelectors": {"selectors": selectors}}}
        ],
    }


class StateStore:
    def __init__(self, kept=None):
        self.kept = dict(kept or {})

    def get(self, key):
        return self.kept.get(key)

    def set(self, key, value):
        self.kept[key] = json.loads(json.dumps(value))

    def delete(self, key):
        self.kept.pop(key, None)


class TI:
    def __init__(self):
        self.pushed = {}

    def xcom_push(self, key, value):
        self.pushed[key] = value


def ctx(store=None):
    return {"ti": TI(), "task_state_store": store, "dag_run": None}


@pytest.fixture
def aep(mocker, aep_conn):
    hook = mocker.MagicMock()
    hook.get_flow = mocker.patch.object(AEPHook, "get_flow", side_effect=lambda f: flow(f))
    hook.iter_runs = mocker.patch.object(
        AEPHook,
        "iter_runs",
        side_effect=lambda *a, **k: iter(
            [{"id": "r-0", "metrics": {"statusSummary": {"status": "success"}}}]
        ),
    )
    hook.adhoc = mocker.patch.object(
        AEPHook,
        "adhoc_activate",
        return_value={
            "order": [
                {"segment": "a", "order": "f-1", "statusURL": STATUS + "r-1"},
                {"segment": "b", "order": "f-1", "statusURL": STATUS + "r-1"},
            ]
        },
    )
    hook.since = mocker.patch.object(AEPHook, "runs_created_since", return_value=[])
    return hook


def activate_now(**kwargs):
    kwargs.setdefault("flow_id", "f-1")
    kwargs.setdefault("segment_ids", ["a", "b"])
    return AEPAdhocActivationOperator(task_id="activate_now", **kwargs)


def test_reads_the_flow_asks_once_and_returns_the_run_ids(aep):
    context = ctx(StateStore())
    assert activate_now().execute(context) == ["r-1"]
    aep.get_flow.assert_called_once_with("f-1")
    aep.adhoc.assert_called_once_with({"f-1": ["a", "b"]})
    assert context["ti"].pushed[ORDERS_XCOM_KEY] == [
        {"segment": "a", "order": "f-1", "run_id": "r-1"},
        {"segment": "b", "order": "f-1", "run_id": "r-1"},
    ]
    assert ASKED_KEY not in context["task_state_store"].kept


def test_several_flows_get_the_same_audiences(aep):
    aep.adhoc.return_value = {
        "order": [
            {"segment": "a", "order": "f-1", "statusURL": STATUS + "r-1"},
            {"segment": "a", "order": "f-2", "statusURL": STATUS + "r-2"},
        ]
    }
    assert activate_now(flow_id=None, flow_ids=["f-1", "f-2"], segment_ids=["a"]).execute(ctx()) == [
        "r-1",
        "r-2",
    ]
    aep.adhoc.assert_called_once_with({"f-1": ["a"], "f-2": ["a"]})


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"segment_ids": [f"s{i}" for i in range(81)]}, "segment_ids", "at most 80"),
        ({"segment_ids": ["a", "a"]}, "segment_ids", "each audience once"),
        ({"segment_ids": []}, "segment_ids", "non-empty"),
        ({"flow_id": None}, "flow_id", "exactly one"),
        ({"flow_ids": ["f-2"]}, "flow_id", "exactly one"),
        ({"flow_id": None, "flow_ids": ["f-1", "f-1"]}, "flow_ids", "each dataflow once"),
    ],
)
def test_limits_are_refused_at_parse_time(kwargs, field, words):
    with pytest.raises(AEPValidationError, match=field) as refused:
        activate_now(**kwargs)
    assert words in str(refused.value)


def test_an_audience_not_in_the_flow_is_refused_by_name_before_any_request(aep):
    with pytest.raises(AEPValidationError, match=r"segment_ids=.c.*dataflow f-1.*hold a, b"):
        activate_now(segment_ids=["a", "c"]).execute(ctx())
    aep.adhoc.assert_not_called()


def test_a_flow_with_a_run_in_progress_is_refused(aep):
    aep.iter_runs.side_effect = lambda *a, **k: iter(
        [{"id": "r-0", "metrics": {"statusSummary": {"status": "inProgress"}}}]
    )
    with pytest.raises(AEPError, match="run r-0 in progress"):
        activate_now().execute(ctx())
    aep.adhoc.assert_not_called()


@pytest.mark.parametrize(
    ("changed", "words"),
    [
        ({"state": "disabled"}, "is disabled"),
        ({"segments": ()}, "hold none"),
        ({"schedule": {"startDate": (date.today() + timedelta(days=3)).isoformat()}}, "starts on"),
        ({"schedule": {"startDate": "2020-01-01", "endDate": "2020-02-01"}}, "ended on 2020-02-01"),
    ],
)
def test_what_aep_would_refuse_is_refused_first(aep, changed, words):
    aep.get_flow.side_effect = lambda f: flow(f, **changed)
    with pytest.raises(AEPError, match=words):
        activate_now().execute(ctx())
    aep.adhoc.assert_not_called()


def test_a_dataset_flow_is_not_an_activation_flow(aep):
    aep.get_flow.side_effect = lambda f: {"id": f, "state": "enabled", "transformations": []}
    with pytest.raises(AEPValidationError, match="audience activation dataflow"):
        activate_now().execute(ctx())


def test_aeps_refusal_fails_with_its_message_and_what_to_do(aep):
    aep.adhoc.side_effect = AEPApiError(
        status=409, method="POST", path="/disflowprovider/adhocrun",
        detail="Run already going on for audience a for order f-1 with run id r-9",
    )  # fmt: skip
    store = StateStore()
    with pytest.raises(AEPAdhocActivationRefused, match=r"Run already going on.*wait for it"):
        activate_now().execute(ctx(store))
    assert ASKED_KEY not in store.kept


def test_a_lost_answer_adopts_the_runs_started_since(aep):
    aep.adhoc.side_effect = AEPAmbiguousWriteError("POST", "/disflowprovider/adhocrun", "ReadTimeout")
    aep.since.return_value = [{"id": "r-5"}]
    assert activate_now().execute(ctx(StateStore())) == ["r-5"]
    aep.adhoc.assert_called_once()


def test_a_lost_answer_with_no_run_found_fails_saying_so(aep):
    aep.adhoc.side_effect = AEPAmbiguousWriteError("POST", "/disflowprovider/adhocrun", "ReadTimeout")
    with pytest.raises(AEPError, match="no run of f-1 started since"):
        activate_now().execute(ctx(StateStore()))


def test_a_retry_after_a_worker_died_mid_request_adopts_the_runs(aep):
    store = StateStore({ASKED_KEY: {"flows": ["f-1"], "segments": ["a", "b"], "asked_at_ms": 77}})
    aep.since.return_value = [{"id": "r-3"}]
    assert activate_now().execute(ctx(store)) == ["r-3"]
    aep.since.assert_called_once_with("f-1", 77)
    aep.adhoc.assert_not_called()
    assert ASKED_KEY not in store.kept
