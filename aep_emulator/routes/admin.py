"""The emulator's own routes under ``/_emulator``, for tests and demos: health, state, the
request log, the fault plan, token expiry, failing runs and the exported files. No AEP token is
needed (they are not AEP's), and the gateway neither faults nor logs them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from aep_emulator.errors import bad_request
from aep_emulator.routes.common import AEP, json_body

router = APIRouter(prefix="/_emulator")


@router.get("/health")
async def health(aep: AEP) -> dict[str, Any]:
    return {"status": "ok", "url": aep.config.url}


@router.get("/state")
async def read_state(aep: AEP) -> dict[str, Any]:
    aep.engine.advance(every=True)
    with aep.state.lock:
        return {
            "sandboxes": aep.state.data["sandboxes"],
            "tokens_issued": len(aep.state.tokens),
            "run_attempts": aep.run_actions.attempts(),
        }


@router.get("/runs/{run_id}/credentials")
async def run_credentials(run_id: str, aep: AEP) -> dict[str, Any]:
    """Which credentials a run used (per attempt): ids, identifiers, keyed fingerprints; no secret."""
    aep.engine.advance(every=True)
    return aep.run_actions.credentials(run_id)


@router.post("/reset")
async def reset(aep: AEP) -> dict[str, Any]:
    aep.state.reset()
    aep.faults.clear()
    return {"reset": True}


@router.post("/advance")
async def advance(aep: AEP) -> dict[str, Any]:
    aep.engine.advance(every=True)
    return {"advanced": True}


@router.get("/requests")
async def request_log(aep: AEP) -> list[dict[str, Any]]:
    with aep.state.lock:
        return list(aep.state.data["requests"])


@router.delete("/requests")
async def clear_request_log(aep: AEP) -> dict[str, Any]:
    with aep.state.lock:
        aep.state.data["requests"].clear()
    return {"cleared": True}


@router.get("/faults")
async def list_faults(aep: AEP) -> dict[str, Any]:
    return {
        "rules": [r.as_dict() for r in aep.faults.rules],
        "run_rules": [r.as_dict() for r in aep.faults.run_rules],
        "segment_job_rules": [r.as_dict() for r in aep.faults.segment_job_rules],
        "segment_job_delays": [r.as_dict() for r in aep.faults.segment_job_delays],
        "query_failures": [r.as_dict() for r in aep.faults.query_failures],
        "query_delays": [r.as_dict() for r in aep.faults.query_delays],
        "failing_runs": aep.faults.failing_runs,
    }


@router.post("/faults")
async def add_faults(request: Request, aep: AEP) -> dict[str, Any]:
    body = await json_body(request)
    rules = body.get("rules", [body]) if isinstance(body, dict) else body
    try:
        added = [aep.faults.add(rule).as_dict() for rule in rules]
    except (TypeError, ValueError) as err:
        raise bad_request(f"fault rule not understood: {err}") from None
    return {"added": added}


@router.delete("/faults")
async def clear_faults(aep: AEP) -> dict[str, Any]:
    aep.faults.clear()
    return {"cleared": True}


@router.post("/tokens/expire")
async def expire_tokens(aep: AEP) -> dict[str, Any]:
    return {"expired": aep.service.expire_tokens()}


@router.post("/flows/{flow_id}/fail-next-run")
async def fail_next_run(flow_id: str, request: Request, aep: AEP) -> dict[str, Any]:
    body = await json_body(request)
    aep.faults.fail_next_run(flow_id, (body or {}).get("errors") if isinstance(body, dict) else None)
    return {"flow": flow_id, "next_run": "fails"}


@router.get("/exports")
async def exported_files(aep: AEP) -> list[dict[str, Any]]:
    root = aep.config.exports_dir
    if not root.exists():
        return []
    return [
        {"path": str(p.relative_to(root)), "bytes": p.stat().st_size}
        for p in sorted(root.rglob("*"))
        if p.is_file()
    ]
