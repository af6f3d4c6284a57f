"""The few frames a load client reads and writes, kept apart from the server
code so that a load-generator process imports nothing but msgspec."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

# Pushes are skipped by this prefix before any decoding: the server encodes
# them with msgspec from a dict whose first key is "push".
PUSH_PREFIX = b'{"push"'


class ErrorBody(msgspec.Struct):
    code: str
    message: str = ""


class Reply(msgspec.Struct):
    """A result or an error; ``result`` stays raw because a load client only
    counts acknowledgements (decoding the message would cost the generator)."""

    id: int | str | None = None
    result: msgspec.Raw = msgspec.Raw(b"null")  # msgspec cannot put Raw in a union
    error: ErrorBody | None = None


reply_decoder = msgspec.json.Decoder(Reply)
_any_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def request(request_id: int, method: str, params: dict[str, Any]) -> bytes:
    return _encoder.encode({"id": request_id, "method": method, "params": params})


def decode_result(raw: msgspec.Raw) -> Any:
    return _any_decoder.decode(raw)


def send_frame(request_id: int, chat_id: int, local_id: str, text: str) -> bytes:
    """A ``message.send`` request by template (local ids and text are plain ASCII
    chosen by the bench, so no escaping is needed)."""
    return b'{"id":%d,"method":"message.send","params":{"chat_id":%d,"local_id":"%s",' \
           b'"text":"%s"}}' % (request_id, chat_id, local_id.encode(), text.encode())


# MessagePack frames: a push is a map whose first key is "push" (the server
# keeps the JSON key order), so after the map header comes this string.
_MSGPACK_PUSH = b"\xa4push"
_MSGPACK_CHAT_PUSH = b"\xa4push\xacchat_updates"
_msgpack_encoder = msgspec.msgpack.Encoder()


class Wire:
    """The frames of one codec (``json`` or ``msgpack``) for a load generator:
    requests built cheaply, replies decoded to ``Reply``, pushes told apart by
    their first bytes (no decoding)."""

    def __init__(self, codec: str) -> None:
        if codec not in ("json", "msgpack"):
            raise ValueError(f"unknown codec {codec!r}")
        self.codec = codec
        self.msgpack = codec == "msgpack"
        self._reply = (msgspec.msgpack.Decoder(Reply) if self.msgpack
                       else reply_decoder)

    def request(self, request_id: int, method: str, params: dict[str, Any]) -> bytes:
        if self.msgpack:
            return _msgpack_encoder.encode({"id": request_id, "method": method,
                                            "params": params})
        return request(request_id, method, params)

    def send_frame(self, request_id: int, chat_id: int, local_id: str, text: str) -> bytes:
        if self.msgpack:
            return self.request(request_id, "message.send", {
                "chat_id": chat_id, "local_id": local_id, "text": text})
        return send_frame(request_id, chat_id, local_id, text)

    def reply(self, data: bytes) -> Reply:
        return self._reply.decode(data)

    def is_push(self, data: bytes) -> bool:
        if self.msgpack:
            return data[1:6] == _MSGPACK_PUSH
        return data.startswith(PUSH_PREFIX)

    def is_chat_push(self, data: bytes) -> bool:
        if self.msgpack:
            return data[1:19] == _MSGPACK_CHAT_PUSH
        return data.startswith(b'{"push":"chat_updates"')

    def decoder(self, kind: type[T]) -> Callable[[bytes], T]:
        decoder: msgspec.json.Decoder[T] | msgspec.msgpack.Decoder[T] = (
            msgspec.msgpack.Decoder(kind) if self.msgpack else msgspec.json.Decoder(kind))
        return decoder.decode
