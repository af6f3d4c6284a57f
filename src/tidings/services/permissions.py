"""Who may do what in a chat, in one place: the roles and their ranks, the
per-chat permissions of plain members, and the one check every RPC uses.

Each action has a name. The nine *permissions* (``wire.PERMISSIONS``) are
what a chat's owner and admins grant plain members (``chat.set_permissions``);
the other names are *role actions*, reserved to admins or to the owner.

    role        rank   may
    owner       4      everything
    admin       3      everything but the owner actions
    member      2      the chat's permissions
    restricted  1      the chat's permissions, never send_media, mention_all,
                       add_members or invite_users
    readonly    0      reads only: view_history and export as the chat allows,
                       and no reactions (the ``react`` action)

In a channel only owners and admins post or add members. In a direct chat
both members may do everything a direct chat allows (no one is added to
one), including managing its media and clearing it for both.

A refusal is ``FORBIDDEN`` with ``data.permission`` naming the action.
Moderation (``chat.mute_member``, ``chat.mute_all``) is checked by
``check_send``, which answers ``MUTED``.
"""

from __future__ import annotations

from typing import Any

from tidings import wire
from tidings.errors import ErrorCode, TidingsError, forbidden, invalid
from tidings.store.chats import ChatRow, MemberRow

ROLES: tuple[str, ...] = ("owner", "admin", "member", "restricted", "readonly")
RANK: dict[str, int] = {"owner": 4, "admin": 3, "member": 2, "restricted": 1, "readonly": 0}
ADMIN_ROLES = frozenset({"owner", "admin"})

PERMISSIONS: tuple[str, ...] = wire.PERMISSIONS
DEFAULTS: dict[str, bool] = wire.DEFAULT_PERMISSIONS

RESTRICTED_NEVER = frozenset({"send_media", "mention_all", "add_members", "invite_users"})
READONLY_MAY = frozenset({"view_history", "export"})
CHANNEL_ADMIN_ONLY = frozenset({"send_messages", "send_media", "mention_all", "add_members"})

# Role actions: the lowest role that may, and what a refusal says.
ADMIN_ACTIONS: dict[str, str] = {
    "remove_members": "remove members",
    "ban_users": "ban or unban users",
    "mute_members": "mute members",
    "set_roles": "change members' roles",
    "set_permissions": "change what members may do",
    "approve_members": "approve or reject join requests",
    "moderate_messages": "recall, delete or tag other members' messages",
    "message_ttl": "set how long messages are kept",
    "storage": "change the chat's media retention",
    "pool": "manage the chat storage pool",
}
OWNER_ACTIONS: dict[str, str] = {
    "add_admins": "name or remove admins",
    "transfer_owner": "transfer ownership",
    "set_expire": "set when a chat expires",
    "clear_history": "clear a group's history for everyone",
}
# What every member may do but a readonly one (it reads only).
MEMBER_ACTIONS: dict[str, str] = {
    "react": "react to messages",
}
# What both members of a direct chat may do (there are no admins there).
DIRECT_MAY = frozenset({*PERMISSIONS, *MEMBER_ACTIONS, "storage", "pool", "message_ttl",
                        "clear_history"}
                       - {"add_members", "invite_users", "change_info"})

_PERMISSION_TEXT: dict[str, str] = {
    "send_messages": "send messages",
    "send_media": "send media",
    "add_members": "add members",
    "pin_messages": "pin or unpin messages",
    "change_info": "change the chat's info",
    "invite_users": "invite users",
    "mention_all": "mention everyone",
    "view_history": "see the history from before joining",
    "export": "export this chat",
}


def is_admin(member: MemberRow) -> bool:
    return member.role in ADMIN_ROLES


def outranks(actor: MemberRow, role: str) -> bool:
    return RANK[actor.role] > RANK.get(role, 0)


def require_outranks(actor: MemberRow, role: str) -> None:
    """Acting on a member (remove, ban, mute, change role) needs a higher rank
    than theirs: admins act on members below admin, the owner on everyone."""
    if outranks(actor, role):
        return
    if role == "owner":
        raise forbidden("nobody acts on the owner", role=role)
    if role == "admin":
        raise forbidden("only the owner acts on an admin", permission="add_admins", role=role)
    raise forbidden(f"only the owner or an admin acts on a {role} member",
                    permission="remove_members", role=role)


def allows(chat: ChatRow, member: MemberRow, action: str) -> bool:
    """Whether ``member`` may do ``action`` in ``chat``: a permission or a role action."""
    if chat.kind == "direct":
        return action in DIRECT_MAY
    role = member.role
    if action in OWNER_ACTIONS:
        return role == "owner"
    if action in ADMIN_ACTIONS:
        return role in ADMIN_ROLES
    if action in MEMBER_ACTIONS:
        return role != "readonly"
    if action not in DEFAULTS:
        raise ValueError(f"unknown action {action!r}")
    if role in ADMIN_ROLES:
        return True
    if chat.kind == "channel" and action in CHANNEL_ADMIN_ONLY:
        return False
    if role == "readonly" and action not in READONLY_MAY:
        return False
    if role == "restricted" and action in RESTRICTED_NEVER:
        return False
    return chat.permission_map().get(action, False)


def require(chat: ChatRow, member: MemberRow, action: str, **data: Any) -> None:
    """The check every RPC uses: ``FORBIDDEN`` with ``data.permission`` unless allowed."""
    if allows(chat, member, action):
        return
    raise forbidden(_refusal(chat, member, action), permission=action, **data)


def _refusal(chat: ChatRow, member: MemberRow, action: str) -> str:
    if chat.kind == "direct":
        return "a direct chat does not allow this"
    if action in OWNER_ACTIONS:
        return f"only the owner may {OWNER_ACTIONS[action]}"
    if action in ADMIN_ACTIONS:
        return f"only the owner or an admin may {ADMIN_ACTIONS[action]}"
    if action in MEMBER_ACTIONS:
        return f"a {member.role} member may not {MEMBER_ACTIONS[action]}"
    what = _PERMISSION_TEXT[action]
    if chat.kind == "channel" and action in CHANNEL_ADMIN_ONLY:
        return f"only the owner and admins {what} in a channel"
    if member.role in ("readonly", "restricted"):
        return f"a {member.role} member may not {what}"
    return f"members of this chat may not {what}; the owner or an admin may"


def check_send(chat: ChatRow, member: MemberRow, kind: str, mentions_all: bool,
               now: int) -> None:
    """Everything that decides whether ``member`` may send a ``kind`` message
    now: permissions, then a moderator's mute, then the chat-wide mute."""
    require(chat, member, "send_media" if kind in wire.MEDIA_KINDS else "send_messages",
            chat_id=chat.chat_id)
    if mentions_all:
        require(chat, member, "mention_all")
    if member.send_muted_until > now and not is_admin(member):
        raise TidingsError(ErrorCode.MUTED, "you are muted in this chat until "
                           f"{member.send_muted_until}", chat_id=chat.chat_id,
                           until=member.send_muted_until)
    if chat.mute_all and not is_admin(member):
        raise TidingsError(ErrorCode.MUTED, "only the owner and admins may post while the "
                           "chat is muted for everyone", chat_id=chat.chat_id, until=None,
                           mute_all=True)


def sees_history(chat: ChatRow, role: str) -> bool:
    """Whether someone joining now with ``role`` sees the history from before
    the join: the chat shows its full history and the role may view it."""
    if chat.history_visibility != "full":
        return False
    if chat.kind == "direct" or role in ADMIN_ROLES:
        return True
    return chat.permission_map()["view_history"]


def check_names(given: dict[str, bool]) -> None:
    unknown = sorted(set(given) - set(DEFAULTS))
    if unknown:
        raise invalid(f"unknown permission {unknown[0]!r}; known: {', '.join(PERMISSIONS)}",
                      field="permissions", permission=unknown[0])


def merged_overrides(chat: ChatRow, given: dict[str, bool]) -> dict[str, bool]:
    """What to store after ``chat.set_permissions``: the chat's permissions with
    ``given`` applied (names left out keep their value), minus the defaults."""
    check_names(given)
    merged = {**chat.permission_map(), **given}
    return {k: v for k, v in merged.items() if DEFAULTS[k] != v}
