"""The hub: who receives which push on this node."""

from __future__ import annotations

import pytest

from tidings.bus.base import ChatEvent, UserEvent
from tidings.codecs import JSON, MSGPACK, MsgpackCodec
from tidings.services.hub import LiveHub


class FakeSink:
    codec = JSON

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


class MsgpackSink(FakeSink):
    codec = MSGPACK


def test_a_push_is_encoded_once_per_codec_for_every_connection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    hub = LiveHub()
    json_sinks = [FakeSink() for _ in range(3)]
    msgpack_sinks = [MsgpackSink() for _ in range(3)]
    for i, sink in enumerate(json_sinks + msgpack_sinks):
        hub.attach(sink, i + 1, 100 + i)
        hub.follow(i + 1, [5])
    encodes = 0
    encode = MsgpackCodec.encode

    def counting(codec: MsgpackCodec, obj: object) -> bytes:
        nonlocal encodes
        encodes += 1
        return encode(codec, obj)

    monkeypatch.setattr(MsgpackCodec, "encode", counting)
    frame = JSON.encode({"push": "chat_updates", "chat_id": 5, "updates": [
        {"pts": 7, "kind": "message.new", "date": 1, "message": {"chat_id": 5, "msg_id": 7}}]})
    hub.deliver(ChatEvent(chat_id=5, frame=frame))
    assert encodes == 1
    assert all(s.frames == [frame] for s in json_sinks)
    pushed = {s.frames[0] for s in msgpack_sinks}
    assert len(pushed) == 1 and MSGPACK.decode(pushed.pop()) == JSON.decode(frame)


def test_an_older_membership_change_arriving_late_is_ignored() -> None:
    # Two nodes' events can reach a third in the other order than they
    # committed: here the leave (pts 8) overtakes the join (pts 5) it follows.
    hub, sink = LiveHub(), FakeSink()
    hub.attach(sink, 1, 10)
    hub.follow(1, [])
    hub.deliver(ChatEvent(chat_id=5, frame=b"left", left=[1], membership_pts=8))
    hub.deliver(UserEvent(user_id=1, frame=b"chat.left", left_chats=[5], membership_pts=8))
    hub.deliver(ChatEvent(chat_id=5, frame=b"joined", joined=[1], membership_pts=5))
    hub.deliver(UserEvent(user_id=1, frame=b"chat.joined", joined_chats=[5],
                          membership_pts=5))
    hub.deliver(ChatEvent(chat_id=5, frame=b"after leaving"))
    assert b"after leaving" not in sink.frames
    # ... and a newer join (a re-join) still applies, whichever event brings it
    hub.deliver(UserEvent(user_id=1, frame=b"chat.joined again", joined_chats=[5],
                          membership_pts=9))
    hub.deliver(ChatEvent(chat_id=5, frame=b"joined again", joined=[1], membership_pts=10))
    hub.deliver(ChatEvent(chat_id=5, frame=b"after joining again"))
    assert sink.frames[-2:] == [b"joined again", b"after joining again"]


def test_an_older_leave_arriving_late_does_not_unsubscribe() -> None:
    hub, sink = LiveHub(), FakeSink()
    hub.attach(sink, 1, 10)
    hub.follow(1, [])
    hub.deliver(ChatEvent(chat_id=5, frame=b"joined again", joined=[1], membership_pts=12))
    hub.deliver(ChatEvent(chat_id=5, frame=b"old leave", left=[1], membership_pts=8))
    hub.deliver(ChatEvent(chat_id=5, frame=b"next"))
    assert sink.frames == [b"joined again", b"old leave", b"next"]


def test_membership_order_is_forgotten_with_the_last_device() -> None:
    hub, sink = LiveHub(), FakeSink()
    hub.attach(sink, 1, 10)
    hub.follow(1, [])
    hub.deliver(ChatEvent(chat_id=5, frame=b"joined", joined=[1], membership_pts=5))
    hub.detach(sink)
    again = FakeSink()
    hub.attach(again, 1, 10)
    hub.follow(1, [5])
    hub.deliver(ChatEvent(chat_id=5, frame=b"x"))
    assert again.frames == [b"x"]
