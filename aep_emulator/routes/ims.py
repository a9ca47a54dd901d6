"""IMS: the OAuth server-to-server token endpoint (a form in, an access token out)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from aep_emulator.errors import EmulatedError
from aep_emulator.routes.common import AEP

router = APIRouter()


async def _form(request: Request) -> dict[str, str]:
    try:
        return dict(parse_qsl((await request.body()).decode()))
    except UnicodeDecodeError:
        raise EmulatedError(
            400, {"error": "invalid_request", "error_description": "the form is not UTF-8"}
        ) from None


@router.post("/ims/token/v3")
async def ims_token(request: Request, aep: AEP) -> JSONResponse:
    return JSONResponse(aep.service.issue_token(await _form(request)))


@router.post("/ims/token/v2")
async def ims_token_v2(request: Request, aep: AEP) -> JSONResponse:
    """The form Adobe's own OAuth server-to-server samples send: the credentials as query
    parameters, no body (a form body is read too, and wins where both name a field)."""
    return JSONResponse(aep.service.issue_token({**dict(request.query_params), **(await _form(request))}))
