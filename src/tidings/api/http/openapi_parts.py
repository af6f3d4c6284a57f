"""Pieces of OpenAPI response objects that name msgspec structs. A struct is
named by a ``Schema`` marker; ``openapi.document`` turns each marker into a
``$ref`` and generates the struct's schema among the components."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tidings.api.schemas.admin import ErrorBody


@dataclass(frozen=True)
class Schema:
    struct: type


_ERRORS = {
    400: "bad input (INVALID_PARAMS, data.field names it; UPLOAD_INCOMPLETE)",
    401: "a missing or wrong bearer token (UNAUTHORIZED)",
    403: "refused (FORBIDDEN, NOT_A_MEMBER, BANNED, USER_BANNED, CHAT_EXPIRED, "
         "CHAT_DISBANDED, QUOTA_EXCEEDED, MUTED, ...)",
    404: "no such route (no admin token configured), user, chat, device, file or export "
         "(NOT_FOUND, *_NOT_FOUND)",
    409: "conflict (USERNAME_TAKEN, LOCAL_ID_CONFLICT)",
    413: "the body is too large (TOO_LARGE)",
    415: "the content does not match the declared kind (UNSUPPORTED_MEDIA)",
    416: "the Range cannot be satisfied (RANGE_NOT_SATISFIABLE)",
    429: "too many requests (RATE_LIMITED)",
}


def json_content(struct: type, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": Schema(struct)}}}


def error_responses(*statuses: int) -> dict[str, Any]:
    """The error body, ``{"error": {"code", "message", "data"?}}``, per status."""
    return {str(s): json_content(ErrorBody, _ERRORS[s]) for s in statuses}
