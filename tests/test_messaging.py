"""Delete and clear, replies and the reply graph, forward, mentions, the recall
audit and the send-side of burn-after-read and auto-delete — at the service
level on both engines, with the updates each call writes counted."""

from __future__ import annotations

from typing import Any

import pytest

from tidings import wire
from tidings.bus.base import ChatEvent, UserEvent
from tidings.clock import FakeClock
from tidings.config import Settings
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.store import messages
from tidings.testing import RecordingBus, service_harness

from .helpers import make_users, send_text


def published(sv: Services) -> RecordingBus:
    assert isinstance(sv.bus, RecordingBus)
    sv.bus.events.clear()
    return sv.bus


def chat_kinds(bus: RecordingBus) -> list[str]:
    return [u["kind"] for e in bus.events if isinstance(e, ChatEvent)
            for u in wire.decode(e.frame)["updates"]]


def user_kinds(bus: RecordingBus) -> list[tuple[int, str]]:
    return [(e.user_id, u["kind"]) for e in bus.events if isinstance(e, UserEvent)
            for u in wire.decode(e.frame)["updates"]]


async def group(sv: Services) -> tuple[int, int, int, int]:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await sv.chats.create(alice, "group", "friends", [bob, carol])
    return alice, bob, carol, chat.chat_id


async def texts(sv: Services, user_id: int, chat_id: int) -> list[str | None]:
    """What history shows of users' messages (system messages left out)."""
    return [m.text for m in await sv.timeline.history(user_id, chat_id, None, None, None)
            if m.kind != "system"]


async def difference_texts(sv: Services, user_id: int, chat_id: int) -> list[Any]:
    diff = await sv.sync.get_chat_difference(user_id, chat_id, 0, None)
    return [u["message"].text for u in diff.updates
            if u["kind"] == "message.new" and u["message"].kind != "system"]


async def expect(code: ErrorCode, call: Any) -> TidingsError:
    with pytest.raises(TidingsError) as err:
        await call
    assert err.value.code is code, err.value
    return err.value


# -- delete for everyone ---------------------------------------------------------------


async def test_sender_deletes_for_everyone_with_one_chat_update(sv: Services) -> None:
    alice, bob, _, chat_id = await group(sv)
    keep = await send_text(sv, bob, chat_id, "keep")
    gone = await send_text(sv, bob, chat_id, "gone")
    bus = published(sv)
    result = await sv.deletion.delete(bob, chat_id, [gone.msg_id], True)
    assert chat_kinds(bus) == ["message.deleted"] and user_kinds(bus) == []
    assert result == {"pts": gone.msg_id + 1}
    for viewer in (alice, bob):
        assert await texts(sv, viewer, chat_id) == ["keep"]
        assert await difference_texts(sv, viewer, chat_id) == ["keep"]
        assert await sv.timeline.get(viewer, chat_id, [keep.msg_id, gone.msg_id]) == [keep]
    diff = await sv.sync.get_chat_difference(alice, chat_id, gone.msg_id, None)
    assert [(u["kind"], u["msg_ids"]) for u in diff.updates] == [
        ("message.deleted", [gone.msg_id])]


async def test_delete_for_everyone_rules(sv: Services, clock: FakeClock) -> None:
    alice, bob, carol, chat_id = await group(sv)
    bobs = await send_text(sv, bob, chat_id, "bob's")
    await expect(ErrorCode.FORBIDDEN, sv.deletion.delete(carol, chat_id, [bobs.msg_id], True))
    await expect(ErrorCode.MESSAGE_NOT_FOUND, sv.deletion.delete(bob, chat_id, [999], True))
    await expect(ErrorCode.INVALID_PARAMS, sv.deletion.delete(bob, chat_id, [], True))
    await expect(ErrorCode.INVALID_PARAMS,
                 sv.deletion.delete(bob, chat_id, list(range(1, 102)), True))
    clock.advance(121)
    await expect(ErrorCode.RECALL_WINDOW_PASSED,
                 sv.deletion.delete(bob, chat_id, [bobs.msg_id], True))
    # the owner moderates at any time; nothing changed by the refusals above
    assert await texts(sv, carol, chat_id) == ["bob's"]
    await sv.deletion.delete(alice, chat_id, [bobs.msg_id], True)
    assert await texts(sv, carol, chat_id) == []
    await expect(ErrorCode.MESSAGE_NOT_FOUND,
                 sv.deletion.delete(alice, chat_id, [bobs.msg_id], True))


async def test_a_message_of_another_chat_is_not_found(sv: Services) -> None:
    alice, bob, _, chat_id = await group(sv)
    other = (await sv.chats.direct(alice, bob)).chat_id
    m = await send_text(sv, alice, other, "elsewhere")
    err = await expect(ErrorCode.MESSAGE_NOT_FOUND,
                       sv.deletion.delete(alice, chat_id, [m.msg_id], True))
    assert err.data["msg_ids"] == [m.msg_id]


# -- delete for me, clear ------------------------------------------------------------------


async def test_delete_for_me_hides_only_for_me_with_one_user_update(sv: Services) -> None:
    alice, bob, _, chat_id = await group(sv)
    await send_text(sv, alice, chat_id, "one")
    two = await send_text(sv, alice, chat_id, "two")
    assert await texts(sv, bob, chat_id) == ["one", "two"]  # cached read view
    bus = published(sv)
    result = await sv.deletion.delete(bob, chat_id, [two.msg_id], False)
    assert chat_kinds(bus) == [] and user_kinds(bus) == [(bob, "message.hidden")]
    assert set(result) == {"seq"}
    assert await texts(sv, bob, chat_id) == ["one"]
    assert await difference_texts(sv, bob, chat_id) == ["one"]
    assert await sv.timeline.get(bob, chat_id, [two.msg_id]) == []
    assert await texts(sv, alice, chat_id) == ["one", "two"]
    # hiding again is harmless
    await sv.deletion.delete(bob, chat_id, [two.msg_id], False)
    assert await texts(sv, bob, chat_id) == ["one"]


async def test_clear_history_for_me(sv: Services) -> None:
    alice, bob, _, chat_id = await group(sv)
    await send_text(sv, alice, chat_id, "old")
    bus = published(sv)
    await sv.messages.recall(alice, chat_id, (await send_text(sv, alice, chat_id, "x")).msg_id)
    bus.events.clear()
    await sv.deletion.clear_history(bob, chat_id, False)
    assert chat_kinds(bus) == [] and user_kinds(bus) == [(bob, "history.cleared")]
    await send_text(sv, alice, chat_id, "new")
    assert await texts(sv, bob, chat_id) == ["new"]
    assert await difference_texts(sv, bob, chat_id) == ["new"]
    assert await texts(sv, alice, chat_id) == ["old", None, "new"]


async def test_clear_for_everyone_in_a_group_is_the_owners(sv: Services) -> None:
    alice, bob, _, chat_id = await group(sv)
    await send_text(sv, bob, chat_id, "old")
    await expect(ErrorCode.FORBIDDEN, sv.deletion.clear_history(bob, chat_id, True))
    bus = published(sv)
    await sv.deletion.clear_history(alice, chat_id, True)
    assert chat_kinds(bus) == ["history.cleared", "message.new"]  # + the system message
    await send_text(sv, bob, chat_id, "after")
    for viewer in (alice, bob):
        page = await sv.timeline.history(viewer, chat_id, None, None, None)
        assert [(m.kind, m.text) for m in page] == [("system", None), ("text", "after")]
        assert page[0].system == {"action": "history.cleared", "upto_pts": page[0].msg_id - 2,
                                  "by": alice}


async def test_either_member_clears_a_direct_chat_for_both(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = (await sv.chats.direct(alice, bob)).chat_id
    await send_text(sv, alice, chat_id, "secret")
    await sv.deletion.clear_history(bob, chat_id, True)
    assert [m.kind for m in await sv.timeline.history(alice, chat_id, None, None, None)] == [
        "system"]


# -- replies ----------------------------------------------------------------------------------


async def test_replies_carry_a_preview_and_are_counted(sv: Services) -> None:
    alice, bob, carol, chat_id = await group(sv)
    root = await send_text(sv, alice, chat_id, "x" * 150)
    r1 = await send_text(sv, bob, chat_id, "first", reply_to=root.msg_id)
    assert r1.reply_preview == wire.ReplyPreview(root.msg_id, alice, "text", "x" * 100)
    r2 = await send_text(sv, carol, chat_id, "second", reply_to=root.msg_id)
    [got] = await sv.timeline.get(bob, chat_id, [root.msg_id])
    assert got.reply_count == 2
    page = await sv.timeline.replies(bob, chat_id, root.msg_id, None, None)
    assert [m.msg_id for m in page] == [r2.msg_id, r1.msg_id]
    assert [m.msg_id for m in await sv.timeline.replies(bob, chat_id, root.msg_id, 1,
                                                        r2.msg_id)] == [r1.msg_id]
    await sv.deletion.delete(carol, chat_id, [r2.msg_id], True)
    [got] = await sv.timeline.get(bob, chat_id, [root.msg_id])
    assert got.reply_count == 1
    await sv.messages.recall(alice, chat_id, root.msg_id)
    [reply] = await sv.timeline.get(carol, chat_id, [r1.msg_id])
    assert reply.reply_preview is not None and reply.reply_preview.state == "recalled"
    assert reply.reply_preview.text is None


async def test_reply_preview_says_deleted(sv: Services) -> None:
    alice, bob, _, chat_id = await group(sv)
    root = await send_text(sv, alice, chat_id, "root")
    reply = await send_text(sv, bob, chat_id, "re", reply_to=root.msg_id)
    await sv.deletion.delete(alice, chat_id, [root.msg_id], True)
    [got] = await sv.timeline.get(bob, chat_id, [reply.msg_id])
    assert got.reply_preview is not None and got.reply_preview.state == "deleted"
    await expect(ErrorCode.MESSAGE_NOT_FOUND,
                 send_text(sv, bob, chat_id, "again", reply_to=root.msg_id))
    await expect(ErrorCode.MESSAGE_NOT_FOUND,
                 sv.timeline.replies(bob, chat_id, root.msg_id, None, None))


async def test_reply_graph_counts_who_answered_whom(sv: Services, clock: FakeClock) -> None:
    alice, bob, carol, chat_id = await group(sv)
    a = await send_text(sv, alice, chat_id, "a")
    await send_text(sv, bob, chat_id, "b->a", reply_to=a.msg_id)
    b = await send_text(sv, bob, chat_id, "b->a again", reply_to=a.msg_id)
    clock.advance(1000)
    await send_text(sv, carol, chat_id, "c->b", reply_to=b.msg_id)
    edges = await sv.timeline.reply_graph(alice, chat_id, None, None)
    assert [(e.from_user_id, e.to_user_id, e.count) for e in edges] == [
        (bob, alice, 2), (carol, bob, 1)]
    later = await sv.timeline.reply_graph(alice, chat_id, clock.now(), None)
    assert [(e.from_user_id, e.to_user_id) for e in later] == [(carol, bob)]
    await expect(ErrorCode.INVALID_PARAMS, sv.timeline.reply_graph(alice, chat_id, 10, 5))


# -- forward ---------------------------------------------------------------------------------


async def test_forward_keeps_the_original_source_and_is_idempotent(sv: Services) -> None:
    alice, bob, carol, chat_id = await group(sv)
    direct = (await sv.chats.direct(alice, carol)).chat_id
    m1 = await send_text(sv, bob, chat_id, "news")
    m2 = await send_text(sv, bob, chat_id, "more")
    bus = published(sv)
    sent = await sv.forward.forward(alice, chat_id, [m2.msg_id, m1.msg_id], direct, "fw1")
    assert chat_kinds(bus) == ["message.new", "message.new"]
    assert [m.text for m in sent] == ["more", "news"]
    assert sent[0].msg_id < sent[1].msg_id and {m.sender_id for m in sent} == {alice}
    assert sent[1].forward_from == wire.ForwardFrom(chat_id, m1.msg_id, bob, m1.date)
    again = await sv.forward.forward(alice, chat_id, [m2.msg_id, m1.msg_id], direct, "fw1")
    assert again == sent
    # a forward of a forward names the first source
    [chain] = await sv.forward.forward(carol, direct, [sent[1].msg_id], chat_id, None)
    assert chain.forward_from == sent[1].forward_from


async def test_forward_checks_both_chats(sv: Services) -> None:
    alice, bob, _carol, chat_id = await group(sv)
    outsider = (await make_users(sv, "dave"))[0]
    private = (await sv.chats.direct(alice, outsider)).chat_id
    secret = await send_text(sv, alice, private, "secret")
    await expect(ErrorCode.NOT_A_MEMBER,
                 sv.forward.forward(bob, private, [secret.msg_id], chat_id, None))
    m = await send_text(sv, bob, chat_id, "hi")
    await expect(ErrorCode.NOT_A_MEMBER,
                 sv.forward.forward(bob, chat_id, [m.msg_id], private, None))
    await expect(ErrorCode.MESSAGE_NOT_FOUND,
                 sv.forward.forward(alice, chat_id, [m.msg_id, 999], private, None))


# -- mentions ---------------------------------------------------------------------------------


def mention(user_id: int, offset: int = 0, length: int = 4) -> wire.Entity:
    return wire.Entity(type="mention", offset=offset, length=length, user_id=user_id)


async def test_a_mention_is_a_user_update_for_the_mentioned(sv: Services) -> None:
    alice, bob, _carol, chat_id = await group(sv)
    bus = published(sv)
    m = await send_text(sv, alice, chat_id, "@bob @alice hi",
                        entities=[mention(bob), mention(alice, 5, 6)])
    assert user_kinds(bus) == [(bob, "mention")]  # never yourself
    [event] = [e for e in bus.events if isinstance(e, UserEvent)]
    assert wire.decode(event.frame)["updates"][0]["msg_id"] == m.msg_id


async def test_mention_all_is_for_owners_and_admins(sv: Services) -> None:
    alice, bob, carol, chat_id = await group(sv)
    everyone = wire.Entity(type="mention_all", offset=0, length=4)
    err = await expect(ErrorCode.FORBIDDEN, send_text(sv, bob, chat_id, "@all", entities=[
        everyone]))
    assert err.data["permission"] == "mention_all"
    bus = published(sv)
    await send_text(sv, alice, chat_id, "@all", entities=[everyone])
    assert sorted(user_kinds(bus)) == [(bob, "mention"), (carol, "mention")]


# -- recall audit, burn-after-read and TTL at send ---------------------------------------


async def recall_and_audit(sv: Services) -> list[str | None]:
    alice, bob = await make_users(sv, "alice", "bob")
    chat_id = (await sv.chats.direct(alice, bob)).chat_id
    m = await send_text(sv, alice, chat_id, "pay to address A")
    await sv.messages.recall(alice, chat_id, m.msg_id)
    [seen] = await sv.timeline.get(bob, chat_id, [m.msg_id])
    assert seen.text is None  # clients never see the original

    async def audit(txn: Any) -> list[dict[str, Any]]:
        return await messages.recall_audit_txn(txn, chat_id)

    return [r["text"] for r in await sv.db.read("audit", audit)]


async def test_recall_keeps_no_audit_by_default(sv: Services) -> None:
    assert await recall_and_audit(sv) == []


async def test_recall_audit_keeps_the_original_when_enabled(settings: Settings,
                                                            clock: FakeClock) -> None:
    async with service_harness(settings.model_copy(update={"recall_audit": True}),
                               clock) as sv:
        assert await recall_and_audit(sv) == ["pay to address A"]


async def test_burn_after_read_is_for_direct_chats_in_range(sv: Services) -> None:
    alice, bob, _, chat_id = await group(sv)
    direct = (await sv.chats.direct(alice, bob)).chat_id
    await expect(ErrorCode.INVALID_PARAMS,
                 send_text(sv, alice, chat_id, "x", burn_after_seconds=10))
    await expect(ErrorCode.INVALID_PARAMS,
                 send_text(sv, alice, direct, "x", burn_after_seconds=0))
    await expect(ErrorCode.INVALID_PARAMS,
                 send_text(sv, alice, direct, "x", burn_after_seconds=604_801))
    m = await send_text(sv, alice, direct, "x", burn_after_seconds=30)
    assert m.burn_after_seconds == 30 and m.ttl_expires_at is None  # starts when read


async def test_messages_sent_under_a_ttl_carry_their_deadline(sv: Services,
                                                              clock: FakeClock) -> None:
    alice, bob, _, chat_id = await group(sv)

    async def set_ttl(txn: Any) -> None:
        await txn.execute("UPDATE chats SET message_ttl = 86400 WHERE chat_id = $1", chat_id)

    await sv.db.write("set_ttl", set_ttl)
    m = await send_text(sv, bob, chat_id, "soon gone")
    assert m.ttl_expires_at == clock.now() + 86400
    [stored] = await sv.timeline.get(alice, chat_id, [m.msg_id])
    assert stored.ttl_expires_at == m.ttl_expires_at


async def test_history_filters_by_tag(sv: Services) -> None:
    alice, bob, _, chat_id = await group(sv)
    lunch = await send_text(sv, alice, chat_id, "noon?")
    await send_text(sv, alice, chat_id, "unrelated")
    later = await send_text(sv, bob, chat_id, "friday?")
    for m, user in ((lunch, alice), (later, bob)):
        await sv.message_attributes.set(user, chat_id, m.msg_id, tags=["Lunch"])
    page = await sv.timeline.history(bob, chat_id, None, None, None, tag=" LUNCH ")
    assert [m.msg_id for m in page] == [lunch.msg_id, later.msg_id]
    older = await sv.timeline.history(bob, chat_id, later.msg_id, None, None, tag="lunch")
    assert [m.msg_id for m in older] == [lunch.msg_id]
    newer = await sv.timeline.history(bob, chat_id, None, 0, 1, tag="lunch")
    assert [m.msg_id for m in newer] == [lunch.msg_id]
    assert await sv.timeline.history(bob, chat_id, None, None, None, tag="dinner") == []
    await expect(ErrorCode.INVALID_PARAMS,
                 sv.timeline.history(bob, chat_id, None, None, None, tag="  "))
