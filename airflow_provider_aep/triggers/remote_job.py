"""The wait every AEP job trigger does: poll one piece of remote work until it ends, then fire once.

A segment job and a Query Service query are both remote work with an id, a state that ends, a
way to cancel it and a summary to hand back. :class:`RemoteJobTrigger` holds what they share (the
async hook, the poll loop with its jitter and deadline, the ``error`` event, cancelling when a
person kills the deferred task); each subclass says how its job is read, judged and cancelled.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

if TYPE_CHECKING:
    from airflow_provider_aep.hooks.aep_async import AEPAsyncHook


class RemoteJobTrigger(BaseTrigger):
    """Polls one remote job asynchronously and fires one event: its outcome, timeout or error.

    :param aep_conn_id: the ``aep`` Airflow connection.
    :param sandbox_name: the sandbox instead of the connection's.
    :param poll_interval: seconds between polls, give or take 10%.
    :param deadline: epoch seconds; past it the trigger reports ``timeout`` (the task's timeout).
    :param retry_policy: the task's hook's retry policy, as a dict of ``RetryPolicy`` fields.
    :param timeout: (connect, read) seconds per request (default: the connection's).
    """

    #: How the job is named in log lines and messages (``Segment job``, ``Query``).
    what: ClassVar[str] = "Job"
    #: The event's key for the job's id (``job_id``, ``query_id``) and the serialized argument's.
    id_field: ClassVar[str] = "job_id"

    def __init__(
        self,
        *,
        aep_conn_id: str = "aep_default",
        sandbox_name: str | None = None,
        poll_interval: float = 30.0,
        deadline: float | None = None,
        retry_policy: dict[str, Any] | None = None,
        timeout: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.aep_conn_id = aep_conn_id
        self.sandbox_name = sandbox_name
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.retry_policy = dict(retry_policy) if retry_policy else None
        self.timeout = list(timeout) if timeout else None

    # -- what each kind of job says --------------------------------------------------------------

    @property
    def job_key(self) -> str:
        """The id of the job this trigger waits for."""
        return str(getattr(self, self.id_field))

    async def fetch(self, hook: AEPAsyncHook) -> dict[str, Any]:
        """Read the job once.

        :param hook: the trigger's async hook.
        :return: the job as AEP answered it.
        """
        raise NotImplementedError

    def state_of(self, job: dict[str, Any]) -> str:
        """The job's state, as its log lines say it.

        :param job: the job as AEP answered it.
        :return: its state, upper case.
        """
        raise NotImplementedError

    def outcome(self, job: dict[str, Any]) -> dict[str, Any] | None:
        """The event for a job that ended (``succeeded`` or ``failed``), or None while it runs.

        :param job: the job as AEP answered it.
        :return: the event's payload, or None.
        """
        raise NotImplementedError

    async def cancel(self, hook: AEPAsyncHook) -> bool:
        """Ask AEP to stop the job.

        :param hook: the trigger's async hook.
        :return: True when AEP took the request.
        """
        raise NotImplementedError

    # -- the shared wait -------------------------------------------------------------------------

    def common_kwargs(self) -> dict[str, Any]:
        """The serialized arguments every job trigger has.

        :return: the arguments, JSON-ready.
        """
        return {
            "aep_conn_id": self.aep_conn_id,
            "sandbox_name": self.sandbox_name,
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "retry_policy": self.retry_policy,
            "timeout": self.timeout,
        }

    @property
    def log(self) -> Any:
        """The triggerer's logger for this trigger class, every line scrubbed of credential shapes
        (one for all the triggers of the class: ``triggers.shared_log``)."""
        from airflow_provider_aep.triggers.shared_log import shared_log

        return shared_log(type(self))

    def hook(self) -> AEPAsyncHook:
        """The async hook this trigger polls through.

        :return: a hook with the task's connection, sandbox, retry policy and timeouts, whose
            retries are logged to this trigger's log.
        """
        from airflow_provider_aep.hooks.aep_async import AEPAsyncHook
        from airflow_provider_aep.hooks.retry import RetryPolicy

        return AEPAsyncHook(
            self.aep_conn_id,
            sandbox_name=self.sandbox_name,
            timeout=self.timeout,
            retry_policy=RetryPolicy(**self.retry_policy) if self.retry_policy else None,
            logger=self.log,
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the job ends, then fire one event; every failure is an ``error`` event.

        Cancellation (the triggerer hands the trigger on, or the task was killed) propagates.
        """
        try:
            async with self.hook() as hook:
                payload = await self._wait(hook)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            payload = self._error(err)
        yield TriggerEvent(payload)

    async def _wait(self, hook: AEPAsyncHook) -> dict[str, Any]:
        last_state: str | None = None
        while True:
            job = await self.fetch(hook)
            ended = self.outcome(job)
            if ended is not None:
                return ended
            state = self.state_of(job)
            if self.deadline is not None and time.time() >= self.deadline:
                return {
                    "status": "timeout",
                    self.id_field: self.job_key,
                    "message": f"{self.what.lower()} {self.job_key} is still {state}",
                }
            # One INFO line per change of state; each poll at DEBUG.
            said = self.log.info if state != last_state else self.log.debug
            said("%s %s is %s; polling again in %ss", self.what, self.job_key, state, self.poll_interval)
            last_state = state
            await asyncio.sleep(self._next_sleep())

    async def on_kill(self) -> None:
        """A person killed the deferred task: cancel the job, so AEP stops working for nobody."""
        try:
            async with self.hook() as hook:
                cancelled = await self.cancel(hook)
        except Exception as err:
            self.log.warning(
                "%s %s could not be cancelled: %s", self.what, self.job_key, self._error(err)["message"]
            )
            return
        if cancelled:
            self.log.info("%s %s: cancellation asked (the task was killed)", self.what, self.job_key)

    def _error(self, err: Exception) -> dict[str, Any]:
        """The ``error`` event for a failure: AEP's own words, or what failed and how, scrubbed."""
        from airflow_provider_aep.exceptions import AEPError
        from airflow_provider_aep.redaction.secrets import scrub

        message = str(err) if isinstance(err, AEPError) else f"the wait failed: {type(err).__name__}: {err}"
        message = scrub(message)
        self.log.error("%s %s: %s", self.what, self.job_key, message)
        return {"status": "error", self.id_field: self.job_key, "message": message}

    def _next_sleep(self) -> float:
        """The poll interval, ±10%, never past the deadline."""
        pause = self.poll_interval * random.uniform(0.9, 1.1)
        if self.deadline is None:
            return pause
        return max(0.0, min(pause, self.deadline - time.time()))
