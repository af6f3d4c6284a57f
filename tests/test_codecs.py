"""The two frame codecs carry one data model: whatever the server encodes
decodes to the same value from JSON and from MessagePack."""

from __future__ import annotations

from typing import Any

from tidings import wire
from tidings.codecs import JSON, MSGPACK, PushFrames, by_subprotocol
from tidings.wire import INT64_MAX


def message() -> wire.Message:
    return wire.Message(
        chat_id=INT64_MAX, msg_id=7, sender_id=1, date=1_796_000_000, kind="text",
        text="héllo ✓ \U0001f600", reply_to=None, local_id="l1",
        entities=[wire.Entity(type="bold", offset=0, length=5)],
        location=wire.Location(lat=-33.5, lon=151.25), reactions={"👍": 2},
        attributes={"nested": {"list": [1, 2.5, None, True]}})


def both(value: Any) -> tuple[Any, Any]:
    return JSON.decode(JSON.encode(value)), MSGPACK.decode(MSGPACK.encode(value))


def test_structs_ints_and_text_decode_alike() -> None:
    as_json, as_msgpack = both({"id": 1, "result": {"message": message()}})
    assert as_json == as_msgpack
    assert as_msgpack["result"]["message"]["chat_id"] == INT64_MAX


def test_map_keys_are_strings_in_both() -> None:
    as_json, as_msgpack = both({"chats": {12: 40, 13: 0}})
    assert as_json == as_msgpack == {"chats": {"12": 40, "13": 0}}


def test_bytes_are_base64_text_in_both() -> None:
    as_json, as_msgpack = both({"blob": b"\x00\xffab"})
    assert as_json == as_msgpack == {"blob": "AP9hYg=="}


def test_a_push_converts_to_msgpack_once_and_decodes_alike() -> None:
    frame = JSON.encode({"push": "chat_updates", "chat_id": 5,
                         "updates": [wire.message_update(message())]})
    frames = PushFrames(frame)
    assert frames.get(JSON) is frame
    packed = frames.get(MSGPACK)
    assert frames.get(MSGPACK) is packed
    assert MSGPACK.decode(packed) == JSON.decode(frame)


def test_the_subprotocol_picks_the_codec() -> None:
    assert by_subprotocol("tidings.msgpack") is MSGPACK
    assert by_subprotocol("tidings.json") is JSON
    assert by_subprotocol(None) is JSON
