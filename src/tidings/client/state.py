"""The client's local mirror of the server: ``seq`` plus one ``ChatView`` per chat.

Everything here is pure data manipulation, no I/O: deciding *whether* an update
applies (pts/seq ordering, gaps) and fetching what is missing is ``sync.py``'s
job.  Keeping the two apart lets the ordering logic be reasoned about on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tidings import wire


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
    pinned: set[int] = field(default_factory=set)  # pinned msg_ids (message.pinned)
    cleared_upto: int = 0  # history cleared (for me or everyone) up to this pts
    expired: bool = False  # a chat.expired update arrived (and no chat.expire_set since)
    # This user's dialog settings (dialog.* user updates): pin order (0 = not
    # pinned), the pts it was hidden at (0 = shown), muted until (0 = not muted).
    dialog_pinned: int = 0
    dialog_hidden: int = 0
    muted_until: int = 0


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
    handed to listeners and must not change under them when a recall arrives),
    with the fields the server omits at their default filled in."""
    msg_id = message.get("msg_id")
    if isinstance(msg_id, int):
        view.messages[msg_id] = wire.with_message_defaults(message)


def apply_dialog_update(view: ChatView, update: dict[str, Any]) -> None:
    """A ``dialog.*`` user update: the values are absolute, so replaying is safe."""
    kind = update.get("kind")
    if kind == "dialog.pinned":
        view.dialog_pinned = _number(update.get("pinned_order"), 1)
    elif kind == "dialog.unpinned":
        view.dialog_pinned = 0
    elif kind == "dialog.hidden":
        view.dialog_hidden = _number(update.get("hidden_pts"), 0)
    elif kind == "dialog.muted":
        view.muted_until = _number(update.get("muted_until"), 0)


def _number(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def forget_messages(view: ChatView, msg_ids: object, *, unpin: bool = True) -> None:
    """Deleted for everyone (``unpin``: a deleted message loses its pin), or for
    this user alone (the pin is the chat's and stays): the messages leave the view."""
    if isinstance(msg_ids, list):
        for msg_id in msg_ids:
            if isinstance(msg_id, int):
                view.messages.pop(msg_id, None)
                if unpin:
                    view.pinned.discard(msg_id)


def clear_upto(view: ChatView, upto: object) -> None:
    """History cleared up to ``upto``: every message at or below it leaves the view."""
    if isinstance(upto, int):
        for msg_id in [m for m in view.messages if m <= upto]:
            del view.messages[msg_id]
        view.pinned = {m for m in view.pinned if m > upto}
        view.cleared_upto = max(view.cleared_upto, upto)


MEDIA_STATE_KINDS = frozenset({"media.expired", "media.deleted", "media.renewed",
                               "media.preserved", "media.released", "media.updated"})


CHAT_FIELDS = ("title", "about", "avatar_file_id", "announcement", "join_approval",
               "history_visibility", "mute_all", "permissions")


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
            # What the server erases on recall: content and what hangs off it.
            stored["recalled_at"] = update.get("recalled_at", update.get("date"))
            stored["recalled_by"] = update.get("recalled_by")
            stored.update(text=None, entities=None, location=None, attributes=None, tags=[],
                          reactions={}, my_reactions=[], file_id=None, file=None)
        if isinstance(msg_id, int):
            view.pinned.discard(msg_id)
    elif kind == "message.deleted":
        forget_messages(view, update.get("msg_ids"))
    elif kind == "message.ttl_started":
        for msg_id in update.get("msg_ids") or ():
            stored = view.messages.get(msg_id) if isinstance(msg_id, int) else None
            if stored is not None:
                stored["ttl_expires_at"] = update.get("ttl_expires_at")
    elif kind == "history.cleared":
        clear_upto(view, update.get("upto_pts"))
    elif kind in ("message.reactions", "message.attributes"):
        apply_message_extras(view, update)
    elif kind in MEDIA_STATE_KINDS and isinstance(update.get("file"), dict):
        # The file's new state for every message showing it (no viewer actions
        # in a pushed update: it is one frame for every member).
        for msg_id in update.get("msg_ids") or ():
            stored = view.messages.get(msg_id) if isinstance(msg_id, int) else None
            if stored is not None:
                stored["file"] = dict(update["file"])
    elif kind == "message.pinned" and isinstance(update.get("msg_id"), int):
        if update["msg_id"] > view.cleared_upto:  # a cleared message is out of view
            view.pinned.add(update["msg_id"])
    elif kind == "message.unpinned" and isinstance(update.get("msg_id"), int):
        view.pinned.discard(update["msg_id"])
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
        view.expired = False  # reopened (or a new time set before it passed)
    elif kind == "chat.expired":
        # The composer closes: the chat is read-only from here until reopened.
        view.expired = True
        if view.chat is not None:
            view.chat["expire_at"] = update.get("expire_at")
    elif kind in ("chat.updated", "chat.permissions") and view.chat is not None:
        # The Chat fields the update carries (chat.update, chat.mute_all,
        # chat.set_permissions); "storage" and "by" are not Chat fields.
        for key in CHAT_FIELDS:
            if key in update:
                value = update[key]
                view.chat[key] = dict(value) if isinstance(value, dict) else value


def apply_message_extras(view: ChatView, update: dict[str, Any]) -> None:
    """``message.reactions`` (absolute counts) and ``message.attributes`` on a
    message this view holds. ``my_reactions`` is not kept here: the view does not
    know whose device it is (``user_reactions`` of the update is that user's)."""
    msg_id = update.get("msg_id")
    stored = view.messages.get(msg_id) if isinstance(msg_id, int) else None
    if stored is None:
        return
    if update.get("kind") == "message.reactions":
        reactions = update.get("reactions")
        stored["reactions"] = dict(reactions) if isinstance(reactions, dict) else {}
    else:
        stored["attributes"] = update.get("attributes")
        tags = update.get("tags")
        stored["tags"] = list(tags) if isinstance(tags, list) else []
