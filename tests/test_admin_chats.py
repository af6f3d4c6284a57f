"""Operators inside chats (issue 11 item 1): add members, send as a member or
as the system, disband a group (members removed with their updates, history
kept and readable by operators, nobody joins again), read the recall audit.
Update counts through the services on both engines, then over HTTP."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from tidings.client import Client
from tidings.config import Settings
from tidings.errors import ErrorCode, TidingsError
from tidings.services.chat_admin import ChatAdmin
from tidings.services.container import Services
from tidings.services.operator_chats import OperatorChats
from tidings.testing import running_server, test_settings

from .admin_helpers import TOKEN, base, http, seq_of, user_updates
from .helpers import PASSWORD, make_users, send_text


def operator(sv: Services) -> OperatorChats:
    return OperatorChats(sv.db, sv.bus, sv.clock, sv.settings, sv.chats, sv.messages)


async def chat_updates(sv: Services, user_id: int, chat_id: int, pts: int) -> list[str]:
    found = (await sv.sync.get_chat_difference(user_id, chat_id, pts, None)).updates
    return [u["kind"] + (":" + u["message"].system["action"] if u["kind"] == "message.new"
                         and u["message"].kind == "system" else "") for u in found]


async def test_disband_removes_every_member_in_one_transaction(sv: Services) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    dave, = await make_users(sv, "dave")
    chat = await sv.chats.create(alice, "group", "Team", [bob, carol])
    invite = await sv.invites.create(alice, chat.chat_id, None, None)
    await send_text(sv, bob, chat.chat_id, "kept forever")
    pts = (await sv.sync.get_state(alice)).chats[str(chat.chat_id)]
    seqs = {u: await seq_of(sv, u) for u in (alice, bob, carol)}

    left_pts, removed = await operator(sv).disband(chat.chat_id)
    assert removed == [alice, bob, carol]
    assert await chat_updates(sv, alice, chat.chat_id, pts) == [
        "message.new:chat.disbanded", "member.left", "member.left", "member.left"]
    for u in (alice, bob, carol):
        assert [(x["kind"], x["pts"]) for x in await user_updates(sv, u, seqs[u])] == [
            ("chat.left", left_pts)]
    assert (await sv.chats.get(alice, chat.chat_id)).chat.member_count == 0

    history, older = await ChatAdmin(sv.db, sv.chats, sv.clock).messages(chat.chat_id,
                                                                          None, 50)
    assert "kept forever" in [m.text for m in history] and older is None
    for attempt in (operator(sv).add_members(chat.chat_id, [bob]),
                    sv.invites.join(dave, invite.invite, ""),
                    operator(sv).disband(chat.chat_id),
                    operator(sv).send_notice(chat.chat_id, "hello?")):
        with pytest.raises(TidingsError) as err:
            await attempt
        assert err.value.code is ErrorCode.CHAT_DISBANDED


async def test_operator_adds_members_and_sends_notices(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    chat = await sv.chats.create(alice, "group", "Team", [])
    pts = chat.pts
    seq = await seq_of(sv, bob)
    await operator(sv).add_members(chat.chat_id, [bob])
    assert await chat_updates(sv, alice, chat.chat_id, pts) == [
        "member.joined", "message.new:member.added"]
    assert [u["kind"] for u in await user_updates(sv, bob, seq)] == ["chat.joined"]
    pts = (await sv.sync.get_state(alice)).chats[str(chat.chat_id)]
    notice = await operator(sv).send_notice(chat.chat_id, "maintenance at noon")
    assert notice.system == {"action": "operator.notice", "text": "maintenance at noon",
                             "by": None}
    sent = await operator(sv).send_as(chat.chat_id, bob, "as bob", "op-1")
    assert sent.sender_id == bob
    assert (await operator(sv).send_as(chat.chat_id, bob, "as bob", "op-1")) == sent
    assert await chat_updates(sv, alice, chat.chat_id, pts) == [
        "message.new:operator.notice", "message.new"]
    direct = await sv.chats.direct(alice, bob)
    with pytest.raises(TidingsError) as err:
        await operator(sv).add_members(direct.chat_id, [bob])
    assert err.value.code is ErrorCode.FORBIDDEN


async def test_operator_creates_a_chat_as_chat_create_does(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    await sv.privacy.update(bob, {"add_me": "contacts"})  # an operator is not refused
    seq = await seq_of(sv, bob)
    chat = await sv.chats.create_by_operator(alice, "group", "Ops", [bob])
    assert (chat.creator_id, chat.member_count) == (alice, 2)
    assert await chat_updates(sv, alice, chat.chat_id, 0) == [
        "chat.created", "member.joined", "member.joined", "message.new:chat.created"]
    assert [u["kind"] for u in await user_updates(sv, bob, seq)] == ["chat.joined"]


# -- over the wire -------------------------------------------------------------------------

@pytest.fixture
def admin_settings(tmp_path: Path, database_url: str | None) -> Settings:
    return test_settings(tmp_path / "data", database_url, admin_token=TOKEN,
                         recall_audit=True)


async def test_operator_chat_api_over_http(admin_settings: Settings) -> None:
    async with running_server(admin_settings) as srv, aiohttp.ClientSession() as s, \
            Client(srv.url) as alice, Client(srv.url) as bob:
        alice_id = (await alice.register("alice", PASSWORD))["user_id"]
        bob_id = (await bob.register("bob", PASSWORD))["user_id"]
        url = f"{base(srv)}/admin/chats"
        status, body = await http(s, "POST", url, TOKEN, json={
            "kind": "group", "title": "Ops", "owner_id": alice_id})
        assert status == 201 and body["chat"]["title"] == "Ops"
        chat_id = body["chat"]["chat_id"]
        await alice.wait_for(lambda c: chat_id in c.chats)
        status, body = await http(s, "POST", f"{url}/{chat_id}/members", TOKEN,
                                  json={"user_ids": [bob_id]})
        assert status == 200 and body["pts"] > 0
        await bob.wait_for(lambda c: chat_id in c.chats)

        status, body = await http(s, "POST", f"{url}/{chat_id}/messages", TOKEN,
                                  json={"text": "from bob", "user_id": bob_id})
        assert status == 201 and body["message"]["sender_id"] == bob_id
        recalled = body["message"]["msg_id"]
        await bob.call("message.recall", {"chat_id": chat_id, "msg_id": recalled})
        status, body = await http(s, "POST", f"{url}/{chat_id}/messages", TOKEN,
                                  json={"text": "system speaking"})
        assert status == 201 and body["message"]["system"]["action"] == "operator.notice"
        await alice.wait_for(lambda c: any(
            (m.get("system") or {}).get("text") == "system speaking"
            for m in c.chats[chat_id].messages.values()))

        status, body = await http(s, "GET", f"{base(srv)}/admin/recall-audit?chat_id="
                                  f"{chat_id}", TOKEN)
        assert status == 200 and [(e["msg_id"], e["text"]) for e in body["entries"]] == [
            (recalled, "from bob")]

        status, body = await http(s, "POST", f"{url}/{chat_id}/disband", TOKEN)
        assert status == 200 and sorted(body["removed_user_ids"]) == [alice_id, bob_id]
        await bob.wait_for(lambda c: c.chats[chat_id].left)
        status, page = await http(s, "GET", f"{url}/{chat_id}/messages?limit=2", TOKEN)
        assert status == 200 and len(page["messages"]) == 2
        assert [m["system"]["action"] for m in page["messages"]] == [
            "operator.notice", "chat.disbanded"]
        status, older = await http(s, "GET", f"{url}/{chat_id}/messages?before="
                                   f"{page['next_before']}", TOKEN)
        assert recalled in [m["msg_id"] for m in older["messages"]]
        assert older["next_before"] is None
        status, body = await http(s, "POST", f"{url}/{chat_id}/members", TOKEN,
                                  json={"user_ids": [bob_id]})
        assert (status, body["error"]["code"]) == (403, "CHAT_DISBANDED")
        status, body = await http(s, "POST", f"{url}/999999/disband", TOKEN)
        assert (status, body["error"]["code"]) == (404, "CHAT_NOT_FOUND")
        for query, field in (("kind=null", "kind"), ("limit=2&limit=3", "limit"),
                             ("cursor=x", "cursor")):
            status, body = await http(s, "GET", f"{url}?{query}", TOKEN)
            assert (status, body["error"]["data"]["field"]) == (400, field), query
