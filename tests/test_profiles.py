"""Profiles, user search, QR tokens and contact cards on both engines."""

from __future__ import annotations

from tidings import wire
from tidings.bus.base import ChatEvent
from tidings.errors import ErrorCode
from tidings.services.container import Services
from tidings.services.export_render import message_html
from tidings.testing import RecordingBus

from .helpers import make_users, send_text
from .people_helpers import UserLogs, befriend, code_of, refusal


async def test_update_profile_reaches_contacts_and_direct_peers(sv: Services) -> None:
    alice, bob, carol, dave, erin = await make_users(sv, "alice", "bob", "carol", "dave",
                                                     "erin")
    await befriend(sv, alice, bob)
    await sv.chats.direct(carol, alice)
    await sv.chats.create(dave, "group", "g", [alice])  # a shared group: not told
    await sv.chats.direct(alice, erin)
    await sv.blocks.add(alice, erin)  # blocked by alice: not told
    logs = await UserLogs(sv, alice, bob, carol, dave, erin).start()
    user = await sv.profiles.update(alice, " Alice Liddell ", "hello", None)
    assert (user.display_name, user.bio, user.avatar_file_id) == ("Alice Liddell", "hello",
                                                                  None)
    expected = {"user": {"user_id": alice, "username": "alice",
                         "display_name": "Alice Liddell", "bio": "hello",
                         "avatar_file_id": None}}
    assert await logs.new() == [(u, "user.updated", expected) for u in (alice, bob, carol)]
    assert await sv.profiles.update(alice, "Alice Liddell", None, None) == user
    assert await logs.new() == []  # nothing changed, nothing written
    [seen] = await sv.users.get(dave, [alice])
    assert seen == user
    [hidden] = await sv.users.get(erin, [alice])  # alice blocks erin: no bio
    assert (hidden.display_name, hidden.bio) == ("Alice Liddell", "")


async def test_profile_refusals_write_nothing(sv: Services) -> None:
    [alice] = await make_users(sv, "alice")
    logs = await UserLogs(sv, alice).start()
    assert await code_of(sv.profiles.update(alice, "x" * 65, None, None)) == \
        ErrorCode.INVALID_PARAMS
    assert await code_of(sv.profiles.update(alice, None, "x" * 301, None)) == \
        ErrorCode.INVALID_PARAMS
    assert await code_of(sv.profiles.update(alice, "ok", None, 999)) == ErrorCode.NOT_FOUND
    assert await code_of(sv.profiles.update(alice, "ok", None, -1)) == \
        ErrorCode.INVALID_PARAMS
    assert await logs.new() == []
    assert (await sv.users.get(alice, [alice]))[0].display_name == ""


async def test_search_folds_case_width_and_finds_chinese_names(sv: Services) -> None:
    alice, bob, carol, dave = await make_users(sv, "alice", "bob", "carol", "dave")
    await sv.profiles.update(bob, "Bob STRAßE", None, None)
    await sv.profiles.update(carol, "李明", None, None)
    await sv.profiles.update(dave, "Dave \uff33\uff4d\uff49\uff54\uff48", None, None)

    async def names(query: str) -> list[str]:
        return [u.username for u in await sv.users.search(alice, query, None)]

    assert await names("BO") == ["bob"]
    assert await names("strasse") == ["bob"]  # casefold: ß is ss
    assert await names("李") == ["carol"]
    assert await names("明") == ["carol"]  # a suffix of a CJK name
    assert await names("dave") == ["dave"]  # username
    assert await names("\uff44\uff41\uff56") == ["dave"]  # a full-width query, "dav"
    assert await names("SMI") == ["dave"]  # a full-width word of the display name
    assert await names("zz") == []
    assert await code_of(sv.users.search(alice, "  ", None)) == ErrorCode.INVALID_PARAMS
    assert await code_of(sv.users.search(alice, "a", 0)) == ErrorCode.INVALID_PARAMS
    # renamed: the old terms are gone
    await sv.profiles.update(carol, "Wang", None, None)
    assert await names("明") == [] and await names("wa") == ["carol"]


async def test_search_resolve_and_qr_respect_find_me_and_blocks(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    await sv.privacy.update(alice, {"find_me": "contacts"})
    token = (await sv.profiles.qr_token(alice, False))["token"]
    assert (await sv.profiles.qr_token(alice, False))["token"] == token  # stable
    assert [u.user_id for u in await sv.users.search(bob, "ali", None)] == []
    err = await refusal(sv.users.resolve(bob, "alice"))
    assert err.code == ErrorCode.FORBIDDEN and err.data == {"privacy": "find_me",
                                                            "user_id": alice}
    assert await code_of(sv.users.resolve_qr(bob, token)) == ErrorCode.FORBIDDEN
    assert (await sv.users.resolve_qr(alice, token)).user_id == alice  # yourself
    # a contact finds alice by every way
    await sv.chats.create(carol, "group", "g", [alice])
    await befriend(sv, carol, alice, "group")
    assert [u.user_id for u in await sv.users.search(carol, "ali", None)] == [alice]
    assert (await sv.users.resolve(carol, "alice")).user_id == alice
    assert (await sv.users.resolve_qr(carol, token)).user_id == alice
    # a block hides alice from carol too
    await sv.blocks.add(alice, carol)
    assert await sv.users.search(carol, "ali", None) == []
    assert await code_of(sv.users.resolve(carol, "alice")) == ErrorCode.BLOCKED
    # a new token makes the old one unknown
    fresh = (await sv.profiles.qr_token(alice, True))["token"]
    assert fresh != token
    assert await code_of(sv.users.resolve_qr(alice, token)) == ErrorCode.USER_NOT_FOUND


async def test_share_card_and_card_requests(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    group = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    card = await sv.contacts.share_card(alice, carol, group, "c1")
    assert card.kind == "card" and card.card is not None
    assert (card.card.user_id, card.card.username) == (carol, "carol")
    again = await sv.contacts.share_card(alice, carol, group, "c1")  # a retry
    assert again.msg_id == card.msg_id
    [stored] = (await sv.timeline.get(bob, group, [card.msg_id]))
    assert stored.card == card.card
    # bob saw the card: the card source is verified; alice shared it, so not hers
    assert await sv.contacts.request(bob, carol, "card", None) == {"state": "pending"}
    assert await code_of(sv.contacts.request(alice, carol, "card", None)) == \
        ErrorCode.FORBIDDEN
    # a recalled card no longer counts
    await sv.messages.recall(alice, group, card.msg_id)
    await sv.contacts.reject(carol, bob)
    assert await code_of(sv.contacts.request(bob, carol, "card", None)) == \
        ErrorCode.FORBIDDEN


async def test_share_card_refusals(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    group = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    pts = (await sv.chats.get(alice, group)).chat.pts
    await sv.privacy.update(carol, {"find_me": "nobody"})
    err = await refusal(sv.contacts.share_card(alice, carol, group, None))
    assert err.code == ErrorCode.FORBIDDEN and err.data["privacy"] == "find_me"
    assert await code_of(sv.contacts.share_card(alice, 999, group, None)) == \
        ErrorCode.USER_NOT_FOUND
    assert await code_of(sv.contacts.share_card(carol, alice, group, None)) == \
        ErrorCode.NOT_A_MEMBER
    assert (await sv.chats.get(alice, group)).chat.pts == pts
    await send_text(sv, alice, group, "still fine")


async def test_share_card_writes_one_message_and_no_user_update(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    group = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    logs = await UserLogs(sv, alice, bob).start()
    bus = sv.bus
    assert isinstance(bus, RecordingBus)
    bus.events.clear()
    pts = (await sv.chats.get(alice, group)).chat.pts
    card = await sv.contacts.share_card(alice, bob, group, None)
    assert card.msg_id == pts + 1
    [event] = bus.events
    assert isinstance(event, ChatEvent) and event.chat_id == group
    assert [u["kind"] for u in wire.decode(event.frame)["updates"]] == ["message.new"]
    assert await logs.new() == []
    # a QR token is no update either: each device asks for it
    await sv.profiles.qr_token(alice, True)
    assert await logs.new() == []


def test_html_export_shows_a_card() -> None:
    m = wire.Message(chat_id=1, msg_id=2, sender_id=1, date=1_800_000_000, kind="card",
                     text=None, reply_to=None, local_id="c",
                     card=wire.Card(3, "carol", "Carol <C>"))
    assert "[contact card: Carol &lt;C&gt; @carol]" in message_html(m, {1: "alice"})
