"""message.set_attributes and message.list_tags at the service level, on both
engines, and how the client SDK's view follows them."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.bus.base import ChatEvent
from tidings.client.state import ChatView, apply_chat_update
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.services.message_attributes import normalize_tags
from tidings.store import tags as tag_store
from tidings.testing import RecordingBus

from .helpers import make_users, send_text


def bus_of(sv: Services) -> RecordingBus:
    assert isinstance(sv.bus, RecordingBus)
    return sv.bus


async def group(sv: Services) -> tuple[int, int, int, int]:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat_id = (await sv.chats.create(alice, "group", "g", [bob, carol])).chat_id
    return alice, bob, carol, chat_id


async def tagged(sv: Services, chat_id: int, tag: str) -> list[int]:
    async def ids_txn(txn: Txn) -> list[int]:
        return await tag_store.tagged_ids_txn(txn, chat_id, tag)

    return await sv.db.read("t", ids_txn)


async def test_set_writes_one_update_and_the_message_carries_it(sv: Services) -> None:
    alice, bob, _, chat_id = await group(sv)
    m = await send_text(sv, bob, chat_id, "invoice 42")
    bus = bus_of(sv)
    bus.events.clear()
    seq = (await sv.sync.get_difference(alice, 0, {}, 1)).seq
    attrs = {"amount": 12.5, "paid": False, "meta": {"ref": "A-1", "lines": [1, 2]}}
    state = await sv.message_attributes.set(bob, chat_id, m.msg_id, attrs,
                                            ["  Billing ", "URGENT", "billing", "to   do"])
    assert state.tags == ["billing", "urgent", "to do"] and state.attributes == attrs
    [event] = bus.events
    assert isinstance(event, ChatEvent) and event.chat_id == chat_id
    [update] = (await sv.sync.get_chat_difference(alice, chat_id, m.msg_id, None)).updates
    assert update == {"pts": state.pts, "kind": "message.attributes", "date": update["date"],
                      "msg_id": m.msg_id, "attributes": attrs,
                      "tags": ["billing", "urgent", "to do"], "by": bob}
    assert (await sv.sync.get_difference(alice, 0, {}, 1)).seq == seq
    [stored] = await sv.timeline.get(alice, chat_id, [m.msg_id])
    assert (stored.attributes, stored.tags) == (attrs, ["billing", "urgent", "to do"])
    assert stored.location is None and stored.system is None  # the server's data apart
    assert await tagged(sv, chat_id, "billing") == [m.msg_id]

    bus.events.clear()
    same = await sv.message_attributes.set(bob, chat_id, m.msg_id, dict(attrs),
                                           ["billing", "Urgent", "to do"])
    assert same.pts is None and bus.events == []  # nothing changed, no update
    # one side at a time: the other stays
    only_tags = await sv.message_attributes.set(alice, chat_id, m.msg_id, tags=["done"])
    assert (only_tags.attributes, only_tags.tags) == (attrs, ["done"])
    assert await tagged(sv, chat_id, "billing") == [] and await tagged(sv, chat_id, "done") == [
        m.msg_id]
    cleared = await sv.message_attributes.set(bob, chat_id, m.msg_id, attributes=None)
    assert (cleared.attributes, cleared.tags) == (None, ["done"])
    emptied = await sv.message_attributes.set(bob, chat_id, m.msg_id, {}, None)
    assert (emptied.attributes, emptied.tags, emptied.pts is not None) == (None, [], True)
    assert await sv.message_attributes.set(bob, chat_id, m.msg_id, None, []) == \
        type(emptied)(m.msg_id, None, [], None)
    [stored] = await sv.timeline.get(alice, chat_id, [m.msg_id])
    assert (stored.attributes, stored.tags) == (None, [])
    assert len(bus.events) == 3


async def test_who_may_set_attributes(sv: Services) -> None:
    alice, bob, carol, chat_id = await group(sv)
    m = await send_text(sv, bob, chat_id, "bob's")
    with pytest.raises(TidingsError) as err:
        await sv.message_attributes.set(carol, chat_id, m.msg_id, {"x": 1})
    assert err.value.code is ErrorCode.FORBIDDEN
    assert (await sv.message_attributes.set(alice, chat_id, m.msg_id, {"x": 1})).pts
    assert (await sv.message_attributes.set(bob, chat_id, m.msg_id, {"x": 2})).pts
    recalled = await send_text(sv, bob, chat_id, "oops")
    await sv.messages.recall(bob, chat_id, recalled.msg_id)
    with pytest.raises(TidingsError) as err:
        await sv.message_attributes.set(bob, chat_id, recalled.msg_id, {"x": 1})
    assert err.value.code is ErrorCode.FORBIDDEN
    for bad in (10**6, 1):
        with pytest.raises(TidingsError) as err:
            await sv.message_attributes.set(bob, chat_id, bad, {"x": 1})
        assert err.value.code is ErrorCode.MESSAGE_NOT_FOUND


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


@pytest.mark.parametrize("attributes, tags, code, field", [
    ({"blob": "x" * 2100}, None, ErrorCode.TOO_LARGE, "attributes"),
    (nested(9), None, ErrorCode.INVALID_PARAMS, "attributes"),
    ({"list": [[[[[[[[["deep"]]]]]]]]]}, None, ErrorCode.INVALID_PARAMS, "attributes"),
    ({"a": {"b": "nul\x00"}}, None, ErrorCode.INVALID_PARAMS, "attributes"),
    ({"a": ["x", "\ud800"]}, None, ErrorCode.INVALID_PARAMS, "attributes"),
    ({"a": {"k\x00": 1}}, None, ErrorCode.INVALID_PARAMS, "attributes"),
    ({"big": 2**64}, None, ErrorCode.INVALID_PARAMS, "attributes"),
    (None, [f"t{i}" for i in range(11)], ErrorCode.INVALID_PARAMS, "tags"),
    (None, ["x" * 33], ErrorCode.INVALID_PARAMS, "tags"),
    (None, ["   "], ErrorCode.INVALID_PARAMS, "tags"),
    (None, ["a\x07b"], ErrorCode.INVALID_PARAMS, "tags"),
])
async def test_bad_attributes_and_tags(sv: Services, attributes: Any, tags: Any,
                                       code: ErrorCode, field: str) -> None:
    alice, _, _, chat_id = await group(sv)
    m = await send_text(sv, alice, chat_id)
    with pytest.raises(TidingsError) as err:
        await sv.message_attributes.set(alice, chat_id, m.msg_id, attributes, tags)
    assert err.value.code is code and err.value.data["field"] == field


async def test_limits_hold_at_the_edge(sv: Services) -> None:
    alice, _, _, chat_id = await group(sv)
    m = await send_text(sv, alice, chat_id)
    tags = [f"t{i}" for i in range(9)] + ["x" * 32]
    state = await sv.message_attributes.set(alice, chat_id, m.msg_id, nested(8), tags)
    assert (state.attributes, state.tags) == (nested(8), tags)
    exactly = {"blob": "é" * 1018 + "x"}  # 11 + 1018 * 2 + 1 = 2048 bytes
    assert (await sv.message_attributes.set(alice, chat_id, m.msg_id, exactly)).pts
    with pytest.raises(TidingsError) as err:
        await sv.message_attributes.set(alice, chat_id, m.msg_id, {"blob": exactly["blob"] + "é"})
    assert err.value.code is ErrorCode.TOO_LARGE and err.value.data["limit"] == 2048
    with pytest.raises(TidingsError) as err:
        await sv.message_attributes.set(alice, chat_id, m.msg_id)  # neither given
    assert err.value.code is ErrorCode.INVALID_PARAMS


def test_tag_normalisation() -> None:
    settings = type("S", (), {"max_tags_per_message": 10, "max_tag_length": 32})()
    assert normalize_tags([" Café ", "CAFE\u0301", "café", "a\tb"], settings) == [  # type: ignore[arg-type]
        "café", "a b"]
    assert normalize_tags(None, settings) == []  # type: ignore[arg-type]


async def test_list_tags_counts_what_you_can_read(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat_id = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    early = [await send_text(sv, alice, chat_id, f"e{i}") for i in range(3)]
    await sv.chats.add_members(alice, chat_id, [carol])
    late = [await send_text(sv, bob, chat_id, f"l{i}") for i in range(2)]
    for m, tags in zip(early + late, [["a", "b"], ["a"], ["c"], ["a"], ["b", "d"]],
                       strict=True):
        await sv.message_attributes.set(m.sender_id, chat_id, m.msg_id, tags=tags)
    listed = await sv.message_attributes.list_tags(alice, chat_id)
    assert [(t.tag, t.count) for t in listed] == [("a", 3), ("b", 2), ("c", 1), ("d", 1)]
    listed = await sv.message_attributes.list_tags(carol, chat_id)
    assert [(t.tag, t.count) for t in listed] == [("a", 1), ("b", 1), ("d", 1)]
    await sv.deletion.delete(alice, chat_id, [early[0].msg_id], True)
    listed = await sv.message_attributes.list_tags(alice, chat_id)
    assert [(t.tag, t.count) for t in listed] == [("a", 2), ("b", 1), ("c", 1), ("d", 1)]
    other = (await sv.chats.create(carol, "group", "other", [])).chat_id
    with pytest.raises(TidingsError) as err:
        await sv.message_attributes.list_tags(alice, other)
    assert err.value.code is ErrorCode.NOT_A_MEMBER


def test_the_sdk_view_follows_attributes_and_reactions() -> None:
    view = ChatView(chat_id=1)
    view.messages[5] = {"msg_id": 5, "reactions": {}, "attributes": None, "tags": []}
    apply_chat_update(view, {"pts": 6, "kind": "message.reactions", "date": 0, "msg_id": 5,
                             "reactions": {"👍": 2}, "user_id": 3, "emoji": "👍", "op": "add",
                             "user_reactions": ["👍"]})
    apply_chat_update(view, {"pts": 7, "kind": "message.attributes", "date": 0, "msg_id": 5,
                             "attributes": {"k": "v"}, "tags": ["x"], "by": 3})
    apply_chat_update(view, {"pts": 8, "kind": "message.attributes", "date": 0, "msg_id": 99,
                             "attributes": {"k": "v"}, "tags": ["x"], "by": 3})
    assert view.messages == {5: {"msg_id": 5, "reactions": {"👍": 2}, "attributes": {"k": "v"},
                                 "tags": ["x"]}}
