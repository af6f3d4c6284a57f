"""Logging: structlog renders every line, ours (stdlib ``logging`` calls) and
the libraries', as one JSON object per line in production and as readable
colourless columns with ``--dev``; a line caused by a request carries its
``request_id`` (``tidings.request_id``)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

from tidings.request_id import REQUEST_ID


def _add_request_id(_logger: Any, _method: str, event: EventDict) -> EventDict:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event["request_id"] = request_id
    return event


def setup_logging(level: str, *, dev: bool) -> None:
    """Like ``logging.basicConfig``, leaves a root logger that already has
    handlers alone: whoever embeds tidings (or a test runner) configured it."""
    root = logging.getLogger()
    if root.handlers:
        return
    shared: list[Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_request_id,
    ]
    renderer: Processor = (structlog.dev.ConsoleRenderer(colors=False) if dev
                           else structlog.processors.JSONRenderer())
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if not dev:  # the console renderer prints tracebacks itself
        final.append(structlog.processors.format_exc_info)
    final.append(renderer)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared, processors=final))
    root.addHandler(handler)
    root.setLevel(level.upper())
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger, cache_logger_on_first_use=True)
