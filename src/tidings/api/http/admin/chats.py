"""``/admin/chats`` and ``/admin/recall-audit``: set any chat's expiry, list
chats, create a chat, add members, send as a member or as the system, read a
chat's history, disband a group, read the recall audit."""

from __future__ import annotations

from functools import partial

from tidings.api.http.admin.guard import TAG, admin_guard
from tidings.api.http.operations import Call, Operation, json_operation
from tidings.api.schemas.admin import (
    AddMembersBody,
    AdminChat,
    ChatPage,
    ChatResult,
    CreateChatBody,
    DisbandResult,
    ListChatsQuery,
    MessagePage,
    MessageResult,
    MessagesQuery,
    PtsResult,
    RecallAuditEntry,
    RecallAuditPage,
    RecallAuditQuery,
    SendBody,
    SetExpireBody,
    SetExpireResult,
)
from tidings.services.chat_admin import ChatAdmin
from tidings.services.container import Services
from tidings.services.operator_chats import OperatorChats


def operations(sv: Services) -> list[Operation]:
    admin = ChatAdmin(sv.db, sv.chats, sv.clock)
    operator = OperatorChats(sv.db, sv.bus, sv.clock, sv.settings, sv.chats, sv.messages)
    op = partial(json_operation, tag=TAG, guard=admin_guard(sv), auth="admin")

    async def set_expire(call: Call) -> SetExpireResult:
        p: SetExpireBody = call.body
        chat, expired, pts = await admin.set_expire(p.chat_id, p.user_id, p.peer_user_id,
                                                    p.expire_at)
        return SetExpireResult(chat, expired, pts)

    async def list_chats(call: Call) -> ChatPage:
        q: ListChatsQuery = call.query
        found, cursor = await admin.list_chats(q.expired, q.kind, q.query, q.limit, q.cursor)
        return ChatPage([AdminChat(c, e) for c, e in found], cursor)

    async def create(call: Call) -> ChatResult:
        p: CreateChatBody = call.body
        return ChatResult(await sv.chats.create_by_operator(p.owner_id, p.kind, p.title,
                                                            p.member_ids))

    async def add_members(call: Call) -> PtsResult:
        p: AddMembersBody = call.body
        return PtsResult(await operator.add_members(call.ids["chat_id"], p.user_ids))

    async def send(call: Call) -> MessageResult:
        p: SendBody = call.body
        chat_id = call.ids["chat_id"]
        if p.user_id is None:
            return MessageResult(await operator.send_notice(chat_id, p.text))
        return MessageResult(await operator.send_as(chat_id, p.user_id, p.text, p.local_id))

    async def history(call: Call) -> MessagePage:
        q: MessagesQuery = call.query
        found, older = await admin.messages(call.ids["chat_id"], q.before, q.limit)
        return MessagePage(found, older)

    async def disband(call: Call) -> DisbandResult:
        pts, removed = await operator.disband(call.ids["chat_id"])
        return DisbandResult(pts, removed)

    async def recall_audit(call: Call) -> RecallAuditPage:
        q: RecallAuditQuery = call.query
        chat, _, msg = (q.cursor or "0:0").partition(":")
        rows, last = await admin.recall_audit(q.chat_id, (int(chat), int(msg)), q.limit)
        return RecallAuditPage([RecallAuditEntry(**r) for r in rows],
                               None if last is None else f"{last[0]}:{last[1]}")

    return [
        op("POST", "/admin/chats/expire",
           "Set when a chat expires (a direct chat by its two users is created if missing); "
           "expire_at omitted, null or 0: never", set_expire, body=SetExpireBody,
           result=SetExpireResult),
        op("GET", "/admin/chats", "List chats with their expiry, ascending by chat_id",
           list_chats, query=ListChatsQuery, result=ChatPage),
        op("POST", "/admin/chats", "Create a group or channel owned by owner_id, with members "
           "(their add_me privacy does not apply; server-wide bans do)", create,
           body=CreateChatBody, result=ChatResult, status=201, errors=(403,),
           creates=("chat_id", "/chat/chat_id"),
           feeds={"POST /admin/chats/expire": {"chat_id": "/chat/chat_id"}}),
        op("POST", "/admin/chats/{chat_id}/members",
           "Add members to a group or channel (member.added, by null)", add_members,
           body=AddMembersBody, result=PtsResult, errors=(403,)),
        op("POST", "/admin/chats/{chat_id}/messages",
           "Send a text message as the member user_id (every message.send check applies), "
           "or without user_id a system message (action operator.notice)", send,
           body=SendBody, result=MessageResult, status=201, errors=(403, 409, 429)),
        op("GET", "/admin/chats/{chat_id}/messages",
           "Read any chat's history, a disbanded group's too (newest page first)", history,
           query=MessagesQuery, result=MessagePage),
        op("POST", "/admin/chats/{chat_id}/disband",
           "Disband a group or channel: every member removed, history kept; nobody can "
           "join it again (CHAT_DISBANDED)", disband, result=DisbandResult, errors=(403,)),
        op("GET", "/admin/recall-audit",
           "Recalled messages' original content (kept when the recall_audit setting is on), "
           "ascending by chat_id and msg_id", recall_audit, query=RecallAuditQuery,
           result=RecallAuditPage),
    ]
