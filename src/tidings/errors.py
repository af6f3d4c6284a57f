"""The one error type of tidings, with stable codes.

Every failure a client can see is a ``TidingsError`` carrying an ``ErrorCode``.
The code is the contract (clients branch on it); the message is for people;
``http_status`` is what the HTTP API answers with the same error.

    TidingsError
     ├── code: ErrorCode        stable, documented in docs/protocol.md
     ├── message: str           human readable, may change between versions
     └── data: dict             optional structured details (limits, ids)

Nothing else is raised across the api boundary: the dispatcher turns any other
exception into ``INTERNAL`` and logs it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    BAD_FRAME = "BAD_FRAME"
    INVALID_PARAMS = "INVALID_PARAMS"
    METHOD_NOT_FOUND = "METHOD_NOT_FOUND"
    UNAUTHORIZED = "UNAUTHORIZED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    USERNAME_TAKEN = "USERNAME_TAKEN"
    NOT_FOUND = "NOT_FOUND"
    USER_NOT_FOUND = "USER_NOT_FOUND"
    CHAT_NOT_FOUND = "CHAT_NOT_FOUND"
    MESSAGE_NOT_FOUND = "MESSAGE_NOT_FOUND"
    NOT_A_MEMBER = "NOT_A_MEMBER"
    FORBIDDEN = "FORBIDDEN"
    BLOCKED = "BLOCKED"
    CHAT_EXPIRED = "CHAT_EXPIRED"
    MUTED = "MUTED"
    BANNED = "BANNED"
    USER_DISABLED = "USER_DISABLED"
    USER_BANNED = "USER_BANNED"
    CHAT_DISBANDED = "CHAT_DISBANDED"
    INVITE_INVALID = "INVITE_INVALID"
    REQUEST_PENDING = "REQUEST_PENDING"
    READERS_HIDDEN = "READERS_HIDDEN"
    RECALL_WINDOW_PASSED = "RECALL_WINDOW_PASSED"
    ALREADY_RECALLED = "ALREADY_RECALLED"
    LOCAL_ID_CONFLICT = "LOCAL_ID_CONFLICT"
    TOO_LARGE = "TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    UPLOAD_INCOMPLETE = "UPLOAD_INCOMPLETE"
    UNSUPPORTED_MEDIA = "UNSUPPORTED_MEDIA"
    RANGE_NOT_SATISFIABLE = "RANGE_NOT_SATISFIABLE"
    MEDIA_EXPIRED = "MEDIA_EXPIRED"
    MEDIA_GONE = "MEDIA_GONE"
    POOL_FULL = "POOL_FULL"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"


_HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_FRAME: 400,
    ErrorCode.INVALID_PARAMS: 400,
    ErrorCode.METHOD_NOT_FOUND: 404,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.INVALID_CREDENTIALS: 401,
    ErrorCode.USERNAME_TAKEN: 409,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.USER_NOT_FOUND: 404,
    ErrorCode.CHAT_NOT_FOUND: 404,
    ErrorCode.MESSAGE_NOT_FOUND: 404,
    ErrorCode.NOT_A_MEMBER: 403,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.BLOCKED: 403,
    ErrorCode.CHAT_EXPIRED: 403,
    ErrorCode.MUTED: 403,
    ErrorCode.BANNED: 403,
    ErrorCode.USER_DISABLED: 403,
    ErrorCode.USER_BANNED: 403,
    ErrorCode.CHAT_DISBANDED: 403,
    ErrorCode.INVITE_INVALID: 404,
    ErrorCode.REQUEST_PENDING: 409,
    ErrorCode.READERS_HIDDEN: 403,
    ErrorCode.RECALL_WINDOW_PASSED: 403,
    ErrorCode.ALREADY_RECALLED: 409,
    ErrorCode.LOCAL_ID_CONFLICT: 409,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.QUOTA_EXCEEDED: 403,
    ErrorCode.UPLOAD_INCOMPLETE: 400,
    ErrorCode.UNSUPPORTED_MEDIA: 415,
    ErrorCode.RANGE_NOT_SATISFIABLE: 416,
    ErrorCode.MEDIA_EXPIRED: 410,
    ErrorCode.MEDIA_GONE: 410,
    ErrorCode.POOL_FULL: 409,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}


class TidingsError(Exception):
    """A failure with a stable code that a client may act upon."""

    def __init__(self, code: ErrorCode, message: str, **data: Any) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.data = data

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS[self.code]

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code.value, "message": self.message}
        if self.data:
            body["data"] = self.data
        return body


class StorageRejected(TidingsError):
    """The database refused a value of one request (out of range, unencodable).

    The schemas refuse such values at the edge; this is the backstop for values
    that reach the store another way. It is the request's fault, so it answers
    ``INVALID_PARAMS``, and group commit retries the rest of the batch without
    the request (see ``services.group_commit``)."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.INVALID_PARAMS, "a value in this request cannot be stored")


def invalid(message: str, **data: Any) -> TidingsError:
    return TidingsError(ErrorCode.INVALID_PARAMS, message, **data)


def forbidden(message: str, **data: Any) -> TidingsError:
    return TidingsError(ErrorCode.FORBIDDEN, message, **data)


def not_a_member(chat_id: int) -> TidingsError:
    return TidingsError(ErrorCode.NOT_A_MEMBER, f"you are not a member of chat {chat_id}",
                        chat_id=chat_id)
