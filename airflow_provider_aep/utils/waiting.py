"""The state of a wait for a dataflow run, each piece with one owner, and the trigger's event contract.

- the window (from when, until when runs count): :class:`~airflow_provider_aep.utils.runs.WaitWindow`,
  worked out from ``since``/``until`` here (:func:`epoch_ms`);
- the re-trigger record (which run was re-triggered, how often, which failure it answered):
  :class:`RetriggerRecord`, kept by :class:`RetriggerMemory` only, in the task state store, in
  this process and through a deferral;
- what each trigger event carries: :data:`EVENT_KEYS` and :func:`check_event`.

Free of I/O and cheap to import: the sensor module imports it when a DAG file is parsed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_aep.exceptions import AEPError
from airflow_provider_aep.utils.rendered import int_if_digits

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

#: The ``task_state_store`` key that keeps which run was re-triggered and how often.
RETRIGGERED_KEY = "aep_retriggered"
#: Where a re-trigger recorded under ``RETRIGGERED_KEY`` stands: written as ``asking`` before the
#: request goes, ``sent`` once AEP took it, ``refused`` when AEP answered no. Only a ``sent``
#: re-trigger makes the failure it answered stale: after a crash mid-request or a refusal, the
#: failure is still the run's, and the next try re-triggers again or fails with it.
RETRIGGER_ASKING, RETRIGGER_SENT, RETRIGGER_REFUSED = "asking", "sent", "refused"
#: Re-triggering more often than this hides a broken export instead of healing a flaky one.
MAX_RETRIGGERS = 10

#: What each event status of AEPDataflowRunTrigger carries.
EVENT_KEYS = {
    "success": ("summary",),
    "failed": ("summary",),
    "timeout": ("message",),
    "error": ("message",),
    "disabled": ("message",),
    "ended": ("message",),
    "missing": ("message",),
}
SUMMARY_KEYS = ("run_id", "status", "errors")


def check_event(event: Any) -> str:
    """The event's status, once the event is known to carry what that status needs."""
    status = event.get("status") if isinstance(event, dict) else None
    needed = EVENT_KEYS.get(status) if isinstance(status, str) else None
    missing = [k for k in needed or () if k not in event]
    summary = event.get("summary") if isinstance(event, dict) else None
    if (
        needed
        and "summary" in needed
        and not (isinstance(summary, dict) and all(k in summary for k in SUMMARY_KEYS))
    ):
        missing.append("summary." + "/".join(SUMMARY_KEYS))
    if needed is None or missing:
        shown = status if isinstance(status, str) else type(event).__name__
        raise AEPError(
            f"The trigger sent an event this sensor cannot read ({shown}; missing {missing or 'status'})"
        )
    return str(status)


def default_deferrable() -> bool:
    """``[operators] default_deferrable``: what a wait does when ``deferrable`` is not given."""
    from airflow.providers.common.compat.sdk import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


# -- the window ----------------------------------------------------------------------------------------------


def is_moment(value: Any) -> bool:
    """None, a datetime, epoch milliseconds or an ISO 8601 string: run times are milliseconds."""
    value = int_if_digits(value)
    if value is None or value == "" or isinstance(value, datetime):
        return True
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return False
    if isinstance(value, int):
        return 10**12 <= value < 10**14
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def epoch_ms(moment: Any) -> int | None:
    """Epoch milliseconds of ``since``/``until``; a moment without a time zone is UTC, as Airflow reads it."""
    moment = int_if_digits(moment)
    if isinstance(moment, int):
        return moment
    if isinstance(moment, str) and moment:
        moment = datetime.fromisoformat(moment)
    if isinstance(moment, datetime):
        if moment.tzinfo is None or moment.utcoffset() is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return int(moment.timestamp() * 1000)
    return None


def iso_ms(epoch: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 in UTC (None stays None)."""
    return None if epoch is None else datetime.fromtimestamp(epoch / 1000, tz=timezone.utc).isoformat()


# -- the re-trigger record -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetriggerRecord:
    """Which run a wait re-triggered, how often, and which failure the last re-trigger answered.

    Stored as JSON (:meth:`to_json`) under ``RETRIGGERED_KEY``; a record from before ``accepted``
    and ``state`` were kept reads as every re-trigger taken.
    """

    run_id: str | None
    count: int = 0
    #: How many of the ``count`` re-triggers AEP took.
    accepted: int = 0
    #: When the failure the last re-trigger answered ended (its ``completed_at``).
    failed_at: str | None = None
    #: The window start of the wait that made the record: a cleared task's new wait is another.
    since_ms: int | None = None
    #: ``RETRIGGER_ASKING``, ``RETRIGGER_SENT`` or ``RETRIGGER_REFUSED`` (None: an older record).
    state: str | None = None

    @classmethod
    def from_json(cls, value: Any) -> RetriggerRecord | None:
        """The record kept as JSON, or None when there is none."""
        if not isinstance(value, Mapping) or not value:
            return None
        count = int(value.get("count", 0) or 0)
        return cls(
            run_id=value.get("run_id"),
            count=count,
            accepted=int(value.get("accepted", count) or 0),
            failed_at=value.get("failed_at"),
            since_ms=value.get("since_ms"),
            state=value.get("state"),
        )

    def to_json(self) -> dict[str, Any]:
        """The record as the task state store and a deferral's kwargs keep it."""
        return asdict(self)

    def belongs_to(self, *, since_ms: int | None, run_id: str | None) -> bool:
        """Made by this wait: the same window start, and the same run when the wait names one."""
        return self.since_ms == since_ms and (not run_id or self.run_id == run_id)

    @property
    def stale_failed_at(self) -> str | None:
        """The end of the failure that is stale now: only a re-trigger AEP took (``sent``) makes one."""
        return self.failed_at if self.state == RETRIGGER_SENT else None

    @property
    def unconfirmed(self) -> bool:
        """The last re-trigger was refused, or never confirmed (a try died while asking)."""
        return self.state in (RETRIGGER_ASKING, RETRIGGER_REFUSED)


class RetriggerMemory:
    """The one keeper of a wait's :class:`RetriggerRecord`.

    It lives in the task state store across pokes and tries (Airflow 3.3+), in this object for
    the rest of this process, and in a deferral's kwargs (:meth:`carried`, :meth:`carry_in`) so
    that Airflow before 3.3 counts re-triggers across a deferral too. Nothing else reads or
    writes any of the three.
    """

    def __init__(self) -> None:
        self._here: RetriggerRecord | None = None

    def recall(self, context: Context, *, since_ms: int | None, run_id: str | None) -> RetriggerRecord | None:
        """This wait's record (the store's first), or None; a record of another wait is not this one's."""
        from airflow_provider_aep.utils.task_state import recall

        kept = recall(context, RETRIGGERED_KEY)
        record = RetriggerRecord.from_json(kept) if isinstance(kept, Mapping) else self._here
        if record is None or not record.belongs_to(since_ms=since_ms, run_id=run_id):
            return None
        return record

    def keep(self, context: Context, record: RetriggerRecord) -> None:
        """Keep ``record`` in the store and in this process."""
        from airflow_provider_aep.utils.task_state import remember

        self._here = record
        remember(context, RETRIGGERED_KEY, record.to_json())

    def forget(self, context: Context) -> None:
        """The wait has ended: drop the record everywhere, so a cleared task starts afresh."""
        from airflow_provider_aep.utils.task_state import forget

        self._here = None
        forget(context, RETRIGGERED_KEY)

    def carried(self) -> dict[str, Any] | None:
        """What a deferral carries (the record kept in this process), as JSON."""
        return self._here.to_json() if self._here is not None else None

    def carry_in(self, carried: Any) -> None:
        """Take back what :meth:`carried` gave the deferral (nothing: keep what this process has)."""
        record = RetriggerRecord.from_json(carried)
        if record is not None:
            self._here = record


def check_wait(
    mode: Any,
    deferrable: Any,
    poke_interval: Any,
    timeout: Any,
    modes: tuple[str, ...] = ("poke", "reschedule"),
) -> None:
    """Refuse, at DAG parse, wait settings a job operator cannot use, naming the field.

    :param mode: how a worker waits (one of ``modes``).
    :param deferrable: True, False, or None (the configured default).
    :param poke_interval: a positive number of seconds.
    :param timeout: a number of seconds, 0 or more, or None.
    :param modes: the modes the operator offers.
    """
    from airflow_provider_aep.exceptions import AEPValidationError

    if mode not in modes:
        raise AEPValidationError("mode", mode, " or ".join(repr(m) for m in modes))
    if deferrable is not None and not isinstance(deferrable, bool):
        raise AEPValidationError("deferrable", deferrable, "True or False")
    if (
        isinstance(poke_interval, bool)
        or not isinstance(poke_interval, (int, float))
        or not 0 < poke_interval < 10**6
    ):
        raise AEPValidationError("poke_interval", poke_interval, "a positive number of seconds")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 <= timeout < 10**9
    ):
        raise AEPValidationError("timeout", timeout, "a number of seconds, 0 or more, or None")
