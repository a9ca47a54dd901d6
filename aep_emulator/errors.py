"""AEP's two error shapes: the gateway's ``error_code``/``message`` and Flow Service problem JSON."""

from __future__ import annotations

import uuid
from typing import Any


class EmulatedError(Exception):
    """Raised by handlers; the app turns it into the response AEP would send."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


def gateway_error(status: int, code: str, message: str) -> EmulatedError:
    return EmulatedError(status, {"error_code": code, "message": message})


def flow_error(status: int, code: str, title: str, detail: str) -> EmulatedError:
    """Problem JSON with a FLOW code, e.g. ``flow_error(400, "1403-400", ...)`` → ``FLOW-1403-400``."""
    request_id = uuid.uuid4().hex
    return EmulatedError(
        status,
        {
            "type": f"https://ns.adobe.com/aep/errors/FLOW-{code}",
            "title": title,
            "status": status,
            "report": {
                "tenantInfo": {},
                "additionalContext": None,
                "detailed-message": detail,
                "request-id": request_id,
            },
            "errorMessage": detail,
            # Adobe's error examples give the detail again, as text.
            "errorDetails": detail,
        },
    )


def bad_request(detail: str, code: str = "1006-400") -> EmulatedError:
    return flow_error(400, code, "Bad Request", detail)


def not_found(kind: str, entity_id: str) -> EmulatedError:
    return flow_error(404, "1439-404", "Resource not found", f"{kind} with id {entity_id} not found")
