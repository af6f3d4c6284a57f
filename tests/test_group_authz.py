"""The authorization matrix of the group methods, on both engines: one world
with a user in every situation (non-member, left, removed, banned, muted,
restricted, readonly, a plain member facing each permission turned off, a
pending join request, spent invites), and every refusal it must produce,
each with its error code and ``data``, and with nothing written.

The cases run in one world, one after another: each is checked to write
nothing, so none of them changes what the next one sees."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from tidings import wire
from tidings.clock import FakeClock
from tidings.errors import ErrorCode, TidingsError
from tidings.services.chat_info import ChatInfoChange
from tidings.services.container import Services

from .group_helpers import snapshot
from .helpers import make_users, send_text
from .media_service_helpers import file_bytes, upload


@dataclass
class World:
    sv: Services
    chat: int = 0  # a group: every permission a member could miss is off
    open_chat: int = 0  # a group with default permissions
    approval_chat: int = 0  # join approval on
    channel: int = 0
    u: dict[str, int] = field(default_factory=dict)
    invites: dict[str, str] = field(default_factory=dict)
    msg_id: int = 0
    open_msg_id: int = 0
    loose_chat: int = 0  # every permission on
    loose_msg_id: int = 0
    files: dict[str, int] = field(default_factory=dict)  # user name -> an uploaded file
    muted_until: int = 0


async def build(sv: Services, clock: FakeClock) -> World:
    names = ["owner", "admin", "member", "restricted", "readonly", "outsider", "left",
             "removed", "banned", "muted", "pending", "newcomer", "admin2"]
    w = World(sv, u=dict(zip(names, await make_users(sv, *names), strict=True)))
    u = w.u
    in_chat = [u[n] for n in ("admin", "member", "restricted", "readonly", "left", "removed",
                              "banned", "muted", "admin2")]
    w.chat = (await sv.chats.create(u["owner"], "group", "matrix", in_chat)).chat_id
    for name, role in (("admin", "admin"), ("admin2", "admin"), ("restricted", "restricted"),
                       ("readonly", "readonly")):
        await sv.group_admin.set_role(u["owner"], w.chat, u[name], role)
    w.msg_id = (await send_text(sv, u["owner"], w.chat, "hello")).msg_id
    w.invites["live"] = (await sv.invites.create(u["owner"], w.chat, None, None)).invite
    await sv.chats.leave(u["left"], w.chat)
    await sv.chats.remove_member(u["owner"], w.chat, u["removed"])
    await sv.group_admin.ban(u["owner"], w.chat, u["banned"])
    w.muted_until = clock.now() + 3600
    await sv.group_admin.mute_member(u["owner"], w.chat, u["muted"], w.muted_until)
    for name in ("member", "restricted"):
        w.files[name] = (await upload(sv, u[name], file_bytes())).file_id
    w.invites["expired"] = (await sv.invites.create(u["owner"], w.chat, clock.now() + 5,
                                                    None)).invite
    used = await sv.invites.create(u["owner"], w.chat, None, 1)
    await sv.invites.join(u["newcomer"], used.invite, "")
    await sv.chats.leave(u["newcomer"], w.chat)
    w.invites["used_up"] = used.invite
    revoked = await sv.invites.create(u["owner"], w.chat, None, None)
    await sv.invites.revoke(u["owner"], revoked.invite)
    w.invites["revoked"] = revoked.invite
    w.open_chat = (await sv.chats.create(u["owner"], "group", "open", [
        u["member"], u["restricted"], u["muted"]])).chat_id
    await sv.group_admin.set_role(u["owner"], w.open_chat, u["restricted"], "restricted")
    await sv.group_admin.mute_member(u["owner"], w.open_chat, u["muted"], w.muted_until)
    w.open_msg_id = (await send_text(sv, u["owner"], w.open_chat, "hello")).msg_id
    await sv.group_admin.set_permissions(u["owner"], w.chat, {
        p: False for p in wire.PERMISSIONS})
    # every permission on: what restricted and readonly members still may not do
    w.loose_chat = (await sv.chats.create(u["owner"], "group", "loose", [
        u["restricted"], u["readonly"]])).chat_id
    await sv.group_admin.set_permissions(u["owner"], w.loose_chat, {
        p: True for p in wire.PERMISSIONS})
    await sv.group_admin.set_role(u["owner"], w.loose_chat, u["restricted"], "restricted")
    await sv.group_admin.set_role(u["owner"], w.loose_chat, u["readonly"], "readonly")
    w.loose_msg_id = (await send_text(sv, u["owner"], w.loose_chat, "hello")).msg_id
    w.approval_chat = (await sv.chats.create(u["owner"], "group", "ask", [])).chat_id
    await sv.chat_info.update(u["owner"], w.approval_chat, ChatInfoChange(join_approval=True))
    w.invites["approval"] = (await sv.invites.create(u["owner"], w.approval_chat, None,
                                                     None)).invite
    await sv.invites.join(u["pending"], w.invites["approval"], "let me in")
    w.channel = (await sv.chats.create(u["owner"], "channel", "news", [u["member"]])).chat_id
    clock.advance(10)  # the "expired" invite is now past its time
    return w


Call = Callable[[World], Awaitable[Any]]
EVERYONE = [wire.Entity(type="mention_all", offset=0, length=4)]


def send(who: str, text: str = "hi", chat: str = "chat", **kw: Any) -> Call:
    return lambda w: send_text(w.sv, w.u[who], getattr(w, chat), text, **kw)


def media(who: str, chat: str = "chat") -> Call:
    """A file message, of a file ``who`` uploaded while building the world."""
    return lambda w: send_text(w.sv, w.u[who], getattr(w, chat), None,  # type: ignore[arg-type]
                               kind="file", file_id=w.files[who])


def nonmember_cases(who: str) -> list[tuple[str, Call, ErrorCode, dict[str, Any]]]:
    return [
        (f"{who}: send", send(who), ErrorCode.NOT_A_MEMBER, {}),
        (f"{who}: pin", lambda w: w.sv.pins.pin(w.u[who], w.chat, w.msg_id),
         ErrorCode.NOT_A_MEMBER, {}),
        (f"{who}: add members", lambda w: w.sv.chats.add_members(w.u[who], w.chat,
                                                                 [w.u["outsider"]]),
         ErrorCode.NOT_A_MEMBER, {}),
        (f"{who}: chat.update", lambda w: w.sv.chat_info.update(
            w.u[who], w.chat, ChatInfoChange(title="x")), ErrorCode.NOT_A_MEMBER, {}),
        (f"{who}: create invite", lambda w: w.sv.invites.create(w.u[who], w.chat, None, None),
         ErrorCode.NOT_A_MEMBER, {}),
        (f"{who}: set permissions", lambda w: w.sv.group_admin.set_permissions(
            w.u[who], w.chat, {"export": True}), ErrorCode.NOT_A_MEMBER, {}),
        (f"{who}: mute", lambda w: w.sv.group_admin.mute_member(w.u[who], w.chat,
                                                                w.u["member"], 0),
         ErrorCode.NOT_A_MEMBER, {}),
        (f"{who}: bans", lambda w: w.sv.group_admin.bans(w.u[who], w.chat),
         ErrorCode.NOT_A_MEMBER, {}),
        (f"{who}: announcements", lambda w: w.sv.chat_info.announcements(w.u[who], w.chat),
         ErrorCode.NOT_A_MEMBER, {}),
        (f"{who}: export", lambda w: w.sv.exports.request(w.u[who], w.chat, "jsonl", None,
                                                          None), ErrorCode.NOT_A_MEMBER, {}),
    ]


def forbidden(name: str, call: Call, permission: str | None) -> tuple[
        str, Call, ErrorCode, dict[str, Any]]:
    return (name, call, ErrorCode.FORBIDDEN,
            {"permission": permission} if permission is not None else {})


CASES: list[tuple[str, Call, ErrorCode, dict[str, Any]]] = [
    *nonmember_cases("outsider"), *nonmember_cases("left"), *nonmember_cases("removed"),
    *nonmember_cases("banned"),
    # banned: kept out
    ("banned: re-added", lambda w: w.sv.chats.add_members(w.u["owner"], w.chat,
                                                          [w.u["banned"]]),
     ErrorCode.BANNED, {}),
    ("banned: join by invite", lambda w: w.sv.invites.join(w.u["banned"], w.invites["live"], ""),
     ErrorCode.BANNED, {}),
    # muted and mute-all
    ("muted: send", send("muted", chat="open_chat"), ErrorCode.MUTED,
     {"until": None}),  # the time is filled in by the test
    ("muted: forward", lambda w: w.sv.forward.forward(w.u["muted"], w.open_chat,
                                                      [w.open_msg_id], w.open_chat, None),
     ErrorCode.MUTED, {}),
    # each permission off for plain members
    forbidden("member: send_messages off", send("member"), "send_messages"),
    forbidden("member: send_media off", media("member"), "send_media"),
    forbidden("member: add_members off", lambda w: w.sv.chats.add_members(
        w.u["member"], w.chat, [w.u["outsider"]]), "add_members"),
    forbidden("member: pin_messages off", lambda w: w.sv.pins.pin(w.u["member"], w.chat,
                                                                  w.msg_id), "pin_messages"),
    forbidden("member: change_info off", lambda w: w.sv.chat_info.update(
        w.u["member"], w.chat, ChatInfoChange(about="x")), "change_info"),
    forbidden("member: invite_users off", lambda w: w.sv.invites.create(
        w.u["member"], w.chat, None, None), "invite_users"),
    forbidden("member: mention_all off", send("member", "@all", chat="open_chat",
                                              entities=EVERYONE), "mention_all"),
    forbidden("member: export off", lambda w: w.sv.exports.request(
        w.u["member"], w.chat, "jsonl", None, None), "export"),
    # roles below member, where the chat allows everything
    forbidden("restricted: media", media("restricted", "loose_chat"), "send_media"),
    forbidden("restricted: mention all", send("restricted", "@all", chat="loose_chat",
                                              entities=EVERYONE), "mention_all"),
    forbidden("restricted: add members", lambda w: w.sv.chats.add_members(
        w.u["restricted"], w.loose_chat, [w.u["outsider"]]), "add_members"),
    forbidden("restricted: invite", lambda w: w.sv.invites.create(
        w.u["restricted"], w.loose_chat, None, None), "invite_users"),
    forbidden("readonly: send", send("readonly", chat="loose_chat"), "send_messages"),
    forbidden("readonly: pin", lambda w: w.sv.pins.pin(w.u["readonly"], w.loose_chat,
                                                       w.loose_msg_id), "pin_messages"),
    forbidden("readonly: react", lambda w: w.sv.reactions.react(
        w.u["readonly"], w.loose_chat, w.loose_msg_id, "👍"), "react"),
    forbidden("readonly: change info", lambda w: w.sv.chat_info.update(
        w.u["readonly"], w.loose_chat, ChatInfoChange(about="x")), "change_info"),
    forbidden("channel member: send", send("member", chat="channel"), "send_messages"),
    # role actions
    forbidden("member: set permissions", lambda w: w.sv.group_admin.set_permissions(
        w.u["member"], w.chat, {"export": True}), "set_permissions"),
    forbidden("member: set role", lambda w: w.sv.group_admin.set_role(
        w.u["member"], w.chat, w.u["restricted"], "member"), "set_roles"),
    forbidden("admin: name an admin", lambda w: w.sv.group_admin.set_role(
        w.u["admin"], w.chat, w.u["member"], "admin"), "add_admins"),
    forbidden("admin: demote an admin", lambda w: w.sv.group_admin.set_role(
        w.u["admin"], w.chat, w.u["admin2"], "member"), "add_admins"),
    forbidden("admin: act on the owner", lambda w: w.sv.group_admin.ban(
        w.u["admin"], w.chat, w.u["owner"]), None),
    forbidden("admin: mute an admin", lambda w: w.sv.group_admin.mute_member(
        w.u["admin"], w.chat, w.u["admin2"], 0), None),
    forbidden("admin: transfer ownership", lambda w: w.sv.group_admin.transfer_owner(
        w.u["admin"], w.chat, w.u["member"]), "transfer_owner"),
    forbidden("member: mute", lambda w: w.sv.group_admin.mute_member(
        w.u["member"], w.chat, w.u["readonly"], 0), "mute_members"),
    forbidden("member: mute all", lambda w: w.sv.group_admin.mute_all(
        w.u["member"], w.chat, True), "mute_members"),
    forbidden("member: ban", lambda w: w.sv.group_admin.ban(w.u["member"], w.chat,
                                                            w.u["readonly"]), "ban_users"),
    forbidden("member: unban", lambda w: w.sv.group_admin.unban(w.u["member"], w.chat,
                                                                w.u["banned"]), "ban_users"),
    forbidden("member: remove", lambda w: w.sv.chats.remove_member(
        w.u["member"], w.chat, w.u["readonly"]), "remove_members"),
    forbidden("member: join requests", lambda w: w.sv.invites.requests(
        w.u["member"], w.chat), "approve_members"),
    forbidden("member: join approval", lambda w: w.sv.chat_info.update(
        w.u["member"], w.chat, ChatInfoChange(join_approval=True)), "set_permissions"),
    forbidden("member: revoke another's invite", lambda w: w.sv.invites.revoke(
        w.u["member"], w.invites["live"]), "approve_members"),
    # invites and requests
    ("invite expired", lambda w: w.sv.invites.join(w.u["outsider"], w.invites["expired"], ""),
     ErrorCode.INVITE_INVALID, {"reason": "expired"}),
    ("invite used up", lambda w: w.sv.invites.join(w.u["outsider"], w.invites["used_up"], ""),
     ErrorCode.INVITE_INVALID, {"reason": "used_up"}),
    ("invite revoked", lambda w: w.sv.invites.join(w.u["outsider"], w.invites["revoked"], ""),
     ErrorCode.INVITE_INVALID, {"reason": "revoked"}),
    ("invite unknown", lambda w: w.sv.invites.info("no-such-invite"),
     ErrorCode.INVITE_INVALID, {"reason": "unknown"}),
    ("request pending", lambda w: w.sv.invites.join(w.u["pending"], w.invites["approval"], ""),
     ErrorCode.REQUEST_PENDING, {}),
    ("request pending: not a member yet", lambda w: send_text(
        w.sv, w.u["pending"], w.approval_chat, "hi"), ErrorCode.NOT_A_MEMBER, {}),
]


async def test_every_refusal(sv: Services, clock: FakeClock) -> None:
    w = await build(sv, clock)
    problems = []
    for name, call, code, data in CASES:
        if name == "muted: send":
            data = {"until": w.muted_until}
        before = await snapshot(sv)
        try:
            await call(w)
        except TidingsError as err:
            if err.code != code or any(err.data.get(k) != v for k, v in data.items()):
                problems.append(f"{name}: got {err.code} {err.data}, want {code} {data}")
        else:
            problems.append(f"{name}: succeeded, want {code}")
        if await snapshot(sv) != before:
            problems.append(f"{name}: wrote something")
    assert not problems, "\n".join(problems)


async def test_mute_all_refuses_plain_members_only(sv: Services, clock: FakeClock) -> None:
    w = await build(sv, clock)
    await sv.group_admin.set_permissions(w.u["owner"], w.chat, {"send_messages": True})
    await sv.group_admin.mute_all(w.u["owner"], w.chat, True)
    before = await snapshot(sv)
    for who in ("member", "restricted"):
        try:
            await send_text(sv, w.u[who], w.chat, "hi")
        except TidingsError as err:
            assert (err.code, err.data.get("mute_all")) == (ErrorCode.MUTED, True)
        else:
            raise AssertionError(f"{who} could post while the chat is muted")
    assert await snapshot(sv) == before
    await send_text(sv, w.u["admin"], w.chat, "admins post")
