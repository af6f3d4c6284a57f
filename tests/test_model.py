"""The sync model (DESIGN.md §1.2, §3, §10): any device that goes offline at any
point and catches up ends in the state of a device that was online throughout.

A Hypothesis state machine drives a real server (in-process, on a free port)
through the client SDK over WebSocket: 3 users with 2 devices each, one group
(created by user 0 with user 1) and the three direct chats. Rules send texts,
add users to the group, remove them or let them leave (so users leave and come
back), recall recent messages, send files, let time pass (the media expiry job
expires and then deletes them: ``media.expired`` / ``media.deleted`` in the
chat), renew them from the group's pool, move them into and out of their
sender's custody, mark chats read (the user's other devices follow the
cursor), turn read receipts off and on, let the group's owner expire it and
reopen it (writes in between answer CHAT_EXPIRED; the expiry job's
``chat.expired`` reaches every device), change the group's history
visibility (full, joined, none), its view_history permission and members'
roles (admin or member), block and unblock each other, send, accept, reject
and remove contact requests (a separate block of rules: a blocked user's
direct messages are refused and take no pts), act as an operator through the
admin HTTP API (an ``operator.notice`` in any group, adding a user to the
group without permission or block checks, creating groups for users and
disbanding them: every member leaves at once and later notices are refused
with CHAT_DISBANDED), and take devices offline and back online. Going
offline is either ``Client.disconnect()`` or a drop by the server, which also
discards the pushes it still had queued for the device; either way the client
keeps its sync state, and ``resume(token)`` brings it back and catches up.

The test keeps its own model of every chat: pts, messages with the pts of their
recall, and each user's membership spans. From it follows what an always-online
device holds: the messages of every span, recalled when the recall fell in a
span. ``check_consistency`` (a rule, and at teardown with every device back
online) waits until each online device's seq and pts equal the server's, first
by pushes alone and then after ``catch_up()``, and compares its view with

- the model: exactly what an always-online device of the user holds, nothing
  beyond the pts where the user left;
- the server: ``message.history`` paged over everything the user may see (the
  union of their spans), ``sync.get_state`` for seq and pts.

A recall made while the user was not a member (after they left, or between two
memberships) reaches their devices as a ``message.recalled`` user update, so an
always-online device ends with every message it holds in its current state.

Each rule also checks the server's answer against the model (pts contiguous,
one per change). Shrinking a failure replays hundreds of examples and takes
minutes, so it is off unless ``TIDINGS_MODEL_SHRINK=1``; the failing steps are
printed either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    precondition,
    rule,
    run_state_machine_as_test,
)

from tidings.app import TidingsServer
from tidings.client import Client, TidingsClientError
from tidings.clock import FakeClock
from tidings.config import Settings
from tidings.jobs import build_runner
from tidings.testing import postgres_schema, running_server, test_settings

from .helpers import full_history

pytestmark = pytest.mark.slow

PG_URL = os.environ.get("TIDINGS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = bool(os.environ.get("CI"))
SHRINK = os.environ.get("TIDINGS_MODEL_SHRINK") == "1"

PASSWORD = "correct horse"
NAMES = ("ann", "ben", "cat")
DEVICES = 2
RECENT = 6             # recall picks among the newest messages of a chat
STEP_TIMEOUT = 30.0    # no rule may hang the suite
SETTLE_TIMEOUT = 5.0   # pushes reach an online device within this
ALPHABET = "ab xé😀\n"
FILE_TTL = 100         # media_ttl_file_seconds: files expire within a few time steps
GRACE = 50             # media_grace_seconds: then their bytes are deleted
RENEW_DAYS = 1
ADMIN_TOKEN = "model-operator"
MAX_OPERATOR_GROUPS = 2

T = TypeVar("T")
Dev = tuple[int, int]                     # (user index, device index)
Summary = tuple[int, str | None, bool]    # (sender_id, text, recalled)

MACHINE_SETTINGS = hypothesis_settings(
    max_examples=15,
    stateful_step_count=25,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, *([Phase.shrink] if SHRINK else [])],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)


def summary(message: dict[str, Any]) -> Summary:
    return (message["sender_id"], message.get("text"), message.get("recalled_at") is not None)


async def drop_connection(server: TidingsServer, client: Client) -> None:
    """Take a device offline the way a network drop does: the server closes its
    socket (discarding pushes still queued for it); the client keeps its state
    and, built with ``reconnect=False``, stays offline until ``resume``."""
    conns = [c for c in server.node.connections if c.device_id == client.device_id]
    assert conns, f"device {client.device_id} has no connection to drop"
    for conn in conns:
        conn.close_soon(1001, "test: device goes offline")
    await client.wait_for(lambda c: not c.connected, timeout=SETTLE_TIMEOUT)


@dataclass
class FileModel:
    """An uploaded file's lifecycle as the server must keep it."""

    file_id: int
    uploader: int                  # user index
    created_at: int
    expires_at: int | None
    status: str = "active"
    expired_at: int | None = None
    in_custody: bool = False
    in_pool: bool = False          # renewed from the group's pool, holding bytes

    def tick(self, now: int) -> str | None:
        """The expiry job's transition at ``now``, if any (one per run: a file
        expired in this run is not also deleted in it)."""
        if self.status == "active" and self.expires_at is not None and self.expires_at <= now:
            self.status, self.expired_at = "expired", now
            return "media.expired"
        if self.status == "expired" and self.expired_at is not None \
                and self.expired_at + GRACE <= now:
            self.status = "deleted"
            return "media.deleted"
        return None


@dataclass
class MessageModel:
    sender_id: int
    text: str | None               # None: a system message
    recall_pts: int | None = None
    deleted: bool = False          # deleted for everyone
    reactions: dict[str, set[int]] = field(default_factory=dict)  # emoji -> user ids
    file: FileModel | None = None  # a file message; None again once recalled

    @property
    def shows_file(self) -> bool:
        """Whether the message still shows its file (so the file's changes reach
        the chat as updates)."""
        return self.file is not None and self.recall_pts is None and not self.deleted

    def counts(self) -> dict[str, int]:
        return {e: len(users) for e, users in self.reactions.items() if users}

    @property
    def system(self) -> bool:
        return self.text is None


@dataclass
class ChatModel:
    chat_id: int
    kind: str                                    # "group" | "direct"
    pts: int
    # user index -> membership spans [joined_pts, left_pts or None while a member]
    memberships: dict[int, list[list[int | None]]]
    owner: int | None = None                     # user index (groups)
    roles: dict[int, str] = field(default_factory=dict)  # user index -> role (groups)
    visibility: str = "joined"                   # history_visibility (groups)
    view_history: bool = True                    # the permission (groups)
    # user index -> the spans the server lets them see, decided at each join
    # (services.access.join_terms); the last is open (None) while a member.
    visible: dict[int, list[list[int | None]]] = field(default_factory=dict)
    messages: dict[int, MessageModel] = field(default_factory=dict)
    floor: int = 0                               # cleared for everyone up to this pts
    user_floor: dict[int, int] = field(default_factory=dict)  # cleared for one user
    hidden: dict[int, set[int]] = field(default_factory=dict)  # deleted for one user
    pinned: set[int] = field(default_factory=set)
    # user index -> read cursor, as the last read.mark answered it (unknown
    # until the user marks; a rejoin moves it without a mark, so forgotten)
    read: dict[int, int] = field(default_factory=dict)
    expired: bool = False  # chat.expired seen and not reopened since
    pool: bool = False     # has a storage pool (the first group)
    operator: bool = False  # created by an operator through the admin API
    disbanded: bool = False

    def active(self, user: int) -> bool:
        spans = self.memberships.get(user)
        return bool(spans) and spans[-1][1] is None

    def joined(self, user: int) -> int:
        joined = self.memberships[user][-1][0]
        assert joined is not None
        return joined

    def upto(self, user: int) -> int:
        """The pts a device of this user ends at: the chat's, or where the user left."""
        left = self.memberships[user][-1][1]
        return self.pts if left is None else left

    def spans(self, user: int) -> list[tuple[int, int]]:
        """The inclusive pts ranges the user may see (direct chats: everything)."""
        result = []
        if self.kind == "direct":
            for joined, left in self.memberships.get(user, ()):
                assert joined is not None
                result.append((1, self.pts if left is None else left))
            return result
        for low, high in self.visible.get(user, ()):
            assert low is not None
            result.append((low, self.pts if high is None else high))
        return result

    def join(self, user: int, pts: int) -> None:
        """``user`` becomes a member at ``pts``: what they see follows the chat's
        visibility and view_history now, and stays so until they leave."""
        self.memberships.setdefault(user, []).append([pts, None])
        self.roles[user] = "member"
        if self.visibility == "full" and self.view_history:
            self.visible[user] = [[1, None]]
        elif self.visibility == "none":
            self.visible[user] = [[pts, None]]
        else:
            self.visible[user] = [*self.visible.get(user, []), [pts, None]]

    def leave(self, user: int, pts: int) -> None:
        self.memberships[user][-1][1] = pts
        self.visible[user][-1][1] = pts

    def visible_from(self, user: int) -> int:
        """The first pts of the current visible span: where an always-online
        device holds every message in its current state (it refetches a full
        history when it joins)."""
        if self.kind == "direct":
            return 1
        low = self.visible[user][-1][0]
        assert low is not None
        return low

    def sees(self, user: int, pts: int) -> bool:
        return any(low <= pts <= high for low, high in self.spans(user))

    def current_span(self, user: int, msg_id: int) -> bool:
        """Inside the user's current membership: where an always-online device has
        followed every later change (reactions) of the message."""
        return self.active(user) and msg_id >= self.visible_from(user)

    def expected_pins(self, user: int) -> set[int]:
        """Pins within the user's spans above the cleared floors; a message the
        user deleted for themselves stays pinned (pins are the chat's)."""
        return {m for m in self.pinned if self.sees(user, m)
                and m > max(self.floor, self.user_floor.get(user, 0))}

    def reads(self, user: int, msg_id: int) -> bool:
        """The message is in the user's view: within a span, not deleted, above
        the cleared floors, not hidden by the user."""
        return (self.sees(user, msg_id) and not self.messages[msg_id].deleted
                and msg_id > max(self.floor, self.user_floor.get(user, 0))
                and msg_id not in self.hidden.get(user, set()))

    def expected_view(self, user: int) -> dict[int, Summary]:
        """What a device of ``user`` that was online the whole time holds."""
        view: dict[int, Summary] = {}
        for msg_id, m in self.messages.items():
            if self.reads(user, msg_id):
                recalled = m.recall_pts is not None
                view[msg_id] = (m.sender_id, None if recalled else m.text, recalled)
        return view

    def expected_history(self, user: int) -> dict[int, Summary]:
        """What ``message.history`` shows the user: the same messages in their
        current state, including recalls the user could not see."""
        return {msg_id: (m.sender_id, None, True) if m.recall_pts is not None
                else (m.sender_id, m.text, False)
                for msg_id, m in self.messages.items() if self.reads(user, msg_id)}


class OfflineCatchUp(RuleBasedStateMachine):
    def __init__(self, engine: str) -> None:
        super().__init__()
        self.engine = engine
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()
        self.tmp = Path(tempfile.mkdtemp(prefix="tidings-model-"))
        self.broken = False          # a rule failed: teardown only cleans up
        self.server: TidingsServer | None = None
        self.clients: dict[Dev, Client] = {}
        self.user_ids: list[int] = []
        self.online: set[Dev] = set()
        self.chats: list[ChatModel] = []
        self.texts = 0
        self.receipts: dict[int, bool] = {}  # user index -> read_receipts, if set
        # People (contacts and blocks), by user index: who blocks whom, the
        # contacts (a pair, with its source) and pending requests (from, to).
        self.blocks: set[tuple[int, int]] = set()
        self.contacts: dict[frozenset[int], str] = {}
        self.requests: dict[tuple[int, int], str] = {}
        self.clock = FakeClock(1_800_000_000)
        self.http: aiohttp.ClientSession | None = None
        try:
            self._run(self._setup())
        except BaseException:
            self._close()
            raise

    # -- plumbing -------------------------------------------------------------------

    def _run(self, coro: Awaitable[T]) -> T:
        """Run one rule's coroutine on the machine's own loop."""
        async def bounded() -> T:
            async with asyncio.timeout(STEP_TIMEOUT):
                return await coro

        try:
            return self.loop.run_until_complete(bounded())
        except BaseException:
            self.broken = True
            raise

    def _close(self) -> None:
        try:
            self.loop.run_until_complete(self._shutdown())
        finally:
            self.loop.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    async def _shutdown(self) -> None:
        await self.stack.aclose()  # clients, then the server, then the schema
        rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
        await self.loop.shutdown_asyncgens()

    def teardown(self) -> None:
        try:
            if not self.broken:
                self._run(self._final_check())
        finally:
            self._close()

    async def _setup(self) -> None:
        url = None
        if self.engine == "postgres":
            url = await self.stack.enter_async_context(postgres_schema(PG_URL))
        # The clock moves only in time_passes (the job runner's own loop waits an
        # hour of real time, so only time_passes runs the media expiry job).
        config: Settings = test_settings(
            self.tmp / "data", url, media_ttl_file_seconds=FILE_TTL, media_grace_seconds=GRACE,
            jobs_interval_seconds=3600, admin_token=ADMIN_TOKEN,
            # the model has no recall window: time passes only for the media
            recall_window_seconds=10**9, admin_recall_window_seconds=10**9)
        self.server = await self.stack.enter_async_context(running_server(config, self.clock))
        self.http = await self.stack.enter_async_context(aiohttp.ClientSession())
        # Every device logs in before any chat exists: a first catch-up starts from
        # sync.get_state and loads no old messages, so each device then holds
        # everything its user could see.
        for u, name in enumerate(NAMES):
            for d in range(DEVICES):
                client = Client(self.server.url, reconnect=False, heartbeat=None)
                self.stack.push_async_callback(client.close)
                self.clients[(u, d)] = client
                auth = client.register if d == 0 else client.login
                result = await auth(name, PASSWORD, f"{name}-{d}")
                if d == 0:
                    self.user_ids.append(result["user_id"])
                self.online.add((u, d))
        group = await self.clients[(0, 0)].create_group("model", [self.user_ids[1]])
        model = ChatModel(group["chat_id"], "group", group["pts"], {}, owner=0)
        model.join(0, 1)
        model.join(1, 1)
        model.roles[0] = "owner"
        model.pool = True
        model.messages[group["pts"]] = MessageModel(self.user_ids[0], None)  # "created"
        # The group's storage pool, for renewals: ample room.
        pool = await self.clients[(0, 0)].call("pool.enable", {
            "chat_id": model.chat_id, "capacity_bytes": 10**9})
        model.pts = pool["pts"]
        self.chats.append(model)
        for a, b in ((0, 1), (0, 2), (1, 2)):
            chat = await self.clients[(a, 0)].direct(self.user_ids[b])
            self.chats.append(ChatModel(chat["chat_id"], "direct", chat["pts"],
                                        {a: [[1, None]], b: [[1, None]]}))

    @property
    def group(self) -> ChatModel:
        return self.chats[0]

    def _online_members(self, chat: ChatModel) -> list[Dev]:
        return [dev for dev in sorted(self.online) if chat.active(dev[0])]

    def _offline(self) -> list[Dev]:
        return sorted(set(self.clients) - self.online)

    def _senders(self) -> list[tuple[Dev, int]]:
        return [(dev, i) for i, chat in enumerate(self.chats)
                for dev in self._online_members(chat)]

    def _unblocked_senders(self) -> list[tuple[Dev, int]]:
        """Senders whose message would be stored (a blocked user's direct
        messages are refused: ``send`` covers that)."""
        return [(dev, i) for dev, i in self._senders()
                if (peer := self._direct_peer(self.chats[i], dev[0])) is None
                or (peer, dev[0]) not in self.blocks]

    def _recallable(self) -> list[tuple[Dev, int, int]]:
        """(device, chat index, msg_id): own messages, or any as the group's owner."""
        options = []
        for i, chat in enumerate(self.chats):
            recent = sorted(chat.messages)[-RECENT:]
            for dev in self._online_members(chat):
                u = dev[0]
                for msg_id in recent:
                    m = chat.messages[msg_id]
                    if m.recall_pts is not None or m.system or not chat.reads(u, msg_id):
                        continue
                    if m.sender_id == self.user_ids[u] or chat.owner == u:
                        options.append((dev, i, msg_id))
        return options

    def _removals(self) -> list[tuple[Dev, int]]:
        owner = self.group.owner
        if owner is None:
            return []
        return [(dev, target) for dev in self._online_members(self.group) if dev[0] == owner
                for target in range(len(NAMES)) if target != owner and self.group.active(target)]

    def _who(self, dev: Dev) -> str:
        return f"{NAMES[dev[0]]}'s device {dev[1]}"

    # -- rules ------------------------------------------------------------------------

    @precondition(lambda self: bool(self._senders()))
    @rule(data=st.data(), words=st.text(alphabet=ALPHABET, max_size=8))
    def send(self, data: st.DataObject, words: str) -> None:
        dev, i = data.draw(st.sampled_from(self._senders()), label="device, chat")
        self._run(self._send(dev, self.chats[i], words))

    async def _send(self, dev: Dev, chat: ChatModel, words: str) -> None:
        self.texts += 1
        text = f"#{self.texts} {words}"
        peer = self._direct_peer(chat, dev[0])
        if peer is not None and (peer, dev[0]) in self.blocks:
            with pytest.raises(TidingsClientError) as refused:
                await self.clients[dev].send_text(chat.chat_id, text)
            assert refused.value.code == "BLOCKED", refused.value
            return  # not stored: the chat's pts stays
        message = await self.clients[dev].send_text(chat.chat_id, text)
        assert message["msg_id"] == chat.pts + 1, f"pts not contiguous: {message}"
        assert message["text"] == text
        chat.pts = message["msg_id"]
        chat.messages[chat.pts] = MessageModel(self.user_ids[dev[0]], text)

    @precondition(lambda self: bool(self._online_members(self.group))
                  and not all(self.group.active(u) for u in range(len(NAMES))))
    @rule(data=st.data())
    def add_to_group(self, data: st.DataObject) -> None:
        dev = data.draw(st.sampled_from(self._online_members(self.group)), label="by")
        target = data.draw(st.sampled_from(
            [u for u in range(len(NAMES)) if not self.group.active(u)]), label="adds")
        self._run(self._add(dev, target))

    async def _add(self, dev: Dev, target: int) -> None:
        group = self.group
        if (target, dev[0]) in self.blocks:  # the target blocks the adder: refused
            with pytest.raises(TidingsClientError) as refused:
                await self.clients[dev].add_members(group.chat_id, [self.user_ids[target]])
            assert refused.value.code == "BLOCKED", refused.value
            return
        pts = await self.clients[dev].add_members(group.chat_id, [self.user_ids[target]])
        # member.joined, then the "added" system message the new member sees too
        assert pts == group.pts + 2, f"add_members answered pts {pts} after {group.pts}"
        group.pts = pts
        group.join(target, pts - 1)
        group.read.pop(target, None)
        group.messages[pts] = MessageModel(self.user_ids[dev[0]], None)

    @precondition(lambda self: bool(self._online_members(self.group))
                  and sum(self.group.active(u) for u in range(len(NAMES))) >= 2)
    @rule(data=st.data())
    def leave_group(self, data: st.DataObject) -> None:
        dev = data.draw(st.sampled_from(self._online_members(self.group)), label="leaver")
        self._run(self._leave(dev))

    async def _leave(self, dev: Dev) -> None:
        group, u = self.group, dev[0]
        pts = await self.clients[dev].leave(group.chat_id)
        expected = group.pts + 2  # the "left" system message, then member.left
        if group.owner == u:
            # Ownership passes to the longest-standing admin, else member.
            others = [v for v in range(len(NAMES)) if v != u and group.active(v)]
            group.owner = min(others, key=lambda v: (group.roles[v] != "admin",
                                                     group.joined(v), self.user_ids[v]))
            group.roles[group.owner] = "owner"
            expected += 1  # member.role for the heir, then member.left
        assert pts == expected, f"leave answered pts {pts}, expected {expected}"
        group.pts = pts
        group.leave(u, pts)
        group.messages[pts - 1] = MessageModel(self.user_ids[u], None)

    @precondition(lambda self: bool(self._removals()))
    @rule(data=st.data())
    def remove_from_group(self, data: st.DataObject) -> None:
        dev, target = data.draw(st.sampled_from(self._removals()), label="owner, removes")
        self._run(self._remove(dev, target))

    async def _remove(self, dev: Dev, target: int) -> None:
        group = self.group
        pts = await self.clients[dev].remove_member(group.chat_id, self.user_ids[target])
        assert pts == group.pts + 2, f"remove_member answered pts {pts} after {group.pts}"
        group.pts = pts
        group.leave(target, pts)
        group.messages[pts - 1] = MessageModel(self.user_ids[dev[0]], None)

    @precondition(lambda self: bool(self._recallable()))
    @rule(data=st.data())
    def recall(self, data: st.DataObject) -> None:
        dev, i, msg_id = data.draw(st.sampled_from(self._recallable()), label="recall")
        self._run(self._recall(dev, self.chats[i], msg_id))

    async def _recall(self, dev: Dev, chat: ChatModel, msg_id: int) -> None:
        pts = await self.clients[dev].recall(chat.chat_id, msg_id)
        assert pts == chat.pts + 1, f"recall answered pts {pts} after {chat.pts}"
        chat.pts = pts
        chat.messages[msg_id].recall_pts = pts
        chat.messages[msg_id].reactions.clear()
        chat.pinned.discard(msg_id)

    def _readable(self, *, for_everyone: bool) -> list[tuple[Dev, int, int]]:
        """(device, chat index, msg_id) among the newest messages a member reads:
        for everyone, only their own user messages or any as the group's owner."""
        options = []
        for i, chat in enumerate(self.chats):
            recent = sorted(chat.messages)[-RECENT:]
            for dev in self._online_members(chat):
                u = dev[0]
                for msg_id in recent:
                    m = chat.messages[msg_id]
                    if not chat.reads(u, msg_id):
                        continue
                    if for_everyone and (m.system or (m.sender_id != self.user_ids[u]
                                                      and chat.owner != u)):
                        continue
                    options.append((dev, i, msg_id))
        return options

    @precondition(lambda self: bool(self._readable(for_everyone=True)))
    @rule(data=st.data())
    def delete_for_everyone(self, data: st.DataObject) -> None:
        dev, i, msg_id = data.draw(st.sampled_from(self._readable(for_everyone=True)),
                                   label="delete")
        self._run(self._delete(dev, self.chats[i], msg_id))

    async def _delete(self, dev: Dev, chat: ChatModel, msg_id: int) -> None:
        result = await self.clients[dev].call("message.delete", {
            "chat_id": chat.chat_id, "msg_ids": [msg_id], "for_everyone": True})
        assert result["pts"] == chat.pts + 1, f"delete answered {result} after {chat.pts}"
        chat.pts = result["pts"]
        chat.messages[msg_id].deleted = True
        chat.pinned.discard(msg_id)

    @precondition(lambda self: bool(self._readable(for_everyone=False)))
    @rule(data=st.data())
    def delete_for_me(self, data: st.DataObject) -> None:
        dev, i, msg_id = data.draw(st.sampled_from(self._readable(for_everyone=False)),
                                   label="hide")
        self._run(self._hide(dev, self.chats[i], msg_id))

    async def _hide(self, dev: Dev, chat: ChatModel, msg_id: int) -> None:
        await self.clients[dev].call("message.delete", {
            "chat_id": chat.chat_id, "msg_ids": [msg_id], "for_everyone": False})
        chat.hidden.setdefault(dev[0], set()).add(msg_id)

    @precondition(lambda self: bool(self._senders()))
    @rule(data=st.data(), for_everyone=st.booleans())
    def clear_history(self, data: st.DataObject, for_everyone: bool) -> None:
        options = [(dev, i) for dev, i in self._senders()
                   if not for_everyone or self.chats[i].kind == "direct"
                   or self.chats[i].owner == dev[0]]
        if options:
            dev, i = data.draw(st.sampled_from(options), label="clear")
            self._run(self._clear(dev, self.chats[i], for_everyone))

    async def _clear(self, dev: Dev, chat: ChatModel, for_everyone: bool) -> None:
        result = await self.clients[dev].call("message.clear_history", {
            "chat_id": chat.chat_id, "for_everyone": for_everyone})
        if not for_everyone:
            chat.user_floor[dev[0]] = chat.pts
            return
        # history.cleared, then the system message that says who cleared it
        assert result["pts"] == chat.pts + 2, f"clear answered {result} after {chat.pts}"
        chat.floor = chat.pts
        chat.pts = result["pts"]
        chat.messages[chat.pts] = MessageModel(self.user_ids[dev[0]], None)

    def _changeable(self, *, pin: bool) -> list[tuple[Dev, int, int]]:
        """(device, chat index, msg_id): messages a member reads that can still
        change (not recalled, not system); pins only by a group's owner."""
        return [(dev, i, msg_id) for dev, i, msg_id in self._readable(for_everyone=False)
                if not self.chats[i].messages[msg_id].system
                and self.chats[i].messages[msg_id].recall_pts is None
                and (not pin or self.chats[i].kind == "direct"
                     or self.chats[i].owner == dev[0])]

    @precondition(lambda self: bool(self._changeable(pin=False)))
    @rule(data=st.data(), emoji=st.sampled_from(["👍", "❤️", "😂"]), add=st.booleans())
    def react(self, data: st.DataObject, emoji: str, add: bool) -> None:
        dev, i, msg_id = data.draw(st.sampled_from(self._changeable(pin=False)), label="react")
        self._run(self._react(dev, self.chats[i], msg_id, emoji, add))

    async def _react(self, dev: Dev, chat: ChatModel, msg_id: int, emoji: str, add: bool
                     ) -> None:
        result = await self.clients[dev].call("message.react" if add else "message.unreact", {
            "chat_id": chat.chat_id, "msg_id": msg_id, "emoji": emoji})
        users = chat.messages[msg_id].reactions.setdefault(emoji, set())
        uid = self.user_ids[dev[0]]
        if (uid in users) == add:  # nothing to change: no update
            assert result["pts"] is None, f"a no-op reaction wrote {result}"
            return
        (users.add if add else users.discard)(uid)
        assert result["pts"] == chat.pts + 1, f"react answered {result} after {chat.pts}"
        assert result["reactions"] == chat.messages[msg_id].counts()
        chat.pts = result["pts"]

    @precondition(lambda self: bool(self._changeable(pin=True)))
    @rule(data=st.data(), pin=st.booleans())
    def pin(self, data: st.DataObject, pin: bool) -> None:
        dev, i, msg_id = data.draw(st.sampled_from(self._changeable(pin=True)), label="pin")
        self._run(self._pin(dev, self.chats[i], msg_id, pin))

    async def _pin(self, dev: Dev, chat: ChatModel, msg_id: int, pin: bool) -> None:
        result = await self.clients[dev].call("message.pin" if pin else "message.unpin", {
            "chat_id": chat.chat_id, "msg_id": msg_id})
        if (msg_id in chat.pinned) == pin:
            assert result["pts"] is None, f"a no-op pin wrote {result}"
            return
        # message.pinned is followed by its system message; message.unpinned is alone
        written = 2 if pin else 1
        assert result["pts"] == chat.pts + written, f"pin answered {result} after {chat.pts}"
        chat.pts = result["pts"]
        if pin:
            chat.pinned.add(msg_id)
            chat.messages[chat.pts] = MessageModel(self.user_ids[dev[0]], None)
        else:
            chat.pinned.discard(msg_id)

    # -- group settings and roles ---------------------------------------------------------

    def _owner_devices(self) -> list[Dev]:
        return [dev for dev in self._online_members(self.group) if dev[0] == self.group.owner]

    @precondition(lambda self: bool(self._owner_devices()))
    @rule(data=st.data(), visibility=st.sampled_from(["full", "joined", "none"]))
    def change_visibility(self, data: st.DataObject, visibility: str) -> None:
        dev = data.draw(st.sampled_from(self._owner_devices()), label="owner")
        self._run(self._change_visibility(dev, visibility))

    async def _change_visibility(self, dev: Dev, visibility: str) -> None:
        group = self.group
        result = await self.clients[dev].call("chat.update", {
            "chat_id": group.chat_id, "history_visibility": visibility})
        if group.visibility == visibility:
            assert result["pts"] == group.pts, f"a no-op chat.update wrote {result}"
            return
        # chat.updated, then the info.changed system message
        assert result["pts"] == group.pts + 2, f"chat.update answered {result} after {group.pts}"
        group.pts = result["pts"]
        group.visibility = visibility
        group.messages[group.pts] = MessageModel(self.user_ids[dev[0]], None)

    @precondition(lambda self: bool(self._owner_devices()))
    @rule(data=st.data(), allowed=st.booleans())
    def change_view_history(self, data: st.DataObject, allowed: bool) -> None:
        dev = data.draw(st.sampled_from(self._owner_devices()), label="owner")
        self._run(self._change_view_history(dev, allowed))

    async def _change_view_history(self, dev: Dev, allowed: bool) -> None:
        group = self.group
        result = await self.clients[dev].call("chat.set_permissions", {
            "chat_id": group.chat_id, "permissions": {"view_history": allowed}})
        written = 0 if group.view_history == allowed else 1  # chat.permissions
        assert result["pts"] == group.pts + written, f"answered {result} after {group.pts}"
        group.pts = result["pts"]
        group.view_history = allowed

    def _role_changes(self) -> list[tuple[Dev, int]]:
        return [(dev, v) for dev in self._owner_devices() for v in range(len(NAMES))
                if v != dev[0] and self.group.active(v)]

    @precondition(lambda self: bool(self._role_changes()))
    @rule(data=st.data(), role=st.sampled_from(["admin", "member"]))
    def set_role(self, data: st.DataObject, role: str) -> None:
        dev, target = data.draw(st.sampled_from(self._role_changes()), label="owner, target")
        self._run(self._set_role(dev, target, role))

    async def _set_role(self, dev: Dev, target: int, role: str) -> None:
        group = self.group
        result = await self.clients[dev].call("chat.set_role", {
            "chat_id": group.chat_id, "user_id": self.user_ids[target], "role": role})
        written = 0 if group.roles[target] == role else 1  # member.role
        assert result["pts"] == group.pts + written, f"answered {result} after {group.pts}"
        group.pts = result["pts"]
        group.roles[target] = role

    # -- media ---------------------------------------------------------------------------

    def _base(self) -> str:
        assert self.server is not None
        return self.server.url.replace("ws://", "http://").removesuffix("/ws")

    @precondition(lambda self: bool(self._unblocked_senders()))
    @rule(data=st.data())
    def send_file(self, data: st.DataObject) -> None:
        dev, i = data.draw(st.sampled_from(self._unblocked_senders()), label="device, chat")
        self._run(self._send_file(dev, self.chats[i]))

    async def _send_file(self, dev: Dev, chat: ChatModel) -> None:
        client = self.clients[dev]
        assert self.http is not None and client.token is not None
        self.texts += 1
        body = f"file #{self.texts}".encode()  # distinct bytes: one blob each
        async with self.http.post(f"{self._base()}/files",
                                  params={"kind": "file", "name": f"f{self.texts}.txt"},
                                  data=body, headers={"Authorization": f"Bearer {client.token}",
                                                      "Content-Type": "text/plain"}) as resp:
            assert resp.status == 201, await resp.text()
            uploaded = (await resp.json())["file"]
        now = self.clock.now()
        assert uploaded["expires_at"] == now + FILE_TTL
        caption = f"#{self.texts} file"
        message = await client.send(chat.chat_id, kind="file", file_id=uploaded["file_id"],
                                    text=caption)
        assert message["msg_id"] == chat.pts + 1, f"pts not contiguous: {message}"
        assert message["file"]["status"] == "active"
        chat.pts = message["msg_id"]
        chat.messages[chat.pts] = MessageModel(
            self.user_ids[dev[0]], caption, file=FileModel(
                uploaded["file_id"], dev[0], now, now + FILE_TTL))

    @precondition(lambda self: bool(self._senders()))
    @rule(data=st.data(), back=st.integers(0, 3))
    def mark_read(self, data: st.DataObject, back: int) -> None:
        dev, i = data.draw(st.sampled_from(self._senders()), label="device, chat")
        self._run(self._mark_read(dev, self.chats[i], back))

    async def _mark_read(self, dev: Dev, chat: ChatModel, back: int) -> None:
        """A cursor moves forward only; the user's other devices follow it
        through read.updated (checked in _compare)."""
        u = dev[0]
        target = max(chat.pts - back, 0)
        got = await self.clients[dev].mark_read(chat.chat_id, target)
        before = chat.read.get(u)
        if before is not None:
            assert got == max(before, target), f"mark {target} after {before} answered {got}"
        chat.read[u] = got

    @precondition(lambda self: bool(self.online))
    @rule(data=st.data(), share=st.booleans())
    def set_read_receipts(self, data: st.DataObject, share: bool) -> None:
        dev = data.draw(st.sampled_from(sorted(self.online)), label="device")
        self._run(self._set_read_receipts(dev, share))

    async def _set_read_receipts(self, dev: Dev, share: bool) -> None:
        got = await self.clients[dev].call("privacy.update", {"read_receipts": share})
        assert got["read_receipts"] is share
        self.receipts[dev[0]] = share

    @precondition(lambda self: self.group.owner is not None and any(
        d[0] == self.group.owner for d in self._online_members(self.group)))
    @rule(data=st.data())
    def expire_and_reopen(self, data: st.DataObject) -> None:
        owners = [d for d in self._online_members(self.group) if d[0] == self.group.owner]
        dev = data.draw(st.sampled_from(owners), label="owner")
        self._run(self._expire_and_reopen(dev))

    async def _expire_and_reopen(self, dev: Dev) -> None:
        """The owner sets the group to expire now: writes are refused, the expiry
        job writes chat.expired and its system message, then the owner reopens
        it. A device offline meanwhile catches up all six entries."""
        assert self.server is not None
        group, client, by = self.group, self.clients[dev], self.user_ids[dev[0]]
        set_pts = await client.call("chat.set_expire", {"chat_id": group.chat_id,
                                                        "expire_at": self.clock.now()})
        assert set_pts == {"pts": group.pts + 2}, set_pts
        group.pts += 2  # chat.expire_set, then the "expiry.set" system message
        group.messages[group.pts] = MessageModel(by, None)
        with pytest.raises(TidingsClientError) as refused:
            await client.send_text(group.chat_id, "too late")
        assert refused.value.code == "CHAT_EXPIRED"
        await build_runner(self.server.services).run_due()
        group.pts += 2  # chat.expired, then its system message (from nobody)
        group.messages[group.pts] = MessageModel(0, None)
        group.expired = True
        await client.wait_for(lambda c: c.chats[group.chat_id].expired)
        reopened = await client.call("chat.set_expire", {"chat_id": group.chat_id,
                                                         "expire_at": None})
        assert reopened == {"pts": group.pts + 2}, reopened
        group.pts += 2
        group.messages[group.pts] = MessageModel(by, None)
        group.expired = False

    @rule(seconds=st.sampled_from([30, 60, 120]))
    def time_passes(self, seconds: int) -> None:
        self._run(self._time_passes(seconds))

    async def _time_passes(self, seconds: int) -> None:
        """Advance the clock and run the due jobs as the server would: each file
        that changes writes one update into the chat that shows it."""
        assert self.server is not None
        self.clock.advance(seconds)
        now = self.clock.now()
        pool_freed = False
        for chat in self.chats:
            for m in chat.messages.values():
                change = None if m.file is None else m.file.tick(now)
                if change is not None and m.shows_file:
                    chat.pts += 1
                if change == "media.deleted" and m.file is not None and m.file.in_pool:
                    m.file.in_pool, pool_freed = False, True
        if pool_freed:
            self.group.pts += 1  # one pool.updated for the room freed
        # Files of recalled or deleted messages still expire, without updates. One
        # step of the media_expiry job (its next run is an hour of fake time
        # away), then the blob deletions it scheduled.
        sv = self.server.services
        more = await sv.db.write("media_expiry", lambda txn: sv.media_expiry.sweep_txn(txn, now))
        assert not more
        await build_runner(sv).run_due()

    def _file_targets(self, *, owner: bool, custody: bool | None
                      ) -> list[tuple[Dev, int, int]]:
        """(device, chat index, msg_id) of files a device may act on: as the
        group's owner (renew from its pool) or as the file's sender (custody)."""
        options = []
        for i, chat in enumerate(self.chats):
            if owner and not chat.pool:
                continue
            for dev in self._online_members(chat):
                u = dev[0]
                for msg_id, m in chat.messages.items():
                    f = m.file
                    if f is None or not m.shows_file or not chat.reads(u, msg_id) \
                            or f.status == "deleted":
                        continue
                    as_owner = owner and chat.owner == u and not f.in_custody
                    as_sender = not owner and f.uploader == u and f.in_custody == custody
                    if as_owner or as_sender:
                        options.append((dev, i, msg_id))
        return options

    @precondition(lambda self: bool(self._file_targets(owner=True, custody=None)))
    @rule(data=st.data())
    def renew_from_pool(self, data: st.DataObject) -> None:
        dev, i, msg_id = data.draw(st.sampled_from(
            self._file_targets(owner=True, custody=None)), label="renew")
        self._run(self._renew(dev, self.chats[i], msg_id))

    async def _renew(self, dev: Dev, chat: ChatModel, msg_id: int) -> None:
        result = await self.clients[dev].call("media.renew", {
            "chat_id": chat.chat_id, "msg_id": msg_id, "days": RENEW_DAYS})
        f = chat.messages[msg_id].file
        assert f is not None
        now = self.clock.now()
        f.status, f.expired_at = "active", None
        f.expires_at = max(now, f.expires_at or now) + RENEW_DAYS * 86400
        assert (result["file"]["status"], result["file"]["expires_at"]) == (
            "active", f.expires_at), result
        chat.pts += 1 if f.in_pool else 2  # media.renewed (+ pool.updated: it joins the pool)
        f.in_pool = True

    @precondition(lambda self: bool(self._file_targets(owner=False, custody=False)
                                    or self._file_targets(owner=False, custody=True)))
    @rule(data=st.data(), preserve=st.booleans())
    def custody(self, data: st.DataObject, preserve: bool) -> None:
        options = self._file_targets(owner=False, custody=not preserve)
        if options:
            dev, i, msg_id = data.draw(st.sampled_from(options), label="custody")
            self._run(self._custody(dev, self.chats[i], msg_id, preserve))

    async def _custody(self, dev: Dev, chat: ChatModel, msg_id: int, preserve: bool) -> None:
        method = "media.preserve" if preserve else "media.release"
        result = await self.clients[dev].call(method, {"chat_id": chat.chat_id,
                                                       "msg_id": msg_id})
        f = chat.messages[msg_id].file
        assert f is not None
        f.status, f.expired_at, f.in_custody = "active", None, preserve
        f.expires_at = None if preserve else f.created_at + FILE_TTL
        assert (result["file"]["status"], result["file"]["expires_at"]) == (
            "active", f.expires_at), result
        chat.pts += 1  # media.preserved / media.released
        if preserve and f.in_pool:  # out of the group's pool: pool.updated
            self.group.pts += 1
            f.in_pool = False

    @precondition(lambda self: bool(self.online))
    @rule(data=st.data(), dropped=st.booleans())
    def go_offline(self, data: st.DataObject, dropped: bool) -> None:
        """``dropped``: the server closes the socket, losing the pushes it had
        queued; otherwise the device disconnects on purpose."""
        dev = data.draw(st.sampled_from(sorted(self.online)), label="offline")
        assert self.server is not None
        client = self.clients[dev]
        self._run(drop_connection(self.server, client) if dropped else client.disconnect())
        assert not client.connected
        self.online.discard(dev)

    @precondition(lambda self: bool(self._offline()))
    @rule(data=st.data())
    def come_online(self, data: st.DataObject) -> None:
        dev = data.draw(st.sampled_from(self._offline()), label="online")
        self._run(self._come_online(dev))

    async def _come_online(self, dev: Dev) -> None:
        client = self.clients[dev]
        assert client.token is not None
        await client.resume(client.token)  # auth.token on a new socket, then catch_up()
        self.online.add(dev)

    # -- operators: the admin HTTP API (by: null, sender 0) ---------------------------

    async def _admin(self, path: str, body: dict[str, Any], status: int = 200
                     ) -> dict[str, Any]:
        assert self.http is not None
        async with self.http.post(f"{self._base()}/admin/{path}", json=body, headers={
                "Authorization": f"Bearer {ADMIN_TOKEN}"}) as resp:
            answer: dict[str, Any] = await resp.json()
            assert resp.status == status, (path, body, resp.status, answer)
            return answer

    def _groups(self) -> list[int]:
        return [i for i, chat in enumerate(self.chats) if chat.kind == "group"]

    @rule(data=st.data())
    def operator_notice(self, data: st.DataObject) -> None:
        """A system ``operator.notice`` in any group; a disbanded one refuses it."""
        i = data.draw(st.sampled_from(self._groups()), label="group")
        self._run(self._operator_notice(self.chats[i]))

    async def _operator_notice(self, chat: ChatModel) -> None:
        self.texts += 1
        body = {"text": f"notice #{self.texts}"}
        if chat.disbanded:
            refused = await self._admin(f"chats/{chat.chat_id}/messages", body, 403)
            assert refused["error"]["code"] == "CHAT_DISBANDED", refused
            return
        message = (await self._admin(f"chats/{chat.chat_id}/messages", body, 201))["message"]
        assert message["msg_id"] == chat.pts + 1, f"pts not contiguous: {message}"
        assert (message["sender_id"], message["system"]["action"]) == (0, "operator.notice")
        chat.pts = message["msg_id"]
        chat.messages[chat.pts] = MessageModel(0, None)

    @precondition(lambda self: not all(self.group.active(u) for u in range(len(NAMES))))
    @rule(data=st.data())
    def operator_adds_to_group(self, data: st.DataObject) -> None:
        """No permission or block check: a user who blocks every member is added."""
        target = data.draw(st.sampled_from(
            [u for u in range(len(NAMES)) if not self.group.active(u)]), label="adds")
        self._run(self._operator_add(target))

    async def _operator_add(self, target: int) -> None:
        group = self.group
        pts = (await self._admin(f"chats/{group.chat_id}/members",
                                 {"user_ids": [self.user_ids[target]]}))["pts"]
        assert pts == group.pts + 2, f"admin add answered pts {pts} after {group.pts}"
        group.pts = pts
        group.join(target, pts - 1)
        group.read.pop(target, None)
        group.messages[pts] = MessageModel(0, None)  # "added", by nobody

    @precondition(lambda self: sum(c.operator for c in self.chats) < MAX_OPERATOR_GROUPS)
    @rule(owner=st.integers(0, len(NAMES) - 1),
          others=st.sets(st.integers(0, len(NAMES) - 1)))
    def operator_creates_group(self, owner: int, others: set[int]) -> None:
        self._run(self._operator_create(owner, sorted(others - {owner})))

    async def _operator_create(self, owner: int, others: list[int]) -> None:
        chat = (await self._admin("chats", {
            "kind": "group", "title": "ops", "owner_id": self.user_ids[owner],
            "member_ids": [self.user_ids[u] for u in others]}, 201))["chat"]
        # chat.created, a member.joined each, the "created" system message
        assert chat["pts"] == len(others) + 3, chat
        model = ChatModel(chat["chat_id"], "group", chat["pts"], {}, owner=owner,
                          operator=True)
        for u in (owner, *others):
            model.join(u, 1)
        model.roles[owner] = "owner"
        # "created" names the owner as its sender, as if they had created it
        model.messages[chat["pts"]] = MessageModel(self.user_ids[owner], None)
        self.chats.append(model)

    def _disbandable(self) -> list[int]:
        return [i for i, chat in enumerate(self.chats) if chat.operator and not chat.disbanded]

    @precondition(lambda self: bool(self._disbandable()))
    @rule(data=st.data())
    def operator_disbands(self, data: st.DataObject) -> None:
        i = data.draw(st.sampled_from(self._disbandable()), label="disband")
        self._run(self._disband(self.chats[i]))

    async def _disband(self, chat: ChatModel) -> None:
        """The ``chat.disbanded`` system message, then a ``member.left`` each:
        every member's membership ends at the last of them."""
        members = [u for u in range(len(NAMES)) if chat.active(u)]
        result = await self._admin(f"chats/{chat.chat_id}/disband", {})
        assert result == {"pts": chat.pts + 1 + len(members), "removed_user_ids": sorted(
            self.user_ids[u] for u in members)}, (result, chat.pts, members)
        chat.messages[chat.pts + 1] = MessageModel(0, None)
        chat.pts = result["pts"]
        for u in members:
            chat.leave(u, chat.pts)
        chat.disbanded = True

    # -- people: blocks and contacts (user updates on both sides) --------------------

    def _direct_peer(self, chat: ChatModel, u: int) -> int | None:
        if chat.kind != "direct":
            return None
        others = [v for v in chat.memberships if v != u]
        return others[0] if others else None

    def _pairs(self) -> list[tuple[Dev, int]]:
        """(online device of a, b): a may act towards b."""
        return [(dev, b) for dev in sorted(self.online) for b in range(len(NAMES))
                if b != dev[0]]

    @precondition(lambda self: bool(self._pairs()))
    @rule(data=st.data())
    def toggle_block(self, data: st.DataObject) -> None:
        dev, b = data.draw(st.sampled_from(self._pairs()), label="device, other")
        self._run(self._toggle_block(dev, b))

    async def _toggle_block(self, dev: Dev, b: int) -> None:
        a = dev[0]
        if (a, b) in self.blocks:
            result = await self.clients[dev].call("block.remove", {"user_id": self.user_ids[b]})
            assert result == {"blocked": False}
            self.blocks.discard((a, b))
        else:
            result = await self.clients[dev].call("block.add", {"user_id": self.user_ids[b]})
            assert result == {"blocked": True}
            self.blocks.add((a, b))
            self.requests.pop((b, a), None)  # their pending request is dropped

    @precondition(lambda self: bool(self._pairs()))
    @rule(data=st.data())
    def request_contact(self, data: st.DataObject) -> None:
        dev, b = data.draw(st.sampled_from(self._pairs()), label="device, other")
        self._run(self._request_contact(dev, b))

    async def _request_contact(self, dev: Dev, b: int) -> None:
        a = dev[0]
        params = {"user_id": self.user_ids[b], "source": "search"}
        if (b, a) in self.blocks:
            with pytest.raises(TidingsClientError) as refused:
                await self.clients[dev].call("contact.request", params)
            assert refused.value.code == "BLOCKED", refused.value
            return
        result = await self.clients[dev].call("contact.request", params)
        pair = frozenset((a, b))
        if pair in self.contacts:
            expected = "contact"
        elif (a, b) in self.requests:
            expected = "pending"
        elif (b, a) in self.requests:  # crossed: accepts theirs
            self.contacts[pair] = self.requests.pop((b, a))
            expected = "contact"
        else:
            self.requests[(a, b)] = "search"
            expected = "pending"
        assert result == {"state": expected}, (result, expected)

    def _answerable(self) -> list[tuple[Dev, int]]:
        """(online device of the request's target, the requester)."""
        return [(dev, frm) for (frm, to) in sorted(self.requests) for dev in sorted(self.online)
                if dev[0] == to]

    @precondition(lambda self: bool(self._answerable()))
    @rule(data=st.data(), accept=st.booleans())
    def answer_contact(self, data: st.DataObject, accept: bool) -> None:
        dev, frm = data.draw(st.sampled_from(self._answerable()), label="device, requester")
        self._run(self._answer_contact(dev, frm, accept))

    async def _answer_contact(self, dev: Dev, frm: int, accept: bool) -> None:
        to = dev[0]
        method = "contact.accept" if accept else "contact.reject"
        result = await self.clients[dev].call(method, {"user_id": self.user_ids[frm]})
        source = self.requests.pop((frm, to))
        if accept:
            self.contacts[frozenset((frm, to))] = source
        assert result == {"state": "contact" if accept else "none"}

    def _removable(self) -> list[tuple[Dev, int]]:
        """A contact to remove, or my pending request to withdraw."""
        return [(dev, b) for dev, b in self._pairs()
                if frozenset((dev[0], b)) in self.contacts or (dev[0], b) in self.requests]

    @precondition(lambda self: bool(self._removable()))
    @rule(data=st.data())
    def remove_contact(self, data: st.DataObject) -> None:
        dev, b = data.draw(st.sampled_from(self._removable()), label="device, contact")
        self._run(self.clients[dev].call("contact.remove", {"user_id": self.user_ids[b]}))
        if self.contacts.pop(frozenset((dev[0], b)), None) is None:
            del self.requests[(dev[0], b)]

    async def _compare_people(self, dev: Dev) -> None:
        """The server's contacts, requests and blocks of the device's user equal
        the model's (each step's user updates are counted by the seq check)."""
        client, u = self.clients[dev], dev[0]
        ids = self.user_ids
        contacts = await client.call("contact.list")
        assert sorted((c["user_id"], c["source"]) for c in contacts["contacts"]) == sorted(
            (ids[v], src) for pair, src in self.contacts.items() if u in pair
            for v in pair if v != u), f"{self._who(dev)}: contacts {contacts}"
        pending = await client.call("contact.pending")
        assert sorted(r["user_id"] for r in pending["incoming"]) == sorted(
            ids[frm] for (frm, to) in self.requests if to == u), f"incoming {pending}"
        assert sorted(r["user_id"] for r in pending["outgoing"]) == sorted(
            ids[to] for (frm, to) in self.requests if frm == u), f"outgoing {pending}"
        blocked = await client.call("block.list")
        assert sorted(b["user_id"] for b in blocked["blocked"]) == sorted(
            ids[b] for (a, b) in self.blocks if a == u), f"blocks {blocked}"

    @rule()
    def check_consistency(self) -> None:
        self._run(self._check(sorted(self.online)))

    async def _final_check(self) -> None:
        for dev in self._offline():
            await self._come_online(dev)
        await self._check(sorted(self.clients))

    # -- the invariant ------------------------------------------------------------------

    async def _check(self, devices: Iterable[Dev]) -> None:
        compared: set[int] = set()
        for dev in devices:
            await self._settle(dev)
            await self._compare(dev, "after pushes")
            await self.clients[dev].catch_up()
            await self._settle(dev)
            await self._compare(dev, "after catch_up")
            if dev[0] not in compared:
                compared.add(dev[0])
                await self._compare_people(dev)

    async def _settle(self, dev: Dev) -> None:
        """Wait until the device's seq and every chat's pts equal the server's."""
        client = self.clients[dev]
        state = await client.call("sync.get_state")
        server_pts = {int(k): v for k, v in state["chats"].items()}
        model_pts = {chat.chat_id: chat.pts for chat in self.chats if chat.active(dev[0])}
        assert server_pts == model_pts, f"get_state {server_pts} != model {model_pts}"
        want = {chat.chat_id: chat.upto(dev[0]) for chat in self.chats
                if chat.memberships.get(dev[0])}

        def settled(c: Client) -> bool:
            return c.seq == state["seq"] and all(
                cid in c.chats and c.chats[cid].pts == pts for cid, pts in want.items())

        try:
            await client.wait_for(settled, timeout=SETTLE_TIMEOUT)
        except TimeoutError:
            have = {cid: (v.pts, v.left) for cid, v in client.chats.items()}
            raise AssertionError(
                f"{self._who(dev)}: not settled in {SETTLE_TIMEOUT}s: seq {client.seq} of "
                f"{state['seq']}, views (pts, left) {have}, want pts {want}") from None

    async def _compare(self, dev: Dev, phase: str) -> None:
        client, u = self.clients[dev], dev[0]
        privacy = await client.call("privacy.get")
        assert privacy["read_receipts"] == self.receipts.get(u, True), privacy
        for chat in self.chats:
            where = f"{self._who(dev)}, {chat.kind} chat {chat.chat_id}, {phase}"
            view = client.chats.get(chat.chat_id)
            if not chat.memberships.get(u):
                assert view is None or not view.messages, f"{where}: never a member, has {view}"
                continue
            assert view is not None, f"{where}: no view"
            active = chat.active(u)
            assert view.left == (not active), f"{where}: left={view.left}, member={active}"
            assert view.pts == chat.upto(u), f"{where}: pts {view.pts} != {chat.upto(u)}"
            if active and u in chat.read:
                assert view.read_pts == chat.read[u], (
                    f"{where}: read_pts {view.read_pts} != marked {chat.read[u]}")
            if active:
                assert view.expired == chat.expired, f"{where}: expired={view.expired}"
            actual = {msg_id: summary(m) for msg_id, m in view.messages.items()}
            assert max(actual, default=0) <= chat.upto(u), (
                f"{where}: holds messages beyond pts {chat.upto(u)}: {sorted(actual)}")

            # 1. What an always-online device of this user holds.
            expected = chat.expected_view(u)
            history = chat.expected_history(u)
            assert actual.keys() == expected.keys(), (
                f"{where}: view ids {sorted(actual)} != always-online ids {sorted(expected)}; "
                f"memberships {chat.memberships[u]}")
            wrong = {k: (actual[k], expected[k]) for k in actual if actual[k] != expected[k]}
            assert not wrong, (
                f"{where}: (view, always-online) differ: {wrong}; "
                f"memberships {chat.memberships[u]}")

            # 2. What the server shows this user: the same messages, the same state.
            pages = await full_history(client, chat.chat_id)
            server = {m["msg_id"]: summary(m) for m in pages}
            assert server == history, (
                f"{where}: history {server} != model {history}; "
                f"memberships {chat.memberships[u]}")
            assert actual == server, f"{where}: view {actual} != history {server}"

            # 3. Reactions and pins, where an always-online device followed every
            # change: the messages of the current membership, and its pins.
            if not active:
                continue
            mine = self.user_ids[u]
            for m in pages:
                k = m["msg_id"]
                if not chat.current_span(u, k):
                    continue
                model = chat.messages[k]
                want = model.counts()
                assert view.messages[k]["reactions"] == m["reactions"] == want, (
                    f"{where}: reactions of {k}: view {view.messages[k]['reactions']}, "
                    f"history {m['reactions']}, model {want}")
                own = sorted(e for e, users in model.reactions.items() if mine in users)
                assert sorted(m["my_reactions"]) == own, (
                    f"{where}: my_reactions of {k}: {m['my_reactions']} != {own}")
                # A file's state, as pushes left it and as the server shows it now.
                shown = model.file.status if model.shows_file and model.file else None
                held, served = view.messages[k]["file"], m["file"]
                assert (held and held["status"], served and served["status"]) == (
                    shown, shown), (
                    f"{where}: file of {k}: view {held}, history {served}, model {shown}")
                if served is not None and model.file is not None:
                    assert served["expires_at"] == model.file.expires_at, (
                        f"{where}: file of {k} expires {served['expires_at']}, "
                        f"model {model.file.expires_at}")
            # Pins of an earlier membership may change while the user is out, and no
            # update reaches them then (a client refreshes them from chat.get).
            want_pins = {m for m in chat.expected_pins(u) if chat.current_span(u, m)}
            held = {m for m in view.pinned if chat.current_span(u, m)}
            assert held == want_pins, f"{where}: pins {sorted(held)} != {sorted(want_pins)}"
            details = await client.call("chat.get", {"chat_id": chat.chat_id})
            assert set(details["pinned_msg_ids"]) == chat.expected_pins(u), (
                f"{where}: chat.get pins {details['pinned_msg_ids']}")
            if chat.kind == "group":
                # The chat's settings as updates left them on the device, and roles.
                held_chat = view.chat or {}
                assert (held_chat.get("history_visibility"),
                        (held_chat.get("permissions") or {}).get("view_history")) == (
                    chat.visibility, chat.view_history), f"{where}: chat {held_chat}"
                roles = {m["user_id"]: m["role"] for m in details["members"]}
                assert roles == {self.user_ids[v]: r for v, r in chat.roles.items()
                                 if chat.active(v)}, f"{where}: roles {roles}"


def _require_postgres() -> None:
    """Skip without PostgreSQL locally; in CI (``CI`` set) fail instead."""
    import asyncpg

    async def probe() -> None:
        conn = await asyncpg.connect(PG_URL, timeout=5)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, TimeoutError) as exc:
        message = f"PostgreSQL is not reachable at {PG_URL}: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.parametrize("engine", ["sqlite", "postgres"])
def test_offline_devices_catch_up_to_the_server(engine: str) -> None:
    if engine == "postgres":
        _require_postgres()
    run_state_machine_as_test(lambda: OfflineCatchUp(engine), settings=MACHINE_SETTINGS)


@contextlib.asynccontextmanager
async def alice_and_bob_in_a_group(settings: Settings) -> AsyncIterator[
        tuple[Client, Client, Client, int, int]]:
    """A server; alice's device; bob's two devices (``steady`` stays online,
    ``roaming`` is the one the test takes offline); bob's user id; and a group
    of the two created by alice."""
    async with running_server(settings) as server:
        alice, steady, roaming = (Client(server.url, reconnect=False) for _ in range(3))
        try:
            await alice.register("alice", PASSWORD)
            bob = (await steady.register("bob", PASSWORD))["user_id"]
            await roaming.login("bob", PASSWORD)
            chat = (await alice.create_group("g", [bob]))["chat_id"]
            yield alice, steady, roaming, bob, chat
        finally:
            for c in (alice, steady, roaming):
                await c.close()


async def test_rejoin_while_offline_catches_up_the_earlier_membership(settings: Settings
                                                                       ) -> None:
    """The case the model found first, pinned: a device offline across a leave
    and a re-join still gets the rest of the first membership (messages and a
    recall) and ends equal to the always-online device."""
    async with alice_and_bob_in_a_group(settings) as (
            owner, steady, roaming, bob, chat):
        early = await owner.send_text(chat, "early")
        await roaming.wait_for(lambda c: early["msg_id"] in c.chats[chat].messages)

        await roaming.disconnect()                      # bob's second device
        missed = await owner.send_text(chat, "while away")
        await owner.recall(chat, early["msg_id"])
        await steady.leave(chat)
        gap = await owner.send_text(chat, "bob is out")
        await owner.add_members(chat, [bob])
        last = await owner.send_text(chat, "after the re-join")
        await steady.wait_for(lambda c: last["msg_id"] in c.chats[chat].messages)
        assert roaming.token is not None
        await roaming.resume(roaming.token)

        def content(c: Client) -> dict[int, Summary]:
            return {k: summary(m) for k, m in c.chats[chat].messages.items()}

        seen = content(steady)
        assert seen[early["msg_id"]][2], "the always-online device saw the recall"
        assert missed["msg_id"] in seen and gap["msg_id"] not in seen
        assert content(roaming) == seen
        history = await roaming.history(chat)
        assert [m["msg_id"] for m in history] == sorted(seen)


async def test_recall_after_leaving_reaches_every_device(settings: Settings) -> None:
    async with alice_and_bob_in_a_group(settings) as (
            alice, steady, roaming, bob, chat):
        await roaming.disconnect()                      # bob's second device
        m = await alice.send_text(chat, "pay to account 1")
        await steady.wait_for(lambda c: m["msg_id"] in c.chats[chat].messages)
        await alice.remove_member(chat, bob)
        await alice.recall(chat, m["msg_id"])
        assert roaming.token is not None
        await roaming.resume(roaming.token)

        history = [x for x in await steady.history(chat) if x["kind"] != "system"]
        assert [summary(x) for x in history] == [(alice.user_id, None, True)]
        assert summary(roaming.chats[chat].messages[m["msg_id"]]) == summary(history[0])
        assert summary(steady.chats[chat].messages[m["msg_id"]]) == summary(history[0])
