"""W2, catch-up: a user with two devices, A and B, in a group with a second
user C. Each round, device B connects, takes its state (``sync.get_state``)
and goes offline (closes its socket); ``messages`` are sent into the group
(half by device A, half by C); then B reconnects (``auth.token``) and catches
up with ``sync.get_difference`` (``limit`` 10,000, which the server clamps to
its maximum) until ``more`` is false, paging ``message.history`` for a chat
that comes back ``too_long``.

Measured per round: wall time from opening the new socket to having applied
every update, the requests sent on it (``auth.token`` included), the
WebSocket payload bytes received, and the server CPU in that interval. B
checks it holds exactly the messages sent while it was offline, with no gap in
pts. The figure is the median over the rounds.

The device runs in the bench process itself (one connection, one request at a
time: nothing here needs a separate generator); it decodes every frame with
msgspec as a real client would.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from tidings.bench.fanout_load import PushMessage
from tidings.bench.frames import PUSH_PREFIX, reply_decoder, request
from tidings.bench.procstat import PostgresCpu
from tidings.bench.results import CatchupResult, CatchupRound
from tidings.bench.rpc import RawSocket, RpcError
from tidings.bench.server_proc import ServerProcess, server_process
from tidings.bench.storage import engine_of
from tidings.bench.wsetup import Account, fill, group_of, login_device, register_accounts, signed_in

HISTORY_PAGE = 100  # history_max_limit default


@dataclass(frozen=True)
class CatchupParams:
    messages: int = 2000
    repeats: int = 5
    limit: int = 10_000


class DiffUpdate(msgspec.Struct):
    pts: int
    kind: str = ""
    message: PushMessage | None = None


class DiffChat(msgspec.Struct):
    chat_id: int
    pts: int
    too_long: bool = False
    updates: list[DiffUpdate] = []


class Difference(msgspec.Struct):
    seq: int
    more: bool = False
    chats: list[DiffChat] = []
    user_updates: list[msgspec.Raw] = []


class HistoryPage(msgspec.Struct):
    messages: list[PushMessage]


class State(msgspec.Struct):
    seq: int
    chats: dict[str, int]


class Device:
    """One connection making one request at a time; counts what it reads."""

    def __init__(self, ws: RawSocket) -> None:
        self.ws = ws
        self.requests = 0
        self.bytes_received = 0
        self._ids = itertools.count(1)

    @classmethod
    async def connect(cls, session: aiohttp.ClientSession, url: str, token: str) -> Device:
        device = cls(await session.ws_connect(url, max_msg_size=0, decode_text=False))
        await device.call("auth.token", {"token": token})
        return device

    async def call(self, method: str, params: dict[str, Any]) -> msgspec.Raw:
        request_id = next(self._ids)
        self.requests += 1
        await self.ws.send_bytes(request(request_id, method, params))
        while True:
            msg = await self.ws.receive()
            if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                raise RpcError(method, "DISCONNECTED", "the connection closed")
            data: bytes = msg.data
            self.bytes_received += len(data)
            if data.startswith(PUSH_PREFIX):
                continue  # nothing is sent while B catches up; a push would be applied by pts
            reply = reply_decoder.decode(data)
            if reply.id != request_id:
                continue
            if reply.error is not None:
                raise RpcError(method, reply.error.code, reply.error.message)
            return reply.result

    async def close(self) -> None:
        await self.ws.close()


class Replica:
    """What device B holds: seq, each chat's pts, and the msg_ids it learnt."""

    def __init__(self, state: State) -> None:
        self.seq = state.seq
        self.pts = {int(k): v for k, v in state.chats.items()}
        self.msg_ids: dict[int, set[int]] = {}
        self.gaps = 0
        self.too_long = False

    async def catch_up(self, device: Device, limit: int) -> None:
        while True:
            raw = await device.call("sync.get_difference", {
                "seq": self.seq, "chats": {str(c): p for c, p in self.pts.items()},
                "limit": limit})
            diff = msgspec.json.decode(raw, type=Difference)
            for chat in diff.chats:
                if chat.too_long:
                    self.too_long = True
                    await self._reload(device, chat)
                else:
                    self._apply(chat)
            self.seq = diff.seq
            if not diff.more:
                return

    def _apply(self, chat: DiffChat) -> None:
        local = self.pts.get(chat.chat_id, 0)
        got = self.msg_ids.setdefault(chat.chat_id, set())
        for update in chat.updates:
            if update.pts <= local:
                continue
            if update.pts != local + 1:
                self.gaps += 1
            local = update.pts
            if update.kind == "message.new" and update.message is not None:
                got.add(update.message.msg_id)
        self.pts[chat.chat_id] = max(local, chat.pts)

    async def _reload(self, device: Device, chat: DiffChat) -> None:
        """Too far behind to replay: page the history back to what we held."""
        held = self.pts.get(chat.chat_id, 0)
        got = self.msg_ids.setdefault(chat.chat_id, set())
        before = chat.pts + 1
        while before > held + 1:
            raw = await device.call("message.history", {
                "chat_id": chat.chat_id, "before": before, "limit": HISTORY_PAGE})
            page = msgspec.json.decode(raw, type=HistoryPage)
            if not page.messages:
                break
            got.update(m.msg_id for m in page.messages if m.msg_id > held)
            before = page.messages[0].msg_id
        self.pts[chat.chat_id] = chat.pts


async def take_state(session: aiohttp.ClientSession, url: str, token: str) -> State:
    device = await Device.connect(session, url, token)
    try:
        return msgspec.json.decode(await device.call("sync.get_state", {}), type=State)
    finally:
        await device.close()


async def one_round(session: aiohttp.ClientSession, server: ServerProcess, engine: str,
                    chat_id: int,
                    senders: tuple[Account, Account], device_b: Account, params: CatchupParams,
                    round_no: int) -> CatchupRound:
    url = server.ws_url
    replica = Replica(await take_state(session, url, device_b.token))  # B goes offline
    half = params.messages // 2
    async with signed_in(session, url, senders[0]) as a, signed_in(session, url, senders[1]) as c:
        sent_a, sent_c = await asyncio.gather(
            fill(a, chat_id, params.messages - half, f"r{round_no}a"),
            fill(c, chat_id, half, f"r{round_no}c"))
    expected = set(sent_a) | set(sent_c)

    db_cpu = PostgresCpu(enabled=engine == "postgres", precise=True)
    db_cpu.start()
    cpu_start = server.cpu_seconds_precise()
    started = time.perf_counter()
    device = await Device.connect(session, url, device_b.token)
    try:
        await replica.catch_up(device, params.limit)
        elapsed = time.perf_counter() - started
        server_cpu = server.cpu_seconds_precise() - cpu_start
        db_seconds = db_cpu.stop()
    finally:
        await device.close()
    got = replica.msg_ids.get(chat_id, set())
    return CatchupRound(ms=elapsed * 1000.0, requests=device.requests,
                        bytes_received=device.bytes_received, messages=len(got),
                        too_long=replica.too_long,
                        caught_up=got == expected and replica.gaps == 0,
                        server_cpu_ms=server_cpu * 1000.0,
                        db_cpu_ms=None if db_seconds is None else db_seconds * 1000.0)


async def catchup_phase(session: aiohttp.ClientSession, server: ServerProcess, engine: str,
                        params: CatchupParams) -> CatchupResult:
    url = server.ws_url
    user, other = await register_accounts(session, url, ["catchup_user", "catchup_other"])
    device_b = await login_device(session, url, "catchup_user", "device b")
    chat_id = await group_of(session, url, other, [user], "catch-up")
    rounds = [await one_round(session, server, engine, chat_id, (user, other), device_b, params, r)
              for r in range(params.repeats)]
    return CatchupResult(engine=engine, messages=params.messages, limit=params.limit,
                         rounds=rounds)


async def run_catchup(data_dir: Path, database_url: str | None, params: CatchupParams
                      ) -> CatchupResult:
    async with (aiohttp.ClientSession() as session,
                server_process(data_dir, database_url, session) as server):
        return await catchup_phase(session, server, engine_of(database_url), params)
