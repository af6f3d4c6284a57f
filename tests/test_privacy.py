"""Privacy settings on both engines: privacy.get/update and their update, and
the authorization matrix of every setting (message_me, add_me, find_me) with
the error code and nothing written."""

from __future__ import annotations

from tidings.errors import ErrorCode
from tidings.services.container import Services

from .helpers import make_users, send_text
from .people_helpers import UserLogs, befriend, code_of, refusal

DEFAULTS = {"find_me": "everyone", "message_me": "everyone", "add_me": "everyone",
            "last_seen": "everyone", "read_receipts": True}


async def test_defaults_and_updates(sv: Services) -> None:
    [alice] = await make_users(sv, "alice")
    assert await sv.privacy.get(alice) == DEFAULTS
    logs = await UserLogs(sv, alice).start()
    changed = await sv.privacy.update(alice, {"find_me": "contacts", "last_seen": "nobody",
                                              "message_me": "everyone"})
    assert changed == {**DEFAULTS, "find_me": "contacts", "last_seen": "nobody"}
    # one update, holding only what changed
    assert await logs.new() == [(alice, "privacy.updated",
                                 {"find_me": "contacts", "last_seen": "nobody"})]
    assert await sv.privacy.update(alice, {"find_me": "contacts"}) == changed
    assert await sv.privacy.update(alice, {}) == changed
    assert await logs.new() == []  # no change, no update
    assert await sv.privacy.get(alice) == changed


async def test_bad_values_are_refused_before_writing(sv: Services) -> None:
    [alice] = await make_users(sv, "alice")
    logs = await UserLogs(sv, alice).start()
    for key in ("message_me", "add_me"):
        err = await refusal(sv.privacy.update(alice, {"find_me": "nobody", key: "nobody"}))
        assert err.code == ErrorCode.INVALID_PARAMS and err.data == {"field": key}
    assert await logs.new() == []
    assert await sv.privacy.get(alice) == DEFAULTS


async def test_message_me_contacts(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    ab = (await sv.chats.direct(alice, bob)).chat_id
    await sv.privacy.update(alice, {"message_me": "contacts"})
    pts = (await sv.chats.get(alice, ab)).chat.pts
    err = await refusal(send_text(sv, bob, ab, "hi"))
    assert err.code == ErrorCode.FORBIDDEN
    assert err.data == {"privacy": "message_me", "user_id": alice}
    assert (await sv.chats.get(alice, ab)).chat.pts == pts
    # a new direct chat is refused the same way, and nothing is created
    assert (await refusal(sv.chats.direct(carol, alice))).data["privacy"] == "message_me"
    assert (await sv.dialogs.list_dialogs(carol)).chats == []
    await befriend(sv, bob, alice)
    await send_text(sv, bob, ab, "now a contact")
    await send_text(sv, alice, ab, "and I write to anyone")


async def test_add_me_contacts(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    await sv.privacy.update(alice, {"add_me": "contacts"})
    logs = await UserLogs(sv, alice).start()
    err = await refusal(sv.chats.create(bob, "group", "g", [alice]))
    assert err.code == ErrorCode.FORBIDDEN
    assert err.data == {"privacy": "add_me", "user_id": alice}
    group = (await sv.chats.create(bob, "group", "g", [carol])).chat_id
    pts = (await sv.chats.get(bob, group)).chat.pts
    assert await code_of(sv.chats.add_members(bob, group, [alice])) == ErrorCode.FORBIDDEN
    assert (await sv.chats.get(bob, group)).chat.pts == pts
    assert await logs.new() == []
    await befriend(sv, alice, bob)
    await sv.chats.add_members(bob, group, [alice])


async def test_find_me_governs_search_and_qr_requests(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    await sv.privacy.update(alice, {"find_me": "nobody"})
    logs = await UserLogs(sv, alice, bob).start()
    for source in ("search", "qr"):
        err = await refusal(sv.contacts.request(bob, alice, source, None))
        assert err.code == ErrorCode.FORBIDDEN
        assert err.data == {"privacy": "find_me", "user_id": alice}
    assert await logs.new() == []
    # a shared group still lets bob ask
    await sv.chats.create(carol, "group", "g", [alice, bob])
    assert await sv.contacts.request(bob, alice, "group", None) == {"state": "pending"}
