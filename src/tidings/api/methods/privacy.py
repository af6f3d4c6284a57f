"""read.receipts, read.readers, privacy.get, privacy.update"""

from __future__ import annotations

from typing import Any

from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas import Empty
from tidings.api.schemas.reads import Readers, Receipts, UpdatePrivacy
from tidings.services.container import Services

registry = Registry()


@registry.method("read.receipts", Receipts)
async def receipts(sv: Services, caller: Caller, p: Receipts) -> Any:
    return await sv.reads.receipts(require_user(caller.user_id), p.chat_id, p.msg_ids)


@registry.method("read.readers", Readers)
async def readers(sv: Services, caller: Caller, p: Readers) -> Any:
    return await sv.reads.readers(require_user(caller.user_id), p.chat_id, p.msg_id, p.limit,
                                  p.cursor)


@registry.method("privacy.get", Empty)
async def get(sv: Services, caller: Caller, p: Empty) -> Any:
    return await sv.reads.privacy(require_user(caller.user_id))


@registry.method("privacy.update", UpdatePrivacy)
async def update(sv: Services, caller: Caller, p: UpdatePrivacy) -> Any:
    return await sv.reads.update_privacy(require_user(caller.user_id), p.read_receipts)
