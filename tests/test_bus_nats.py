"""NatsBus against real ``nats-server`` processes (each test starts its own on
a free port, so it can stop and restart it): order per publisher, batching,
batches split under the server's max_payload, an unreachable server never
failing the caller, and reconnecting after the server restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.msg import Msg

from tidings.bus.base import AnyEvent, ChatEvent, UserEvent, decode_events
from tidings.bus.nats import NatsBus
from tidings.testing import free_port

from .bus_helpers import Changed, Collector, LogWatcher, chat, watching
from .bus_servers import NatsServer

SUBJECT = "tidings.test.events"
LOGGER = "tidings.bus.nats"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    srv = NatsServer(tmp_path)
    await srv.start()
    yield srv
    await srv.stop()


MakeBus = Callable[..., Awaitable[NatsBus]]


@pytest.fixture
async def make_bus(server: NatsServer) -> AsyncIterator[MakeBus]:
    buses: list[NatsBus] = []

    async def make(deliver: Collector, **kwargs: Any) -> NatsBus:
        bus = NatsBus(kwargs.pop("url", server.url), SUBJECT, **kwargs)
        buses.append(bus)
        await bus.start(deliver)
        return bus

    yield make
    for bus in buses:
        await bus.close()


@pytest.fixture
def bus_log() -> Iterator[LogWatcher]:
    with watching(LOGGER) as watcher:
        yield watcher


class RawSubscriber:
    """A plain NATS subscriber recording how many events each message carried."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.bytes: list[int] = []
        self._changed = Changed()

    async def on_msg(self, msg: Msg) -> None:
        self.sizes.append(len(decode_events(msg.data)))
        self.bytes.append(len(msg.data))
        self._changed.notify()

    async def wait_for(self, events: int) -> None:
        await self._changed.until(lambda: sum(self.sizes) >= events)


@pytest.fixture
async def raw_sub(server: NatsServer) -> AsyncIterator[RawSubscriber]:
    nc = await nats.connect(server.url)
    sub = RawSubscriber()
    await nc.subscribe(SUBJECT, cb=sub.on_msg)
    await nc.flush()
    yield sub
    await nc.close()


async def test_two_nodes_receive_all_events_in_publish_order(make_bus: MakeBus) -> None:
    got_a, got_b = Collector(), Collector()
    node_a = await make_bus(got_a)
    node_b = await make_bus(got_b)
    expected: list[AnyEvent] = [
        ChatEvent(chat_id=1, frame=bytes(range(256)), joined=[10, 11], left=[12],
                  skip_user=10),
        UserEvent(user_id=7, frame=b"\x00user\xff", joined_chats=[1, 2], left_chats=[3],
                  close_devices=[41, 42]),
        ChatEvent(chat_id=3, frame=b"x" * 100_000, joined=[5]),
    ]
    for event in expected:
        node_a.publish(event)
    assert got_a.events == []  # its own events come back through NATS, like everyone's
    assert await got_a.wait_for(len(expected)) == expected
    assert await got_b.wait_for(len(expected)) == expected

    # Two publishers: each one's events stay in its order on every node.
    from_a = [chat(1000 + i) for i in range(300)]
    from_b = [chat(2000 + i) for i in range(300)]
    for ea, eb in zip(from_a, from_b, strict=True):
        node_a.publish(ea)
        node_b.publish(eb)
    total = len(expected) + 600
    for got in (got_a, got_b):
        seen = (await got.wait_for(total))[len(expected):]
        assert [e for e in seen if e in from_a] == from_a
        assert [e for e in seen if e in from_b] == from_b
        assert len(got.events) == total


async def test_burst_goes_out_in_few_batches(make_bus: MakeBus,
                                             raw_sub: RawSubscriber) -> None:
    got = Collector()
    bus = await make_bus(got, max_batch=500)
    expected = [chat(i) for i in range(5_000)]
    for event in expected:
        bus.publish(event)
    assert await got.wait_for(len(expected)) == expected
    await raw_sub.wait_for(len(expected))
    assert len(raw_sub.sizes) < len(expected) / 10
    assert max(raw_sub.sizes) <= 500


async def test_batches_are_split_under_max_payload(tmp_path: Path, bus_log: LogWatcher) -> None:
    srv = NatsServer(tmp_path, max_payload=64 * 1024)
    await srv.start()
    try:
        got, raw = Collector(), RawSubscriber()
        nc = await nats.connect(srv.url)
        await nc.subscribe(SUBJECT, cb=raw.on_msg)
        await nc.flush()
        bus = NatsBus(srv.url, SUBJECT)
        await bus.start(got)
        expected = [ChatEvent(chat_id=i, frame=b"f" * 20_000) for i in range(20)]
        for event in expected:
            bus.publish(event)
        bus.publish(ChatEvent(chat_id=99, frame=b"g" * 100_000))  # alone beyond the limit
        last = chat(100)
        bus.publish(last)
        assert await got.wait_for(len(expected) + 1) == [*expected, last]
        await raw.wait_for(len(expected) + 1)  # its own connection may lag the bus's
        assert max(raw.bytes) <= 64 * 1024
        assert bus_log.count("exceeds the server's max_payload") == 1
        await bus.close()
        await nc.close()
    finally:
        await srv.stop()


async def test_unreachable_server_never_fails_the_caller(bus_log: LogWatcher) -> None:
    bus = NatsBus(f"nats://127.0.0.1:{free_port()}", SUBJECT)
    await bus.start(Collector())
    assert bus_log.count("cannot connect") == 1
    for i in range(10):
        bus.publish(chat(i))
    await bus_log.wait_for("dropped 10 events")
    with pytest.raises(ConnectionError):
        await bus.check()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await bus.close()
    assert loop.time() - started < 3.0


async def test_connects_later_when_the_server_comes_up(tmp_path: Path,
                                                       bus_log: LogWatcher) -> None:
    srv = NatsServer(tmp_path)
    got = Collector()
    bus = NatsBus(srv.url, SUBJECT)
    await bus.start(got)  # nothing listens yet
    await srv.start()
    try:
        await bus_log.wait_for("connected to")
        await bus.check()
        bus.publish(chat(1))
        assert await got.wait_for(1) == [chat(1)]
    finally:
        await bus.close()
        await srv.stop()


async def test_resumes_after_the_server_restarts(make_bus: MakeBus, server: NatsServer,
                                                 bus_log: LogWatcher) -> None:
    got = Collector()
    bus = await make_bus(got)
    bus.publish(chat(0))
    await got.wait_for(1)
    await server.stop()
    await bus_log.wait_for("disconnected")
    await server.start()
    await bus_log.wait_for("reconnected")
    await bus.check()
    expected = [chat(i) for i in range(1, 101)]
    for event in expected:
        bus.publish(event)
    assert await got.wait_for(101) == [chat(0), *expected]
