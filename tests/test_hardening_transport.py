"""Transport hardening, end to end: slow consumers are bounded by bytes, and a
revoked device is answered what it is owed before close 4001."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client import REGISTRY

from tidings.app import TidingsServer
from tidings.client import Client
from tidings.config import Settings
from tidings.testing import running_server, test_settings
from tidings.transport.ws import State

PASSWORD = "correct horse"


def slow_disconnects() -> float:
    return REGISTRY.get_sample_value("tidings_slow_consumer_disconnects_total") or 0.0


async def call(ws: aiohttp.ClientWebSocketResponse, frame: dict[str, Any]) -> dict[str, Any]:
    """Send a request and return its reply, skipping pushes."""
    await ws.send_str(json.dumps(frame))
    while True:
        reply = json.loads((await ws.receive(timeout=10)).data)
        if "push" not in reply:
            return dict(reply)


async def until_closed(ws: aiohttp.ClientWebSocketResponse
                       ) -> tuple[list[dict[str, Any]], int | None]:
    """Every frame up to the close, and the close code (None without a close frame)."""
    frames: list[dict[str, Any]] = []
    while True:
        msg = await ws.receive(timeout=10)
        if msg.type == aiohttp.WSMsgType.CLOSE:
            return frames, int(msg.data)
        if msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            return frames, None
        frames.append(json.loads(msg.data))


async def eventually(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")


def connected(srv: TidingsServer, device_id: int) -> bool:
    return any(c.device_id == device_id for c in srv.node.connections)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[TidingsServer]:
    async with running_server(settings) as srv:
        yield srv


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# -- slow consumers


async def test_a_reader_too_far_behind_in_bytes_is_closed_with_4008(
        tmp_path: Path, database_url: str | None, http: aiohttp.ClientSession) -> None:
    # The frame count alone would never trigger: coalesced sends make few, big frames.
    settings = test_settings(tmp_path / "data", database_url, max_pending_pushes=100_000,
                             max_pending_push_bytes=1024 * 1024)
    before = slow_disconnects()
    async with running_server(settings) as srv:
        sender = Client(srv.url)
        try:
            await sender.register("alice", PASSWORD)
            async with http.ws_connect(srv.url) as lazy:
                bob = (await call(lazy, {"id": 1, "method": "auth.register", "params": {
                    "username": "bob", "password": PASSWORD}}))["result"]
                chat = await sender.direct(bob["user_id"])
                [conn] = [c for c in srv.node.connections if c.device_id == bob["device_id"]]
                # bob never reads again: his socket buffers fill, then his queue's bytes
                text = "x" * 4000
                sent = 0
                while conn.state is not State.CLOSING and sent < 10_000:
                    await asyncio.gather(*(sender.send_text(chat["chat_id"], text)
                                           for _ in range(100)))
                    sent += 100
                _, code = await until_closed(lazy)
            assert code == 4008
            assert slow_disconnects() == before + 1
            assert sender.connected  # a reader that keeps up is not affected
            page = await sender.history(chat["chat_id"], limit=1)
            assert page[-1]["msg_id"] == chat["pts"] + sent  # nothing was lost
        finally:
            await sender.close()


async def test_the_byte_count_falls_as_frames_are_written(
        server: TidingsServer, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(server.url) as ws:
        await call(ws, {"id": 1, "method": "auth.register", "params": {
            "username": "carol", "password": PASSWORD}})
        for i in range(20):
            await call(ws, {"id": i, "method": "sync.get_state"})
        [conn] = server.node.connections
        await eventually(lambda: conn._out_bytes == 0, "every frame was written")


# -- revocation


async def test_a_device_revoking_itself_gets_its_result_then_4001(
        server: TidingsServer, http: aiohttp.ClientSession) -> None:
    async with http.ws_connect(server.url) as ws:
        me = (await call(ws, {"id": 1, "method": "auth.register", "params": {
            "username": "dave", "password": PASSWORD}}))["result"]
        await ws.send_str(json.dumps({"id": 2, "method": "device.revoke",
                                      "params": {"device_id": me["device_id"]}}))
        frames, code = await until_closed(ws)
    assert {"id": 2, "result": {"revoked": [me["device_id"]]}} in frames
    pushed = [u for f in frames if f.get("push") == "user_updates" for u in f["updates"]]
    assert [(u["kind"], u["device_id"]) for u in pushed] == [("device.revoked",
                                                             me["device_id"])]
    assert code == 4001


async def test_a_revoked_device_is_answered_its_requests_in_flight_first(
        server: TidingsServer, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    phone = Client(server.url)
    try:
        await phone.register("erin", PASSWORD, "phone")
        async with http.ws_connect(server.url) as laptop:
            me = (await call(laptop, {"id": 1, "method": "auth.login", "params": {
                "username": "erin", "password": PASSWORD}}))["result"]
            release, started = asyncio.Event(), asyncio.Event()
            get_state = server.services.sync.get_state

            async def held_get_state(user_id: int) -> Any:
                started.set()
                await release.wait()
                return await get_state(user_id)

            monkeypatch.setattr(server.services.sync, "get_state", held_get_state)
            await laptop.send_str(json.dumps({"id": 2, "method": "sync.get_state"}))
            await started.wait()
            await phone.call("device.revoke", {"device_id": me["device_id"]})
            await asyncio.sleep(0.2)
            assert connected(server, me["device_id"])  # still owed an answer
            # a request after the revocation is neither run nor answered
            await laptop.send_str(json.dumps({"id": 3, "method": "device.list"}))
            await asyncio.sleep(0.1)
            release.set()
            frames, code = await until_closed(laptop)
        replies = [f for f in frames if "push" not in f]
        assert [r["id"] for r in replies] == [2] and "seq" in replies[0]["result"]
        assert code == 4001
    finally:
        await phone.close()


async def test_a_revoked_device_is_closed_after_the_grace_whatever_is_in_flight(
        tmp_path: Path, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
        ) -> None:
    settings = test_settings(tmp_path / "data", revoke_grace_seconds=0.3)
    async with running_server(settings) as srv:
        phone = Client(srv.url)
        try:
            await phone.register("frank", PASSWORD, "phone")
            async with http.ws_connect(srv.url) as laptop:
                me = (await call(laptop, {"id": 1, "method": "auth.login", "params": {
                    "username": "frank", "password": PASSWORD}}))["result"]
                stuck = asyncio.Event()

                async def never(user_id: int) -> Any:
                    await stuck.wait()

                monkeypatch.setattr(srv.services.sync, "get_state", never)
                await laptop.send_str(json.dumps({"id": 2, "method": "sync.get_state"}))
                await asyncio.sleep(0.05)
                await phone.call("device.revoke", {"device_id": me["device_id"]})
                frames, code = await until_closed(laptop)
                stuck.set()
            assert code == 4001 and all("push" in f for f in frames)
        finally:
            await phone.close()
