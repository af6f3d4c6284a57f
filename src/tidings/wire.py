"""Shapes that cross the wire, shared by the server and the client SDK.

Objects here are what clients see: messages, chats, updates. They are encoded
with msgspec; ``encode``/``decode`` are the one JSON codec of the project.
Request parameter schemas live in ``tidings.api.schemas``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec

# -- value rules every decoded request obeys -------------------------------
# The store holds ids, pts and times in signed 64-bit columns, and PostgreSQL
# text cannot hold NUL; checking here, where the types are declared, means no
# value a client sends can fail a transaction (and with it a group commit).
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)
# No NUL and no lone surrogate (msgspec refuses an unpaired \uD800 escape while
# decoding; this also covers values built in Python, e.g. by the client SDK).
SAFE_TEXT_PATTERN = "^[^\x00\ud800-\udfff]*\\Z"
SAFE_TEXT_RULE = "must not contain NUL (\\u0000) or unpaired surrogate characters"

Id = Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]  # user, chat, msg, device, file ids
Pts = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]  # pts, seq, cursors, timestamps
Int64 = Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)]  # checked by the service
Text = Annotated[str, msgspec.Meta(pattern=SAFE_TEXT_PATTERN)]
_SAFE_TEXT = re.compile(SAFE_TEXT_PATTERN)


def is_safe_text(value: str) -> bool:
    """What ``Text`` accepts, for strings that arrive outside a schema (HTTP query)."""
    return _SAFE_TEXT.match(value) is not None
Latitude = Annotated[float, msgspec.Meta(ge=-90.0, le=90.0)]
Longitude = Annotated[float, msgspec.Meta(ge=-180.0, le=180.0)]

MessageKind = Literal["text", "image", "audio", "video", "file", "location", "system", "card"]
ChatKind = Literal["direct", "group", "channel"]
Role = Literal["owner", "admin", "member", "restricted", "readonly"]
EntityType = Literal["mention", "mention_all", "hashtag", "url", "bold", "italic", "code", "pre",
                     "text_link"]

HistoryVisibility = Literal["full", "joined", "none"]

# What plain members of a group or channel may do, and the defaults of a new
# chat (chat.set_permissions changes them; services.permissions checks them).
DEFAULT_PERMISSIONS: dict[str, bool] = {
    "send_messages": True,
    "send_media": True,
    "add_members": True,
    "pin_messages": False,
    "change_info": False,
    "invite_users": True,
    "mention_all": False,
    "view_history": True,
    "export": False,
}
PERMISSIONS: tuple[str, ...] = tuple(DEFAULT_PERMISSIONS)

SENDABLE_KINDS: frozenset[str] = frozenset({"text", "image", "audio", "video", "file", "location"})
MEDIA_KINDS: frozenset[str] = frozenset({"image", "audio", "video", "file"})


class Entity(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A span of the text: offset and length in Unicode code points."""

    type: EntityType
    offset: Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
    length: Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]
    user_id: Id | None = None
    url: Text | None = None


class Location(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    lat: Latitude
    lon: Longitude
    title: Text | None = None


class Card(msgspec.Struct, frozen=True):
    """A contact card (``user.share_card``): the user as they were when shared.
    Whoever sees it may send them a contact request with source ``card``."""

    user_id: int
    username: str
    display_name: str


class ForwardFrom(msgspec.Struct, frozen=True):
    """Where a forwarded message came from: always the original source, also
    when a forward is forwarded again."""

    chat_id: int
    msg_id: int
    sender_id: int
    date: int


class ReplyPreview(msgspec.Struct, frozen=True):
    """What a reply shows of the message it answers (``state`` says when that
    message was recalled or deleted; ``text`` is then null)."""

    msg_id: int
    sender_id: int
    kind: str
    text: str | None
    state: Literal["ok", "recalled", "deleted"] = "ok"


class FileInfo(msgspec.Struct, frozen=True):
    """A file as a viewer sees it now (``files`` is its one source of truth;
    messages only reference it). ``actions``: what this viewer may do now; a
    pushed update is one frame for every member, so there it is empty."""

    file_id: int
    kind: str
    name: str
    mime: str
    size: int
    sha256: str
    status: str  # active | expired | deleted | archived
    expires_at: int | None
    preserved_by: str | None  # chat_pool | sender | subscription
    width: int | None = None
    height: int | None = None
    thumbnail: bool = False
    created_at: int = 0
    expiring_soon: bool = False
    actions: list[str] = []


class Message(msgspec.Struct, frozen=True, omit_defaults=True):
    chat_id: int
    msg_id: int
    sender_id: int
    date: int
    kind: str
    text: str | None
    reply_to: int | None
    local_id: str | None
    entities: list[Entity] | None = None
    location: Location | None = None
    file_id: int | None = None
    recalled_at: int | None = None
    recalled_by: int | None = None
    system: dict[str, Any] | None = None
    forward_from: ForwardFrom | None = None
    reply_preview: ReplyPreview | None = None
    # Replies not deleted, and reactions by emoji, when the object was produced.
    reply_count: int = 0
    reactions: dict[str, int] = {}
    my_reactions: list[str] = []  # the viewer's own reactions
    attributes: dict[str, Any] | None = None  # the sender's/admins' own key/values
    tags: list[str] = []
    ttl_expires_at: int | None = None  # auto-delete (chat message_ttl) or burn-after-read
    burn_after_seconds: int | None = None
    file: FileInfo | None = None  # for image, video, audio and file messages
    card: Card | None = None  # kind "card" (user.share_card)


def with_message_defaults(message: dict[str, Any]) -> dict[str, Any]:
    """A wire message (a JSON object) with every field present. The server omits
    the fields at their default (``omit_defaults``: a history page is a third
    of the bytes); a client that keeps messages as dicts fills them back in."""
    full: dict[str, Any] = {
        f.name: f.default_factory() if f.default_factory is not msgspec.NODEFAULT else f.default
        for f in _DEFAULTED_FIELDS}
    full.update(message)
    return full


# Shared empty values for building a Message positionally on the hot paths
# (send, history): a Message is frozen and nothing on the server mutates them,
# where msgspec would otherwise build new ones per message.
NO_REACTIONS: dict[str, int] = {}
NO_STRINGS: list[str] = []


_DEFAULTED_FIELDS = [f for f in msgspec.structs.fields(Message) if not f.required]


class Chat(msgspec.Struct, frozen=True):
    chat_id: int
    kind: str
    title: str
    pts: int
    creator_id: int | None
    created_at: int
    member_count: int
    expire_at: int | None = None
    history_visibility: str = "joined"
    message_ttl: int | None = None  # auto-delete: seconds a new message is kept
    about: str = ""
    avatar_file_id: int | None = None
    announcement: str = ""  # the current one; chat.announcements has the history
    join_approval: bool = False  # joining by invite makes a request to approve
    mute_all: bool = False  # only the owner and admins post
    permissions: dict[str, bool] = {}  # what plain members may do (PERMISSIONS)


class Member(msgspec.Struct, frozen=True):
    user_id: int
    role: str
    joined_pts: int
    read_pts: int | None  # your own cursor only; other members' read state is private
    muted_until: int = 0  # muted by a moderator until (chat.mute_member); 0: not muted


class User(msgspec.Struct, frozen=True):
    user_id: int
    username: str
    display_name: str
    bio: str = ""
    avatar_file_id: int | None = None


class Device(msgspec.Struct, frozen=True):
    device_id: int
    name: str
    created_at: int
    last_seen_at: int
    current: bool = False


class Dialog(msgspec.Struct, frozen=True):
    """One row of the conversation list. ``last_message`` is the newest message
    the user may see; ``last_message_state`` says whether it was recalled or
    deleted (a deleted one carries no content), null when there is none."""

    chat: Chat
    last_message: Message | None
    unread_count: int
    read_pts: int
    role: str
    pinned: bool
    hidden: bool
    muted_until: int
    unread_mentions: int = 0
    last_message_state: Literal["ok", "recalled", "deleted"] | None = None
    pinned_order: int = 0  # 0 = not pinned; pinned dialogs list in ascending order
    # direct chats: the other member's read cursor ("read" ticks); null in groups,
    # or when either member turned read receipts off
    peer_read_pts: int | None = None
    # direct chats: the other user (yourself in a chat with yourself); null in groups
    peer_id: int | None = None


# -- updates ---------------------------------------------------------------
# An update on the wire is a flat object: {"pts"|"seq", "kind", "date", ...payload}.
# Chat update kinds (per-chat pts log):
CHAT_UPDATE_KINDS = (
    "message.new",  # message
    "message.recalled",  # msg_id, recalled_by
    "chat.created",  # chat
    "member.joined",  # user_id, role, by
    "member.left",  # user_id, by
    "member.role",  # user_id, role, by
    "chat.expire_set",  # expire_at, by
    "chat.expired",  # expire_at (written by the expiry job at that moment)
    "message.ttl_started",  # msg_ids, ttl_expires_at (burn-after-read read)
    "message.deleted",  # msg_ids, by (null: auto-delete, burn-after-read)
    "history.cleared",  # upto_pts, by (for everyone)
    "message.reactions",  # msg_id, reactions, user_id, emoji, op, user_reactions
    "message.pinned",  # msg_id, by
    "message.unpinned",  # msg_id, by
    "message.attributes",  # msg_id, attributes, tags, by
    # Media lifecycle (a file's new state, in every chat whose messages show it):
    "media.expired",  # file_id, msg_ids, file
    "media.deleted",  # file_id, msg_ids, file
    "media.renewed",  # file_id, msg_ids, file, by
    "media.preserved",  # file_id, msg_ids, file, by
    "media.released",  # file_id, msg_ids, file, by
    "media.updated",  # file_id, msg_ids, file (a new deadline from a changed setting)
    "media.renewal_requested",  # request_id, msg_id, file_id, user_id
    "media.renewal_decided",  # request_id, msg_id, state (approved | rejected), by
    "pool.updated",  # pool: {enabled, capacity, used, files}, by
    "chat.updated",  # storage: {media_ttl_seconds, cleanup}, by
)
# User update kinds (per-user seq log):
USER_UPDATE_KINDS = (
    "chat.joined",  # chat, joined_pts
    "chat.left",  # chat_id, pts
    "read.updated",  # chat_id, read_pts
    "privacy.updated",  # the settings that changed (find_me, ..., read_receipts)
    "block.added",  # user_id
    "block.removed",  # user_id
    "contact.requested",  # user_id, direction, source, message
    "contact.added",  # user_id, source, since
    "contact.rejected",  # user_id, direction
    "contact.removed",  # user_id
    "contact.cancelled",  # user_id, direction
    "user.updated",  # user (User: a profile changed)
    "message.recalled",  # chat_id, msg_id, recalled_by, recalled_at (for former members)
    "device.revoked",  # device_id
    "message.hidden",  # chat_id, msg_ids (deleted for me)
    "history.cleared",  # chat_id, upto_pts (for me; with by: for everyone, former members)
    "message.deleted",  # chat_id, msg_ids, by (for former members)
    "mention",  # chat_id, msg_id
    "dialog.pinned",  # chat_id, pinned_order
    "dialog.unpinned",  # chat_id
    "dialog.hidden",  # chat_id, hidden_pts (back with the first message after it)
    "dialog.muted",  # chat_id, muted_until (0 = not muted)
    "export.ready",  # job_id, chat_id, state (done | failed), url, error
    "quota.updated",  # quota: {quota, used, free, files} (my custody changed)
)


def chat_update(pts: int, kind: str, date: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {"pts": pts, "kind": kind, "date": date, **payload}


def message_update(m: Message) -> dict[str, Any]:
    """The ``message.new`` entry of a message (its msg_id is its pts). The struct
    itself, not its dict: msgspec encodes it straight to JSON."""
    return {"pts": m.msg_id, "kind": "message.new", "date": m.date, "message": m}


def user_update(seq: int, kind: str, date: int, payload: dict[str, Any]) -> dict[str, Any]:
    return {"seq": seq, "kind": kind, "date": date, **payload}


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def encode(obj: Any) -> bytes:
    return _encoder.encode(obj)


def decode(data: bytes | str) -> Any:
    return _decoder.decode(data)


def to_builtins(obj: Any) -> Any:
    return msgspec.to_builtins(obj)
