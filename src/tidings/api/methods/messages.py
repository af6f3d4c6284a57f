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
        location=p.location, file_id=p.file_id, burn_after_seconds=p.burn_after_seconds,
    )
    return {"message": await sv.messages.send(request)}


@registry.method("message.history", s.History, reads_only=True)
async def history(sv: Services, caller: Caller, p: s.History) -> Any:
    # A shared page arrives with its JSON encoded (``services.history_pages``).
    found = await sv.timeline.history_page(require_user(caller.user_id), p.chat_id, p.before,
                                           p.after, p.limit, p.tag)
    return {"messages": found}


@registry.method("message.get", s.GetMessages, reads_only=True)
async def get(sv: Services, caller: Caller, p: s.GetMessages) -> Any:
    return {"messages": await sv.timeline.get(require_user(caller.user_id), p.chat_id,
                                              p.msg_ids)}


@registry.method("message.recall", s.MessageRef)
async def recall(sv: Services, caller: Caller, p: s.MessageRef) -> Any:
    return {"pts": await sv.messages.recall(require_user(caller.user_id), p.chat_id, p.msg_id)}


@registry.method("message.delete", s.DeleteMessages)
async def delete(sv: Services, caller: Caller, p: s.DeleteMessages) -> Any:
    return await sv.deletion.delete(require_user(caller.user_id), p.chat_id, p.msg_ids,
                                    p.for_everyone)


@registry.method("message.clear_history", s.ClearHistory)
async def clear_history(sv: Services, caller: Caller, p: s.ClearHistory) -> Any:
    return await sv.deletion.clear_history(require_user(caller.user_id), p.chat_id,
                                           p.for_everyone)


@registry.method("message.replies", s.Replies, reads_only=True)
async def replies(sv: Services, caller: Caller, p: s.Replies) -> Any:
    found = await sv.timeline.replies(require_user(caller.user_id), p.chat_id, p.msg_id,
                                      p.limit, p.before)
    return {"messages": found}


@registry.method("message.reply_graph", s.ReplyGraph, reads_only=True)
async def reply_graph(sv: Services, caller: Caller, p: s.ReplyGraph) -> Any:
    edges = await sv.timeline.reply_graph(require_user(caller.user_id), p.chat_id, p.since,
                                          p.until)
    return {"edges": [{"from_user_id": e.from_user_id, "to_user_id": e.to_user_id,
                       "count": e.count} for e in edges]}


@registry.method("message.forward", s.Forward)
async def forward(sv: Services, caller: Caller, p: s.Forward) -> Any:
    sent = await sv.forward.forward(require_user(caller.user_id), p.from_chat_id, p.msg_ids,
                                    p.to_chat_id, p.local_id)
    return {"messages": sent}
