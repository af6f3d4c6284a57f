"""Hand committed updates to the bus. Every helper here registers an
after-commit callback, so nothing is published for a transaction that rolls
back (Zulip's ``send_event_on_commit``)."""

from __future__ import annotations

from typing import Any

from tidings import wire
from tidings.bus.base import Bus, ChatEvent, UserEvent
from tidings.db.engine import Txn


def chat_frame(chat_id: int, updates: list[dict[str, Any]]) -> bytes:
    return wire.encode({"push": "chat_updates", "chat_id": chat_id, "updates": updates})


def user_frame(updates: list[dict[str, Any]]) -> bytes:
    return wire.encode({"push": "user_updates", "updates": updates})


def publish_chat_on_commit(
    txn: Txn, bus: Bus, chat_id: int, updates: list[dict[str, Any]], *,
    joined: list[int] | None = None, left: list[int] | None = None,
    views_changed: bool = False,
) -> None:
    """``joined``/``left`` change who follows the chat; the event carries the
    newest pts among ``updates`` as the pts of that change."""
    if not updates:
        return
    membership_pts = max(int(u["pts"]) for u in updates) if joined or left else 0

    def publish() -> None:
        bus.publish(ChatEvent(chat_id=chat_id, frame=chat_frame(chat_id, updates),
                              joined=joined or [], left=left or [],
                              views_changed=views_changed, membership_pts=membership_pts))

    txn.call_after(publish)


def publish_user_on_commit(
    txn: Txn, bus: Bus, user_id: int, updates: list[dict[str, Any]], *,
    joined_chats: list[int] | None = None, left_chats: list[int] | None = None,
    close_devices: list[int] | None = None, views_changed: list[int] | None = None,
    membership_pts: int = 0,
) -> None:
    """``membership_pts``: with ``joined_chats``/``left_chats``, a pts that change
    wrote in the chat (hubs ignore a change older than one they applied)."""
    if not updates:
        return

    def publish() -> None:
        bus.publish(UserEvent(user_id=user_id, frame=user_frame(updates),
                              joined_chats=joined_chats or [], left_chats=left_chats or [],
                              close_devices=close_devices or [],
                              views_changed=views_changed or [],
                              membership_pts=membership_pts))

    txn.call_after(publish)
