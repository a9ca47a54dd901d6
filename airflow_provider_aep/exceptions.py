"""Errors raised by the provider.

Every message names what a person needs to act on and nothing secret: validation errors name
the field, the value and what is allowed; API errors carry status, AEP code, title, detail and
request id, never a header, a token or a request body.

One class per failure. Those a retry cannot heal (a failed run, a disabled flow, a window with
no run, a flow whose schedule ended, a breached record policy) are also Airflow's
``AirflowFailException``: the task fails at once instead of spending its retries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_aep.redaction.secrets import scrub, scrub_data


class AEPError(Exception):
    """Base class of every error raised by airflow-provider-aep.

    ``already_in_aep`` lists what earlier tasks of the DAG run created, so a failure
    mid-pipeline says what exists (and will be reused when the task is cleared).
    """

    already_in_aep: tuple[str, ...] = ()

    def __init__(self, *args: Any) -> None:
        # Scrubbed when built: the text may quote what a server echoed back.
        super().__init__(*(scrub(a) if isinstance(a, str) else a for a in args))

    def __str__(self) -> str:
        text = super().__str__()
        if self.already_in_aep:
            text += (
                "\nAlready in AEP from earlier tasks of this DAG run (reused when this task is cleared): "
                + ", ".join(self.already_in_aep)
            )
        return text


class AEPValidationError(AEPError, ValueError):
    """Input that AEP would refuse, caught before any request is sent."""

    def __init__(self, field: str, value: Any, allowed: str, *, secret: bool = False) -> None:
        self.field = field
        self.value = "***" if secret else scrub_data(value)
        self.allowed = allowed
        shown = "<secret value>" if secret else _show(scrub_data(value))
        super().__init__(f"{field}={shown} is not valid: {allowed}")


#: The ``status`` of an :class:`AEPAuthError` when IMS gave no answer at all.
UNREACHABLE = 0


class AEPAuthError(AEPError):
    """Adobe IMS refused to issue an access token."""

    def __init__(self, status: int, error: str, description: str) -> None:
        self.status = status
        self.error = scrub(error)
        self.description = scrub(description)
        if status == UNREACHABLE:
            super().__init__(f"Adobe IMS could not be reached ({error}): {description}")
        else:
            super().__init__(f"Adobe IMS refused the token request (HTTP {status}): {error}: {description}")

    @classmethod
    def unreachable(cls, ims_url: str, cause: str) -> AEPAuthError:
        """Every try to reach IMS failed to connect or timed out: not retried again by the call
        that needed the token, whose own retries would repeat all of the token's."""
        return cls(UNREACHABLE, cause, f"{ims_url}: retries exhausted")


class AEPApiError(AEPError):
    """A Platform API call failed; parsed from AEP's gateway and problem-JSON error shapes."""

    def __init__(
        self,
        *,
        status: int,
        method: str,
        path: str,
        code: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        code, title, detail = (None if t is None else scrub(t) for t in (code, title, detail))
        self.code = code
        self.title = title
        self.detail = detail
        self.request_id = request_id
        facts = [
            f"code {code}" if code else "",
            title or "",
            detail if detail != title else "",
            f"request id {request_id}" if request_id else "",
        ]
        said = "; ".join(fact for fact in facts if fact)
        super().__init__(f"AEP API {method} {path} failed with HTTP {status}" + (f": {said}" if said else ""))

    @classmethod
    def from_response(
        cls, *, status: int, method: str, path: str, body: Any, headers: Mapping[str, str]
    ) -> AEPApiError:
        """Read both documented error shapes: gateway ``error_code``/``message`` and problem JSON."""
        code = title = detail = None
        request_id = headers.get("x-request-id")
        if isinstance(body, dict):
            if "error_code" in body:
                code = str(body.get("error_code"))
                title = _text(body.get("message"))
            else:
                code = _problem_code(body.get("type")) or _text(body.get("code"))
                title = _text(body.get("title"))
                report = body.get("report")
                report = report if isinstance(report, dict) else {}
                detail = _text(
                    report.get("detailed-message") or body.get("detail") or body.get("errorMessage")
                )
                request_id = _text(report.get("request-id")) or request_id
        elif isinstance(body, str) and body.strip():
            detail = scrub(body.strip())[:500]  # scrubbed first: a cut must not split a secret
        return cls(
            status=status,
            method=method,
            path=path,
            code=code,
            title=title,
            detail=detail,
            request_id=request_id,
        )


class AEPAmbiguousWriteError(AEPError):
    """A create may or may not have happened (response lost, read timeout, 500/502/504).

    Not retried blindly: repeating a POST could create a second connection or dataflow. The
    operators look for the entity first (by name, created since the attempt) and only then retry.
    """

    def __init__(self, method: str, path: str, cause: str, *, still_running: bool = False) -> None:
        self.method = method
        self.path = path
        self.cause = cause
        #: AEP may still be working on it (a read timeout, a 504): the entity can appear later.
        self.still_running = still_running
        super().__init__(f"AEP API {method} {path}: the outcome is unknown ({cause})")


class AEPDataflowRunFailed(AEPError, AirflowFailException):
    """A dataflow run ended in a failure status: retrying the task would see the same failed run.

    ``note`` adds what happened next, e.g. AEP's refusal of the re-trigger that was to heal it.
    """

    def __init__(
        self, run_id: str, status: str, errors: Iterable[Mapping[str, Any]] | Any, note: str | None = None
    ) -> None:
        self.run_id = run_id
        self.status = status
        self.errors = [scrub_data(e) for e in as_error_list(errors)]
        self.note = None if note is None else scrub(note)
        text = f"Dataflow run {run_id} ended with status {status!r}: {error_codes(self.errors)}"
        super().__init__(text + (f"; {self.note}" if self.note else ""))

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.run_id, self.status, self.errors, self.note), dict(self.__dict__)


class AEPDataflowDisabled(AEPError, AirflowFailException):
    """The dataflow is disabled: no scheduled run will start, so waiting (or retrying) is pointless.

    ``detail`` is AEP's own answer when it said so (a refused re-trigger).
    """

    def __init__(self, flow_id: str, detail: str | None = None) -> None:
        self.flow_id = flow_id
        self.detail = None if detail is None else scrub(detail)
        super().__init__(
            f"Dataflow {flow_id} is disabled, so no run will start: enable it "
            "(AEPUpdateDataflowOperator(state='enabled')) or wait for a run by run_id"
            + (f". AEP said: {self.detail}" if self.detail else "")
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.flow_id, self.detail), dict(self.__dict__)


class AEPDataflowEnded(AEPError, AirflowFailException):
    """The awaited dataflow will start no run the wait could see: its schedule ended, or its
    next run starts after the sensor's window."""

    def __init__(self, flow_id: str, reason: str) -> None:
        self.flow_id = flow_id
        self.reason = reason
        super().__init__(
            f"Dataflow {flow_id} will start no run for this wait: {reason}. Extend its schedule "
            "(AEPUpdateDataflowOperator(end_time=... or extend_by_days=...)), widen until, or wait "
            "for a run by run_id"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.flow_id, self.reason), dict(self.__dict__)


class AEPDataflowRecordPolicyBreached(AEPError, AirflowFailException):
    """AEP reports the run a success, but its record counts breach the sensor's policy: retrying
    the sensor would see the same run."""

    def __init__(self, run_id: str, breach: str) -> None:
        self.run_id = run_id
        self.breach = breach
        super().__init__(f"Dataflow run {run_id} succeeded in AEP but breaks the record policy: {breach}")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.run_id, self.breach), dict(self.__dict__)


class AEPDataflowRunMissing(AEPError, AirflowFailException):
    """No run of the dataflow started in the window the sensor watches, and none can any more:
    retrying the sensor would find none again."""

    def __init__(self, flow_id: str, since: str | None, until: str) -> None:
        self.flow_id = flow_id
        self.since = since
        self.until = until
        super().__init__(
            f"No run of dataflow {flow_id} started between {since or 'the beginning'} and {until}: "
            "AEP starts runs on the flow's own schedule (scheduleParams.startTime and interval); "
            "widen since/until, or check that the flow is enabled and its end time not past"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.flow_id, self.since, self.until), dict(self.__dict__)


def _problem_code(type_url: Any) -> str | None:
    """``https://ns.adobe.com/aep/errors/FLOW-1439-404`` → ``FLOW-1439-404``."""
    if isinstance(type_url, str) and type_url:
        return type_url.rstrip("/").rsplit("/", 1)[-1]
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def as_error_list(errors: Any) -> list[dict[str, Any]]:
    """AEP's run ``errors`` as a list of objects, whatever shape they came in.

    A run's failure must fail the task with the run's own words, never with an AttributeError
    on an unexpected shape: null is no error, a string or a list of strings becomes
    ``{"message": ...}``, and one object is a list of one.
    """
    if errors is None or errors == "":
        return []
    if isinstance(errors, (str, Mapping)) or not isinstance(errors, Iterable):
        errors = [errors]
    listed: list[dict[str, Any]] = []
    for error in errors:
        if isinstance(error, Mapping):
            listed.append(dict(error))
        elif error is not None and error != "":
            listed.append({"message": error if isinstance(error, str) else repr(error)})
    return listed


def error_codes(errors: Iterable[Mapping[str, Any]]) -> str:
    """``CODE: message; ...`` of a run's errors, or ``no errors given``."""
    return "; ".join(f"{e.get('code', '?')}: {e.get('message', '')}" for e in errors) or "no errors given"


class AEPSegmentJobFailed(AEPError):
    """A segment job ended FAILED or CANCELLED. A retry of the task starts a new job.

    :param job_id: the segment job.
    :param status: how it ended.
    :param errors: AEP's error text for it.
    """

    def __init__(self, job_id: str, status: str, errors: str) -> None:
        self.job_id = job_id
        self.status = status
        self.errors = errors
        super().__init__(f"Segment job {job_id} ended {status}: {errors}")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.job_id, self.status, self.errors), dict(self.__dict__)


class AEPQueryFailed(AEPError):
    """A Query Service query ended FAILED, KILLED or CANCELLED; the message is AEP's (the SQL
    error's code, text and position). A retry of the task submits the query again.

    :param query_id: the query.
    :param state: how it ended.
    :param errors: AEP's error text for it.
    """

    def __init__(self, query_id: str, state: str, errors: str) -> None:
        self.query_id = query_id
        self.state = state
        self.errors = errors
        super().__init__(f"Query {query_id} ended {state}: {errors}")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.query_id, self.state, self.errors), dict(self.__dict__)


class AEPScheduledQueryRunMissing(AEPError, AirflowFailException):
    """No run of the scheduled query was created in the window the sensor watches, and none can
    be any more (the window closed, or the schedule is disabled or ended): retrying finds none."""

    def __init__(self, schedule_id: str, since: str | None, until: str | None, reason: str) -> None:
        self.schedule_id = schedule_id
        self.since = since
        self.until = until
        self.reason = reason
        super().__init__(
            f"No run of scheduled query {schedule_id} between {since or 'the beginning'} and "
            f"{until or 'now'}: {reason}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.schedule_id, self.since, self.until, self.reason), dict(self.__dict__)


class AEPAdhocActivationRefused(AEPError):
    """AEP refused the ad-hoc activation; the message is AEP's, with what to do about it."""
