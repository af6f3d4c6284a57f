"""message.search"""

from __future__ import annotations

from typing import Any

from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas.search import Search
from tidings.services.container import Services
from tidings.services.search import SearchRequest

registry = Registry()


@registry.method("message.search", Search)
async def search(sv: Services, caller: Caller, p: Search) -> Any:
    page = await sv.search.search(SearchRequest(
        user_id=require_user(caller.user_id), query=p.query, chat_id=p.chat_id,
        sender_id=p.sender_id, kind=p.kind, tag=p.tag, since=p.since, until=p.until,
        limit=p.limit, cursor=p.cursor))
    return {"results": page.results, "next_cursor": page.next_cursor}
