"""The bus interface and the event it carries."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import msgspec


class BusEvent(msgspec.Struct, frozen=True, tag_field="t"):
    """Committed updates for delivery.

    ``frame`` is the push frame, already encoded once (shared by every
    recipient on every node). ``joined``/``left`` tell hubs to change who
    follows a chat before/after delivering; ``close_devices`` asks hubs to
    close those devices' connections after delivering (device revoked).
    ``views_changed`` tells read caches that what members may read changed
    beyond joins and leaves (history cleared for everyone: every member of the
    chat; hidden or cleared for one user: those chats of that user).
    ``membership_pts`` is a pts the membership change (``joined``/``left``,
    ``joined_chats``/``left_chats``) wrote in its chat: events of two nodes may
    reach a third in the other order than they committed, and a hub ignores a
    change older than the last one it applied for that user and chat.
    """


class ChatEvent(BusEvent, frozen=True, tag="c"):
    chat_id: int
    frame: bytes
    joined: list[int] = []
    left: list[int] = []
    views_changed: bool = False
    # An ephemeral push about one user (typing, their read cursor) goes to
    # the other members only: this user's devices do not receive the frame.
    skip_user: int | None = None
    membership_pts: int = 0


class UserEvent(BusEvent, frozen=True, tag="u"):
    user_id: int
    frame: bytes
    joined_chats: list[int] = []
    left_chats: list[int] = []
    close_devices: list[int] = []
    views_changed: list[int] = []
    membership_pts: int = 0


class PresenceEvent(BusEvent, frozen=True, tag="p"):
    """Ephemeral, in no log: ``node`` went ``online`` (its first device of each
    user connected) or ``offline`` (its last one left, at ``at``); ``state``
    lists every user online on ``node`` (it replaces what others knew);
    ``hello`` asks every node for its ``state`` (a node started, or missed
    events); ``heartbeat`` says ``node`` is alive. ``seq`` counts the
    online/offline/state events ``node`` published, so a receiver that missed
    one (a bus outage) notices and asks again."""

    node: str
    kind: str  # online | offline | state | hello | heartbeat
    user_ids: list[int] = []
    at: int = 0
    seq: int = 0


AnyEvent = ChatEvent | UserEvent | PresenceEvent
Deliver = Callable[[AnyEvent], None]

class Batch(msgspec.Struct, frozen=True, array_like=True):
    """What one bus message carries: events, and when the publisher sent them
    (wall clock: receivers report the publish-to-deliver lag)."""

    sent_at: float
    events: list[AnyEvent]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Batch)


def encode_events(events: list[AnyEvent]) -> bytes:
    return _encoder.encode(Batch(time.time(), events))


def decode_batch(data: bytes) -> Batch:
    return _decoder.decode(data)


def decode_events(data: bytes) -> list[AnyEvent]:
    return _decoder.decode(data).events


class Bus(Protocol):
    """Publish never blocks and never fails the caller: the updates are
    already committed, and a device that misses a push catches up by pts."""

    async def start(self, deliver: Deliver) -> None: ...

    def publish(self, event: AnyEvent) -> None: ...

    async def check(self) -> None:
        """Raise if the bus server cannot be reached now (``/readyz``)."""
        ...

    async def close(self) -> None: ...
