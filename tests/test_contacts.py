"""Contacts on both engines: each step's user updates on both sides, the
verified sources, and the refusals (with nothing written)."""

from __future__ import annotations

from tidings.errors import ErrorCode
from tidings.services.container import Services

from .helpers import make_users
from .people_helpers import UserLogs, code_of, refusal


async def test_request_accept_remove(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    logs = await UserLogs(sv, alice, bob).start()
    now = sv.clock.now()
    assert await sv.contacts.request(alice, bob, "search", " hello ") == {"state": "pending"}
    assert await logs.new() == [
        (alice, "contact.requested", {"direction": "outgoing", "user_id": bob,
                                      "source": "search", "message": "hello"}),
        (bob, "contact.requested", {"direction": "incoming", "user_id": alice,
                                    "source": "search", "message": "hello"})]
    assert await sv.contacts.request(alice, bob, "search", None) == {"state": "pending"}
    assert await logs.new() == []  # a repeat writes nothing
    pending = {"user_id": alice, "source": "search", "message": "hello", "date": now}
    assert await sv.contacts.pending(bob) == {"incoming": [pending], "outgoing": []}
    assert (await sv.contacts.pending(alice))["outgoing"] == [{**pending, "user_id": bob}]

    assert await sv.contacts.accept(bob, alice) == {"state": "contact"}
    assert await logs.new() == [
        (alice, "contact.added", {"user_id": bob, "source": "search", "since": now}),
        (bob, "contact.added", {"user_id": alice, "source": "search", "since": now})]
    assert await sv.contacts.accept(bob, alice) == {"state": "contact"}  # a retry
    assert await sv.contacts.request(bob, alice, "search", None) == {"state": "contact"}
    assert await logs.new() == []
    assert await sv.contacts.list(alice) == {
        "contacts": [{"user_id": bob, "source": "search", "since": now}]}
    assert await sv.contacts.pending(bob) == {"incoming": [], "outgoing": []}

    assert await sv.contacts.remove(alice, bob) == {"state": "none"}
    assert await logs.new() == [(alice, "contact.removed", {"user_id": bob}),
                                (bob, "contact.removed", {"user_id": alice})]
    assert await sv.contacts.remove(alice, bob) == {"state": "none"}
    assert await logs.new() == []
    assert await sv.contacts.list(bob) == {"contacts": []}


async def test_reject_and_crossed_requests(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    await sv.contacts.request(alice, bob, "qr", None)
    logs = await UserLogs(sv, alice, bob, carol).start()
    assert await sv.contacts.reject(bob, alice) == {"state": "none"}
    assert await logs.new() == [
        (alice, "contact.rejected", {"user_id": bob, "direction": "outgoing"}),
        (bob, "contact.rejected", {"user_id": alice, "direction": "incoming"})]
    assert await code_of(sv.contacts.reject(bob, alice)) == ErrorCode.NOT_FOUND
    assert await code_of(sv.contacts.accept(bob, alice)) == ErrorCode.NOT_FOUND
    assert await logs.new() == []
    # asking someone who asked you accepts their request
    await sv.contacts.request(carol, alice, "search", None)
    await logs.new()
    assert await sv.contacts.request(alice, carol, "search", None) == {"state": "contact"}
    assert [(u, k) for u, k, _ in await logs.new()] == [(alice, "contact.added"),
                                                        (carol, "contact.added")]


async def test_sources_are_verified(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    logs = await UserLogs(sv, alice, bob, carol).start()
    err = await refusal(sv.contacts.request(alice, bob, "group", None))
    assert err.code == ErrorCode.FORBIDDEN and err.data == {"source": "group", "user_id": bob}
    err = await refusal(sv.contacts.request(alice, bob, "card", None))
    assert err.code == ErrorCode.FORBIDDEN and err.data == {"source": "card", "user_id": bob}
    assert await code_of(sv.contacts.request(alice, alice, "search", None)) == \
        ErrorCode.INVALID_PARAMS
    assert await code_of(sv.contacts.request(alice, 999, "search", None)) == \
        ErrorCode.USER_NOT_FOUND
    assert await code_of(sv.contacts.request(alice, bob, "fax", None)) == \
        ErrorCode.INVALID_PARAMS
    assert await code_of(sv.contacts.request(alice, bob, "search", "x" * 201)) == \
        ErrorCode.TOO_LARGE
    assert await logs.new() == []
    assert await sv.contacts.pending(bob) == {"incoming": [], "outgoing": []}

    group = (await sv.chats.create(carol, "group", "g", [alice, bob])).chat_id
    assert await sv.contacts.request(alice, bob, "group", None) == {"state": "pending"}
    await sv.contacts.reject(bob, alice)
    await sv.chats.remove_member(carol, group, bob)  # no longer a shared group
    assert await code_of(sv.contacts.request(alice, bob, "group", None)) == \
        ErrorCode.FORBIDDEN


async def test_remove_withdraws_my_pending_request(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    await sv.contacts.request(alice, bob, "search", None)
    logs = await UserLogs(sv, alice, bob).start()
    assert await sv.contacts.remove(bob, alice) == {"state": "none"}  # not bob's request
    assert await logs.new() == []
    assert await sv.contacts.remove(alice, bob) == {"state": "none"}
    assert await logs.new() == [
        (alice, "contact.cancelled", {"user_id": bob, "direction": "outgoing"}),
        (bob, "contact.cancelled", {"user_id": alice, "direction": "incoming"})]
    assert await sv.contacts.pending(bob) == {"incoming": [], "outgoing": []}
    assert await code_of(sv.contacts.accept(bob, alice)) == ErrorCode.NOT_FOUND
