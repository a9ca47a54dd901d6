"""The emulator's page of a dataflow: what the operator's extra link opens when Airflow points
at the emulator (AEP's own UI, in miniature: the flow, its state and its runs)."""

from __future__ import annotations

import html

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from aep_emulator.errors import not_found
from aep_emulator.routes.common import AEP

router = APIRouter()


@router.get("/_emulator/ui/flows/{flow_id}", response_class=HTMLResponse)
async def flow_page(flow_id: str, aep: AEP) -> str:
    """What the operator extra link opens when Airflow points at the emulator."""
    aep.engine.advance(every=True)
    state = aep.state
    with state.lock:
        for sandbox in state.sandboxes():
            flow = state.entities(sandbox, "flows").get(flow_id)
            if flow is not None:
                runs = [r for r in state.entities(sandbox, "runs").values() if r["flowId"] == flow_id]
                break
        else:
            raise not_found("Flow", flow_id)
    rows = "".join(
        f"<tr><td>{html.escape(r['id'])}</td><td>{html.escape(r['metrics']['statusSummary']['status'])}</td>"
        f"<td>{r['metrics'].get('recordSummary', {}).get('outputRecordCount', '')}</td></tr>"
        for r in sorted(runs, key=lambda r: r["createdAt"], reverse=True)
    )
    return (
        f"<html><head><title>{html.escape(flow['name'])}</title></head><body>"
        f"<h1>{html.escape(flow['name'])}</h1><p>Dataflow {html.escape(flow_id)} in sandbox "
        f"{html.escape(flow['sandboxName'])}: {html.escape(flow['state'])}</p>"
        f"<table><tr><th>Run</th><th>Status</th><th>Records out</th></tr>{rows}</table></body></html>"
    )
