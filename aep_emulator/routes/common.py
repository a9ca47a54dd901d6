"""What every route module shares: the Flow Service prefix, the backend and the checked caller
as FastAPI dependencies, and the body, paging and ``If-Match`` readers."""

from __future__ import annotations

from typing import Annotated, Any, NamedTuple

from fastapi import Depends, Request

from aep_emulator.backend import Backend
from aep_emulator.body import BadJSON, parse_json
from aep_emulator.errors import bad_request
from aep_emulator.listing import ListQuery, page
from aep_emulator.service import sandbox_name

FS = "/data/foundation/flowservice"


async def _backend(request: Request) -> Backend:
    """The backend the app was built for (``create_app`` puts it in the app's state)."""
    backend: Backend = request.app.state.backend
    return backend


#: The emulated platform behind the routes.
AEP = Annotated[Backend, Depends(_backend)]


class Caller(NamedTuple):
    sandbox: str
    client: str


async def _caller(request: Request, aep: AEP) -> Caller:
    """(sandbox, client id) after the gateway checks; also lets due runs happen first.

    ``async`` so that it runs on the event loop, as the routes do, and not in a worker thread.
    """
    headers = {k.lower(): v for k, v in request.headers.items()}
    client = aep.service.authenticate(headers)
    aep.engine.advance_due()
    return Caller(sandbox_name(headers), client)


#: A Flow Service caller that passed the gateway's checks (token, API key, org, sandbox).
Checked = Annotated[Caller, Depends(_caller)]


async def json_body(request: Request) -> Any:
    try:
        return parse_json(await request.body())
    except BadJSON as err:
        raise bad_request(str(err), code="1000-400") from None


def list_query(request: Request) -> ListQuery:
    """The listing's query: the request's, or the one its continuation token remembers."""
    return ListQuery(list(request.query_params.multi_items()))


def listed(request: Request, aep: Backend, query: ListQuery, items: list[dict[str, Any]]) -> dict[str, Any]:
    """One page of ``items``, as the query's limit, offset and count ask."""
    return page(
        items, query=query, default_size=aep.config.page_size, base_path=request.url.path.removeprefix(FS)
    )


def if_match(request: Request) -> str | None:
    """``If-Match`` from the header, or the ``if-match`` query parameter (Adobe's Postman collection)."""
    return request.headers.get("if-match") or request.query_params.get("if-match")
