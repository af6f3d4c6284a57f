"""Exceptions raised by the client SDK.

The SDK must not import ``tidings.errors`` (server side), so error codes are
plain strings here; they are the same stable codes the server documents.

    ClientError                   base of everything the SDK raises
     ├── TidingsClientError       the server answered an error frame (code, message, data)
     ├── ConnectionLost           the socket closed (or was never open) while a call needed it
     └── RequestTimeout           no answer within ``request_timeout`` (also a TimeoutError)
"""

from __future__ import annotations

from typing import Any

# Codes the SDK itself branches on; every other code is passed through untouched.
UNAUTHORIZED = "UNAUTHORIZED"
# Used when the server answers something that is not a valid frame for a request.
PROTOCOL_ERROR = "PROTOCOL_ERROR"


class ClientError(Exception):
    """Base class: catch this to handle every SDK failure at once."""


class TidingsClientError(ClientError):
    """An error frame from the server: ``{"id": n, "error": {code, message, data?}}``."""

    def __init__(self, code: str, message: str = "", data: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message
        self.data: dict[str, Any] = data or {}

    @classmethod
    def from_wire(cls, error: object) -> TidingsClientError:
        """Build from the ``error`` member of a frame, tolerating malformed shapes."""
        if not isinstance(error, dict):
            return cls(PROTOCOL_ERROR, f"malformed error object: {error!r}")
        data = error.get("data")
        return cls(
            str(error.get("code", PROTOCOL_ERROR)),
            str(error.get("message", "")),
            data if isinstance(data, dict) else None,
        )

    def __repr__(self) -> str:
        return f"TidingsClientError({self.code!r}, {self.message!r}, {self.data!r})"


class ConnectionLost(ClientError):
    """The WebSocket is gone: the call's outcome is unknown (retry sends with the same
    ``local_id`` to stay idempotent)."""


class RequestTimeout(ClientError, TimeoutError):
    """The server did not answer a request within the client's ``request_timeout``."""
