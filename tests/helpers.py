"""Small builders shared by the service-level tests."""

from __future__ import annotations

import itertools
from typing import Any

from tidings import wire
from tidings.client import Client
from tidings.services.container import Services
from tidings.services.messages import SendRequest

_local_ids = itertools.count(1)
PASSWORD = "correct horse"


async def make_user(sv: Services, name: str) -> int:
    identity = await sv.auth.register(name, PASSWORD, None)
    return identity.user_id


async def make_users(sv: Services, *names: str) -> list[int]:
    return [await make_user(sv, n) for n in names]


async def send_text(sv: Services, user_id: int, chat_id: int, text: str = "hi",
                    **kw: object) -> wire.Message:
    local_id = str(kw.pop("local_id", f"l{next(_local_ids)}"))
    req = SendRequest(user_id=user_id, chat_id=chat_id, local_id=local_id, text=text,
                      **kw)  # type: ignore[arg-type]
    return await sv.messages.send(req)


async def full_history(client: Client, chat_id: int) -> list[dict[str, Any]]:
    """Everything ``message.history`` shows this user, oldest first (paging with
    ``after``), checking that the pages come in order without overlap."""
    messages: list[dict[str, Any]] = []
    after = 0
    while True:
        page = await client.history(chat_id, after=after, limit=100)
        if not page:
            return messages
        ids = [m["msg_id"] for m in page]
        assert ids == sorted(ids) and ids[0] > after, f"history paging broke: {after} -> {ids}"
        messages += page
        after = ids[-1]
