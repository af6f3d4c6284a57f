"""The client's local mirror of the server: ``seq`` plus one ``ChatView`` per chat.

Everything here is pure data manipulation, no I/O: deciding *whether* an update
applies (pts/seq ordering, gaps) and fetching what is missing is ``sync.py``'s
job.  Keeping the two apart lets the ordering logic be reasoned about on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ChatView:
    """What this device knows about one chat, as of ``pts``.

    ``members``/``roles`` are only what the updates seen so far revealed (a client
    that started from ``sync.get_state`` never saw the older joins), so treat them
    as a hint, not as the member list.
    """

    chat_id: int
    pts: int = 0
    chat: dict[str, Any] | None = None
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: set[int] = field(default_factory=set)
    roles: dict[int, str] = field(default_factory=dict)
    left: bool = False
    read_pts: int = 0


@dataclass
class SyncState:
    """``initialized`` is False until the first ``sync.get_state``: before it there
    is no base to compare pts/seq against, so pushes are not applied."""

    seq: int = 0
    chats: dict[int, ChatView] = field(default_factory=dict)
    initialized: bool = False

    def reset(self) -> None:
        self.seq = 0
        self.chats.clear()
        self.initialized = False

    def view(self, chat_id: int) -> ChatView:
        """The view of ``chat_id``, created empty (pts 0) when unknown."""
        found = self.chats.get(chat_id)
        if found is None:
            found = self.chats[chat_id] = ChatView(chat_id)
        return found

    def find(self, chat_id: object) -> ChatView | None:
        """The view of ``chat_id`` if known; tolerates a missing/malformed id from the wire."""
        return self.chats.get(chat_id) if isinstance(chat_id, int) else None

    def known_pts(self) -> dict[str, int]:
        """The ``chats`` parameter of ``sync.get_difference``: chats still joined.

        JSON object keys are strings, so the ids are sent as strings."""
        return {str(v.chat_id): v.pts for v in self.chats.values() if not v.left}


def store_message(view: ChatView, message: dict[str, Any]) -> None:
    """Keep the latest version of a message (a copy: the update that carried it is
    handed to listeners and must not change under them when a recall arrives)."""
    msg_id = message.get("msg_id")
    if isinstance(msg_id, int):
        view.messages[msg_id] = dict(message)


def apply_chat_update(view: ChatView, update: dict[str, Any]) -> None:
    """Apply the effect of one chat update; the caller checked the pts order and
    moves ``view.pts`` itself.  Unknown kinds only advance pts (forward compatible)."""
    kind = update.get("kind")
    if kind == "message.new":
        message = update.get("message")
        if isinstance(message, dict):
            store_message(view, message)
    elif kind == "message.recalled":
        msg_id = update.get("msg_id")
        stored = view.messages.get(msg_id) if isinstance(msg_id, int) else None
        if stored is not None:
            stored["recalled_at"] = update.get("recalled_at", update.get("date"))
            stored["recalled_by"] = update.get("recalled_by")
            stored["text"] = None
    elif kind == "chat.created":
        chat = update.get("chat")
        if isinstance(chat, dict):
            view.chat = dict(chat)
    elif kind in ("member.joined", "member.role"):
        user_id = update.get("user_id")
        if isinstance(user_id, int):
            view.members.add(user_id)
            role = update.get("role")
            if isinstance(role, str):
                view.roles[user_id] = role
    elif kind == "member.left":
        user_id = update.get("user_id")
        if isinstance(user_id, int):
            view.members.discard(user_id)
            view.roles.pop(user_id, None)
    elif kind == "chat.expire_set" and view.chat is not None:
        view.chat["expire_at"] = update.get("expire_at")
