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
    if not updates:
        return

    def publish() -> None:
        bus.publish(ChatEvent(chat_id=chat_id, frame=chat_frame(chat_id, updates),
                              joined=joined or [], left=left or [],
                              views_changed=views_changed))

    txn.call_after(publish)


def publish_user_on_commit(
    txn: Txn, bus: Bus, user_id: int, updates: list[dict[str, Any]], *,
    joined_chats: list[int] | None = None, left_chats: list[int] | None = None,
    close_devices: list[int] | None = None, views_changed: list[int] | None = None,
) -> None:
    if not updates:
        return

    def publish() -> None:
        bus.publish(UserEvent(user_id=user_id, frame=user_frame(updates),
                              joined_chats=joined_chats or [], left_chats=left_chats or [],
                              close_devices=close_devices or [],
                              views_changed=views_changed or []))

    txn.call_after(publish)
