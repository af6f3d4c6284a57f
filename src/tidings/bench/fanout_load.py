"""The fan-out load generator: ``python -m tidings.bench.fanout_load``.

Holds some members of the group, one connection each (``auth.token``), over
the transport of ``url`` (``ws://`` or ``tcp://``) in ``codec``. Every
member reads its pushes; some members also send, one message at a time
(waiting for the ack before the next). Each message's text starts with the
sender's ``time.time()``, so a receiver computes the delivery latency of every
``message.new`` it reads (all processes run on one machine: one clock).

Per member: deliveries are counted per pts, so a pts pushed twice is a
duplicate; a sender ignores the pushes of its own messages (the server may
push them back), its ack is its delivery. A member is complete when it holds
``total`` messages; the generator ends when all its members are complete, or
when nothing new arrived for ``idle_timeout`` seconds after its senders finished
(what is still missing then is reported, not waited for).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

import msgspec

from tidings.bench.childio import (
    emit,
    read_line,
    run_main,
    save,
    session,
    signed_in_link,
    wait_go,
)
from tidings.bench.frames import Wire
from tidings.bench.links import FrameLink


class FanoutMember(msgspec.Struct, frozen=True):
    token: str
    user_id: int
    sender: int  # sender index (makes local ids unique), -1 for a receiver only
    sends: int
    url: str = ""  # the node this member connects to; "" for the config's url


class FanoutConfig(msgspec.Struct, frozen=True):
    url: str
    result_path: str
    chat_id: int
    total: int  # messages every member holds at the end (all senders together)
    text_bytes: int
    idle_timeout: float
    members: list[FanoutMember]
    codec: str = "json"


class MemberStats(msgspec.Struct):
    user_id: int
    sender: bool
    delivered: int  # distinct messages held: pushes from others, plus own acks
    duplicates: int  # message.new updates whose pts this member had already seen
    unparsed: int  # message.new updates without a bench timestamp (not counted)
    frames: int  # chat_updates push frames of the chat read (one may carry several updates)


class FanoutLoadResult(msgspec.Struct):
    members: list[MemberStats]
    acked: int
    errors: dict[str, int]
    first_send: float | None  # time.time(), comparable across processes
    last_ack: float | None
    last_delivery: float | None
    cpu_seconds: float
    send_ms: list[float]
    delivery_ms: list[float]  # every (member, message) pair held here, own acks included


class PushMessage(msgspec.Struct):
    msg_id: int
    sender_id: int
    text: str | None = None


class PushUpdate(msgspec.Struct):
    pts: int = 0
    kind: str = ""
    message: PushMessage | None = None


class ChatPush(msgspec.Struct):
    chat_id: int = 0
    updates: list[PushUpdate] = []




def message_text(sent_at: float, tag: str, size: int) -> str:
    """``<time.time()> <tag> xxx...`` padded to ``size`` characters (plain ASCII)."""
    head = f"{sent_at:.6f} {tag} "
    return head + "x" * max(0, size - len(head))


def sent_time(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return float(text.partition(" ")[0])
    except ValueError:
        return None


class Member:
    def __init__(self, ws: FrameLink, spec: FanoutMember, config: FanoutConfig,
                 progress: Progress, wire: Wire) -> None:
        self.ws = ws
        self.wire = wire
        self._decode_push = wire.decoder(ChatPush)
        self.spec = spec
        self.config = config
        self.progress = progress
        self.seen: set[int] = set()
        self.acked = 0
        self.duplicates = 0
        self.unparsed = 0
        self.frames = 0
        self.errors: Counter[str] = Counter()
        self.send_ms: list[float] = []
        self.delivery_ms: list[float] = []
        self.first_send: float | None = None
        self.last_ack: float | None = None
        self.last_delivery: float | None = None
        self.complete = config.total == 0
        self._waiter: asyncio.Future[tuple[float, bytes] | None] | None = None

    @property
    def delivered(self) -> int:
        return len(self.seen) + self.acked

    def stats(self) -> MemberStats:
        return MemberStats(user_id=self.spec.user_id, sender=self.spec.sender >= 0,
                           delivered=self.delivered, duplicates=self.duplicates,
                           unparsed=self.unparsed, frames=self.frames)

    def _check_complete(self) -> None:
        if not self.complete and self.delivered >= self.config.total:
            self.complete = True
            self.progress.member_complete()

    async def read(self) -> None:
        try:
            wire = self.wire
            while (data := await self.ws.receive()) is not None:
                now = time.time()
                if wire.is_push(data):
                    if wire.is_chat_push(data):
                        self._on_push(self._decode_push(data), now)
                elif self._waiter is not None and not self._waiter.done():
                    self._waiter.set_result((now, data))
        finally:
            if self._waiter is not None and not self._waiter.done():
                self._waiter.set_result(None)

    def _on_push(self, push: ChatPush, now: float) -> None:
        if push.chat_id != self.config.chat_id:
            return
        self.frames += 1
        own = self.spec.user_id if self.spec.sender >= 0 else None
        for update in push.updates:
            message = update.message
            if update.kind != "message.new" or message is None or message.sender_id == own:
                continue
            if update.pts in self.seen:
                self.duplicates += 1
                continue
            sent_at = sent_time(message.text)
            if sent_at is None:
                self.unparsed += 1
                continue
            self.seen.add(update.pts)
            self.delivery_ms.append((now - sent_at) * 1000.0)
            self.last_delivery = now
            self.progress.touch(now)
        self._check_complete()

    async def send_all(self) -> None:
        spec, config = self.spec, self.config
        loop = asyncio.get_running_loop()
        for i in range(1, spec.sends + 1):
            tag = f"f{spec.sender}.{i}"
            sent_at = time.time()
            frame = self.wire.send_frame(i, config.chat_id, tag,
                                         message_text(sent_at, tag, config.text_bytes))
            if self.first_send is None:
                self.first_send = sent_at
            self._waiter = loop.create_future()
            try:
                await self.ws.send(frame)
            except ConnectionError:
                self.errors["LOST"] += spec.sends - i + 1
                return
            answer = await self._waiter
            if answer is None:
                self.errors["LOST"] += spec.sends - i + 1
                return
            now, data = answer
            reply = self.wire.reply(data)
            if reply.error is not None:
                self.errors[reply.error.code] += 1
                continue
            self.acked += 1
            latency = (now - sent_at) * 1000.0
            self.send_ms.append(latency)
            self.delivery_ms.append(latency)  # the sender's ack is its delivery
            self.last_ack = now
            self.progress.touch(now)
            self._check_complete()


class Progress:
    """When the last member completed, and when anything last arrived."""

    def __init__(self, members: int) -> None:
        self.remaining = members
        self.last = time.time()
        self.all_complete = asyncio.Event()
        if members == 0:
            self.all_complete.set()

    def touch(self, now: float) -> None:
        self.last = now

    def member_complete(self) -> None:
        self.remaining -= 1
        if self.remaining <= 0:
            self.all_complete.set()


async def wait_finished(progress: Progress, senders: asyncio.Future[Any],
                        idle_timeout: float) -> None:
    while not progress.all_complete.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(progress.all_complete.wait(), 0.5)
        if senders.done() and time.time() - progress.last > idle_timeout:
            return


def merge(members: list[Member], cpu_seconds: float) -> FanoutLoadResult:
    errors: Counter[str] = Counter()
    send_ms: list[float] = []
    delivery_ms: list[float] = []
    for m in members:
        errors.update(m.errors)
        send_ms += m.send_ms
        delivery_ms += m.delivery_ms
    firsts = [t for m in members if (t := m.first_send) is not None]
    acks = [t for m in members if (t := m.last_ack) is not None]
    deliveries = [t for m in members if (t := m.last_delivery) is not None] + acks
    return FanoutLoadResult(
        members=[m.stats() for m in members], acked=sum(m.acked for m in members),
        errors=dict(errors), first_send=min(firsts, default=None),
        last_ack=max(acks, default=None), last_delivery=max(deliveries, default=None),
        cpu_seconds=cpu_seconds, send_ms=send_ms, delivery_ms=delivery_ms)


async def main() -> None:
    config = msgspec.json.decode((await read_line()).encode(), type=FanoutConfig)
    wire = Wire(config.codec)
    async with session() as http:
        sockets = await asyncio.gather(*(
            signed_in_link(http, spec.url or config.url, wire, "auth.token",
                           {"token": spec.token})
            for spec in config.members))
        progress = Progress(len(config.members))
        members = [Member(ws, spec, config, progress, wire)
                   for ws, spec in zip(sockets, config.members, strict=True)]
        readers = [asyncio.create_task(m.read()) for m in members]
        emit(b"ready")
        if not await wait_go():
            return
        cpu_start = time.process_time()
        progress.touch(time.time())
        senders = asyncio.gather(*(m.send_all() for m in members if m.spec.sends))
        await wait_finished(progress, senders, config.idle_timeout)
        await senders
        cpu = time.process_time() - cpu_start
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for ws in sockets:
            await ws.close()
    save(config.result_path, merge(members, cpu))
    emit(b"done")


if __name__ == "__main__":
    run_main(main)
