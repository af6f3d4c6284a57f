"""Groups end to end: a real server, three users driving permissions, roles,
an invite, moderation and a ban over WebSocket through the client SDK; each
device's view follows from the pushes, and errors arrive with their codes.

Set ``TIDINGS_RECORD_FRAMES=path`` to write every call and answer as the
``-> `` / ``<- `` lines docs/protocol.md shows (how its examples were made)."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tidings.app import TidingsServer
from tidings.client import Client, TidingsClientError
from tidings.config import Settings
from tidings.testing import running_server

PASSWORD = "correct horse"


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.next_id = 1

    async def call(self, client: Client, method: str, params: dict[str, Any]
                   ) -> dict[str, Any]:
        frame_id = self.next_id
        self.next_id += 1
        self.lines.append("-> " + _dump({"id": frame_id, "method": method, "params": params}))
        try:
            result = await client.call(method, params)
        except TidingsClientError as exc:
            error: dict[str, Any] = {"code": exc.code, "message": exc.message}
            if exc.data:
                error["data"] = exc.data
            self.lines.append("<- " + _dump({"id": frame_id, "error": error}))
            raise
        self.lines.append("<- " + _dump({"id": frame_id, "result": result}))
        return result


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[TidingsServer]:
    async with running_server(settings) as srv:
        yield srv


async def test_a_group_run_over_websocket(server: TidingsServer) -> None:
    rec = Recorder()
    async with Client(server.url) as alice, Client(server.url) as bob, \
            Client(server.url) as carol:
        await alice.register("alice", PASSWORD)
        bob_id = (await bob.register("bob", PASSWORD))["user_id"]
        carol_id = (await carol.register("carol", PASSWORD))["user_id"]
        chat = await alice.create_group("Team", [bob_id])
        chat_id = chat["chat_id"]
        await bob.wait_for(lambda c: chat_id in c.chats and c.chats[chat_id].chat is not None)

        await rec.call(alice, "chat.set_permissions",
                       {"chat_id": chat_id, "permissions": {"pin_messages": True}})
        await bob.wait_for(lambda c: c.chats[chat_id].chat["permissions"]["pin_messages"])

        await rec.call(alice, "chat.update", {"chat_id": chat_id, "about": "release crew",
                                              "announcement": "ship on Friday"})
        await bob.wait_for(lambda c: c.chats[chat_id].chat.get("announcement")
                           == "ship on Friday")
        await rec.call(bob, "chat.announcements", {"chat_id": chat_id})
        await rec.call(alice, "chat.set_role", {"chat_id": chat_id, "user_id": bob_id,
                                                "role": "admin"})
        await alice.wait_for(lambda c: c.chats[chat_id].roles.get(bob_id) == "admin")

        invite = (await rec.call(bob, "chat.create_invite",
                                 {"chat_id": chat_id, "max_uses": 10}))["invite"]
        info = await rec.call(carol, "chat.invite_info", {"invite": invite})
        assert (info["title"], info["member_count"]) == ("Team", 2)
        joined = await rec.call(carol, "chat.join", {"invite": invite})
        assert joined["status"] == "joined"
        await carol.wait_for(lambda c: chat_id in c.chats)
        await alice.wait_for(lambda c: carol_id in c.chats[chat_id].members)

        mute = await rec.call(bob, "chat.mute_member", {"chat_id": chat_id,
                                                        "user_id": carol_id,
                                                        "until": 4102444800})
        assert mute["pts"] > 0
        with pytest.raises(TidingsClientError) as info_err:
            await carol.send_text(chat_id, "let me speak")
        assert info_err.value.code == "MUTED"
        assert info_err.value.data == {"chat_id": chat_id, "until": 4102444800}

        await rec.call(alice, "chat.ban", {"chat_id": chat_id, "user_id": carol_id})
        await carol.wait_for(lambda c: c.chats[chat_id].left)
        with pytest.raises(TidingsClientError) as banned:
            await rec.call(carol, "chat.join", {"invite": invite})
        assert banned.value.code == "BANNED"
        await rec.call(alice, "chat.bans", {"chat_id": chat_id})
        with pytest.raises(TidingsClientError) as forbidden:
            await rec.call(carol, "chat.bans", {"chat_id": chat_id})
        assert forbidden.value.code == "NOT_A_MEMBER"

        # bob's second device, offline until now, reaches the same pts
        async with Client(server.url) as late:
            await late.login("bob", PASSWORD)
            await late.catch_up()
            await bob.wait_for(lambda c: carol_id not in c.chats[chat_id].members)
            assert late.chats[chat_id].pts == bob.chats[chat_id].pts
    path = os.environ.get("TIDINGS_RECORD_FRAMES")
    if path:
        Path(path).write_text("\n".join(rec.lines) + "\n", encoding="utf-8")  # noqa: ASYNC240


def content(client: Client, chat_id: int) -> list[int]:
    return sorted(client.chats[chat_id].messages)


async def _all_ids(client: Client, chat_id: int) -> list[int]:
    return sorted(m["msg_id"] for m in await client.history(chat_id, limit=100))


async def test_rejoining_follows_the_visibility_in_force(server: TidingsServer) -> None:
    """A member who left and is added back sees what the visibility says at
    the re-join: with "full", the messages from before their first join too
    (their devices fetch them); with "none", only the new membership (their
    devices drop what they held). Online and offline devices end equal."""
    async with Client(server.url) as alice, Client(server.url) as bob, \
            Client(server.url, reconnect=False) as roaming:
        await alice.register("alice", PASSWORD)
        bob_id = (await bob.register("bob", PASSWORD))["user_id"]
        chat_id = (await alice.create_group("g", []))["chat_id"]
        early = await alice.send_text(chat_id, "before bob")
        await alice.add_members(chat_id, [bob_id])
        await roaming.login("bob", PASSWORD)
        await roaming.catch_up()
        first = await alice.send_text(chat_id, "bob's first membership")
        await bob.wait_for(lambda c: first["msg_id"] in c.chats.get(chat_id, _NO).messages)
        assert early["msg_id"] not in bob.chats[chat_id].messages

        # "full": back in, bob's devices fetch the history from before his first join
        await alice.remove_member(chat_id, bob_id)
        await roaming.disconnect()
        await alice.call("chat.update", {"chat_id": chat_id, "history_visibility": "full"})
        await alice.add_members(chat_id, [bob_id])
        await bob.wait_for(lambda c: early["msg_id"] in c.chats[chat_id].messages)
        assert content(bob, chat_id) == await _all_ids(bob, chat_id)
        assert roaming.token is not None
        await roaming.resume(roaming.token)
        await roaming.wait_for(lambda c: c.chats[chat_id].pts == bob.chats[chat_id].pts)
        assert content(roaming, chat_id) == content(bob, chat_id)

        # "none": back in, only the new membership; devices drop the rest
        await alice.remove_member(chat_id, bob_id)
        await roaming.disconnect()
        await alice.call("chat.update", {"chat_id": chat_id, "history_visibility": "none"})
        pts = await alice.add_members(chat_id, [bob_id])
        last = await alice.send_text(chat_id, "now")
        await bob.wait_for(lambda c: last["msg_id"] in c.chats[chat_id].messages)
        assert content(bob, chat_id) == await _all_ids(bob, chat_id)
        assert min(content(bob, chat_id)) >= pts - 1
        await roaming.resume(roaming.token)
        await roaming.wait_for(lambda c: c.chats[chat_id].pts == bob.chats[chat_id].pts)
        assert content(roaming, chat_id) == content(bob, chat_id)


class _Empty:
    messages: dict[int, object] = {}


_NO = _Empty()
