"""Shared by the admin API tests: the token, HTTP calls, update counting."""

from __future__ import annotations

from typing import Any

import aiohttp

from tidings.app import TidingsServer
from tidings.services.container import Services

TOKEN = "operator-token-0123456789"


def base(srv: TidingsServer) -> str:
    return f"http://{srv.settings.host}:{srv.port}"


async def http(session: aiohttp.ClientSession, method: str, url: str, token: str | None,
               **kw: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.request(method, url, headers=headers, **kw) as resp:
        return resp.status, await resp.json()


async def user_updates(sv: Services, user_id: int, seq: int) -> list[dict[str, Any]]:
    return (await sv.sync.get_difference(user_id, seq, {}, None)).user_updates


async def seq_of(sv: Services, user_id: int) -> int:
    return (await sv.sync.get_state(user_id)).seq
