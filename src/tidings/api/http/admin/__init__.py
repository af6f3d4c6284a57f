"""The operators' HTTP API (``/admin/*``, DESIGN §12), beside the WebSocket.

Authenticated by ``Authorization: Bearer <admin_token>`` (setting
``admin_token``), compared in constant time. With no token configured every
``/admin/*`` route answers 404, as if it did not exist. Errors have the RPC's
shape and codes: ``{"error": {"code", "message", "data"?}}``, with the HTTP
status of the code. One module per concept: ``users`` (accounts, devices,
entitlement), ``chats`` (expiry, listing, members, messages, disbanding, the
recall audit), ``media`` (storage report, whitelist)."""

from __future__ import annotations

from tidings.api.http.admin import chats, media, users
from tidings.api.http.operations import Operation
from tidings.services.container import Services


def operations(sv: Services) -> list[Operation]:
    return [*users.operations(sv), *chats.operations(sv), *media.operations(sv)]
