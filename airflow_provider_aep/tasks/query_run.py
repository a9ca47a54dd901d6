"""What :class:`~airflow_provider_aep.operators.query.AEPQueryOperator` does once it runs: submit
the SQL (or find the query an earlier try submitted), wait in poke, reschedule or deferrable mode,
cancel on a timeout, and report the query with the dataset it wrote.

A query is remote work that costs money and may write a dataset: it is submitted once per task
instance. Its id is kept in the task state store (Airflow 3.3+) before the answer is read, and
the query is named after the task instance, so a retry, a rescheduled look or a lost answer
finds it again instead of running the SQL a second time.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_aep.exceptions import (
    AEPAmbiguousWriteError,
    AEPApiError,
    AEPError,
    AEPQueryFailed,
    AEPValidationError,
)
from airflow_provider_aep.hooks.query_service import (
    QUERY_SUCCEEDED,
    db_name_for,
    query_errors,
    query_is_over,
    query_state,
    summarize_query,
    written_table,
)
from airflow_provider_aep.tasks.mixins import AEPHookMixin
from airflow_provider_aep.utils.task_state import forget, recall, remember, task_state_store

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: The operator (``operators/query.py``, a layer above this module: named, not imported).
AEPQueryOperator = Any

#: The ``task_state_store`` key of the query this task submitted (or asked for and got no answer).
QUERY_KEY = "aep_query"
#: A lost submit is looked for among queries created this long before the request, at most.
CLOCK_SKEW = timedelta(seconds=5)


class _QueryWait(AEPHookMixin, BaseSensorOperator):
    """The wait for one query, run inside :class:`AEPQueryOperator` (poke or reschedule): its poke
    returns the query once it is over; Airflow's sensor loop waits, reschedules and times out."""

    template_fields = ("aep_conn_id", "sandbox_name")

    def __init__(
        self,
        *,
        query_id: str,
        aep_conn_id: str = "aep_default",
        sandbox_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.init_connection(aep_conn_id, sandbox_name)
        self.query_id = query_id
        self._last_state: str | None = None

    def poke(self, context: Context) -> PokeReturnValue:
        query = self.hook.get_query(self.query_id)
        if query_is_over(query):
            return PokeReturnValue(is_done=True, xcom_value=query)
        state = query_state(query)
        # One line per change of state; every look at DEBUG, so a long wait's log stays short.
        (self.log.info if state != self._last_state else self.log.debug)(
            "Query %s is %s", self.query_id, state
        )
        self._last_state = state
        return PokeReturnValue(is_done=False)


def query_name(operator: AEPQueryOperator, context: Context) -> str:
    """The query's name in AEP: one naming this task instance, after the operator's ``name`` when
    given, so an earlier try's query is found by it and never another DAG run's."""
    ti = context.get("ti")
    map_index = getattr(ti, "map_index", -1)
    mapped = f"[{map_index}]" if isinstance(map_index, int) and map_index >= 0 else ""
    instance = f"airflow:{operator.dag_id}.{operator.task_id}{mapped}:{context.get('run_id')}"
    return f"{operator.name} ({instance})" if operator.name else instance


def query_parameters(value: Any) -> dict[str, Any] | None:
    """``query_parameters`` as rendered: a mapping (or its JSON text) of names to plain values."""
    if value in (None, "", {}):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise AEPValidationError(
                "query_parameters", value, "a mapping of parameter names to values (or its JSON)"
            ) from None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) and k for k in value):
        raise AEPValidationError("query_parameters", value, "a mapping of parameter names to values")
    plain = (str, int, float, bool)
    wrong = sorted(k for k, v in value.items() if not isinstance(v, plain))
    if wrong:
        raise AEPValidationError(
            "query_parameters", value, f"text, numbers or booleans as values (not for {wrong})"
        )
    return dict(value)


def run_query(operator: AEPQueryOperator, context: Context) -> dict[str, Any]:
    """Submit the query (or find this task's), wait for it to end, and report it."""
    from airflow_provider_aep.utils.waiting import default_deferrable

    deferrable = default_deferrable() if operator.deferrable is None else operator.deferrable
    if operator.mode == "reschedule" and not deferrable and task_state_store(context) is None:
        raise AEPValidationError(
            "mode",
            operator.mode,
            "'poke' or deferrable=True on this Airflow: reschedule needs the task state store "
            "(Airflow 3.3+) to find its query again at each look",
        )
    sql = str(operator.sql)
    parameters = query_parameters(operator.query_parameters)
    name = query_name(operator, context)
    query_id = _kept_query(operator, context, sql, name) or _submit(operator, context, sql, name, parameters)
    operator.query_id = query_id
    waiter = _waiter(operator, query_id)
    if deferrable:
        first = waiter.poke(context)
        if first.is_done:
            return report(operator, context, dict(first.xcom_value or {}))
        operator.defer(
            trigger=_trigger(operator, query_id, deadline=time.time() + float(waiter.timeout)),
            method_name="execute_complete",
            kwargs={"query_id": query_id},
            timeout=timedelta(seconds=float(waiter.timeout) + 60),
        )
    from airflow.providers.common.compat.sdk import AirflowSensorTimeout

    try:
        query = waiter.execute(context)  # poke loop, or AirflowRescheduleException
    except AirflowSensorTimeout as timeout:
        cancel_query(operator, context, query_id, "the task timed out")
        raise AirflowSensorTimeout(f"Query {query_id}: {timeout}; the query was cancelled") from None
    return report(operator, context, query)


def _digest(sql: str) -> str:
    return hashlib.sha256(sql.encode()).hexdigest()


def _try_number(context: Context) -> int | None:
    number = getattr(context.get("ti"), "try_number", None)
    return number if isinstance(number, int) else None


def _iso(moment: datetime) -> str:
    return (
        moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def _same_sql(query: Mapping[str, Any], sql: str) -> bool:
    request = query.get("request")
    return isinstance(request, Mapping) and request.get("sql") == sql


def _kept_query(operator: AEPQueryOperator, context: Context, sql: str, name: str) -> str | None:
    """The query an earlier look or try of this task submitted for the same SQL, when it is still
    the one to wait for: running, succeeded, or (in the same try) ended otherwise."""
    hook = operator.hook
    if task_state_store(context) is None:
        # No memory of earlier tries: a query of this task instance still running is the one.
        since = getattr(context.get("dag_run"), "start_date", None)
        if not isinstance(since, datetime):  # no DAG run to date it: a day back is far enough
            since = datetime.now(timezone.utc) - timedelta(days=1)
        since_iso = _iso(since - CLOCK_SKEW)
        running = [
            q for q in hook.queries_named(name, since_iso) if _same_sql(q, sql) and not query_is_over(q)
        ]
        if running:
            query_id = str(running[-1]["id"])
            operator.log.info(
                "Query %s (submitted by an earlier try) is still running: waiting for it", query_id
            )
            return query_id
        return None
    kept = recall(context, QUERY_KEY)
    if not isinstance(kept, dict) or kept.get("sql") != _digest(sql) or kept.get("name") != name:
        return None
    query_id = str(kept.get("query_id") or "")
    if not query_id:  # an earlier try asked and never heard back
        found = [q for q in hook.queries_named(name, str(kept.get("asked_at") or "0")) if _same_sql(q, sql)]
        if not found:
            forget(context, QUERY_KEY)
            return None
        query_id = str(found[-1]["id"])
        operator.log.info("Query %s was submitted by an earlier try whose answer was lost", query_id)
        _keep(context, sql, name, query_id)
    try:
        query = hook.get_query(str(query_id))
    except AEPApiError as err:
        if err.status != 404:
            raise
        forget(context, QUERY_KEY)
        return None
    state = query_state(query)
    if not query_is_over(query) or state == QUERY_SUCCEEDED or kept.get("try") == _try_number(context):
        operator.log.info(
            "Query %s (submitted earlier by this task) is %s: not submitting it again", query_id, state
        )
        return str(query_id)
    forget(context, QUERY_KEY)
    operator.log.info("Query %s of an earlier try ended %s: submitting the SQL again", query_id, state)
    return None


def _submit(
    operator: AEPQueryOperator, context: Context, sql: str, name: str, parameters: dict[str, Any] | None
) -> str:
    hook = operator.hook
    asked_at = _iso(datetime.now(timezone.utc) - CLOCK_SKEW)
    remember(
        context,
        QUERY_KEY,
        {"sql": _digest(sql), "name": name, "asked_at": asked_at, "try": _try_number(context)},
    )
    try:
        query = hook.create_query(
            sql,
            db_name=db_name_for(hook.sandbox_name),
            name=name,
            description=operator.description,
            query_parameters=parameters,
        )
    except AEPAmbiguousWriteError as err:
        found = [q for q in hook.queries_named(name, asked_at) if _same_sql(q, sql)]
        if not found:
            # Kept (with when it was asked): the next try looks for a late query before submitting.
            raise AEPError(
                f"{err}; no query named {name!r} is listed since. Running the task again submits it "
                "(it looks for a late one first)."
            ) from err
        query = found[-1]
        operator.log.warning("%s; the query it submitted was found: %s", err, query["id"])
    except AEPApiError:
        forget(context, QUERY_KEY)  # AEP refused: nothing runs
        raise
    query_id = str(query["id"])
    _keep(context, sql, name, query_id)
    operator.log.info("Submitted query %s (%s): %s", query_id, name, query_state(query))
    return query_id


def _keep(context: Context, sql: str, name: str, query_id: str) -> None:
    remember(
        context,
        QUERY_KEY,
        {"sql": _digest(sql), "name": name, "query_id": query_id, "try": _try_number(context)},
    )


def _waiter(operator: AEPQueryOperator, query_id: str) -> _QueryWait:
    """The sensor loop for this query, with the task's settings and hook."""
    waiter = _QueryWait(
        task_id=operator.task_id,
        query_id=query_id,
        aep_conn_id=operator.aep_conn_id,
        sandbox_name=operator.sandbox_name,
        poke_interval=operator.poke_interval,
        mode=operator.mode,
        **({} if operator.timeout is None else {"timeout": operator.timeout}),
    )
    waiter.__dict__["hook"] = operator.hook  # one hook (and token) for the whole task
    return waiter


def _trigger(operator: AEPQueryOperator, query_id: str, deadline: float) -> Any:
    import dataclasses

    return operator.new_trigger(
        query_id=query_id,
        aep_conn_id=operator.aep_conn_id,
        sandbox_name=operator.sandbox_name or None,
        poll_interval=float(operator.poke_interval),
        deadline=deadline,
        retry_policy=dataclasses.asdict(operator.hook.retry_policy),
        timeout=list(operator.hook.timeout),
    )


def query_event(
    operator: AEPQueryOperator, context: Context, event: dict[str, Any], query_id: str | None = None
) -> dict[str, Any]:
    """Back from the triggerer: the query's report, or its failure, timeout or the wait's error."""
    from airflow.providers.common.compat.sdk import AirflowSensorTimeout

    event = event if isinstance(event, dict) else {}
    query_id = query_id or event.get("query_id") or ""
    operator.query_id = query_id
    status = event.get("status")
    if status in ("succeeded", "failed") and isinstance(event.get("query"), dict):
        if status == "failed":
            forget(context, QUERY_KEY)
            raise AEPQueryFailed(query_id, query_state(event["query"]), str(event.get("message") or ""))
        return report(operator, context, event["query"])
    if status == "timeout":
        cancel_query(operator, context, query_id, "the task timed out")
        raise AirflowSensorTimeout(f"Query {query_id}: {event.get('message')}; the query was cancelled")
    raise AEPError(
        f"Query {query_id}: {event.get('message') or 'the trigger sent an event this task cannot read'}"
    )


def report(operator: AEPQueryOperator, context: Context, query: dict[str, Any]) -> dict[str, Any]:
    """The ended query: its summary when it succeeded, else the task fails with AEP's words."""
    state = query_state(query)
    query_id = str(query.get("id") or operator.query_id)
    if state != QUERY_SUCCEEDED:
        from airflow_provider_aep.redaction.secrets import scrub

        forget(context, QUERY_KEY)
        raise AEPQueryFailed(query_id, state, scrub(query_errors(query)))
    table = written_table(str(operator.sql))
    dataset = None
    if table:
        dataset = operator.hook.find_dataset(table)
        if dataset is None:
            operator.log.warning(
                "Query %s wrote table %s, but the Catalog lists no dataset of that name", query_id, table
            )
    summary = summarize_query(query, dataset)
    forget(context, QUERY_KEY)
    operator.query_summary = summary
    _emit_asset_events(operator, context, summary)
    operator.log.info(
        "Query %s %s in %s ms: %s row(s)%s",
        query_id, state, summary["duration_ms"], summary["rows"],
        f", dataset {dataset['name']} ({dataset['id']})" if dataset else "",
    )  # fmt: skip
    return summary


def _emit_asset_events(operator: AEPQueryOperator, context: Context, summary: dict[str, Any]) -> None:
    """Tell downstream DAGs which dataset the query wrote, through the task's asset outlets."""
    from airflow.sdk import Asset, AssetAlias

    from airflow_provider_aep.assets import aep_dataset_uri

    outlets = [o for o in operator.outlets if isinstance(o, (Asset, AssetAlias))]
    dataset = summary.get("output_dataset")
    if not outlets or not dataset:
        return
    hook = operator.hook
    uri = aep_dataset_uri(hook.settings.org_id, hook.sandbox_name, dataset["id"])
    extra = {
        "query_id": summary["query_id"],
        "dataset_id": dataset["id"],
        "dataset_name": dataset["name"],
        "rows": summary["rows"],
    }
    events = context["outlet_events"]
    for outlet in outlets:
        if isinstance(outlet, AssetAlias):
            events[outlet].add(Asset(uri=uri), extra=extra)
        else:
            events[outlet].extra.update(extra)
    operator.log.info("Asset event for %s: query %s, %s row(s)", uri, summary["query_id"], summary["rows"])


def cancel_query(operator: AEPQueryOperator, context: Context | None, query_id: str, why: str) -> None:
    """Ask AEP to cancel the query; a failure to ask is logged, never hides why the task ends.

    The query is forgotten only once AEP answered: a query that could not be cancelled may still
    run, and a retry must wait for it rather than run the SQL a second time.
    """
    if not query_id:
        return
    try:
        asked = operator.hook.cancel_query(query_id)
    except AEPError as err:
        operator.log.error("Query %s could not be cancelled (%s): %s", query_id, why, err)
        return
    if context is not None:
        forget(context, QUERY_KEY)
    operator.log.warning("Query %s: %s", query_id, f"cancelled ({why})" if asked else f"already over ({why})")
