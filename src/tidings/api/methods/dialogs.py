"""dialog.* (pin, unpin, hide, mute) and message.mentions; chat.list is in
``methods.chats``."""

from __future__ import annotations

from typing import Any

from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.api.schemas import dialogs as s
from tidings.services.container import Services

registry = Registry()


@registry.method("dialog.pin", s.DialogRef)
async def pin(sv: Services, caller: Caller, p: s.DialogRef) -> Any:
    return {"pinned_order": await sv.dialogs.pin(require_user(caller.user_id), p.chat_id)}


@registry.method("dialog.unpin", s.DialogRef)
async def unpin(sv: Services, caller: Caller, p: s.DialogRef) -> Any:
    return {"pinned_order": await sv.dialogs.unpin(require_user(caller.user_id), p.chat_id)}


@registry.method("dialog.hide", s.DialogRef)
async def hide(sv: Services, caller: Caller, p: s.DialogRef) -> Any:
    return {"hidden_pts": await sv.dialogs.hide(require_user(caller.user_id), p.chat_id)}


@registry.method("dialog.mute", s.MuteDialog)
async def mute(sv: Services, caller: Caller, p: s.MuteDialog) -> Any:
    until = await sv.dialogs.mute(require_user(caller.user_id), p.chat_id, p.until)
    return {"muted_until": until}


@registry.method("message.mentions", s.ListMentions, reads_only=True)
async def mentions(sv: Services, caller: Caller, p: s.ListMentions) -> Any:
    return await sv.dialogs.mentions(require_user(caller.user_id), p.chat_id, p.limit,
                                     p.cursor)
