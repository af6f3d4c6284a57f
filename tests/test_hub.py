"""The hub: who receives which push on this node."""

from __future__ import annotations

from tidings.bus.base import ChatEvent, UserEvent
from tidings.services.hub import LiveHub


class FakeSink:
    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.revoked = False

    def push(self, frame: bytes) -> None:
        self.frames.append(frame)

    def revoke(self) -> None:
        self.revoked = True


def test_delivers_to_followers_and_follows_joins_and_leaves() -> None:
    hub, phone, laptop, other = LiveHub(), FakeSink(), FakeSink(), FakeSink()
    hub.attach(phone, 1, 10)
    hub.follow(1, [5])
    hub.attach(laptop, 1, 11)
    hub.follow(1, [5])
    hub.attach(other, 2, 20)
    hub.follow(2, [])
    hub.deliver(ChatEvent(chat_id=5, frame=b"a"))
    hub.deliver(ChatEvent(chat_id=5, frame=b"b", joined=[2]))
    hub.deliver(ChatEvent(chat_id=5, frame=b"c", left=[1]))
    hub.deliver(ChatEvent(chat_id=5, frame=b"d"))
    assert phone.frames == laptop.frames == [b"a", b"b", b"c"]
    assert other.frames == [b"b", b"c", b"d"]


def test_a_leave_while_loading_the_chat_list_wins_over_the_stale_list() -> None:
    hub, sink = LiveHub(), FakeSink()
    hub.attach(sink, 1, 10)
    hub.deliver(UserEvent(user_id=1, frame=b"left", left_chats=[5]))
    hub.follow(1, [5, 6])  # loaded before the leave committed
    hub.deliver(ChatEvent(chat_id=5, frame=b"after leaving"))
    hub.deliver(ChatEvent(chat_id=6, frame=b"still here"))
    assert sink.frames == [b"left", b"still here"]


def test_detach_and_revoke() -> None:
    hub, phone, laptop = LiveHub(), FakeSink(), FakeSink()
    hub.attach(phone, 1, 10)
    hub.follow(1, [5])
    hub.attach(laptop, 1, 11)
    hub.follow(1, [5])
    hub.deliver(UserEvent(user_id=1, frame=b"revoked", close_devices=[11]))
    assert laptop.revoked and not phone.revoked
    hub.detach(laptop)
    hub.detach(phone)
    hub.deliver(ChatEvent(chat_id=5, frame=b"nobody"))
    assert not hub.is_online(1) and phone.frames == [b"revoked"]
