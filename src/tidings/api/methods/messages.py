"""message.*"""

from __future__ import annotations

from typing import Any

from tidings.api import schemas as s
from tidings.api.dispatcher import Caller
from tidings.api.methods.registry import Registry, require_user
from tidings.services.container import Services
from tidings.services.messages import SendRequest

registry = Registry()


@registry.method("message.send", s.Send)
async def send(sv: Services, caller: Caller, p: s.Send) -> Any:
    request = SendRequest(
        user_id=require_user(caller.user_id), chat_id=p.chat_id, local_id=p.local_id,
        kind=p.kind, text=p.text, reply_to=p.reply_to, entities=p.entities,
        location=p.location, file_id=p.file_id,
    )
    return {"message": await sv.messages.send(request)}


@registry.method("message.history", s.History)
async def history(sv: Services, caller: Caller, p: s.History) -> Any:
    found = await sv.messages.history(require_user(caller.user_id), p.chat_id, p.before,
                                      p.after, p.limit)
    return {"messages": found}


@registry.method("message.get", s.GetMessages)
async def get(sv: Services, caller: Caller, p: s.GetMessages) -> Any:
    return {"messages": await sv.messages.get(require_user(caller.user_id), p.chat_id,
                                              p.msg_ids)}


@registry.method("message.recall", s.MessageRef)
async def recall(sv: Services, caller: Caller, p: s.MessageRef) -> Any:
    return {"pts": await sv.messages.recall(require_user(caller.user_id), p.chat_id, p.msg_id)}
