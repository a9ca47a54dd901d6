"""AEPQueryTrigger: waits in the triggerer for a Query Service query to end, without a worker slot."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.hooks.query_service import (
    QUERY_SUCCEEDED,
    query_errors,
    query_is_over,
    query_state,
)
from airflow_provider_aep.triggers.remote_job import RemoteJobTrigger

if TYPE_CHECKING:
    from airflow_provider_aep.hooks.aep_async import AEPAsyncHook


class AEPQueryTrigger(RemoteJobTrigger):
    """Polls a query asynchronously and fires one event: ``succeeded`` or ``failed`` (FAILED,
    KILLED or CANCELLED, with AEP's error text), both carrying the query as AEP last answered it;
    or ``timeout`` or ``error`` with a message.

    :class:`~airflow_provider_aep.operators.query.AEPQueryOperator` builds it when it defers. When
    a person kills the deferred task, the query is cancelled (Airflow 3.3+ calls ``on_kill``).

    :param query_id: the query.
    :param aep_conn_id: the ``aep`` Airflow connection.
    :param sandbox_name: the sandbox instead of the connection's.
    :param poll_interval: seconds between polls, give or take 10%.
    :param deadline: epoch seconds; past it the trigger reports ``timeout`` (the task's timeout).
    :param retry_policy: the task's hook's retry policy, as a dict of ``RetryPolicy`` fields.
    :param timeout: (connect, read) seconds per request (default: the connection's).
    """

    what = "Query"
    id_field = "query_id"

    def __init__(
        self,
        *,
        query_id: str,
        aep_conn_id: str = "aep_default",
        sandbox_name: str | None = None,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        retry_policy: dict[str, Any] | None = None,
        timeout: Sequence[float] | None = None,
    ) -> None:
        super().__init__(
            aep_conn_id=aep_conn_id,
            sandbox_name=sandbox_name,
            poll_interval=poll_interval,
            deadline=deadline,
            retry_policy=retry_policy,
            timeout=timeout,
        )
        self.query_id = query_id

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "airflow_provider_aep.triggers.query.AEPQueryTrigger",
            {"query_id": self.query_id, **self.common_kwargs()},
        )

    async def fetch(self, hook: AEPAsyncHook) -> dict[str, Any]:
        """Read the query once.

        :param hook: the trigger's async hook.
        :return: the query.
        """
        return await hook.get_query(self.query_id)

    def state_of(self, job: dict[str, Any]) -> str:
        """The query's state.

        :param job: the query.
        :return: its state, upper case.
        """
        return query_state(job)

    def outcome(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The ``succeeded`` or ``failed`` event once the query ended, else None.

        :param job: the query.
        :return: the event's payload, or None.
        """
        if not query_is_over(job):
            return None
        from airflow_provider_aep.redaction.secrets import scrub

        # The query's own fields (no SQL text: it stays in the task's rendered fields).
        kept = {k: job.get(k) for k in ("id", "state", "rowCount", "elapsedTime", "isCTAS", "isInsertInto")}
        kept["request"] = {"name": (job.get("request") or {}).get("name")}
        if query_state(job) == QUERY_SUCCEEDED:
            return {"status": "succeeded", "query_id": self.query_id, "query": kept}
        return {
            "status": "failed",
            "query_id": self.query_id,
            "query": kept,
            "message": scrub(query_errors(job)),
        }

    async def cancel(self, hook: AEPAsyncHook) -> bool:
        """Ask AEP to cancel the query.

        :param hook: the trigger's async hook.
        :return: True when AEP took the request.
        """
        return await hook.cancel_query(self.query_id)
