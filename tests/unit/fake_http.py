"""A scripted stand-in for ``requests.Session.request``, for unit tests without a network."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

TOKEN = "eyJ-ACCESS-TOKEN-0123456789abcdef"


def response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = b"" if body is None else json.dumps(body).encode()
    r.headers.update(headers or {})
    return r


@dataclass
class Call:
    method: str
    url: str
    params: Any
    headers: dict[str, str]
    json: Any
    data: Any
    #: The other keyword arguments (timeout, allow_redirects, proxies).
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def flow_path(self) -> str:
        return self.path.removeprefix("/data/foundation/flowservice")


@dataclass
class FakeAEP:
    """Answers IMS with a token and Flow Service calls from a queue (or a default)."""

    queue: list[Any] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    default: Callable[[Call], requests.Response] | None = None
    token_expires_in: int = 86399
    token_answers: list[requests.Response] = field(default_factory=list)
    tokens_issued: int = 0

    def __call__(self, session, method, url, params=None, data=None, headers=None, json=None, **kwargs):
        merged = dict(session.headers)
        merged.update(headers or {})
        call = Call(method.upper(), url, params, merged, json, data, kwargs)
        self.calls.append(call)
        if call.path.endswith("/ims/token/v3"):
            if self.token_answers:
                return self.token_answers.pop(0)
            self.tokens_issued += 1
            return response(
                200,
                {
                    "access_token": f"{TOKEN}-{self.tokens_issued}",
                    "token_type": "bearer",
                    "expires_in": self.token_expires_in,
                },
            )
        if self.queue:
            answer = self.queue.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer
        if self.default:
            return self.default(call)
        return response(200, {"items": []})

    @property
    def api_calls(self) -> list[Call]:
        return [c for c in self.calls if not c.path.endswith("/ims/token/v3")]
