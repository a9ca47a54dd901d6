"""A scrubbed logger hands on every line it emits scrubbed, and spends nothing on lines its logger
would drop (a trigger logs one DEBUG line per poll)."""

from __future__ import annotations

import logging
from typing import Any
from unittest import mock

import pytest
import structlog

from airflow_provider_aep.utils import scrubbed_logs
from airflow_provider_aep.utils.scrubbed_logs import ScrubbedLogger, scrubbed

BEARER = "Bearer eyJhbGciOiJSUzI1NiJ9.c2VjcmV0LXBheWxvYWQ.c2lnbmF0dXJl"


class Counted:
    """An argument that counts how often it is turned into text."""

    def __init__(self) -> None:
        self.formatted = 0

    def __str__(self) -> str:
        self.formatted += 1
        return "counted"

    __repr__ = __str__


class Recorder:
    """A logger that cannot say which levels it emits: it takes every line."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def debug(self, msg: str, **kwargs: Any) -> None:
        self.lines.append(("debug", msg))

    def info(self, msg: str, **kwargs: Any) -> None:
        self.lines.append(("info", msg))


@pytest.fixture
def scrubs(monkeypatch) -> list[str]:
    """Every text scrubbed through the wrapper."""
    seen: list[str] = []
    real = scrubbed_logs.scrub

    def counting(text: str) -> str:
        seen.append(text)
        return real(text)

    monkeypatch.setattr(scrubbed_logs, "scrub", counting)
    return seen


def test_a_line_below_a_stdlib_loggers_level_is_neither_formatted_nor_scrubbed(caplog, scrubs):
    logger = logging.getLogger("tests.scrubbed.quiet")
    log = scrubbed(logger)
    assert isinstance(log, ScrubbedLogger)
    argument = Counted()
    with caplog.at_level(logging.INFO, logger=logger.name):
        log.debug("poll %s", argument)
        log.log(logging.DEBUG, "poll %s", argument)
        log.info("upstream said %s", BEARER)
    assert argument.formatted == 0
    assert scrubs == [f"upstream said {BEARER}"]
    assert [r.getMessage() for r in caplog.records if r.name == logger.name] == ["upstream said Bearer ***"]


def test_a_line_a_structlog_logger_filters_out_is_dropped_and_one_it_emits_is_scrubbed(scrubs):
    emitted: list[Any] = []

    def keep(_: Any, method: str, event: dict[str, Any]) -> str:
        emitted.append((method, event["event"]))
        raise structlog.DropEvent

    inner = structlog.wrap_logger(
        structlog.PrintLogger(),
        processors=[keep],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )
    log = scrubbed(inner)
    argument = Counted()
    log.debug("poll %s", argument)
    log.warning("retrying: %s", BEARER)
    assert argument.formatted == 0
    assert emitted == [("warning", "retrying: Bearer ***")]
    assert scrubs == [f"retrying: {BEARER}"]


def test_a_logger_that_cannot_say_or_fails_to_say_gets_every_line_scrubbed(scrubs):
    recorder = Recorder()
    scrubbed(recorder).debug("token %s", BEARER)
    assert recorder.lines == [("debug", "token Bearer ***")]

    failing = Recorder()
    failing.isEnabledFor = mock.Mock(side_effect=RuntimeError("no idea"))  # type: ignore[attr-defined]
    scrubbed(failing).debug("token %s", BEARER)
    assert failing.lines == [("debug", "token Bearer ***")]

    anything = mock.MagicMock()  # says neither yes nor no: a Mock, not False
    scrubbed(anything).debug("token %s", BEARER)
    anything.debug.assert_called_once_with("token Bearer ***")
