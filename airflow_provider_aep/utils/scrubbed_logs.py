"""The provider's log lines, scrubbed like its error texts.

Airflow's masker hides only the secrets registered in the process that logs; a sensor or a
triggerer never read the destination credentials, so a line quoting one would pass. Every line
the provider writes goes through :func:`~airflow_provider_aep.redaction.secrets.scrub` first: known
secrets and credential shapes.

A stdlib logger gets :class:`ScrubFilter` (it also sees records other code logs to it); any
other logger (Airflow's structlog loggers of hooks, operators and triggers) is wrapped in
:class:`ScrubbedLogger`.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

from airflow_provider_aep.redaction.secrets import scrub


class ScrubFilter(logging.Filter):
    """Rewrites a record's message (and traceback) scrubbed; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format: keep both, scrubbed
            message = f"{record.msg} {record.args}"
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        return True


_FILTER = ScrubFilter()
#: The level of each logging method a wrapped logger may have.
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "exception": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}


class ScrubbedLogger:
    """A logger whose every line (message and arguments) is scrubbed before it is handed on.

    A line the logger would drop (a poll's DEBUG line at INFO) is neither formatted nor
    scrubbed: scrubbing runs every credential pattern over the text, and a trigger logs a line
    each poll. Only a logger that says so (``isEnabledFor``, structlog's ``is_enabled_for``)
    is asked; any other gets every line, scrubbed.
    """

    def __init__(self, logger: Any) -> None:
        self._logger = logger

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._logger, name)
        level = _LEVELS.get(name)
        if level is None:
            return target

        def log(msg: Any, *args: Any, **kwargs: Any) -> Any:
            if not _enabled(self._logger, level):
                return None
            return target(_scrubbed(msg, args), **kwargs)

        return log

    def log(self, level: int, msg: Any, *args: Any, **kwargs: Any) -> Any:
        if not _enabled(self._logger, level):
            return None
        return self._logger.log(level, _scrubbed(msg, args), **kwargs)


def _enabled(logger: Any, level: int) -> bool:
    """Whether ``logger`` would emit a line at ``level``; True unless it says plainly it would not."""
    check = getattr(logger, "isEnabledFor", None) or getattr(logger, "is_enabled_for", None)
    if check is None:
        return True
    try:
        return check(level) is not False
    except Exception:  # a logger that cannot answer gets the line, scrubbed
        return True


def _scrubbed(msg: Any, args: tuple[Any, ...]) -> str:
    text = str(msg)
    if args:
        try:
            text = text % args
        except (TypeError, ValueError):
            text = f"{text} {args}"
    # A '%' left in the text is not a format any more: no arguments follow it.
    return scrub(text)


#: One wrapper per wrapped logger while the wrapper is in use: ``task.log`` is the same object on
#: every access, as Airflow's own ``log`` property is. (A live wrapper keeps its logger alive, so
#: the id cannot be reused meanwhile.)
_WRAPPERS: weakref.WeakValueDictionary[int, ScrubbedLogger] = weakref.WeakValueDictionary()


def scrubbed(logger: Any) -> Any:
    """The logger, with its lines scrubbed: the provider's own stdlib loggers get the filter (so
    records others log to them are scrubbed too); any other logger, handed in, a wrapper."""
    if isinstance(logger, ScrubbedLogger):
        return logger
    if isinstance(logger, logging.Logger) and logger.name.split(".")[0] == __name__.split(".")[0]:
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        return logger
    wrapper = _WRAPPERS.get(id(logger))
    if wrapper is None or wrapper._logger is not logger:
        wrapper = _WRAPPERS[id(logger)] = ScrubbedLogger(logger)
    return wrapper
