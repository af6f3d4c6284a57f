"""Presence at the service level on both engines: views under the last_seen
setting and blocks, the subscription bound, the debounce, last seen kept in
the database, and two nodes sharing one bus."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tidings import wire
from tidings.bus.base import AnyEvent, Deliver, PresenceEvent
from tidings.clock import FakeClock
from tidings.codecs import JSON
from tidings.config import Settings
from tidings.errors import ErrorCode
from tidings.services.container import Services
from tidings.store import updates
from tidings.testing import service_harness, test_settings

from .helpers import make_users
from .people_helpers import befriend, refusal

DEBOUNCE = 0.05


@pytest.fixture
def settings(tmp_path: Path, database_url: str | None) -> Settings:
    return test_settings(tmp_path / "data", database_url, presence_debounce_seconds=DEBOUNCE,
                         presence_max_subscriptions=3)


class Conn:
    """A stand-in for a WebSocket connection: keeps what is pushed to it."""

    codec = JSON

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    def push(self, frame: bytes) -> None:
        self.frames.append(wire.decode(frame))

    def take(self) -> list[dict[str, Any]]:
        found, self.frames = self.frames, []
        return found


async def settle() -> None:
    await asyncio.sleep(DEBOUNCE * 4)


async def test_online_offline_and_last_seen(sv: Services, clock: FakeClock) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    watcher, device = Conn(), Conn()
    sv.presence.attach(watcher, bob, 1)
    [view] = await sv.presence.subscribe(watcher, bob, [alice])
    assert view == {"user_id": alice, "status": "offline", "last_seen": clock.now()}
    sv.presence.attach(device, alice, 1)
    second = Conn()
    sv.presence.attach(second, alice, 2)  # a second device: still one change
    await settle()
    assert watcher.take() == [{"push": "presence", "user_id": alice, "status": "online",
                               "last_seen": None}]
    sv.presence.detach(device)
    await settle()
    assert watcher.take() == []  # one device left: still online
    clock.advance(60)
    sv.presence.detach(second)
    await settle()
    assert watcher.take() == [{"push": "presence", "user_id": alice, "status": "offline",
                               "last_seen": clock.now()}]
    # last seen is kept (the device row), and presence is in no update log
    assert await sv.db.read("t", lambda txn: updates.user_seq_txn(txn, alice)) == 0


async def test_flapping_pushes_nothing(sv: Services) -> None:
    alice, bob = await make_users(sv, "alice", "bob")
    watcher = Conn()
    sv.presence.attach(watcher, bob, 1)
    await sv.presence.subscribe(watcher, bob, [alice])
    for _ in range(5):
        device = Conn()
        sv.presence.attach(device, alice, 1)
        sv.presence.detach(device)
    await settle()
    assert watcher.take() == []


async def test_privacy_rounds_or_hides(sv: Services, clock: FakeClock) -> None:
    alice, bob, carol, dave = await make_users(sv, "alice", "bob", "carol", "dave")
    await sv.privacy.update(alice, {"last_seen": "contacts"})
    await befriend(sv, alice, bob)
    await sv.blocks.add(alice, dave)
    device = Conn()
    sv.presence.attach(device, alice, 1)
    await settle()
    views = {v["user_id"]: v for v in await sv.presence.query(bob, [alice])}
    assert views[alice]["status"] == "online"  # a contact sees it exactly
    assert await sv.presence.query(carol, [alice]) == [
        {"user_id": alice, "status": "recently", "last_seen": None}]
    watcher = Conn()
    sv.presence.attach(watcher, carol, 1)
    await sv.presence.subscribe(watcher, carol, [alice])
    sv.presence.detach(device)
    await settle()
    assert watcher.take() == []  # "recently" either way: nothing to push
    clock.advance(5 * 86400)
    assert (await sv.presence.query(carol, [alice]))[0]["status"] == "within_week"
    clock.advance(30 * 86400)
    assert (await sv.presence.query(dave, [alice]))[0]["status"] == "long_ago"
    assert (await sv.presence.query(bob, [alice]))[0]["status"] == "offline"
    assert await sv.presence.query(bob, [999]) == []  # unknown users are left out


async def test_subscription_bound(sv: Services) -> None:
    users = await make_users(sv, "user1", "user2", "user3", "user4", "user5")
    watcher = Conn()
    sv.presence.attach(watcher, users[0], 1)
    await sv.presence.subscribe(watcher, users[0], users[1:3])
    err = await refusal(sv.presence.subscribe(watcher, users[0], users[3:5]))
    assert err.code == ErrorCode.INVALID_PARAMS and err.data["limit"] == 3
    sv.presence.unsubscribe(watcher, [users[1]])
    await sv.presence.subscribe(watcher, users[0], [users[3]])


class SharedBus:
    """Several nodes on one in-process bus (what Redis does across processes)."""

    def __init__(self) -> None:
        self.nodes: list[Deliver] = []

    async def start(self, deliver: Deliver) -> None:
        self.nodes.append(deliver)

    def publish(self, event: AnyEvent) -> None:
        for deliver in tuple(self.nodes):
            deliver(event)

    async def close(self) -> None:
        pass


async def test_presence_crosses_nodes(tmp_path: Path, database_url: str | None) -> None:
    settings = test_settings(tmp_path / "data", database_url,
                             presence_debounce_seconds=DEBOUNCE)
    bus = SharedBus()
    async with service_harness(settings, FakeClock(), bus) as one:
        alice, bob = await make_users(one, "alice", "bob")
        device = Conn()
        one.presence.attach(device, alice, 1)  # alice connects to node one first
        async with service_harness(settings, FakeClock(), bus) as two:
            # node two started later: its hello taught it who is online
            assert (await two.presence.query(bob, [alice]))[0]["status"] == "online"
            watcher = Conn()
            two.presence.attach(watcher, bob, 1)
            await two.presence.subscribe(watcher, bob, [alice])
            one.presence.detach(device)
            await settle()
            [push] = watcher.take()
            assert push["status"] == "offline"
            assert (await one.presence.query(bob, [alice]))[0]["status"] == "offline"


class LossyBus(SharedBus):
    """A shared bus whose server can be down: what is published then is lost."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def publish(self, event: AnyEvent) -> None:
        if not self.down:
            super().publish(event)


async def test_a_node_not_heard_from_is_taken_for_dead(tmp_path: Path,
                                                       database_url: str | None) -> None:
    settings = test_settings(tmp_path / "data", database_url,
                             presence_debounce_seconds=DEBOUNCE,
                             presence_heartbeat_seconds=5, presence_node_timeout_seconds=15)
    bus, clock_one, clock_two = SharedBus(), FakeClock(), FakeClock()
    async with service_harness(settings, clock_one, bus) as one, \
            service_harness(settings, clock_two, bus) as two:
        alice, bob = await make_users(one, "alice", "bob")
        one.presence.attach(Conn(), alice, 1)
        watcher = Conn()
        two.presence.attach(watcher, bob, 1)
        await two.presence.subscribe(watcher, bob, [alice])
        # node one dies without a word (SIGKILL): node two hears nothing more
        bus.nodes.remove(one._deliver)
        clock_two.advance(10)
        two.presence.sweep()
        assert two.presence.is_online(alice)  # within the timeout: still online
        clock_two.advance(10)
        two.presence.sweep()
        assert not two.presence.is_online(alice)
        await settle()
        [push] = watcher.take()
        assert push == {"push": "presence", "user_id": alice, "status": "offline",
                        "last_seen": clock_two.now()}
        # it was alive after all (a partition): its next event brings its users back
        bus.nodes.append(one._deliver)
        bus.publish(PresenceEvent(node=one.presence.node, kind="heartbeat", seq=1))
        await settle()
        assert two.presence.is_online(alice)
        assert watcher.take()[0]["status"] == "online"


async def test_presence_missed_during_a_bus_outage_is_repaired(
        tmp_path: Path, database_url: str | None) -> None:
    settings = test_settings(tmp_path / "data", database_url,
                             presence_debounce_seconds=DEBOUNCE)
    bus, clock_two = LossyBus(), FakeClock()
    async with service_harness(settings, FakeClock(), bus) as one, \
            service_harness(settings, clock_two, bus) as two:
        alice, bob, carol = await make_users(one, "alice", "bob", "carol")
        device = Conn()
        one.presence.attach(device, alice, 1)
        assert two.presence.is_online(alice)
        bus.down = True
        one.presence.detach(device)  # lost
        one.presence.attach(Conn(), carol, 1)  # lost
        bus.down = False
        assert two.presence.is_online(alice) and not two.presence.is_online(carol)
        # the next heartbeat shows node two it missed events; it asks for the state
        clock_two.advance(settings.presence_heartbeat_seconds)
        bus.publish(PresenceEvent(node=one.presence.node, kind="heartbeat",
                                  seq=one.presence._seq))
        assert not two.presence.is_online(alice) and two.presence.is_online(carol)
        assert not two.presence.is_online(bob)
