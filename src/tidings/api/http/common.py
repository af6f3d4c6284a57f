"""What every REST route shares: the Bearer token and the error shape."""

from __future__ import annotations

from aiohttp import web

from tidings import wire
from tidings.errors import ErrorCode, TidingsError
from tidings.services.auth import Identity
from tidings.services.container import Services


def error_response(error: TidingsError) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if error.http_status == 401 else None
    return web.Response(status=error.http_status, body=wire.encode({"error": error.to_wire()}),
                        content_type="application/json", headers=headers)


def internal_error() -> web.Response:
    return error_response(TidingsError(ErrorCode.INTERNAL, "internal error"))


def json_response(value: object, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    return web.Response(status=status, body=wire.encode(value), content_type="application/json",
                        headers=headers)


async def authenticate(sv: Services, request: web.Request) -> Identity:
    """The device behind ``Authorization: Bearer <token>``, read-only; else
    ``UNAUTHORIZED``."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise TidingsError(ErrorCode.UNAUTHORIZED,
                           "send the device token as 'Authorization: Bearer <token>'")
    return await sv.auth.identify(token)
