"""The Flow Service's behaviour, free of HTTP: creates, reads, patches, deletes, listings, auth."""

from __future__ import annotations

import copy
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from aep_emulator import credentials, patching, segments
from aep_emulator import validation as check
from aep_emulator.catalog import (
    DATA_LAKE_SPEC_ID,
    PROFILE_STORE_SPEC_ID,
    enhanced_audience_targets,
    is_enhanced_audience_flow,
)
from aep_emulator.config import EmulatorConfig
from aep_emulator.errors import (
    EmulatedError,
    bad_request,
    flow_error,
    gateway_error,
    not_found,
)
from aep_emulator.faults import FaultPlan
from aep_emulator.jsonpatch import apply_patch
from aep_emulator.lake import DataLake
from aep_emulator.listing import matches, order, parse_filters
from aep_emulator.state import ReadCopies, State, json_copy

SIX_MONTHS_SECONDS = 183 * 86400
DEFAULT_SANDBOX = "prod"
#: AEP sandbox names: lowercase letters, digits and hyphens, starting with a letter or digit.
SANDBOX_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}", re.ASCII)
#: Fields Flow Service sets on a flow; a PATCH that touches them is refused (400 naming the path).
OWNED_FLOW_FIELDS = frozenset(
    {
        "id", "state", "etag", "version", "options", "createdAt", "updatedAt", "createdBy", "updatedBy",
        "createdClient", "updatedClient", "sandboxId", "sandboxName", "imsOrgId", "flowSpec",
        "inheritedAttributes", "lastRunDetails", "runs", "lastOperation",
    }
)  # fmt: skip
#: What a PATCH may add to, change or remove from a flow.
PATCHABLE_FLOW_FIELDS = frozenset(
    {"name", "description", "scheduleParams", "transformations", "sourceConnectionIds", "targetConnectionIds"}
)
#: Fields an entity gains later, which a listing may order by before any has them.
FIELDS_SET_LATER = {"flows": ("lastRunDetails",)}
ENTITY_NAMES = {
    "connections": "Connection",
    "sourceConnections": "Source connection",
    "targetConnections": "Target connection",
    "flows": "Flow",
    "runs": "Flow run",
}


def now_ms() -> int:
    return int(time.time() * 1000)


def new_etag() -> str:
    return f'"{uuid.uuid4().hex[:8]}-0000-0200-0000-{uuid.uuid4().hex[:12]}"'


def sandbox_id(sandbox: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"aep-emulator-sandbox:{sandbox}"))


def sandbox_name(headers: Mapping[str, str]) -> str:
    """The sandbox a request names: ``prod`` when ``x-sandbox-name`` is missing or empty.

    A name AEP could not have created (uppercase, ``..``, slashes, over 64 characters) is
    refused at the gateway with 400 ``400004``: like a missing org header (400 ``400003``) it
    is a malformed request, not a permission problem (403), since no sandbox can bear it. It
    also keeps the name, which becomes a folder of the exports directory, harmless.
    """
    name = headers.get("x-sandbox-name") or DEFAULT_SANDBOX
    if not SANDBOX_NAME.fullmatch(name):
        raise gateway_error(
            400,
            "400004",
            f"x-sandbox-name {name[:80]!r} is not a valid sandbox name: "
            "use lowercase letters, digits and hyphens (at most 64)",
        )
    return name


class FlowService:
    def __init__(
        self, config: EmulatorConfig, state: State, faults: FaultPlan, lake: DataLake | None = None
    ) -> None:
        self.config = config
        self.state = state
        self.faults = faults
        #: The datasets a Data Lake source may name: seed ones, and those the sandbox's queries made.
        self.lake = lake or DataLake(state)
        #: What run reads answer, copied once per change of the run.
        self.run_copies = ReadCopies(state)

    def _read_copy(self, kind: str, entity: dict[str, Any]) -> dict[str, Any]:
        """The entity as a read answers it: a copy, so the answer cannot change under the route."""
        if kind == "runs":
            return self.run_copies.of(entity)
        copied: dict[str, Any] = json_copy(entity)
        return copied

    # -- IMS -------------------------------------------------------------------------------------

    def issue_token(self, form: dict[str, str]) -> dict[str, Any]:
        if form.get("grant_type") != "client_credentials":
            raise EmulatedError(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant_type must be client_credentials",
                },
            )
        if form.get("client_id") != self.config.client_id:
            raise EmulatedError(
                400, {"error": "invalid_client", "error_description": "invalid client_id parameter"}
            )
        if form.get("client_secret") != self.config.client_secret:
            raise EmulatedError(
                401, {"error": "invalid_client", "error_description": "invalid client_secret parameter"}
            )
        if not form.get("scope"):
            raise EmulatedError(400, {"error": "invalid_scope", "error_description": "scope is required"})
        token = "eyJ" + secrets.token_urlsafe(48)
        with self.state.lock:
            self.state.tokens[token] = {
                "client_id": form["client_id"],
                "expires_at": time.time() + self.config.token_lifetime,
            }
            self.state.save()
        return {"access_token": token, "token_type": "bearer", "expires_in": self.config.token_lifetime}

    def expire_tokens(self) -> int:
        with self.state.lock:
            for token in self.state.tokens.values():
                token["expires_at"] = 0
            self.state.save()
            return len(self.state.tokens)

    def authenticate(self, headers: dict[str, str]) -> str:
        """The calling client id, after the gateway's checks (token, API key, org)."""
        authorization = headers.get("authorization", "")
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        record = self.state.tokens.get(token) if token else None
        if record is None or record["expires_at"] <= time.time():
            raise gateway_error(401, "401013", "Oauth token is not valid")
        api_key = headers.get("x-api-key")
        if not api_key:
            raise gateway_error(403, "403000", "Api Key is required")
        if api_key != record["client_id"]:
            raise gateway_error(403, "403003", "Api Key is invalid")
        org = headers.get("x-gw-ims-org-id")
        if not org:
            raise gateway_error(400, "400003", "Organization ID is required in the x-gw-ims-org-id header")
        if org != self.config.org_id:
            raise gateway_error(403, "403025", "Profile is not valid for organization " + org)
        sandbox_name(headers)
        return str(record["client_id"])

    # -- common entity fields ------------------------------------------------------------------

    def _entity(self, sandbox: str, client: str, body: dict[str, Any]) -> dict[str, Any]:
        stamp = now_ms()
        return {
            "id": str(uuid.uuid4()),
            "createdAt": stamp,
            "updatedAt": stamp,
            "createdBy": f"{client}@AdobeID",
            "updatedBy": f"{client}@AdobeID",
            "createdClient": client,
            "updatedClient": client,
            "sandboxId": sandbox_id(sandbox),
            "sandboxName": sandbox,
            "imsOrgId": self.config.org_id,
            "name": body["name"],
            "description": check.optional_string(body, "description"),
            "etag": new_etag(),
            "state": "enabled",
            "version": "1.0",
        }

    def _store(self, sandbox: str, kind: str, entity: dict[str, Any]) -> dict[str, Any]:
        self.state.entities(sandbox, kind)[entity["id"]] = entity
        self.state.save()
        return {"id": entity["id"], "etag": entity["etag"]}

    def get(self, sandbox: str, kind: str, entity_id: str) -> dict[str, Any]:
        with self.state.lock:
            entity = self.state.entities(sandbox, kind).get(entity_id)
            if entity is None:
                raise not_found(ENTITY_NAMES[kind], entity_id)
            return self._read_copy(kind, entity)

    def listing(
        self, sandbox: str, kind: str, filters: list[str], orderby: str | None
    ) -> list[dict[str, Any]]:
        parsed = parse_filters(filters)
        with self.state.lock:
            flow_ids = _flow_ids_wanted(parsed) if kind == "runs" else None
            candidates = (
                self.state.runs_of_flows(sandbox, flow_ids)
                if flow_ids is not None
                else self.state.entities(sandbox, kind).values()
            )
            items = [self._read_copy(kind, e) for e in candidates if matches(e, parsed)]
        return order(items, orderby, known=FIELDS_SET_LATER.get(kind, ()))

    # -- creates --------------------------------------------------------------------------------

    def create_connection(self, sandbox: str, client: str, body: Any) -> dict[str, Any]:
        body = check.require_object(body)
        check.require_name(body)
        spec = check.connection_spec_of(body)
        auth_spec = check.check_auth(body, spec)
        entity = self._entity(sandbox, client, body)
        entity["connectionSpec"] = {"id": spec["id"], "version": body["connectionSpec"]["version"]}
        with self.state.lock:
            if auth_spec is not None:  # Data Landing Zone and the Profile Store take no credentials
                params = copy.deepcopy(body["auth"].get("params") or {})
                entity["auth"] = {
                    "specName": auth_spec["name"],
                    "params": credentials.shown(params, auth_spec),
                }
                self.state.credentials[entity["id"]] = {"params": params}
            return self._store(sandbox, "connections", entity)

    def create_source_connection(self, sandbox: str, client: str, body: Any) -> dict[str, Any]:
        body = check.require_object(body)
        check.require_name(body)
        spec = check.connection_spec_of(body)
        entity = self._entity(sandbox, client, body)
        entity["connectionSpec"] = {"id": spec["id"], "version": body["connectionSpec"]["version"]}
        with self.state.lock:
            if spec["id"] == DATA_LAKE_SPEC_ID:
                patching.check_datasets(body.get("params"), self._eligible(sandbox))
                # The tutorial sends no base connection; AEP's answer names the sandbox's implicit
                # Data Lake one (Adobe's example), which no flow shares with a destination.
                entity["baseConnectionId"] = data_lake_base_connection_id(sandbox)
                entity["params"] = copy.deepcopy(body["params"])
                entity["typeInfo"] = {"type": "dataset", "id": "datasets"}
            elif spec["id"] == PROFILE_STORE_SPEC_ID:
                self._profile_store_source(sandbox, body, entity)
            else:
                raise bad_request(
                    f"connectionSpec {spec['name']!r} is not a source: use Data Lake or Profile Store",
                    code="1014-400",
                )
            entity["inheritedAttributes"] = _inherited(
                entity.get("baseConnectionId"), entity["connectionSpec"]
            )
            return self._store(sandbox, "sourceConnections", entity)

    def _profile_store_source(self, sandbox: str, body: dict[str, Any], entity: dict[str, Any]) -> None:
        """The batch-activation tutorial sends a base connection and ``data`` (CSV); Adobe's current
        tutorial sends neither, and AEP names the sandbox's implicit Profile Store base connection."""
        if body.get("baseConnectionId") is None:
            entity["baseConnectionId"] = profile_store_base_connection_id(sandbox)
        else:
            base = self._referenced_connection(sandbox, body.get("baseConnectionId"), PROFILE_STORE_SPEC_ID)
            entity["baseConnectionId"] = base["id"]
        if "data" in body or "baseConnectionId" in body:
            data = check.require_dict(body.get("data") or {}, "data")
            if str(data.get("format", "")).upper() != "CSV":
                raise bad_request("data.format must be CSV for a Profile Store source connection")
            entity["data"] = copy.deepcopy(data)
        if "params" in body or "baseConnectionId" in body:
            entity["params"] = copy.deepcopy(check.require_dict(body.get("params") or {}, "params"))
        entity["typeInfo"] = {"type": "ProfileFragments", "id": "ups"}

    def create_target_connection(self, sandbox: str, client: str, body: Any) -> dict[str, Any]:
        body = check.require_object(body)
        check.require_name(body)
        spec = check.connection_spec_of(body)
        if "targetSpec" not in spec:
            raise bad_request(f"connectionSpec {spec['name']!r} is not a destination", code="1014-400")
        params = check.require_dict(body.get("params"), "params", code="1016-400")
        if "data" in body:
            check.require_dict(body["data"], "data")
        workflow = "DATASETS" if "datasetFileType" in params else "SEGMENTS"
        check.check_file_options(params)
        check.check_schema(
            spec["targetSpec"]["spec"],
            params,
            "params",
            code="1016-400",
            skip_required=check.conditional_fields(spec, workflow),
        )
        with self.state.lock:
            base = self._referenced_connection(sandbox, body.get("baseConnectionId"), spec["id"])
            entity = self._entity(sandbox, client, body)
            entity["baseConnectionId"] = base["id"]
            entity["connectionSpec"] = {"id": spec["id"], "version": body["connectionSpec"]["version"]}
            entity["params"] = copy.deepcopy(params)
            if "data" in body:
                entity["data"] = copy.deepcopy(body["data"])
            entity["inheritedAttributes"] = _inherited(base["id"], entity["connectionSpec"])
            return self._store(sandbox, "targetConnections", entity)

    def _referenced_connection(self, sandbox: str, connection_id: Any, spec_id: str) -> dict[str, Any]:
        known = isinstance(connection_id, str) and connection_id
        base = self.state.entities(sandbox, "connections").get(connection_id) if known else None
        if base is None:
            raise bad_request(
                f"baseConnectionId {connection_id!r} is not a base connection in sandbox {sandbox!r}",
                code="1032-400",
            )
        if base["connectionSpec"]["id"] != spec_id:
            raise bad_request(
                f"baseConnectionId {connection_id!r} uses connection spec {base['connectionSpec']['id']}, not {spec_id}",
                code="1033-400",
            )
        return base

    def create_flow(self, sandbox: str, client: str, body: Any) -> dict[str, Any]:
        body = check.require_object(body)
        check.require_name(body)
        flow_spec, version = _flow_spec_of(body)
        source_id = check.check_id_list(body, "sourceConnectionIds")
        target_id = check.check_id_list(body, "targetConnectionIds")
        transformations = check.check_transformations(body.get("transformations"))
        workflow = flow_spec["attributes"]["_workflow"]
        enhanced = is_enhanced_audience_flow(flow_spec)
        if enhanced and not transformations:
            # The tutorial's S3 tab sends none; later PATCHes address /transformations/0/params.
            transformations = [enhanced_general_transform()]
        with self.state.lock:
            source, target = self._flow_connections(sandbox, flow_spec, source_id, target_id)
            entity = self._entity(sandbox, client, body)
            entity["flowSpec"] = {"id": flow_spec["id"], "version": version}
            entity["sourceConnectionIds"] = [source["id"]]
            entity["targetConnectionIds"] = [target["id"]]
            entity["transformations"] = copy.deepcopy(transformations)
            if workflow == "DATASETS":
                schedule = _dataset_schedule(body.get("scheduleParams"))
                # AEP ends a dataset flow six months after creation when no endTime is given.
                schedule.setdefault("endTime", entity["createdAt"] // 1000 + SIX_MONTHS_SECONDS)
                entity["scheduleParams"] = schedule
            else:
                transform = check.check_general_transform(entity["transformations"], enhanced=enhanced)
                self._check_mapping(sandbox, transform["params"])
                segments.enrich(transform["params"], time.time())
            entity["inheritedAttributes"] = _flow_inherited(source, target)
            entity["options"] = {"workflow": workflow}
            # Where its runs are listed, and what last changed it (lastRunDetails comes with a run).
            entity["runs"] = f"/runs?property=flowId=={entity['id']}"
            entity["lastOperation"] = last_operation("create", [], entity["createdAt"])
            meta = self.state.flow_meta(entity["id"])
            meta.update({"sandbox": sandbox, "emitted": 0, "workflow": workflow})
            meta["next_due"] = time.time() + self.config.first_run_delay + self._start_delay(entity)
            if workflow == "SEGMENTS":
                self._sync_segments(meta, entity)
            return self._store(sandbox, "flows", entity)

    def _flow_connections(
        self, sandbox: str, flow_spec: dict[str, Any], source_id: str, target_id: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The flow's source and target connections: they exist and the flow spec takes them."""
        source = self.state.entities(sandbox, "sourceConnections").get(source_id)
        target = self.state.entities(sandbox, "targetConnections").get(target_id)
        if source is None:
            raise bad_request(f"sourceConnectionIds[0] {source_id!r} does not exist", code="1032-400")
        if target is None:
            raise bad_request(f"targetConnectionIds[0] {target_id!r} does not exist", code="1032-400")
        if source["connectionSpec"]["id"] not in flow_spec["sourceConnectionSpecIds"]:
            raise bad_request(
                f"flow spec {flow_spec['name']!r} does not take a {source['connectionSpec']['id']} source",
                code="1034-400",
            )
        if target["connectionSpec"]["id"] not in flow_spec["targetConnectionSpecIds"]:
            raise bad_request(
                f"flow spec {flow_spec['name']!r} does not match the target connection's spec {target['connectionSpec']['id']}",
                code="1034-400",
            )
        if target["connectionSpec"]["id"] in enhanced_audience_targets():
            # The target's file type is conditional on the workflow: audiences or datasets.
            wanted = "datasetFileType" if flow_spec["attributes"]["_workflow"] == "DATASETS" else "fileType"
            if wanted not in target["params"]:
                raise bad_request(
                    f"flow spec {flow_spec['name']!r} needs a target connection with params.{wanted}; "
                    f"target connection {target['id']} is made for the other workflow",
                    code="1034-400",
                )
        return source, target

    def _check_mapping(self, sandbox: str, params: dict[str, Any]) -> None:
        """An enhanced flow's ``profileMapping`` names a mapping set of the sandbox, at its version."""
        mapping = params.get("profileMapping") or {}
        if not mapping:
            return
        found = self.state.entities(sandbox, "mappingSets").get(str(mapping.get("mappingId")))
        if found is None or found["version"] != mapping.get("mappingVersion"):
            raise bad_request(
                f"profileMapping: mapping set {mapping.get('mappingId')!r} version "
                f"{mapping.get('mappingVersion')!r} is not a mapping set of sandbox {sandbox!r}",
                code="1051-400",
            )

    def _start_delay(self, flow: dict[str, Any]) -> float:
        """A start time in the future delays the first run, on the accelerated clock."""
        start = (flow.get("scheduleParams") or {}).get("startTime")
        if not isinstance(start, int):
            return 0.0
        return max(0.0, start - time.time()) / self.config.time_scale

    # -- changes ----------------------------------------------------------------------------------

    def touch_flow(self, sandbox: str, flow_id: str) -> None:
        """Someone else updated the flow: a new etag (the fault plan's ``concurrent_update``)."""
        with self.state.lock:
            flow = self.state.entities(sandbox, "flows").get(flow_id)
            if flow is not None:
                flow["etag"] = new_etag()
                flow["updatedAt"] = now_ms()
                self.state.save()

    def patch_flow(
        self, sandbox: str, client: str, flow_id: str, if_match: str | None, operations: Any
    ) -> dict[str, Any]:
        """Apply a JSON Patch; the result is checked like a create before it is stored.

        Nothing is stored unless the whole patched flow is valid, so one bad PATCH can neither
        leave a half-changed flow nor a flow the run engine cannot schedule.
        """
        with self.state.lock:
            flow = self.state.entities(sandbox, "flows").get(flow_id)
            if flow is None:
                raise not_found("Flow", flow_id)
            patching.check_etag(flow, if_match, "flow")
            patched = apply_patch(flow, operations, owned=OWNED_FLOW_FIELDS)
            self._check_patched_flow(sandbox, flow, patched)
            patched["etag"] = new_etag()
            patched["updatedAt"] = now_ms()
            patched["updatedBy"] = f"{client}@AdobeID"
            patched["updatedClient"] = client
            patched["lastOperation"] = last_operation("update", operations, patched["updatedAt"])
            meta = self.state.flow_meta(flow_id)
            if _workflow(flow) == "SEGMENTS":
                self._sync_segments(meta, patched)
            elif _extended(flow["scheduleParams"], patched["scheduleParams"]):
                # A later end revives a schedule that had run out (a one-off export stays done).
                meta["ended"] = False
            meta.pop("broken", None)
            self.state.entities(sandbox, "flows")[flow_id] = patched
            self.state.save()
            return {"id": flow_id, "etag": patched["etag"]}

    def patch_connection(
        self, sandbox: str, client: str, kind: str, entity_id: str, if_match: str | None, operations: Any
    ) -> dict[str, Any]:
        """PATCH of a base, source or target connection: checked whole, then stored with a new etag."""
        with self.state.lock:
            entity = self.state.entities(sandbox, kind).get(entity_id)
            if entity is None:
                raise not_found(ENTITY_NAMES[kind], entity_id)
            patching.check_etag(entity, if_match, ENTITY_NAMES[kind].lower())
            params = None
            if kind == "connections":
                kept = self.state.credentials.get(entity_id)
                patched, params = patching.patch_base_connection(entity, kept, operations)
            elif kind == "sourceConnections":
                patched = patching.patch_source_connection(entity, operations, self._eligible(sandbox))
            else:
                patched = patching.patch_target_connection(entity, operations)
            patched.update(
                etag=new_etag(), updatedAt=now_ms(), updatedBy=f"{client}@AdobeID", updatedClient=client
            )
            self.state.entities(sandbox, kind)[entity_id] = patched
            if params is not None:
                self.state.credentials[entity_id] = {"params": copy.deepcopy(params)}
            self.state.save()
            return {"id": entity_id, "etag": patched["etag"]}

    def _check_patched_flow(self, sandbox: str, flow: dict[str, Any], patched: dict[str, Any]) -> None:
        """The patched flow as a create would outcome_of it; ``patched`` gets normalised in place."""
        added = sorted(set(patched) - set(flow) - PATCHABLE_FLOW_FIELDS)
        if added:
            raise bad_request(f"/{added[0]} is not a field of a dataflow that a PATCH can add")
        check.require_name(patched)
        check.optional_string(patched, "description")
        flow_spec = check.flow_specs()[flow["flowSpec"]["id"]]
        source, target = self._flow_connections(
            sandbox,
            flow_spec,
            check.check_id_list(patched, "sourceConnectionIds"),
            check.check_id_list(patched, "targetConnectionIds"),
        )
        patched["inheritedAttributes"] = _flow_inherited(source, target)
        patched["transformations"] = check.check_transformations(patched.get("transformations"))
        if _workflow(flow) == "DATASETS":
            patched["scheduleParams"] = _dataset_schedule(patched.get("scheduleParams"))
            return
        if "scheduleParams" in patched:
            raise bad_request(
                "scheduleParams does not apply to an audience dataflow: each segment selector has its schedule",
                code="1050-400",
            )
        transform = check.check_general_transform(patched["transformations"], enhanced=_enhanced(flow))
        self._check_mapping(sandbox, transform["params"])
        segments.enrich(transform["params"], time.time())

    def _sync_segments(self, meta: dict[str, Any], flow: dict[str, Any]) -> None:
        transform = check.check_general_transform(flow.get("transformations"), enhanced=_enhanced(flow))
        segments.sync_schedules(
            meta,
            transform["params"],
            first_run_delay=self.config.first_run_delay,
            time_scale=self.config.time_scale,
        )

    def flow_action(self, sandbox: str, flow_id: str, op: str | None) -> dict[str, Any]:
        action = (op or "").lower()
        if action not in ("enable", "disable"):
            raise bad_request(f"op {op!r} must be enable or disable")
        with self.state.lock:
            flow = self.state.entities(sandbox, "flows").get(flow_id)
            if flow is None:
                raise not_found("Flow", flow_id)
            flow["state"] = "enabled" if action == "enable" else "disabled"
            flow["etag"] = new_etag()
            flow["updatedAt"] = now_ms()
            if action == "enable":
                # Runs missed while disabled are skipped, as AEP does: the schedule resumes now.
                meta = self.state.flow_meta(flow_id)
                meta["next_due"] = max(meta.get("next_due", 0), time.time() + self.config.first_run_delay)
            self.state.save()
            return {"id": flow_id, "etag": flow["etag"]}

    def delete(self, sandbox: str, kind: str, entity_id: str) -> None:
        with self.state.lock:
            entities = self.state.entities(sandbox, kind)
            if entity_id not in entities:
                raise not_found(ENTITY_NAMES[kind], entity_id)
            if kind == "connections":
                users = self._flows_using_base_connection(sandbox, entity_id)
                if users:
                    raise flow_error(
                        400,
                        "1418-400",
                        "Bad Request",
                        f"Connection {entity_id} is used by dataflow(s) {', '.join(users)}; delete them first",
                    )
            del entities[entity_id]
            self.state.credentials.pop(entity_id, None)
            if kind == "flows":
                self.state.flow_meta(entity_id)["deleted"] = True
            self.state.save()

    def _flows_using_base_connection(self, sandbox: str, connection_id: str) -> list[str]:
        linked = {
            c["id"]
            for kind in ("sourceConnections", "targetConnections")
            for c in self.state.entities(sandbox, kind).values()
            if c.get("baseConnectionId") == connection_id
        }
        return [
            f["id"]
            for f in self.state.entities(sandbox, "flows").values()
            if linked & set(f.get("sourceConnectionIds", []) + f.get("targetConnectionIds", []))
        ]

    # -- catalog -----------------------------------------------------------------------------------

    def _eligible(self, sandbox: str) -> Callable[[str], bool]:
        """Whether a dataset id is one a Data Lake source of this sandbox may name."""
        return lambda dataset_id: self.lake.find(sandbox, dataset_id) is not None

    def eligible_datasets(self, sandbox: str, start: int, limit: int) -> dict[str, Any]:
        """The seed datasets, then the sandbox's derived ones (made by Query Service CTAS)."""
        if not 1 <= limit <= 100:
            raise bad_request(f"limit {limit} is out of range: 1 to 100")
        if start < 0:
            raise bad_request(f"start {start} must not be negative")
        with self.state.lock:
            every = self.lake.all(sandbox)
        chunk = every[start : start + limit]
        return {
            "items": [d.as_eligible() for d in chunk],
            "pageInfo": {
                "start": start,
                "end": start + len(chunk) - 1,
                "total": len(every),
                "hasNext": start + limit < len(every),
            },
        }


def _flow_ids_wanted(filters: list[tuple[str, str, list[str]]]) -> list[str] | None:
    """The flow ids a ``flowId==…`` filter names (a poll's), so only their runs are looked at."""
    for path, op, values in filters:
        if path == "flowId" and op == "==":
            return values
    return None


def _flow_spec_of(body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The flow spec a create names and its version: unknown id → 400, no version → 422."""
    ref = body.get("flowSpec")
    if not isinstance(ref, dict):
        raise bad_request("flowSpec must be an object with an id and a version", code="1014-400")
    flow_spec = check.flow_specs().get(ref["id"]) if isinstance(ref.get("id"), str) else None
    if flow_spec is None:
        raise bad_request(f"flowSpec.id {ref.get('id')!r} is not a known flow spec", code="1014-400")
    return flow_spec, check.check_version(ref, "flowSpec")


def _workflow(flow: dict[str, Any]) -> str:
    """DATASETS or SEGMENTS, from the flow spec (which a PATCH cannot change)."""
    return str(check.flow_specs()[flow["flowSpec"]["id"]]["attributes"]["_workflow"])


def _dataset_schedule(params: Any) -> dict[str, Any]:
    """A checked copy of a dataset flow's ``scheduleParams``, the template under the name runs read."""
    schedule = copy.deepcopy(check.check_schedule(params))
    if "folderNameTemplate" in schedule and "foldernameTemplate" not in schedule:
        schedule["foldernameTemplate"] = schedule["folderNameTemplate"]
    return schedule


def _enhanced(flow: dict[str, Any]) -> bool:
    return is_enhanced_audience_flow(check.flow_specs()[flow["flowSpec"]["id"]])


def enhanced_general_transform() -> dict[str, Any]:
    """The transformation an enhanced audience flow starts with (Adobe's V2 example)."""
    return {
        "name": "GeneralTransform",
        "params": {
            "mandatoryFields": [],
            "primaryFields": [],
            "profileMapping": {},
            "segmentSelectors": {"selectors": []},
        },
    }


def profile_store_base_connection_id(sandbox: str) -> str:
    """The id of a sandbox's implicit Profile Store base connection (a source connection made
    without one names it): stable, and never a stored entity."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"aep-emulator-profile-store:{sandbox}"))


def data_lake_base_connection_id(sandbox: str) -> str:
    """The id of a sandbox's implicit Data Lake base connection: stable, and never a stored entity."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"aep-emulator-data-lake:{sandbox}"))


def _flow_inherited(source: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """What a flow inherits from its connections: arrays of them, as Adobe's flow examples show."""

    def connection(entity: dict[str, Any]) -> dict[str, Any]:
        inherited = {"id": entity["id"], "connectionSpec": copy.deepcopy(entity["connectionSpec"])}
        if entity.get("baseConnectionId"):
            inherited["baseConnection"] = {
                "id": entity["baseConnectionId"],
                "connectionSpec": copy.deepcopy(entity["connectionSpec"]),
            }
        if entity["connectionSpec"]["id"] == PROFILE_STORE_SPEC_ID:  # the one Adobe's examples type
            inherited["typeInfo"] = copy.deepcopy(entity["typeInfo"])
        return inherited

    return {
        "properties": {"isSourceFlow": False, "isDestinationFlow": True},
        "sourceConnections": [connection(source)],
        "targetConnections": [connection(target)],
    }


def _inherited(base_connection_id: str | None, connection_spec: dict[str, Any]) -> dict[str, Any]:
    """A connection's ``inheritedAttributes``: its base connection as an object, as Adobe shows it."""
    inherited: dict[str, Any] = {}
    if base_connection_id:
        inherited["baseConnection"] = {
            "id": base_connection_id,
            "connectionSpec": copy.deepcopy(connection_spec),
        }
    return inherited


def last_operation(operation: str, ops: list[Any], stamp: int) -> dict[str, Any]:
    """A flow's ``lastOperation``: the create or the PATCH that last changed it, completed."""
    return {
        "started": stamp,
        "updated": stamp,
        "percentCompleted": 100,
        "status": {"value": "completed", "properties": None, "errors": []},
        "ops": copy.deepcopy(ops),
        "operation": operation,
    }


def _extended(before: dict[str, Any], after: dict[str, Any]) -> bool:
    once = after.get("exportMode") == "DAILY_FULL_EXPORT"
    return not once and int(after.get("endTime") or 0) > int(before.get("endTime") or 0)
