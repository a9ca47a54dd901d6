"""The Segmentation API (segment jobs, segment definitions) and Adobe's ad-hoc activation API.

Mixed into :class:`~airflow_provider_aep.hooks.aep.AEPHook`: every call goes through its one
request path (auth, retries, error mapping), under the Platform API it belongs to
(``service="segmentation"``: ``/data/core/ups``; ``service="activation"``:
``/data/core/activation``). The pure readers of a segment job (status, summary, errors) live
here too, so the operator and the trigger read a job the same way.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from airflow_provider_aep.exceptions import AEPError, as_error_list
from airflow_provider_aep.hooks.platform_calls import PlatformCalls
from airflow_provider_aep.utils.ids import check_id, path_segment

JsonDict = dict[str, Any]

#: The ``Accept`` header that selects version 2 of the ad-hoc activation API (mandatory: v1
#: needs the latest export job's id, which v2 does without).
ADHOC_ACCEPT = "application/vnd.adobe.adhoc.activation+json; version=2"
#: Adobe's guardrails: audiences per segment job (above it only ``"*"``, all of them, is allowed)
#: and per ad-hoc activation job.
MAX_SEGMENTS_PER_JOB = 1500
MAX_AUDIENCES_PER_ADHOC_JOB = 80
#: Segment job statuses; the list filter also knows QUEUED.
JOB_SUCCEEDED = "SUCCEEDED"
JOB_FAILURE_STATUSES = ("FAILED", "CANCELLED")
JOB_TERMINAL_STATUSES = (JOB_SUCCEEDED, *JOB_FAILURE_STATUSES)


def as_mapping(value: Any) -> Mapping[str, Any]:
    """``value`` when it is a JSON object, else an empty one: AEP's optional parts may be null."""
    return value if isinstance(value, Mapping) else {}


def job_status(job: Mapping[str, Any]) -> str:
    """A segment job's status, upper case (``UNKNOWN`` when AEP sent none)."""
    return str(job.get("status") or "unknown").upper()


def job_is_over(job: Mapping[str, Any]) -> bool:
    """SUCCEEDED, FAILED or CANCELLED: the job will not change any more."""
    return job_status(job) in JOB_TERMINAL_STATUSES


def job_errors(job: Mapping[str, Any]) -> str:
    """AEP's words for a failed job (``errors``: code and message, or ``msg``), or a plain note."""
    said = []
    for error in as_error_list(job.get("errors")):
        code = error.get("code") or error.get("errorCode")
        text = error.get("message") or error.get("msg") or error.get("description") or ""
        said.append(f"{code}: {text}" if code else str(text))
    return "; ".join(s for s in said if s) or "AEP gave no error text"


def job_segment_ids(job: Mapping[str, Any]) -> list[str]:
    """The audiences a job evaluates, as AEP lists them (``segments[].segmentId``)."""
    segments = job.get("segments")
    segments = segments if isinstance(segments, list) else []
    return [str(s["segmentId"]) for s in segments if isinstance(s, Mapping) and s.get("segmentId")]


def summarize_segment_job(job: Mapping[str, Any]) -> JsonDict:
    """What the segment job task returns (XCom, JSON): ids, status, profiles per audience, total.

    Counts come from ``metrics.segmentedProfileCounter`` (Adobe's property table also spells it
    ``segmentProfileCounter``: both are read); a running job may have no metrics yet.
    """
    from airflow_provider_aep.redaction.secrets import scrub

    metrics = as_mapping(job.get("metrics"))
    counter = as_mapping(metrics.get("segmentedProfileCounter") or metrics.get("segmentProfileCounter"))
    total_time = as_mapping(metrics.get("totalTime"))
    status = job_status(job)
    return {
        "job_id": job.get("id"),
        "status": status,
        "segments": [{"id": s, "profiles": counter.get(s)} for s in job_segment_ids(job)],
        "total_profiles": metrics.get("totalProfiles"),
        "duration_ms": total_time.get("totalTimeInMs"),
        "errors": scrub(job_errors(job)) if status in JOB_FAILURE_STATUSES else None,
    }


def rendered_list(value: Any) -> Any:
    """A list rendered as text (a template without ``render_template_as_native_obj``), as a list."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            return json.loads(value)
        except ValueError:
            import ast

            try:
                return ast.literal_eval(value.strip())
            except (ValueError, SyntaxError):
                return value
    return value


def check_segment_ids(field: str, value: Any, *, limit: int) -> list[str]:
    """A non-empty list of distinct audience ids, at most ``limit``: refused here, before any request."""
    from airflow_provider_aep.exceptions import AEPValidationError

    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise AEPValidationError(field, value, "a non-empty list of audience (segment definition) ids")
    if len(value) > limit:
        raise AEPValidationError(
            field, f"<{len(value)} ids>", f"at most {limit} audiences per job (Adobe's guardrail)"
        )
    ids = [check_id(f"{field}[{i}]", s) for i, s in enumerate(value)]
    twice = sorted({s for s in ids if ids.count(s) > 1})
    if twice:
        raise AEPValidationError(field, twice, "each audience once (these are listed more than once)")
    return ids


class SegmentationMixin(PlatformCalls):
    """Segment jobs, segment definitions and ad-hoc activation, as :class:`AEPHook` methods."""

    # -- segment jobs --------------------------------------------------------------------------

    def create_segment_job(self, segment_ids: Sequence[str]) -> JsonDict:
        """``POST /segment/jobs``: evaluate these audiences now; the new job (AEP answers 200).

        Sent once (a second POST would start a second evaluation): a lost answer raises
        ``AEPAmbiguousWriteError``; :meth:`segment_jobs_since` finds what it started.

        :param segment_ids: the audiences (segment definition ids), at most 1500.
        :return: the job, with its ``id`` and ``status``.
        """
        ids = check_segment_ids("segment_ids", segment_ids, limit=MAX_SEGMENTS_PER_JOB)
        body = [{"segmentId": s} for s in ids]
        _, job = self.request("POST", "/segment/jobs", json=body, idempotent=False, service="segmentation")
        if not isinstance(job, dict) or not job.get("id"):
            raise AEPError("AEP POST /segment/jobs answered without a job id")
        return job

    def get_segment_job(self, job_id: str) -> JsonDict:
        """``GET /segment/jobs/{id}``: the job, its status and (once done) its metrics.

        :param job_id: the segment job.
        :return: the job.
        """
        _, job = self.request("GET", _job_path(job_id), service="segmentation")
        return job if isinstance(job, dict) else {}

    def cancel_segment_job(self, job_id: str) -> bool:
        """``DELETE /segment/jobs/{id}``: ask AEP to cancel the job (it goes CANCELLING, then CANCELLED).

        AEP documents a 204 with a body; 200 or 204, with a body or without, are all taken.

        :param job_id: the segment job.
        :return: True when AEP took the request, False when the job does not exist (404).
        """
        status, _ = self.request("DELETE", _job_path(job_id), missing_ok=True, service="segmentation")
        return status != 404

    def segment_jobs_since(self, segment_ids: Iterable[str], since_ms: int) -> list[JsonDict]:
        """Jobs created at or after ``since_ms`` that evaluate exactly these audiences, oldest first:
        what a create whose answer was lost started.

        :param segment_ids: the audiences the create asked for.
        :param since_ms: epoch milliseconds, a little before the create was sent.
        :return: the jobs found (newest 100 looked at).
        """
        wanted = sorted(set(segment_ids))
        if not wanted:
            return []
        params = [
            ("property", f"segments~segmentId=={wanted[0]}"),
            ("sort", "creationTime:desc"),
            ("limit", 100),
        ]
        _, body = self.request("GET", "/segment/jobs", params=params, service="segmentation")
        children = (body or {}).get("children") if isinstance(body, dict) else None
        found = [
            job
            for job in children or []
            if isinstance(job, dict)
            and int(job.get("creationTime") or 0) >= since_ms
            and sorted(job_segment_ids(job)) == wanted
        ]
        return sorted(found, key=lambda job: (int(job.get("creationTime") or 0), str(job.get("id"))))

    # -- segment definitions (audiences) --------------------------------------------------------

    def get_segment_definition(self, segment_id: str) -> JsonDict | None:
        """``GET /segment/definitions/{id}``: one audience, or None when there is no such audience.

        :param segment_id: the audience (segment definition) id.
        :return: the definition (``name``, ``expression``, ...), or None on a 404.
        """
        path = f"/segment/definitions/{path_segment('segment_id', segment_id)}"
        status, body = self.request("GET", path, missing_ok=True, service="segmentation")
        if status == 404:
            return None
        return body if isinstance(body, dict) else {}

    def missing_audiences(self, segment_ids: Iterable[str]) -> list[str]:
        """The audiences that do not exist in the sandbox, in the order given (each once).

        Activation calls it before it changes a dataflow, so a mistyped id is refused by name.

        :param segment_ids: audience ids, or segment selectors' ids.
        :return: the ids AEP has no segment definition for.
        """
        return [s for s in dict.fromkeys(segment_ids) if self.get_segment_definition(s) is None]

    # -- ad-hoc activation ---------------------------------------------------------------------

    def adhoc_activate(self, activation_info: Mapping[str, Sequence[str]]) -> JsonDict:
        """``POST /disflowprovider/adhocrun`` (v2): export these audiences now on these dataflows.

        Sent once: a repeat while the first is running is refused by AEP ("Run already going
        on"), and a lost answer raises ``AEPAmbiguousWriteError`` for the caller to look first.

        :param activation_info: dataflow id → the audience ids to export on it now.
        :return: AEP's answer, ``{"order": [{"segment", "order", "statusURL"}, ...]}``; the
            last path segment of ``statusURL`` is the Flow Service run to wait for.
        """
        body = {
            "activationInfo": {
                check_id("flow_id", flow_id): [check_id("segment_ids", s) for s in segment_ids]
                for flow_id, segment_ids in activation_info.items()
            }
        }
        _, answer = self.request(
            "POST",
            "/disflowprovider/adhocrun",
            json=body,
            headers={"Accept": ADHOC_ACCEPT},
            idempotent=False,
            service="activation",
        )
        if not isinstance(answer, dict) or not isinstance(answer.get("order"), list):
            raise AEPError("AEP POST /disflowprovider/adhocrun answered without an order list")
        return answer


def _job_path(job_id: str) -> str:
    return f"/segment/jobs/{path_segment('segment_job_id', job_id)}"


def run_id_of(status_url: Any) -> str:
    """The Flow Service run an ad-hoc order names: the last path segment of its ``statusURL``."""
    from urllib.parse import unquote, urlsplit

    if not isinstance(status_url, str) or not status_url:
        raise AEPError(f"AEP's ad-hoc activation order has no statusURL ({status_url!r})")
    return check_id("statusURL", unquote(urlsplit(status_url).path.rstrip("/").rsplit("/", 1)[-1]))


def now_ms() -> int:
    """Epoch milliseconds now (a function of its own so tests can hold the clock)."""
    return int(time.time() * 1000)
