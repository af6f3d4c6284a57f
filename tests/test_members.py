"""chat.members pages the member list (query, role, cursor); chat.get shows
only its first page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tidings.client import Client, TidingsClientError
from tidings.clock import FakeClock
from tidings.db.engine import Txn
from tidings.errors import ErrorCode, TidingsError
from tidings.services.container import Services
from tidings.testing import running_server, service_harness, test_settings

from .helpers import PASSWORD, make_users

NAMES = ("alice", "bob", "carol", "dave", "erin", "frank", "grace")


async def set_display_name(sv: Services, user_id: int, name: str) -> None:
    async def txn_fn(txn: Txn) -> None:
        await txn.execute("UPDATE users SET display_name = $2 WHERE user_id = $1",
                          user_id, name)

    await sv.db.write("test_display_name", txn_fn)


async def walk(sv: Services, user_id: int, chat_id: int, limit: int, **kw: Any
               ) -> list[list[int]]:
    pages: list[list[int]] = []
    cursor = None
    while True:
        page = await sv.members.page(user_id, chat_id, limit=limit, cursor=cursor, **kw)
        pages.append([m.user_id for m in page["members"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


async def test_pages_come_in_join_order_without_repeats(sv: Services) -> None:
    users = await make_users(sv, *NAMES)
    chat = await sv.chats.create(users[0], "group", "g", users[4:])
    await sv.chats.add_members(users[0], chat.chat_id, users[1:4])
    # first the creation (owner, then 4..6 by id), then the later additions
    order = [users[0], *users[4:], *users[1:4]]
    assert await walk(sv, users[1], chat.chat_id, 3) == [order[:3], order[3:6], order[6:]]
    assert await walk(sv, users[1], chat.chat_id, 7) == [order]
    page = await sv.members.page(users[1], chat.chat_id, limit=2)
    # only your own read cursor is shown
    assert [(m.user_id, m.role, m.read_pts is not None) for m in page["members"]] == [
        (users[0], "owner", False), (users[4], "member", False)]
    mine = await sv.members.page(users[1], chat.chat_id, query="bob")
    assert [(m.user_id, m.read_pts) for m in mine["members"]] == [(users[1], 6)]


async def test_a_walk_survives_leaves_and_joins(sv: Services) -> None:
    users = await make_users(sv, *NAMES)
    chat_id = (await sv.chats.create(users[0], "group", "g", users[1:6])).chat_id
    first = await sv.members.page(users[0], chat_id, limit=3)
    assert [m.user_id for m in first["members"]] == users[:3]
    await sv.chats.remove_member(users[0], chat_id, users[1])  # already listed
    await sv.chats.remove_member(users[0], chat_id, users[4])  # not reached yet
    await sv.chats.add_members(users[0], chat_id, [users[6]])  # joins at the end
    rest = await sv.members.page(users[0], chat_id, limit=3, cursor=first["next_cursor"])
    assert [m.user_id for m in rest["members"]] == [users[3], users[5], users[6]]
    assert rest["next_cursor"] is None


async def test_query_matches_username_or_display_name_prefixes(sv: Services) -> None:
    users = await make_users(sv, *NAMES)
    chat_id = (await sv.chats.create(users[0], "group", "g", users[1:])).chat_id
    alice, bob, carol, dave, erin, frank, grace = users
    await set_display_name(sv, carol, "Caroline Bobbitt")
    await set_display_name(sv, dave, "DAVID 100%_sure")
    await set_display_name(sv, erin, "李小龙")

    async def found(query: str) -> list[int]:
        return [p for page in await walk(sv, alice, chat_id, 2, query=query) for p in page]

    assert await found("bo") == [bob, carol]  # username; a word of a display name
    assert await found("  BOB ") == [bob, carol]  # trimmed, case-insensitive
    assert await found("CAROLINE b") == [carol]  # the whole display name
    assert await found("dav") == [dave]
    assert await found("100%") == [dave]  # % and _ are literal ...
    assert await found("%") == [] and await found("_") == []  # ... never wildcards
    assert await found("100%_") == [dave]
    assert await found("李") == [erin]
    assert await found("小龙") == []  # a prefix, not any substring
    assert await found("") == users  # an empty query lists everybody
    assert await found("zz") == []
    assert frank and grace


async def test_role_filter(sv: Services) -> None:
    users = await make_users(sv, *NAMES)
    chat_id = (await sv.chats.create(users[0], "group", "g", users[1:])).chat_id
    assert await walk(sv, users[3], chat_id, 5, role="owner") == [[users[0]]]
    assert await walk(sv, users[3], chat_id, 5, role="member") == [users[1:6], users[6:]]
    assert await walk(sv, users[3], chat_id, 5, role="admin") == [[]]
    assert await walk(sv, users[3], chat_id, 5, role="member", query="gr") == [[users[6]]]


async def test_refusals(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    chat_id = (await sv.chats.create(alice, "group", "g", [bob])).chat_id
    await sv.chats.leave(bob, chat_id)
    cases: list[tuple[int, int, dict[str, Any], ErrorCode, str | None]] = [
        (carol, chat_id, {}, ErrorCode.NOT_A_MEMBER, None),
        (bob, chat_id, {}, ErrorCode.NOT_A_MEMBER, None),  # a former member
        (alice, 999, {}, ErrorCode.CHAT_NOT_FOUND, None),
        (alice, chat_id, {"limit": 0}, ErrorCode.INVALID_PARAMS, "limit"),
        (alice, chat_id, {"limit": 201}, ErrorCode.INVALID_PARAMS, "limit"),
        (alice, chat_id, {"cursor": "x"}, ErrorCode.INVALID_PARAMS, "cursor"),
        (alice, chat_id, {"cursor": "1.2.3"}, ErrorCode.INVALID_PARAMS, "cursor"),
        (alice, chat_id, {"role": "king"}, ErrorCode.INVALID_PARAMS, "role"),
        (alice, chat_id, {"query": "q" * 65}, ErrorCode.INVALID_PARAMS, "query"),
    ]
    for user, chat, kw, code, field in cases:
        with pytest.raises(TidingsError) as err:
            await sv.members.page(user, chat, **kw)
        assert err.value.code is code, kw
        assert err.value.data.get("field") == field, kw


async def test_chat_get_shows_the_first_page_only(tmp_path: Path,
                                                  database_url: str | None) -> None:
    settings = test_settings(tmp_path / "data", database_url, chat_get_members_limit=3)
    async with service_harness(settings, FakeClock()) as sv:
        users = await make_users(sv, *NAMES)
        chat_id = (await sv.chats.create(users[0], "group", "g", users[1:])).chat_id
        details = await sv.chats.get(users[2], chat_id)
        assert [m.user_id for m in details.members] == users[:3]
        assert details.chat.member_count == 7
        rest = await sv.members.page(users[2], chat_id, cursor=details.members_next_cursor)
        assert [m.user_id for m in rest["members"]] == users[3:]
        assert rest["next_cursor"] is None
        small = (await sv.chats.create(users[0], "group", "small", users[1:3])).chat_id
        details = await sv.chats.get(users[0], small)
        assert len(details.members) == 3 and details.members_next_cursor is None
        await sv.chats.leave(users[1], small)
        former = await sv.chats.get(users[1], small)
        assert former.members == [] and former.members_next_cursor is None


async def test_members_over_the_websocket(tmp_path: Path, database_url: str | None) -> None:
    settings = test_settings(tmp_path / "data", database_url, chat_get_members_limit=2)
    async with running_server(settings) as server, Client(server.url) as alice:
        await alice.register("alice", PASSWORD)
        ids = [(await server.services.auth.register(n, PASSWORD, None)).user_id
               for n in ("bob", "bobby", "carol")]
        chat_id = (await alice.create_group("team", ids))["chat_id"]
        got = await alice.call("chat.get", {"chat_id": chat_id})
        assert [m["user_id"] for m in got["members"]] == [alice.user_id, ids[0]]
        rest = await alice.members(chat_id, cursor=got["members_next_cursor"])
        assert [m["user_id"] for m in rest["members"]] == ids[1:]
        assert rest["next_cursor"] is None
        bobs = await alice.members(chat_id, query="Bob", limit=1)
        assert [m["user_id"] for m in bobs["members"]] == [ids[0]]
        more = await alice.members(chat_id, query="Bob", cursor=bobs["next_cursor"])
        assert [m["user_id"] for m in more["members"]] == [ids[1]]
        with pytest.raises(TidingsClientError) as err:
            await alice.members(chat_id, limit=500)
        assert err.value.code == "INVALID_PARAMS"
