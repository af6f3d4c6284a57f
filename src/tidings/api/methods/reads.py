"""read.receipts, read.readers"""

from __future__ import annotations

from typing import Any

from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas.reads import Readers, Receipts
from tidings.services.container import Services

registry = Registry()


@registry.method("read.receipts", Receipts)
async def receipts(sv: Services, caller: Caller, p: Receipts) -> Any:
    return await sv.reads.receipts(require_user(caller.user_id), p.chat_id, p.msg_ids)


@registry.method("read.readers", Readers)
async def readers(sv: Services, caller: Caller, p: Readers) -> Any:
    return await sv.reads.readers(require_user(caller.user_id), p.chat_id, p.msg_id, p.limit,
                                  p.cursor)
