"""Three ``tidings serve`` processes over one PostgreSQL schema, with a bus
(Redis, then NATS) of the test's own, that survive losing one (DESIGN §9).

Devices of six users are spread over the nodes (two each, on different
nodes); three senders, one per node, keep a steady load going into a group
and three direct chats while:

1. in steady state, every device receives every update of its chats pushed
   exactly once on the wire; typing, presence, read receipts and read views
   (history after a leave) cross nodes;
   a leave and re-join made on two different nodes leave the member following
   the chat on a third;
2. one node gets SIGKILL: its devices reconnect to another node and catch up,
   and a user whose only device was there goes offline for the others (node
   heartbeats);
3. the bus server is killed and started again: deliveries resume, and the
   pushes lost meanwhile are filled by ``sync.get_chat_difference`` /
   ``get_difference``.

At the end every device applied every update of its chats exactly once, in
pts order (nothing lost, no duplicate), and holds every acknowledged message.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
import redis.asyncio

from tidings.bus.base import AnyEvent, ChatEvent, UserEvent, encode_events
from tidings.services.notify import chat_frame, user_frame

from .bus_servers import BusServer, NatsServer, RedisServer
from .cluster_helpers import Device, NodeProcess

# Three server processes start and a bus restarts: more than the default 120 s
# on a loaded machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

PASSWORD = "correct horse battery"
USERS = 6
SEND_INTERVAL = 0.05  # per sender: about 60 messages/s over the three
HEARTBEAT = 0.5
NODE_TIMEOUT = 2.0
WAIT = 30.0  # every wait on a condition gives up after this long


@dataclass
class Cluster:
    bus: BusServer
    nodes: list[NodeProcess]
    kind: str  # redis | nats
    prefix: str  # bus_channel_prefix

    async def replay(self, events: list[AnyEvent]) -> None:
        """Publish ``events`` on the nodes' channel as a node would."""
        data = encode_events(events)
        if self.kind == "redis":
            client = redis.asyncio.Redis.from_url(self.bus.url)
            try:
                await client.publish(f"{self.prefix}:events", data)
            finally:
                await client.aclose()
            return
        nc = await nats.connect(self.bus.url)
        try:
            await nc.publish(f"{self.prefix}.events", data)
            await nc.flush()
        finally:
            await nc.close()

    def urls(self, first: int) -> tuple[str, list[str]]:
        """A device's node and the others (its fallbacks), in turn after it."""
        order = [self.nodes[(first + k) % len(self.nodes)].ws_url
                 for k in range(len(self.nodes))]
        return order[0], order[1:]


@pytest.fixture(params=["redis", "nats"])
async def cluster(request: pytest.FixtureRequest, tmp_path: Path, pg_url: str
                  ) -> AsyncIterator[Cluster]:
    bus: BusServer = RedisServer() if request.param == "redis" else NatsServer()
    await bus.start()
    prefix = f"cluster-{uuid.uuid4().hex[:8]}"
    env = {"TIDINGS_DATABASE_URL": pg_url, "TIDINGS_BUS": request.param,
           f"TIDINGS_{request.param.upper()}_URL": bus.url,
           "TIDINGS_BUS_CHANNEL_PREFIX": prefix,
           "TIDINGS_SECRET_KEY": "k" * 40,
           "TIDINGS_PRESENCE_DEBOUNCE_SECONDS": "0.1",
           "TIDINGS_PRESENCE_HEARTBEAT_SECONDS": str(HEARTBEAT),
           "TIDINGS_PRESENCE_NODE_TIMEOUT_SECONDS": str(NODE_TIMEOUT)}
    nodes = [NodeProcess(f"n{i}", tmp_path / f"n{i}", env) for i in range(3)]
    try:
        await nodes[0].start()  # it migrates the schema; then the others, together
        await asyncio.gather(*(node.start() for node in nodes[1:]))
        yield Cluster(bus, nodes, request.param, prefix)
    finally:
        for node in nodes:
            await node.stop()
        await bus.stop()


@dataclass
class Load:
    """Senders that keep sending until stopped; what each got acknowledged."""

    acked: dict[int, dict[int, str]] = field(default_factory=dict)  # chat -> msg_id -> text
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self, sender: Device, chat_ids: list[int]) -> None:
        self.tasks.append(asyncio.create_task(self._run(sender, chat_ids)))

    async def _run(self, sender: Device, chat_ids: list[int]) -> None:
        n = 0
        while not self.stop.is_set():
            chat_id = chat_ids[n % len(chat_ids)]
            text = f"from {sender.user_id} #{n}"
            msg = await sender.send_until_acked(chat_id, f"load-{n}", text)
            self.acked.setdefault(chat_id, {})[msg["msg_id"]] = text
            n += 1
            await asyncio.sleep(SEND_INTERVAL)

    def count(self) -> int:
        return sum(len(m) for m in self.acked.values())

    def newest(self) -> dict[int, int]:
        return {chat_id: max(msgs) for chat_id, msgs in self.acked.items()}

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)


async def until(what: str, predicate: Callable[[], bool]) -> None:
    """Wait, bounded by WAIT, until ``predicate`` holds (checked every 20 ms)."""
    try:
        async with asyncio.timeout(WAIT):
            while True:
                if predicate():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"timed out waiting until {what}")


async def test_three_nodes_survive_losing_one(cluster: Cluster) -> None:
    async with contextlib.AsyncExitStack() as stack:
        async def device(node: int, **kw: object) -> Device:
            url, others = cluster.urls(node)
            client = Device(url, fallback_urls=others, **kw)
            stack.push_async_callback(client.close)
            return client

        # Six users, two devices each on two different nodes.
        phones = [await device(i % 3) for i in range(USERS)]
        tablets = [await device((i + 1) % 3) for i in range(USERS)]
        users = [(await phones[i].register(f"user{i}", PASSWORD))["user_id"]
                 for i in range(USERS)]
        for i in range(USERS):
            await tablets[i].login(f"user{i}", PASSWORD, "tablet")
        everyone = [*phones, *tablets]
        devices_of = {users[i]: [phones[i], tablets[i]] for i in range(USERS)}

        group = (await phones[0].create_group("all", users[1:]))["chat_id"]
        directs = [(await phones[i].direct(users[i + 1]))["chat_id"] for i in (0, 2, 4)]
        members = {group: users, **{c: [users[i], users[i + 1]]
                                    for c, i in zip(directs, (0, 2, 4), strict=True)}}
        await until("every device has its chats", lambda: all(
            chat_id in d.chats for chat_id, us in members.items() for u in us
            for d in devices_of[u]))
        start = {chat_id: max(d.pts(chat_id) for u in us for d in devices_of[u])
                 for chat_id, us in members.items()}
        await until("every device settled", lambda: all(  # from here each counts what it gets
            d.pts(c) == start[c] for c, us in members.items() for u in us
            for d in devices_of[u]))
        for d in everyone:
            d.pushed.clear()
            d.applied.clear()

        # A steady load: one sender per node (u0 on n0, u4 on n1, u2 on n2).
        load = Load()
        for i, direct in zip((0, 2, 4), directs, strict=True):
            load.start(phones[i], [group, direct])

        # -- 1. steady state ----------------------------------------------------
        await until("the load is under way", lambda: load.count() >= 60)
        mark = load.newest()
        await until("every device got every update pushed", lambda: all(
            set(range(start[c] + 1, mark[c] + 1)) <= set(d.pushed.get(c, {}))
            for c, us in members.items() for u in us for d in devices_of[u]))
        for c, us in members.items():
            for u in us:
                for d in devices_of[u]:
                    twice = [p for p, n in d.pushed[c].items() if n > 1 and p <= mark[c]]
                    assert twice == [], f"pushed twice to a device of {u} in chat {c}"

        # typing crosses nodes: u1's phone (n1) -> u0's phone (n0) and tablet (n1)
        assert await phones[1].send_typing(directs[0])
        await until("typing reached the other node", lambda: all(
            d.typing_in(directs[0]) == {users[1]: "typing"}
            for d in (phones[0], tablets[0])))

        # read receipts cross nodes: u3 marks on n0, u1 asks on n1 (its index is
        # loaded first, so only the bus can bring the change)
        msg_id = mark[group]
        await phones[1].call("read.receipts", {"chat_id": group, "msg_ids": [msg_id]})
        await phones[3].mark_read(group, msg_id)
        readers: list[int] = []

        async def poll_readers() -> None:
            async with asyncio.timeout(WAIT):
                while users[3] not in readers:
                    found = await phones[1].call(
                        "read.readers", {"chat_id": group, "msg_id": msg_id, "limit": 50})
                    readers[:] = [r["user_id"] for r in found["readers"]]
                    await asyncio.sleep(0.05)
        await poll_readers()

        # membership: removed on n0 (u0's phone), added back on n1 (u0's tablet);
        # u5's phone on n2 and tablet on n0 keep following the chat
        side = (await phones[0].create_group("side", [users[5]]))["chat_id"]
        await until("u5 has the side chat", lambda: all(
            side in d.chats for d in devices_of[users[5]]))
        await phones[0].send_text(side, "before the leave")
        await phones[5].history(side)  # n2 caches what u5 may read there
        left_pts = await phones[0].remove_member(side, users[5])
        away = (await phones[0].send_text(side, "while u5 is away"))["msg_id"]
        await until("u5's devices got the leave pushed", lambda: all(
            left_pts in d.pushed.get(side, {}) for d in devices_of[users[5]]))
        # read views cross nodes: n2 no longer lets u5 read beyond the leave
        seen = [m["msg_id"] for m in await phones[5].history(side)]
        assert seen and max(seen) < left_pts and away not in seen
        joined_pts = await tablets[0].add_members(side, [users[5]])
        # the join's push reaching u5's devices shows their nodes applied it (a
        # message sent on n0 meanwhile may overtake the join coming from n1: the
        # SDK then fetches it on chat.joined, not as a push)
        await until("u5's devices got the re-join pushed", lambda: all(
            max(d.pushed.get(side, {0: 0})) >= joined_pts for d in devices_of[users[5]]))
        after = (await phones[0].send_text(side, "after the re-join"))["msg_id"]
        await until("u5's devices got the message pushed", lambda: all(
            after in d.pushed.get(side, {}) for d in devices_of[users[5]]))
        # the leave's events once more, late (as a slow node's would arrive): older
        # than the re-join, every node ignores them
        watching = [*devices_of[users[0]], *devices_of[users[5]]]  # on n0, n1 and n2
        frames = {id(d): d.frames.get(side, 0) for d in watching}
        await cluster.replay([
            ChatEvent(chat_id=side, frame=chat_frame(side, []), left=[users[5]],
                      membership_pts=left_pts),
            UserEvent(user_id=users[5], frame=user_frame([]), left_chats=[side],
                      membership_pts=left_pts)])
        await until("every node delivered the late leave", lambda: all(
            d.frames.get(side, 0) > frames[id(d)] for d in watching))
        after = (await phones[0].send_text(side, "after the late leave"))["msg_id"]
        await until("u5's devices still follow the chat", lambda: all(
            after in d.pushed.get(side, {}) for d in devices_of[users[5]]))

        # presence crosses nodes: u0's phone (n0) follows pat, who connects on n2
        pat = await device(2, reconnect=False)
        pat_id = (await pat.register("pat", PASSWORD))["user_id"]
        status: list[str] = []

        async def poll_presence() -> None:
            async with asyncio.timeout(WAIT):
                while status != ["online"]:
                    found = await phones[0].call("presence.query", {"user_ids": [pat_id]})
                    status[:] = [u["status"] for u in found["users"]]
                    await asyncio.sleep(0.05)
        await poll_presence()
        [view] = (await phones[0].call("presence.subscribe",
                                       {"user_ids": [pat_id]}))["users"]
        assert view["status"] == "online"
        await pat.disconnect()
        await until("pat offline on n0", lambda: any(
            p["user_id"] == pat_id and p["status"] == "offline" for p in phones[0].presence))
        await pat.resume(pat.token or "")
        phones[0].presence.clear()
        await until("pat online on n0", lambda: any(
            p["status"] == "online" for p in phones[0].presence))

        # -- 2. SIGKILL n2 mid-load -------------------------------------------------
        on_n2 = [d for d in everyone if d.url == cluster.nodes[2].ws_url]
        assert len(on_n2) == 4
        phones[0].presence.clear()
        before = load.count()
        await cluster.nodes[2].kill()
        await until("n2's devices reconnected to another node", lambda: all(
            d.connected and d.reconnects >= 1 and d.url != cluster.nodes[2].ws_url
            for d in on_n2))
        await until("the load goes on", lambda: load.count() >= before + 40)
        # pat's only device was on n2: the others stop hearing n2 and drop it
        await until("pat offline after n2 died", lambda: any(
            p["user_id"] == pat_id and p["status"] == "offline" for p in phones[0].presence))

        # -- 3. the bus server restarted mid-load -----------------------------------
        await cluster.bus.stop()
        down = load.count()
        await until("sends go on while the bus is down", lambda: load.count() >= down + 20)
        await cluster.bus.start()
        restarted = load.count()
        await until("sends go on after the bus restart",
                    lambda: load.count() >= restarted + 20)
        resumed = load.newest()
        await until("deliveries resumed on every device", lambda: all(
            d.pts(c) >= resumed[c] for c, us in members.items() for u in us
            for d in devices_of[u]))

        # -- the end: nothing lost, nothing twice ------------------------------------
        await load.finish()
        final = load.newest()
        for chat_id, pts in final.items():  # the chats' pts now, from the server
            member = devices_of[members[chat_id][0]][0]
            state = await member.call("sync.get_chat_difference",
                                      {"chat_id": chat_id, "pts": pts})
            final[chat_id] = state["pts"]
        await until("every device reached the end", lambda: all(
            d.pts(c) == final[c] for c, us in members.items() for u in us
            for d in devices_of[u]))
        for chat_id, us in members.items():
            expected = list(range(start[chat_id] + 1, final[chat_id] + 1))
            for u in us:
                for d in devices_of[u]:
                    assert d.applied.get(chat_id, []) == expected, (
                        f"device {d.device_id} of user {u}: chat {chat_id} updates not "
                        "applied exactly once in order")
                    view = d.chats[chat_id].messages
                    lost = {m: t for m, t in load.acked.get(chat_id, {}).items()
                            if view.get(m, {}).get("text") != t}
                    assert lost == {}, f"device {d.device_id} of user {u} lost messages"
