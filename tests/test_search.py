"""message.search on both engines: text search (Chinese substrings, English
words), what the caller may see (spans, hidden, deleted, recalled, cleared),
the filters, cursor paging, bad input, and the method over WebSocket."""

from __future__ import annotations

from typing import Any

import pytest

from tidings import wire
from tidings.client import Client, TidingsClientError
from tidings.clock import FakeClock
from tidings.config import Settings
from tidings.errors import ErrorCode, TidingsError
from tidings.services import access
from tidings.services import search as search_service
from tidings.services.container import Services
from tidings.services.messages import SendRequest
from tidings.services.search import SearchPage, SearchRequest, message_spans
from tidings.services.visibility import OPEN
from tidings.store import search, search_terms
from tidings.store.chats import ChatRow, MemberRow
from tidings.store.search_terms import SEP
from tidings.testing import RecordingBus, running_server

from .helpers import PASSWORD, make_users, send_text

DAY = 86400


@pytest.fixture(params=["default", "windows", "unrestricted"])
def strategy(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The ways a text search can go: as chosen by scope size; in windows of
    days (an index that returns a set: PostgreSQL) however small the scope; and
    asking the index for the terms alone, as for a user in many chats."""
    if request.param == "windows":
        monkeypatch.setattr(search_service, "SMALL_SCOPE", 0)
    elif request.param == "unrestricted":
        monkeypatch.setattr(search, "RESTRICT_CHATS", 1)
    return str(request.param)


async def find(sv: Services, user_id: int, query: str | None = None, **kw: Any) -> SearchPage:
    return await sv.search.search(SearchRequest(user_id=user_id, query=query, **kw))


async def texts(sv: Services, user_id: int, query: str | None = None, **kw: Any
                ) -> list[str | None]:
    return [r.message.text for r in (await find(sv, user_id, query, **kw)).results]


async def every_page(sv: Services, user_id: int, query: str | None, limit: int, **kw: Any
                     ) -> list[wire.Message]:
    found: list[wire.Message] = []
    cursor = None
    for _ in range(1000):
        page = await find(sv, user_id, query, limit=limit, cursor=cursor, **kw)
        assert len(page.results) <= limit
        found += [r.message for r in page.results]
        cursor = page.next_cursor
        if cursor is None:
            return found
        assert len(page.results) == limit
    raise AssertionError("paging did not end")


async def refused(code: ErrorCode, coro: Any) -> TidingsError:
    with pytest.raises(TidingsError) as info:
        await coro
    assert info.value.code == code, info.value
    return info.value


async def group_of(sv: Services, owner: int, *members: int, title: str = "g") -> int:
    return (await sv.chats.create(owner, "group", title, list(members))).chat_id


# -- what matches -------------------------------------------------------------

async def test_chinese_substrings_of_two_or_more_characters(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await group_of(sv, alice, bob)
    for text in ("我们今天开会", "明天去北京出差", "hello 今天好", "天开"):
        await send_text(sv, alice, chat, text)
    assert await texts(sv, bob, "今天") == ["hello 今天好", "我们今天开会"]
    assert await texts(sv, bob, "天开会") == ["我们今天开会"]
    assert await texts(sv, bob, "们今天开") == ["我们今天开会"]
    assert await texts(sv, bob, "北京出差") == ["明天去北京出差"]
    assert await texts(sv, bob, "天开") == ["天开", "我们今天开会"]
    assert await texts(sv, bob, "京去") == []
    assert await texts(sv, bob, "今天好 hello") == ["hello 今天好"]
    page = await find(sv, bob, "今天")
    assert [r.matches for r in page.results] == [[[6, 2]], [[2, 2]]]


async def test_english_words_case_insensitively(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await group_of(sv, alice, bob)
    for text in ("Hello World", "HELLO there, hello!", "shell script", "world peace"):
        await send_text(sv, alice, chat, text)
    assert await texts(sv, bob, "hello") == ["HELLO there, hello!", "Hello World"]
    assert await texts(sv, bob, "WORLD") == ["world peace", "Hello World"]
    assert await texts(sv, bob, "world hello") == ["Hello World"]  # every term
    assert await texts(sv, bob, "hell") == []  # words, not substrings
    page = await find(sv, bob, "Hello")
    assert page.results[0].matches == [[0, 5], [13, 5]]


async def test_no_match_across_a_boundary_the_text_does_not_have(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await group_of(sv, alice, bob)
    for text in ("我们 好的", "你好\uff0c世界", "hello世界", "中文abc"):
        await send_text(sv, alice, chat, text)
    assert await texts(sv, bob, "们好") == []
    assert await texts(sv, bob, "好世") == []
    assert await texts(sv, bob, "o世") == []
    assert await texts(sv, bob, "文a") == []
    assert await texts(sv, bob, "hello世界") == ["hello世界"]
    assert await texts(sv, bob, "世界") == ["hello世界", "你好\uff0c世界"]
    # a lone CJK character is checked against the text of what the rest found
    assert await texts(sv, bob, "abc 中") == ["中文abc"]
    assert await texts(sv, bob, "abc 国") == []


async def test_system_messages_never_match_and_forwards_do(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await group_of(sv, alice, bob, title="member added created")
    other = await group_of(sv, alice, bob, title="other")
    sent = await send_text(sv, alice, chat, "forward this 转发")
    await sv.forward.forward(alice, chat, [sent.msg_id], other, None)
    page = await find(sv, bob, "转发")
    assert [(r.message.chat_id, r.message.forward_from is not None) for r in page.results] == [
        (other, True), (chat, False)]
    assert await texts(sv, bob, "member") == []
    assert await texts(sv, bob, "created") == []


# -- what the caller may see ------------------------------------------------------

async def test_spans_are_honoured(sv: Services, strategy: str) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await group_of(sv, alice, bob)
    side = await group_of(sv, alice, carol)
    await send_text(sv, alice, chat, "before join 秘密")
    await sv.chats.add_members(alice, chat, [carol])
    await send_text(sv, alice, chat, "after join 秘密")
    await sv.chats.remove_member(alice, chat, carol)
    await send_text(sv, alice, chat, "after leave 秘密")
    await send_text(sv, alice, side, "side 秘密")
    for scope in ({}, {"chat_id": chat}):
        expected = ["after join 秘密"] if scope else ["side 秘密", "after join 秘密"]
        assert await texts(sv, carol, "秘密", **scope) == expected
        assert await texts(sv, carol, **scope, kind="text") == expected
    await sv.chats.add_members(alice, chat, [carol])
    await send_text(sv, alice, chat, "back again 秘密")
    assert await texts(sv, carol, "秘密", chat_id=chat) == ["back again 秘密",
                                                             "after join 秘密"]
    assert await texts(sv, carol, "秘密") == ["back again 秘密", "side 秘密",
                                              "after join 秘密"]
    for limit in (1, 2):
        assert [m.text for m in await every_page(sv, carol, "秘密", limit)] == [
            "back again 秘密", "side 秘密", "after join 秘密"]
    assert await texts(sv, bob, "秘密") == ["back again 秘密", "after leave 秘密",
                                            "after join 秘密", "before join 秘密"]


async def test_a_left_chat_shows_what_came_before_leaving(sv: Services, strategy: str) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    left = await group_of(sv, alice, bob, title="left")
    stays = await group_of(sv, alice, bob, title="stays")
    await send_text(sv, alice, left, "old news")
    await send_text(sv, alice, stays, "news one")
    await sv.chats.leave(bob, left)
    for i in range(5):
        await send_text(sv, alice, left, f"news after {i}")
    await send_text(sv, alice, stays, "news two")
    assert await texts(sv, bob, "news") == ["news two", "news one", "old news"]
    assert [m.text for m in await every_page(sv, bob, "news", 1)] == [
        "news two", "news one", "old news"]


async def test_hidden_deleted_recalled_and_cleared_are_never_returned(
        sv: Services, strategy: str) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await group_of(sv, alice, bob)
    cleared = await send_text(sv, alice, chat, "apple cleared")
    await sv.deletion.clear_history(bob, chat, False)
    hidden = await send_text(sv, alice, chat, "apple hidden")
    deleted = await send_text(sv, alice, chat, "apple deleted")
    recalled = await send_text(sv, alice, chat, "apple recalled")
    await send_text(sv, alice, chat, "apple kept")
    await sv.deletion.delete(bob, chat, [hidden.msg_id], False)
    await sv.deletion.delete(alice, chat, [deleted.msg_id], True)
    await sv.messages.recall(alice, chat, recalled.msg_id)
    assert await texts(sv, bob, "apple") == ["apple kept"]
    assert await texts(sv, bob, chat_id=chat, kind="text") == ["apple kept"]
    assert await texts(sv, alice, "apple") == ["apple kept", "apple hidden", "apple cleared"]
    assert cleared.msg_id < hidden.msg_id


async def test_cleared_for_everyone(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await group_of(sv, alice, bob)
    await send_text(sv, alice, chat, "pear one")
    await sv.deletion.clear_history(alice, chat, True)
    await send_text(sv, alice, chat, "pear two")
    for user in (alice, bob):
        assert await texts(sv, user, "pear") == ["pear two"]


# -- filters and paging -----------------------------------------------------------

async def test_filters_with_and_without_text(sv: Services, clock: FakeClock) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await group_of(sv, alice, bob)
    start = clock.now()
    a1 = await send_text(sv, alice, chat, "lunch at noon")
    clock.advance(100)
    b1 = await send_text(sv, bob, chat, "lunch sounds good")
    clock.advance(100)
    place = await sv.messages.send(SendRequest(
        user_id=alice, chat_id=chat, local_id="loc", kind="location",
        location=wire.Location(lat=1.0, lon=2.0, title="canteen")))
    await sv.message_attributes.set(bob, chat, b1.msg_id, tags=["Food "])
    ids = {a1.msg_id: "a1", b1.msg_id: "b1", place.msg_id: "place"}

    async def named(query: str | None = None, **kw: Any) -> list[str]:
        page = await find(sv, alice, query, chat_id=chat, **kw)
        return [ids.get(r.message.msg_id, r.message.kind) for r in page.results]

    assert await named("lunch", sender_id=bob) == ["b1"]
    assert await named(sender_id=alice) == ["place", "a1", "system"]
    assert await named(kind="location") == ["place"]
    assert await named("lunch", kind="location") == []
    assert await named(tag="FOOD") == ["b1"]
    assert await named("lunch", tag="food") == ["b1"]
    assert await named(tag="drink") == []
    assert await named(kind="text", since=start + 100) == ["b1"]
    assert await named(kind="text", until=start + 100) == ["a1"]
    assert await named("lunch", since=start + 1, until=start + 200) == ["b1"]
    assert await named(since=start + 201) == []


async def test_paging_has_no_duplicates_or_gaps(sv: Services, clock: FakeClock,
        strategy: str) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chats = [await group_of(sv, alice, bob, carol, title=f"c{i}") for i in range(3)]
    for i in range(24):
        await send_text(sv, [alice, bob, carol][i % 3], chats[(i * 7) % 3],
                        f"mango {i} 芒果好吃" if i % 4 else f"other {i}")
        if i % 5 == 0:
            clock.advance(1)
    for query, kw in (("mango", {}), ("芒果", {}), ("芒果", {"chat_id": chats[1]}),
                      (None, {"kind": "text"}), (None, {}), (None, {"chat_id": chats[2]}),
                      (None, {"sender_id": bob})):
        whole = await every_page(sv, carol, query, 200, **kw)
        keys = [(m.chat_id, m.msg_id) for m in whole]
        assert len(set(keys)) == len(keys) and keys
        if query is None:  # newest first by (date, chat_id, msg_id)
            order = [(m.date, m.chat_id, m.msg_id) for m in whole]
            assert order == sorted(order, reverse=True)
        for limit in (1, 4, 7):
            paged = await every_page(sv, carol, query, limit, **kw)
            assert [(m.chat_id, m.msg_id) for m in paged] == keys, (query, kw, limit)
    assert len(await every_page(sv, carol, "mango", 5)) == 18


async def test_old_messages_are_reached_day_by_day(sv: Services, clock: FakeClock,
        strategy: str) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await group_of(sv, alice, bob)
    sent = []
    for gap in (0, 1, 2, 5, 30, 200, 400, 1):
        clock.advance(gap * DAY)
        sent.append((await send_text(sv, alice, chat, f"kiwi {gap}")).msg_id)
        await send_text(sv, alice, chat, "filler")
    newest_first = list(reversed(sent))
    assert [m.msg_id for m in await every_page(sv, bob, "kiwi", 3)] == newest_first
    assert [m.msg_id for m in await every_page(sv, bob, "kiwi", 2, chat_id=chat)
            ] == newest_first
    since = clock.now() - 401 * DAY
    assert [m.msg_id for m in await every_page(sv, bob, "kiwi", 2, since=since)
            ] == newest_first[:3]


# -- errors ---------------------------------------------------------------------

async def test_bad_input_is_refused_clearly(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat = await group_of(sv, alice, bob)
    for kw, field in (({"query": " a "}, "query"), ({"query": ""}, "query"),
                      ({"query": "!!"}, "query"), ({"query": "好 你"}, "query"),
                      ({"query": "x" * 257}, "query"), ({"limit": 0}, "limit"),
                      ({"limit": 201}, "limit"), ({"kind": "sticker"}, "kind"),
                      ({"tag": "  "}, "tag"), ({"since": 10, "until": 10}, "until"),
                      ({"cursor": "nope!"}, "cursor"), ({"cursor": "Zm9v"}, "cursor"),
                      ({"query": "ok", "cursor": "ZjEuMi4z"}, "cursor")):
        error = await refused(ErrorCode.INVALID_PARAMS, find(sv, alice, **kw))
        assert error.data.get("field") == field, kw
    await refused(ErrorCode.NOT_A_MEMBER, find(sv, carol, "hello", chat_id=chat))
    await refused(ErrorCode.NOT_A_MEMBER, find(sv, carol, chat_id=chat))
    await refused(ErrorCode.CHAT_NOT_FOUND, find(sv, carol, "hello", chat_id=99999))


async def test_searching_writes_nothing(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await group_of(sv, alice, bob)
    assert isinstance(sv.bus, RecordingBus)
    sv.bus.events.clear()
    await send_text(sv, alice, chat, "one update 一个")
    assert len(sv.bus.events) == 1  # indexing adds no update to the send's
    sv.bus.events.clear()
    await find(sv, bob, "一个")
    await find(sv, bob, kind="text")
    assert sv.bus.events == []


# -- over WebSocket -------------------------------------------------------------

async def test_search_over_websocket(settings: Settings) -> None:
    async with (running_server(settings) as server, Client(server.url) as alice,
                Client(server.url) as bob):
        await alice.register("alice", PASSWORD)
        bob_id = (await bob.register("bob", PASSWORD))["user_id"]
        chat = await alice.direct(bob_id)
        for text in ("周末一起吃火锅", "Hotpot this weekend?", "火锅店 on Main St"):
            await alice.send_text(chat["chat_id"], text)
        result = await bob.call("message.search", {"query": "火锅", "limit": 1})
        [first] = result["results"]
        assert first["message"]["text"] == "火锅店 on Main St"
        assert first["matches"] == [[0, 2]]
        assert isinstance(result["next_cursor"], str)
        rest = await bob.call("message.search", {"query": "火锅",
                                                 "cursor": result["next_cursor"]})
        assert [r["message"]["text"] for r in rest["results"]] == ["周末一起吃火锅"]
        assert rest["next_cursor"] is None
        hot = await bob.call("message.search", {"query": "HOTPOT",
                                                "chat_id": chat["chat_id"]})
        assert [r["matches"] for r in hot["results"]] == [[[0, 6]]]
        with pytest.raises(TidingsClientError) as info:
            await bob.call("message.search", {"query": "火"})
        assert info.value.code == "INVALID_PARAMS"


# -- the pieces -----------------------------------------------------------------

@pytest.mark.parametrize("visibility", ["joined", "full"])
@pytest.mark.parametrize("left_pts", [None, 40])
@pytest.mark.parametrize("past", [None, "[[2, 5], [9, 12]]"])
@pytest.mark.parametrize("floors", [(0, 0), (6, 0), (0, 10), (50, 0)])
def test_scope_spans_follow_the_access_rules(visibility: str, left_pts: int | None,
                                             past: str | None, floors: tuple[int, int]
                                             ) -> None:
    chat = ChatRow(chat_id=1, kind="group", title="t", creator_id=1, direct_key=None,
                   pts=60, created_at=0, expire_at=None, history_visibility=visibility,
                   last_msg_id=60, last_activity=0, member_count=2, cleared_pts=floors[0],
                   message_ttl=None)
    member = MemberRow(chat_id=1, user_id=2, role="member", joined_pts=20, left_pts=left_pts,
                       joined_at=0, read_pts=0, read_at=0, cleared_pts=floors[1],
                       muted_until=0, pinned=0, hidden=0, past_spans=past, has_hidden=0)
    expected = access.message_spans(chat, member)
    if left_pts is None and expected:
        expected[-1] = (expected[-1][0], OPEN)
    row = search.ScopeRow(1, visibility, 60, floors[0], 0, 0, 20, left_pts, floors[1], past, 0)
    assert message_spans(row) == expected


def test_day_cover_holds_every_day_once() -> None:
    def days(term: str) -> range:
        size, bucket = (int(x) for x in term[2:].split(SEP))
        return range(bucket * size, bucket * size + size)

    for first, last in ((20717, 20717), (20700, 20717), (20000, 20717), (0, 1000),
                        (255, 256), (1, 2)):
        terms = search.day_cover(first, last)
        covered = [d for t in terms for d in days(t)]
        assert sorted(covered) == list(range(first, last + 1)), (first, last)
        assert len(terms) <= 6 * (len(search_terms.DAY_LEVELS) - 1) + (last - first) // 256 + 1
    assert search.day_cover(20700, 20717)[:2] == [f"{SEP}d1{SEP}20717", f"{SEP}d1{SEP}20716"]
    assert search.day_cover(5, 4) == []


async def test_the_search_bench_runs_and_finds_what_it_asks(tmp_path: Any,
                                                            database_url: str | None) -> None:
    from tidings.bench.search import SearchBenchParams, run_engine

    params = SearchBenchParams(messages=3000, chats=12, users=10, members=4, searchers=3,
                               user_chats=5, days=30, queries=6, batch=1000)
    engine = "sqlite" if database_url is None else "postgres"
    rows = await run_engine(tmp_path / "bench", database_url, engine, params, lambda _: None)
    assert [(r.scope, r.kind) for r in rows] == [
        (scope, kind) for scope in ("chat", "all", "every") for kind in ("zh2", "en", "filter")]
    assert all(r.ok and r.queries == 6 for r in rows)
    assert sum(r.mean_results for r in rows) > 0
