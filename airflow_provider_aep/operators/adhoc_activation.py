"""Activate audiences now, on existing activation dataflows: Adobe's ad-hoc activation API (v2).

The runs it starts are ordinary Flow Service runs: ``AEPDataflowRunSensor(run_id=...)`` waits for
each and reports its record counts per audience. Adobe's guardrails are checked before the
request where the provider can know them (at most 80 audiences per job, each audience in the
dataflow and in its schedule's range, no run of the dataflow in progress); AEP's own refusal
(an ad-hoc run of the audience already going on, the first hour after its first scheduled
activation) fails the task with AEP's message and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.exceptions import (
    AEPAdhocActivationRefused,
    AEPAmbiguousWriteError,
    AEPApiError,
    AEPError,
    AEPValidationError,
)
from airflow_provider_aep.hooks.segmentation import (
    MAX_AUDIENCES_PER_ADHOC_JOB,
    as_mapping,
    check_segment_ids,
    now_ms,
    rendered_list,
    run_id_of,
)
from airflow_provider_aep.links import AEPDataflowLink
from airflow_provider_aep.operators.base import AEPBaseOperator
from airflow_provider_aep.tasks.mixins import check_when_literal, says_what_exists
from airflow_provider_aep.utils.ids import check_id
from airflow_provider_aep.utils.runs import RUN_CLOCK_SKEW_MS, flow_is_disabled, run_status
from airflow_provider_aep.utils.task_state import forget, recall, remember

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: The ``task_state_store`` key of an ad-hoc request sent whose task did not see it through: a
#: retry adopts the runs it started instead of asking again.
ASKED_KEY = "aep_adhoc_requested"
#: The XCom key of ``[{"segment", "order", "run_id"}, ...]``, one entry per audience and dataflow.
ORDERS_XCOM_KEY = "orders"
#: Run statuses that say a run is over (compared in lower case); any other is still going.
RUN_OVER = ("success", "failed", "failure", "partial_failure", "cancelled")


class AEPAdhocActivationOperator(AEPBaseOperator):
    """Export audiences now on existing activation dataflows (``POST .../disflowprovider/adhocrun``).

    Each dataflow is read first: one that does not activate audiences, is disabled, has a run
    in progress (AEP runs no ad-hoc export beside a scheduled one), or lacks one of the
    audiences in its segment selectors (or has it outside its schedule's dates) is refused
    naming the audience, and nothing is sent. Returns the ids of the runs AEP started, one per
    dataflow (from ``order[].statusURL``), for ``AEPDataflowRunSensor(run_id=...)``; the XCom
    ``orders`` lists ``{"segment", "order", "run_id"}`` per audience. Sent once: a retried task
    whose earlier try's answer was lost adopts the runs started since (Airflow 3.3+). Takes the
    parameters of :class:`.AEPBaseOperator` too.

    :param flow_id: the activation dataflow (``create_flow.output``); or give ``flow_ids``.
    :param flow_ids: several activation dataflows, each exporting all of ``segment_ids``.
    :param segment_ids: the audiences to export now: a non-empty list, each once, at most 80
        (Adobe's limit per ad-hoc job); each must be in every dataflow's segment selectors.
    """

    template_fields: Sequence[str] = ("flow_id", "flow_ids", "segment_ids", "sandbox_name", "aep_conn_id")
    template_fields_renderers = {"flow_ids": "json", "segment_ids": "json"}
    operator_extra_links = (AEPDataflowLink(),)
    ui_color = "#d5c8f0"

    def __init__(
        self,
        *,
        segment_ids: Sequence[str] | str,
        flow_id: str | None = None,
        flow_ids: Sequence[str] | str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.flow_id = flow_id
        self.flow_ids = flow_ids
        self.segment_ids = segment_ids
        self.aep_dataflow_url: str | None = None
        check_when_literal(
            {"flow_id": flow_id, "flow_ids": flow_ids, "segment_ids": segment_ids}, self._check
        )

    def _check(self) -> tuple[list[str], list[str]]:
        """(dataflow ids, audience ids), or AEPValidationError naming the field."""
        segments = check_segment_ids(
            "segment_ids", rendered_list(self.segment_ids), limit=MAX_AUDIENCES_PER_ADHOC_JOB
        )
        given = {
            k: v for k, v in (("flow_id", self.flow_id), ("flow_ids", self.flow_ids)) if v not in (None, "")
        }
        if len(given) != 1:
            raise AEPValidationError(
                "flow_id", self.flow_id, "exactly one of flow_id (one dataflow) and flow_ids (a list)"
            )
        if "flow_id" in given:
            return [check_id("flow_id", self.flow_id)], segments
        flows = rendered_list(self.flow_ids)
        if isinstance(flows, str) or not isinstance(flows, Sequence) or not flows:
            raise AEPValidationError("flow_ids", flows, "a non-empty list of activation dataflow ids")
        ids = [check_id(f"flow_ids[{i}]", f) for i, f in enumerate(flows)]
        if len(set(ids)) != len(ids):
            raise AEPValidationError("flow_ids", ids, "each dataflow once")
        return ids, segments

    @says_what_exists
    def execute(self, context: Context) -> list[str]:
        flows, segments = self._check()
        self.aep_dataflow_url = self.hook.flow_page_url(flows[0])
        what = {"flows": flows, "segments": segments}
        adopted = self._adopt_earlier_try(context, what)
        if adopted is None:
            for flow_id in flows:
                self._check_flow(flow_id, segments)
            adopted = self._ask(context, what)
        orders = adopted
        context["ti"].xcom_push(key=ORDERS_XCOM_KEY, value=orders)
        run_ids = list(dict.fromkeys(o["run_id"] for o in orders))
        for order in orders:
            self.log.info(
                "Audience %s on dataflow %s: run %s", order["segment"], order["order"], order["run_id"]
            )
        return run_ids

    # -- the checks before the request -------------------------------------------------------------

    def _check_flow(self, flow_id: str, segments: list[str]) -> None:
        """Refuse what AEP would refuse or fail, naming the dataflow and the audience."""
        flow = self.hook.get_flow(flow_id)
        selectors = segment_selectors(flow)
        if selectors is None:
            raise AEPValidationError(
                "flow_id",
                flow_id,
                "an audience activation dataflow (with segment selectors); nothing was sent",
            )
        if flow_is_disabled(flow):
            raise AEPError(
                f"Dataflow {flow_id} is disabled: enable it first (AEPUpdateDataflowOperator(state='enabled')); "
                "nothing was sent"
            )
        today = datetime.now(timezone.utc).date()
        for segment_id in segments:
            selector = selectors.get(segment_id)
            if selector is None:
                raise AEPValidationError(
                    "segment_ids",
                    segment_id,
                    f"an audience activated on dataflow {flow_id} (its segment selectors hold "
                    f"{', '.join(selectors) or 'none'}): activate it first (AEPActivateSegmentsOperator); "
                    "nothing was sent",
                )
            outside = outside_schedule(selector, today)
            if outside:
                raise AEPValidationError(
                    "segment_ids",
                    segment_id,
                    f"an audience whose schedule on dataflow {flow_id} covers today: {outside}",
                )
        latest = next(self.hook.iter_runs(flow_id, orderby="-createdAt", limit=1), None)
        if latest is not None and run_status(latest).lower() not in RUN_OVER:
            raise AEPError(
                f"Dataflow {flow_id} has run {latest.get('id')} in progress ({run_status(latest)}): AEP runs no "
                "ad-hoc export beside a scheduled one. Wait for it (AEPDataflowRunSensor) first; nothing was sent"
            )

    # -- the request, once -------------------------------------------------------------------------

    def _ask(self, context: Context, what: dict[str, Any]) -> list[dict[str, str]]:
        asked_at_ms = now_ms() - RUN_CLOCK_SKEW_MS
        remember(context, ASKED_KEY, {**what, "asked_at_ms": asked_at_ms})
        info = {flow_id: list(what["segments"]) for flow_id in what["flows"]}
        try:
            answer = self.hook.adhoc_activate(info)
        except AEPAmbiguousWriteError as err:
            found = self._runs_since(what, asked_at_ms)
            if found is None:
                raise AEPError(
                    f"{err}; no run of {', '.join(what['flows'])} started since. Running the task again asks "
                    "again (it looks for a late run first)."
                ) from err
            self.log.warning("%s; the runs it started were found", err)
            forget(context, ASKED_KEY)
            return found
        except AEPApiError as err:
            forget(context, ASKED_KEY)  # AEP refused: nothing was started
            raise refusal(err, what) from err
        forget(context, ASKED_KEY)
        return [
            {
                "segment": str(o.get("segment")),
                "order": str(o.get("order")),
                "run_id": run_id_of(o.get("statusURL")),
            }
            for o in answer["order"]
            if isinstance(o, Mapping)
        ]

    def _adopt_earlier_try(self, context: Context, what: dict[str, Any]) -> list[dict[str, str]] | None:
        """The runs an earlier try's request started, when it asked the same and never saw the answer."""
        kept = recall(context, ASKED_KEY)
        if not isinstance(kept, dict) or {k: kept.get(k) for k in what} != what:
            return None
        found = self._runs_since(what, int(kept.get("asked_at_ms") or 0))
        forget(context, ASKED_KEY)
        if found is not None:
            self.log.info("The ad-hoc runs of an earlier try were found: not asking again")
        return found

    def _runs_since(self, what: dict[str, Any], since_ms: int) -> list[dict[str, str]] | None:
        """One run per dataflow started since ``since_ms``, as orders; None unless every dataflow has one."""
        orders = []
        for flow_id in what["flows"]:
            started = self.hook.runs_created_since(flow_id, since_ms)
            if not started:
                return None
            run_id = str(started[-1]["id"])
            orders += [{"segment": s, "order": flow_id, "run_id": run_id} for s in what["segments"]]
        return orders


def segment_selectors(flow: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    """Audience id → selector value of an activation dataflow; None for a flow with no selectors."""
    for transformation in flow.get("transformations") or []:
        if not isinstance(transformation, Mapping):
            continue
        params = as_mapping(transformation.get("params"))
        chosen = params.get("segmentSelectors")
        if isinstance(chosen, Mapping):
            found = {}
            for selector in chosen.get("selectors") or []:
                value = selector.get("value") if isinstance(selector, Mapping) else None
                if isinstance(value, Mapping) and value.get("id"):
                    found[str(value["id"])] = dict(value)
            return found
    return None


def outside_schedule(selector: Mapping[str, Any], today: date) -> str | None:
    """Why an audience's schedule does not cover ``today`` (UTC), or None when it does."""
    schedule = as_mapping(selector.get("schedule"))
    try:
        start = date.fromisoformat(str(schedule["startDate"])) if schedule.get("startDate") else None
        end = date.fromisoformat(str(schedule["endDate"])) if schedule.get("endDate") else None
    except ValueError:
        return None  # AEP judges dates it wrote itself
    if start is not None and start > today:
        return f"its schedule starts on {start}"
    if end is not None and end < today:
        return f"its schedule ended on {end}"
    return None


def refusal(err: AEPApiError, what: Mapping[str, Any]) -> AEPAdhocActivationRefused:
    """AEP's refusal, with what to do: its documented messages are recognised, any other is kept."""
    said = " ".join(t for t in (err.detail, err.title) if t)
    if "already going on" in said.lower():
        hint = (
            "an ad-hoc run of the audience is in progress (one at a time per audience): wait for it "
            "(AEPDataflowRunSensor(run_id=...)) and try again"
        )
    elif "schedule range" in said.lower() or "not part of this dataflow" in said.lower():
        hint = (
            "each audience must be activated on the dataflow with a schedule that covers today, and "
            "first exported on that schedule at least an hour ago"
        )
    else:
        hint = "see AEP's message; nothing was started"
    return AEPAdhocActivationRefused(
        f"AEP refused the ad-hoc activation of {', '.join(what['segments'])} on dataflow(s) "
        f"{', '.join(what['flows'])}: {err}. {hint.capitalize()}"
    )
