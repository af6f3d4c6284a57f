"""The authorization matrix of the people rules, on both engines: each refusal
(blocked, each privacy setting, not a contact, an unverified source) answers
its error code and writes nothing at all: no update in any log, no message,
no row in any people table."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from tidings.db.engine import Txn
from tidings.errors import ErrorCode
from tidings.services.container import Services

from .helpers import make_users, send_text
from .people_helpers import befriend, refusal

TABLES = ("user_updates", "chat_updates", "messages", "chats", "members", "blocks",
          "contacts", "contact_requests", "contact_cards")


async def snapshot(sv: Services) -> dict[str, int]:
    async def count_txn(txn: Txn) -> dict[str, int]:
        return {t: int(await txn.fetchval(f"SELECT COUNT(*) FROM {t}")) for t in TABLES}

    return await sv.db.read("test_snapshot", count_txn)


@dataclass
class World:
    """alice owns the settings; bob asks; carol is a bystander who owns groups."""

    alice: int
    bob: int
    carol: int
    direct: int  # bob's direct chat with alice
    group: int  # carol's group with bob (alice not in it)


Setup = Callable[[Services, World], Awaitable[None]]
Call = Callable[[Services, World], Awaitable[object]]


async def block(sv: Services, w: World) -> None:
    await sv.blocks.add(w.alice, w.bob)


async def block_carol(sv: Services, w: World) -> None:
    await sv.blocks.add(w.alice, w.carol)


def privacy(**changes: str) -> Setup:
    async def setup(sv: Services, w: World) -> None:
        await sv.privacy.update(w.alice, changes)
    return setup


async def nothing(sv: Services, w: World) -> None:
    pass


CASES: list[tuple[str, Setup, Call, ErrorCode, dict[str, object]]] = [
    ("blocked: direct message", block,
     lambda sv, w: send_text(sv, w.bob, w.direct, "hi"), ErrorCode.BLOCKED, {}),
    ("blocked: new direct chat", block_carol,
     lambda sv, w: sv.chats.direct(w.carol, w.alice), ErrorCode.BLOCKED, {}),
    ("blocked: create a group with me", block,
     lambda sv, w: sv.chats.create(w.bob, "group", "g", [w.alice]), ErrorCode.BLOCKED, {}),
    ("blocked: add me to a group", block,
     lambda sv, w: sv.chats.add_members(w.bob, w.group, [w.alice]), ErrorCode.BLOCKED, {}),
    ("blocked: contact request", block,
     lambda sv, w: sv.contacts.request(w.bob, w.alice, "search", None), ErrorCode.BLOCKED,
     {}),
    ("blocked: resolve", block,
     lambda sv, w: sv.users.resolve(w.bob, "alice"), ErrorCode.BLOCKED, {}),
    ("blocked: share my card", block,
     lambda sv, w: sv.contacts.share_card(w.bob, w.alice, w.group, None), ErrorCode.BLOCKED,
     {}),
    ("message_me contacts: direct message", privacy(message_me="contacts"),
     lambda sv, w: send_text(sv, w.bob, w.direct, "hi"), ErrorCode.FORBIDDEN,
     {"privacy": "message_me"}),
    ("message_me contacts: new direct chat", privacy(message_me="contacts"),
     lambda sv, w: sv.chats.direct(w.carol, w.alice), ErrorCode.FORBIDDEN,
     {"privacy": "message_me"}),
    ("message_me contacts: card into the direct chat", privacy(message_me="contacts"),
     lambda sv, w: sv.contacts.share_card(w.bob, w.bob, w.direct, None),
     ErrorCode.FORBIDDEN, {"privacy": "message_me"}),
    ("add_me contacts: create a group", privacy(add_me="contacts"),
     lambda sv, w: sv.chats.create(w.bob, "group", "g", [w.alice]), ErrorCode.FORBIDDEN,
     {"privacy": "add_me"}),
    ("add_me contacts: add to a group", privacy(add_me="contacts"),
     lambda sv, w: sv.chats.add_members(w.bob, w.group, [w.alice]), ErrorCode.FORBIDDEN,
     {"privacy": "add_me"}),
    ("find_me contacts: resolve", privacy(find_me="contacts"),
     lambda sv, w: sv.users.resolve(w.bob, "alice"), ErrorCode.FORBIDDEN,
     {"privacy": "find_me"}),
    ("find_me nobody: search request", privacy(find_me="nobody"),
     lambda sv, w: sv.contacts.request(w.bob, w.alice, "search", None), ErrorCode.FORBIDDEN,
     {"privacy": "find_me"}),
    ("find_me nobody: qr request", privacy(find_me="nobody"),
     lambda sv, w: sv.contacts.request(w.bob, w.alice, "qr", None), ErrorCode.FORBIDDEN,
     {"privacy": "find_me"}),
    ("find_me nobody: share their card", privacy(find_me="nobody"),
     lambda sv, w: sv.contacts.share_card(w.bob, w.alice, w.group, None),
     ErrorCode.FORBIDDEN, {"privacy": "find_me"}),
    ("bad source: group without a shared group", nothing,
     lambda sv, w: sv.contacts.request(w.bob, w.alice, "group", None), ErrorCode.FORBIDDEN,
     {"source": "group"}),
    ("bad source: card nobody shared", nothing,
     lambda sv, w: sv.contacts.request(w.bob, w.alice, "card", None), ErrorCode.FORBIDDEN,
     {"source": "card"}),
    ("not a contact: accept without a request", nothing,
     lambda sv, w: sv.contacts.accept(w.bob, w.alice), ErrorCode.NOT_FOUND, {}),
    ("not a contact: reject without a request", nothing,
     lambda sv, w: sv.contacts.reject(w.bob, w.alice), ErrorCode.NOT_FOUND, {}),
]


@pytest.mark.parametrize(("name", "setup", "call", "code", "data"), CASES,
                         ids=[c[0] for c in CASES])
async def test_refusal_writes_nothing(sv: Services, name: str, setup: Setup, call: Call,
                                      code: ErrorCode, data: dict[str, object]) -> None:
    alice, bob, carol = await make_users(sv, "alice", "bob", "carol")
    direct = (await sv.chats.direct(bob, alice)).chat_id
    group = (await sv.chats.create(carol, "group", "g", [bob])).chat_id
    w = World(alice, bob, carol, direct, group)
    await setup(sv, w)
    before = await snapshot(sv)
    err = await refusal(call(sv, w))
    assert err.code == code, err
    for key, value in data.items():
        assert err.data[key] == value
    if "privacy" in data:
        assert err.data["user_id"] == alice
    assert await snapshot(sv) == before


async def test_contacts_pass_what_strangers_cannot(sv: Services) -> None:
    """The same calls succeed for a contact once every setting says contacts."""
    alice, bob = await make_users(sv, "alice", "bob")
    direct = (await sv.chats.direct(bob, alice)).chat_id
    await befriend(sv, bob, alice)
    await sv.privacy.update(alice, {"find_me": "contacts", "message_me": "contacts",
                                    "add_me": "contacts"})
    await send_text(sv, bob, direct, "hi")
    await sv.chats.create(bob, "group", "g", [alice])
    assert (await sv.users.resolve(bob, "alice")).user_id == alice
