"""The id of the request being served, for every log line it causes.

Set by the dispatcher for each RPC and by the edge middleware for each HTTP
request; read by the log formatter (``tidings.logs``). Each RPC after
authentication runs in its own task, so the value never leaks into another
request; the dispatcher resets it anyway for those answered inline."""

from __future__ import annotations

import itertools
import os
from contextvars import ContextVar

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

# Unique on this node and across its restarts: the process id, then a counter.
_PREFIX = f"{os.getpid():x}-"
_counter = itertools.count(1)


def new_request_id() -> str:
    return f"{_PREFIX}{next(_counter):x}"
