"""Which devices on this node receive which updates.

The hub keeps, for the users connected to this process, the set of chats each
follows, and delivers bus events to their connections. It is fed only by the
bus. Events of two nodes can reach this one in the other order than they
committed (a join on one node, then a leave on another), so each change of who
follows a chat carries the pts it wrote (``membership_pts``) and the hub
ignores, per user and chat, a change older than the last one it applied.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Protocol

from prometheus_client import Counter, Gauge

from tidings.bus.base import AnyEvent, ChatEvent, UserEvent
from tidings.codecs import Codec, PushFrames

log = logging.getLogger(__name__)

PUSH_FRAMES = Counter("tidings_push_frames_total", "Push frames queued to connections")
ONLINE_DEVICES = Gauge("tidings_online_devices", "Authenticated connections on this node")


class Sink(Protocol):
    """A connected, authenticated device (implemented by the transport)."""

    codec: Codec  # what its frames are encoded in

    def push(self, frame: bytes) -> None:
        """Queue a frame in the sink's codec; never blocks (a device that cannot
        keep up is dropped)."""
        ...

    def revoke(self) -> None:
        """The device's token was revoked: close the connection."""
        ...


class LiveHub:
    def __init__(self) -> None:
        self._sinks: dict[int, set[Sink]] = defaultdict(set)
        self._chats_of: dict[int, set[int]] = defaultdict(set)
        self._users_in: dict[int, set[int]] = defaultdict(set)
        self._identity: dict[Sink, tuple[int, int]] = {}
        # Chats a user left while one of their devices was loading its chat list
        # (between attach and follow): that list may predate the leave.
        self._left_while_loading: dict[int, set[int]] = {}
        self._loading: dict[int, int] = defaultdict(int)
        # user -> chat -> pts of the newest membership change applied, for users
        # connected here only (dropped with their last device).
        self._membership_pts: dict[int, dict[int, int]] = {}

    # -- connections
    def attach(self, sink: Sink, user_id: int, device_id: int) -> None:
        """Register a device; the caller loads the user's chats next and hands
        them to ``follow``. Joins delivered in between already subscribe the user."""
        self._identity[sink] = (user_id, device_id)
        self._sinks[user_id].add(sink)
        self._loading[user_id] += 1
        self._left_while_loading.setdefault(user_id, set())
        ONLINE_DEVICES.inc()

    def follow(self, user_id: int, chat_ids: list[int]) -> None:
        left = self._left_while_loading.get(user_id, set())
        if user_id in self._sinks:
            for chat_id in chat_ids:
                if chat_id not in left:
                    self._subscribe(user_id, chat_id)
        self._done_loading(user_id)

    def _done_loading(self, user_id: int) -> None:
        self._loading[user_id] -= 1
        if self._loading[user_id] <= 0:
            del self._loading[user_id]
            self._left_while_loading.pop(user_id, None)

    def detach(self, sink: Sink) -> None:
        identity = self._identity.pop(sink, None)
        if identity is None:
            return
        user_id = identity[0]
        sinks = self._sinks[user_id]
        sinks.discard(sink)
        ONLINE_DEVICES.dec()
        if not sinks:
            del self._sinks[user_id]
            self._membership_pts.pop(user_id, None)
            for chat_id in self._chats_of.pop(user_id, set()):
                users = self._users_in.get(chat_id)
                if users is not None:
                    users.discard(user_id)
                    if not users:
                        del self._users_in[chat_id]

    def is_online(self, user_id: int) -> bool:
        return user_id in self._sinks

    # -- delivery
    def deliver(self, event: AnyEvent) -> None:
        if isinstance(event, ChatEvent):
            self._deliver_chat(event)
        elif isinstance(event, UserEvent):
            self._deliver_user(event)

    def _deliver_chat(self, event: ChatEvent) -> None:
        pts = event.membership_pts
        for user_id in event.joined:
            if self._is_newest(user_id, event.chat_id, pts):
                self._subscribe(user_id, event.chat_id)
        frames = PushFrames(event.frame)  # other codecs: encoded once, on first need
        pushed = 0
        for user_id in tuple(self._users_in.get(event.chat_id, ())):
            if user_id != event.skip_user:
                pushed += self._push_to_user(user_id, frames)
        # Counted once per event: Counter.inc takes a lock, per connection it
        # showed in the fan-out profile.
        PUSH_FRAMES.inc(pushed)
        for user_id in event.left:
            if self._is_newest(user_id, event.chat_id, pts):
                self._unsubscribe(user_id, event.chat_id)

    def _deliver_user(self, event: UserEvent) -> None:
        pts = event.membership_pts
        for chat_id in event.joined_chats:
            if self._is_newest(event.user_id, chat_id, pts):
                self._subscribe(event.user_id, chat_id)
        PUSH_FRAMES.inc(self._push_to_user(event.user_id, PushFrames(event.frame)))
        for chat_id in event.left_chats:
            if self._is_newest(event.user_id, chat_id, pts):
                self._unsubscribe(event.user_id, chat_id)
        if event.close_devices:
            closing = set(event.close_devices)
            for sink in tuple(self._sinks.get(event.user_id, ())):
                if self._identity[sink][1] in closing:
                    sink.revoke()

    def _is_newest(self, user_id: int, chat_id: int, pts: int) -> bool:
        """Whether a membership change at ``pts`` is not older than the last one
        applied here (and records it). 0: an event that carries no pts."""
        if pts <= 0 or user_id not in self._sinks:
            return True
        seen = self._membership_pts.setdefault(user_id, {})
        if pts < seen.get(chat_id, 0):
            log.debug("hub: membership change of user %s in chat %s at pts %s is older "
                      "than one applied; ignored", user_id, chat_id, pts)
            return False
        seen[chat_id] = pts
        return True

    def _push_to_user(self, user_id: int, frames: PushFrames) -> int:
        """Queue the frame to each of the user's connections; how many."""
        sinks = tuple(self._sinks.get(user_id, ()))
        for sink in sinks:
            sink.push(frames.get(sink.codec))
        return len(sinks)

    def _subscribe(self, user_id: int, chat_id: int) -> None:
        loading = self._left_while_loading.get(user_id)
        if loading is not None:
            loading.discard(chat_id)  # joined again after that leave
        if user_id in self._sinks:
            self._chats_of[user_id].add(chat_id)
            self._users_in[chat_id].add(user_id)

    def _unsubscribe(self, user_id: int, chat_id: int) -> None:
        loading = self._left_while_loading.get(user_id)
        if loading is not None:
            loading.add(chat_id)
        chats = self._chats_of.get(user_id)
        if chats is not None:
            chats.discard(chat_id)
        users = self._users_in.get(chat_id)
        if users is not None:
            users.discard(user_id)
            if not users:
                del self._users_in[chat_id]
