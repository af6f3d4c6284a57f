"""Groups at the service level, on both engines: permissions, roles, moderation,
chat info, history visibility, invites and join approval. Each mutation's
test says exactly which updates it wrote (and none for a no-op)."""

from __future__ import annotations

from tidings import wire
from tidings.clock import FakeClock
from tidings.errors import ErrorCode
from tidings.services.chat_info import ChatInfoChange
from tidings.services.container import Services
from tidings.services.search import SearchRequest
from tidings.testing import RecordingBus

from .group_helpers import log_position, refused, written_since
from .helpers import make_users, send_text
from .media_helpers import png_bytes
from .media_service_helpers import file_bytes, upload


async def group_of(sv: Services, owner: int, *members: int) -> int:
    return (await sv.chats.create(owner, "group", "g", list(members))).chat_id


async def chat_of(sv: Services, user_id: int, chat_id: int) -> wire.Chat:
    return (await sv.chats.get(user_id, chat_id)).chat


async def roles_of(sv: Services, user_id: int, chat_id: int) -> dict[int, str]:
    return {m.user_id: m.role for m in (await sv.chats.get(user_id, chat_id)).members}


async def texts(sv: Services, user_id: int, chat_id: int) -> list[str | None]:
    page = await sv.timeline.history(user_id, chat_id, None, None, 100)
    return [m.text for m in page if m.kind == "text"]


# -- permissions --------------------------------------------------------------------

async def test_permissions_start_at_the_defaults_and_change(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = await group_of(sv, alice, bob)
    assert (await chat_of(sv, bob, chat_id)).permissions == wire.DEFAULT_PERMISSIONS
    m = await send_text(sv, alice, chat_id, "pin me")
    await refused(sv.pins.pin(bob, chat_id, m.msg_id), ErrorCode.FORBIDDEN, sv,
                  permission="pin_messages")

    before = await log_position(sv)
    pts = await sv.group_admin.set_permissions(alice, chat_id, {"pin_messages": True})
    assert await written_since(sv, before) == {f"chat:{chat_id}": ["chat.permissions"]}
    diff = await sv.sync.get_chat_difference(bob, chat_id, pts - 1, None)
    [update] = diff.updates
    assert update["permissions"] == {**wire.DEFAULT_PERMISSIONS, "pin_messages": True}
    assert update["by"] == alice and update["pts"] == pts
    assert (await chat_of(sv, bob, chat_id)).permissions["pin_messages"] is True
    assert await sv.pins.pin(bob, chat_id, m.msg_id)

    before = await log_position(sv)
    assert await sv.group_admin.set_permissions(alice, chat_id, {"pin_messages": True}) == (
        await chat_of(sv, alice, chat_id)).pts
    assert await written_since(sv, before) == {}
    await refused(sv.group_admin.set_permissions(alice, chat_id, {"fly": True}),
                  ErrorCode.INVALID_PARAMS, sv, field="permissions")
    await refused(sv.group_admin.set_permissions(bob, chat_id, {"export": True}),
                  ErrorCode.FORBIDDEN, sv, permission="set_permissions")


async def test_send_and_mention_all_follow_the_permissions(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = await group_of(sv, alice, bob)
    everyone = [wire.Entity(type="mention_all", offset=0, length=4)]
    await refused(send_text(sv, bob, chat_id, "@all", entities=everyone), ErrorCode.FORBIDDEN,
                  sv, permission="mention_all")
    await sv.group_admin.set_permissions(alice, chat_id, {"mention_all": True,
                                                          "send_messages": False})
    await refused(send_text(sv, bob, chat_id, "hi"), ErrorCode.FORBIDDEN, sv,
                  permission="send_messages")
    await send_text(sv, alice, chat_id, "owners always may")
    await sv.group_admin.set_permissions(alice, chat_id, {"send_messages": True})
    await send_text(sv, bob, chat_id, "@all", entities=everyone)
    assert await texts(sv, bob, chat_id) == ["owners always may", "@all"]


async def test_export_permission(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = await group_of(sv, alice, bob)
    await refused(sv.exports.request(bob, chat_id, "jsonl", None, None), ErrorCode.FORBIDDEN,
                  sv, permission="export")
    await sv.group_admin.set_permissions(alice, chat_id, {"export": True})
    assert await sv.exports.request(bob, chat_id, "jsonl", None, None) >= 1


# -- roles --------------------------------------------------------------------------

async def test_set_role_writes_a_chat_update_and_tells_the_member(sv: Services) -> None:
    alice, bob, carol, dave = await make_users(sv, "alice", "bob", "carol", "dave")
    chat_id = await group_of(sv, alice, bob, carol, dave)
    before = await log_position(sv)
    pts = await sv.group_admin.set_role(alice, chat_id, bob, "admin")
    assert await written_since(sv, before) == {f"chat:{chat_id}": ["member.role"],
                                               f"user:{bob}": ["chat.role"]}
    diff = await sv.sync.get_difference(bob, 0, {}, None)
    assert diff.user_updates[-1] | {"seq": 0, "date": 0} == {
        "seq": 0, "date": 0, "kind": "chat.role", "chat_id": chat_id, "role": "admin",
        "by": alice}
    assert pts == (await chat_of(sv, alice, chat_id)).pts

    # an admin sets roles below admin, on members below admin
    await sv.group_admin.set_role(bob, chat_id, carol, "restricted")
    await refused(sv.group_admin.set_role(bob, chat_id, dave, "admin"), ErrorCode.FORBIDDEN,
                  sv, permission="add_admins")
    await refused(sv.group_admin.set_role(bob, chat_id, alice, "member"),
                  ErrorCode.FORBIDDEN, sv)
    await refused(sv.group_admin.set_role(carol, chat_id, dave, "readonly"),
                  ErrorCode.FORBIDDEN, sv, permission="set_roles")
    await refused(sv.group_admin.set_role(alice, chat_id, dave, "owner"),
                  ErrorCode.INVALID_PARAMS, sv, field="role")
    before = await log_position(sv)
    await sv.group_admin.set_role(bob, chat_id, carol, "restricted")  # no change
    assert await written_since(sv, before) == {}
    assert await roles_of(sv, alice, chat_id) == {alice: "owner", bob: "admin",
                                                  carol: "restricted", dave: "member"}


async def test_restricted_and_readonly(sv: Services) -> None:
    alice, bob, carol, dave = await make_users(sv, "alice", "bob", "carol", "dave")
    chat_id = await group_of(sv, alice, bob, carol)
    await sv.group_admin.set_permissions(alice, chat_id, {"mention_all": True})
    await sv.group_admin.set_role(alice, chat_id, bob, "restricted")
    await sv.group_admin.set_role(alice, chat_id, carol, "readonly")
    await send_text(sv, bob, chat_id, "restricted may write")
    everyone = [wire.Entity(type="mention_all", offset=0, length=4)]
    await refused(send_text(sv, bob, chat_id, "@all", entities=everyone), ErrorCode.FORBIDDEN,
                  sv, permission="mention_all")
    await refused(sv.chats.add_members(bob, chat_id, [dave]), ErrorCode.FORBIDDEN, sv,
                  permission="add_members")
    await refused(sv.invites.create(bob, chat_id, None, None), ErrorCode.FORBIDDEN, sv,
                  permission="invite_users")
    await refused(send_text(sv, carol, chat_id, "readonly may not"), ErrorCode.FORBIDDEN, sv,
                  permission="send_messages")
    assert await texts(sv, carol, chat_id) == ["restricted may write"]
    first = (await sv.timeline.history(carol, chat_id, None, None, 100))[-1].msg_id
    await sv.reactions.react(bob, chat_id, first, "👍")  # restricted members react
    await refused(sv.reactions.react(carol, chat_id, first, "👍"), ErrorCode.FORBIDDEN, sv,
                  permission="react")


async def test_transfer_owner(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = await group_of(sv, alice, bob)
    await refused(sv.group_admin.transfer_owner(bob, chat_id, alice), ErrorCode.FORBIDDEN, sv,
                  permission="transfer_owner")
    before = await log_position(sv)
    await sv.group_admin.transfer_owner(alice, chat_id, bob)
    assert await written_since(sv, before) == {
        f"chat:{chat_id}": ["member.role", "member.role", "system:role.changed"],
        f"user:{alice}": ["chat.role"], f"user:{bob}": ["chat.role"]}
    assert await roles_of(sv, bob, chat_id) == {alice: "admin", bob: "owner"}
    await refused(sv.group_admin.transfer_owner(alice, chat_id, bob), ErrorCode.FORBIDDEN, sv,
                  permission="transfer_owner")


async def test_an_owner_who_leaves_hands_over_to_the_longest_standing_admin(
        sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat_id = await group_of(sv, alice, bob, carol)
    await sv.group_admin.set_role(alice, chat_id, carol, "admin")
    before = await log_position(sv)
    await sv.chats.leave(alice, chat_id)
    assert await written_since(sv, before) == {
        f"chat:{chat_id}": ["member.role", "system:member.left", "member.left"],
        f"user:{alice}": ["chat.left"], f"user:{carol}": ["chat.role"]}
    assert await roles_of(sv, bob, chat_id) == {bob: "member", carol: "owner"}


# -- moderation -----------------------------------------------------------------------

async def test_mute_member_until_a_time(sv: Services, clock: FakeClock) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat_id = await group_of(sv, alice, bob, carol)
    until = clock.now() + 60
    before = await log_position(sv)
    await sv.group_admin.mute_member(alice, chat_id, bob, until)
    assert await written_since(sv, before) == {f"chat:{chat_id}": ["member.muted"],
                                               f"user:{bob}": ["chat.muted"]}
    members = {m.user_id: m for m in (await sv.chats.get(carol, chat_id)).members}
    assert members[bob].muted_until == until and members[carol].muted_until == 0
    await refused(send_text(sv, bob, chat_id, "hi"), ErrorCode.MUTED, sv, until=until)
    await refused(sv.group_admin.mute_member(carol, chat_id, bob, 0), ErrorCode.FORBIDDEN, sv,
                  permission="mute_members")
    await refused(sv.group_admin.mute_member(alice, chat_id, bob, clock.now()),
                  ErrorCode.INVALID_PARAMS, sv, field="until")
    clock.advance(61)
    await send_text(sv, bob, chat_id, "free again")
    await sv.group_admin.mute_member(alice, chat_id, bob, clock.now() + 3600)
    before = await log_position(sv)
    await sv.group_admin.mute_member(alice, chat_id, bob, 0)
    assert await written_since(sv, before) == {f"chat:{chat_id}": ["member.muted"],
                                               f"user:{bob}": ["chat.muted"]}
    before = await log_position(sv)
    await sv.group_admin.mute_member(alice, chat_id, bob, 0)  # not muted: nothing
    assert await written_since(sv, before) == {}
    await send_text(sv, bob, chat_id, "lifted")


async def test_mute_all(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat_id = await group_of(sv, alice, bob, carol)
    await sv.group_admin.set_role(alice, chat_id, carol, "admin")
    before = await log_position(sv)
    await sv.group_admin.mute_all(alice, chat_id, True)
    assert await written_since(sv, before) == {
        f"chat:{chat_id}": ["chat.updated", "system:mute_all.changed"]}
    assert (await chat_of(sv, bob, chat_id)).mute_all is True
    await refused(send_text(sv, bob, chat_id, "hi"), ErrorCode.MUTED, sv, mute_all=True)
    await send_text(sv, carol, chat_id, "admins post")
    before = await log_position(sv)
    await sv.group_admin.mute_all(alice, chat_id, True)
    assert await written_since(sv, before) == {}
    await sv.group_admin.mute_all(carol, chat_id, False)
    await send_text(sv, bob, chat_id, "back")


async def test_ban_removes_and_keeps_out_until_unbanned(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat_id = await group_of(sv, alice, bob, carol)
    before = await log_position(sv)
    bus = sv.bus
    assert isinstance(bus, RecordingBus)
    bus.events.clear()
    await sv.group_admin.ban(alice, chat_id, bob)
    # the chat's updates in one push; bob hears chat.left and chat.banned
    assert [type(e).__name__ for e in bus.events] == ["ChatEvent", "UserEvent", "UserEvent"]
    assert await written_since(sv, before) == {
        f"chat:{chat_id}": ["member.banned", "system:member.banned", "member.left"],
        f"user:{bob}": ["chat.left", "chat.banned"]}
    assert [b.user_id for b in await sv.group_admin.bans(alice, chat_id)] == [bob]
    await refused(sv.chats.add_members(alice, chat_id, [bob]), ErrorCode.BANNED, sv,
                  user_ids=[bob])
    await refused(send_text(sv, bob, chat_id, "hi"), ErrorCode.NOT_A_MEMBER, sv)
    invite = await sv.invites.create(alice, chat_id, None, None)
    await refused(sv.invites.join(bob, invite.invite, ""), ErrorCode.BANNED, sv)
    before = await log_position(sv)
    await sv.group_admin.ban(alice, chat_id, bob)  # already banned
    assert await written_since(sv, before) == {}

    before = await log_position(sv)
    await sv.group_admin.unban(alice, chat_id, bob)
    assert await written_since(sv, before) == {f"chat:{chat_id}": ["member.unbanned"],
                                               f"user:{bob}": ["chat.unbanned"]}
    assert await sv.group_admin.bans(alice, chat_id) == []
    before = await log_position(sv)
    await sv.group_admin.unban(alice, chat_id, bob)
    assert await written_since(sv, before) == {}
    assert (await sv.invites.join(bob, invite.invite, "")).status == "joined"

    # a non-member can be banned ahead of time: no member.left, no removal
    dave, = await make_users(sv, "dave")
    before = await log_position(sv)
    await sv.group_admin.ban(alice, chat_id, dave)
    assert await written_since(sv, before) == {f"chat:{chat_id}": ["member.banned"],
                                               f"user:{dave}": ["chat.banned"]}
    await refused(sv.group_admin.ban(carol, chat_id, bob), ErrorCode.FORBIDDEN, sv,
                  permission="ban_users")
    await sv.group_admin.set_role(alice, chat_id, carol, "admin")
    await refused(sv.group_admin.ban(carol, chat_id, alice), ErrorCode.FORBIDDEN, sv)


# -- chat info --------------------------------------------------------------------------

async def test_chat_update_and_announcements(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = await group_of(sv, alice, bob)
    before = await log_position(sv)
    pts = await sv.chat_info.update(alice, chat_id, ChatInfoChange(title=" Team ",
                                                                   about="we ship"))
    assert await written_since(sv, before) == {
        f"chat:{chat_id}": ["chat.updated", "system:title.changed", "system:info.changed"]}
    diff = await sv.sync.get_chat_difference(bob, chat_id, pts - 3, None)
    assert {k: diff.updates[0][k] for k in ("title", "about", "by")} == {
        "title": "Team", "about": "we ship", "by": alice}
    chat = await chat_of(sv, bob, chat_id)
    assert (chat.title, chat.about) == ("Team", "we ship")
    await refused(sv.chat_info.update(bob, chat_id, ChatInfoChange(about="x")),
                  ErrorCode.FORBIDDEN, sv, permission="change_info")
    direct = (await sv.chats.direct(alice, bob)).chat_id
    await refused(sv.chat_info.update(alice, direct, ChatInfoChange(about="x")),
                  ErrorCode.FORBIDDEN, sv, permission="change_info")
    await refused(sv.group_admin.ban(alice, direct, bob), ErrorCode.FORBIDDEN, sv,
                  permission="ban_users")
    await refused(sv.chat_info.update(alice, chat_id, ChatInfoChange(title=" ")),
                  ErrorCode.INVALID_PARAMS, sv, field="title")
    before = await log_position(sv)
    await sv.chat_info.update(alice, chat_id, ChatInfoChange(title="Team"))
    assert await written_since(sv, before) == {}

    first = await sv.chat_info.update(alice, chat_id, ChatInfoChange(announcement="lunch 12"))
    await sv.chat_info.update(alice, chat_id, ChatInfoChange(announcement="lunch 13"))
    await sv.chat_info.update(alice, chat_id, ChatInfoChange(announcement=""))
    assert (await chat_of(sv, bob, chat_id)).announcement == ""
    found = await sv.chat_info.announcements(bob, chat_id)
    assert [(a.text, a.by) for a in found] == [("lunch 13", alice), ("lunch 12", alice)]
    assert found[1].pts == first - 1  # the chat.updated entry; its system message follows

    await sv.group_admin.set_permissions(alice, chat_id, {"change_info": True})
    await sv.chat_info.update(bob, chat_id, ChatInfoChange(about="members may"))
    await refused(sv.chat_info.update(bob, chat_id, ChatInfoChange(join_approval=True)),
                  ErrorCode.FORBIDDEN, sv, permission="set_permissions")


# -- history visibility -------------------------------------------------------------

async def test_history_visibility_applies_to_later_joins(sv: Services) -> None:
    alice, bob, carol, dave = await make_users(sv, "alice", "bob", "carol", "dave")
    chat_id = await group_of(sv, alice, bob)
    await send_text(sv, alice, chat_id, "before")
    before = await log_position(sv)
    await sv.chat_info.update(alice, chat_id, ChatInfoChange(history_visibility="full"))
    assert await written_since(sv, before) == {
        f"chat:{chat_id}": ["chat.updated", "system:info.changed"]}
    await sv.chats.add_members(alice, chat_id, [carol])
    assert await texts(sv, carol, chat_id) == ["before"]
    diff = await sv.sync.get_chat_difference(carol, chat_id, 0, None)
    assert "before" in [u["message"].text for u in diff.updates if u["kind"] == "message.new"]
    hits = await sv.search.search(SearchRequest(carol, query="before"))
    assert len(hits.results) == 1

    # view_history off: a later joiner sees from the join, even with "full"
    await sv.group_admin.set_permissions(alice, chat_id, {"view_history": False})
    await sv.chats.add_members(alice, chat_id, [dave])
    assert await texts(sv, dave, chat_id) == []
    assert (await sv.search.search(SearchRequest(dave, query="before"))).results == []
    assert await texts(sv, carol, chat_id) == ["before"]  # carol keeps what she had


async def test_history_visibility_none_shows_only_the_current_membership(
        sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = await group_of(sv, alice, bob)
    await send_text(sv, alice, chat_id, "first span")
    await sv.chats.remove_member(alice, chat_id, bob)
    await send_text(sv, alice, chat_id, "while away")
    await sv.chats.add_members(alice, chat_id, [bob])
    assert await texts(sv, bob, chat_id) == ["first span"]  # "joined": earlier span too
    await sv.chat_info.update(alice, chat_id, ChatInfoChange(history_visibility="none"))
    await sv.chats.remove_member(alice, chat_id, bob)
    await sv.chats.add_members(alice, chat_id, [bob])
    await send_text(sv, alice, chat_id, "now")
    assert await texts(sv, bob, chat_id) == ["now"]
    assert (await sv.search.search(SearchRequest(bob, query="first"))).results == []
    await refused(sv.chat_info.update(alice, chat_id,
                                      ChatInfoChange(history_visibility="some")),
                  ErrorCode.INVALID_PARAMS, sv, field="history_visibility")


# -- invites and join approval -------------------------------------------------------

async def test_invite_and_join(sv: Services, clock: FakeClock) -> None:
    alice, bob, carol, dave = await make_users(sv, "alice", "bob", "carol", "dave")
    chat_id = await group_of(sv, alice, bob)
    before = await log_position(sv)
    invite = await sv.invites.create(bob, chat_id, clock.now() + 3600, 2)
    assert await written_since(sv, before) == {}  # invites are in no log
    assert len(invite.invite) >= 22 and invite.max_uses == 2
    info = await sv.invites.info(invite.invite)
    assert (info.chat_id, info.title, info.member_count, info.join_approval) == (
        chat_id, "g", 2, False)
    before = await log_position(sv)
    joined = await sv.invites.join(carol, invite.invite, "")
    assert joined.status == "joined"
    assert await written_since(sv, before) == {
        f"chat:{chat_id}": ["member.joined", "system:member.joined"],
        f"user:{carol}": ["chat.joined"]}
    before = await log_position(sv)
    assert (await sv.invites.join(carol, invite.invite, "")).status == "member"
    assert await written_since(sv, before) == {}
    await sv.invites.join(dave, invite.invite, "")
    eve, frank = await make_users(sv, "eve", "frank")
    await refused(sv.invites.join(eve, invite.invite, ""), ErrorCode.INVITE_INVALID, sv,
                  reason="used_up")
    timed = await sv.invites.create(alice, chat_id, clock.now() + 10, None)
    clock.advance(10)
    await refused(sv.invites.join(eve, timed.invite, ""), ErrorCode.INVITE_INVALID, sv,
                  reason="expired")
    await refused(sv.invites.info("nope"), ErrorCode.INVITE_INVALID, sv, reason="unknown")
    open_ = await sv.invites.create(alice, chat_id, None, None)
    assert next(i.invite for i in await sv.invites.invites(alice, chat_id)) == open_.invite
    assert [i.invite for i in await sv.invites.invites(bob, chat_id)] == [invite.invite]
    await refused(sv.invites.revoke(bob, open_.invite), ErrorCode.FORBIDDEN, sv,
                  permission="approve_members")
    before = await log_position(sv)
    assert await sv.invites.revoke(alice, open_.invite) is True
    assert await written_since(sv, before) == {}  # invites are in no log
    assert await sv.invites.revoke(alice, open_.invite) is False
    await refused(sv.invites.join(frank, open_.invite, ""), ErrorCode.INVITE_INVALID, sv,
                  reason="revoked")


async def test_join_approval(sv: Services) -> None:
    alice, bob, carol, dave = await make_users(sv, "alice", "bob", "carol", "dave")
    chat_id = await group_of(sv, alice, bob)
    await sv.chat_info.update(alice, chat_id, ChatInfoChange(join_approval=True))
    invite = await sv.invites.create(alice, chat_id, None, None)
    assert (await sv.invites.info(invite.invite)).join_approval is True
    before = await log_position(sv)
    assert (await sv.invites.join(carol, invite.invite, "hi, I'm carol")).status == "requested"
    assert await written_since(sv, before) == {f"user:{carol}": ["join.requested"],
                                               f"user:{alice}": ["join.request_received"]}
    await refused(sv.invites.join(carol, invite.invite, ""), ErrorCode.REQUEST_PENDING, sv,
                  chat_id=chat_id)
    await refused(send_text(sv, carol, chat_id, "hi"), ErrorCode.NOT_A_MEMBER, sv)
    await sv.invites.join(dave, invite.invite, "")
    requests = await sv.invites.requests(alice, chat_id)
    assert [(r.user_id, r.message) for r in requests] == [(carol, "hi, I'm carol"), (dave, "")]
    await refused(sv.invites.requests(bob, chat_id), ErrorCode.FORBIDDEN, sv,
                  permission="approve_members")
    await refused(sv.invites.decide(bob, chat_id, carol, True), ErrorCode.FORBIDDEN, sv,
                  permission="approve_members")

    before = await log_position(sv)
    await sv.invites.decide(alice, chat_id, carol, True)
    assert await written_since(sv, before) == {
        f"chat:{chat_id}": ["member.joined", "system:member.added"],
        f"user:{carol}": ["chat.joined", "join.approved"],
        f"user:{alice}": ["join.request_closed"]}
    diff = await sv.sync.get_difference(alice, 0, {}, None)
    assert {k: diff.user_updates[-1][k] for k in ("chat_id", "user_id", "outcome", "by")} == {
        "chat_id": chat_id, "user_id": carol, "outcome": "approved", "by": alice}
    before = await log_position(sv)
    await sv.invites.decide(alice, chat_id, dave, False)
    assert await written_since(sv, before) == {f"user:{dave}": ["join.rejected"],
                                               f"user:{alice}": ["join.request_closed"]}
    await refused(sv.invites.decide(alice, chat_id, dave, True), ErrorCode.NOT_FOUND, sv,
                  field="user_id")
    # a ban drops a pending request; the owner's list hears of it
    await sv.invites.join(dave, invite.invite, "again")
    before = await log_position(sv)
    await sv.group_admin.ban(alice, chat_id, dave)
    assert await written_since(sv, before) == {
        f"chat:{chat_id}": ["member.banned"], f"user:{alice}": ["join.request_closed"],
        f"user:{dave}": ["chat.banned"]}
    assert await sv.invites.requests(alice, chat_id) == []
    await send_text(sv, carol, chat_id, "in")


async def test_chat_avatar_is_an_image_the_caller_uploaded(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = await group_of(sv, alice, bob)
    image = await upload(sv, alice, png_bytes(), kind="image", name="a.png")
    other = await upload(sv, bob, png_bytes(color=(1, 2, 3)), kind="image", name="b.png")
    note = await upload(sv, alice, file_bytes())
    await refused(sv.chat_info.update(alice, chat_id, ChatInfoChange(
        avatar_file_id=other.file_id)), ErrorCode.NOT_FOUND, sv, field="avatar_file_id")
    await refused(sv.chat_info.update(alice, chat_id, ChatInfoChange(
        avatar_file_id=note.file_id)), ErrorCode.INVALID_PARAMS, sv, field="avatar_file_id")
    before = await log_position(sv)
    await sv.chat_info.update(alice, chat_id, ChatInfoChange(avatar_file_id=image.file_id))
    assert await written_since(sv, before) == {
        f"chat:{chat_id}": ["chat.updated", "system:info.changed"]}
    assert (await chat_of(sv, bob, chat_id)).avatar_file_id == image.file_id
    await sv.chat_info.update(alice, chat_id, ChatInfoChange(avatar_file_id=None))
    assert (await chat_of(sv, bob, chat_id)).avatar_file_id is None
