"""message.send / history / get / recall at the service level, on both engines."""

from __future__ import annotations

import asyncio

import pytest

from tidings import wire
from tidings.clock import FakeClock
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.services.messages import SendRequest

from .helpers import make_users, send_text


async def _group(sv: Services) -> tuple[int, int, int, int]:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await sv.chats.create(alice, "group", "friends", [bob])
    return alice, bob, carol, chat.chat_id


async def test_send_returns_message_with_pts_as_id(sv: Services) -> None:
    alice, bob, _, chat_id = await _group(sv)
    before = (await sv.chats.get(alice, chat_id)).chat.pts
    m = await send_text(sv, alice, chat_id, "hello")
    assert m.msg_id == before + 1
    assert (m.sender_id, m.text, m.kind, m.chat_id) == (alice, "hello", "text", chat_id)
    got = await sv.timeline.get(bob, chat_id, [m.msg_id])
    assert got == [m]


async def test_repeated_local_id_returns_the_original(sv: Services) -> None:
    alice, _, _, chat_id = await _group(sv)
    first = await send_text(sv, alice, chat_id, "once", local_id="same")
    again = await send_text(sv, alice, chat_id, "once", local_id="same")
    assert again == first
    history = await sv.timeline.history(alice, chat_id, None, None, None)
    assert [m.msg_id for m in history if m.kind != "system"] == [first.msg_id]


async def test_concurrent_duplicates_in_one_batch_commit_once(sv: Services) -> None:
    alice, _, _, chat_id = await _group(sv)
    results = await asyncio.gather(*(send_text(sv, alice, chat_id, "x", local_id="dup")
                                     for _ in range(5)))
    assert len({m.msg_id for m in results}) == 1
    history = await sv.timeline.history(alice, chat_id, None, None, None)
    assert [m.kind for m in history] == ["system", "text"]  # chat created, then the one


async def test_one_bad_request_fails_alone_in_its_batch(sv: Services) -> None:
    alice, bob, carol, chat_id = await _group(sv)
    outcomes = await asyncio.gather(
        send_text(sv, alice, chat_id, "a"),
        send_text(sv, carol, chat_id, "not a member"),
        send_text(sv, bob, chat_id, "b", reply_to=999),
        send_text(sv, bob, chat_id, "c"),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], wire.Message)
    assert isinstance(outcomes[1], TidingsError) and outcomes[1].code is ErrorCode.NOT_A_MEMBER
    assert isinstance(outcomes[2], TidingsError)
    assert outcomes[2].code is ErrorCode.MESSAGE_NOT_FOUND
    assert isinstance(outcomes[3], wire.Message)
    assert outcomes[3].msg_id == outcomes[0].msg_id + 1  # no pts hole for the failures


async def test_reply_to_must_exist_in_the_chat(sv: Services) -> None:
    alice, bob, _, chat_id = await _group(sv)
    original = await send_text(sv, alice, chat_id, "q")
    reply = await send_text(sv, bob, chat_id, "a", reply_to=original.msg_id)
    assert reply.reply_to == original.msg_id
    other = await sv.chats.create(alice, "group", "other", [bob])
    with pytest.raises(TidingsError) as err:
        await send_text(sv, bob, other.chat_id, "x", reply_to=original.msg_id)
    assert err.value.code is ErrorCode.MESSAGE_NOT_FOUND


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"text": ""}, ErrorCode.INVALID_PARAMS),
        ({"text": "x" * 5000}, ErrorCode.TOO_LARGE),
        ({"kind": "system"}, ErrorCode.INVALID_PARAMS),
        ({"kind": "location"}, ErrorCode.INVALID_PARAMS),
        ({"local_id": ""}, ErrorCode.INVALID_PARAMS),
        ({"file_id": 5}, ErrorCode.INVALID_PARAMS),
        ({"entities": [wire.Entity("bold", 0, 10)]}, ErrorCode.INVALID_PARAMS),
    ],
)
async def test_invalid_sends_are_rejected(sv: Services, changes: dict[str, object],
                                          code: ErrorCode) -> None:
    alice, _, _, chat_id = await _group(sv)
    fields: dict[str, object] = {"user_id": alice, "chat_id": chat_id, "local_id": "l",
                                 "text": "hi"}
    fields.update(changes)
    with pytest.raises(TidingsError) as err:
        await sv.messages.send(SendRequest(**fields))  # type: ignore[arg-type]
    assert err.value.code is code


async def test_location_and_mentions_round_trip(sv: Services) -> None:
    alice, bob, _, chat_id = await _group(sv)
    loc = await sv.messages.send(SendRequest(
        user_id=alice, chat_id=chat_id, local_id="loc", kind="location",
        location=wire.Location(52.5, 13.4, "Berlin")))
    mention = await send_text(sv, alice, chat_id, "hi @bob",
                              entities=[wire.Entity("mention", 3, 4, user_id=bob)])
    got = await sv.timeline.get(bob, chat_id, [loc.msg_id, mention.msg_id])
    assert got[0].location == wire.Location(52.5, 13.4, "Berlin")
    assert got[1].entities == [wire.Entity("mention", 3, 4, user_id=bob)]


async def test_channel_members_may_not_post(sv: Services) -> None:
    alice, bob, _ = await make_users(sv, "alice", "bob", "carol")
    channel = await sv.chats.create(alice, "channel", "news", [bob])
    await send_text(sv, alice, channel.chat_id, "news")
    with pytest.raises(TidingsError) as err:
        await send_text(sv, bob, channel.chat_id, "me too")
    assert err.value.code is ErrorCode.FORBIDDEN


async def test_history_pages(sv: Services) -> None:
    alice, bob, _, chat_id = await _group(sv)
    sent = [await send_text(sv, alice, chat_id, f"m{i}") for i in range(12)]
    ids = [m.msg_id for m in sent]
    newest = await sv.timeline.history(bob, chat_id, None, None, 5)
    assert [m.msg_id for m in newest] == ids[-5:]
    older = await sv.timeline.history(bob, chat_id, newest[0].msg_id, None, 5)
    assert [m.msg_id for m in older] == ids[-10:-5]
    newer = await sv.timeline.history(bob, chat_id, None, ids[2], 3)
    assert [m.msg_id for m in newer] == ids[3:6]
    with pytest.raises(TidingsError) as err:
        await sv.timeline.history(bob, chat_id, None, None, 101)
    assert err.value.code is ErrorCode.INVALID_PARAMS


async def test_history_is_limited_to_the_members_window(sv: Services) -> None:
    alice, _, carol, chat_id = await _group(sv)
    await send_text(sv, alice, chat_id, "before carol")
    await sv.chats.add_members(alice, chat_id, [carol])
    after = await send_text(sv, alice, chat_id, "after carol")
    seen = await sv.timeline.history(carol, chat_id, None, None, None)
    # the system message of the add is hers too; the leave's one comes before she left
    assert [(m.kind, m.text) for m in seen] == [("system", None), ("text", "after carol")]
    assert seen[0].system == {"action": "member.added", "user_ids": [carol], "by": alice}
    await sv.chats.leave(carol, chat_id)
    await send_text(sv, alice, chat_id, "after carol left")
    seen = await sv.timeline.history(carol, chat_id, None, None, None)
    assert [m.msg_id for m in seen if m.kind != "system"] == [after.msg_id]
    assert seen[-1].system == {"action": "member.left", "user_ids": [carol], "by": carol}
    with pytest.raises(TidingsError) as err:
        await send_text(sv, carol, chat_id, "back?")
    assert err.value.code is ErrorCode.NOT_A_MEMBER


async def test_non_member_cannot_read(sv: Services) -> None:
    _, _, carol, chat_id = await _group(sv)
    with pytest.raises(TidingsError) as err:
        await sv.timeline.history(carol, chat_id, None, None, None)
    assert err.value.code is ErrorCode.NOT_A_MEMBER


async def test_recall_window_and_marker(sv: Services, clock: FakeClock) -> None:
    alice, bob, _, chat_id = await _group(sv)
    m = await send_text(sv, bob, chat_id, "oops")
    pts = await sv.messages.recall(bob, chat_id, m.msg_id)
    assert pts == m.msg_id + 1
    [recalled] = await sv.timeline.get(alice, chat_id, [m.msg_id])
    assert recalled.text is None and recalled.recalled_by == bob
    with pytest.raises(TidingsError) as err:
        await sv.messages.recall(bob, chat_id, m.msg_id)
    assert err.value.code is ErrorCode.ALREADY_RECALLED

    late = await send_text(sv, bob, chat_id, "too late")
    clock.advance(121)
    with pytest.raises(TidingsError) as err:
        await sv.messages.recall(bob, chat_id, late.msg_id)
    assert err.value.code is ErrorCode.RECALL_WINDOW_PASSED
    # the owner may still recall it, within the admin window
    await sv.messages.recall(alice, chat_id, late.msg_id)


async def test_members_cannot_recall_others(sv: Services) -> None:
    alice, bob, _, chat_id = await _group(sv)
    m = await send_text(sv, alice, chat_id, "mine")
    with pytest.raises(TidingsError) as err:
        await sv.messages.recall(bob, chat_id, m.msg_id)
    assert err.value.code is ErrorCode.FORBIDDEN


async def test_expired_chat_refuses_sends_but_stays_readable(sv: Services,
                                                            clock: FakeClock) -> None:
    alice, bob, _, chat_id = await _group(sv)
    await send_text(sv, alice, chat_id, "before")
    await sv.chats.set_expire(alice, chat_id, clock.now() + 60)
    clock.advance(61)
    with pytest.raises(TidingsError) as err:
        await send_text(sv, bob, chat_id, "after")
    assert err.value.code is ErrorCode.CHAT_EXPIRED
    assert [m.text for m in await sv.timeline.history(bob, chat_id, None, None, None)
            if m.kind != "system"] == [
        "before"]


async def test_a_used_local_id_with_other_content_conflicts(sv: Services) -> None:
    alice, _, _, chat_id = await _group(sv)
    first = await send_text(sv, alice, chat_id, "pay 10 to A", local_id="k")
    with pytest.raises(TidingsError) as err:
        await send_text(sv, alice, chat_id, "pay 10 to B", local_id="k")
    assert err.value.code is ErrorCode.LOCAL_ID_CONFLICT
    assert err.value.data["msg_id"] == first.msg_id


async def test_owner_recalls_own_message_only_within_the_sender_window(
        sv: Services, clock: FakeClock) -> None:
    """No edit means no changing what was said after the fact, for owners too:
    their own messages use recall_window_seconds, the admin window is for others'."""
    alice, bob, _, chat_id = await _group(sv)
    mine = await send_text(sv, alice, chat_id, "pay to address A")
    theirs = await send_text(sv, bob, chat_id, "spam")
    clock.advance(121)
    with pytest.raises(TidingsError) as err:
        await sv.messages.recall(alice, chat_id, mine.msg_id)
    assert err.value.code is ErrorCode.RECALL_WINDOW_PASSED
    assert err.value.data["window_seconds"] == 120
    await sv.messages.recall(alice, chat_id, theirs.msg_id)
