"""The operators' HTTP API (``/admin/*``, DESIGN §12), beside the WebSocket.

Authenticated by ``Authorization: Bearer <admin_token>`` (setting
``admin_token``), compared in constant time. With no token configured every
``/admin/*`` route answers 404, as if it did not exist. Errors have the RPC's
shape and codes: ``{"error": {"code", "message", "data"?}}``.

- ``POST /admin/chats/expire``: set any chat's expiry (a direct chat by its two
  users, created if missing) -> ``{chat, expired, pts}``.
- ``GET /admin/chats``: chats with their expiry, filtered, in keyset pages.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from tidings.api.bad_input import params_error
from tidings.api.http.common import error_response, internal_error, json_response
from tidings.api.schemas.admin import (
    AdminChat,
    ChatPage,
    ListChatsQuery,
    SetExpireBody,
    SetExpireResult,
)
from tidings.errors import ErrorCode, TidingsError
from tidings.services.chat_admin import ChatAdmin
from tidings.services.container import Services

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[object]]


def check_admin(sv: Services, request: web.Request) -> None:
    """``NOT_FOUND`` when no admin token is configured, ``UNAUTHORIZED`` unless
    the request carries it."""
    expected = sv.settings.admin_token
    if not expected:
        raise TidingsError(ErrorCode.NOT_FOUND, f"no route {request.path}")
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), expected.encode()):
        raise TidingsError(ErrorCode.UNAUTHORIZED,
                           "send the admin token as 'Authorization: Bearer <token>'")


def _guarded(sv: Services, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def run(request: web.Request) -> web.Response:
        try:
            check_admin(sv, request)
            return json_response(await handler(request))
        except TidingsError as exc:
            return error_response(exc)
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return internal_error()

    return run


def routes(sv: Services) -> list[web.RouteDef]:
    admin = ChatAdmin(sv.db, sv.chats, sv.clock)

    async def set_expire(request: web.Request) -> object:
        body = await request.read()
        try:
            p = msgspec.json.decode(body, type=SetExpireBody)
        except msgspec.ValidationError as exc:
            raise params_error("POST /admin/chats/expire", exc) from None
        except msgspec.DecodeError:
            raise TidingsError(ErrorCode.INVALID_PARAMS,
                               "the body must be a JSON object") from None
        chat, expired, pts = await admin.set_expire(p.chat_id, p.user_id, p.peer_user_id,
                                                    p.expire_at)
        return SetExpireResult(chat, expired, pts)

    async def list_chats(request: web.Request) -> object:
        try:
            q = msgspec.convert(dict(request.query), ListChatsQuery, strict=False)
        except msgspec.ValidationError as exc:
            raise params_error("GET /admin/chats", exc) from None
        found, cursor = await admin.list_chats(q.expired, q.kind, q.query, q.limit, q.cursor)
        return ChatPage([AdminChat(c, e) for c, e in found], cursor)

    return [web.post("/admin/chats/expire", _guarded(sv, set_expire)),
            web.get("/admin/chats", _guarded(sv, list_chats))]
