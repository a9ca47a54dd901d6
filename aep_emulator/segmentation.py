"""The Segmentation API (audiences, segment jobs) and Adobe's ad-hoc activation API, free of HTTP.

Audiences (segment definitions) are kept per sandbox: the ones the examples and tests use are
there in every sandbox, and ``POST /_emulator/audiences`` adds more. A segment job goes NEW,
PROCESSING, then SUCCEEDED over ``run_duration`` real seconds (or FAILED when the fault plan
says so), with ``segmentedProfileCounter`` from :func:`aep_emulator.segments.population`, the
same counts the activation runs export. Jobs live in memory: a reset, or a state file read
anew, forgets them, as the run engine forgets its schedule.

An ad-hoc activation starts one run per dataflow through the run engine, after AEP's checks:
the v2 ``Accept`` header, at most 80 audiences, each audience in the flow's selectors and its
schedule's range, and no run of the flow already exporting it.
"""

from __future__ import annotations

import copy
import time
import uuid
from datetime import date, datetime, timezone
from typing import Any

from aep_emulator import segments
from aep_emulator import validation as check
from aep_emulator.config import EmulatorConfig
from aep_emulator.errors import EmulatedError, bad_request, not_found
from aep_emulator.faults import FaultPlan
from aep_emulator.runs import RunEngine
from aep_emulator.service import sandbox_id
from aep_emulator.state import State

#: The audiences every sandbox has: those of the examples, the tests and Adobe's documents.
SEED_AUDIENCES = {
    "9f7d37fd-7039-4454-94ef-2b0cd6c3206a": "Interested in Mountain Biking",
    "25768be6-ebd5-45cc-8913-12fb3f348613": "Loyalty Segment",
    "7863c010-e092-41c8-ae5e-9e533186752e": "Work address in the US",
    "db8961e9-d52f-45bc-b3fb-76d0382a6851": "Ad-hoc activation sample audience",
}
MERGE_POLICY_ID = "25c548a0-ca7f-4dcd-81d5-997642f178b9"
#: Profiles in every emulated sandbox (more than any audience holds).
TOTAL_PROFILES = 20_000
MAX_JOB_SEGMENTS = 1500
MAX_ADHOC_AUDIENCES = 80
ADHOC_MEDIA_TYPE = "application/vnd.adobe.adhoc.activation+json"
#: Emulated seconds after an audience's first scheduled export before an ad-hoc one is taken.
ADHOC_COOLDOWN_SECONDS = 3600
JOB_STATUSES = ("NEW", "QUEUED", "PROCESSING", "CANCELLING", "CANCELLED", "FAILED", "SUCCEEDED")
TERMINAL = ("CANCELLED", "FAILED", "SUCCEEDED")


def ups_error(status: int, code: str, title: str, detail: str) -> EmulatedError:
    """Problem JSON with a UPS (Segmentation) code, as the Platform's error guide shows."""
    return EmulatedError(
        status,
        {
            "type": f"https://ns.adobe.com/aep/errors/UPS-{code}",
            "title": title,
            "status": status,
            "detail": detail,
            "report": {"detailed-message": detail, "request-id": uuid.uuid4().hex},
        },
    )


def activation_error(status: int, code: str, detail: str) -> EmulatedError:
    """Problem JSON of the activation service; ``detail`` carries Adobe's documented message."""
    return EmulatedError(
        status,
        {
            "type": f"https://ns.adobe.com/aep/errors/ACTIVATION-{code}",
            "title": "Bad Request" if status == 400 else "Not Acceptable" if status == 406 else "Error",
            "status": status,
            "detail": detail,
            "report": {"detailed-message": detail, "request-id": uuid.uuid4().hex},
        },
    )


def definition(
    sandbox: str, org_id: str, segment_id: str, name: str, description: str = ""
) -> dict[str, Any]:
    """A segment definition as ``GET /segment/definitions/{id}`` answers it."""
    return {
        "id": segment_id,
        "schema": {"name": "_xdm.context.profile"},
        "profileInstanceId": "ups",
        "imsOrgId": org_id,
        "sandbox": {
            "sandboxId": sandbox_id(sandbox),
            "sandboxName": sandbox,
            "type": "production",
            "default": sandbox == "prod",
        },
        "name": name,
        "description": description,
        "expression": {
            "type": "PQL",
            "format": "pql/text",
            "value": f'segmentMembership.ups.id = "{segment_id}"',
        },
        "mergePolicyId": MERGE_POLICY_ID,
        "evaluationInfo": {
            "batch": {"enabled": True},
            "continuous": {"enabled": False},
            "synchronous": {"enabled": False},
        },
        "dataGovernancePolicy": {"excludeOptOut": True},
        "creationTime": 1_700_000_000_000,
        "updateTime": 1_700_000_000_000,
        "updateEpoch": 1_700_000_000,
    }


class Segmentation:
    """Audiences and segment jobs per sandbox, and ad-hoc activation on the run engine."""

    def __init__(self, config: EmulatorConfig, state: State, faults: FaultPlan, engine: RunEngine) -> None:
        self.config = config
        self.state = state
        self.faults = faults
        self.engine = engine
        #: sandbox → {"audiences": {id: definition}, "jobs": {id: job}}; for ``_data`` only.
        self._boxes: dict[str, dict[str, dict[str, Any]]] = {}
        self._data: dict[str, Any] | None = None

    def _box(self, sandbox: str) -> dict[str, dict[str, Any]]:
        """The sandbox's audiences and jobs (call with the state's lock held); forgotten on a reset."""
        if self.state.data is not self._data:
            self._data, self._boxes = self.state.data, {}
        box = self._boxes.get(sandbox)
        if box is None:
            audiences = {
                segment_id: definition(sandbox, self.config.org_id, segment_id, name)
                for segment_id, name in SEED_AUDIENCES.items()
            }
            box = self._boxes[sandbox] = {"audiences": audiences, "jobs": {}}
        return box

    # -- audiences --------------------------------------------------------------------------------

    def add_audiences(self, body: Any) -> list[dict[str, Any]]:
        """``POST /_emulator/audiences``: one ``{"name", "id"?, "description"?, "sandbox"?}`` or a list."""
        items = body.get("audiences", [body]) if isinstance(body, dict) else body
        if not isinstance(items, list) or not items:
            raise bad_request("audiences: an object with a name, or a list of them")
        added = []
        with self.state.lock:
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
                    raise bad_request("each audience needs a name (a non-empty string)")
                segment_id = item.get("id") or str(uuid.uuid4())
                sandbox = item.get("sandbox") or "prod"
                if not isinstance(segment_id, str) or not isinstance(sandbox, str):
                    raise bad_request("id and sandbox must be strings")
                entry = definition(
                    sandbox, self.config.org_id, segment_id, item["name"], str(item.get("description") or "")
                )
                self._box(sandbox)["audiences"][segment_id] = entry
                added.append(copy.deepcopy(entry))
        return added

    def get_definition(self, sandbox: str, segment_id: str) -> dict[str, Any]:
        with self.state.lock:
            found = self._box(sandbox)["audiences"].get(segment_id)
            if found is None:
                raise ups_error(
                    404,
                    "1003-404",
                    "Segment definition not found",
                    f"Segment definition with id {segment_id} not found",
                )
            return copy.deepcopy(found)

    def list_definitions(self, sandbox: str, start: int, limit: int) -> dict[str, Any]:
        with self.state.lock:
            items = list(self._box(sandbox)["audiences"].values())
        chosen = copy.deepcopy(items[start : start + limit])
        return {
            "segments": chosen,
            "page": {
                "totalCount": len(items),
                "totalPages": -(-len(items) // limit),
                "pageSize": len(chosen),
                "limit": limit,
            },
            "link": {
                "next": f"/segment/definitions?start={start + limit}&limit={limit}"
                if start + limit < len(items)
                else ""
            },
        }

    def audience_name(self, sandbox: str, segment_id: str) -> str:
        with self.state.lock:
            found = self._box(sandbox)["audiences"].get(segment_id)
        return str(found["name"]) if found else segment_id

    # -- segment jobs -----------------------------------------------------------------------------

    def create_job(self, sandbox: str, body: Any) -> dict[str, Any]:
        """``POST /segment/jobs``: a job for the listed audiences (or ``*``: all of them)."""
        if isinstance(body, dict) and isinstance(body.get("segments"), list):
            wanted = body["segments"]
            if [s.get("segmentId") if isinstance(s, dict) else None for s in wanted] != ["*"]:
                raise ups_error(
                    400,
                    "1000-400",
                    "Bad Request",
                    'The object form takes segments [{"segmentId": "*"}]: list ids as an array instead',
                )
            every = True
        elif isinstance(body, list):
            every = False
            wanted = body
        else:
            raise ups_error(
                400, "1000-400", "Bad Request", 'The body must be an array of {"segmentId": ...} objects'
            )
        if not wanted:
            raise ups_error(400, "1000-400", "Bad Request", "At least one segmentId is required")
        if len(wanted) > MAX_JOB_SEGMENTS:
            raise ups_error(
                400,
                "1001-400",
                "Bad Request",
                f'At most {MAX_JOB_SEGMENTS} segment definitions per job: use [{{"segmentId": "*"}}] for all',
            )
        ids = []
        if not every:
            for index, item in enumerate(wanted):
                segment_id = item.get("segmentId") if isinstance(item, dict) else None
                if not isinstance(segment_id, str) or not segment_id:
                    raise ups_error(
                        400, "1000-400", "Bad Request", f"[{index}].segmentId must be a segment definition id"
                    )
                ids.append(segment_id)
        now = time.time()
        with self.state.lock:
            box = self._box(sandbox)
            if every:
                ids = list(box["audiences"])
            unknown = [s for s in dict.fromkeys(ids) if s not in box["audiences"]]
            if unknown:
                raise ups_error(
                    400, "1002-400", "Bad Request", f"Segment definitions not found: {', '.join(unknown)}"
                )
            job_id = str(uuid.uuid4())
            stamp = int(now * 1000)
            job = {
                "id": job_id,
                "imsOrgId": self.config.org_id,
                "sandbox": {
                    "sandboxId": sandbox_id(sandbox),
                    "sandboxName": sandbox,
                    "type": "production",
                    "default": sandbox == "prod",
                },
                "profileInstanceId": "ups",
                "source": "api",
                "status": "NEW",
                "batchId": str(uuid.uuid4()),
                "computeJobId": int(now) % 100_000,
                "computeGatewayJobId": str(uuid.uuid4()),
                "segments": [{"segmentId": "*"}] if every else [self._job_segment(box, s) for s in ids],
                "metrics": {"totalTime": {"startTimeInMs": stamp}, "profileSegmentationTime": {}},
                "requestId": f"{uuid.uuid4()}-{stamp}",
                "schema": {"name": "_xdm.context.profile"},
                "properties": {},
                "_links": {
                    "cancel": {"href": f"/segment/jobs/{job_id}", "method": "DELETE"},
                    "checkStatus": {"href": f"/segment/jobs/{job_id}", "method": "GET"},
                },
                "updateTime": stamp,
                "creationTime": stamp,
                "updateEpoch": int(now),
            }
            box["jobs"][job_id] = {
                "job": job,
                "ids": ids,
                "started": now,
                "done_at": now + (self.faults.take_segment_job_delay(ids) or self.config.run_duration),
                "fail_with": self.faults.take_segment_job_failure(ids),
            }
            return copy.deepcopy(job)

    @staticmethod
    def _job_segment(box: dict[str, Any], segment_id: str) -> dict[str, Any]:
        found = box["audiences"][segment_id]
        return {
            "segmentId": segment_id,
            "segment": {
                "id": segment_id,
                "expression": found["expression"],
                "mergePolicyId": MERGE_POLICY_ID,
                "mergePolicy": {"id": MERGE_POLICY_ID, "version": 1},
            },
        }

    def _advance(self, entry: dict[str, Any], now: float) -> dict[str, Any]:
        """The job as it stands at ``now``: NEW, PROCESSING, then its end (or its cancellation)."""
        job = entry["job"]
        if job["status"] in TERMINAL:
            return job
        if job["status"] == "CANCELLING":
            if now >= entry["cancelled_at"]:
                self._end(job, "CANCELLED", now)
            return job
        if now < entry["done_at"]:
            status = "NEW" if now < entry["started"] + self.config.run_duration / 4 else "PROCESSING"
            if status != job["status"]:
                job["status"] = status
                self._touch(job, now)
            return job
        if entry["fail_with"]:
            job["errors"] = copy.deepcopy(entry["fail_with"])
            self._end(job, "FAILED", now)
            return job
        counts = {s: segments.population(s) for s in entry["ids"]}
        job["metrics"].update(
            {
                "segmentedProfileCounter": counts,
                "segmentedProfileByNamespaceCounter": {s: {"email": n} for s, n in counts.items()},
                "segmentedProfileByStatusCounter": {
                    s: {"realized": n, "exited": n // 10} for s, n in counts.items()
                },
                "totalProfiles": TOTAL_PROFILES,
                "totalProfilesByMergePolicy": {MERGE_POLICY_ID: TOTAL_PROFILES},
            }
        )
        self._end(job, "SUCCEEDED", now)
        return job

    def _end(self, job: dict[str, Any], status: str, now: float) -> None:
        stamp = int(now * 1000)
        job["status"] = status
        start = job["metrics"]["totalTime"]["startTimeInMs"]
        job["metrics"]["totalTime"] = {
            "startTimeInMs": start,
            "endTimeInMs": stamp,
            "totalTimeInMs": stamp - start,
        }
        if status == "SUCCEEDED":
            job["metrics"]["profileSegmentationTime"] = {
                "startTimeInMs": start + (stamp - start) // 2,
                "endTimeInMs": stamp,
                "totalTimeInMs": stamp - start - (stamp - start) // 2,
            }
        self._touch(job, now)

    @staticmethod
    def _touch(job: dict[str, Any], now: float) -> None:
        job["updateTime"] = int(now * 1000)
        job["updateEpoch"] = int(now)

    def get_job(self, sandbox: str, job_id: str) -> dict[str, Any]:
        with self.state.lock:
            entry = self._box(sandbox)["jobs"].get(job_id)
            if entry is None:
                raise ups_error(
                    404, "1004-404", "Segment job not found", f"Segment job with id {job_id} not found"
                )
            return copy.deepcopy(self._advance(entry, time.time()))

    def cancel_job(self, sandbox: str, job_id: str) -> dict[str, Any]:
        """``DELETE /segment/jobs/{id}``: marked CANCELLING at once, CANCELLED a moment later."""
        now = time.time()
        with self.state.lock:
            entry = self._box(sandbox)["jobs"].get(job_id)
            if entry is None:
                raise ups_error(
                    404, "1004-404", "Segment job not found", f"Segment job with id {job_id} not found"
                )
            job = self._advance(entry, now)
            if job["status"] not in TERMINAL and job["status"] != "CANCELLING":
                job["status"] = "CANCELLING"
                entry["cancelled_at"] = now + min(0.5, self.config.run_duration / 2)
                self._touch(job, now)
        return {"status": True, "message": f"Segment job with id '{job_id}' has been marked for cancelling"}

    def list_jobs(self, sandbox: str, query: list[tuple[str, str]]) -> dict[str, Any]:
        """``GET /segment/jobs``: ``status``, ``property`` (``a==v``, ``array~key==v``), ``sort``, ``start``, ``limit``."""
        params: dict[str, list[str]] = {}
        for key, value in query:
            params.setdefault(key, []).append(value)
        start = _whole(params.get("start", ["0"])[-1], "start")
        limit = _whole(params.get("limit", ["100"])[-1], "limit") or 100
        now = time.time()
        with self.state.lock:
            jobs = [copy.deepcopy(self._advance(e, now)) for e in self._box(sandbox)["jobs"].values()]
        statuses = {s.upper() for value in params.get("status", []) for s in value.split(",") if s}
        if statuses - set(JOB_STATUSES):
            raise ups_error(400, "1000-400", "Bad Request", f"status must be among {', '.join(JOB_STATUSES)}")
        if statuses:
            jobs = [j for j in jobs if j["status"] in statuses]
        for rule in params.get("property", []):
            jobs = [j for j in jobs if _property_matches(j, rule)]
        sort = params.get("sort", ["creationTime:desc"])[-1]
        field, _, direction = sort.partition(":")
        jobs.sort(
            key=lambda j: (j.get(field) is None, j.get(field) or 0, j["id"]),
            reverse=direction.lower() == "desc",
        )
        chosen = jobs[start : start + limit]
        more = start + limit < len(jobs)
        return {
            "_page": {"totalCount": len(jobs), "pageSize": len(chosen)},
            "children": chosen,
            "_links": {
                "next": {"href": f"/segment/jobs?start={start + limit}&limit={limit}"} if more else {}
            },
        }

    def bulk_get(self, sandbox: str, body: Any) -> dict[str, Any]:
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(
            isinstance(i, dict) and isinstance(i.get("id"), str) for i in ids
        ):
            raise ups_error(400, "1000-400", "Bad Request", 'The body must be {"ids": [{"id": ...}, ...]}')
        results: dict[str, Any] = {}
        for item in ids:
            try:
                results[item["id"]] = self.get_job(sandbox, item["id"])
            except EmulatedError as err:
                results[item["id"]] = err.body
        return {"results": results}

    # -- ad-hoc activation ------------------------------------------------------------------------

    def adhoc_run(self, sandbox: str, accept: str, body: Any, base_url: str) -> dict[str, Any]:
        """``POST /data/core/activation/disflowprovider/adhocrun`` (v2): one run per dataflow, now."""
        version = _adhoc_version(accept)
        if version is None:
            if not (isinstance(body, dict) and body.get("exportIds")):
                raise activation_error(
                    400,
                    "1000-400",
                    f"exportIds is required by version 1 of the ad-hoc activation API; send 'Accept: {ADHOC_MEDIA_TYPE}; version=2' to use version 2",
                )
        elif version != "2":
            raise activation_error(
                406, "1000-406", f"version {version} of {ADHOC_MEDIA_TYPE} is not served; use version=2"
            )
        info = body.get("activationInfo") if isinstance(body, dict) else None
        if not isinstance(info, dict) or not info:
            raise activation_error(
                400, "1001-400", "activationInfo must map dataflow ids to lists of audience ids"
            )
        for flow_id, audiences in info.items():
            if (
                not isinstance(audiences, list)
                or not audiences
                or not all(isinstance(a, str) and a for a in audiences)
            ):
                raise activation_error(
                    400, "1001-400", f"activationInfo.{flow_id} must be a non-empty list of audience ids"
                )
        distinct = {a for audiences in info.values() for a in audiences}
        if len(distinct) > MAX_ADHOC_AUDIENCES:
            raise activation_error(
                400,
                "1002-400",
                f"An ad-hoc activation job activates at most {MAX_ADHOC_AUDIENCES} audiences, not {len(distinct)}",
            )
        now = time.time()
        with self.state.lock:
            flows = self.state.entities(sandbox, "flows")
            for flow_id, audiences in info.items():
                flow = flows.get(flow_id)
                if flow is None:
                    raise not_found("Flow", flow_id)
                self._check_adhoc(sandbox, flow, list(dict.fromkeys(audiences)), now)
            order = []
            for flow_id, audiences in info.items():
                run = self.engine.start_audiences_now(flows[flow_id], list(dict.fromkeys(audiences)), now)
                status_url = f"{base_url.rstrip('/')}/data/foundation/flowservice/runs/{run['id']}"
                order += [
                    {"segment": a, "order": flow_id, "statusURL": status_url}
                    for a in dict.fromkeys(audiences)
                ]
            self.state.save()
        return {"order": order}

    def _check_adhoc(self, sandbox: str, flow: dict[str, Any], audiences: list[str], now: float) -> None:
        """AEP's refusals, with Adobe's documented messages where there is one."""
        transform = check.general_transform(flow.get("transformations"))
        if transform is None:
            raise activation_error(
                400, "1003-400", f"Dataflow {flow['id']} is not an audience activation dataflow"
            )
        if flow.get("state") != "enabled":
            raise activation_error(
                400, "1004-400", f"Dataflow {flow['id']} is {flow.get('state')}: enable it first"
            )
        selected = {
            s["value"]["id"]: s["value"]
            for s in transform["params"]["segmentSelectors"]["selectors"]
            if isinstance(s, dict) and isinstance(s.get("value"), dict)
        }
        today = datetime.fromtimestamp(now, tz=timezone.utc).date()
        outside = [
            a for a in audiences if a not in selected or not _in_range(selected[a].get("schedule"), today)
        ]
        if outside:
            names = ", ".join(
                str(selected.get(a, {}).get("name") or self.audience_name(sandbox, a)) for a in outside
            )
            raise activation_error(
                400, "1005-400", f"Segments {names} are not part of this dataflow or out of schedule range!"
            )
        runs = self.state.runs_of_flows(sandbox, [flow["id"]])
        for run in sorted(runs, key=lambda r: r["createdAt"]):
            meta = self.state.data["meta"]["runs"].get(run["id"]) or {}
            exporting = set(meta.get("segments") or {})
            if meta.get("done") is False:
                going = [a for a in audiences if a in exporting]
                if going:
                    raise activation_error(
                        409,
                        "1006-409",
                        f"Run already going on for audience {going[0]} for order {flow['id']} with run id {run['id']}",
                    )
        for audience in audiences:
            first = min(
                (
                    r["createdAt"]
                    for r in runs
                    if audience
                    in ((self.state.data["meta"]["runs"].get(r["id"]) or {}).get("segments") or {})
                ),
                default=None,
            )
            if first is None or (now - first / 1000) * self.config.time_scale < ADHOC_COOLDOWN_SECONDS:
                raise activation_error(
                    400,
                    "1007-400",
                    f"Audience {audience} was first activated on dataflow {flow['id']} less than an hour ago (or not yet): an ad-hoc activation is taken one hour after the first scheduled export",
                )


def _adhoc_version(accept: str) -> str | None:
    """The version the ``Accept`` header asks of the ad-hoc media type, or None when it names none."""
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() != ADHOC_MEDIA_TYPE:
            continue
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "version":
                return value.strip().strip('"')
        return "1"
    return None


def _in_range(schedule: Any, today: date) -> bool:
    schedule = schedule if isinstance(schedule, dict) else {}
    try:
        start = date.fromisoformat(schedule["startDate"]) if schedule.get("startDate") else None
        end = date.fromisoformat(schedule["endDate"]) if schedule.get("endDate") else None
    except (TypeError, ValueError):
        return False
    return (start is None or start <= today) and (end is None or today <= end)


def _whole(value: str, name: str) -> int:
    if not value.isdigit():
        raise ups_error(400, "1000-400", "Bad Request", f"{name} must be a whole number, not {value[:20]!r}")
    return int(value)


def _property_matches(job: dict[str, Any], rule: str) -> bool:
    """``segments~segmentId==<id>`` (an array's objects) or ``a.b==<v>`` (a path), as Adobe writes them."""
    path, sep, wanted = rule.partition("==")
    if not sep:
        raise ups_error(400, "1000-400", "Bad Request", f"property {rule[:60]!r} must be written name==value")
    array, tilde, key = path.partition("~")
    if tilde:
        items = job.get(array)
        return isinstance(items, list) and any(
            isinstance(i, dict) and str(i.get(key)) == wanted for i in items
        )
    value: Any = job
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value is not None and str(value) == wanted
