"""The admin token check shared by every ``/admin/*`` operation."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from aiohttp import web

from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services

TAG = "admin"


def admin_guard(sv: Services) -> Callable[[web.Request], None]:
    """``NOT_FOUND`` when no admin token is configured, ``UNAUTHORIZED`` unless
    the request carries it (compared in constant time)."""
    def check(request: web.Request) -> None:
        expected = sv.settings.admin_token
        if not expected:
            raise TidingsError(ErrorCode.NOT_FOUND, f"no route {request.path}")
        scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                token.strip().encode(), expected.encode()):
            raise TidingsError(ErrorCode.UNAUTHORIZED,
                               "send the admin token as 'Authorization: Bearer <token>'")

    return check
