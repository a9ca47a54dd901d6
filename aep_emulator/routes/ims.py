"""IMS: the OAuth server-to-server token endpoint (a form in, an access token out)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from aep_emulator.errors import EmulatedError
from aep_emulator.routes.common import AEP

router = APIRouter()


@router.post("/ims/token/v3")
async def ims_token(request: Request, aep: AEP) -> JSONResponse:
    try:
        form = dict(parse_qsl((await request.body()).decode()))
    except UnicodeDecodeError:
        raise EmulatedError(
            400, {"error": "invalid_request", "error_description": "the form is not UTF-8"}
        ) from None
    return JSONResponse(aep.service.issue_token(form))
